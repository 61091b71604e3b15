"""The outbox relay and durable consumers against real NATS JetStream and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.bus import (
    DLQ_STREAM,
    EVENTS_STREAM,
    HDR_ERROR,
    HDR_MSG_ID,
    EventConsumer,
    ensure_streams,
)
from shared.context import transaction_scope_var
from shared.events import DomainEvent, EventMetadata, EventRegistry, NewEvent, RecordedEvent
from shared.postgres import PostgresEventStore, get_checkpoint
from shared.relay import Relay
from shared.settings import Settings
from tests.support import eventually, per_event


class Planted(DomainEvent):
    service = "test"
    n: int


registry = EventRegistry([Planted])


class Crash(Exception):
    """Stands for the process dying at this exact point."""


async def stream_messages(js: JetStreamContext, stream: str) -> list[Any]:
    info = await js.stream_info(stream)
    return [
        await js.get_msg(stream, seq)
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
        if info.state.messages
    ]


@pytest.fixture
async def js(nc: Any, settings: Settings) -> JetStreamContext:
    js = nc.jetstream()
    await ensure_streams(js, settings)
    return js  # type: ignore[no-any-return]


async def plant(store: PostgresEventStore, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        await store.append(f"bed-{n % 4}", [NewEvent.of(Planted(n=n), EventMetadata())])


async def test_the_relay_publishes_the_log_in_order_with_the_event_id_as_msg_id(
    pg_store: PostgresEventStore, js: JetStreamContext
) -> None:
    await plant(pg_store, 25)
    relay = Relay("test", pg_store, js, batch_size=10)
    assert await relay.drain() == 25
    messages = await stream_messages(js, EVENTS_STREAM)
    log = await pg_store.read_all(limit=100)
    assert [m.subject for m in messages] == ["flowers.evt.test.Planted"] * 25
    assert [m.headers[HDR_MSG_ID] for m in messages] == [str(e.event_id) for e in log]
    assert [json.loads(m.data)["position"] for m in messages] == list(range(1, 26))
    assert await get_checkpoint(pg_store.pool, relay.checkpoint_name) == 25


async def test_a_relay_killed_between_publish_and_checkpoint_publishes_each_event_once(
    pg_store: PostgresEventStore, js: JetStreamContext
) -> None:
    await plant(pg_store, 30)

    async def die(_: int) -> None:
        raise Crash

    crashing = Relay("test", pg_store, js, batch_size=12, before_checkpoint=die)
    for _ in range(3):  # it dies three times in the same window
        with pytest.raises(Crash):
            await crashing.pump_once()
    assert await get_checkpoint(pg_store.pool, crashing.checkpoint_name) == 0

    restarted = Relay("test", pg_store, js, batch_size=12)
    await restarted.drain()
    assert restarted.stats.duplicates == 12  # the server recognised the re-published ones
    messages = await stream_messages(js, EVENTS_STREAM)
    ids = [m.headers[HDR_MSG_ID] for m in messages]
    assert len(ids) == 30
    assert len(set(ids)) == 30


async def test_the_running_relay_is_woken_by_notify(
    pg_store: PostgresEventStore, js: JetStreamContext
) -> None:
    relay = Relay("test", pg_store, js, poll_interval_s=60.0)  # polling would be too slow
    stopping = asyncio.Event()
    task = asyncio.create_task(relay.run(stopping))
    await plant(pg_store, 3)

    async def published() -> bool:
        return (await js.stream_info(EVENTS_STREAM)).state.messages == 3

    await eventually(published, timeout=10, what="the relay to publish on NOTIFY")
    stopping.set()
    await asyncio.wait_for(task, 10)


class Effects:
    """A projection the tests can count: one row per handled event."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def setup(self) -> None:
        await self.pool.execute("CREATE TABLE IF NOT EXISTS effects (n int, event_id uuid)")

    async def rows(self) -> list[int]:
        return [r["n"] for r in await self.pool.fetch("SELECT n FROM effects ORDER BY n")]

    async def handle(self, conn: asyncpg.Connection, env: RecordedEvent, ev: DomainEvent) -> None:
        assert isinstance(ev, Planted)
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", ev.n, env.event_id)


