"""The whole system on one machine: embedded servers, every service process, the gateway.

`flowers up` calls `run_stack`: it makes the credentials that are missing
(`.data/secrets/`, deploy/secrets.py), starts NATS with authorization from them and the
permissions table (deploy/nats_permissions.py) and PostgreSQL (or uses the servers that
FLOWERS_NATS_URL / FLOWERS_DATABASE_URL name), creates the streams as the NATS admin,
creates each database's roles and the database (as the superuser: the embedded one's, or
FLOWERS_DATABASE_ADMIN_URL's) and applies its schema as the database's owner role
(shared/database_roles.py), starts the five services (`faststream run`) and the gateway
(uvicorn) as child processes, each with only its own credentials (its NATS seed, its
database login, the trusted identity keys), waits until every one answers its health
request, writes
the chosen addresses to `.data/stack.json`, prints the URL, and supervises: a service
that dies is restarted. Ctrl-C or SIGTERM stops everything in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import nats
from pydantic import SecretStr

from deploy.embedded import EmbeddedServerError, NatsCluster, NatsServer, PostgresServer
from deploy.mail_catcher import MailCatcher
from deploy.nats_permissions import secrets_authorization
from deploy.secrets import Secrets
from shared import database_roles
from shared.audit import access_log_grants
from shared.bus import ensure_streams, nats_auth, nats_servers
from shared.keystore import migrate_keystore
from shared.postgres import DatabaseUnavailable
from shared.settings import PROJECT_ROOT, SERVICES, Settings, with_database, with_login

GATEWAY = "gateway"
# `flowers up --cluster`: this many processes of every service and of the gateway.
CLUSTER_INSTANCES = 2
# Credentials a child process must not inherit from the stack's own environment: each
# child gets exactly its own (Stack.child_env).
CREDENTIAL_VARIABLES = (
    "FLOWERS_SECRETS_DIR",
    "FLOWERS_NATS_SEED",
    "FLOWERS_NATS_SEED_FILE",
    "FLOWERS_IDENTITY_SIGNING_KEY_FILE",
    "FLOWERS_IDENTITY_TRUSTED_KEYS",
    "FLOWERS_DATABASE_PASSWORD_FILES",
    "FLOWERS_DATABASE_ADMIN_URL",
)


def service_schema(service: str) -> list[str]:
    """The service's DDL: schema.sql first, then any other .sql file of the service (e.g.
    publicity's videos.sql), in name order."""
    folder = PROJECT_ROOT / "services" / service
    files = sorted(folder.glob("*.sql"), key=lambda p: (p.name != "schema.sql", p.name))
    return [path.read_text(encoding="utf-8") for path in files]


def service_command(service: str, settings: Settings) -> list[str]:
    if service == GATEWAY:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "services.gateway.app:app",
            "--host",
            settings.gateway_host,
            "--port",
            str(settings.gateway_port),
            "--no-access-log",
            "--timeout-keep-alive",
            str(settings.gateway_keep_alive_s),
            # The gateway reads X-Forwarded-* itself, from its trusted proxies only.
            "--no-proxy-headers",
        ]
    return [sys.executable, "-m", "faststream", "run", f"services.{service}.app:app"]


