"""The review service's published events: audit, panel, scores, decision, notice, result.

One stream per round, `review-<round_id>`, holds them all. Subjects are
`flowers.evt.review.<EventType>`. Datetimes are timezone-aware; scores are Decimal,
serialised as strings. Every event carries its `round_id`. ResultPublished and
WinnerRevoked carry everything rewards and publicity need, so nobody calls back.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import MeasurableResult
from shared.events import DomainEvent, EventRegistry
from shared.personal_data import PersonalFields
from shared.rounds import RoundId


def review_stream_id(round_id: str) -> str:
    """The event stream of one round's review."""
    return f"review-{round_id}"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReviewEvent(DomainEvent):
    service: ClassVar[str] = "review"

    round_id: RoundId


# --- Candidates: nominations as the review knows them ------------------------------------------

CandidateStatus = Literal["submitted", "closed", "withdrawn"]


class Candidate(_Value):
    """A nomination fed in from the nomination service's events (the adapter maps them).

    `status`: "submitted" (open for amendment), "closed" (standing when the round closed),
    "withdrawn" (by the unit: it can no longer be reviewed).
    The nominee's snapshot and deeds are sealed under the nominee's key (personal data).
    """

    personal_data: ClassVar[PersonalFields] = PersonalFields("nominee.employee_no", ("deeds",))

    nomination_id: UUID
    round_id: RoundId
    category: Category
    nominee: NomineeSnapshot
    deeds: str
    results: tuple[MeasurableResult, ...] = ()
    submitted_by: str
    status: CandidateStatus = "submitted"


class CandidateRecorded(ReviewEvent):
    """The review took note of a nomination, or of a change to it (new full content)."""

    candidate: Candidate


class UnitWindowRecorded(ReviewEvent):
    """The review took note that the office let a unit nominate again in the closed round,
    until `open_until` (RoundReopenedForUnit), or that this unit's window has shut
    (`open_until` None, UnitNominationsClosed). While any unit's window is open, nothing of
    the round is decided and no notice starts."""

    unit_code: str
    open_until: AwareDatetime | None


# --- Eligibility audit by the office ------------------------------------------------------------


class NominationAccepted(ReviewEvent):
    nomination_id: UUID
    category: Category
    accepted_by: str


class NominationRejected(ReviewEvent):
    """`reason` is shown to the nominating unit."""

    nomination_id: UUID
    category: Category
    reason: str
    rejected_by: str


# --- Panel and scores ---------------------------------------------------------------------------


class PanelistAssigned(ReviewEvent):
    """`panelist_id` is the panelist's user id (the gateway's actor id); their employee
    number and name are sealed under their own key (personal data)."""

    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no", ("name",))

    panelist_id: str
    employee_no: str
    name: str
    department: str
    unit_code: str | None  # the panelist's own unit, for conflicts of interest
    assigned_by: str


class PanelistRemoved(ReviewEvent):
    """The panelist's scores stop counting in rankings not yet decided (they stay in the log)."""

    panelist_id: str
    reason: str
    removed_by: str


class PanelistReminded(ReviewEvent):
    """The office reminded a panelist of the nominations still waiting for their score
    (`waiting`: how many at that moment); sending the reminder itself is not the review's."""

    panelist_id: str
    waiting: int
    reminded_by: str
    reminded_at: AwareDatetime


class ScoreSubmitted(ReviewEvent):
    """A panelist's score sheet; `revision` 1 is the first, each revision replaces the last."""

    nomination_id: UUID
    category: Category
    panelist_id: str
    department: str
    criteria: dict[str, Decimal]
    total: Decimal  # weighted by the rubric in force, 0–100
    revision: int
    comment: str | None
    submitted_at: AwareDatetime


class NominationVetoed(ReviewEvent):
    """The discipline-inspection side's veto (一票否决): the nomination cannot win."""

    nomination_id: UUID
    category: Category
    reason: str
    vetoed_by: str


# --- Decision -----------------------------------------------------------------------------------


class RankingEntry(_Value):
    """One line of the ranking as it stood when the decision froze it."""

    nomination_id: UUID
    rank: int | None  # None: not eligible to win
    score: Decimal | None  # the aggregated score the ranking orders by
    aggregation: Literal["mean", "trimmed_mean"] | None
    plain_mean: Decimal | None
    raw_mean: Decimal | None
    score_count: int
    department_count: int
    excluded: Literal["vetoed", "insufficient_scores"] | None
    tie_break: str | None  # which tie-break rule put it below an equal score


class RankingMethod(_Value):
    rubric: dict[str, Decimal]
    zscore: bool
    min_scores: int  # scores from this many different departments make a nomination rankable
    trim_from: int  # from this many scores on, one highest and one lowest are dropped
    tie_break_order: tuple[str, ...]


class WinnersDecided(ReviewEvent):
    """The leader's decision for one category; it freezes that category's ranking."""

    category: Category
    winners: tuple[UUID, ...]  # in ranking order
    ranking: tuple[RankingEntry, ...]
    method: RankingMethod
    off_ranking_reason: str | None  # written when the winners are not the ranking's top
    decided_by: str
    decided_at: AwareDatetime


