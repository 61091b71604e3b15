"""Read models rebuilt from the log: compared with the live tables, or swapped in for them.

A rebuild creates a fresh PostgreSQL schema in the service's database, runs the service's
schema.sql there (search_path set to it alone, so nothing can reach a live table), and
feeds it:

- from the service's own log (`events`, in position order) through its own projectors;
- from other services' events as the service received them: the FLOWERS stream read by an
  ephemeral consumer on the feed's filter subjects, in stream order, keeping exactly the
  events the durable consumer has handled (its `inbox` rows), through the feed's
  projection code only — no inbox row is written and nothing is appended.

`check` does this inside one REPEATABLE READ transaction and compares the result with the
live tables of the same snapshot (rolled back at the end: nothing is left behind).
`rebuild` builds in committed passes while the service runs, then swaps the tables in
one short transaction (see README, "Audit", for why no event is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import json
import re
import uuid
import zlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
    Set,
)
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js import api as js_api

from shared.bus import EVENTS_STREAM, HDR_MSG_ID
from shared.events import DomainEvent, EventRegistry, RecordedEvent
from shared.personal_data import MARKER, load_keys
from shared.postgres import EVENT_COLUMNS, LOG_CHUNK, in_slices, of_round, read_log
from shared.projection import (
    ConsumedFeed,
    OwnLog,
    Projection,
    ServiceProjections,
    subject_matches,
)

Progress = Callable[[str, int, int], None]

EXAMPLES = 10  # differences spelled out per table
SMALL_DELTA = 200  # a catch-up pass this small is followed by the swap
SWAP_LOCK_TIMEOUT_MS = 500  # below PostgreSQL's deadlock_timeout: the audit yields first


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def live_schema(conn: asyncpg.Connection) -> str:
    """The schema the service's tables live in (where its `events` table is)."""
    schema = await conn.fetchval(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass('events')"
    )
    if schema is None:
        raise LookupError("this database has no event store (no `events` table)")
    return str(schema)


_paused = 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a log is read in bulk (nested uses count).

    Reading 10,000 events a chunk keeps many objects alive at once, and CPython then runs
    full collections over every object of the process again and again: measured, half of a
    rebuild's CPU time. What the audit makes is freed by reference counting; the collector
    runs as usual once the last bulk read ends."""
    global _paused
    if _paused == 0 and not gc.isenabled():
        yield  # paused by someone else: left as it is
        return
    _paused += 1
    gc.disable()
    try:
        yield
    finally:
        _paused -= 1
        if _paused == 0:
            gc.enable()


# --- FLOWERS, as a consumer received it -----------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    seq: int
    event_id: str  # the Nats-Msg-Id header
    data: bytes
    subject: str = ""


REPLAY_CHUNK = 10_000  # messages handed on at a time
REPLAY_IDLE_S = 10.0  # no message for this long while some are pending: the replay failed
# What the client may hold unread. JetStream's flow control keeps the server within it, as
# long as the subscription has no callback: nats-py counts a callback subscription's
# messages as delivered when they arrive, answers every flow-control request at once, and
# a reader slower than the server (verify is, by thirty times) overflows any buffer.
REPLAY_BUFFER_BYTES = 64 * 1024 * 1024


async def replay(
    js: JetStreamContext,
    subjects: Sequence[str],
    after_seq: int = 0,
    *,
    chunk: int = REPLAY_CHUNK,
    buffer_bytes: int = REPLAY_BUFFER_BYTES,
) -> AsyncGenerator[list[Delivered], None]:
    """FLOWERS' messages on `subjects` after stream sequence `after_seq`, in stream order,
    up to `chunk` at a time, until none is pending.

    An ordered consumer (ephemeral, in memory, no acks; flow-controlled) read without a
    callback, so the server waits whenever the reader is behind: what has arrived is taken
    from the subscription's queue in one go, and only an empty queue is awaited (nats-py's
    `next_msg` makes a task per message, five times the cost of the read itself). Nothing
    is changed on the server but that short-lived consumer (and one that counts first),
    dropped once idle.
    """
    config = js_api.ConsumerConfig(
        deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE
        if after_seq
        else js_api.DeliverPolicy.ALL,
        opt_start_seq=after_seq + 1 if after_seq else None,
        filter_subject=subjects[0] if len(subjects) == 1 else None,
        filter_subjects=list(subjects) if len(subjects) > 1 else None,
    )
    if not await _pending(js, config):
        return
    sub = await js.subscribe(
        subjects[0],
        stream=EVENTS_STREAM,
        ordered_consumer=True,
        config=config,
        pending_bytes_limit=buffer_bytes,
    )
    try:
        while True:
            try:
                first = await sub.next_msg(timeout=REPLAY_IDLE_S)
            except nats.errors.TimeoutError:
                raise TimeoutError(
                    f"FLOWERS sent nothing for {REPLAY_IDLE_S:.0f} s while messages were pending"
                ) from None
            taken = [_delivered(first)]
            finished = first.metadata.num_pending == 0
            for message in _arrived(sub, chunk - 1) if not finished else ():
                taken.append(_delivered(message))
                if message.metadata.num_pending == 0:
                    finished = True
                    break
            yield taken
            if finished:
                return
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()  # the server drops the ephemeral consumer once idle


def _delivered(message: Msg) -> Delivered:
    msg_id = (message.headers or {}).get(HDR_MSG_ID, "")
    return Delivered(message.metadata.sequence.stream, msg_id, message.data, message.subject)


def _arrived(sub: Subscription, most: int) -> Iterator[Msg]:
    """Up to `most` messages already in the subscription's queue, taken as `next_msg` takes
    one (the queue and its byte count are how nats-py answers flow control)."""
    queue = sub._pending_queue  # nats-py has no public batch read
    for _ in range(most):
        try:
            message = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        sub._pending_size -= len(message.data)
        queue.task_done()
        yield message


async def _pending(js: JetStreamContext, replay: js_api.ConsumerConfig) -> int:
    """How many messages a replay will deliver: asked of a pull consumer with the same
    filter and start, which delivers nothing. Asked *before* the replay starts, as a
    request's answer would queue behind the replayed messages on the connection."""
    config = js_api.ConsumerConfig(
        ack_policy=js_api.AckPolicy.NONE,
        deliver_policy=replay.deliver_policy,
        opt_start_seq=replay.opt_start_seq,
        filter_subject=replay.filter_subject,
        filter_subjects=replay.filter_subjects,
        inactive_threshold=10.0,
        mem_storage=True,
        num_replicas=1,
    )
    info = await js.add_consumer(EVENTS_STREAM, config=config, timeout=REPLAY_IDLE_S)
    with contextlib.suppress(Exception):
        await js.delete_consumer(EVENTS_STREAM, info.name)
    return int(info.num_pending or 0)


