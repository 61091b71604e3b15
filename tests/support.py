"""Helpers the tests share."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import IO, Any

import asyncpg
import nats
from nats.aio.client import Client as NatsClient

from deploy.embedded import NatsServer, PostgresServer
from deploy.nats_permissions import secrets_authorization
from shared import scrub
from shared.bus import Handler, event_context, nats_auth
from shared.credentials import SecretsLayout, identity_signer
from shared.events import DomainEvent, RecordedEvent
from shared.identity import Identity
from shared.rpc import SelfSigningRpcClient
from shared.service import ServiceRuntime
from shared.settings import PROJECT_ROOT, Settings

# The session's credentials (made by tests/conftest.py pytest_configure).
TEST_SECRETS = PROJECT_ROOT / ".data" / "test" / "secrets"


SESSION_LOCK = ".session.lock"


def session_lock(path: Path) -> IO[str]:
    """Open and flock `path/.session.lock`: held (by this process) while the file is open."""
    lock = (path / SESSION_LOCK).open("a")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return lock


def remove_finished_sessions(root: Path) -> list[Path]:
    """Hand every finished test session's directory (`root/session-*`) to a background
    `rm -rf`: renamed at once (so no longer a `session-*`), deleted while the tests run. A
    directory whose lock a live session holds is left alone. Returns what is being removed."""
    removing: list[Path] = []
    for path in sorted(root.glob("session-*")):
        try:
            lock = session_lock(path)
        except BlockingIOError:  # a session still running (another worker, another run)
            continue
        except OSError:  # gone meanwhile (another session removed it)
            continue
        with lock:
            trash = root / f"trash-{uuid.uuid4().hex[:8]}"
            with contextlib.suppress(OSError):
                path.rename(trash)
                removing.append(trash)
    removing += [p for p in root.glob("trash-*") if p not in removing]  # an earlier rm cut off
    if removing:
        # `sh` backgrounds the rm and exits: the rm outlives no waiting parent, and the
        # session never waits for it.
        script = 'rm -rf -- "$@" >/dev/null 2>&1 &'
        subprocess.run(["sh", "-c", script, "sh", *map(str, removing)], check=True)
    return removing


def nats_seed(user: str) -> str:
    """A NATS user's nkey seed from the session's secrets."""
    return SecretsLayout(TEST_SECRETS).nats_seed_file(user).read_text().strip()


async def connect_as(user: str, url: str, **options: Any) -> NatsClient:
    """A plain nats-py client authenticated as `user` (admin, operator, a service…)."""
    client: NatsClient = await nats.connect(url, **nats_auth(nats_seed(user), user), **options)
    return client


def secured_nats_server(data_dir: Path, **options: Any) -> NatsServer:
    """An embedded NATS server that asks every client for its nkey and enforces the
    permissions table (deploy/nats_permissions.py), with the session's credentials."""
    return NatsServer(data_dir, authorization=secrets_authorization(TEST_SECRETS), **options)


def throwaway_postgres(server: PostgresServer) -> None:
    """Start a test's PostgreSQL tuned for data nobody keeps: no fsync and no full-page
    writes (a killed or stopped server loses nothing, only a crash of the machine would),
    `synchronous_commit` left on so that a commit is still written when it returns."""
    server.start()

    async def tune() -> None:
        conn = await asyncpg.connect(server.url)
        try:
            await conn.execute("ALTER SYSTEM SET fsync = off")
            await conn.execute("ALTER SYSTEM SET full_page_writes = off")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    # A thread of its own: the caller may be inside the tests' event loop.
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(tune())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def stop_throwaway_postgres(server: PostgresServer) -> None:
    """Immediate shutdown (SIGQUIT, what `pg_ctl stop -m immediate` sends): no shutdown
    checkpoint for a cluster whose data is thrown away."""
    pid = server.pid
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
    server.stop()


async def admin_connect(url: str, **options: Any) -> NatsClient:
    """A client as the NATS admin (no permission limits): the tests' own hands on the bus."""
    return await connect_as("admin", url, **options)


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> None:
    """Wait for a condition with a deadline (never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def rpc_client(nc: Any, timeout: float = 5.0) -> SelfSigningRpcClient:
    """An RPC client that signs as the gateway would, for the identity each request names
    (`actor`/`roles`, `viewer`…; requests that name nobody act as a test user)."""
    settings = Settings()
    return SelfSigningRpcClient(
        nc,
        timeout=timeout,
        signer=identity_signer(settings, "gateway"),
        identity=Identity(subject="tests"),
    )


def per_event(
    fn: Callable[[Any, RecordedEvent, DomainEvent], Awaitable[None]], consumer: str = "test"
) -> Handler:
    """A consumer handler written for one event at a time, run over a batch in order (each
    event's correlation and causation in context, as the reaction path sets them)."""

    async def handle(conn: Any, items: Any) -> None:
        for envelope, event in items:
            with event_context(consumer, envelope):
                await fn(conn, envelope, event)

    return handle


async def until_scrubbed(
    runtimes: Iterable[ServiceRuntime], fact: uuid.UUID, timeout: float = 60.0
) -> None:
    """Wait until each service's privacy consumer has handled the privacy fact `fact` (its
    scrub committed with the inbox row: shared/scrub.py)."""
    for runtime in runtimes:

        async def scrubbed(runtime: ServiceRuntime = runtime) -> bool:
            return bool(
                await runtime.store.pool.fetchval(
                    "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2",
                    scrub.consumer_name(runtime.service),
                    fact,
                )
            )

        await eventually(scrubbed, timeout=timeout, what=f"{runtime.service} to scrub")
