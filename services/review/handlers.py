"""Use cases: load → decide → append (and project), one per command; and the nomination feed.

Every command runs against the round's review stream `review-<round_id>`, with `now` from
the runtime's clock and the ReviewPolicy built from settings. The feed turns the nomination
service's events into `candidates` rows and CandidateRecorded events of the same round,
inside the consumer's transaction (one commit with the inbox row).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

from services.review.aggregation import Rubric
from services.review.domain import (
    ReviewPolicy,
    ReviewState,
    decide,
    evolve,
    initial_state,
    record_candidate,
    record_unit_window,
)
from services.review.projections import EventOutOfOrder as EventOutOfOrder  # re-exported
from services.review.projections import apply_nomination_feed, candidate_from_row
from shared.calendar import WorkingCalendar
from shared.clock import SHANGHAI
from shared.context import transaction_scope_var
from shared.contracts.common import Category
from shared.contracts.nomination import RoundReopenedForUnit, UnitNominationsClosed
from shared.contracts.review import (
    ObjectionRaised,
    PublicNoticeStarted,
    ResultPublished,
    ReviewEvent,
    ScoreSubmitted,
    WinnersDecided,
    registry,
    review_stream_id,
)
from shared.contracts.review_commands import Command
from shared.events import DomainEvent, EventMetadata, NewEvent, RecordedEvent
from shared.eventstore import fold
from shared.logging import get_logger
from shared.service import ServiceRuntime
from shared.settings import Settings

log = get_logger(__name__)

FEED_ACTOR = "review-nomination"  # the actor of events the nomination feed records


def policy_from_settings(settings: Settings) -> ReviewPolicy:
    return ReviewPolicy(
        min_scores=settings.min_scores,
        winners_per_category=settings.winners_per_category,
        notice_working_days=settings.notice_working_days,
        zscore=settings.review_zscore,
        trim_from=settings.review_trim_from,
        rubric=Rubric(dict(settings.review_rubric)),
        rubrics={
            Category(c): Rubric(dict(weights))
            for c, weights in settings.review_rubric_by_category.items()
        },
        calendar=WorkingCalendar.of(
            [date.fromisoformat(d) for d in settings.calendar_extra_holidays],
            [date.fromisoformat(d) for d in settings.calendar_extra_workdays],
        ),
    )


class ReviewStates:
    """Each round's folded review state, caught up from the log rather than refolded.

    Only committed events reach the cache (a consumer transaction's own appends are
    remembered once it commits), and the log is append-only, so a cached (version, state)
    stays true; the next load reads the events after that version only. Without it the
    feed would refold a growing stream per nomination: quadratic in a round's size.
    """

    def __init__(self) -> None:
        self._known: dict[str, tuple[int, ReviewState]] = {}

    async def load(
        self, db: asyncpg.Connection | asyncpg.Pool, round_id: str
    ) -> tuple[ReviewState, int]:
        version, state = self._known.get(round_id, (0, initial_state(round_id)))
        rows = await db.fetch(
            "SELECT version, type, schema_version, data FROM events "
            "WHERE stream_id = $1 AND version > $2 ORDER BY version",
            review_stream_id(round_id),
            version,
        )
        for row in rows:
            event = registry.decode(row["type"], row["schema_version"], row["data"])
            state = evolve(state, event)
        if rows:
            version = rows[-1]["version"]
            self.remember(round_id, version, state)
        return state, version

    def remember(self, round_id: str, version: int, state: ReviewState) -> None:
        """Keep a committed state (a later version wins)."""
        known = self._known.get(round_id)
        if known is None or known[0] < version:
            self._known[round_id] = (version, state)


@dataclass
class _Recording:
    """The candidates one consumer transaction records in a round: one append at its end."""

    round_id: str
    version: int  # the review stream's version the state was loaded at
    state: ReviewState
    events: list[NewEvent] = field(default_factory=list)


class ReviewHandlers:
    def __init__(self, runtime: ServiceRuntime, states: ReviewStates) -> None:
        self.runtime = runtime
        self.states = states
        self.policy = policy_from_settings(runtime.settings)

    # Commands ------------------------------------------------------------------------

    async def command(self, cmd: Command) -> dict[str, Any]:
        now = self.runtime.clock.now()
        policy = self.policy

        def decide_now(state: ReviewState) -> list[ReviewEvent]:
            return decide(state, cmd, now, policy)

        recorded = await self.runtime.execute(
            review_stream_id(cmd.round_id),
            evolve,
            initial_state(cmd.round_id),
            decide_now,
            cmd.actor,
        )
        events = [registry.decode_recorded(r) for r in recorded]
        for event in events:
            if isinstance(event, PublicNoticeStarted) and event.calendar_fallback_years:
                log.warning(
                    "notice_calendar_fallback",
                    round_id=event.round_id,
                    notice_no=event.notice_no,
                    years=list(event.calendar_fallback_years),
                    ends_at=event.ends_at.isoformat(),
                    hint="the official holiday schedule does not cover these years: weekends "
                    "and FLOWERS_CALENDAR_EXTRA_HOLIDAYS/_WORKDAYS were used",
                )
        return outcome(cmd.round_id, recorded, events)

    # The nomination feed (consumer `review-nomination`) -------------------------------

    async def on_nomination_event(
        self, conn: asyncpg.Connection, envelope: RecordedEvent, event: DomainEvent
    ) -> None:
        """Project a nomination event and record the candidates it changed in the review
        (and a unit let in again after the close, or its window shutting).

        The projection effects (`apply_nomination_feed`, which the audit replays alone) come
        first; recording CandidateRecorded events is the part that produces events. Runs in
        the consumer's transaction: the inbox rows, `candidates`, the new CandidateRecorded
        events and their projections commit together, the events of all the transaction's
        messages in one append per round at its end. A ConcurrencyError (a command appended
        to the round's review meanwhile) fails the transaction: the consumer retries.
        """
        changed = [
            candidate_from_row(r) for r in await apply_nomination_feed(conn, envelope, event)
        ]
        window = _unit_window(event)
        if not changed and window is None:
            return
        # One nomination, one round's closing, or one unit's window in a round.
        round_id = changed[0].round_id if changed else window[0] if window else ""
        scope = transaction_scope_var.get()
        recording = scope.local.get(("review-recording", round_id)) if scope else None
        if not isinstance(recording, _Recording):
            state, version = await self.states.load(conn, round_id)
            recording = _Recording(round_id, version, state)
        new_events = [e for c in changed for e in record_candidate(recording.state, c)]
        if window is not None:
            new_events += record_unit_window(
                fold(evolve, recording.state, new_events), window[1], window[2]
            )
        if not new_events:
            return
        meta = EventMetadata(
            actor=FEED_ACTOR,
            correlation_id=envelope.metadata.correlation_id,
            causation_id=str(envelope.event_id),
        )
        recording.state = fold(evolve, recording.state, new_events)
        recording.events.extend(NewEvent.of(e, meta) for e in new_events)
        if scope is None:
            await self._record(conn, recording)
            return
        # The messages of one consumer transaction share one append per round, at its end.
        scope.local[("review-recording", round_id)] = recording
        scope.before_commit(
            ("review-recording", round_id), functools.partial(self._record, conn, recording)
        )

    async def _record(self, conn: asyncpg.Connection, recording: _Recording) -> None:
        recorded = await self.runtime.store.append(
            review_stream_id(recording.round_id),
            recording.events,
            expected_version=recording.version,
            conn=conn,
        )
        if self.runtime.project is not None:
            await self.runtime.project(conn, recorded)
        remember = functools.partial(
            self.states.remember, recording.round_id, recorded[-1].version, recording.state
        )
        scope = transaction_scope_var.get()
        if scope is None:
            remember()
        else:
            scope.on_commit(remember)


def _unit_window(event: DomainEvent) -> tuple[str, str, datetime | None] | None:
    """(round, unit, open until) of a unit let in again after the close, or (…, None) of
    its window shutting; None for any other nomination event."""
    match event:
        case RoundReopenedForUnit():
            return event.round_id, event.unit_code, event.new_deadline
        case UnitNominationsClosed():
            return event.round_id, event.unit_code, None
        case _:
            return None


def outcome(
    round_id: str, recorded: Sequence[RecordedEvent], events: Sequence[DomainEvent]
) -> dict[str, Any]:
    """A command's reply: the events it caused, where the log stands, and their key facts."""
    reply: dict[str, Any] = {
        "round_id": round_id,
        "events": [e.type for e in recorded],
        "position": recorded[-1].position if recorded else None,
    }
    for event in events:
        match event:
            case ScoreSubmitted():
                reply.update(total=str(event.total), revision=event.revision)
            case WinnersDecided():
                reply["winners"] = [str(w) for w in event.winners]
            case PublicNoticeStarted():
                reply["notice"] = {
                    "notice_no": event.notice_no,
                    "categories": [c.value for c in event.categories],
                    "starts_at": event.starts_at.astimezone(SHANGHAI).isoformat(),
                    "ends_at": event.ends_at.astimezone(SHANGHAI).isoformat(),
                    "working_days": event.working_days,
                    "calendar_fallback_years": list(event.calendar_fallback_years),
                }
            case ObjectionRaised():
                reply["objection_no"] = event.objection_no
            case ResultPublished():
                reply["published_at"] = event.published_at.astimezone(SHANGHAI).isoformat()
                reply["winners"] = [str(w.nomination_id) for w in event.winners]
            case _:
                pass
    return reply
