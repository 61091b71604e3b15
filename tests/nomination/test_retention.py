"""The retention job on a test clock, through real NATS and PostgreSQL.

A round's nominations are submitted, review's result is appended to review's own log (its
relay publishes it, the nomination service's feed projects it), and the clock moves on three
years. Exactly the nominees who did not win lose their keys, once: the winners (one of a
round older than this log, who was nominated again and did not win) stay readable; a second
run does nothing; a run killed after recording and one key is completed by the restarted
service's scheduled job; then the nomination and review services scrub their
projections of the expired nominees by themselves (shared/scrub.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.nomination.app import build_runtime
from services.nomination.retention_job import RetentionJob, RunReport
from services.review.app import build_runtime as review_runtime
from shared.clock import SHANGHAI, FixedClock
from shared.contracts.common import Category
from shared.contracts.nomination import (
    PRIVACY_STREAM,
    ExpiredPersonalDataShredded,
    NominationSubmitted,
    round_stream_id,
)
from shared.contracts.review import (
    ObjectionRaised,
    ObjectionResolved,
    PublishedWinner,
    ResultPublished,
    review_stream_id,
)
from shared.events import EventMetadata, NewEvent
from shared.eventstore import ConcurrencyError
from shared.personal_data import ERASED, KEYRING
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.nomination.test_service import DEEDS, DIRECTORY, OFFICE, submission
from tests.support import eventually, rpc_client, until_scrubbed

pytestmark = pytest.mark.integration

RESULT_AT = datetime(2026, 12, 28, 10, 0, tzinfo=SHANGHAI)
EXPIRES_AT = datetime(2029, 12, 28, 10, 0, tzinfo=SHANGHAI)  # 3 years after the result
NOMINATED = {  # employee -> flower in 2026-Q4
    "EWY0": "striving",  # wins
    "EWY1": "dedication",  # does not win: expires
    "ECY0": "striving",  # does not win: expires
    "ECY1": "dedication",  # does not win, but won 2026-Q3 (before this log): kept
}
EXPIRING = {"EWY1", "ECY0"}
NAMES = {str(d["employee_no"]): str(d["name"]) for d in DIRECTORY}


def result(round_id: str, winners: dict[str, Category]) -> ResultPublished:
    person = {d["employee_no"]: d for d in DIRECTORY}
    return ResultPublished(
        round_id=round_id,
        categories=tuple(Category),
        winners=tuple(
            PublishedWinner(
                category=category,
                nomination_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{round_id}/{no}"),
                employee_no=no,
                name=person[no]["name"],
                unit_code=person[no]["unit_code"],
                unit_name=person[no]["unit_name"],
                position=person[no]["position"],
                deeds=DEEDS,
                results=(),
                score=Decimal("90.50"),
            )
            for no, category in winners.items()
        ),
        published_by="office-1",
        published_at=RESULT_AT,
    )


async def publish(review: ServiceRuntime, event: ResultPublished) -> None:
    """Append the result to review's log, as review's publishing does (its relay sends it)."""
    stream = review_stream_id(event.round_id)
    while True:  # the review records the closed round's candidates meanwhile
        current = await review.store.load(stream)
        try:
            await review.store.append(
                stream,
                [NewEvent.of(event, EventMetadata(actor="office-1", correlation_id="test"))],
                expected_version=current.version,
            )
            break
        except ConcurrencyError:
            continue
    assert review.relay is not None
    review.relay.wake()


async def subjects(runtime: ServiceRuntime) -> dict[str, uuid.UUID]:
    assert runtime.keys is not None
    found = {no: await runtime.keys.subject_of(no) for no in NAMES}
    return {no: s for no, s in found.items() if s is not None}


async def names_in_the_log(runtime: ServiceRuntime) -> dict[str, str]:
    """Each nominee's name as the round's log reads now."""
    stream = await runtime.store.load(round_stream_id("2026-Q4"))
    read: dict[str, str] = {}
    for recorded in stream.events:
        event = runtime.registry.decode_recorded(recorded)
        if isinstance(event, NominationSubmitted):
            read[str(event.nomination_id)] = event.nominee.name
    return read


async def shredding_runs(runtime: ServiceRuntime) -> list[ExpiredPersonalDataShredded]:
    stream = await runtime.store.load(PRIVACY_STREAM)
    events = [runtime.registry.decode_recorded(e) for e in stream.events]
    return [e for e in events if isinstance(e, ExpiredPersonalDataShredded)]


async def test_exactly_the_expired_nominees_are_shredded_once_even_across_a_kill(
    settings: Settings, nc: Any
) -> None:
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    quiet = settings.model_copy(
        update={"retention_interval_s": 3600.0, "scheduler_interval_s": 0.05}
    )
    nomination = build_runtime(quiet, clock=clock)
    review = review_runtime(quiet)
    await nomination.start()
    await review.start()
    rpc = rpc_client(nc)
    nominations: dict[str, str] = {}
    try:
        await rpc.command("nomination", "import_directory", {**OFFICE, "rows": DIRECTORY})
        await rpc.command("nomination", "open_round", {**OFFICE, "round_id": "2026-Q4"})
        for no, flower in NOMINATED.items():
            cmd = submission(no[1:3], no, flower)
            nominations[no] = cmd["nomination_id"]
            await rpc.command("nomination", "submit", cmd)
        clock.set(datetime(2026, 12, 26, 9, 0, tzinfo=SHANGHAI))  # the scheduler closes it

        async def closed() -> bool:
            rounds = await rpc.query("nomination", "rounds", {})
            return any(r["round_id"] == "2026-Q4" and r["status"] == "closed" for r in rounds)

        await eventually(closed, timeout=20, what="the round to close at its deadline")
        await publish(review, result("2026-Q4", {"EWY0": Category.STRIVING}))
        await publish(review, result("2026-Q3", {"ECY1": Category.REFORM}))

        async def heard() -> bool:
            pool = nomination.store.pool
            return bool(
                await pool.fetchval("SELECT count(*) = 2 FROM past_wins")
                and await pool.fetchval("SELECT count(*) = 2 FROM results_published")
            )

        await eventually(heard, timeout=20, what="the nomination service to hear the results")

        async def reviewed() -> bool:  # the review has recorded the closed round's candidates
            rows = await rpc.query("review", "candidates", {"round_id": "2026-Q4"})
            return len(rows) == len(NOMINATED) and {r["status"] for r in rows} == {"closed"}

        await eventually(reviewed, timeout=20, what="the review to record the candidates")
        assert review.relay is not None
        relay = review.relay

        async def relayed() -> bool:
            return bool(await relay.checkpoint() == await review.store.head())

        await eventually(relayed, timeout=20, what="review's relay to publish everything")
        before = await subjects(nomination)
        assert set(before) == set(NAMES)  # everyone in the directory has a key
        job = RetentionJob(nomination)

        # Nothing has expired yet: a minute early, a run records and destroys nothing.
        clock.set(EXPIRES_AT - timedelta(minutes=1))
        assert await job.run() == RunReport(recorded=False, keys_destroyed=0)
        assert await shredding_runs(nomination) == []

        # Time is up; the run is killed after recording, having destroyed one key.
        clock.set(EXPIRES_AT + timedelta(days=1))
        assert await job.record_expired()
        first = before["ECY0"]
        assert nomination.keys is not None
        assert await nomination.keys.shred(first, clock.now())
        KEYRING.forget(first)
        # The run's fact reaches FLOWERS while the other key still exists: review hears it
        # and does not take it (its scrub waits for the key; nothing is acknowledged).
        killed = nomination.relay
        assert killed is not None

        async def published() -> bool:
            return bool(await killed.checkpoint() == await nomination.store.head())

        await eventually(published, timeout=20, what="the run's fact published")
        fact = await nomination.store.pool.fetchval(
            "SELECT event_id FROM events WHERE type = 'ExpiredPersonalDataShredded'"
        )
        taken = await review.store.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = 'review-privacy' AND event_id = $1", fact
        )
        assert taken == 0
    finally:
        await nomination.stop()

    # Restarted, the service's scheduled job completes the run without recording it again.
    nomination = build_runtime(quiet, clock=clock)
    await nomination.start()
    try:

        async def completed() -> bool:
            return set(await subjects(nomination)) == set(NAMES) - EXPIRING

        await eventually(completed, timeout=20, what="the restarted job to destroy the keys")
        runs = await shredding_runs(nomination)
        assert len(runs) == 1, runs
        assert {s.subject_id for s in runs[0].subjects} == {before[no] for no in EXPIRING}
        assert runs[0].counts == {"unsuccessful_nomination": 2}
        assert {s.expired_at for s in runs[0].subjects} == {EXPIRES_AT}
        assert runs[0].years == {"unsuccessful_nomination": 3, "objection": 1, "payroll": 30}

        # Exactly the expired nominees read 已删除; the winners stay readable.
        read = await names_in_the_log(nomination)
        assert {no: read[nominations[no]] for no in NOMINATED} == {
            no: ERASED if no in EXPIRING else NAMES[no] for no in NOMINATED
        }

        # The projections forget them by themselves once both keys are destroyed (the
        # fact came while one key still existed: it was not taken before).
        fact = await nomination.store.pool.fetchval(
            "SELECT event_id FROM events WHERE type = 'ExpiredPersonalDataShredded'"
        )
        for runtime, table in ((nomination, "nominations"), (review, "candidates")):
            await until_scrubbed([runtime], fact)
            rows = await runtime.store.pool.fetch(
                f"SELECT nomination_id, employee_no, name FROM {table} WHERE round_id = '2026-Q4'"
            )
            held = {str(r["nomination_id"]): r for r in rows}
            for no in NOMINATED:
                row = held[nominations[no]]
                if no in EXPIRING:
                    assert row["name"] == ERASED
                    assert row["employee_no"].startswith(ERASED + "·")
                else:
                    assert (row["employee_no"], row["name"]) == (no, NAMES[no])

        # A second run, and a day later another: nothing more.
        assert await RetentionJob(nomination).run() == RunReport(recorded=False, keys_destroyed=0)
        clock.advance(timedelta(days=1))
        assert await RetentionJob(nomination).run() == RunReport(recorded=False, keys_destroyed=0)
        assert len(await shredding_runs(nomination)) == 1
        assert set(await subjects(nomination)) == set(NAMES) - EXPIRING
    finally:
        await nomination.stop()
        await review.stop()


OBJECTED_ROUND = "2026-Q4"
RESOLVED_AT = datetime(2027, 1, 5, 10, 0, tzinfo=SHANGHAI)
OBJECTION_EXPIRES = datetime(2028, 1, 5, 10, 0, tzinfo=SHANGHAI)  # 1 year after resolution
OBJECTORS = {  # objection no -> the raiser's data subject, and whether it is resolved
    1: ("ECY0", True),  # a staff member: expires
    2: ("EWY0", True),  # the round's winner: kept
    3: ("user:u-9", True),  # an account without an employee number: expires
    4: ("ECY2", False),  # still open: kept
}
OBJECTION_TEXT = "听说该同志的加班时长统计有出入，请核实。"


async def append_review(review: ServiceRuntime, events: list[Any]) -> None:
    """Append to review's log of the round as review's objection commands do."""
    stream = review_stream_id(OBJECTED_ROUND)
    current = await review.store.load(stream)
    await review.store.append(
        stream,
        [NewEvent.of(e, EventMetadata(actor="office-1", correlation_id="test")) for e in events],
        expected_version=current.version,
    )
    assert review.relay is not None
    review.relay.wake()


def objection_events() -> list[Any]:
    nomination_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{OBJECTED_ROUND}/EWY0")
    raised = [
        ObjectionRaised(
            round_id=OBJECTED_ROUND,
            objection_no=no,
            nomination_id=nomination_id,
            category=Category.STRIVING,
            raised_by=f"u-{no}",
            raiser_subject=subject,
            raiser_name=f"异议人{no}",
            text=OBJECTION_TEXT,
            raised_at=RESOLVED_AT - timedelta(days=3),
        )
        for no, (subject, _) in OBJECTORS.items()
    ]
    resolved = [
        ObjectionResolved(
            round_id=OBJECTED_ROUND,
            objection_no=no,
            nomination_id=nomination_id,
            outcome="dismissed",
            resolution="经核查，异议不成立。",
            resolved_by="office-1",
            resolved_at=RESOLVED_AT,
        )
        for no, (_, done) in OBJECTORS.items()
        if done
    ]
    return [*raised, *resolved]


async def test_objectors_expire_a_year_after_the_resolution_unless_kept(
    settings: Settings, nc: Any
) -> None:
    clock = FixedClock(datetime(2027, 1, 10, 9, 0, tzinfo=SHANGHAI))
    quiet = settings.model_copy(update={"retention_interval_s": 3600.0})
    nomination = build_runtime(quiet, clock=clock)
    review = review_runtime(quiet)
    await nomination.start()
    await review.start()
    try:
        await append_review(review, objection_events())
        await publish(review, result(OBJECTED_ROUND, {"EWY0": Category.STRIVING}))

        async def heard() -> bool:
            pool = nomination.store.pool
            rows = await pool.fetch("SELECT raiser_subject, resolved_at FROM objections_held")
            return (
                len(rows) == len(OBJECTORS)
                and sum(r["resolved_at"] is not None for r in rows) == 3
                and bool(await pool.fetchval("SELECT count(*) = 1 FROM past_wins"))
            )

        await eventually(heard, timeout=20, what="the nomination service to hear the objections")
        assert nomination.keys is not None
        keys = nomination.keys
        before = {s: await keys.subject_of(s) for s, _ in OBJECTORS.values()}
        assert None not in before.values()  # sealing the objections made their keys
        job = RetentionJob(nomination)

        clock.set(OBJECTION_EXPIRES - timedelta(minutes=1))
        assert await job.run() == RunReport(recorded=False, keys_destroyed=0)

        clock.set(OBJECTION_EXPIRES + timedelta(days=1))
        assert await job.run() == RunReport(recorded=True, keys_destroyed=2)
        [run] = await shredding_runs(nomination)
        assert run.counts == {"objection": 2}
        assert {s.subject_id for s in run.subjects} == {before["ECY0"], before["user:u-9"]}
        assert {s.expired_at for s in run.subjects} == {OBJECTION_EXPIRES}
        after = {s: await keys.subject_of(s) for s in before}
        assert {s for s, found in after.items() if found is None} == {"ECY0", "user:u-9"}

        # Review's log reads the expired objectors' names and texts 已删除; the outcome stays.
        stream = await review.store.load(review_stream_id(OBJECTED_ROUND))
        read = {
            e.objection_no: (e.raiser_name, e.text)
            for e in (review.registry.decode_recorded(r) for r in stream.events)
            if isinstance(e, ObjectionRaised)
        }
        assert read == {
            1: (ERASED, ERASED),
            2: ("异议人2", OBJECTION_TEXT),
            3: (ERASED, ERASED),
            4: ("异议人4", OBJECTION_TEXT),
        }
        outcomes = [
            e.outcome
            for e in (review.registry.decode_recorded(r) for r in stream.events)
            if isinstance(e, ObjectionResolved)
        ]
        assert outcomes == ["dismissed"] * 3

        # Once more, and a day later: nothing more.
        assert await job.run() == RunReport(recorded=False, keys_destroyed=0)
        clock.advance(timedelta(days=1))
        assert await job.run() == RunReport(recorded=False, keys_destroyed=0)
        assert len(await shredding_runs(nomination)) == 1
    finally:
        await nomination.stop()
        await review.stop()
