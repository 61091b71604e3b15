"""Dead letters: a failing consumer's message is kept, then redriven once the fault is fixed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient
from pydantic import SecretStr

from shared import dlq
from shared.events import DomainEvent, EventMetadata, EventRegistry, NewEvent, RecordedEvent
from shared.rpc import RemoteError
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support import connect_as, eventually, nats_seed, per_event, rpc_client

pytestmark = pytest.mark.integration


class Watered(DomainEvent):
    service = "garden"
    bed: int


registry = EventRegistry([Watered])


class Fault:
    broken = True


@pytest.fixture
async def garden(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    runtime = ServiceRuntime(
        "garden",
        registry,
        schema_sql=["CREATE TABLE IF NOT EXISTS watered (bed int, event_id uuid)"],
        # "garden" is no user of the permissions table: it connects as the admin.
        settings=settings.model_copy(
            update={"consumer_max_deliver": 2, "nats_seed": SecretStr(nats_seed("admin"))}
        ),
    )

    @runtime.consumer("garden-self", ["flowers.evt.garden.>"], registry)
    @per_event
    async def water(conn: asyncpg.Connection, env: RecordedEvent, ev: DomainEvent) -> None:
        assert isinstance(ev, Watered)
        if ev.bed == 2 and Fault.broken:
            raise RuntimeError("the hose is broken")
        await conn.execute("INSERT INTO watered VALUES ($1, $2)", ev.bed, env.event_id)

    Fault.broken = True
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def beds(runtime: ServiceRuntime) -> list[int]:
    rows = await runtime.store.pool.fetch("SELECT bed FROM watered ORDER BY bed")
    return [r["bed"] for r in rows]


@pytest.fixture
async def operator(settings: Settings) -> AsyncIterator[NatsClient]:
    """The dead letters are the operator's to see, redrive and drop (its NATS rights)."""
    client = await connect_as("operator", settings.nats_url)
    try:
        yield client
    finally:
        await client.close()


async def test_a_dead_letter_redriven_after_the_fix_is_handled_exactly_once(
    garden: ServiceRuntime, operator: NatsClient
) -> None:
    js, rpc = operator.jetstream(), rpc_client(operator)
    for bed in (1, 2, 3):
        await garden.store.append(f"bed-{bed}", [NewEvent.of(Watered(bed=bed), EventMetadata())])

    async def one_letter() -> bool:
        return len(await dlq.list_letters(js)) == 1

    await eventually(one_letter, timeout=20, what="the dead letter")

    async def others_watered() -> bool:
        return await beds(garden) == [1, 3]

    await eventually(others_watered, what="the beds behind the dead letter")
    [letter] = await dlq.list_letters(js)
    assert letter.consumer == "garden-self"
    assert "the hose is broken" in letter.error
    assert letter.deliveries == 2

    with pytest.raises(RemoteError):  # still broken: it stays a dead letter
        await dlq.redrive(js, rpc, letter.id, "operator")
    assert [x.id for x in await dlq.list_letters(js)] == [letter.id]

    Fault.broken = False
    result = await dlq.redrive(js, rpc, letter.id, "operator")
    assert result == {"consumer": "garden-self", "handled": True}
    assert await beds(garden) == [1, 2, 3]
    assert await dlq.list_letters(js) == []
    with pytest.raises(dlq.DeadLetterNotFound):
        await dlq.redrive(js, rpc, letter.id, "operator")
    assert await beds(garden) == [1, 2, 3]


async def test_a_dropped_dead_letter_needs_a_reason_and_is_gone(
    garden: ServiceRuntime, operator: NatsClient
) -> None:
    js = operator.jetstream()
    await garden.store.append("bed-2", [NewEvent.of(Watered(bed=2), EventMetadata())])

    async def one_letter() -> bool:
        return len(await dlq.list_letters(js)) == 1

    await eventually(one_letter, timeout=20, what="the dead letter")
    [letter] = await dlq.list_letters(js)
    with pytest.raises(ValueError, match="reason"):
        await dlq.drop(js, letter.id, " ", "operator")
    await dlq.drop(js, letter.id, "bed 2 was paved over", "operator")
    assert await dlq.list_letters(js) == []
