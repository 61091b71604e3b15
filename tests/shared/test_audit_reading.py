"""Reading whole logs in chunks (the audit's chain check, rebuilds, as-of) and replaying
FLOWERS in chunks: nothing lost or repeated at a chunk's edge, breaks named where they are."""

from __future__ import annotations

import json
from contextlib import aclosing
from datetime import datetime
from typing import Any

import pytest

from shared.audit_projections import Delivered, replay
from shared.bus import EVENTS_STREAM, ensure_streams
from shared.events import DomainEvent, EventMetadata, NewEvent
from shared.eventstore import AppendRequest
from shared.postgres import LOG_CHUNK, PostgresEventStore, read_log
from shared.settings import Settings
from tests.support import eventually

pytestmark = pytest.mark.integration


class Counted(DomainEvent):
    service = "test"
    n: int


def counted(n: int) -> NewEvent:
    return NewEvent.of(Counted(n=n), EventMetadata(actor="reader-test"))


async def fill(store: PostgresEventStore, count: int, per_append: int = 1000) -> None:
    for start in range(0, count, per_append):
        events = [counted(n) for n in range(start, min(count, start + per_append))]
        await store.append_batch([AppendRequest(f"s-{start}", events)])


async def test_a_log_one_event_longer_than_a_chunk_verifies(pg_store: PostgresEventStore) -> None:
    await fill(pg_store, LOG_CHUNK + 1)
    report = await pg_store.verify_chain()
    assert report.ok, report
    assert (report.checked, report.head_position) == (LOG_CHUNK + 1, LOG_CHUNK + 1)


async def test_a_break_in_the_second_chunk_is_named_at_its_position(
    pg_store: PostgresEventStore,
) -> None:
    await fill(pg_store, 25, per_append=7)
    assert (await pg_store.verify_chain(page_size=10)).checked == 25
    await pg_store.pool.execute(
        "UPDATE events SET data = jsonb_set(data, '{n}', '99') WHERE position = 13"
    )
    report = await pg_store.verify_chain(page_size=10)
    assert report.first_break is not None
    assert (report.first_break.position, report.checked) == (13, 12)
    # At the very edge: the first row of a chunk.
    await pg_store.pool.execute(
        "UPDATE events SET data = jsonb_set(data, '{n}', '12') WHERE position = 13"
    )
    await pg_store.pool.execute("DELETE FROM events WHERE position = 11")
    report = await pg_store.verify_chain(page_size=10)
    assert report.first_break is not None
    assert (report.first_break.position, report.checked) == (11, 10)
    assert "position 11 is missing" in report.first_break.reason


async def test_the_log_is_read_in_chunks_from_a_position_up_to_a_position_or_a_moment(
    pg_store: PostgresEventStore,
) -> None:
    await fill(pg_store, 23, per_append=5)
    async with pg_store.pool.acquire() as conn, conn.transaction():
        sizes, positions = [], []
        async for events in read_log(conn, after=2, until=21, chunk=6):
            sizes.append(len(events))
            positions += [e.position for e in events]
        assert sizes == [6, 6, 6, 1]
        assert positions == list(range(3, 22))
        assert [e.data["n"] for e in (await pg_store.read_all(after=2, limit=19))] == [
            n - 1 for n in positions
        ]
        moment: datetime = await conn.fetchval("SELECT recorded_at FROM events WHERE position = 10")
        upto = [
            e.position
            async for chunk in read_log(conn, recorded_until=moment, chunk=4)
            for e in chunk
        ]
        assert upto == list(range(1, 11))


async def _publish(js: Any, subject: str, n: int) -> None:
    body = json.dumps({"event_id": f"id-{n}", "n": n}).encode()
    await js.publish(subject, body, stream=EVENTS_STREAM, headers={"Nats-Msg-Id": f"id-{n}"})


async def _replayed(
    js: Any, subjects: list[str], after: int = 0, chunk: int = 3
) -> list[list[Delivered]]:
    chunks: list[list[Delivered]] = []
    async with aclosing(replay(js, subjects, after, chunk=chunk)) as replayed:
        async for messages in replayed:
            chunks.append(messages)
    return chunks


async def test_flowers_is_replayed_in_chunks_in_stream_order_on_the_subjects_asked(
    nc: Any, settings: Settings
) -> None:
    js = nc.jetstream()
    await ensure_streams(js, settings)
    for n in range(1, 11):  # 7 on nomination's subjects, 3 on review's
        kind = "review.ScoreSubmitted" if n % 3 == 0 else "nomination.NominationSubmitted"
        await _publish(js, f"flowers.evt.{kind}", n)

    chunks = await _replayed(js, ["flowers.evt.>"])
    assert all(len(c) <= 3 for c in chunks)
    assert [m.seq for c in chunks for m in c] == list(range(1, 11))
    assert [m.event_id for c in chunks for m in c] == [f"id-{n}" for n in range(1, 11)]

    nomination = await _replayed(js, ["flowers.evt.nomination.>"], chunk=2)
    assert [m.seq for c in nomination for m in c] == [1, 2, 4, 5, 7, 8, 10]
    later = await _replayed(js, ["flowers.evt.nomination.>", "flowers.evt.review.>"], after=6)
    assert [m.seq for c in later for m in c] == [7, 8, 9, 10]
    assert [m.subject for c in later for m in c][2] == "flowers.evt.review.ScoreSubmitted"
    # Nothing on the subjects (or nothing after the sequence): an empty replay, at once.
    assert await _replayed(js, ["flowers.evt.rewards.>"]) == []
    assert await _replayed(js, ["flowers.evt.>"], after=10) == []


async def test_a_replay_larger_than_the_clients_buffer_waits_for_a_slow_reader(
    nc: Any, settings: Settings
) -> None:
    """The server is held back by flow control, not the client's buffer: a reader far slower
    than the server still gets every message (a million-event verify once lost some as
    "slow consumer, messages dropped")."""
    js = nc.jetstream()
    await ensure_streams(js, settings)
    padding = "x" * 16_000
    # The server lets up to 32 MiB be unanswered by flow control: 48 MB against a 40 MB buffer.
    for n in range(1, 3001):
        body = json.dumps({"event_id": f"id-{n}", "n": n, "padding": padding}).encode()
        await js.publish(
            "flowers.evt.nomination.NominationSubmitted",
            body,
            stream=EVENTS_STREAM,
            headers={"Nats-Msg-Id": f"id-{n}"},
        )
    last_sent: list[int] = []

    async def server_waits() -> bool:
        """The replay's consumer has stopped sending with messages still to send (without
        flow control it sends all 3,000 and the client drops what its buffer cannot hold)."""
        [consumer] = [c for c in await js.consumers_info(EVENTS_STREAM) if c.config.deliver_subject]
        sent = consumer.delivered.stream_seq
        waiting = bool(consumer.num_pending) and last_sent[-1:] == [sent]
        last_sent.append(sent)
        return waiting

    seqs: list[int] = []
    async with aclosing(replay(js, ["flowers.evt.>"], chunk=100, buffer_bytes=40_000_000)) as rp:
        async for messages in rp:
            if not seqs:  # the reader holds its first chunk until the server waits for it
                await eventually(server_waits, interval=0.1, what="the server to wait")
            seqs += [m.seq for m in messages]
    assert seqs == list(range(1, 3001))
