"""The review's view of nominations, fed by the nomination service's events over NATS.

The review keeps `candidates` (its projection) and records each nomination in the round's
review stream (CandidateRecorded). Both must equal what the nomination service itself
holds, whatever the volume, duplicates or order of delivery.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.review.domain import evolve, initial_state
from services.review.handlers import EventOutOfOrder
from services.review.projections import (
    apply_nomination_feed,
    candidate_from_row,
    next_in_streams,
)
from shared.bus import EVENTS_STREAM, event_headers, event_subject
from shared.contracts.common import Category
from shared.contracts.nomination import (
    ClosedNomination,
    NominationAmended,
    NominationEvent,
    NominationsClosed,
    NominationSubmitted,
    NominationWithdrawn,
    UnitRegistered,
    round_stream_id,
)
from shared.contracts.nomination import registry as nomination_registry
from shared.contracts.review import CandidateRecorded, review_stream_id
from shared.contracts.review import registry as review_registry
from shared.events import EventMetadata, NewEvent, RecordedEvent
from shared.eventstore import fold
from tests.review.conftest import DEEDS, Stack, append_nominations, submitted
from tests.support import eventually

pytestmark = pytest.mark.integration

ROUNDS = ("2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4")
UNITS = tuple(f"U{u:02d}" for u in range(1, 26))
CATEGORIES = tuple(Category)
T0 = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
COLUMNS = (
    "nomination_id, round_id, category, employee_no, name, unit_code, unit_name, position, "
    "deeds, results, evidence_links, recommendation, status, submitted_by, submitted_at, "
    "updated_at"
)


def burst(count: int) -> list[NominationEvent]:
    """`count` nominations of distinct employees across four rounds and 25 units; then every
    20th amended (every 40th into another category), every 50th (from the 7th) withdrawn,
    and the last round closed."""
    subs = [
        submitted(
            ROUNDS[n % len(ROUNDS)],
            CATEGORIES[(n // len(ROUNDS)) % len(CATEGORIES)],
            f"E{n:04d}",
            UNITS[(n // 20) % len(UNITS)],
            at=T0 + timedelta(seconds=n),
        )
        for n in range(count)
    ]
    later = T0 + timedelta(days=1)
    amended = {
        s.nomination_id: NominationAmended(
            nomination_id=s.nomination_id,
            round_id=s.round_id,
            category=CATEGORIES[(CATEGORIES.index(s.category) + 1) % 5]
            if n % 40 == 0
            else s.category,
            nominee=s.nominee,
            deeds=DEEDS + "（补充）",
            results=(),
            evidence_links=(),
            recommendation="同意推荐（修改）",
            amended_by=s.submitted_by,
            amended_at=later + timedelta(seconds=n),
        )
        for n, s in enumerate(subs)
        if n % 20 == 0
    }
    withdrawn = [
        NominationWithdrawn(
            nomination_id=s.nomination_id,
            round_id=s.round_id,
            category=s.category,
            nominee=s.nominee,
            reason="单位调整推荐人选",
            withdrawn_by=s.submitted_by,
            withdrawn_at=later + timedelta(hours=1, seconds=n),
        )
        for n, s in enumerate(subs)
        if n % 50 == 7
    ]
    gone = {w.nomination_id for w in withdrawn}
    last = ROUNDS[-1]
    closing = NominationsClosed(
        round_id=last,
        closed_at=later + timedelta(days=1),
        how="deadline",
        closed_by="scheduler",
        deadline=later + timedelta(days=1),
        nominations=tuple(
            ClosedNomination(
                nomination_id=s.nomination_id,
                category=amended[s.nomination_id].category
                if s.nomination_id in amended
                else s.category,
                nominee=s.nominee,
                submitted_by=s.submitted_by,
                submitted_at=s.submitted_at,
                last_amended_at=amended[s.nomination_id].amended_at
                if s.nomination_id in amended
                else None,
            )
            for s in subs
            if s.round_id == last and s.nomination_id not in gone
        ),
    )
    return [*subs, *amended.values(), *withdrawn, closing]


async def rows(pool: asyncpg.Pool, table: str) -> list[dict[str, Any]]:
    return [
        dict(r) for r in await pool.fetch(f"SELECT {COLUMNS} FROM {table} ORDER BY nomination_id")
    ]


async def review_snapshot(stack: Stack) -> dict[str, Any]:
    pool = stack.review.pool
    assert pool is not None
    return {
        "candidates": await rows(pool, "candidates"),
        "streams": [
            dict(r) for r in await pool.fetch("SELECT * FROM nomination_streams ORDER BY stream_id")
        ],
        "log_head": await stack.review.store.head(),
    }


async def all_handled(stack: Stack, count: int) -> None:
    stats = stack.review.consumers[0].stats

    def done() -> bool:
        return stats.handled + stats.duplicates >= count

    await eventually(done, timeout=60, interval=0.05, what=f"{count} nomination events handled")


async def assert_review_matches_nominations(stack: Stack) -> None:
    assert stack.nomination.pool is not None
    assert stack.review.pool is not None
    theirs = await rows(stack.nomination.pool, "nominations")
    ours = await rows(stack.review.pool, "candidates")
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine == reference
    # The review stream of each round knows every nomination exactly as the projection does.
    by_round: dict[str, dict[uuid.UUID, Any]] = {}
    for row in await stack.review.pool.fetch("SELECT * FROM candidates"):
        by_round.setdefault(row["round_id"], {})[row["nomination_id"]] = candidate_from_row(row)
    for round_id, expected in by_round.items():
        stream = await stack.review.store.load(review_stream_id(round_id))
        events = [review_registry.decode_recorded(e) for e in stream.events]
        assert all(isinstance(e, CandidateRecorded) for e in events)
        state = fold(evolve, initial_state(round_id), events)
        assert {k: v.candidate for k, v in state.candidates.items()} == expected


async def test_reviews_nominations_match_the_nomination_services_own_after_a_burst_of_1000(
    stack: Stack,
) -> None:
    events = burst(1000)
    started = time.perf_counter()
    recorded = await append_nominations(stack.nomination, events)
    appended = time.perf_counter()
    await all_handled(stack, len(recorded))
    handled = time.perf_counter()
    print(
        f"\n{len(recorded)} nomination events: appended+projected in {appended - started:.2f}s, "
        f"through relay, NATS and the review feed in {handled - appended:.2f}s "
        f"({len(recorded) / (handled - appended):.0f} events/s)"
    )
    await assert_review_matches_nominations(stack)
    statuses = {r["status"] for r in await rows(stack.review.pool, "candidates")}  # type: ignore[arg-type]
    assert statuses == {"submitted", "withdrawn", "closed"}
    assert stack.review.consumers[0].stats.dead_lettered == 0


async def test_a_duplicate_delivery_of_any_nomination_event_changes_nothing(stack: Stack) -> None:
    directory = UnitRegistered(unit_code="U01", name="单位U01")
    recorded = await append_nominations(stack.nomination, [directory, *burst(40)])
    await all_handled(stack, len(recorded))
    before = await review_snapshot(stack)
    assert len(before["candidates"]) == 40

    # The same events again on the bus, each under a new Nats-Msg-Id so that JetStream's
    # duplicate window lets it through: the inbox must absorb every one.
    js = stack.nomination.js
    assert js is not None
    for envelope in recorded:
        headers = {
            **event_headers(envelope.event_id),
            "Nats-Msg-Id": f"again-{envelope.event_id}",
        }
        ack = await js.publish(
            event_subject("nomination", envelope.type),
            envelope.model_dump_json().encode(),
            stream=EVENTS_STREAM,
            headers=headers,
        )
        assert not ack.duplicate
    stats = stack.review.consumers[0].stats

    def absorbed() -> bool:
        return stats.duplicates >= len(recorded)

    await eventually(absorbed, timeout=30, what="every redelivery absorbed")
    assert await review_snapshot(stack) == before

    # A replay that bypasses the inbox (a second consumer reading from the start) changes
    # nothing either: each stream's applied version turns it away.
    handler = stack.review.consumer_specs[0].handler
    assert stack.review.pool is not None
    async with stack.review.pool.acquire() as conn, conn.transaction():
        for envelope in recorded:
            await handler(conn, [(envelope, nomination_registry.decode_recorded(envelope))])
    assert await review_snapshot(stack) == before
    await assert_review_matches_nominations(stack)


def envelope_of(event: NominationEvent, version: int) -> RecordedEvent:
    new = NewEvent.of(event, EventMetadata(actor="nominator"))
    return RecordedEvent(
        position=10_000 + version,
        stream_id=round_stream_id("2026-Q2"),
        version=version,
        event_id=new.event_id,
        type=new.type,
        schema_version=new.schema_version,
        data=new.data,
        metadata=new.metadata,
        recorded_at=datetime.now(UTC),
        prev_hash="",
        hash="",
    )


async def test_a_withdrawal_that_overtakes_its_submission_waits_for_it(stack: Stack) -> None:
    """A retried submission lets later messages pass it; the withdrawal must not apply first."""
    nomination: NominationSubmitted = submitted("2026-Q2", Category.REFORM, "E777", "U09")
    withdrawal = NominationWithdrawn(
        nomination_id=nomination.nomination_id,
        round_id="2026-Q2",
        category=nomination.category,
        nominee=nomination.nominee,
        reason="本人调离",
        withdrawn_by=nomination.submitted_by,
        withdrawn_at=nomination.submitted_at + timedelta(hours=1),
    )
    first, second = envelope_of(nomination, 1), envelope_of(withdrawal, 2)
    handler = stack.review.consumer_specs[0].handler
    pool = stack.review.pool
    assert pool is not None

    with pytest.raises(EventOutOfOrder):
        async with pool.acquire() as conn, conn.transaction():
            await handler(conn, [(second, withdrawal)])
    assert await pool.fetchval("SELECT count(*) FROM candidates") == 0

    for envelope, event in ((first, nomination), (second, withdrawal)):
        async with pool.acquire() as conn, conn.transaction():
            await handler(conn, [(envelope, event)])
    assert await pool.fetchval("SELECT status FROM candidates") == "withdrawn"
    stream = await stack.review.store.load(review_stream_id("2026-Q2"))
    recorded = [review_registry.decode_recorded(e) for e in stream.events]
    assert [c.candidate.status for c in recorded if isinstance(c, CandidateRecorded)] == [
        "submitted",
        "withdrawn",
    ]


async def test_the_order_guard_takes_a_batch_that_runs_on_and_turns_away_the_rest(
    stack: Stack,
) -> None:
    """next_in_streams: a batch continuing each stream is applied whole (its one-statement
    path); a replay, a repeat or a batch after a gap is decided event by event; two
    instances applying the same next event at once: the one that writes second fails."""
    pool = stack.review.pool
    assert pool is not None
    events = [
        (envelope_of(submitted("2026-Q3", Category.REFORM, f"E80{v}", "U09"), v), None)
        for v in (1, 2, 3, 4, 5)
    ]

    def items(*versions: int) -> Any:
        return [events[v - 1] for v in versions]

    async def guard(*versions: int) -> list[int]:
        async with pool.acquire() as conn, conn.transaction():
            kept = await next_in_streams(conn, items(*versions))
        return [envelope.version for envelope, _ in kept]

    async def applied() -> Any:
        return await pool.fetchval(
            "SELECT version FROM nomination_streams WHERE stream_id = $1",
            events[0][0].stream_id,
        )

    assert await guard(1, 2) == [1, 2]
    assert await applied() == 2
    assert await guard(1, 2) == []  # a replay
    assert await guard(2, 3, 3) == [3]  # partly applied before, and a repeat
    assert await applied() == 3
    with pytest.raises(EventOutOfOrder):
        await guard(5)  # after a gap
    assert await applied() == 3

    # Two instances with the next event at once: the second waits for the first's row,
    # finds it moved when the first commits, and fails (its batch is retried).
    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction():
            assert [e.version for e, _ in await next_in_streams(first, items(4))] == [4]

            async def other() -> Any:
                async with second.transaction():
                    return await next_in_streams(second, items(4))

            racing = asyncio.create_task(other())

            async def blocked() -> bool:  # pg_locks is live, not a per-transaction snapshot
                return bool(
                    await first.fetchval(
                        "SELECT count(*) FROM pg_locks WHERE pid = $1 AND NOT granted",
                        second.get_server_pid(),
                    )
                )

            await eventually(blocked, timeout=10, what="the second instance to wait")
            assert not racing.done()  # waiting for the first's row
        with pytest.raises(EventOutOfOrder):
            await racing
    assert await applied() == 4


async def test_a_batch_of_submissions_is_ordered_and_projected_in_one_statement(
    stack: Stack,
) -> None:
    """apply_nomination_feed: submissions continuing their stream write the order guard's
    version and the candidates together (one statement); a replay of them changes nothing,
    and a batch after a gap writes neither."""
    pool = stack.review.pool
    assert pool is not None
    stream = round_stream_id("2026-Q4-one-statement")

    def item(version: int) -> Any:
        event = submitted("2026-Q4", Category.REFORM, f"E9{version:02d}", "U10")
        envelope = envelope_of(event, version).model_copy(update={"stream_id": stream})
        return envelope, event

    batch = [item(1), item(2), item(3)]

    async def feed(items: Any) -> Any:
        async with pool.acquire() as conn, conn.transaction():
            return await apply_nomination_feed(conn, items)

    async def state() -> Any:
        applied = await pool.fetchval(
            "SELECT version FROM nomination_streams WHERE stream_id = $1", stream
        )
        ids = [e.nomination_id for _, e in [*batch, gap]]
        names = await pool.fetch(
            "SELECT employee_no FROM candidates WHERE nomination_id = ANY($1::uuid[]) "
            "ORDER BY employee_no",
            ids,
        )
        return applied, [r["employee_no"] for r in names]

    gap = item(5)
    changed = await feed(batch)
    assert sorted(changed) == sorted(envelope.event_id for envelope, _ in batch)
    assert [row["employee_no"] for e, _ in batch for row in changed[e.event_id]] == [
        "E901",
        "E902",
        "E903",
    ]
    assert await state() == (3, ["E901", "E902", "E903"])
    assert await feed(batch) == {}  # a replay
    with pytest.raises(EventOutOfOrder):
        await feed([gap])
    assert await state() == (3, ["E901", "E902", "E903"])
