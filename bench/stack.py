"""The servers a benchmark runs on: the embedded ones under `.data/bench/`, or given ones.

PostgreSQL: one embedded server for the whole invocation (`.data/bench/pg`, initdb once and
reused), or `FLOWERS_DATABASE_URL`. Every figure gets databases of its own, named
`bench_<token>_<n>_<service>`; all are dropped at the end.

NATS: a fresh embedded server per section (`.data/bench/nats-<label>`, removed after),
so no stream or consumer state carries over, with the same authorization as `flowers up`
(credentials in `.data/bench/secrets`; the admin makes the streams, each service connects
as itself); or `FLOWERS_NATS_URL`, whose `FLOWERS*`
streams are then deleted before and after each section, as the test suite does: point it
at a scratch server only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import nats
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from deploy.embedded import NatsServer, PostgresServer
from deploy.nats_permissions import secrets_authorization
from deploy.secrets import Secrets
from shared.bus import DLQ_STREAM, EVENTS_STREAM, PAYROLL_STREAM, ensure_streams, nats_auth
from shared.settings import PROJECT_ROOT, Settings, with_database, with_login

BENCH_DIR = PROJECT_ROOT / ".data" / "bench"
DB_PREFIX = "bench_"


class BenchStack:
    """PostgreSQL for the whole run and fresh NATS servers on demand."""

    def __init__(self, data_dir: Path = BENCH_DIR) -> None:
        self.data_dir = data_dir
        self.external_pg = os.environ.get("FLOWERS_DATABASE_URL", "")
        self.external_nats = os.environ.get("FLOWERS_NATS_URL", "")
        self._pg: PostgresServer | None = None
        self.nats_server: NatsServer | None = None  # the current section's, when embedded
        self._token = uuid.uuid4().hex[:6]
        self._count = 0
        # FLOWERS_SECRETS_DIR names the keys a given server knows; else the bench's own.
        secrets_dir = os.environ.get("FLOWERS_SECRETS_DIR") or str(data_dir / "secrets")
        self.secrets = Secrets(Path(secrets_dir).absolute())

    @property
    def pg_url(self) -> str:
        """The server's maintenance database URL (`…/postgres`)."""
        if self.external_pg:
            return with_database(self.external_pg, "postgres")
        assert self._pg is not None, "the stack has not started"
        return self._pg.url

    def describe(self) -> str:
        pg = "FLOWERS_DATABASE_URL" if self.external_pg else f"embedded ({self.data_dir}/pg)"
        bus = "FLOWERS_NATS_URL" if self.external_nats else "embedded, fresh per section"
        return f"PostgreSQL: {pg}; NATS: {bus}, JetStream sync_interval: always"

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.secrets.ensure()
        if not self.external_pg:
            self._pg = PostgresServer(self.data_dir / "pg")
            await asyncio.to_thread(self._pg.start)
            await self._drop_databases(DB_PREFIX)  # left by an interrupted earlier run
        server_version = await self._fetchval("SHOW server_version")
        fsync = await self._fetchval("SHOW fsync")
        commit = await self._fetchval("SHOW synchronous_commit")
        self.pg_version = f"{server_version} (fsync {fsync}, synchronous_commit {commit})"

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self._drop_databases(f"{DB_PREFIX}{self._token}_")
        if self._pg is not None:
            await asyncio.to_thread(self._pg.stop)
            self._pg = None

    def server_pids(self) -> dict[str, int]:
        """The embedded servers' process ids (PostgreSQL: the postmaster)."""
        pids = {}
        if self._pg is not None and self._pg.pid is not None:
            pids["postgres"] = self._pg.pid
        if self.nats_server is not None and self.nats_server.pid is not None:
            pids["nats"] = self.nats_server.pid
        return pids

    def new_prefix(self) -> str:
        """A database prefix no earlier figure used: `bench_<token>_<n>_`."""
        self._count += 1
        return f"{DB_PREFIX}{self._token}_{self._count}_"

    def settings(self, nats_url: str, prefix: str, **overrides: Any) -> Settings:
        from shared.database_roles import logins

        # Each service provisions its roles and database with the admin URL, then logs in
        # as its own role with a password from the bench's secrets directory; each
        # in-process service takes its own NATS seed from there too.
        self.secrets.ensure(database_roles=logins())
        values: dict[str, Any] = {
            "nats_url": nats_url,
            "database_url": with_login(self.pg_url, None),
            "database_admin_url": self.pg_url,
            "secrets_dir": self.secrets.root,
            "database_prefix": prefix,
            "data_dir": self.data_dir,
            "log_level": "ERROR",
            "connect_attempts": 3,
        }
        values.update(overrides)
        return Settings(**values)

    def database_url(self, name: str) -> str:
        return with_database(self.pg_url, name)

    @contextlib.asynccontextmanager
    async def nats(self, label: str) -> AsyncIterator[str]:
        """A NATS server with no streams yet, for one section; yields its URL."""
        if self.external_nats:
            await self._delete_streams(self.external_nats)
            await self._make_streams(self.external_nats)
            try:
                yield self.external_nats
            finally:
                await self._delete_streams(self.external_nats)
            return
        directory = self.data_dir / f"nats-{label}"
        shutil.rmtree(directory, ignore_errors=True)
        server = NatsServer(directory, authorization=secrets_authorization(self.secrets.root))
        await asyncio.to_thread(server.start)
        self.nats_server = server
        try:
            await self._make_streams(server.url)
            yield server.url
        finally:
            self.nats_server = None
            await asyncio.to_thread(server.stop)
            shutil.rmtree(directory, ignore_errors=True)

    async def connect(self, url: str, user: str = "admin") -> NatsClient:
        """A client as one of the NATS users (the bench's own hands: the admin)."""
        seed = self.secrets.nats_seed(user)
        client: NatsClient = await nats.connect(url, **nats_auth(seed, user))
        return client

    async def _make_streams(self, url: str) -> None:
        nc = await self.connect(url)
        try:
            await ensure_streams(nc.jetstream(), self.settings(url, DB_PREFIX))
        finally:
            await nc.close()

    async def _delete_streams(self, url: str) -> None:
        nc = await self.connect(url)
        try:
            js = nc.jetstream()
            for stream in (EVENTS_STREAM, DLQ_STREAM, PAYROLL_STREAM):
                with contextlib.suppress(NotFoundError):
                    await js.delete_stream(stream)
        finally:
            await nc.close()

    async def drop_prefix(self, prefix: str) -> None:
        await self._drop_databases(prefix)

    async def _fetchval(self, sql: str) -> Any:
        conn = await asyncpg.connect(self.pg_url)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def _drop_databases(self, prefix: str) -> None:
        conn = await asyncpg.connect(self.pg_url)
        try:
            names = [
                r["datname"]
                for r in await conn.fetch(
                    "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", prefix
                )
            ]
            for name in names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
