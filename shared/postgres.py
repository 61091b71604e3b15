"""The PostgreSQL event store: gap-free positions, a hash chain, inbox and checkpoints.

Every service's database holds the same four tables (STORE_SCHEMA) beside its own
projections. `events` is the log and the outbox; `event_log_head` is a single row whose
lock serialises appends; `inbox` remembers which events a consumer has handled;
`checkpoints` remembers how far the relay (and other followers) got.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from shared.events import (
    GENESIS_HASH,
    EventMetadata,
    NewEvent,
    RecordedEvent,
    chain_hash,
    metadata_json,
)
from shared.eventstore import (
    ANY_VERSION,
    AppendRequest,
    ChainBreak,
    ChainReport,
    ChainVerifier,
    ConcurrencyError,
    DuplicateEventError,
    EventStream,
)

NOTIFY_CHANNEL = "flowers_events"

STORE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    position        bigint      NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    version         integer     NOT NULL CHECK (version > 0),
    event_id        uuid        NOT NULL UNIQUE,
    type            text        NOT NULL,
    schema_version  integer     NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    prev_hash       text        NOT NULL,
    hash            text        NOT NULL,
    PRIMARY KEY (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_type_idx ON events (type);
CREATE INDEX IF NOT EXISTS events_correlation_idx ON events ((metadata->>'correlation_id'));

CREATE TABLE IF NOT EXISTS event_log_head (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position    bigint  NOT NULL,
    hash        text    NOT NULL
);
INSERT INTO event_log_head (singleton, position, hash)
VALUES (true, 0, '{GENESIS_HASH}') ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS inbox (
    consumer    text        NOT NULL,
    event_id    uuid        NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE IF NOT EXISTS checkpoints (
    name        text        PRIMARY KEY,
    position    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""

_SELECT_COLUMNS = (
    "position, stream_id, version, event_id, type, schema_version, data, metadata, "
    "recorded_at, prev_hash, hash"
)


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached or refused us; the message says why, in one line."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    for pg_type in ("json", "jsonb"):
        await conn.set_type_codec(
            pg_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    attempts: int = 1,
    on_retry: Any = None,
    lock_timeout_ms: int | None = None,
) -> asyncpg.Pool:
    """Connect with back-off; a refusal that retrying cannot mend raises DatabaseUnavailable.

    `lock_timeout_ms` bounds every lock wait on the pool's connections (a service's appends
    wait for the log's head row): a stuck transaction then fails its waiters loudly.
    """
    server_settings = {} if lock_timeout_ms is None else {"lock_timeout": str(lock_timeout_ms)}
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                init=_init_connection,
                server_settings=server_settings,
            )
            return pool
        except (
            asyncpg.InvalidCatalogNameError,
            asyncpg.InvalidAuthorizationSpecificationError,
            asyncpg.InvalidPasswordError,
        ) as exc:
            raise DatabaseUnavailable(f"PostgreSQL refused {redact(dsn)}: {exc}") from exc
        except (TimeoutError, OSError, asyncpg.CannotConnectNowError) as exc:
            if attempt == attempts:
                raise DatabaseUnavailable(
                    f"PostgreSQL at {redact(dsn)} unreachable after {attempts} attempt(s): {exc}"
                ) from exc
            if on_retry is not None:
                on_retry(attempt, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


def redact(dsn: str) -> str:
    """A DSN fit for a log line: the password replaced."""
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"


async def ensure_database(server_dsn: str, database: str) -> bool:
    """CREATE DATABASE unless it exists; True when created."""
    conn = await asyncpg.connect(server_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{database}"')
        except asyncpg.DuplicateDatabaseError:
            return False
        return True
    finally:
        await conn.close()


async def apply_schema(conn: asyncpg.Connection, *sql: str) -> None:
    """Apply the store's tables and a service's own (idempotent DDL), serialised by a lock."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(7242)")
        await conn.execute(STORE_SCHEMA)
        for statement in sql:
            await conn.execute(statement)


