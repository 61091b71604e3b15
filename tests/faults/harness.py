"""Real processes on real servers, with faults on demand: the harness of the fault tests.

Each test owns its NATS and PostgreSQL (so it can stop them) and runs the four services
as processes (`faststream run`), which it can SIGKILL and restart. Time is moved for all
of them at once through a clock file (FLOWERS_CLOCK_FILE). The round is driven over NATS
exactly as the gateway would, retrying a command while its service is down (commands
carry their own ids, so a retry is harmless).
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NatsClient
from pydantic import SecretStr

from deploy.embedded import NatsServer, PostgresServer
from deploy.stack import ServiceProcess, service_command, service_schema
from shared import database_roles
from shared.bus import ensure_streams
from shared.clock import SHANGHAI
from shared.contracts.common import Category
from shared.keystore import migrate_keystore
from shared.rpc import RemoteError, RpcClient
from shared.settings import SERVICES, Settings
from tests.support import (
    admin_connect,
    eventually,
    rpc_client,
    secured_nats_server,
    stop_throwaway_postgres,
    throwaway_postgres,
)

UNITS = ("WY", "CY", "WX", "LH", "YS", "GR", "SM", "SQ")
PER_UNIT_CATEGORY = 5  # 8 units x 5 flowers x 5 = 200 nominations, all of them winners
PANEL = (("p1", "综合办公室"), ("p2", "财务管理部"), ("p3", "企业管理部"))
OFFICE = {"actor": "office", "roles": ["office", "admin"]}
LEADER = {"actor": "leader", "roles": ["leader"]}
ROUND = "2026-Q3"
DEEDS = "坚守一线，攻坚克难，带领班组完成年度降本增效任务，节约成本十余万元，职工群众交口称赞。" * 2
RETRYABLE = {"service_unavailable", "service_timeout", "internal_error"}
POLL_S = 0.1  # between checks of a condition (each check is a query to a service)
STEP_S = 120.0  # the deadline of one step of a 200-nomination round (tests.support.eventually)
RETRY_PAUSE_S = 0.2  # before a command is sent again to a service that was down


@dataclass
class Cluster:
    root: Path
    nats_server: NatsServer = field(init=False)
    pg: PostgresServer = field(init=False)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    nc: NatsClient | None = None
    prefix: str = field(default_factory=lambda: f"f{uuid.uuid4().hex[:8]}_")

    def __post_init__(self) -> None:
        self.nats_server = secured_nats_server(self.root / "nats")
        self.pg = PostgresServer(self.root / "pg")
        self.clock_file = self.root / "now"

    @property
    def settings(self) -> Settings:
        return Settings(
            nats_url=self.nats_server.url,
            database_url=self.pg.server_url,  # each process logs in as its own role
            database_prefix=self.prefix,
            data_dir=self.root,
        )

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "FLOWERS_NATS_URL": self.nats_server.url,
            "FLOWERS_DATABASE_URL": self.pg.server_url,
            "FLOWERS_DATABASE_PREFIX": self.prefix,
            "FLOWERS_DATA_DIR": str(self.root),
            "FLOWERS_CLOCK_FILE": str(self.clock_file),
            "FLOWERS_QUOTA_PER_UNIT_CATEGORY": str(PER_UNIT_CATEGORY),
            "FLOWERS_WINNERS_PER_CATEGORY": str(len(UNITS) * PER_UNIT_CATEGORY),
            "FLOWERS_CONSUMER_ACK_WAIT_S": "3",
            "FLOWERS_CONSUMER_BACKOFF_S": "[0.2, 0.5, 1, 2]",
            "FLOWERS_CONSUMER_MAX_DELIVER": "50",
            "FLOWERS_RELAY_POLL_INTERVAL_S": "0.2",
            "FLOWERS_CONNECT_ATTEMPTS": "100",
            "FLOWERS_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    def set_time(self, at: datetime) -> None:
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(at.isoformat())
        tmp.replace(self.clock_file)  # atomic: a service never reads half a timestamp

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.set_time(datetime(2026, 7, 1, 9, tzinfo=SHANGHAI))
        self.nats_server.start()
        throwaway_postgres(self.pg)
        # Roles, databases and schemas as `flowers up` makes them; the services get no admin.
        admin = self.settings.model_copy(update={"database_admin_url": SecretStr(self.pg.url)})
        await database_roles.provision(admin, [*SERVICES, database_roles.KEYS])
        for service in SERVICES:
            await database_roles.migrate(self.settings, service, *service_schema(service))
        await migrate_keystore(self.settings)  # personal data's keys (shared/keystore.py)
        # The driver's hands on the bus are the admin's; it makes the streams services check.
        self.nc = await admin_connect(self.nats_server.url, max_reconnect_attempts=-1)
        await ensure_streams(self.nc.jetstream(), self.settings)
        for service in SERVICES:
            self.start_service(service)
        for service in SERVICES:
            await self.wait_healthy(service)

    def start_service(self, service: str) -> None:
        process = ServiceProcess(
            service,
            service_command(service, self.settings),
            self.env(),
            self.root / "logs" / f"{service}.log",
        )
        process.start()
        self.processes[service] = process

    def kill(self, service: str) -> None:
        """SIGKILL: no shutdown hook runs, whatever was in flight is cut off."""
        process = self.processes[service].process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    async def restart(self, service: str) -> None:
        self.processes[service].stop()
        self.start_service(service)
        await self.wait_healthy(service)

    async def wait_healthy(self, service: str) -> None:
        async def healthy() -> bool:
            try:
                await self.rpc.query(service, "health", {}, timeout=1)
                return True
            except RemoteError:
                return False

        await eventually(
            healthy, what=f"{service} to answer its health request", timeout=STEP_S, interval=POLL_S
        )

    @property
    def rpc(self) -> RpcClient:
        assert self.nc is not None
        return rpc_client(self.nc, timeout=10)

    async def call(self, kind: str, service: str, name: str, payload: dict[str, Any]) -> Any:
        """A command or query, retried while the service is down or restarting."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while True:
            try:
                return await self.rpc.call(f"flowers.{kind}.{service}.{name}", payload)
            except RemoteError as exc:
                if exc.error.code not in RETRYABLE or loop.time() > deadline:
                    raise
                await asyncio.sleep(RETRY_PAUSE_S)

    async def stop(self) -> None:
        if self.nc is not None:
            await self.nc.close()
        for process in self.processes.values():  # all at once: their shutdowns overlap
            if process.running and process.process is not None:
                process.process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            process.stop()
        self.nats_server.stop()
        stop_throwaway_postgres(self.pg)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{process.tail(20)}" for name, process in self.processes.items()
        )