@dataclass
class ServiceProcess:
    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    service: str = ""  # which service this process is an instance of (default: its name)
    url: str | None = None  # a gateway's own address
    _log: IO[bytes] | None = None

    def __post_init__(self) -> None:
        self.service = self.service or self.name

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=PROJECT_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the process group: also works on a stopped (SIGSTOP) or hung process."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    settings: Settings
    services: tuple[str, ...] = (*SERVICES, GATEWAY)
    say: Callable[[str], None] = print
    nats: NatsServer | None = None
    postgres: PostgresServer | None = None
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    database_admin_url: str | None = None  # provisioning only: never in a child's environment
    secrets: Secrets | None = None
    cluster: bool = False  # three NATS nodes, CLUSTER_INSTANCES processes of each service
    nats_cluster: NatsCluster | None = None
    mail_catcher: MailCatcher | None = None  # `--mail-catcher`: the notification mails land here
    _metrics_ports: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def instances(self) -> int:
        return CLUSTER_INSTANCES if self.cluster else 1

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def ensure_secrets(self) -> Secrets:
        """Every credential of the stack, made once (FLOWERS_SECRETS_DIR or .data/secrets)."""
        if self.secrets is None:
            root = self.settings.secrets_dir or self.data_dir / "secrets"
            self.secrets = Secrets(root.absolute()).ensure()
            self.settings = self.settings.model_copy(update={"secrets_dir": self.secrets.root})
        return self.secrets

    @property
    def gateway_url(self) -> str:
        return self.gateway_urls[0]

    @property
    def gateway_urls(self) -> list[str]:
        """Each gateway instance's address (in a cluster, on consecutive ports)."""
        host, port = self.settings.gateway_host, self.settings.gateway_port
        return [f"http://{host}:{port + i}" for i in range(self.instances)]

    def start_servers(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secrets = self.ensure_secrets()
        settings = self.settings
        nats_url, database_url = settings.nats_url, settings.database_url
        if nats_url:
            self.say(f"NATS:        using {nats_url} (FLOWERS_NATS_URL)")
        elif self.cluster:
            self.nats_cluster = NatsCluster(
                self.data_dir / "nats-cluster",
                route_password=secrets.nats_route_password(),
                authorization=secrets_authorization(secrets.root),
            )
            self.nats_cluster.start()
            nats_url = self.nats_cluster.url
            self.say(
                f"NATS:        started a cluster of {len(self.nats_cluster.nodes)} nodes "
                f"{nats_url} (JetStream, streams with 3 replicas, authenticated routes)"
            )
        else:
            self.nats = NatsServer(
                self.data_dir / "nats", authorization=secrets_authorization(secrets.root)
            )
            self.nats.start()
            nats_url = self.nats.url
            self.say(f"NATS:        started {nats_url} (JetStream, data in {self.nats.store_dir})")
        # Every database role's password (and the embedded superuser's), made once.
        secrets.ensure(database_roles=[database_roles.SUPERUSER, *database_roles.logins()])
        secrets_dir = secrets.root
        if settings.database_admin_url is not None:
            self.database_admin_url = settings.database_admin_url.get_secret_value()
        if database_url:
            self.say("PostgreSQL:  using FLOWERS_DATABASE_URL")
        else:
            self.postgres = PostgresServer(
                self.data_dir / "pg",
                password_file=secrets.password_file(database_roles.SUPERUSER),
            )
            self.postgres.start()
            database_url = self.postgres.server_url
            self.database_admin_url = self.postgres.url
            self.say(f"PostgreSQL:  started {database_url} (data in {self.postgres.pgdata})")
        self.settings = settings.model_copy(
            update={
                "nats_url": nats_url,
                "database_url": database_url,
                "database_admin_url": None,
                "secrets_dir": secrets_dir,
                **({"stream_replicas": 3} if self.cluster else {}),
            }
        )

    async def nats_as(self, user: str, **options: Any) -> Any:
        """A connection to the stack's NATS as `user` (its seed from the stack's secrets);
        by default one that gives up at once rather than reconnecting."""
        seed = self.ensure_secrets().nats_seed(user)
        return await nats.connect(
            nats_servers(self.settings.nats_url),
            **{"connect_timeout": 2, "allow_reconnect": False, **options},
            **nats_auth(seed, user),
        )

    async def prepare_streams(self, timeout: float = 30.0) -> None:
        """The streams, made (or updated) by the NATS admin: services only check them. A
        cluster that has just formed may not place replicated streams yet: tried again."""
        nc = await self.nats_as("admin")
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    await ensure_streams(nc.jetstream(), self.settings)
                    return
                except (nats.errors.Error, TimeoutError):
                    if not self.cluster or time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)
        finally:
            await nc.close()

    async def prepare_databases(self) -> None:
        """Roles, databases and schemas (`prepare_databases` below); a failure in one line."""
        await prepare_databases(self.settings, self.database_admin_url)

    def password_file(self, login: str) -> Path:
        """Where the stack keeps (or the settings name) the password of `login`'s role."""
        from shared.credentials import SecretsLayout

        named = self.settings.database_password_files.get(login)
        if named is not None:
            return named
        assert self.settings.secrets_dir is not None
        return SecretsLayout(self.settings.secrets_dir).password_file(login)

    def database_env(self, name: str) -> dict[str, str]:
        """A process's own database logins, and nothing else: a service its role, the gateway
        its role and the auditor's (its audit pages read the service databases)."""
        # Every service also reads and adds personal data's keys (shared/keystore.py).
        logins = [name, database_roles.AUDITOR] if name == GATEWAY else [name, database_roles.KEYS]
        files = {login: str(self.password_file(login)) for login in logins}
        return {"FLOWERS_DATABASE_PASSWORD_FILES": json.dumps(files)}

    def write_stack_file(self) -> Path:
        path = self.data_dir / "stack.json"
        body: dict[str, Any] = {
            "gateway_url": self.gateway_url,
            "gateway_urls": self.gateway_urls,
            "nats_url": self.settings.nats_url,
            "database_url": with_login(self.settings.database_url, None),  # no password
            "databases": {
                service: with_database(
                    with_login(self.settings.database_url, None),
                    self.settings.database_name(service),
                )
                for service in SERVICES
            },
            "pids": {name: p.process.pid for name, p in self.processes.items() if p.process},
            "embedded": {
                "nats": self.nats is not None or self.nats_cluster is not None,
                "postgres": self.postgres is not None,
            },
            "cluster": self.cluster,
            "metrics": self.metrics_urls(),
            "mail_catcher": self.mail_catcher.url if self.mail_catcher is not None else None,
            # Where the operator commands find their credentials (shared.service.resolve_urls).
            "secrets_dir": str(self.ensure_secrets().root),
        }
        path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        return path

    # --- Metrics (shared/metrics.py): every service's /metrics on its own port ---------------
    def metrics_env(self, env: dict[str, str], instance: int = 1) -> dict[str, str]:
        """FLOWERS_METRICS_PORT_<SERVICE>: as set (0 turns one off), else a free port; the
        second instance of a cluster gets free ports of its own."""
        from deploy.embedded import free_port

        ports = self._metrics_ports.get(instance)
        if ports is None:  # chosen once: every child of an instance is told the same ports
            ports = self._metrics_ports[instance] = {}
            for service in SERVICES:
                key = f"FLOWERS_METRICS_PORT_{service.upper()}"
                configured = getattr(self.settings, f"metrics_port_{service}", 0)
                chosen = env.get(key) or str(configured or free_port())
                ports[key] = chosen if instance == 1 or chosen == "0" else str(free_port())
        return ports

    def metrics_urls(self) -> dict[str, str]:
        """Each service process's /metrics, from the port it was given (for stack.json)."""
        urls = {}
        for name, process in self.processes.items():
            if process.service not in SERVICES:
                continue
            port = process.env.get(f"FLOWERS_METRICS_PORT_{process.service.upper()}", "")
            if port.strip() not in ("", "0"):
                urls[name] = f"http://{self.settings.metrics_host}:{port.strip()}/metrics"
        return urls

    # -------------------------------------------------------------------------------------------

    def child_env(self, name: str, instance: int = 1) -> dict[str, str]:
        """A child's environment: the stack's addresses and only the child's own credentials
        (its NATS seed; the gateway's signing key for the gateway; the trusted public keys)."""
        secrets = self.ensure_secrets()
        env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
        env["FLOWERS_NATS_SEED_FILE"] = str(secrets.nats_seed_file(name))
        env["FLOWERS_IDENTITY_TRUSTED_KEYS"] = json.dumps(
            {issuer: str(secrets.public_key_file(issuer)) for issuer in ("gateway", "operator")}
        )
        if name == GATEWAY:
            env["FLOWERS_IDENTITY_SIGNING_KEY_FILE"] = str(secrets.signing_key_file(GATEWAY))
        env.update(
            {
                "FLOWERS_NATS_URL": self.settings.nats_url,
                "FLOWERS_DATABASE_URL": self.settings.database_url,
                "FLOWERS_DATABASE_PREFIX": self.settings.database_prefix,
                "FLOWERS_DATA_DIR": str(self.data_dir),
                "FLOWERS_GATEWAY_PORT": str(self.settings.gateway_port + instance - 1),
                "FLOWERS_STREAM_REPLICAS": str(self.settings.stream_replicas),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.metrics_env(env, instance))
        if name == "notification" and self.mail_catcher is not None:
            env.update(self.mail_catcher.env())
            env["FLOWERS_NOTIFY_BASE_URL"] = self.gateway_url
        return env  # no child may make roles or databases: no admin URL

    def start_services(self) -> None:
        """Each service's process (in a cluster, CLUSTER_INSTANCES each: `review-1`, …)."""
        for name in self.services:
            for instance in range(1, self.instances + 1):
                label = name if self.instances == 1 else f"{name}-{instance}"
                env = {**self.child_env(name, instance), **self.database_env(name)}
                command = service_command(name, self.settings)
                if name == GATEWAY:
                    command[command.index("--port") + 1] = env["FLOWERS_GATEWAY_PORT"]
                process = ServiceProcess(
                    label,
                    command,
                    env,
                    self.data_dir / "logs" / f"{label}.log",
                    service=name,
                    url=self.gateway_urls[instance - 1] if name == GATEWAY else None,
                )
                process.start()
                self.processes[label] = process

    async def wait_healthy(self, timeout: float = 60.0) -> dict[str, float]:
        """Wait until each process answers its health request; return when each did (s).

        A gateway is asked at its own address; a service over NATS, where any instance of
        it may answer (in a cluster, each instance is also watched for running)."""
        started = time.monotonic()
        ready: dict[str, float] = {}
        targets = {
            name: (process.service, process.url or self.gateway_url)
            for name, process in self.processes.items()
        } or {name: (name, self.gateway_url) for name in self.services}
        nc = await self.nats_as("operator")
        try:
            async with httpx.AsyncClient(timeout=2.0) as http:
                while len(ready) < len(targets):
                    for name, (service, url) in targets.items():
                        if name in ready:
                            continue
                        process = self.processes.get(name)
                        if process is not None and not process.running:
                            raise EmbeddedServerError(
                                f"{name} exited while starting; its log "
                                f"({process.log_path}) ends with:\n{process.tail()}"
                            )
                        if await _healthy(service, nc, http, url):
                            ready[name] = time.monotonic() - started
                    if time.monotonic() - started > timeout:
                        missing = sorted(set(targets) - set(ready))
                        raise EmbeddedServerError(
                            f"not healthy after {timeout:g} s: {', '.join(missing)}"
                        )
                    await asyncio.sleep(0.1)
        finally:
            await nc.close()
        return ready

    def check_gateway_port(self) -> None:
        """Refuse to start when another process holds the gateway's port: its /healthz would
        otherwise pass for ours."""
        host = self.settings.gateway_host
        for i in range(self.instances):
            port = self.settings.gateway_port + i
            if port_taken(host, port):
                raise EmbeddedServerError(
                    f"port {port} on {host} is taken by another process; stop it or choose "
                    "another port with FLOWERS_GATEWAY_PORT"
                )

    async def supervise(self, stopping: asyncio.Event) -> None:
        """Until told to stop: bring back an embedded server that died, on the same port;
        restart a service that died, or hung (no answer to its health request for
        FLOWERS_HEALTH_TIMEOUT_S), with a growing pause when it keeps failing."""
        watch = _Watch(self)
        try:
            while not stopping.is_set():
                await self._keep_servers(watch)
                await watch.probe()
                for process in self.processes.values():
                    if stopping.is_set():
                        return
                    self._keep_service(process, watch)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)
        finally:
            await watch.close()

    async def _keep_servers(self, watch: _Watch) -> None:
        nodes = self.nats_cluster.nodes if self.nats_cluster is not None else []
        servers: list[tuple[str, NatsServer | PostgresServer | None]] = [
            ("NATS", self.nats),
            *((f"NATS node {node.server_name}", node) for node in nodes),
            ("PostgreSQL", self.postgres),
        ]
        for name, server in servers:
            if server is None or server.running:
                continue
            self.say(f"{name} stopped unexpectedly; starting it again on port {server.port}")
            began = time.monotonic()
            try:
                await asyncio.to_thread(server.restart)
            except EmbeddedServerError as exc:  # tried again on the next round
                self.say(f"{name} could not be started again: {exc}")
                await asyncio.sleep(2.0)
                continue
            self.say(f"{name} is back after {time.monotonic() - began:.1f} s")
            watch.excuse_all()  # the services reconnect before their silence counts

    def _keep_service(self, process: ServiceProcess, watch: _Watch) -> None:
        now = time.monotonic()
        if process.running:
            silent = watch.silent_for(process.name)
            if silent <= self.settings.health_timeout_s:
                return
            self.say(
                f"{process.name} has not answered its health request for {silent:.0f} s; "
                f"killing it (log: {process.log_path})"
            )
            process.kill()
            watch.restart_at.pop(process.name, None)
        restart_at = watch.restart_at.get(process.name)
        if restart_at is None:
            process.restarts += 1
            pause = min(2 ** (process.restarts - 1), 30)
            self.say(
                f"{process.name} stopped unexpectedly; restarting in {pause} s "
                f"(log: {process.log_path})"
            )
            process.stop()
            watch.restart_at[process.name] = now + pause
        elif now >= restart_at:
            del watch.restart_at[process.name]
            process.start()
            watch.excuse(process.name)
            self.write_stack_file()  # its new pid

    def start_mail_catcher(self) -> None:
        self.mail_catcher = MailCatcher(self.data_dir / "mail")
        self.mail_catcher.start()
        self.say(
            f"Mail:        a local SMTP server on {self.mail_catcher.host}:"
            f"{self.mail_catcher.smtp_port} keeps every notification mail; read them at "
            f"{self.mail_catcher.url}"
        )

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        if self.mail_catcher is not None:
            self.mail_catcher.stop()
        if self.nats is not None:
            self.nats.stop()
        if self.nats_cluster is not None:
            self.nats_cluster.stop()
        if self.postgres is not None:
            self.postgres.stop()
        stack_file = self.data_dir / "stack.json"
        if stack_file.exists():
            stack_file.unlink()