def consumer_for(
    handler: Any, pool: asyncpg.Pool, js: JetStreamContext, settings: Settings
) -> EventConsumer:
    return EventConsumer(
        name="test-consumer",
        filter_subjects=["flowers.evt.test.>"],
        registry=registry,
        handler=per_event(handler),
        pool=pool,
        js=js,
        settings=settings,
    )


async def run_until(consumer: EventConsumer, done: Any, what: str) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(done, timeout=20, what=what)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 10)


async def test_a_consumer_killed_after_commit_before_ack_has_its_effect_once(
    pg_store: PostgresEventStore, js: JetStreamContext, settings: Settings
) -> None:
    effects = Effects(pg_store.pool)
    await effects.setup()
    await plant(pg_store, 5)
    await Relay("test", pg_store, js).drain()

    class DiesBeforeAck(EventConsumer):
        async def _settle(self, step: Any, what: str) -> None:
            step.close()  # the ack is never sent: the process is gone
            if what == "ack":
                raise Crash

    first = consumer_for(effects.handle, pg_store.pool, js, settings)
    first.__class__ = DiesBeforeAck
    task = asyncio.create_task(first.run())
    with pytest.raises(Crash):
        await asyncio.wait_for(task, 20)
    assert await effects.rows() == [0, 1, 2, 3, 4]  # one batch committed, never acknowledged

    second = consumer_for(effects.handle, pg_store.pool, js, settings)

    async def all_handled() -> bool:
        info = await js.consumer_info(EVENTS_STREAM, "test-consumer")
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    await run_until(second, all_handled, "the redelivery after ack_wait")
    assert await effects.rows() == [0, 1, 2, 3, 4]  # each effect once
    assert (second.stats.duplicates, second.stats.handled) == (5, 0)


async def test_a_poison_message_is_dead_lettered_and_the_rest_still_flow(
    pg_store: PostgresEventStore, js: JetStreamContext, settings: Settings
) -> None:
    settings = settings.model_copy(update={"consumer_max_deliver": 3})
    effects = Effects(pg_store.pool)
    await effects.setup()
    await plant(pg_store, 6)
    await Relay("test", pg_store, js).drain()

    async def fails_on_two(conn: asyncpg.Connection, env: RecordedEvent, ev: DomainEvent) -> None:
        assert isinstance(ev, Planted)
        if ev.n == 2:
            raise ValueError("cannot plant flower 2")
        await effects.handle(conn, env, ev)

    consumer = consumer_for(fails_on_two, pg_store.pool, js, settings)

    async def dead_lettered() -> bool:
        try:
            return (await js.stream_info(DLQ_STREAM)).state.messages == 1
        except NotFoundError:
            return False

    await run_until(consumer, dead_lettered, "the dead letter")
    assert await effects.rows() == [0, 1, 3, 4, 5]
    [letter] = await stream_messages(js, DLQ_STREAM)
    assert letter.subject == "flowers.dlq.test-consumer"
    assert "cannot plant flower 2" in letter.headers[HDR_ERROR]
    body = json.loads(letter.data)
    assert body["deliveries"] == 3
    assert json.loads(body["payload"])["data"] == {"n": 2}
    # the failed attempts left no partial effect (the transaction rolled back)
    assert await pg_store.pool.fetchval("SELECT count(*) FROM inbox") == 5


async def test_an_unparseable_message_goes_to_the_dead_letters_at_once(
    pg_store: PostgresEventStore, js: JetStreamContext, settings: Settings
) -> None:
    effects = Effects(pg_store.pool)
    await effects.setup()
    await js.publish("flowers.evt.test.Planted", b"{not json", stream=EVENTS_STREAM)
    await js.publish(
        "flowers.evt.test.Unknown",
        b'{"type": "Unknown"}',
        stream=EVENTS_STREAM,
    )
    await plant(pg_store, 1)
    await Relay("test", pg_store, js).drain()
    consumer = consumer_for(effects.handle, pg_store.pool, js, settings)

    async def done() -> bool:
        return consumer.stats.handled == 1 and consumer.stats.dead_lettered == 2

    await run_until(consumer, done, "two dead letters and one handled event")
    letters = await stream_messages(js, DLQ_STREAM)
    assert all(m.headers[HDR_ERROR] for m in letters)
    assert await effects.rows() == [0]