# --- Building fresh tables -------------------------------------------------------------------


@dataclass
class FeedState:
    feed: ConsumedFeed
    last_seq: int = 0
    waiting: dict[str, Delivered] = field(default_factory=dict)  # read, not yet handled
    applied: set[str] = field(default_factory=set)
    unmatched: list[str] = field(default_factory=list)  # handled, yet not in FLOWERS

    def copy(self) -> FeedState:
        return FeedState(
            self.feed, self.last_seq, dict(self.waiting), set(self.applied), list(self.unmatched)
        )


_CREATE_TABLE = re.compile(r"\bCREATE\s+TABLE\b", re.IGNORECASE)


def distinct_own(projections: Sequence[Projection]) -> list[OwnLog]:
    found: list[OwnLog] = []
    for p in projections:
        if p.own is not None and all(p.own is not f for f in found):
            found.append(p.own)
    return found


def distinct_feeds(projections: Sequence[Projection]) -> list[ConsumedFeed]:
    found: dict[str, ConsumedFeed] = {}
    for p in projections:
        for feed in p.feeds:
            found.setdefault(feed.consumer, feed)
    return list(found.values())


class Builder:
    """Fresh tables in `schema`, fed from the log; caught up again on each call.

    `log_schema` is where the own log is read (the live schema, or an as-of copy).
    """

    def __init__(
        self,
        spec: ServiceProjections,
        projections: Sequence[Projection],
        schema: str,
        log_schema: str,
        js: JetStreamContext | None = None,
        *,
        chunk: int = LOG_CHUNK,
    ) -> None:
        self.spec = spec
        self.chunk = chunk
        self.projections = list(projections)
        self.schema = schema
        self.log_schema = log_schema
        self.js = js
        self.own = distinct_own(self.projections)
        self.feeds = {f.consumer: FeedState(f) for f in distinct_feeds(self.projections)}
        self.own_position = 0
        self.own_events = 0

    def saved(self) -> tuple[int, int, dict[str, FeedState]]:
        return self.own_position, self.own_events, {k: v.copy() for k, v in self.feeds.items()}

    def restore(self, saved: tuple[int, int, dict[str, FeedState]]) -> None:
        self.own_position, self.own_events, feeds = saved
        self.feeds = {k: v.copy() for k, v in feeds.items()}

    async def use_schema(self, conn: asyncpg.Connection) -> None:
        """Point unqualified names at the fresh tables alone (inside a transaction)."""
        await conn.execute(f"SET LOCAL search_path TO {quote(self.schema)}")

    async def create(
        self, conn: asyncpg.Connection, *extra_sql: str, unlogged: bool = False
    ) -> None:
        """CREATE SCHEMA and the service's tables in it (inside a transaction).

        `unlogged`: the tables are UNLOGGED (nothing written to the WAL), for tables that
        are only compared and dropped (a check's): never for tables swapped in."""
        await conn.execute(f"CREATE SCHEMA {quote(self.schema)}")
        await self.use_schema(conn)
        for sql in (*extra_sql, self.spec.schema_sql):
            await conn.execute(_CREATE_TABLE.sub("CREATE UNLOGGED TABLE", sql) if unlogged else sql)

    async def catch_up(
        self,
        conn: asyncpg.Connection,
        progress: Progress | None = None,
        *,
        until_position: int | None = None,
        reader: asyncpg.Connection | None = None,
    ) -> int:
        """Feed what the log and the inboxes hold beyond the last call (inside a transaction).

        `reader`: another connection, in a transaction on the same snapshot as `conn`'s (see
        `reading`), that reads the own log a chunk ahead while `conn` writes the fresh
        tables; without it `conn` reads too. Returns how many events were applied.
        """
        await self.use_schema(conn)
        with gc_paused():
            applied = await self._own(conn, progress, until_position, reader)
            for state in self.feeds.values():
                applied += await self._feed(conn, state, progress)
        return applied

    async def _own(
        self,
        conn: asyncpg.Connection,
        progress: Progress | None,
        until: int | None,
        reader: asyncpg.Connection | None = None,
    ) -> int:
        if not self.own:
            return 0
        log = f"{quote(self.log_schema)}.events"
        head = until
        if head is None:
            head = int(
                await (reader or conn).fetchval(f"SELECT coalesce(max(position), 0) FROM {log}")
            )
        applied = 0
        chunks = read_envelopes(reader or conn, log, self.own_position, head, self.chunk)
        if reader is not None:
            chunks = read_ahead(chunks)
        async with aclosing(chunks):
            async for events, sealed in chunks:
                await project(conn, self.own, None, events, sealed)
                self.own_position = events[-1].position
                applied += len(events)
                if progress:
                    progress(f"{self.spec.service} log", self.own_position, head)
        self.own_events += applied
        return applied

    async def _feed(
        self, conn: asyncpg.Connection, state: FeedState, progress: Progress | None
    ) -> int:
        # The inbox first, then the stream: whatever the consumer had handled is in FLOWERS.
        handled = {
            str(r["event_id"])
            for r in await conn.fetch(
                f"SELECT event_id FROM {quote(self.log_schema)}.inbox WHERE consumer = $1",
                state.feed.consumer,
            )
        }
        todo = handled - state.applied
        name = f"{self.spec.service} {state.feed.consumer}"
        # Read by an earlier pass before the consumer had handled them: they come first in
        # stream order, before anything read now.
        earlier = sorted(
            (state.waiting.pop(i) for i in todo & state.waiting.keys()), key=lambda d: d.seq
        )
        applied = await self._apply_delivered(conn, state, earlier)
        if todo - state.applied and self.js is not None:
            chunks = replay(self.js, state.feed.subjects, state.last_seq, chunk=self.chunk)
            async with aclosing(chunks):
                async for messages in chunks:
                    state.last_seq = messages[-1].seq
                    ready: list[Delivered] = []
                    for delivered in messages:
                        event_id = delivered.event_id
                        if event_id in state.applied or event_id in state.waiting:
                            continue  # a second copy in the stream: the first one counts
                        if event_id in todo:
                            ready.append(delivered)
                            state.applied.add(event_id)  # taken: a copy later is skipped
                        else:
                            state.waiting[event_id] = delivered  # not handled (yet)
                    applied += await self._apply_delivered(conn, state, ready)
                    if progress:
                        progress(name, applied, len(todo))
        state.unmatched = sorted(todo - state.applied)
        if progress:
            progress(name, applied, applied)
        return applied

    async def _apply_delivered(
        self, conn: asyncpg.Connection, state: FeedState, messages: Sequence[Delivered]
    ) -> int:
        envelopes: list[RecordedEvent] = []
        sealed: set[uuid.UUID] = set()
        async for part in in_slices(messages):
            for d in part:
                envelope = RecordedEvent.model_validate_json(d.data)
                envelopes.append(envelope)
                if SEALED_BYTES in d.data:
                    sealed.add(envelope.event_id)
        await project(conn, (), state.feed, envelopes, sealed)
        state.applied.update(d.event_id for d in messages)
        return len(envelopes)

    async def apply_events(
        self,
        conn: asyncpg.Connection,
        events: Sequence[tuple[str, RecordedEvent]],
        *,
        remember: bool = True,
    ) -> int:
        """Feed other services' events read from their logs (as-of): (publisher, event)
        pairs, in the order given; each feed takes those on its subjects. `remember`: keep
        their ids (what a check compares); an as-of copy needs only the tables."""
        await self.use_schema(conn)
        applied = 0
        for state in self.feeds.values():
            subjects = state.feed.subjects
            wanted: dict[tuple[str, str], bool] = {}
            mine = []
            for service, envelope in events:
                key = (service, envelope.type)
                if key not in wanted:
                    subject = f"flowers.evt.{service}.{envelope.type}"
                    wanted[key] = any(subject_matches(s, subject) for s in subjects)
                if wanted[key]:
                    mine.append(envelope)
            await project(conn, (), state.feed, mine)
            if remember:
                state.applied.update(str(e.event_id) for e in mine)
            applied += len(mine)
        return applied