def port_taken(host: str, port: int) -> bool:
    """Does something listen on (host, port), or keep us from binding it?"""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0):
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


class _Watch:
    """When each service last answered its health request (any answer: it is alive)."""

    PROBE_TIMEOUT_S = 2.0

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.answered: dict[str, float] = dict.fromkeys(stack.processes, time.monotonic())
        self.restart_at: dict[str, float] = {}
        self._nc: Any = None
        self._http = httpx.AsyncClient(timeout=self.PROBE_TIMEOUT_S)
        self._next_probe = 0.0

    def excuse(self, name: str) -> None:
        self.answered[name] = time.monotonic()

    def excuse_all(self) -> None:
        for name in self.answered:
            self.excuse(name)

    def silent_for(self, name: str) -> float:
        return time.monotonic() - self.answered.get(name, time.monotonic())

    async def probe(self) -> None:
        """Ask every running service at once, a few times per health timeout."""
        now = time.monotonic()
        if now < self._next_probe:
            return
        self._next_probe = now + min(5.0, self.stack.settings.health_timeout_s / 4)
        if self._nc is None:
            with contextlib.suppress(Exception):  # tried again at the next probe
                self._nc = await asyncio.wait_for(
                    self.stack.nats_as(  # the health queries are the operator's to ask
                        "operator",
                        name="flowers-supervisor",
                        allow_reconnect=True,
                        max_reconnect_attempts=-1,  # once connected: follows restarts
                        reconnect_time_wait=0.5,
                        error_cb=_quiet,
                        disconnected_cb=_quiet_event,
                        reconnected_cb=_quiet_event,
                    ),
                    self.PROBE_TIMEOUT_S * 2,
                )
        if self._nc is None or not self._nc.is_connected:
            self.excuse_all()  # NATS is down: the services cannot answer; not their fault
            return
        names = [n for n, p in self.stack.processes.items() if p.running]
        alive = await asyncio.gather(*(self._alive(self.stack.processes[n]) for n in names))
        for name, ok in zip(names, alive, strict=True):
            if ok:
                self.excuse(name)

    async def _alive(self, process: ServiceProcess) -> bool:
        """Does the process answer? A service's health request over NATS may be answered by
        any of its instances, so in a cluster each instance is asked at its own metrics
        port instead (served by the process itself: a stopped or dead one is silent)."""
        try:
            metrics = self._metrics_url(process)
            if metrics is not None:
                await self._http.get(metrics, timeout=self.PROBE_TIMEOUT_S)
                return True
            if process.service == GATEWAY:  # it asks every service in turn, each for up to 2 s
                await self._http.get(
                    f"{process.url or self.stack.gateway_url}/healthz",
                    timeout=self.PROBE_TIMEOUT_S + 3,
                )
                return True  # any status: the process answers (503 is a backend's outage)
            await self._nc.request(
                f"flowers.qry.{process.service}.health", b"{}", timeout=self.PROBE_TIMEOUT_S
            )
            return True  # a refusal is an answer too
        except Exception:
            return False

    def _metrics_url(self, process: ServiceProcess) -> str | None:
        if self.stack.instances == 1 or process.service == GATEWAY:
            return None
        port = process.env.get(f"FLOWERS_METRICS_PORT_{process.service.upper()}", "").strip()
        if port in ("", "0"):
            return None
        return f"http://{self.stack.settings.metrics_host}:{port}/metrics"

    async def close(self) -> None:
        await self._http.aclose()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()


