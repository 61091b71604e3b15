"""A durable consumer shared by two instances of a service: one pulls, the other stands by;
when the puller dies with a message in hand, the other takes over and applies that message
before the later ones of its stream (order per aggregate), each once (the inbox)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic import SecretStr

from shared.events import DomainEvent, EventMetadata, EventRegistry, NewEvent, RecordedEvent
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support import eventually, nats_seed, per_event

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


class Watered(DomainEvent):
    service = "garden"
    bed: int


registry = EventRegistry([Watered])
SCHEMA = "CREATE TABLE IF NOT EXISTS watered (n bigserial, stream text, version int)"


class Hose:
    """The first event handled hangs (its instance dies with it in hand); the rest flow."""

    def __init__(self) -> None:
        self.hung = asyncio.Event()
        self.calls = 0


def garden(settings: Settings, hose: Hose) -> ServiceRuntime:
    runtime = ServiceRuntime(
        "garden",
        registry,
        schema_sql=[SCHEMA],
        # "garden" is no user of the permissions table: it connects as the admin.
        settings=settings.model_copy(update={"nats_seed": SecretStr(nats_seed("admin"))}),
    )

    @runtime.consumer("garden-beds", ["flowers.evt.garden.>"], registry)
    @per_event
    async def water(conn: asyncpg.Connection, env: RecordedEvent, _: DomainEvent) -> None:
        hose.calls += 1
        if hose.calls == 1:
            hose.hung.set()
            await asyncio.Event().wait()  # until its process is killed
        await conn.execute(
            "INSERT INTO watered (stream, version) VALUES ($1, $2)", env.stream_id, env.version
        )

    return runtime


def kill(runtime: ServiceRuntime) -> None:
    """What kill -9 leaves behind: no task runs again, no ack is sent, the sessions end."""
    for task in runtime._tasks:
        task.cancel()
    assert runtime.pool is not None
    runtime.pool.terminate()
    runtime._stopping.set()  # (a task the cancellation missed ends too: nothing leaks)


@pytest.fixture
async def instances(
    settings: Settings,
) -> AsyncIterator[tuple[ServiceRuntime, ServiceRuntime, Hose]]:
    hose = Hose()
    first, second = garden(settings, hose), garden(settings, hose)
    await first.start()
    try:
        yield first, second, hose
    finally:
        await second.stop()
        kill(first)
        await asyncio.gather(*first._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            assert first.nc is not None
            await first.nc.close()


async def test_the_standby_takes_over_and_applies_the_dead_ones_message_first(
    instances: tuple[ServiceRuntime, ServiceRuntime, Hose],
) -> None:
    first, second, hose = instances
    meta = EventMetadata()
    await first.store.append("bed-1", [NewEvent.of(Watered(bed=1), meta)])
    await asyncio.wait_for(hose.hung.wait(), 20)  # the first instance has it in hand
    await second.start()  # the standby
    await first.store.append("bed-1", [NewEvent.of(Watered(bed=1), meta)], expected_version=1)
    await first.store.append("bed-2", [NewEvent.of(Watered(bed=2), meta)])
    kill(first)

    async def watered() -> list[tuple[str, int]]:
        rows = await second.store.pool.fetch("SELECT stream, version FROM watered ORDER BY n")
        return [(r["stream"], r["version"]) for r in rows]

    async def all_watered() -> bool:
        return len(await watered()) == 3

    await eventually(all_watered, timeout=20, what="the standby to water every bed")
    order = await watered()
    assert [v for s, v in order if s == "bed-1"] == [1, 2]  # the held one first
    assert sorted(order) == [("bed-1", 1), ("bed-1", 2), ("bed-2", 1)]  # each once


async def test_a_clean_stop_hands_its_held_messages_to_the_next_start_at_once(
    settings: Settings,
) -> None:
    """A restart is no takeover from a live instance: the stopping leader resets its consumer
    to the ack floor (shared/leader.py hand_back_messages), so the next start finds nothing
    unacknowledged and pulls at once. Ack wait and retry delay are ten minutes here: the
    message comes back within the test's deadline only through the handover."""
    slow = settings.model_copy(update={"consumer_ack_wait_s": 600.0, "consumer_backoff_s": [600.0]})
    failures = Hose()

    def flaky(settings: Settings) -> ServiceRuntime:
        runtime = ServiceRuntime(
            "garden",
            registry,
            schema_sql=[SCHEMA],
            settings=settings.model_copy(update={"nats_seed": SecretStr(nats_seed("admin"))}),
        )

        @runtime.consumer("garden-beds", ["flowers.evt.garden.>"], registry)
        @per_event
        async def water(conn: asyncpg.Connection, env: RecordedEvent, _: DomainEvent) -> None:
            failures.calls += 1
            if failures.calls == 1:
                failures.hung.set()
                raise RuntimeError("the hose is blocked")  # retried in ten minutes
            await conn.execute(
                "INSERT INTO watered (stream, version) VALUES ($1, $2)", env.stream_id, env.version
            )

        return runtime

    first = flaky(slow)
    await first.start()
    meta = EventMetadata()
    await first.store.append("bed-1", [NewEvent.of(Watered(bed=1), meta)])
    await first.store.append("bed-1", [NewEvent.of(Watered(bed=1), meta)], expected_version=1)
    await asyncio.wait_for(failures.hung.wait(), 20)  # held: nak'ed for ten minutes

    async def held() -> bool:
        assert first.js is not None
        info = await first.js.consumer_info("FLOWERS", "garden-beds")
        return bool(info.num_ack_pending == 2)  # the failed one and the one waiting behind it

    await eventually(held, timeout=20, what="both messages to be held by the first instance")
    await first.stop()

    second = flaky(slow)
    await second.start()
    try:
        assert second.js is not None
        info = await second.js.consumer_info("FLOWERS", "garden-beds")
        assert info.config.ack_wait == 600.0  # the ten minutes the successor did not wait

        async def watered() -> list[tuple[str, int]]:
            rows = await second.store.pool.fetch("SELECT stream, version FROM watered ORDER BY n")
            return [(r["stream"], r["version"]) for r in rows]

        async def both() -> bool:
            return len(await watered()) == 2

        await eventually(both, timeout=20, what="the next start to water both at once")
        assert await watered() == [("bed-1", 1), ("bed-1", 2)]  # in order, each once
    finally:
        await second.stop()