# --- Handing events to the projectors ----------------------------------------------------------


async def project(
    conn: asyncpg.Connection,
    own: Sequence[OwnLog],
    feed: ConsumedFeed | None,
    events: Sequence[RecordedEvent],
    sealed: Set[uuid.UUID] | None = None,
) -> None:
    """The one place the audit runs projection code: a chunk of events, in log (or stream)
    order, to the own projectors or to a feed's projector (each takes the chunk whole).

    `sealed`: the events whose data holds sealed personal values (read as text, see
    `read_envelopes`): only those have keys fetched and values opened; None: any may."""
    if not events:
        return
    if own:
        await _load_keys(events, sealed)
        for log in own:
            await (log.bulk or log.project)(conn, _decoded(log.registry, events, sealed))
    if feed is not None:
        await _load_keys(events, sealed)  # received: personal values open when decoded
        await feed.project(conn, _decoded(feed.registry, events, sealed))


async def _load_keys(events: Sequence[RecordedEvent], sealed: Set[uuid.UUID] | None) -> None:
    await load_keys(events if sealed is None else [e for e in events if e.event_id in sealed])


def _decoded(
    registry: EventRegistry, events: Sequence[RecordedEvent], sealed: Set[uuid.UUID] | None
) -> list[tuple[RecordedEvent, DomainEvent]]:
    """(envelope, event) pairs; an event with nothing sealed is decoded without the walk
    that looks for sealed values (the same result: `open_data` returns such data as is)."""
    if sealed is None:
        return [(e, registry.decode_recorded(e)) for e in events]
    return [
        (
            e,
            registry.decode(
                e.type, e.schema_version, e.data, e.event_id if e.event_id in sealed else None
            ),
        )
        for e in events
    ]