async def _quiet(_: Exception) -> None:
    """The supervisor's NATS client says nothing about its own reconnects."""


async def _quiet_event() -> None:
    pass


async def prepare_databases(settings: Settings, admin_url: str | None) -> None:
    """One database per service and the gateway's: roles, database and grants when we may make
    them (`admin_url`: the embedded server's superuser, or FLOWERS_DATABASE_ADMIN_URL), then
    each schema applied as the database's owner role. The services never need either."""
    try:
        if admin_url is not None:
            admin = settings.model_copy(update={"database_admin_url": SecretStr(admin_url)})
            await database_roles.provision(admin, [*database_roles.DATABASES, database_roles.KEYS])
        for service in SERVICES:
            await database_roles.migrate(settings, service, *service_schema(service))
        await database_roles.migrate(
            settings,
            GATEWAY,
            *service_schema(GATEWAY),
            access_log_grants(settings),  # the auditor verifies the access record
            store=False,
        )
        await migrate_keystore(settings)
    except DatabaseUnavailable as exc:
        hint = ""
        if admin_url is None:
            hint = (
                " (the roles come from deploy/postgres-roles.sql, or set "
                "FLOWERS_DATABASE_ADMIN_URL to let flowers make them)"
            )
        raise EmbeddedServerError(f"{exc}{hint}") from exc


