"""The PostgreSQL event store: gap-free positions, a hash chain, inbox and checkpoints.

Every service's database holds the same five tables (STORE_SCHEMA) beside its own
projections. `events` is the log and the outbox; `event_log_head` is a single row whose
lock serialises appends; `inbox` remembers which events a consumer has handled;
`checkpoints` remembers how far the relay (and other followers) got; `command_replies`
the answers to commands sent with an idempotency key (shared/idempotency.py).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from shared.events import (
    GENESIS_HASH,
    NewEvent,
    RecordedEvent,
    canonical_json,
    chain_hash_encoded,
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
from shared.personal_data import load_keys, seal_requests

NOTIFY_CHANNEL = "flowers_events"
T = TypeVar("T")

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
-- One round's events (`audit as-of --round`, see of_round below).
CREATE INDEX IF NOT EXISTS events_round_idx ON events ((data->>'round_id'), position);

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

-- The answers to commands carried out under an idempotency key (shared/idempotency.py).
CREATE TABLE IF NOT EXISTS command_replies (
    actor       text        NOT NULL,
    subject     text        NOT NULL,
    key         text        NOT NULL,
    body_sha256 text        NOT NULL,  -- of the first request's body (for inquiries)
    reply       jsonb,
    claimed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    answered_at timestamptz,
    PRIMARY KEY (actor, subject, key)
);

CREATE TABLE IF NOT EXISTS checkpoints (
    name        text        PRIMARY KEY,
    position    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""

EVENT_COLUMNS = (
    "position, stream_id, version, event_id, type, schema_version, data, metadata, "
    "recorded_at, prev_hash, hash"
)


def of_round(parameter: str) -> str:
    """The SQL condition "an event of the round `parameter` names, or of no round".

    Every event of a round carries its `round_id` in its data (the contracts in
    shared/contracts/: rounds, nominations, review, awards and their adjustments); events
    without one (the directory, erasures, payroll's acknowledgements) belong to no round and
    are kept. Both branches use `events_round_idx`."""
    return f"(data->>'round_id' = {parameter} OR data->>'round_id' IS NULL)"


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached or refused us; the message says why, in one line."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    for pg_type in ("json", "jsonb"):
        await conn.set_type_codec(
            pg_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _return_to_pool(conn: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: nothing more.

    asyncpg has already rolled back a transaction left open and dropped the listeners'
    callbacks. Its full reset (RESET ALL, CLOSE ALL, UNLISTEN *, unlock every advisory
    lock) would cost a round trip on every use — every query, every commit — and there is
    no session state to undo: settings are only ever SET LOCAL, cursors live in
    transactions, and the two holders of a session advisory lock (the log followers, the
    audit's rebuild) unlock it and stop listening themselves before they let go.
    """


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
                reset=_return_to_pool,
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


def recorded_event(row: Mapping[str, Any]) -> RecordedEvent:
    """An `events` row as the envelope the rest of the code reads (validated in one call)."""
    return RecordedEvent.model_validate(dict(row))


LOG_CHUNK = 10_000  # rows per round trip when a whole log is read (audit, rebuilds)
SLICE = 1_000  # rows handled between yields to the event loop (its other tasks stay timely)


async def in_slices(items: Sequence[T], size: int = SLICE) -> AsyncIterator[Sequence[T]]:
    """`items` a slice at a time, yielding to the event loop in between: a chunk of 10,000
    decoded or hashed in one go would hold up the loop (and a NATS request's answer) for
    long enough to time it out on a busy machine."""
    for start in range(0, len(items), size):
        if start:
            await asyncio.sleep(0)
        yield items[start : start + size]


async def read_rows(
    conn: asyncpg.Connection, sql: str, *args: Any, chunk: int = LOG_CHUNK
) -> AsyncGenerator[list[asyncpg.Record], None]:
    """A query's rows, `chunk` at a time, through a server-side cursor (inside a transaction:
    the cursor lives in it). Memory stays bounded however long the log."""
    cursor = await conn.cursor(sql, *args)
    while True:
        rows = await cursor.fetch(chunk)
        if not rows:
            return
        yield rows


async def read_log(
    conn: asyncpg.Connection,
    *,
    table: str = "events",
    after: int = 0,
    until: int | None = None,
    recorded_until: datetime | None = None,
    chunk: int = LOG_CHUNK,
    by_time: bool = False,
    round_id: str | None = None,
) -> AsyncGenerator[list[RecordedEvent], None]:
    """The log in position order after `after` (up to position `until`, or to rows recorded
    by `recorded_until`), `chunk` events at a time (inside a transaction, see read_rows);
    `by_time`: in the order of `recorded_at`, then position (to merge several logs);
    `round_id`: only that round's events and those of no round (`of_round`).

    `table` is the (qualified) events table: the live log, or an as-of copy."""
    where = ["position > $1"]
    args: list[Any] = [after]
    if until is not None:
        args.append(until)
        where.append(f"position <= ${len(args)}")
    if recorded_until is not None:
        args.append(recorded_until)
        where.append(f"recorded_at <= ${len(args)}")
    if round_id is not None:
        args.append(round_id)
        where.append(of_round(f"${len(args)}"))
    order = "recorded_at, position" if by_time else "position"
    sql = f"SELECT {EVENT_COLUMNS} FROM {table} WHERE {' AND '.join(where)} ORDER BY {order}"
    async for rows in read_rows(conn, sql, *args, chunk=chunk):
        events: list[RecordedEvent] = []
        async for part in in_slices(rows):
            events.extend(recorded_event(r) for r in part)
        await load_keys(events)  # personal values open when decoded (shared.personal_data)
        yield events


@dataclass(frozen=True)
class Published:
    """An event as the relay publishes it: the body is the envelope's JSON."""

    position: int
    event_id: uuid.UUID
    type: str
    body: bytes


GROUP_COMMIT_MAX = 500  # appends of their own committed together, at most

_AppendJob = tuple[list[AppendRequest], "asyncio.Future[list[RecordedEvent]]"]


@dataclass(frozen=True)
class _AppendPlan:
    """The rows an append writes after a given head, and the head they leave."""

    after_position: int
    after_hash: str
    rows: list[tuple[Any, ...]]  # the columns inserted; data and metadata as JSON text
    head_position: int
    head_hash: str
    expected: dict[str, int]  # the versions callers expected (checked by the insert)
    events: list[NewEvent]  # what each row stores, in the rows' order


def _plan(
    requests: Sequence[AppendRequest], position: int, prev_hash: str, current: dict[str, int]
) -> _AppendPlan:
    """Number and chain the events after (position, prev_hash). A version in `current` was
    read under the head lock; any other expected version (a request without events too) is
    checked by the insert's own statement instead (`_insert`, exact: versions have no gaps)."""
    after_position, after_hash = position, prev_hash
    current = dict(current)
    rows: list[tuple[Any, ...]] = []
    events: list[NewEvent] = []
    expected: dict[str, int] = {}
    for request in requests:
        wanted = request.expected_version
        if request.stream_id in current or wanted is None:
            version = current.get(request.stream_id, 0)  # read under the head's lock
            if wanted is not None and wanted != version:
                raise ConcurrencyError(request.stream_id, wanted, version)
        else:
            version = expected[request.stream_id] = wanted
        stream_id = request.stream_id
        for event in request.events:
            position += 1
            version += 1
            # Each event's data and metadata are spelled once: the canonical JSON that is
            # hashed is also the text the jsonb columns are cast from (no second encoding).
            data = canonical_json(event.data)
            metadata = canonical_json(metadata_json(event.metadata))
            digest = chain_hash_encoded(
                prev_hash,
                position,
                stream_id,
                version,
                event.event_id,
                event.type,
                event.schema_version,
                data,
                metadata,
            )
            rows.append(
                (
                    position,
                    stream_id,
                    version,
                    event.event_id,
                    event.type,
                    event.schema_version,
                    data,
                    metadata,
                    prev_hash,
                    digest,
                )
            )
            events.append(event)
            prev_hash = digest
        current[request.stream_id] = version
    return _AppendPlan(after_position, after_hash, rows, position, prev_hash, expected, events)


def _read_first(request: AppendRequest) -> bool:
    """Must the stream's version be read under the head's lock before this request? Only
    where the caller did not say which version it expects."""
    return request.expected_version is None


class _VersionTaken(Exception):
    """An expected version was stale: the stream stands elsewhere (`actual`, where known)."""

    def __init__(self, stream_id: str, expected: int | None, actual: int | None = None) -> None:
        super().__init__(stream_id)
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual

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
        # The head (position, hash) as this store last saw it: an append that starts there
        # needs no locking read first. Only a hint: a stale one costs one round trip.
        self._head: tuple[int, str] | None = None
        self._waiting: list[_AppendJob] = []
        self._committer: asyncio.Task[None] | None = None

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
        requests = await seal_requests(requests)  # personal values sealed before the chain
        if conn is None:
            return await self._group_commit(requests)
        # In the caller's transaction. A stale expected version writes nothing and leaves the
        # transaction usable (the insert's statement checks it first), so a caller may load
        # and decide again in it; any other failure (a duplicate event id) aborts it: a
        # caller that retries after one wraps the append in a savepoint.
        try:
            return await self._append(conn, requests)
        except _VersionTaken as taken:
            # Where only the key caught it (the transaction is aborted) the stream's current
            # version stays unknown: asking another pool connection while holding this one
            # is how concurrent callers used to exhaust the pool, each waiting for another's
            # connection with its own transaction (and the head's lock) held open.
            raise ConcurrencyError(taken.stream_id, taken.expected, taken.actual) from None

    @staticmethod
    async def _concurrency_error(
        conn: asyncpg.Connection, taken: _VersionTaken
    ) -> ConcurrencyError:
        """The conflict with the stream's current version, read on `conn` (not in a failed
        transaction): never on a second connection while this one is held."""
        if taken.actual is not None:
            return ConcurrencyError(taken.stream_id, taken.expected, taken.actual)
        actual = await conn.fetchval(
            "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1",
            taken.stream_id,
        )
        return ConcurrencyError(taken.stream_id, taken.expected, int(actual))

    async def _group_commit(self, requests: Sequence[AppendRequest]) -> list[RecordedEvent]:
        """Appends in transactions of their own, committed together while one is in flight.

        All appends wait for the one head lock anyway; so the appends that arrive while a
        commit is under way go into the next one together. If that combined append fails,
        each is tried alone, so every caller gets its own result or error.
        """
        job: _AppendJob = (list(requests), asyncio.get_running_loop().create_future())
        self._waiting.append(job)
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_waiting())
        return await job[1]

    async def _commit_waiting(self) -> None:
        try:
            while self._waiting:
                jobs, self._waiting = (
                    self._waiting[:GROUP_COMMIT_MAX],
                    self._waiting[GROUP_COMMIT_MAX:],
                )
                if len(jobs) > 1:
                    try:
                        recorded = await self._append_own([r for reqs, _ in jobs for r in reqs])
                    except (ConcurrencyError, DuplicateEventError):
                        pass  # one of them conflicts: each alone below
                    except Exception as exc:
                        for _, future in jobs:
                            if not future.done():
                                future.set_exception(exc)
                        continue
                    else:
                        offset = 0
                        for reqs, future in jobs:
                            count = sum(len(r.events) for r in reqs)
                            if not future.done():  # a caller that gave up: its events stand
                                future.set_result(recorded[offset : offset + count])
                            offset += count
                        continue
                for reqs, future in jobs:
                    try:
                        result = await self._append_own(reqs)
                    except Exception as exc:
                        if not future.done():
                            future.set_exception(exc)
                    else:
                        if not future.done():
                            future.set_result(result)
        finally:
            self._committer = None
            for _, future in self._waiting:  # only if this task itself was cancelled
                if not future.done():
                    future.set_exception(RuntimeError("the event store stopped appending"))
            self._waiting = []

    async def _append_own(self, requests: Sequence[AppendRequest]) -> list[RecordedEvent]:
        """An append in a transaction of its own; a stale version raises ConcurrencyError."""
        async with self.pool.acquire() as conn:
            try:
                # One statement is its own transaction: where the head is as last seen, the
                # whole append is a single round trip.
                recorded = await self._append_at_known_head(conn, requests)
                if recorded is not None:
                    return recorded
                async with conn.transaction():
                    return await self._append(conn, requests)
            except _VersionTaken as taken:  # rolled back by now: the same connection reads on
                raise await self._concurrency_error(conn, taken) from None

    async def _append(
        self, conn: asyncpg.Connection, requests: Sequence[AppendRequest]
    ) -> list[RecordedEvent]:
        recorded = await self._append_at_known_head(conn, requests)
        if recorded is not None:
            return recorded
        # Appends are serialised on the head row and hold it until commit, so positions are
        # handed out in commit order: a reader tailing by position can never pass a position
        # that a slower transaction fills in later, and needs no gap-detection timer.
        # (The wait is bounded by the pool's lock_timeout, see create_pool.)
        head = await conn.fetchrow(
            "SELECT position, hash FROM event_log_head WHERE singleton FOR UPDATE"
        )
        assert head is not None, "event_log_head is missing: was the schema applied?"
        # A stream's version is read only where the caller did not say which it expects, or
        # where a request without events guards it (no insert would check that version).
        unknown = sorted({r.stream_id for r in requests if _read_first(r)})
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
        plan = _plan(requests, head["position"], head["hash"], current)
        recorded = await self._insert(conn, plan)
        assert recorded, "the head moved while this transaction held its lock"
        return recorded

    async def _append_at_known_head(
        self, conn: asyncpg.Connection, requests: Sequence[AppendRequest]
    ) -> list[RecordedEvent] | None:
        """Append after the head this store last wrote or read, if it is still the head;
        None (nothing written) if it moved or a stream's version has to be read first."""
        if self._head is None or any(_read_first(r) for r in requests):
            return None
        plan = _plan(requests, *self._head, {})
        return await self._insert(conn, plan) or None

    async def _insert(self, conn: asyncpg.Connection, plan: _AppendPlan) -> list[RecordedEvent]:
        """One statement: check the versions the callers expected, move the head if it is
        where the plan starts (taking its lock until commit), then insert the events and
        wake the followers; [] if the head was not there. A stream not at its expected
        version writes nothing and raises _VersionTaken with the caller's transaction still
        usable. The check reads the statement's snapshot, which is exact wherever the head
        moves: every append holds the head's lock until it commits, so a head found where
        the plan starts has every event before it committed and in the snapshot."""
        try:
            rows = await conn.fetch(
                """
                WITH stale AS (
                    SELECT x.s, coalesce(v.version, 0) AS version
                    FROM unnest($16::text[], $17::int[]) AS x(s, expected)
                    LEFT JOIN LATERAL (
                        SELECT version FROM events WHERE stream_id = x.s
                        ORDER BY version DESC LIMIT 1
                    ) AS v ON true
                    WHERE coalesce(v.version, 0) <> x.expected
                    LIMIT 1
                ), moved AS (
                    UPDATE event_log_head SET position = $11, hash = $12
                    WHERE singleton AND position = $13 AND hash = $14
                        AND NOT EXISTS (SELECT FROM stale)
                    RETURNING position
                ), inserted AS (
                    INSERT INTO events (position, stream_id, version, event_id, type,
                                        schema_version, data, metadata, prev_hash, hash)
                    SELECT p, s, v, e, t, sv, d::jsonb, m::jsonb, ph, h
                    FROM unnest($1::bigint[], $2::text[], $3::int[], $4::uuid[],
                                $5::text[], $6::int[], $7::text[], $8::text[],
                                $9::text[], $10::text[]) AS u(p, s, v, e, t, sv, d, m, ph, h)
                    WHERE EXISTS (SELECT FROM moved)
                    RETURNING position, recorded_at
                )
                SELECT i.position, i.recorded_at, st.s AS stale, st.version AS actual,
                    CASE WHEN i.position IS NOT NULL THEN pg_notify($15, $11::text) END
                FROM (SELECT) AS one
                LEFT JOIN inserted AS i ON true
                LEFT JOIN stale AS st ON true
                """,
                *[list(column) for column in zip(*plan.rows, strict=True)],
                plan.head_position,
                plan.head_hash,
                plan.after_position,
                plan.after_hash,
                NOTIFY_CHANNEL,
                list(plan.expected),
                list(plan.expected.values()),
            )
        except asyncpg.UniqueViolationError as exc:
            constraint = exc.constraint_name or ""
            if "event_id" in constraint:
                raise DuplicateEventError(str(exc.detail)) from exc
            if constraint == "events_pkey" and plan.expected:
                raise _VersionTaken.from_detail(str(exc.detail), plan.expected) from exc
            raise
        stale = rows[0]["stale"] if rows else None
        if stale is not None:
            raise _VersionTaken(stale, plan.expected[stale], int(rows[0]["actual"]))
        inserted = [row for row in rows if row["position"] is not None]
        if not inserted:
            return []
        self._head = (plan.head_position, plan.head_hash)
        # The envelopes from what was written (only the time is the server's): nothing to
        # decode again. The rows are in position order, as `plan.rows`.
        recorded_at = {row["position"]: row["recorded_at"] for row in inserted}
        return [
            RecordedEvent.model_construct(
                position=row[0],
                stream_id=row[1],
                version=row[2],
                event_id=row[3],
                type=row[4],
                schema_version=row[5],
                data=event.data,
                metadata=event.metadata,
                recorded_at=recorded_at[row[0]],
                prev_hash=row[8],
                hash=row[9],
            )
            for row, event in zip(plan.rows, plan.events, strict=True)
        ]

    async def load(
        self, stream_id: str, after_version: int = 0, *, conn: asyncpg.Connection | None = None
    ) -> EventStream:
        """A stream's events after a version; with `conn`, as that transaction sees them."""
        rows = await (conn or self.pool).fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 "
            "ORDER BY version",
            stream_id,
            after_version,
        )
        events = [recorded_event(r) for r in rows]
        await load_keys(events)
        return EventStream(stream_id, events)

    async def load_many(
        self, after: Mapping[str, int], *, conn: asyncpg.Connection | None = None
    ) -> dict[str, list[RecordedEvent]]:
        """Several streams' events, each after its version, in one statement (a consumer's
        batch loads every stream it touches at once); with `conn`, as that transaction sees
        them. Every stream asked for is in the answer, with no events if none are newer."""
        loaded: dict[str, list[RecordedEvent]] = {stream_id: [] for stream_id in after}
        if not after:
            return loaded
        rows = await (conn or self.pool).fetch(
            f"SELECT {', '.join('e.' + c.strip() for c in EVENT_COLUMNS.split(','))} "
            "FROM events e JOIN unnest($1::text[], $2::int[]) AS s(stream_id, after_version) "
            "ON e.stream_id = s.stream_id AND e.version > s.after_version "
            "ORDER BY e.stream_id, e.version",
            list(after),
            list(after.values()),
        )
        for row in rows:
            loaded[row["stream_id"]].append(recorded_event(row))
        await load_keys(e for events in loaded.values() for e in events)
        return loaded

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        rows = await self.pool.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
            after,
            limit,
        )
        events = [recorded_event(r) for r in rows]
        await load_keys(events)
        return events

    async def read_published(self, after: int | str = 0, limit: int = 1000) -> list[Published]:
        """The log after `after` as the relay publishes it: each event's envelope already
        spelled as JSON by PostgreSQL (the fields of RecordedEvent, `data` and `metadata` as
        stored), so nothing is decoded into models and encoded again on the way out.

        `after` is a position, or the name of a checkpoint: then the checkpoint is read in
        the same statement (the relay's wake-up is one round trip, not two)."""
        start = (
            "coalesce((SELECT position FROM checkpoints WHERE name = $1), 0)"
            if isinstance(after, str)
            else "$1::bigint"
        )
        rows = await self.pool.fetch(
            "SELECT position, event_id, type, json_build_object("
            "'position', position, 'stream_id', stream_id, 'version', version, "
            "'event_id', event_id, 'type', type, 'schema_version', schema_version, "
            "'data', data, 'metadata', metadata, 'recorded_at', recorded_at, "
            "'prev_hash', prev_hash, 'hash', hash)::text AS body "
            f"FROM events WHERE position > {start} ORDER BY position LIMIT $2",
            after,
            limit,
        )
        return [
            Published(row["position"], row["event_id"], row["type"], row["body"].encode())
            for row in rows
        ]

    async def head(self) -> int:
        value = await self.pool.fetchval("SELECT position FROM event_log_head")
        return int(value or 0)

    async def find(self, event_id: uuid.UUID) -> RecordedEvent | None:
        row = await self.pool.fetchrow(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = $1", event_id
        )
        if not row:
            return None
        event = recorded_event(row)
        await load_keys([event])
        return event

    async def verify_chain(self, page_size: int = LOG_CHUNK) -> ChainReport:
        """Walk the log in position order; name the first row that breaks the chain."""
        verifier = ChainVerifier.start()
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            chunks = read_rows(
                conn,
                "SELECT position, stream_id, version, event_id, type, schema_version, "
                "data, metadata, prev_hash, hash FROM events ORDER BY position",
                chunk=page_size,
            )
            async with aclosing(chunks):
                async for rows in chunks:
                    async for part in in_slices(rows):
                        if not verifier.feed_many(part):
                            return verifier.report
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