# The text of a sealed value's marker key, as JSON spells it (PostgreSQL's jsonb output and
# Python's json never escape `$`): data without it holds no sealed value.
SEALED_TEXT = json.dumps(MARKER)
SEALED_BYTES = SEALED_TEXT.encode()


async def read_envelopes(
    conn: asyncpg.Connection, table: str, after: int, until: int, chunk: int = LOG_CHUNK
) -> AsyncGenerator[tuple[list[RecordedEvent], set[uuid.UUID]], None]:
    """The log after `after` up to `until`, in position order, `chunk` events at a time
    (inside a transaction), with the ids of those holding sealed values.

    Each row comes as one JSON text built by PostgreSQL and is validated by pydantic's
    `model_validate_json` in one call: no per-column decoding in Python; whether it holds a
    sealed value is a substring test on that text."""
    columns = ", ".join(f"'{c}', {c}" for c in EVENT_COLUMNS.replace(" ", "").split(","))
    sql = (
        f"SELECT json_build_object({columns})::text FROM {table} "
        "WHERE position > $1 AND position <= $2 ORDER BY position"
    )
    cursor = await conn.cursor(sql, after, until)
    while True:
        rows = await cursor.fetch(chunk)
        if not rows:
            return
        events: list[RecordedEvent] = []
        sealed: set[uuid.UUID] = set()
        async for part in in_slices(rows):
            for row in part:
                text = row[0]
                event = RecordedEvent.model_validate_json(text)
                events.append(event)
                if SEALED_TEXT in text:
                    sealed.add(event.event_id)
        yield events, sealed


T = TypeVar("T")


