"""Use cases: load → decide → append (and project), one per command; and the nomination feed.

Every command runs against the round's review stream `review-<round_id>`, with `now` from
the runtime's clock and the ReviewPolicy built from settings. The feed turns the nomination
service's events into `candidates` rows and CandidateRecorded events of the same round,
inside the consumer's transaction (one commit with the inbox row), through the one reaction
path (shared.reaction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

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
from services.review.projections import Changed, apply_nomination_feed, candidate_from_row
from services.review.projections import EventOutOfOrder as EventOutOfOrder  # re-exported
from shared.calendar import WorkingCalendar
from shared.clock import SHANGHAI
from shared.contracts.common import Category
from shared.contracts.nomination import RoundReopenedForUnit, UnitNominationsClosed
from shared.contracts.review import (
    Candidate,
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
from shared.events import DomainEvent, EventMetadata, RecordedEvent
from shared.eventstore import fold
from shared.logging import get_logger
from shared.reaction import Emit, Guard, Reaction
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


class ReviewHandlers:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
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


# The nomination feed (consumer `review-nomination`) ---------------------------------------
#
# A batch of nomination events is projected into `candidates` (`apply_nomination_feed`, which
# the audit replays alone), and every candidate it changed is recorded in the review of its
# round (CandidateRecorded), all in the consumer's transaction: one append per round touched.
# A ConcurrencyError (a command appended to the round's review meanwhile) is decided again on
# the newer state by the reaction path.


def _changed_rounds(
    changed: Changed, envelope: RecordedEvent, event: DomainEvent
) -> dict[str, ReviewState]:
    rounds = {row["round_id"] for row in changed.get(envelope.event_id, ())}
    window = _unit_window(event)
    if window is not None:
        rounds.add(window[0])
    return {review_stream_id(r): initial_state(r) for r in rounds}


def _record_changed(
    changed: Changed, envelope: RecordedEvent, event: DomainEvent, states: Mapping[str, ReviewState]
) -> list[Emit | Guard]:
    """The candidates the event changed, recorded in their round's review (and a unit let in
    again after the close, or its window shutting)."""
    by_round: dict[str, list[Candidate]] = {}
    for row in changed.get(envelope.event_id, ()):
        by_round.setdefault(row["round_id"], []).append(candidate_from_row(row))
    window = _unit_window(event)
    if window is not None:
        by_round.setdefault(window[0], [])
    emits: list[Emit | Guard] = []
    for round_id, candidates in by_round.items():
        state = states[review_stream_id(round_id)]
        events: list[ReviewEvent] = [e for c in candidates for e in record_candidate(state, c)]
        if window is not None and window[0] == round_id:
            events += record_unit_window(fold(evolve, state, events), window[1], window[2])
        if events:
            emits.append(Emit(review_stream_id(round_id), events))
    return emits


def _feed_metadata(envelope: RecordedEvent) -> EventMetadata:
    return EventMetadata(
        actor=FEED_ACTOR,
        correlation_id=envelope.metadata.correlation_id,
        causation_id=str(envelope.event_id),
    )


NOMINATION_REACTION: Reaction[ReviewState, Changed] = Reaction(
    evolve=evolve,
    streams=_changed_rounds,
    decide=_record_changed,
    metadata=_feed_metadata,
    prepare=apply_nomination_feed,
)


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
