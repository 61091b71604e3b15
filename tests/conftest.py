"""Real servers for the test session: PostgreSQL once per session, a fresh NATS per test.

`FLOWERS_NATS_URL` / `FLOWERS_DATABASE_URL` point the suite at existing servers instead;
then streams are deleted before each test and each test gets its own databases.

Each session (each pytest-xdist worker is one) has its own directory under `.data/test/`,
locked while it runs. It is left behind at the end (removing gigabytes took most of a
minute); the next session that starts removes every finished one, in the background.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from nats.js.errors import NotFoundError

from deploy.embedded import NatsServer, PostgresServer
from shared.bus import DLQ_STREAM, EVENTS_STREAM, PAYROLL_STREAM, ensure_streams
from shared.postgres import PostgresEventStore, apply_schema, create_pool, ensure_database
from shared.settings import PROJECT_ROOT, Settings, with_database, with_login
from tests.support import (
    TEST_SECRETS,
    admin_connect,
    remove_finished_sessions,
    secured_nats_server,
    session_lock,
    stop_throwaway_postgres,
    throwaway_postgres,
)

EXTERNAL_NATS = os.environ.get("FLOWERS_NATS_URL", "")
EXTERNAL_PG = os.environ.get("FLOWERS_DATABASE_URL", "")


def pytest_configure(config: pytest.Config) -> None:
    """Every credential the suite's servers and services use, made once (deploy/secrets.py).

    FLOWERS_SECRETS_DIR reaches every Settings() of the session, in-process or a child
    process: each service takes its own NATS seed, every service trusts the gateway's and
    the operator's identity keys.
    """
    from deploy.secrets import Secrets
    from shared.database_roles import DATABASES, KEYS, SUPERUSER, logins

    # Database passwords by role without its prefix: every test's roles share these files
    # (`garden`: the made-up service of tests/shared/test_dead_letters.py).
    secrets = Secrets(TEST_SECRETS)
    secrets.ensure(database_roles=[SUPERUSER, *logins([*DATABASES, KEYS, "garden"])])
    secrets.nats_route_password()  # here, before pytest-xdist's workers start (no race)
    os.environ.setdefault("FLOWERS_SECRETS_DIR", str(TEST_SECRETS))


# A test that uses one of these (directly or through another fixture) needs a real server.
SERVER_FIXTURES = frozenset({"pg_url", "nats_server", "nats_url"})


# Tests that run the services as many processes (and time their faults): under
# pytest-xdist (`make test`: -n 2 --dist loadgroup) they all run in one worker, one at a time,
# so two of them never share the machine's cores.
PROCESS_TESTS = ("tests/faults/", "tests/cluster/", "tests/e2e/test_run_command.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark by what a test needs: `make test-fast` runs `-m "not integration"`."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
        if item.nodeid.startswith(PROCESS_TESTS):
            item.add_marker(pytest.mark.xdist_group("processes"))


# Under the project, not pytest's tmp_path: /tmp/pytest-of-root is 0700 and the
# unprivileged PostgreSQL user could not reach it.
TEST_DATA = PROJECT_ROOT / ".data" / "test"


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    TEST_DATA.mkdir(parents=True, exist_ok=True)
    remove_finished_sessions(TEST_DATA)
    # Made under another name, locked, then renamed: a `session-*` is always locked while
    # its session runs, so a concurrent start never takes it for a finished one.
    name = uuid.uuid4().hex[:8]
    making = TEST_DATA / f"making-{name}"
    making.mkdir()
    lock = session_lock(making)
    path = TEST_DATA / f"session-{name}"
    making.rename(path)
    try:
        yield path
    finally:
        lock.close()  # left for the next session to remove (see the module's docstring)


@pytest.fixture(scope="session")
def pg_url(session_dir: Path) -> Iterator[str]:
    """The server as its superuser (with the password): for provisioning, never a service."""
    if EXTERNAL_PG:
        yield with_database(EXTERNAL_PG, "postgres")
        return
    server = PostgresServer(
        session_dir / "pg", password_file=TEST_SECRETS / "postgres" / "postgres.password"
    )
    throwaway_postgres(server)
    try:
        yield server.url
    finally:
        stop_throwaway_postgres(server)


@pytest.fixture
def nats_server(session_dir: Path) -> Iterator[NatsServer | None]:
    """A fresh NATS server per test (about 20 ms): no state leaks between tests."""
    if EXTERNAL_NATS:
        yield None
        return
    server = secured_nats_server(session_dir / f"nats-{uuid.uuid4().hex[:8]}")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def nats_url(nats_server: NatsServer | None) -> str:
    """The test's server, with its streams made by the admin (services only check them)."""
    url = nats_server.url if nats_server is not None else EXTERNAL_NATS
    nc = await admin_connect(url)
    js = nc.jetstream()
    if nats_server is None:
        for stream in (EVENTS_STREAM, DLQ_STREAM, PAYROLL_STREAM):
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(stream)
    await ensure_streams(js, Settings())
    await nc.close()
    return url


@pytest.fixture
def db_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}_"


@pytest.fixture
def settings(nats_url: str, pg_url: str, db_prefix: str, session_dir: Path) -> Settings:
    return Settings(
        nats_url=nats_url,
        # Each in-process service makes its roles and database with the admin URL, then logs
        # in as its own role (shared/database_roles.py); a child process gets no admin URL.
        database_url=with_login(pg_url, None),
        database_admin_url=pg_url,
        database_prefix=db_prefix,
        data_dir=session_dir,
        consumer_backoff_s=[0.05, 0.1, 0.2],
        consumer_ack_wait_s=2.0,
        relay_poll_interval_s=0.2,
        connect_attempts=3,
        log_json=True,
    )


@pytest.fixture
async def db_url(pg_url: str, db_prefix: str) -> str:
    name = f"{db_prefix}store"
    await ensure_database(pg_url, name)
    return with_database(pg_url, name)


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(db_url, min_size=1, max_size=12)
    async with pool.acquire() as conn:
        await apply_schema(conn)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def pg_store(pool: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(pool)


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A client as the NATS admin: the tests' own hands on the bus (may do anything)."""
    client = await admin_connect(nats_url)
    try:
        yield client
    finally:
        await client.close()