async def test_events_caused_by_a_consumed_event_carry_its_correlation_and_causation(
    pg_store: PostgresEventStore, js: JetStreamContext, settings: Settings
) -> None:
    from shared.service import metadata

    source = NewEvent.of(Planted(n=1), EventMetadata(actor="u1", correlation_id="corr-42"))
    [recorded] = await pg_store.append("bed-1", [source])
    await Relay("test", pg_store, js).drain()

    async def reacts(conn: asyncpg.Connection, env: RecordedEvent, ev: DomainEvent) -> None:
        caused = NewEvent.of(Planted(n=100), metadata("consumer"))
        await pg_store.append("reaction", [caused], conn=conn)

    consumer = consumer_for(reacts, pg_store.pool, js, settings)
    await run_until(consumer, lambda: consumer.stats.handled == 1, "the reaction")
    [reaction] = (await pg_store.load("reaction")).events
    assert reaction.metadata.correlation_id == "corr-42"
    assert reaction.metadata.causation_id == str(recorded.event_id)
    assert reaction.metadata.actor == "consumer"


async def test_an_error_reply_from_the_server_fails_the_batch_instead_of_hanging(
    pg_store: PostgresEventStore, nc: Any
) -> None:
    from nats.js.api import StreamConfig
    from nats.js.errors import APIError

    js = nc.jetstream()
    # Another stream holds the subjects: every publish expecting FLOWERS gets an error reply.
    await js.delete_stream(EVENTS_STREAM)
    await js.add_stream(StreamConfig(name="IMPOSTOR", subjects=["flowers.evt.>"]))
    await plant(pg_store, 3)
    relay = Relay("test", pg_store, js, ack_timeout_s=1.0)
    with pytest.raises(APIError):
        await asyncio.wait_for(relay.pump_once(), 30)
    assert await get_checkpoint(pg_store.pool, relay.checkpoint_name) == 0


async def test_a_handler_failing_for_a_while_loses_nothing_and_keeps_each_aggregates_order(
    pg_store: PostgresEventStore, js: JetStreamContext, settings: Settings
) -> None:
    """Bed A's first event fails twice, then succeeds: A's later events wait behind it,
    bed B's flow on, and every event is handled once."""
    effects = Effects(pg_store.pool)
    await effects.setup()
    beds = [("bed-A", 1), ("bed-A", 2), ("bed-B", 3), ("bed-A", 4), ("bed-B", 5)]
    for stream_id, n in beds:
        await pg_store.append(stream_id, [NewEvent.of(Planted(n=n), EventMetadata())])
    await Relay("test", pg_store, js).drain()
    attempts: dict[int, int] = {}
    handled: list[int] = []

    async def flaky(conn: asyncpg.Connection, env: RecordedEvent, ev: DomainEvent) -> None:
        assert isinstance(ev, Planted)
        attempts[ev.n] = attempts.get(ev.n, 0) + 1
        if ev.n == 1 and attempts[ev.n] <= 2:
            raise ConnectionError("the database blinked")
        await effects.handle(conn, env, ev)
        handled.append(ev.n)

    consumer = consumer_for(flaky, pg_store.pool, js, settings)

    async def all_handled() -> bool:
        return len(handled) == len(beds)

    await run_until(consumer, all_handled, "every event after the failures")
    assert [n for n in handled if n in (1, 2, 4)] == [1, 2, 4]  # bed A in its order
    assert handled.index(3) < handled.index(1)  # bed B was not held up by bed A
    assert sorted(await effects.rows()) == [1, 2, 3, 4, 5]
    assert attempts[1] == 3
    assert consumer.stats.held > 0
    assert consumer.stats.dead_lettered == 0