async def read_ahead(source: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """`source`'s items, the next one read (in a task of its own) while the caller works
    on the current one: the database builds and sends a chunk while Python projects the one
    before. `source` must read on a connection the caller does not use meanwhile."""
    pending: asyncio.Task[T | None] | None = None

    async def following() -> T | None:
        return await anext(source, None)

    try:
        pending = asyncio.ensure_future(following())
        while (item := await pending) is not None:
            pending = asyncio.ensure_future(following())
            yield item
        pending = None
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        await source.aclose()


@contextlib.asynccontextmanager
async def reading(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> AsyncIterator[asyncpg.Connection]:
    """A second connection of `pool` in a read-only REPEATABLE READ transaction on the
    snapshot `conn`'s transaction sees now (exported, then set): what it reads is what
    `conn` would read. Rolled back on exit."""
    snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
    async with pool.acquire() as reader:
        transaction = reader.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        try:
            await reader.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            yield reader
        finally:
            await transaction.rollback()


# --- Comparing with the live tables ----------------------------------------------------------


@dataclass
class TableDiff:
    table: str
    live_rows: int = 0
    rebuilt_rows: int = 0
    only_live: int = 0  # rows the live table has and the log does not give
    only_rebuilt: int = 0  # rows the log gives and the live table lacks
    excluded: tuple[str, ...] = ()
    shape: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.only_live or self.only_rebuilt or self.shape)

    def summary(self) -> str:
        if self.ok:
            return f"{self.table}: {self.live_rows} rows, as the log says"
        parts = [*self.shape]
        if self.only_live or self.only_rebuilt:
            parts.append(
                f"{self.only_live} live row(s) the log does not give, {self.only_rebuilt} "
                f"row(s) the log gives that the live table lacks (live {self.live_rows} "
                f"rows, log {self.rebuilt_rows})"
            )
        return f"{self.table}: " + "; ".join(parts)


@dataclass
class ProjectionCheck:
    service: str
    projection: str
    tables: list[TableDiff] = field(default_factory=list)
    own_events: int = 0
    consumed: dict[str, int] = field(default_factory=dict)
    unmatched: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and all(t.ok for t in self.tables)
            and not any(self.unmatched.values())
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "projection": self.projection,
            "ok": self.ok,
            "error": self.error,
            "own_events": self.own_events,
            "consumed": self.consumed,
            "handled_but_not_in_flowers": {k: v[:100] for k, v in self.unmatched.items() if v},
            "tables": [
                {
                    "table": t.table,
                    "ok": t.ok,
                    "live_rows": t.live_rows,
                    "rebuilt_rows": t.rebuilt_rows,
                    "only_live": t.only_live,
                    "only_rebuilt": t.only_rebuilt,
                    "excluded_columns": list(t.excluded),
                    "shape": t.shape,
                    "examples": t.examples,
                }
                for t in self.tables
            ],
        }


async def _columns(conn: asyncpg.Connection, schema: str, table: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        f"{quote(schema)}.{quote(table)}",
    )
    return {r["attname"]: r["type"] for r in rows}


async def _primary_key(conn: asyncpg.Connection, schema: str, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY a.attnum",
        f"{quote(schema)}.{quote(table)}",
    )
    return [r["attname"] for r in rows]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


async def compare_table(
    conn: asyncpg.Connection,
    live: str,
    rebuilt: str,
    table: str,
    excluded: Sequence[str] = (),
) -> TableDiff:
    """Row by row, both ways (EXCEPT ALL): what the live table holds that the log does not
    give, and what the log gives that the live table lacks."""
    diff = TableDiff(table, excluded=tuple(excluded))
    want = await _columns(conn, rebuilt, table)
    have = await _columns(conn, live, table)
    if not have:
        diff.shape.append("the live table is missing")
        return diff
    for column in want:
        if column not in have and column not in excluded:
            diff.shape.append(f"the live table lacks column {column}")
    for column in have:
        if column not in want and column not in excluded:
            diff.shape.append(f"the live table has column {column} the schema does not")
    common = [c for c in want if c in have and c not in excluded]
    select = ", ".join(
        f"{quote(c)}::jsonb AS {quote(c)}" if want[c] == "json" else quote(c) for c in common
    )
    live_t, rebuilt_t = f"{quote(live)}.{quote(table)}", f"{quote(rebuilt)}.{quote(table)}"
    only_live = f"SELECT {select} FROM {live_t} EXCEPT ALL SELECT {select} FROM {rebuilt_t}"
    only_rebuilt = f"SELECT {select} FROM {rebuilt_t} EXCEPT ALL SELECT {select} FROM {live_t}"
    counts = await conn.fetchrow(  # set-wise, in the database, one round trip
        f"SELECT (SELECT count(*) FROM {live_t}), (SELECT count(*) FROM {rebuilt_t}), "
        f"(SELECT count(*) FROM ({only_live}) d), (SELECT count(*) FROM ({only_rebuilt}) d)"
    )
    diff.live_rows, diff.rebuilt_rows, diff.only_live, diff.only_rebuilt = map(int, counts)
    if diff.only_live or diff.only_rebuilt:
        diff.examples = await _examples(
            conn, table, await _primary_key(conn, rebuilt, table), common, only_live, only_rebuilt
        )
    return diff