# --- Public notice (公示) and objections --------------------------------------------------------


class NoticeWinner(_Value):
    category: Category
    nomination_id: UUID
    nominee: NomineeSnapshot


class PublicNoticeStarted(ReviewEvent):
    """Provisional winners announced; objections are accepted while starts_at <= t <= ends_at.

    Working days are counted from the day after `starts_at`'s date (Asia/Shanghai);
    `ends_at` is the last instant of `last_day`. `calendar_fallback_years` lists years the
    official holiday schedule did not cover (weekends and configured holidays were used).
    """

    notice_no: int  # 1, 2, … within the round
    occasion: Literal["decision", "replacement"]
    categories: tuple[Category, ...]
    winners: tuple[NoticeWinner, ...]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    working_days: int
    first_day: date
    last_day: date
    calendar_fallback_years: tuple[int, ...] = ()
    started_by: str


class ObjectionRaisedV1(ReviewEvent):
    """Version 1 of ObjectionRaised, as logs written before version 2 hold it (never emitted
    now): the objector named by user id only, their name and text in clear. The upcaster
    names the objector's data subject by that user id (`user:<raised_by>`)."""

    event_type: ClassVar[str] = "ObjectionRaised"
    schema_version: ClassVar[int] = 1

    objection_no: int
    nomination_id: UUID
    category: Category
    raised_by: str
    raiser_name: str
    text: str
    raised_at: AwareDatetime


def objector_subject(raised_by: str, employee_no: str | None) -> str:
    """Whose key seals an objector's name and text: their employee number from the signed
    identity, or `user:<user id>` for an account without one (no directory entry)."""
    return employee_no or f"user:{raised_by}"


class ObjectionRaised(ReviewEvent):
    """A real-name objection (实名) about a provisional winner (version 2).

    Version 2 adds `raiser_subject`, the objector's data subject (`objector_subject`: their
    employee number, or `user:<raised_by>`); their name and the text are sealed under that
    subject's key (personal data), so the retention job or an erasure shreds them. The
    objection's number, nomination, category, user id and time stay readable."""

    schema_version: ClassVar[int] = 2
    personal_data: ClassVar[PersonalFields] = PersonalFields(
        "raiser_subject", ("raiser_name", "text")
    )

    objection_no: int  # 1, 2, … within the round
    nomination_id: UUID
    category: Category
    raised_by: str  # the signed-in user's id
    raiser_subject: str  # their employee number, or user:<raised_by> (sealed, identifying)
    raiser_name: str  # their real name
    text: str
    raised_at: AwareDatetime


class ObjectionNoteRecorded(ReviewEvent):
    objection_no: int
    note: str
    recorded_by: str
    recorded_at: AwareDatetime


class ObjectionResolved(ReviewEvent):
    objection_no: int
    nomination_id: UUID
    outcome: Literal["dismissed", "upheld"]
    resolution: str
    resolved_by: str
    resolved_at: AwareDatetime


class WinnerRemoved(ReviewEvent):
    """A provisional winner taken off the list because an objection against them was upheld."""

    category: Category
    nomination_id: UUID
    objection_no: int
    reason: str
    removed_by: str


class ReplacementNamed(ReviewEvent):
    """The leader fills a removed winner's place; a new notice for that category follows."""

    category: Category
    nomination_id: UUID
    replaces: UUID
    off_ranking_reason: str | None
    named_by: str


# --- Result ------------------------------------------------------------------------------------


class PublishedWinner(_Value):
    personal_data: ClassVar[PersonalFields] = PersonalFields(
        "employee_no", ("name", "position", "deeds")
    )

    category: Category
    nomination_id: UUID
    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    position: str
    deeds: str
    results: tuple[MeasurableResult, ...]
    score: Decimal  # the aggregated score from the frozen ranking


class ResultPublished(ReviewEvent):
    """The final result: the notice is over and no objection is open. Rewards pay from this.

    `categories` lists every decided category, including one left without a winner.
    """

    categories: tuple[Category, ...]
    winners: tuple[PublishedWinner, ...]
    published_by: str
    published_at: AwareDatetime


class WinnerRevoked(ReviewEvent):
    """A published winner's award revoked (misconduct found later)."""

    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no", ("name",))

    category: Category
    nomination_id: UUID
    employee_no: str
    name: str
    reason: str
    revoked_by: str
    revoked_at: AwareDatetime


registry = EventRegistry(
    [
        CandidateRecorded,
        UnitWindowRecorded,
        NominationAccepted,
        NominationRejected,
        PanelistAssigned,
        PanelistRemoved,
        PanelistReminded,
        ScoreSubmitted,
        NominationVetoed,
        WinnersDecided,
        PublicNoticeStarted,
        ObjectionRaised,
        ObjectionNoteRecorded,
        ObjectionResolved,
        WinnerRemoved,
        ReplacementNamed,
        ResultPublished,
        WinnerRevoked,
    ]
)


@registry.upcaster(ObjectionRaised.event_type, from_version=1)
def _objection_raised_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 knew the objector by user id only: that names their data subject."""
    v1 = ObjectionRaisedV1.model_validate(data)
    return {**v1.to_data(), "raiser_subject": objector_subject(v1.raised_by, None)}