async def test_a_batch_with_a_failing_message_rolls_back_whole_then_goes_one_by_one(
    pg_store: PostgresEventStore, js: JetStreamContext, settings: Settings
) -> None:
    """Four events arrive in one fetch and event 2 fails once. The batch's transaction rolls
    back with what its handlers left for after the commit; then each message is handled
    alone: every effect and every after-commit step exactly once. Inside the batch a
    handler sees what earlier handlers of the same transaction kept for it."""
    effects = Effects(pg_store.pool)
    await effects.setup()
    await plant(pg_store, 4)
    await Relay("test", pg_store, js).drain()
    attempts: dict[int, int] = {}
    kept_before: dict[int, list[object]] = {}
    after_commit: list[int] = []

    async def handler(conn: asyncpg.Connection, env: RecordedEvent, ev: DomainEvent) -> None:
        assert isinstance(ev, Planted)
        scope = transaction_scope_var.get()
        assert scope is not None
        attempts[ev.n] = attempts.get(ev.n, 0) + 1
        kept_before.setdefault(ev.n, list(scope.local))  # noted on the first attempt
        scope.local[ev.n] = True
        await effects.handle(conn, env, ev)
        scope.on_commit(lambda: after_commit.append(ev.n))
        if ev.n == 2 and attempts[2] == 1:
            raise ConnectionError("the database blinked")

    consumer = consumer_for(handler, pg_store.pool, js, settings)
    await run_until(consumer, lambda: consumer.stats.handled == 4, "all four handled")
    assert kept_before[1] == [0]  # the batch's earlier handler, same transaction
    assert attempts == {0: 2, 1: 2, 2: 2, 3: 1}  # 3 never ran in the failed batch
    assert await effects.rows() == [0, 1, 2, 3]
    assert sorted(after_commit) == [0, 1, 2, 3]
    assert consumer.stats.failures == 1
    assert consumer.stats.dead_lettered == 0


async def test_while_one_stream_waits_behind_a_failure_the_other_streams_stay_batched(
    pg_store: PostgresEventStore, js: JetStreamContext, settings: Settings
) -> None:
    """Bed A's first event keeps failing for a while. Bed A's later events wait behind it,
    and events of beds B and C fetched meanwhile are still handled together, several in one
    transaction, not one transaction each."""
    settings = settings.model_copy(update={"consumer_backoff_s": [0.5]})
    effects = Effects(pg_store.pool)
    await effects.setup()
    await pg_store.append("bed-A", [NewEvent.of(Planted(n=0), EventMetadata())])
    await Relay("test", pg_store, js).drain()
    attempts: dict[int, int] = {}
    batch_sizes: list[int] = []  # handler runs per committed transaction, beds B and C only

    async def flaky(conn: asyncpg.Connection, env: RecordedEvent, ev: DomainEvent) -> None:
        assert isinstance(ev, Planted)
        attempts[ev.n] = attempts.get(ev.n, 0) + 1
        if ev.n == 0 and attempts[0] <= 3:
            raise ConnectionError("the database blinked")
        scope = transaction_scope_var.get()
        assert scope is not None
        if env.stream_id != "bed-A":
            if not scope.local:
                scope.on_commit(lambda: batch_sizes.append(len(scope.local)))
            scope.local[ev.n] = True
        await effects.handle(conn, env, ev)

    consumer = consumer_for(flaky, pg_store.pool, js, settings)
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: bool(consumer._blocked), timeout=10, what="bed A to block")
        later = [("bed-A", 1), *((f"bed-{'BC'[n % 2]}", n) for n in range(2, 12))]
        for stream_id, n in later:
            await pg_store.append(stream_id, [NewEvent.of(Planted(n=n), EventMetadata())])
        await Relay("test", pg_store, js).drain()

        async def all_handled() -> bool:
            return await effects.rows() == list(range(12))

        await eventually(all_handled, timeout=30, what="every event once the failure passed")
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 10)
    assert sum(batch_sizes) == 10  # beds B and C, each event committed once
    assert max(batch_sizes) > 1  # fetched together while bed A was blocked: one transaction
    assert attempts[0] == 4
    assert consumer.stats.held > 0  # bed A's second event waited behind its first