def _record(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        position=row["position"],
        stream_id=row["stream_id"],
        version=row["version"],
        event_id=row["event_id"],
        type=row["type"],
        schema_version=row["schema_version"],
        data=row["data"],
        metadata=EventMetadata.model_validate(row["metadata"]),
        recorded_at=row["recorded_at"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


class _VersionTaken(Exception):
    """An expected version was stale: the key (stream_id, version) exists already."""

    def __init__(self, stream_id: str, expected: int | None) -> None:
        super().__init__(stream_id)
        self.stream_id = stream_id
        self.expected = expected

    @classmethod
    def from_detail(cls, detail: str, expected: dict[str, int]) -> _VersionTaken:
        # "Key (stream_id, version)=(<stream id>, <version>) already exists."
        inside = detail.partition(")=(")[2].rpartition(")")[0]
        stream_id = inside.rpartition(", ")[0]
        if stream_id not in expected:  # cannot parse it: name the first stream appended
            stream_id = next(iter(expected))
        return cls(stream_id, expected[stream_id])


class PostgresEventStore:
    """The EventStore contract on one service's database."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One transaction for an append and the projections it feeds."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: int | None = ANY_VERSION,
        *,
        conn: asyncpg.Connection | None = None,
    ) -> list[RecordedEvent]:
        return await self.append_batch(
            [AppendRequest(stream_id, events, expected_version)], conn=conn
        )

    async def append_batch(
        self,
        requests: Sequence[AppendRequest],
        *,
        conn: asyncpg.Connection | None = None,
    ) -> list[RecordedEvent]:
        if not any(r.events for r in requests):
            return []
        try:
            if conn is None:
                async with self.transaction() as own:
                    return await self._append(own, requests)
            async with conn.transaction():  # a savepoint inside the caller's transaction
                return await self._append(conn, requests)
        except _VersionTaken as taken:  # rolled back by now: read what the stream holds
            actual = await (conn or self.pool).fetchval(
                "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1",
                taken.stream_id,
            )
            raise ConcurrencyError(taken.stream_id, taken.expected, int(actual)) from None

    async def _append(
        self, conn: asyncpg.Connection, requests: Sequence[AppendRequest]
    ) -> list[RecordedEvent]:
        # Appends are serialised on the head row and hold it until commit, so positions are
        # handed out in commit order: a reader tailing by position can never pass a position
        # that a slower transaction fills in later, and needs no gap-detection timer.
        # (The wait is bounded by the pool's lock_timeout, see create_pool.)
        head = await conn.fetchrow(
            "SELECT position, hash FROM event_log_head WHERE singleton FOR UPDATE"
        )
        assert head is not None, "event_log_head is missing: was the schema applied?"
        # A stream's version is read only where the caller did not say which it expects;
        # an expected version is checked by the (stream_id, version) key on insert instead,
        # which under the head lock is exact: versions have no gaps.
        unknown = sorted({r.stream_id for r in requests if r.expected_version is None})
        current: dict[str, int] = {}
        if unknown:
            current = {
                row["stream_id"]: row["version"]
                for row in await conn.fetch(
                    "SELECT stream_id, max(version) AS version FROM events "
                    "WHERE stream_id = ANY($1::text[]) GROUP BY stream_id",
                    unknown,
                )
            }
        position: int = head["position"]
        prev_hash: str = head["hash"]
        rows: list[tuple[Any, ...]] = []
        seen: set[str] = set()
        first_versions: dict[str, int] = {}
        for request in requests:
            if request.stream_id in seen or request.expected_version is None:
                version = current.get(request.stream_id, 0)
                if request.expected_version is not None and request.expected_version != version:
                    raise ConcurrencyError(request.stream_id, request.expected_version, version)
            else:
                version = request.expected_version
                first_versions[request.stream_id] = version
            seen.add(request.stream_id)
            for event in request.events:
                position += 1
                version += 1
                meta = metadata_json(event.metadata)
                digest = chain_hash(
                    prev_hash,
                    position,
                    request.stream_id,
                    version,
                    event.event_id,
                    event.type,
                    event.schema_version,
                    event.data,
                    meta,
                )
                rows.append(
                    (
                        position,
                        request.stream_id,
                        version,
                        event.event_id,
                        event.type,
                        event.schema_version,
                        event.data,
                        meta,
                        prev_hash,
                        digest,
                    )
                )
                prev_hash = digest
            current[request.stream_id] = version
        try:
            # One statement inserts the events, moves the head and wakes the followers.
            inserted = await conn.fetch(
                f"""
                WITH inserted AS (
                    INSERT INTO events (position, stream_id, version, event_id, type,
                                        schema_version, data, metadata, prev_hash, hash)
                    SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::uuid[],
                                         $5::text[], $6::int[], $7::jsonb[], $8::jsonb[],
                                         $9::text[], $10::text[])
                    RETURNING {_SELECT_COLUMNS}
                ), moved AS (
                    UPDATE event_log_head SET position = $11, hash = $12 WHERE singleton
                )
                SELECT inserted.*, pg_notify($13, $11::text) FROM inserted
                """,
                *[list(column) for column in zip(*rows, strict=True)],
                position,
                prev_hash,
                NOTIFY_CHANNEL,
            )
        except asyncpg.UniqueViolationError as exc:
            constraint = exc.constraint_name or ""
            if "event_id" in constraint:
                raise DuplicateEventError(str(exc.detail)) from exc
            if constraint == "events_pkey" and first_versions:
                raise _VersionTaken.from_detail(str(exc.detail), first_versions) from exc
            raise
        return [_record(row) for row in sorted(inserted, key=lambda r: r["position"])]

    async def load(self, stream_id: str, after_version: int = 0) -> EventStream:
        rows = await self.pool.fetch(
            f"SELECT {_SELECT_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 "
            "ORDER BY version",
            stream_id,
            after_version,
        )
        return EventStream(stream_id, [_record(r) for r in rows])

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        rows = await self.pool.fetch(
            f"SELECT {_SELECT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
            after,
            limit,
        )
        return [_record(r) for r in rows]

    async def head(self) -> int:
        value = await self.pool.fetchval("SELECT position FROM event_log_head")
        return int(value or 0)

    async def find(self, event_id: uuid.UUID) -> RecordedEvent | None:
        row = await self.pool.fetchrow(
            f"SELECT {_SELECT_COLUMNS} FROM events WHERE event_id = $1", event_id
        )
        return _record(row) if row else None

    async def verify_chain(self, page_size: int = 5000) -> ChainReport:
        """Walk the log in position order; name the first row that breaks the chain."""
        verifier = ChainVerifier.start()
        after = 0
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            while True:
                rows = await conn.fetch(
                    "SELECT position, stream_id, version, event_id, type, schema_version, "
                    "data, metadata, prev_hash, hash FROM events WHERE position > $1 "
                    "ORDER BY position LIMIT $2",
                    after,
                    page_size,
                )
                if not rows:
                    break
                for row in rows:
                    if not verifier.feed(row):
                        return verifier.report
                after = rows[-1]["position"]
            head = await conn.fetchrow("SELECT position, hash FROM event_log_head")
        report = verifier.report
        if head is not None and (head["position"], head["hash"]) != (
            report.head_position,
            report.head_hash,
        ):
            report.first_break = ChainBreak(
                report.head_position + 1,
                f"the log ends at position {report.head_position} "
                f"but its head records position {head['position']}",
            )
        return report


async def claim_inbox(
    conn: asyncpg.Connection, consumer: str, event_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Record that `consumer` handles these events now; the ones it had not handled before."""
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[]) "
        "ON CONFLICT DO NOTHING RETURNING event_id",
        consumer,
        list(event_ids),
    )
    return {row["event_id"] for row in rows}


async def get_checkpoint(conn: asyncpg.Connection | asyncpg.Pool, name: str) -> int:
    value = await conn.fetchval("SELECT position FROM checkpoints WHERE name = $1", name)
    return int(value or 0)


async def set_checkpoint(conn: asyncpg.Connection | asyncpg.Pool, name: str, position: int) -> None:
    await conn.execute(
        "INSERT INTO checkpoints (name, position) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
        "updated_at = clock_timestamp()",
        name,
        position,
    )
