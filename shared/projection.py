"""How a service declares its read models, so the audit can rebuild any of them from the log.

Each service lists its projections in one place: `services/<name>/projections.py` defines
`SCHEMA_SQL` (its schema.sql) and `PROJECTIONS` (a list of `Projection`). A projection names
its tables and how they are fed:

- `own`: the service's own log (`OwnLog`: the registry that decodes it and its projector,
  the one `runtime.project` runs in the transaction of each append);
- `feeds`: other services' events as the service received them through FLOWERS: the
  durable consumer's name (its inbox rows say which events it has handled), its filter
  subjects, the registry that decodes them, and its projector: the consumer's projection
  effects only — never an inbox row, never an append.

Every projector has the one signature `project(conn, items)`, `items` a sequence of
(envelope, decoded event) in log or stream order: a batch costs set statements, not one
statement per event, wherever the projection can say so.

`not_derived` lists, per table, the columns that do not follow from events (a wall-clock
default, say); the comparison leaves them out, and each must be explained beside it.

The audit finds a service's declaration by that convention (`declared(service)`), so
`shared` never imports a service by name.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg

from shared.events import DomainEvent, EventRegistry, RecordedEvent
from shared.postgres import EVENT_COLUMNS, recorded_event

Items = Sequence[tuple[RecordedEvent, DomainEvent]]
Projector = Callable[[asyncpg.Connection, Items], Awaitable[None]]


@dataclass(frozen=True)
class OwnLog:
    """The service's own events: the registry that decodes them, and their projector.

    `bulk`: the same projection for a long run of events into fresh tables (a rebuild's
    chunk of 10,000), where it can take fewer round trips (see `run_by_table`); the
    rebuilds use it when given, the appends `project`."""

    registry: EventRegistry
    project: Projector
    bulk: Projector | None = None

    def decoded(self, recorded: Sequence[RecordedEvent]) -> list[tuple[RecordedEvent, DomainEvent]]:
        return [(e, self.registry.decode_recorded(e)) for e in recorded]

    async def project_recorded(
        self, conn: asyncpg.Connection, recorded: Sequence[RecordedEvent]
    ) -> None:
        """Project envelopes not decoded yet (read back from the log)."""
        await self.project(conn, self.decoded(recorded))


@dataclass(frozen=True)
class ConsumedFeed:
    """Other services' events, as one durable consumer received and projected them."""

    consumer: str
    subjects: tuple[str, ...]
    registry: EventRegistry
    project: Projector


@dataclass(frozen=True)
class Projection:
    name: str
    tables: tuple[str, ...]
    own: OwnLog | None = None
    feeds: tuple[ConsumedFeed, ...] = ()
    not_derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceProjections:
    service: str
    schema_sql: str
    projections: tuple[Projection, ...]

    def select(self, names: Sequence[str] | None = None) -> list[Projection]:
        """The projections named (all when None); an unknown name raises KeyError."""
        if not names:
            return list(self.projections)
        known = {p.name: p for p in self.projections}
        missing = [n for n in names if n not in known]
        if missing:
            raise KeyError(
                f"{self.service} has no projection {', '.join(missing)} (it has {', '.join(known)})"
            )
        return [known[n] for n in names]

    @property
    def tables(self) -> list[str]:
        return [t for p in self.projections for t in p.tables]


def declared(service: str) -> ServiceProjections:
    """`services/<service>/projections.py`'s SCHEMA_SQL and PROJECTIONS."""
    module = importlib.import_module(f"services.{service}.projections")
    return ServiceProjections(service, module.SCHEMA_SQL, tuple(module.PROJECTIONS))


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


# --- Set statements -------------------------------------------------------------------------

Statement = tuple[str, tuple[object, ...]]


def statement(sql: str, *args: object) -> Statement:
    """One write a projection makes for an event (run by `run_statements`)."""
    return sql, args


async def run_statements(conn: asyncpg.Connection, statements: Iterable[Statement]) -> int:
    """Run a batch's writes in order; consecutive writes of the same SQL go as one
    `executemany` (one round trip for the lot). Returns how many round trips it took."""
    trips = 0
    sql: str | None = None
    rows: list[tuple[object, ...]] = []
    for this, args in statements:
        if this != sql:
            if sql is not None:
                await _flush(conn, sql, rows)
                trips += 1
            sql, rows = this, []
        rows.append(args)
    if sql is not None:
        await _flush(conn, sql, rows)
        trips += 1
    return trips


_WRITTEN_TABLE = re.compile(
    r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+([A-Za-z_][A-Za-z0-9_]*)\b", re.IGNORECASE
)


def written_table(sql: str) -> str | None:
    """The table an INSERT, UPDATE or DELETE writes (None for any other statement)."""
    match = _WRITTEN_TABLE.match(sql)
    return match[1].lower() if match else None


async def run_by_table(conn: asyncpg.Connection, statements: Iterable[Statement]) -> int:
    """`run_statements` with the writes grouped by the table each writes, in their order
    within each table: a run of events of several kinds (a round opened, then its
    nominations, round after round) takes a round trip per run of like writes *per table*,
    not per alternation.

    Only for projections whose every write touches one table and reads no other (no
    foreign keys or triggers between their tables, no subquery on another): then each
    table ends as it would in the given order. A write it cannot name keeps the given
    order for the lot."""
    return await run_statements(conn, grouped_by_table(statements))


def grouped_by_table(statements: Iterable[Statement]) -> list[Statement]:
    """The writes grouped by the table each writes (tables in the order first written),
    each table's in the given order; the given order when one names no table."""
    listed = list(statements)
    groups: dict[str, list[Statement]] = {}
    for write in listed:
        table = written_table(write[0])
        if table is None:
            return listed
        groups.setdefault(table, []).append(write)
    return [w for group in groups.values() for w in group]


async def _flush(conn: asyncpg.Connection, sql: str, rows: list[tuple[object, ...]]) -> None:
    if len(rows) == 1:
        await conn.execute(sql, *rows[0])
    else:
        await conn.executemany(sql, rows)


async def replay_own(
    conn: asyncpg.Connection, own: OwnLog, tables: Sequence[str], page_size: int = 5000
) -> int:
    """Empty `tables` and feed the whole own log into them again, a page at a time, in the
    caller's transaction; returns how many events were replayed."""
    await conn.execute(f"TRUNCATE {', '.join(tables)}")
    after = count = 0
    while True:
        rows = await conn.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
            after,
            page_size,
        )
        if not rows:
            return count
        batch = [recorded_event(r) for r in rows]
        await own.project_recorded(conn, batch)
        count += len(batch)
        after = batch[-1].position
