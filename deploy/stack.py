"""The whole system on one machine: embedded servers, every service process, the gateway.

`flowers up` calls `run_stack`: it makes the credentials that are missing
(`.data/secrets/`, deploy/secrets.py), starts NATS with authorization from them and the
permissions table (deploy/nats_permissions.py) and PostgreSQL (or uses the servers that
FLOWERS_NATS_URL / FLOWERS_DATABASE_URL name), creates the streams as the NATS admin,
creates each service's database and applies its schema, starts the four services
(`faststream run`) and the gateway (uvicorn) as child processes, each with only its own
credentials, waits until every one answers its health request, writes
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
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import nats

from deploy.embedded import EmbeddedServerError, NatsServer, PostgresServer
from deploy.nats_permissions import secrets_authorization
from deploy.secrets import Secrets
from shared.bus import ensure_streams, nats_auth
from shared.postgres import apply_schema, create_pool, ensure_database
from shared.settings import PROJECT_ROOT, SERVICES, Settings, with_database

GATEWAY = "gateway"
# Credentials a child process must not inherit from the stack's own environment: each
# child gets exactly its own (Stack.child_env).
CREDENTIAL_VARIABLES = (
    "FLOWERS_SECRETS_DIR",
    "FLOWERS_NATS_SEED",
    "FLOWERS_NATS_SEED_FILE",
    "FLOWERS_IDENTITY_SIGNING_KEY_FILE",
    "FLOWERS_IDENTITY_TRUSTED_KEYS",
)


def service_schema(service: str) -> list[str]:
    path = PROJECT_ROOT / "services" / service / "schema.sql"
    return [path.read_text(encoding="utf-8")] if path.exists() else []


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
    _log: IO[bytes] | None = None

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
    secrets: Secrets | None = None
    _metrics_ports: dict[str, str] | None = None

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
        return f"http://{self.settings.gateway_host}:{self.settings.gateway_port}"

    def start_servers(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secrets = self.ensure_secrets()
        settings = self.settings
        nats_url, database_url = settings.nats_url, settings.database_url
        if nats_url:
            self.say(f"NATS:        using {nats_url} (FLOWERS_NATS_URL)")
        else:
            self.nats = NatsServer(
                self.data_dir / "nats", authorization=secrets_authorization(secrets.root)
            )
            self.nats.start()
            nats_url = self.nats.url
            self.say(f"NATS:        started {nats_url} (JetStream, data in {self.nats.store_dir})")
        if database_url:
            self.say("PostgreSQL:  using FLOWERS_DATABASE_URL")
        else:
            self.postgres = PostgresServer(self.data_dir / "pg")
            self.postgres.start()
            database_url = self.postgres.url
            self.say(f"PostgreSQL:  started {database_url} (data in {self.postgres.pgdata})")
        self.settings = settings.model_copy(
            update={"nats_url": nats_url, "database_url": database_url}
        )

    async def nats_as(self, user: str) -> Any:
        """A connection to the stack's NATS as `user` (its seed from the stack's secrets)."""
        seed = self.ensure_secrets().nats_seed(user)
        return await nats.connect(
            self.settings.nats_url,
            connect_timeout=2,
            allow_reconnect=False,
            **nats_auth(seed, user),
        )

    async def prepare_streams(self) -> None:
        """The streams, made (or updated) by the NATS admin: services only check them."""
        nc = await self.nats_as("admin")
        try:
            await ensure_streams(nc.jetstream(), self.settings)
        finally:
            await nc.close()

    async def prepare_databases(self) -> None:
        """One database per service, each with the store's tables and its own schema."""
        for service in SERVICES:
            name = self.settings.database_name(service)
            await ensure_database(self.settings.database_url, name)
            pool = await create_pool(with_database(self.settings.database_url, name))
            try:
                async with pool.acquire() as conn:
                    await apply_schema(conn, *service_schema(service))
            finally:
                await pool.close()

    def write_stack_file(self) -> Path:
        path = self.data_dir / "stack.json"
        body: dict[str, Any] = {
            "gateway_url": self.gateway_url,
            "nats_url": self.settings.nats_url,
            "database_url": self.settings.database_url,
            "databases": {service: self.settings.database_url_for(service) for service in SERVICES},
            "pids": {name: p.process.pid for name, p in self.processes.items() if p.process},
            "embedded": {"nats": self.nats is not None, "postgres": self.postgres is not None},
            "metrics": self.metrics_urls(),
            # Where the operator commands find their credentials (shared.service.resolve_urls).
            "secrets_dir": str(self.ensure_secrets().root),
        }
        path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        return path

    # --- Metrics (shared/metrics.py): every service's /metrics on its own port ---------------
    def metrics_env(self, env: dict[str, str]) -> dict[str, str]:
        """FLOWERS_METRICS_PORT_<SERVICE>: as set (0 turns one off), else a free port."""
        from deploy.embedded import free_port

        if self._metrics_ports is None:  # chosen once: every child is told the same ports
            self._metrics_ports = {}
            for service in SERVICES:
                key = f"FLOWERS_METRICS_PORT_{service.upper()}"
                configured = getattr(self.settings, f"metrics_port_{service}", 0)
                self._metrics_ports[key] = env.get(key) or str(configured or free_port())
        return self._metrics_ports

    def metrics_urls(self) -> dict[str, str]:
        """Each service's /metrics, from the port its process was given (for stack.json)."""
        urls = {}
        for service in SERVICES:
            process = self.processes.get(service)
            env = process.env if process is not None else {}
            port = env.get(f"FLOWERS_METRICS_PORT_{service.upper()}", "").strip()
            if port not in ("", "0"):
                urls[service] = f"http://{self.settings.metrics_host}:{port}/metrics"
        return urls

    # -------------------------------------------------------------------------------------------

    def child_env(self, name: str) -> dict[str, str]:
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
                "FLOWERS_GATEWAY_PORT": str(self.settings.gateway_port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.metrics_env(env))
        return env

    def start_services(self) -> None:
        for name in self.services:
            process = ServiceProcess(
                name,
                service_command(name, self.settings),
                self.child_env(name),
                self.data_dir / "logs" / f"{name}.log",
            )
            process.start()
            self.processes[name] = process

    async def wait_healthy(self, timeout: float = 60.0) -> dict[str, float]:
        """Wait until each service answers its health request; return when each did (s)."""
        started = time.monotonic()
        ready: dict[str, float] = {}
        nc = await self.nats_as("operator")
        try:
            async with httpx.AsyncClient(timeout=2.0) as http:
                while len(ready) < len(self.services):
                    for name in self.services:
                        if name in ready:
                            continue
                        process = self.processes.get(name)
                        if process is not None and not process.running:
                            raise EmbeddedServerError(
                                f"{name} exited while starting; its log "
                                f"({process.log_path}) ends with:\n{process.tail()}"
                            )
                        if await _healthy(name, nc, http, self.gateway_url):
                            ready[name] = time.monotonic() - started
                    if time.monotonic() - started > timeout:
                        missing = sorted(set(self.services) - set(ready))
                        raise EmbeddedServerError(
                            f"not healthy after {timeout:g} s: {', '.join(missing)}"
                        )
                    await asyncio.sleep(0.1)
        finally:
            await nc.close()
        return ready

    async def supervise(self, stopping: asyncio.Event) -> None:
        """Restart a service that died, with a growing pause, until told to stop."""
        while not stopping.is_set():
            for process in self.processes.values():
                if not process.running and not stopping.is_set():
                    process.restarts += 1
                    pause = min(2**process.restarts, 30)
                    self.say(
                        f"{process.name} stopped unexpectedly; restarting in {pause} s "
                        f"(log: {process.log_path})"
                    )
                    process.stop()
                    try:
                        await asyncio.wait_for(stopping.wait(), pause)
                        return
                    except TimeoutError:
                        process.start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 1.0)

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()
        stack_file = self.data_dir / "stack.json"
        if stack_file.exists():
            stack_file.unlink()


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
) -> int:
    """Start everything, print the URL, run until Ctrl-C / SIGTERM; return the exit code."""
    stack = Stack(settings)
    for noisy in ("httpx", "deploy.embedded"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    began = time.monotonic()
    try:
        stack.start_servers()
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
            f"All {len(ready)} services healthy in {elapsed:.1f} s "
            f"(slowest service {slowest:.1f} s after its start)."
        )
        stack.say(f"\n  Five Golden Flowers is running: {stack.gateway_url}\n")
        stack.say(f"  Addresses: {stack.data_dir / 'stack.json'}   Logs: {stack.data_dir / 'logs'}")
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