async def _examples(
    conn: asyncpg.Connection,
    table: str,
    key: list[str],
    columns: list[str],
    only_live_sql: str,
    only_rebuilt_sql: str,
) -> list[str]:
    sample = EXAMPLES * 5
    live_rows = [
        r["r"]
        for r in await conn.fetch(
            f"SELECT to_jsonb(d) AS r FROM ({only_live_sql}) d LIMIT {sample}"
        )
    ]
    log_rows = [
        r["r"]
        for r in await conn.fetch(
            f"SELECT to_jsonb(d) AS r FROM ({only_rebuilt_sql}) d LIMIT {sample}"
        )
    ]
    key = [k for k in key if k in columns] or columns

    def keyed(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row.get(k)) for k in key)

    def named(row: dict[str, Any]) -> str:
        return f"{table}[" + ", ".join(f"{k}={row.get(k)}" for k in key) + "]"

    from_log = {keyed(r): r for r in log_rows}
    lines: list[str] = []
    for row in live_rows:
        other = from_log.pop(keyed(row), None)
        if other is None:
            lines.append(f"{named(row)}: in the live table, not in the log")
            continue
        changed = [c for c in columns if row.get(c) != other.get(c)]
        lines.append(
            f"{named(row)}: "
            + "; ".join(
                f"{c} is {_show(row.get(c))} in the live table, {_show(other.get(c))} by the log"
                for c in changed
            )
        )
    for row in from_log.values():
        lines.append(f"{named(row)}: in the log, missing from the live table")
    return lines[:EXAMPLES]


async def compare(
    conn: asyncpg.Connection,
    builder: Builder,
    live: str,
) -> list[ProjectionCheck]:
    checks = []
    for p in builder.projections:
        check = ProjectionCheck(builder.spec.service, p.name)
        check.own_events = builder.own_events if p.own is not None else 0
        for feed in p.feeds:
            state = builder.feeds[feed.consumer]
            check.consumed[feed.consumer] = len(state.applied)
            check.unmatched[feed.consumer] = list(state.unmatched)
        for table in p.tables:
            check.tables.append(
                await compare_table(conn, live, builder.schema, table, p.not_derived.get(table, ()))
            )
        checks.append(check)
    return checks


# --- verify: rebuild in a snapshot and compare -------------------------------------------------


async def check(
    pool: asyncpg.Pool,
    spec: ServiceProjections,
    js: JetStreamContext | None,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> list[ProjectionCheck]:
    """Rebuild the projections from the log and compare them with the live tables.

    One REPEATABLE READ transaction: the live tables, the log and the inboxes are read as of
    one moment, so a running service cannot make a difference appear. Rolled back at the
    end: the fresh schema vanishes with it.
    """
    selected = spec.select(names)
    async with pool.acquire() as conn:
        live = await live_schema(conn)
        transaction = conn.transaction(isolation="repeatable_read")
        await transaction.start()
        try:
            await conn.fetchval(f"SELECT position FROM {quote(live)}.event_log_head")  # snapshot
            builder = Builder(spec, selected, f"audit_verify_{uuid.uuid4().hex[:12]}", live, js)
            await builder.create(conn, unlogged=True)  # rolled back: never needs the WAL
            async with reading(pool, conn) as reader:  # the same snapshot, read ahead
                await builder.catch_up(conn, progress, reader=reader)
            return await compare(conn, builder, live)
        finally:
            await transaction.rollback()


# --- rebuild: build beside the live tables, then swap them in ----------------------------------


class RebuildBusy(Exception):
    """Another rebuild of this service's projections is running."""


@dataclass
class RebuildReport:
    service: str
    projections: list[str]
    tables: list[str]
    own_events: int
    consumed: dict[str, int]
    passes: int
    swap_attempts: int
    applied_under_lock: int
    swap_ms: float
    build_ms: float
    unmatched: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "projections": self.projections,
            "tables": self.tables,
            "own_events": self.own_events,
            "consumed": self.consumed,
            "passes": self.passes,
            "swap_attempts": self.swap_attempts,
            "applied_under_lock": self.applied_under_lock,
            "swap_ms": round(self.swap_ms, 1),
            "build_ms": round(self.build_ms, 1),
            "handled_but_not_in_flowers": {k: v[:100] for k, v in self.unmatched.items() if v},
        }