@dataclass
class Round:
    """A round of 200 nominations, all of them winners, driven step by step."""

    cluster: Cluster
    nominations: list[dict[str, Any]] = field(default_factory=list)

    async def cmd(self, service: str, name: str, payload: dict[str, Any]) -> Any:
        return await self.cluster.call("cmd", service, name, payload)

    async def qry(self, service: str, name: str, payload: dict[str, Any]) -> Any:
        return await self.cluster.call("qry", service, name, payload)

    async def open(self) -> None:
        rows = [
            {
                "employee_no": f"{unit}{i:03d}",
                "name": f"职工{unit}{i}",
                "unit_code": unit,
                "unit_name": f"单位{unit}",
                "position": "职工",
                "active": True,
            }
            for unit in UNITS
            for i in range(len(Category) * PER_UNIT_CATEGORY)
        ]
        await self.cmd("nomination", "import_directory", {**OFFICE, "rows": rows})
        await self.cmd("nomination", "open_round", {**OFFICE, "round_id": ROUND})

    async def submit(self, first: int = 0, last: int | None = None) -> None:
        """Submit nominations [first, last) of the 200 (ids fixed in advance: retry-safe)."""
        if not self.nominations:
            for unit in UNITS:
                for c, category in enumerate(Category):
                    for k in range(PER_UNIT_CATEGORY):
                        self.nominations.append(
                            {
                                "actor": f"nominator-{unit}",
                                "roles": ["nominator"],
                                "actor_unit_code": unit,
                                "nomination_id": str(uuid.uuid4()),
                                "round_id": ROUND,
                                "unit_code": unit,
                                "employee_no": f"{unit}{c * PER_UNIT_CATEGORY + k:03d}",
                                "category": category.value,
                                "deeds": DEEDS,
                                "results": [],
                                "evidence_links": [],
                                "recommendation": "同意推荐",
                            }
                        )
        self.cluster.set_time(datetime(2026, 9, 10, 9, tzinfo=SHANGHAI))
        for nomination in self.nominations[first:last]:
            await self.cmd("nomination", "submit", nomination)

    async def close(self) -> None:
        self.cluster.set_time(datetime(2026, 9, 26, 9, tzinfo=SHANGHAI))
        try:
            await self.cmd("nomination", "close_round", {**OFFICE, "round_id": ROUND})
        except RemoteError as exc:
            if exc.error.code != "round_closed":  # a retry after a kill may find it closed
                raise

    async def wait_candidates(self) -> None:
        async def arrived() -> bool:
            rows = await self.qry("review", "candidates", {"round_id": ROUND})
            return len(rows) == len(self.nominations) and all(r["status"] == "closed" for r in rows)

        await eventually(
            arrived,
            what="review to receive the 200 closed nominations",
            timeout=STEP_S,
            interval=POLL_S,
        )

    async def review(self) -> None:
        review = {"round_id": ROUND}
        self.cluster.set_time(datetime(2026, 9, 28, 9, tzinfo=SHANGHAI))
        for nomination in self.nominations:
            await self._idempotent(
                "accept",
                {**review, **OFFICE, "nomination_id": nomination["nomination_id"]},
                "already_audited",
            )
        for panelist, department in PANEL:
            await self._idempotent(
                "assign_panelist",
                {
                    **review,
                    **OFFICE,
                    "panelist_id": panelist,
                    "employee_no": panelist.upper(),
                    "name": panelist,
                    "department": department,
                },
                "already_assigned",
            )
        for p, (panelist, department) in enumerate(PANEL):
            for i, nomination in enumerate(self.nominations):
                score = str(60 + (i * 7 + p * 3) % 40)
                await self.cmd(
                    "review",
                    "submit_score",
                    {
                        **review,
                        "actor": panelist,
                        "roles": ["panelist"],
                        "actor_department": department,
                        "nomination_id": nomination["nomination_id"],
                        "criteria": {
                            "achievements": score,
                            "exemplary_role": score,
                            "innovation": score,
                            "recognition": score,
                        },
                    },
                )

    async def decide_and_publish(self) -> None:
        review = {"round_id": ROUND}
        self.cluster.set_time(datetime(2026, 10, 9, 9, tzinfo=SHANGHAI))
        ranking = await self.qry(
            "review", "ranking", {**review, "viewer": "leader", "viewer_roles": ["leader"]}
        )
        for entry in ranking:
            ranked = sorted(
                (e for e in entry["entries"] if e.get("rank") is not None),
                key=lambda e: e["rank"],
            )
            await self._idempotent(
                "decide_winners",
                {
                    **review,
                    **LEADER,
                    "category": entry["category"],
                    "winners": [e["nomination_id"] for e in ranked],
                },
                "already_decided",
            )
        await self._idempotent("start_notice", {**review, **OFFICE}, "nothing_to_announce")
        self.cluster.set_time(datetime(2026, 10, 20, 9, tzinfo=SHANGHAI))
        await self._idempotent("publish_result", {**review, **OFFICE}, "already_published")

    async def _idempotent(self, name: str, payload: dict[str, Any], done_code: str) -> None:
        """A command retried after a kill may find its effect already there."""
        try:
            await self.cmd("review", name, payload)
        except RemoteError as exc:
            if exc.error.code != done_code:
                raise

    async def wait_paid(self) -> None:
        async def paid() -> bool:
            feed = await self.qry("rewards", "adjustments", {"after": 0, "limit": 1000})
            return len(feed["items"]) >= len(self.nominations)

        await eventually(
            paid, what="rewards to issue 200 adjustments", timeout=STEP_S, interval=POLL_S
        )

    async def wait_drafted(self) -> None:
        async def drafted() -> bool:
            return len(await self.qry("publicity", "drafts", {"round_id": ROUND})) >= 4

        await eventually(
            drafted, what="publicity to draft the materials", timeout=STEP_S, interval=POLL_S
        )
