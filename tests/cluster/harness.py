"""A cluster on loopback for tests: three NATS nodes (JetStream, streams with 3 replicas,
authenticated routes), one PostgreSQL, and two processes of each service.

It is the fault tests' harness (tests/faults/harness.py: the clock file, the round driven
over NATS, the end checks) with the servers and processes of `flowers up --cluster`.
Processes are named `<service>-<n>`; `leader_of` tells which one holds a role's advisory
lock (shared/leader.py), so a test can kill the one doing the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats
from pydantic import SecretStr

from deploy.embedded import NatsCluster, PostgresServer, free_port
from deploy.nats_permissions import secrets_authorization
from deploy.secrets import Secrets
from deploy.stack import ServiceProcess, service_command, service_schema
from shared import database_roles, leader
from shared.bus import ensure_streams, nats_auth, nats_servers
from shared.keystore import migrate_keystore
from shared.settings import SERVICES, Settings
from shared.settings import with_database as _with_database
from tests.faults.harness import POLL_S, STEP_S, Cluster
from tests.support import (
    TEST_SECRETS,
    eventually,
    nats_seed,
    stop_throwaway_postgres,
    throwaway_postgres,
)


@dataclass
class LoopbackCluster(Cluster):
    services: tuple[str, ...] = SERVICES
    instances: int = 2
    nats_cluster: NatsCluster = field(init=False)
    metrics_ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.nats_cluster = NatsCluster(
            self.root / "nats",
            route_password=Secrets(TEST_SECRETS).nats_route_password(),
            authorization=secrets_authorization(TEST_SECRETS),
        )
        self.nats_server = self.nats_cluster.nodes[0]
        self.pg = PostgresServer(self.root / "pg")
        self.clock_file = self.root / "now"

    @property
    def settings(self) -> Settings:
        return Settings(
            nats_url=self.nats_cluster.url,
            database_url=self.pg.server_url,
            database_prefix=self.prefix,
            data_dir=self.root,
            stream_replicas=3,
        )

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "FLOWERS_NATS_URL": self.nats_cluster.url,
            "FLOWERS_STREAM_REPLICAS": "3",
        }

    async def start(self) -> None:
        from datetime import datetime

        from shared.clock import SHANGHAI

        self.root.mkdir(parents=True, exist_ok=True)
        self.set_time(datetime(2026, 7, 1, 9, tzinfo=SHANGHAI))
        await asyncio.to_thread(self.nats_cluster.start)
        throwaway_postgres(self.pg)
        admin = self.settings.model_copy(update={"database_admin_url": SecretStr(self.pg.url)})
        await database_roles.provision(admin, [*SERVICES, database_roles.KEYS])
        for service in SERVICES:
            await database_roles.migrate(self.settings, service, *service_schema(service))
        await migrate_keystore(self.settings)  # personal data's keys (shared/keystore.py)
        self.nc = await nats.connect(
            nats_servers(self.nats_cluster.url),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            **nats_auth(nats_seed("admin"), "admin"),
        )

        js = self.nc.jetstream()

        async def streams_placed() -> bool:  # a cluster just formed may not place R3 yet
            try:
                await ensure_streams(js, self.settings)
            except Exception:
                return False
            return True

        await eventually(
            streams_placed, what="the R3 streams to be placed", timeout=30, interval=POLL_S
        )
        for service in self.services:
            for n in range(1, self.instances + 1):
                self.start_instance(service, n)
        for name in self.processes:
            await self.wait_started(name)

    def start_instance(self, service: str, n: int) -> None:
        name = f"{service}-{n}"
        port = self.metrics_ports.setdefault(name, free_port())
        process = ServiceProcess(
            name,
            service_command(service, self.settings),
            {**self.env(), f"FLOWERS_METRICS_PORT_{service.upper()}": str(port)},
            self.root / "logs" / f"{name}.log",
            service=service,
        )
        process.start()
        self.processes[name] = process

    async def wait_started(self, name: str) -> None:
        """A process has started once it serves its metrics (its last start-up step)."""
        url = f"http://127.0.0.1:{self.metrics_ports[name]}/metrics"

        async def serving() -> bool:
            async with httpx.AsyncClient(timeout=1.0) as http:
                try:
                    return (await http.get(url)).status_code == 200
                except httpx.HTTPError:
                    return False

        await eventually(serving, what=f"{name} to start", timeout=STEP_S, interval=POLL_S)

    async def restart_instance(self, name: str) -> None:
        service, _, n = name.rpartition("-")
        self.processes[name].stop()
        self.start_instance(service, int(n))
        await self.wait_started(name)

    async def leader_of(self, service: str, role: str) -> str | None:
        """The process (`review-2`) whose session holds `role`'s lock in `service`'s database."""
        conn = await asyncpg.connect(
            _with_database(self.pg.url, self.settings.database_name(service))
        )
        try:
            port = await conn.fetchval(
                "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND (l.classid::bigint << 32 | l.objid::bigint) = $1",
                leader.lock_key(role),
            )
        finally:
            await conn.close()
        if port is None:
            return None
        for name, process in self.processes.items():
            pid = process.process.pid if process.process is not None else None
            if process.running and pid is not None and _owns_local_port(pid, port):
                return name
        return None

    async def stop(self) -> None:
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()
        for process in self.processes.values():
            if process.running and process.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    process.process.terminate()
        for process in self.processes.values():
            process.stop()
        self.nats_cluster.stop()
        stop_throwaway_postgres(self.pg)


def _owns_local_port(pid: int, port: int) -> bool:
    """Does process `pid` hold a TCP socket whose local port is `port` (Linux /proc)?"""
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[9] in inodes:
                    return True
    return False