async def rebuild(
    pool: asyncpg.Pool,
    spec: ServiceProjections,
    js: JetStreamContext | None,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    *,
    before_swap: Callable[[], Awaitable[None]] | None = None,
    during_swap: Callable[[], Awaitable[None]] | None = None,
    max_passes: int = 5,
    swap_attempts: int = 20,
) -> RebuildReport:
    """Rebuild projections into fresh tables and swap them in while the service runs.

    1. Build in committed passes (reads and writes of the live tables go on), until a pass
       has little left to do.
    2. Swap, in one transaction: lock the feed-fed live tables against writes (EXCLUSIVE:
       reads go on), then the log head (FOR UPDATE: appends, and the own projections in
       their transactions, wait), then the own-fed live tables; catch up with what
       committed meanwhile; move the live tables out and the fresh ones in (ALTER TABLE …
       SET SCHEMA); commit. A lock not granted within SWAP_LOCK_TIMEOUT_MS (or a deadlock)
       rolls the swap back; it is tried again after another pass.

    `before_swap` / `during_swap` are for tests: awaited once the fresh tables are built,
    and inside the swap's transaction after the tables moved (before it commits).
    """
    selected = spec.select(names)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with pool.acquire() as guard:
        key = zlib.crc32(f"audit-rebuild:{spec.service}".encode())
        try:
            if not await guard.fetchval("SELECT pg_try_advisory_lock($1)", key):
                raise RebuildBusy(f"a rebuild of {spec.service} is running already")
            live = await live_schema(guard)
            tag = uuid.uuid4().hex[:12]
            builder = Builder(spec, selected, f"audit_rebuild_{tag}", live, js)
            retired = f"audit_retired_{tag}"
            try:
                async with guard.transaction():
                    await builder.create(guard)
                passes = 0
                for _ in range(max_passes):
                    async with guard.transaction(), reading(pool, guard) as reader:
                        done = await builder.catch_up(guard, progress, reader=reader)
                    passes += 1
                    if done < SMALL_DELTA:
                        break
                for table in (t for p in selected for t in p.tables):
                    await guard.execute(f"ANALYZE {quote(builder.schema)}.{quote(table)}")
                if before_swap is not None:
                    await before_swap()
                built = loop.time()
                report = await _swap(
                    guard, builder, live, retired, swap_attempts, progress, during_swap
                )
                report.passes += passes
                report.build_ms = (built - started) * 1000
                return report
            finally:
                with contextlib.suppress(Exception):
                    await guard.execute(f"DROP SCHEMA IF EXISTS {quote(retired)} CASCADE")
                with contextlib.suppress(Exception):
                    await guard.execute(f"DROP SCHEMA IF EXISTS {quote(builder.schema)} CASCADE")
        finally:
            # The lock goes with the connection: the pool does not reset session state.
            guard.terminate()


async def _swap(
    conn: asyncpg.Connection,
    builder: Builder,
    live: str,
    retired: str,
    attempts: int,
    progress: Progress | None,
    during_swap: Callable[[], Awaitable[None]] | None = None,
) -> RebuildReport:
    selected = builder.projections
    # Feed-fed tables are locked before the head: a consumer that wrote one of them may be
    # waiting for the head to append (review's records candidates); own-fed tables after it:
    # only appenders, who hold the head first, write them.
    fed = [t for p in selected if p.feeds for t in p.tables]
    own = [t for p in selected if not p.feeds for t in p.tables]
    extra_passes = 0
    loop = asyncio.get_running_loop()
    for attempt in range(1, attempts + 1):
        saved = builder.saved()
        begun = loop.time()
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = {SWAP_LOCK_TIMEOUT_MS}")
                if fed:
                    await conn.execute(
                        f"LOCK TABLE {', '.join(f'{quote(live)}.{quote(t)}' for t in fed)} "
                        "IN EXCLUSIVE MODE"
                    )
                if builder.own:
                    await conn.execute(
                        f"SELECT 1 FROM {quote(live)}.event_log_head WHERE singleton FOR UPDATE"
                    )
                if own:
                    await conn.execute(
                        f"LOCK TABLE {', '.join(f'{quote(live)}.{quote(t)}' for t in own)} "
                        "IN EXCLUSIVE MODE"
                    )
                under_lock = await builder.catch_up(conn)
                await conn.execute(f"CREATE SCHEMA {quote(retired)}")
                for table in fed + own:
                    await conn.execute(
                        f"ALTER TABLE {quote(live)}.{quote(table)} SET SCHEMA {quote(retired)}"
                    )
                    await conn.execute(
                        f"ALTER TABLE {quote(builder.schema)}.{quote(table)} "
                        f"SET SCHEMA {quote(live)}"
                    )
                if during_swap is not None:
                    await during_swap()
            swapped = loop.time()
        except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError):
            builder.restore(saved)
            if attempt == attempts:
                raise
            if progress:
                progress("swap: locks busy, catching up again", attempt, attempts)
            async with conn.transaction():
                await builder.catch_up(conn)
            extra_passes += 1
            continue
        return RebuildReport(
            service=builder.spec.service,
            projections=[p.name for p in selected],
            tables=fed + own,
            own_events=builder.own_events,
            consumed={k: len(s.applied) for k, s in builder.feeds.items()},
            passes=extra_passes,
            swap_attempts=attempt,
            applied_under_lock=under_lock,
            swap_ms=(swapped - begun) * 1000,
            build_ms=0.0,
            unmatched={k: list(s.unmatched) for k, s in builder.feeds.items()},
        )
    raise AssertionError("unreachable")