async def _healthy(name: str, nc: Any, http: httpx.AsyncClient, gateway_url: str) -> bool:
    try:
        if name == GATEWAY:
            response = await http.get(f"{gateway_url}/healthz")
            return response.status_code == 200
        reply = await nc.request(f"flowers.qry.{name}.health", b"{}", timeout=1.0)
        return bool(json.loads(reply.data).get("ok"))
    except Exception:
        return False


async def load_demo_data(stack: Stack) -> None:
    """On the first start, load the demo through the real commands (before the processes)."""
    from datetime import UTC, datetime

    from deploy.demo import load_demo

    # The in-process services of the demo log errors only: the console is the operator's.
    # Each takes its own NATS seed from the stack's secrets (settings.secrets_dir).
    quiet = stack.settings.model_copy(
        update={"log_level": "ERROR", "secrets_dir": stack.ensure_secrets().root}
    )
    try:
        await load_demo(quiet, datetime.now(UTC), stack.say)
    except Exception as exc:  # the system still runs; say what went wrong in one line
        logging.getLogger(__name__).debug("demo failed", exc_info=True)
        stack.say(f"flowers: the demo could not be loaded ({type(exc).__name__}: {exc}).")


async def run_stack(
    settings: Settings,
    *,
    before_services: Callable[[Stack], Any] | None = None,
    stop_after_ready: bool = False,
    cluster: bool = False,
    mail_catcher: bool = False,
) -> int:
    """Start everything, print the URL, run until Ctrl-C / SIGTERM; return the exit code."""
    stack = Stack(settings, cluster=cluster)
    for noisy in ("httpx", "deploy.embedded", "mail.log"):  # mail.log: aiosmtpd
        logging.getLogger(noisy).setLevel(logging.WARNING)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    began = time.monotonic()
    try:
        stack.check_gateway_port()
        stack.start_servers()
        if mail_catcher:
            stack.start_mail_catcher()
        await stack.prepare_streams()
        await stack.prepare_databases()
        if before_services is not None:
            demo_began = time.monotonic()
            result = before_services(stack)
            if asyncio.iscoroutine(result):
                await result
            began += time.monotonic() - demo_began  # start-up time excludes the demo
        stack.start_services()
        ready = await stack.wait_healthy()
        elapsed = time.monotonic() - began
        stack.write_stack_file()
        slowest = max(ready.values()) if ready else 0.0
        stack.say(
            f"All {len(ready)} {'processes' if cluster else 'services'} healthy in "
            f"{elapsed:.1f} s (slowest {slowest:.1f} s after its start)."
        )
        stack.say(f"\n  Five Golden Flowers is running: {'  '.join(stack.gateway_urls)}\n")
        stack.say(f"  Addresses: {stack.data_dir / 'stack.json'}   Logs: {stack.data_dir / 'logs'}")
        if stack.mail_catcher is not None:
            stack.say(f"  Mails: {stack.mail_catcher.url}")
        stack.say("  Press Ctrl-C to stop.\n")
        if not stop_after_ready:
            await stack.supervise(stopping)
        return 0
    except EmbeddedServerError as exc:
        stack.say(f"flowers: cannot start: {exc}")
        return 1
    finally:
        stack.say("Stopping…")
        stack.stop()
        stack.say("Stopped.")
