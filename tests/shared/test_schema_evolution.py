"""A log written with RoundOpened version 1 is read as version 2, by the store and by consumers.

The log is never rewritten: the version 1 rows keep their data and their hash; the registry
upcasts on read (shared/contracts/nomination.py, `_round_opened_v1_to_v2`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest
from nats.js import JetStreamContext
from pydantic import ValidationError

from shared.bus import EVENTS_STREAM, EventConsumer, ensure_streams
from shared.contracts import nomination as contract
from shared.contracts.nomination import RoundOpened, RoundOpenedV1
from shared.events import DomainEvent, EventMetadata, NewEvent, RecordedEvent
from shared.postgres import PostgresEventStore
from shared.relay import Relay
from shared.rounds import Cadence
from shared.settings import Settings
from tests.support import eventually, per_event

pytestmark = pytest.mark.integration

SHANGHAI_OFFSET = timedelta(hours=8)
DEADLINE = datetime(2026, 12, 25, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Shanghai
OPENED_AT = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)

V1_DATA = {
    "round_id": "2026-Q4",
    "cadence": "quarterly",
    "deadline": "2026-12-25T15:59:59Z",
    "opened_by": "office-1",
    "opened_at": "2026-10-01T01:00:00Z",
}


def opened_v1() -> NewEvent:
    """A RoundOpened as a version 1 writer stored it: the old shape, schema_version 1."""
    event = NewEvent.of(RoundOpenedV1.model_validate(V1_DATA), EventMetadata(actor="office-1"))
    assert event.schema_version == 1
    assert set(event.data) == set(V1_DATA)
    return event


def assert_is_version_2(event: DomainEvent) -> None:
    assert isinstance(event, RoundOpened)
    assert event.schema_version == 2
    assert event.deadline == DEADLINE
    assert event.timezone == "Asia/Shanghai"
    assert event.deadline_local.utcoffset() == SHANGHAI_OFFSET
    assert event.deadline_local.replace(tzinfo=None) == datetime(2026, 12, 25, 23, 59, 59)
    assert event.cadence is Cadence.QUARTERLY
    assert event.opened_by == "office-1"


# --- The contract, no servers --------------------------------------------------------------


def test_version_1_data_is_upcast_to_version_2() -> None:
    assert_is_version_2(contract.registry.decode("RoundOpened", 1, dict(V1_DATA)))


def test_version_2_data_is_read_as_written() -> None:
    event = RoundOpened(
        round_id="2026-Q4",
        cadence=Cadence.QUARTERLY,
        deadline=DEADLINE,
        opened_by="office-1",
        opened_at=OPENED_AT,
        timezone="Asia/Shanghai",
        deadline_local=DEADLINE.astimezone(timezone(SHANGHAI_OFFSET)),
    )
    data = event.to_data()
    assert data["deadline_local"] == "2026-12-25T23:59:59+08:00"
    assert contract.registry.decode("RoundOpened", 2, data) == event


def test_version_1_data_of_the_wrong_shape_is_refused_by_the_upcaster() -> None:
    with pytest.raises(ValidationError):
        contract.registry.decode("RoundOpened", 1, {**V1_DATA, "surprise": 1})


def test_a_local_deadline_that_is_not_the_deadline_is_refused() -> None:
    with pytest.raises(ValidationError, match="same instant"):
        RoundOpened(
            round_id="2026-Q4",
            cadence=Cadence.QUARTERLY,
            deadline=DEADLINE,
            opened_by="office-1",
            opened_at=OPENED_AT,
            deadline_local=DEADLINE + timedelta(hours=1),
        )
    with pytest.raises(ValidationError, match="offset of Asia/Shanghai"):
        RoundOpened(
            round_id="2026-Q4",
            cadence=Cadence.QUARTERLY,
            deadline=DEADLINE,
            opened_by="office-1",
            opened_at=OPENED_AT,
            deadline_local=DEADLINE,  # the right instant on the wrong wall clock (UTC)
        )
    with pytest.raises(ValidationError, match="unknown time zone"):
        RoundOpened(
            round_id="2026-Q4",
            cadence=Cadence.QUARTERLY,
            deadline=DEADLINE,
            opened_by="office-1",
            opened_at=OPENED_AT,
            timezone="Mars/Olympus",
        )


def test_new_round_opened_events_are_written_as_version_2() -> None:
    from services.nomination.domain import NominationPolicy, decide_open_round
    from shared.contracts.nomination_commands import OpenRound

    [event] = decide_open_round(
        None,
        OpenRound(actor="office-1", roles=["office"], round_id="2026-Q4"),
        OPENED_AT,
        policy=NominationPolicy(),
    )
    stored = NewEvent.of(event, EventMetadata(actor="office-1"))
    assert stored.schema_version == 2
    assert stored.data["timezone"] == "Asia/Shanghai"
    assert stored.data["deadline_local"] == "2026-12-25T23:59:59+08:00"


# --- A version 1 log, through the store and through a consumer -----------------------------


async def test_a_version_1_log_is_loaded_as_version_2(pg_store: PostgresEventStore) -> None:
    await pg_store.append("round-2026-Q4", [opened_v1()], expected_version=0)

    [recorded] = (await pg_store.load("round-2026-Q4")).events
    assert recorded.schema_version == 1  # the log is not rewritten...
    assert recorded.data == V1_DATA
    assert_is_version_2(contract.registry.decode_recorded(recorded))  # ...it is upcast on read
    [from_all] = await pg_store.read_all()
    assert_is_version_2(contract.registry.decode_recorded(from_all))
    assert (await pg_store.verify_chain()).ok


async def test_a_consumer_receiving_a_version_1_envelope_sees_version_2(
    pg_store: PostgresEventStore, nc: object, settings: Settings
) -> None:
    js: JetStreamContext = nc.jetstream()  # type: ignore[attr-defined]
    await ensure_streams(js, settings)
    await pg_store.append("round-2026-Q4", [opened_v1()], expected_version=0)
    await Relay("nomination", pg_store, js).drain()
    message = await js.get_msg(EVENTS_STREAM, 1)
    assert message.subject == "flowers.evt.nomination.RoundOpened"
    assert json.loads(message.data or b"{}")["schema_version"] == 1

    seen: list[tuple[RecordedEvent, DomainEvent]] = []

    async def handler(_: asyncpg.Connection, envelope: RecordedEvent, event: DomainEvent) -> None:
        seen.append((envelope, event))

    consumer = EventConsumer(
        name="schema-evolution-test",
        filter_subjects=["flowers.evt.nomination.>"],
        registry=contract.registry,
        handler=per_event(handler),
        pool=pg_store.pool,
        js=js,
        settings=settings,
    )
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: bool(seen), timeout=15, what="the consumer to handle it")
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 10)
    [(envelope, event)] = seen
    assert envelope.schema_version == 1
    assert_is_version_2(event)
    assert consumer.stats.dead_lettered == 0