# --- as of a moment: the log up to then, in a schema of its own --------------------------------


Received = AsyncGenerator[Sequence[tuple[str, RecordedEvent]], None]


async def build_as_of(
    conn: asyncpg.Connection,
    spec: ServiceProjections,
    schema: str,
    at: datetime,
    store_schema_sql: str,
    received: Received,
    chunk: int = LOG_CHUNK,
    round_id: str | None = None,
) -> None:
    """A copy of the service's database as its log stood at `at`, in `schema` (committed).

    `events` holds the rows recorded up to `at` (`round_id`: only those of that round and
    of no round, `of_round`); every projection is rebuilt from them, and the consumer-fed
    ones from the other services' logs up to `at` (`received`: chunks of (service, event)
    in the order they were recorded, see `merged_logs`: never a whole log in memory;
    `chunk`: the own log's events read at a time). Nothing here needs the copy's positions
    to follow one another: the projections keep the log's own, gaps and all.
    """
    live = await live_schema(conn)
    builder = Builder(spec, spec.projections, schema, schema, chunk=chunk)
    args: list[object]
    where, args = "recorded_at <= $1", [at]
    if round_id is not None:
        where += f" AND {of_round('$2')}"
        args.append(round_id)
    async with conn.transaction():
        await builder.create(conn, store_schema_sql)
        await conn.execute(
            f"INSERT INTO {quote(schema)}.events ({EVENT_COLUMNS}) "
            f"SELECT {EVENT_COLUMNS} FROM {quote(live)}.events WHERE {where} ORDER BY position",
            *args,
        )
        head = await conn.fetchrow(
            f"SELECT position, hash FROM {quote(schema)}.events ORDER BY position DESC LIMIT 1"
        )
        if head is not None:
            await conn.execute(
                f"UPDATE {quote(schema)}.event_log_head SET position = $1, hash = $2",
                head["position"],
                head["hash"],
            )
        await builder.catch_up(conn)
        async with aclosing(received):
            async for events in received:
                await builder.apply_events(conn, events, remember=False)


async def position_at(conn: asyncpg.Connection, at: datetime) -> int:
    """The position the service's log had reached at `at` (0: empty then): the last
    event recorded by then, found walking back from the head along the position index."""
    position = await conn.fetchval(
        "SELECT position FROM events WHERE recorded_at <= $1 ORDER BY position DESC LIMIT 1", at
    )
    return int(position or 0)


async def merged_logs(
    pools: Mapping[str, asyncpg.Pool],
    at: datetime,
    chunk: int = LOG_CHUNK,
    round_id: str | None = None,
) -> Received:
    """Several services' logs up to `at` (`round_id`: only the events of that round and of
    no round, `of_round`), merged in the order their events were recorded (then by service
    and position), `chunk` at a time: each log is read through a cursor of its own, so
    memory holds one chunk per log, however long the logs."""
    async with contextlib.AsyncExitStack() as stack:
        sources: list[tuple[str, AsyncIterator[list[RecordedEvent]]]] = []
        for service, pool in sorted(pools.items()):
            conn = await stack.enter_async_context(pool.acquire())
            await stack.enter_async_context(conn.transaction(isolation="repeatable_read"))
            chunks = read_log(conn, recorded_until=at, chunk=chunk, by_time=True, round_id=round_id)
            sources.append((service, await stack.enter_async_context(aclosing(chunks))))

        async def events(
            service: str, chunks: AsyncIterator[list[RecordedEvent]]
        ) -> AsyncIterator[tuple[tuple[datetime, str, int], tuple[str, RecordedEvent]]]:
            async for part in chunks:
                for event in part:
                    yield (event.recorded_at, service, event.position), (service, event)

        out: list[tuple[str, RecordedEvent]] = []
        async for _, item in _merge([events(s, c) for s, c in sources]):
            out.append(item)
            if len(out) >= chunk:
                yield out
                out = []
        if out:
            yield out


K = TypeVar("K", bound=tuple[Any, ...])
V = TypeVar("V")


async def _merge(iterators: Sequence[AsyncIterator[tuple[K, V]]]) -> AsyncIterator[tuple[K, V]]:
    """heapq.merge for async iterators of (key, value), each already in key order."""
    heap: list[tuple[K, int, V]] = []
    for i, iterator in enumerate(iterators):
        first = await anext(iterator, None)
        if first is not None:
            heap.append((first[0], i, first[1]))
    heapq.heapify(heap)
    while heap:
        key, i, value = heap[0]
        yield key, value
        following = await anext(iterators[i], None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following[0], i, following[1]))
