"""The one reaction path: a consumed batch becomes events of the service's own streams."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

import asyncpg
import pytest

from shared.context import TransactionScope, transaction_scope_var
from shared.events import DomainEvent, EventMetadata, EventRegistry, RecordedEvent
from shared.postgres import PostgresEventStore
from shared.projection import Items
from shared.reaction import Emit, Guard, Reaction, Reactor, StateCache

pytestmark = pytest.mark.integration


class Planted(DomainEvent):
    service = "garden"
    bed: str
    n: int


class Counted(DomainEvent):
    service = "garden"
    bed: str
    total: int


registry = EventRegistry([Planted, Counted])


def count(total: int, event: DomainEvent) -> int:
    return event.total if isinstance(event, Counted) else total


def beds(_: None, __: RecordedEvent, event: DomainEvent) -> dict[str, int]:
    assert isinstance(event, Planted)
    return {f"count-{event.bed}": 0}


def add(
    _: None, __: RecordedEvent, event: DomainEvent, states: Mapping[str, int]
) -> list[Emit | Guard]:
    assert isinstance(event, Planted)
    stream = f"count-{event.bed}"
    return [Emit(stream, [Counted(bed=event.bed, total=states[stream] + event.n)])]


def caused_by(envelope: RecordedEvent) -> EventMetadata:
    return EventMetadata(actor="gardener", causation_id=str(envelope.event_id))


COUNTING: Reaction[int, None] = Reaction(evolve=count, streams=beds, decide=add, metadata=caused_by)


def planted(bed: str, n: int, position: int) -> tuple[RecordedEvent, DomainEvent]:
    event = Planted(bed=bed, n=n)
    envelope = RecordedEvent(
        position=position,
        stream_id=f"plot-{bed}",
        version=position,
        event_id=uuid.uuid4(),
        type="Planted",
        schema_version=1,
        data=event.to_data(),
        metadata=EventMetadata(),
        recorded_at=datetime.now(UTC),
        prev_hash="",
        hash="",
    )
    return envelope, event


async def react(reactor: Reactor, items: Items, *, fail_after: bool = False) -> list[RecordedEvent]:
    """As the consumer runs it: in a transaction with its scope; committed unless told."""
    assert reactor.store is not None
    scope = TransactionScope()
    token = transaction_scope_var.set(scope)
    try:
        async with reactor.store.pool.acquire() as conn, conn.transaction():
            recorded = await reactor.react(conn, "garden-counter", COUNTING, items)
            if fail_after:
                raise RuntimeError("the batch fails after the reaction")
    finally:
        transaction_scope_var.reset(token)
    scope.committed()
    return recorded


async def test_a_batch_over_two_streams_is_one_append_each_event_decided_on_the_last(
    pg_store: PostgresEventStore,
) -> None:
    projected: list[tuple[str, int]] = []

    async def project(conn: asyncpg.Connection, items: Items) -> None:
        projected.extend((e.stream_id, e.version) for e, _ in items)

    cache = StateCache()
    reactor = Reactor(registry, cache, project=project, store=pg_store)
    items = [planted("a", 1, 1), planted("b", 2, 2), planted("a", 3, 3)]

    recorded = await react(reactor, items)

    assert [(e.stream_id, e.version, e.data["total"]) for e in recorded] == [
        ("count-a", 1, 1),
        ("count-a", 2, 4),
        ("count-b", 1, 2),
    ]
    assert [e.metadata.causation_id for e in recorded] == [
        str(items[0][0].event_id),
        str(items[2][0].event_id),
        str(items[1][0].event_id),
    ]
    assert projected == [("count-a", 1), ("count-a", 2), ("count-b", 1)]
    assert cache.get("count-a", count) == (2, 4)
    assert cache.get("count-b", count) == (1, 2)

    # The next batch starts from the cache and reads only what was appended since.
    more = await react(reactor, [planted("a", 10, 4)])
    assert [(e.version, e.data["total"]) for e in more] == [(3, 14)]


async def test_a_rolled_back_batch_leaves_nothing_in_the_log_or_the_cache(
    pg_store: PostgresEventStore,
) -> None:
    cache = StateCache()
    reactor = Reactor(registry, cache, store=pg_store)
    with pytest.raises(RuntimeError):
        await react(reactor, [planted("c", 5, 1)], fail_after=True)
    assert (await pg_store.load("count-c")).events == []
    assert cache.get("count-c", count) is None


async def test_a_stream_another_instance_moved_is_read_on_from_a_stale_cache(
    pg_store: PostgresEventStore,
) -> None:
    mine, theirs = StateCache(), StateCache()
    await react(Reactor(registry, mine, store=pg_store), [planted("d", 1, 1)])
    # Another instance (its own cache) counts on the same stream meanwhile.
    await react(Reactor(registry, theirs, store=pg_store), [planted("d", 100, 2)])
    assert mine.get("count-d", count) == (1, 1)  # stale, yet only "more to read"

    recorded = await react(Reactor(registry, mine, store=pg_store), [planted("d", 1, 3)])
    assert [(e.version, e.data["total"]) for e in recorded] == [(3, 102)]
    assert mine.get("count-d", count) == (3, 102)


def gated_beds(_: None, __: RecordedEvent, event: DomainEvent) -> dict[str, int]:
    assert isinstance(event, Planted)
    return {f"count-{event.bed}": 0, "count-gate": 0}


def add_while_open(
    _: None, envelope: RecordedEvent, event: DomainEvent, states: Mapping[str, int]
) -> list[Emit | Guard]:
    """Counts only while nothing was counted on the gate's stream."""
    return add(None, envelope, event, states) if states["count-gate"] == 0 else []


GATED: Reaction[int, None] = Reaction(
    evolve=count, streams=gated_beds, decide=add_while_open, metadata=caused_by
)


async def test_a_cached_stream_decided_on_but_not_appended_to_is_checked_by_the_append(
    pg_store: PostgresEventStore,
) -> None:
    """Cached streams are taken unread; one another instance moved meanwhile makes the
    append (which checks every stream decided on) write nothing, and the batch is decided
    again on the log: here the gate closed, so nothing is counted."""
    mine, theirs = StateCache(), StateCache()

    async def gated(cache: StateCache, items: Items) -> list[RecordedEvent]:
        async with pg_store.pool.acquire() as conn, conn.transaction():
            scope = TransactionScope()
            token = transaction_scope_var.set(scope)
            try:
                recorded = await Reactor(registry, cache, store=pg_store).react(
                    conn, "garden-gated", GATED, items
                )
                await scope.finish()
            finally:
                transaction_scope_var.reset(token)
        scope.committed()
        return recorded

    first = await gated(mine, [planted("e", 1, 1)])
    assert [(e.stream_id, e.version) for e in first] == [("count-e", 1)]
    assert mine.get("count-gate", count) == (0, 0)
    await react(Reactor(registry, theirs, store=pg_store), [planted("gate", 5, 2)])

    assert await gated(mine, [planted("e", 1, 3)]) == []
    assert [e.version for e in (await pg_store.load("count-e")).events] == [1]
    assert mine.get("count-gate", count) == (1, 5)
    # Decided on cached states with nothing to append: read from the log, decided again.
    assert await gated(mine, [planted("f", 1, 4)]) == []
    assert (await pg_store.load("count-f")).events == []
