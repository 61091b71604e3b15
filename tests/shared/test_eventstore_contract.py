"""One contract, every EventStore: the in-memory one and PostgreSQL's."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from shared.events import DomainEvent, EventMetadata, NewEvent
from shared.eventstore import (
    AppendRequest,
    ConcurrencyError,
    DuplicateEventError,
    EventStore,
    InMemoryEventStore,
)


class Planted(DomainEvent):
    service = "test"
    flower: str
    note: str = ""


def new(flower: str = "拼搏之花", note: str = "") -> NewEvent:
    return NewEvent.of(Planted(flower=flower, note=note), EventMetadata(actor="u1"))


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.integration)])
def store(request: Any) -> EventStore:
    if request.param == "memory":
        return InMemoryEventStore()
    return request.getfixturevalue("pg_store")  # type: ignore[no-any-return]


async def test_appending_to_a_new_stream_starts_at_version_one(store: EventStore) -> None:
    recorded = await store.append("s-1", [new(), new()], expected_version=0)
    assert [e.version for e in recorded] == [1, 2]
    assert [e.position for e in recorded] == [1, 2]
    stream = await store.load("s-1")
    assert stream.version == 2
    assert [e.event_id for e in stream.events] == [e.event_id for e in recorded]


async def test_loaded_events_keep_their_data_and_metadata(store: EventStore) -> None:
    event = new("奉献之花", note='<script>alert("x")</script> \u200b')
    await store.append("s-1", [event], expected_version=0)
    [loaded] = (await store.load("s-1")).events
    assert loaded.type == "Planted"
    assert loaded.schema_version == 1
    assert loaded.data == {"flower": "奉献之花", "note": '<script>alert("x")</script> \u200b'}
    assert loaded.metadata.actor == "u1"
    assert loaded.metadata.occurred_at.tzinfo is not None


async def test_an_append_with_a_stale_version_is_refused(store: EventStore) -> None:
    await store.append("s-1", [new()], expected_version=0)
    await store.append("s-1", [new()], expected_version=1)
    with pytest.raises(ConcurrencyError) as refused:
        await store.append("s-1", [new()], expected_version=1)
    assert (refused.value.expected, refused.value.actual) == (1, 2)
    assert (await store.load("s-1")).version == 2


async def test_creating_a_stream_that_exists_is_refused(store: EventStore) -> None:
    await store.append("s-1", [new()], expected_version=0)
    with pytest.raises(ConcurrencyError):
        await store.append("s-1", [new()], expected_version=0)


async def test_any_version_appends_whatever_the_stream_holds(store: EventStore) -> None:
    await store.append("s-1", [new()])
    recorded = await store.append("s-1", [new()])
    assert recorded[0].version == 2


async def test_conflicting_appends_exactly_one_wins(store: EventStore) -> None:
    await store.append("s-1", [new()], expected_version=0)
    outcomes = await asyncio.gather(
        *(store.append("s-1", [new()], expected_version=1) for _ in range(5)),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if isinstance(o, list)]
    losers = [o for o in outcomes if isinstance(o, ConcurrencyError)]
    assert len(winners) == 1
    assert len(losers) == 4
    assert (await store.load("s-1")).version == 2


async def test_a_batch_is_all_or_nothing(store: EventStore) -> None:
    await store.append("s-2", [new()], expected_version=0)
    with pytest.raises(ConcurrencyError):
        await store.append_batch(
            [
                AppendRequest("s-1", [new()], expected_version=0),
                AppendRequest("s-2", [new()], expected_version=0),  # stale
            ]
        )
    assert (await store.load("s-1")).events == []
    assert await store.head() == 1


async def test_a_batch_spans_streams_in_one_append(store: EventStore) -> None:
    recorded = await store.append_batch(
        [
            AppendRequest("s-1", [new(), new()], expected_version=0),
            AppendRequest("s-2", [new()], expected_version=0),
        ]
    )
    assert [(e.stream_id, e.version, e.position) for e in recorded] == [
        ("s-1", 1, 1),
        ("s-1", 2, 2),
        ("s-2", 1, 3),
    ]


async def test_an_event_id_is_stored_once(store: EventStore) -> None:
    event = new()
    await store.append("s-1", [event])
    with pytest.raises(DuplicateEventError):
        await store.append("s-2", [event])
    assert await store.head() == 1


async def test_read_all_pages_through_the_log_by_position(store: EventStore) -> None:
    for i in range(7):
        await store.append(f"s-{i % 3}", [new(note=str(i))])
    first = await store.read_all(after=0, limit=3)
    rest = await store.read_all(after=first[-1].position, limit=100)
    assert [e.position for e in first + rest] == list(range(1, 8))
    assert [e.data["note"] for e in first + rest] == [str(i) for i in range(7)]
    assert await store.head() == 7
    assert await store.read_all(after=7) == []


async def test_a_fresh_log_verifies(store: EventStore) -> None:
    for i in range(5):
        await store.append(f"s-{i}", [new(note=str(i))])
    report = await store.verify_chain()
    assert report.ok
    assert (report.checked, report.head_position) == (5, 5)
    assert report.head_hash == (await store.read_all(after=4))[0].hash


async def test_unknown_stream_loads_empty(store: EventStore) -> None:
    stream = await store.load(f"nothing-{uuid.uuid4()}")
    assert stream.events == []
    assert stream.version == 0


async def test_a_request_without_events_guards_its_streams_version(store: EventStore) -> None:
    """Rewards appends an award only while its payroll period's acknowledgements stream is
    empty: the empty request holds the batch to that version, writing nothing."""
    await store.append("period-2026-10", [new()], expected_version=0)
    with pytest.raises(ConcurrencyError):
        await store.append_batch(
            [
                AppendRequest("award-1", [new()], expected_version=0),
                AppendRequest("period-2026-10", [], expected_version=0),  # no longer empty
            ]
        )
    assert (await store.load("award-1")).events == []
    recorded = await store.append_batch(
        [
            AppendRequest("award-1", [new()], expected_version=0),
            AppendRequest("period-2026-11", [], expected_version=0),
        ]
    )
    assert [(e.stream_id, e.version) for e in recorded] == [("award-1", 1)]
    assert (await store.load("period-2026-11")).events == []
