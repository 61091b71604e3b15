"""The review of one round: state, decide functions and evolve — pure.

One stream per round, `review-<round_id>` (`review_stream_id`). Its state holds the
candidates (nominations fed in by the adapter with `record_candidate`), the panel, the
scores, the vetoes, the decisions per category, the notices, the objections and the
result. Every decide function is `(state, command, now, policy) -> list[event]` and
raises a `ReviewError` (errors.py); `decide` dispatches on the command's type. Time comes
in as `now`, policy values as `ReviewPolicy`: nothing here reads a clock or settings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal, TypeVar, assert_never
from uuid import UUID

from services.review import aggregation
from services.review.aggregation import TRIM_FROM, PanelScore, Rubric, RubricError
from services.review.errors import (
    AlreadyAnnounced,
    AlreadyAssigned,
    AlreadyAudited,
    AlreadyDecided,
    AlreadyPublished,
    AlreadyRevoked,
    AlreadyVetoed,
    ConflictOfInterest,
    InsufficientScores,
    InvalidScore,
    NominationsStillOpen,
    NominationWithdrawn,
    NotAccepted,
    NotAPanelist,
    NotAWinner,
    NotDecided,
    NotEligible,
    NothingToAnnounce,
    NothingToPublish,
    NothingToScore,
    NoticeNotRunning,
    NoticeNotStarted,
    NoticeRunning,
    NotPermitted,
    NotPublished,
    NoVacancy,
    ObjectionClosed,
    ObjectionOpen,
    QuotaExceeded,
    RankingFrozen,
    ReasonRequired,
    UnknownNomination,
    UnknownObjection,
    UnknownPanelist,
    Vetoed,
    WrongCategory,
    WrongRound,
)
from shared.calendar import WorkingCalendar
from shared.contracts.common import Category
from shared.contracts.review import (
    Candidate,
    CandidateRecorded,
    NominationAccepted,
    NominationRejected,
    NominationVetoed,
    NoticeWinner,
    ObjectionNoteRecorded,
    ObjectionRaised,
    ObjectionResolved,
    PanelistAssigned,
    PanelistReminded,
    PanelistRemoved,
    PublicNoticeStarted,
    PublishedWinner,
    RankingEntry,
    RankingMethod,
    ReplacementNamed,
    ResultPublished,
    ReviewEvent,
    ScoreSubmitted,
    UnitWindowRecorded,
    WinnerRemoved,
    WinnerRevoked,
    WinnersDecided,
    objector_subject,
    review_stream_id,
)
from shared.contracts.review_commands import (
    AcceptNomination,
    AssignPanelist,
    Command,
    DecideWinners,
    NameReplacement,
    PublishResult,
    RaiseObjection,
    RecordObjectionNote,
    RejectNomination,
    RemindPanelist,
    RemovePanelist,
    ResolveObjection,
    ReviewCommand,
    RevokeWinner,
    Role,
    StartNotice,
    SubmitScore,
    VetoNomination,
)
from shared.events import DomainEvent
from shared.pmap import PMap

__all__ = ["Candidate", "decide", "evolve", "initial_state", "review_stream_id"]

# --- Policy --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewPolicy:
    """Every review default is a setting; the adapter builds this from settings."""

    min_scores: int = 3  # scores from this many different departments make it rankable
    winners_per_category: int = 1
    notice_working_days: int = 5
    zscore: bool = False
    trim_from: int = TRIM_FROM
    rubric: Rubric = field(default_factory=Rubric)
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    # A flower's own rubric, where it has one; every other flower is scored on `rubric`.
    rubrics: Mapping[Category, Rubric] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.min_scores < 1 or self.winners_per_category < 1 or self.notice_working_days < 1:
            raise ValueError("min_scores, winners_per_category, notice_working_days must be >= 1")

    def rubric_for(self, category: Category) -> Rubric:
        """The rubric a nomination in `category` is scored on."""
        return self.rubrics.get(category, self.rubric)


# --- State ---------------------------------------------------------------------------------------

AuditStatus = Literal["pending", "accepted", "rejected"]
ObjectionStatus = Literal["open", "dismissed", "upheld"]


@dataclass(frozen=True)
class CandidateState:
    candidate: Candidate
    audit: AuditStatus = "pending"
    rejection_reason: str | None = None
    veto_reason: str | None = None

    @property
    def nomination_id(self) -> UUID:
        return self.candidate.nomination_id

    @property
    def category(self) -> Category:
        return self.candidate.category

    @property
    def withdrawn(self) -> bool:
        return self.candidate.status == "withdrawn"

    @property
    def vetoed(self) -> bool:
        return self.veto_reason is not None

    @property
    def in_review(self) -> bool:
        """Accepted and not withdrawn: it is scored and ranked."""
        return self.audit == "accepted" and not self.withdrawn


@dataclass(frozen=True)
class Panelist:
    panelist_id: str
    employee_no: str
    name: str
    department: str
    unit_code: str | None
    active: bool = True


@dataclass(frozen=True)
class Score:
    nomination_id: UUID
    panelist_id: str
    department: str
    criteria: Mapping[str, Decimal]
    total: Decimal
    revision: int
    comment: str | None
    submitted_at: datetime


@dataclass(frozen=True)
class Decision:
    category: Category
    winners: tuple[UUID, ...]
    ranking: tuple[RankingEntry, ...]
    method: RankingMethod
    off_ranking_reason: str | None
    decided_by: str
    decided_at: datetime

    def entry(self, nomination_id: UUID) -> RankingEntry | None:
        return next((e for e in self.ranking if e.nomination_id == nomination_id), None)


@dataclass(frozen=True)
class Notice:
    notice_no: int
    categories: tuple[Category, ...]
    starts_at: datetime
    ends_at: datetime

    def is_running(self, now: datetime) -> bool:
        return self.starts_at <= now <= self.ends_at

    def has_ended(self, now: datetime) -> bool:
        return now > self.ends_at


@dataclass(frozen=True)
class Objection:
    objection_no: int
    nomination_id: UUID
    category: Category
    raised_by: str
    raiser_name: str
    text: str
    raised_at: datetime
    notes: tuple[str, ...] = ()
    status: ObjectionStatus = "open"
    resolution: str | None = None


@dataclass(frozen=True)
class ReviewState:
    round_id: str
    candidates: Mapping[UUID, CandidateState] = field(default_factory=dict)
    panel: Mapping[str, Panelist] = field(default_factory=dict)
    scores: Mapping[tuple[UUID, str], Score] = field(default_factory=dict)
    decisions: Mapping[Category, Decision] = field(default_factory=dict)
    winners: Mapping[Category, tuple[UUID, ...]] = field(default_factory=dict)  # provisional
    vacancies: Mapping[Category, tuple[UUID, ...]] = field(default_factory=dict)  # removed
    removed: frozenset[UUID] = frozenset()
    notices: tuple[Notice, ...] = ()
    objections: Mapping[int, Objection] = field(default_factory=dict)
    result: ResultPublished | None = None
    revoked: frozenset[UUID] = frozenset()
    open_units: Mapping[str, datetime] = field(default_factory=dict)
    """Units the office let in again after the close, each until its deadline, while open."""

    @property
    def stream_id(self) -> str:
        return review_stream_id(self.round_id)

    @property
    def published(self) -> bool:
        return self.result is not None

    @property
    def nominations_closed(self) -> bool:
        """Whether the nomination service has closed the round (for every unit).

        Its NominationsClosed turns every standing nomination to "closed" in one event, and
        nothing else does: one closed candidate is the proof. A round whose every nomination
        was withdrawn has none, and nothing to decide. A unit the office let in again keeps
        the round open until its own window shuts.
        """
        closed = any(c.candidate.status == "closed" for c in self.candidates.values())
        return closed and not self.open_units

    def latest_notice(self, category: Category) -> Notice | None:
        return next((n for n in reversed(self.notices) if category in n.categories), None)

    def open_objections(self) -> tuple[Objection, ...]:
        return tuple(o for o in self.objections.values() if o.status == "open")

    def active_scores(self) -> tuple[Score, ...]:
        """Scores that count: by a panelist still on the panel, on a nomination in review."""
        return tuple(
            s
            for s in self.scores.values()
            if (p := self.panel.get(s.panelist_id)) is not None
            and p.active
            and (c := self.candidates.get(s.nomination_id)) is not None
            and c.in_review
        )


@functools.lru_cache(maxsize=1024)
def initial_state(round_id: str) -> ReviewState:
    """A round's review before its first event (one value per round: states are immutable,
    and the nomination feed names a round's initial state for every event it consumes)."""
    return ReviewState(round_id=round_id)


# --- Queries (pure) ------------------------------------------------------------------------------

OVERSEERS = frozenset({Role.OFFICE, Role.LEADER, Role.DEPUTY_LEADER, Role.DISCIPLINE})


def visible_scores(
    state: ReviewState,
    nomination_id: UUID,
    viewer: str,
    viewer_roles: Collection[str] = frozenset(),
) -> tuple[Score, ...]:
    """The scores of a nomination that `viewer` may see (no anchoring).

    A panelist sees none — not even the count — until they have submitted their own score
    on that nomination, then all of them. Someone not on the panel sees them all if they
    oversee the review (office, leader, deputy leader, discipline inspection), none otherwise.
    """
    scores = tuple(
        sorted(
            (s for s in state.active_scores() if s.nomination_id == nomination_id),
            key=lambda s: s.panelist_id,
        )
    )
    if viewer in state.panel:
        return scores if (nomination_id, viewer) in state.scores else ()
    return scores if OVERSEERS & set(viewer_roles) else ()


def current_ranking(
    state: ReviewState, category: Category, policy: ReviewPolicy
) -> aggregation.Ranking:
    """The category's ranking from the scores as they stand (frozen ones are in decisions)."""
    in_category = [
        str(c.nomination_id)
        for c in state.candidates.values()
        if c.in_review and c.category == category
    ]
    vetoed = {str(c.nomination_id) for c in state.candidates.values() if c.vetoed}
    scores = [
        PanelScore(str(s.nomination_id), s.panelist_id, s.department, s.total)
        for s in state.active_scores()
    ]
    return aggregation.rank(
        in_category,
        scores,
        min_scores=policy.min_scores,
        zscore=policy.zscore,
        trim_from=policy.trim_from,
        vetoed=vetoed,
    )


# --- Deciding: guards ----------------------------------------------------------------------------

_LEADERS = frozenset({Role.LEADER, Role.DEPUTY_LEADER})
_OFFICE = frozenset({Role.OFFICE})


def _require_role(cmd: ReviewCommand, roles: frozenset[Role], action: str, action_zh: str) -> None:
    if not roles & cmd.roles:
        raise NotPermitted(action=action, action_zh=action_zh, roles=sorted(roles))


def _check_round(state: ReviewState, cmd: ReviewCommand) -> None:
    if cmd.round_id != state.round_id:
        raise WrongRound(given=cmd.round_id, expected=state.round_id)


def _not_published(state: ReviewState) -> None:
    if state.published:
        raise AlreadyPublished(round_id=state.round_id)


def _candidate(state: ReviewState, nomination_id: UUID) -> CandidateState:
    found = state.candidates.get(nomination_id)
    if found is None:
        raise UnknownNomination(nomination_id=nomination_id)
    if found.withdrawn:
        raise NominationWithdrawn(nomination_id=nomination_id)
    return found


def _nominations_closed(state: ReviewState) -> None:
    """The campaign's order: no decision and no notice while a unit may still nominate."""
    if not state.nominations_closed:
        raise NominationsStillOpen(round_id=state.round_id)


def _not_frozen(state: ReviewState, category: Category) -> None:
    if category in state.decisions:
        raise RankingFrozen(category=category)


def _office_acts(state: ReviewState, cmd: ReviewCommand, action: str, action_zh: str) -> None:
    _check_round(state, cmd)
    _require_role(cmd, _OFFICE, action, action_zh)
    _not_published(state)


# --- Deciding: the candidates (fed by the adapter) -----------------------------------------------


def record_candidate(state: ReviewState, candidate: Candidate) -> list[ReviewEvent]:
    """Note a nomination or a change to it; nothing when the review already has this content."""
    if candidate.round_id != state.round_id:
        raise WrongRound(given=candidate.round_id, expected=state.round_id)
    known = state.candidates.get(candidate.nomination_id)
    if known is not None and known.candidate == candidate:
        return []
    return [CandidateRecorded(round_id=state.round_id, candidate=candidate)]


def record_unit_window(
    state: ReviewState, unit_code: str, open_until: datetime | None
) -> list[ReviewEvent]:
    """Note that a unit may nominate again until `open_until`, or (None) that its window
    shut; nothing when the review already knows."""
    if state.open_units.get(unit_code) == open_until:
        return []
    return [UnitWindowRecorded(round_id=state.round_id, unit_code=unit_code, open_until=open_until)]


# --- Deciding: audit and panel -------------------------------------------------------------------


def accept_nomination(
    state: ReviewState, cmd: AcceptNomination, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _office_acts(state, cmd, "audit nominations", "审核推荐")
    c = _candidate(state, cmd.nomination_id)
    if c.audit != "pending":
        raise AlreadyAudited(nomination_id=cmd.nomination_id, audit=c.audit)
    _not_frozen(state, c.category)
    return [
        NominationAccepted(
            round_id=state.round_id,
            nomination_id=cmd.nomination_id,
            category=c.category,
            accepted_by=cmd.actor,
        )
    ]


def reject_nomination(
    state: ReviewState, cmd: RejectNomination, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _office_acts(state, cmd, "audit nominations", "审核推荐")
    c = _candidate(state, cmd.nomination_id)
    if c.audit != "pending":
        raise AlreadyAudited(nomination_id=cmd.nomination_id, audit=c.audit)
    _not_frozen(state, c.category)
    return [
        NominationRejected(
            round_id=state.round_id,
            nomination_id=cmd.nomination_id,
            category=c.category,
            reason=cmd.reason,
            rejected_by=cmd.actor,
        )
    ]


def assign_panelist(
    state: ReviewState, cmd: AssignPanelist, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _office_acts(state, cmd, "assign panelists", "指定评委")
    known = state.panel.get(cmd.panelist_id)
    if known is not None and known.active:
        raise AlreadyAssigned(panelist_id=cmd.panelist_id)
    return [
        PanelistAssigned(
            round_id=state.round_id,
            panelist_id=cmd.panelist_id,
            employee_no=cmd.employee_no,
            name=cmd.name,
            department=cmd.department,
            unit_code=cmd.unit_code,
            assigned_by=cmd.actor,
        )
    ]


def remove_panelist(
    state: ReviewState, cmd: RemovePanelist, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _office_acts(state, cmd, "remove panelists", "撤换评委")
    known = state.panel.get(cmd.panelist_id)
    if known is None or not known.active:
        raise UnknownPanelist(panelist_id=cmd.panelist_id)
    return [
        PanelistRemoved(
            round_id=state.round_id,
            panelist_id=cmd.panelist_id,
            reason=cmd.reason,
            removed_by=cmd.actor,
        )
    ]


def waiting_for(state: ReviewState, panelist: Panelist) -> list[UUID]:
    """The nominations waiting for this panelist's score: in review, not vetoed, its
    category not yet decided, no conflict of interest, not scored by them yet."""
    return [
        c.nomination_id
        for c in state.candidates.values()
        if c.in_review
        and not c.vetoed
        and c.category not in state.decisions
        and (c.nomination_id, panelist.panelist_id) not in state.scores
        and conflict_of_interest(panelist, c.candidate) is None
    ]


def remind_panelist(
    state: ReviewState, cmd: RemindPanelist, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _office_acts(state, cmd, "remind panelists", "提醒评委")
    panelist = state.panel.get(cmd.panelist_id)
    if panelist is None or not panelist.active:
        raise UnknownPanelist(panelist_id=cmd.panelist_id)
    waiting = waiting_for(state, panelist)
    if not waiting:
        raise NothingToScore(name=panelist.name)
    return [
        PanelistReminded(
            round_id=state.round_id,
            panelist_id=panelist.panelist_id,
            waiting=len(waiting),
            reminded_by=cmd.actor,
            reminded_at=now,
        )
    ]


# --- Deciding: scores and vetoes -----------------------------------------------------------------


def conflict_of_interest(panelist: Panelist, candidate: Candidate) -> str | None:
    """Why `panelist` may not score `candidate`, or None.

    `submitted_by` is compared with both the panelist's user id and employee number: the
    nomination service may record either, and a missed conflict costs more than a false one.
    """
    if panelist.employee_no == candidate.nominee.employee_no:
        return "self"
    if candidate.submitted_by in (panelist.panelist_id, panelist.employee_no):
        return "submitted_by_panelist"
    if panelist.unit_code is not None and panelist.unit_code == candidate.nominee.unit_code:
        return "own_unit"
    return None


def submit_score(
    state: ReviewState, cmd: SubmitScore, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _check_round(state, cmd)
    _not_published(state)
    panelist = state.panel.get(cmd.actor)
    if panelist is None or not panelist.active:
        raise NotAPanelist(actor=cmd.actor)
    c = _candidate(state, cmd.nomination_id)
    if c.audit != "accepted":
        raise NotAccepted(nomination_id=cmd.nomination_id)
    _not_frozen(state, c.category)
    conflict = conflict_of_interest(panelist, c.candidate)
    if conflict is not None:
        raise ConflictOfInterest(conflict, nomination_id=cmd.nomination_id)
    try:
        total = policy.rubric_for(c.category).weighted_total(cmd.criteria)
    except RubricError as e:
        raise InvalidScore(problem=str(e)) from e
    previous = state.scores.get((cmd.nomination_id, panelist.panelist_id))
    return [
        ScoreSubmitted(
            round_id=state.round_id,
            nomination_id=cmd.nomination_id,
            category=c.category,
            panelist_id=panelist.panelist_id,
            department=panelist.department,
            criteria=dict(cmd.criteria),
            total=total,
            revision=previous.revision + 1 if previous else 1,
            comment=cmd.comment or None,
            submitted_at=now,
        )
    ]


def veto_nomination(
    state: ReviewState, cmd: VetoNomination, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _check_round(state, cmd)
    _require_role(cmd, frozenset({Role.DISCIPLINE}), "veto a nomination", "否决推荐")
    _not_published(state)
    c = _candidate(state, cmd.nomination_id)
    if c.vetoed:
        raise AlreadyVetoed(nomination_id=cmd.nomination_id)
    _not_frozen(state, c.category)
    return [
        NominationVetoed(
            round_id=state.round_id,
            nomination_id=cmd.nomination_id,
            category=c.category,
            reason=cmd.reason,
            vetoed_by=cmd.actor,
        )
    ]


# --- Deciding: winners ---------------------------------------------------------------------------


def _entry_model(e: aggregation.RankedNomination) -> RankingEntry:
    return RankingEntry(
        nomination_id=UUID(e.nomination_id),
        rank=e.rank,
        score=e.score,
        aggregation=e.aggregation,
        plain_mean=e.plain_mean,
        raw_mean=e.raw_mean,
        score_count=e.score_count,
        department_count=e.department_count,
        excluded=e.excluded,
        tie_break=e.tie_break,
    )


def _check_rankable(
    state: ReviewState,
    nomination_id: UUID,
    category: Category,
    entry: RankingEntry | None,
    min_scores: int,
) -> None:
    """Refuse a nomination that cannot win in `category`, with the most specific reason."""
    c = _candidate(state, nomination_id)
    if c.category != category:
        raise WrongCategory(nomination_id=nomination_id, category=category)
    if c.audit != "accepted":
        raise NotAccepted(nomination_id=nomination_id)
    if c.vetoed or (entry is not None and entry.excluded == "vetoed"):
        raise Vetoed(nomination_id=nomination_id)
    if entry is None or entry.excluded is not None:
        raise InsufficientScores(nomination_id=nomination_id, min_scores=min_scores)


def decide_winners(
    state: ReviewState, cmd: DecideWinners, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _check_round(state, cmd)
    _require_role(cmd, _LEADERS, "decide winners", "确定当选人")
    _not_published(state)
    _nominations_closed(state)
    if cmd.category in state.decisions:
        raise AlreadyDecided(category=cmd.category)
    if len(cmd.winners) > policy.winners_per_category:
        raise QuotaExceeded(
            category=cmd.category,
            quota=policy.winners_per_category,
            chosen=len(cmd.winners),
        )
    ranking = current_ranking(state, cmd.category, policy)
    entries = tuple(_entry_model(e) for e in ranking.entries)
    by_id = {e.nomination_id: e for e in entries}
    for nomination_id in cmd.winners:
        entry = by_id.get(nomination_id)
        _check_rankable(state, nomination_id, cmd.category, entry, policy.min_scores)
    top = [e.nomination_id for e in entries if e.rank is not None][: len(cmd.winners)]
    if set(cmd.winners) != set(top) and not cmd.reason:
        raise ReasonRequired(category=cmd.category, ranking_top=[str(t) for t in top])
    winners = tuple(sorted(cmd.winners, key=lambda w: by_id[w].rank or 0))
    return [
        WinnersDecided(
            round_id=state.round_id,
            category=cmd.category,
            winners=winners,
            ranking=entries,
            method=RankingMethod(
                rubric=dict(policy.rubric_for(cmd.category).weights),
                zscore=ranking.method.zscore,
                min_scores=ranking.method.min_scores,
                trim_from=ranking.method.trim_from,
                tie_break_order=ranking.method.tie_break_order,
            ),
            off_ranking_reason=cmd.reason or None,
            decided_by=cmd.actor,
            decided_at=now,
        )
    ]


# --- Deciding: public notice and objections ------------------------------------------------------


def _notice_started(
    state: ReviewState,
    categories: tuple[Category, ...],
    winners: Mapping[Category, tuple[UUID, ...]],
    occasion: Literal["decision", "replacement"],
    actor: str,
    now: datetime,
    policy: ReviewPolicy,
) -> PublicNoticeStarted:
    window = policy.calendar.notice_window(now, policy.notice_working_days)
    return PublicNoticeStarted(
        round_id=state.round_id,
        notice_no=len(state.notices) + 1,
        occasion=occasion,
        categories=categories,
        winners=tuple(
            NoticeWinner(
                category=category,
                nomination_id=w,
                nominee=state.candidates[w].candidate.nominee,
            )
            for category in categories
            for w in winners.get(category, ())
        ),
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        working_days=window.working_days,
        first_day=window.first_day,
        last_day=window.last_day,
        calendar_fallback_years=tuple(sorted(window.fallback_years)),
        started_by=actor,
    )


def start_notice(
    state: ReviewState, cmd: StartNotice, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _check_round(state, cmd)
    _require_role(cmd, _OFFICE | _LEADERS, "start the public notice", "发布公示")
    _not_published(state)
    _nominations_closed(state)
    waiting = [c for c in Category if c in state.decisions and state.latest_notice(c) is None]
    if cmd.categories is not None:
        for category in cmd.categories:
            if category not in state.decisions:
                raise NotDecided(category=category)
            if state.latest_notice(category) is not None:
                raise AlreadyAnnounced(category=category)
        waiting = [c for c in Category if c in cmd.categories]
    if not waiting:
        raise NothingToAnnounce(round_id=state.round_id)
    return [
        _notice_started(state, tuple(waiting), state.winners, "decision", cmd.actor, now, policy)
    ]


def raise_objection(
    state: ReviewState, cmd: RaiseObjection, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _check_round(state, cmd)
    c = state.candidates.get(cmd.nomination_id)
    if c is None or cmd.nomination_id not in state.winners.get(c.category, ()):
        raise NotAWinner(nomination_id=cmd.nomination_id)
    notice = state.latest_notice(c.category)
    if notice is None or not notice.is_running(now):
        raise NoticeNotRunning(category=c.category)
    return [
        ObjectionRaised(
            round_id=state.round_id,
            objection_no=len(state.objections) + 1,
            nomination_id=cmd.nomination_id,
            category=c.category,
            raised_by=cmd.actor,
            raiser_subject=objector_subject(cmd.actor, cmd.actor_employee_no),
            raiser_name=cmd.raiser_name,
            text=cmd.text,
            raised_at=now,
        )
    ]


def _open_objection(state: ReviewState, objection_no: int) -> Objection:
    found = state.objections.get(objection_no)
    if found is None:
        raise UnknownObjection(objection_no=objection_no)
    if found.status != "open":
        raise ObjectionClosed(objection_no=objection_no)
    return found


def record_objection_note(
    state: ReviewState, cmd: RecordObjectionNote, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _office_acts(state, cmd, "investigate objections", "调查异议")
    _open_objection(state, cmd.objection_no)
    return [
        ObjectionNoteRecorded(
            round_id=state.round_id,
            objection_no=cmd.objection_no,
            note=cmd.note,
            recorded_by=cmd.actor,
            recorded_at=now,
        )
    ]


def resolve_objection(
    state: ReviewState, cmd: ResolveObjection, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    """Dismissed, or upheld: then the winner comes off the list (unless already off)."""
    _office_acts(state, cmd, "resolve objections", "处理异议")
    objection = _open_objection(state, cmd.objection_no)
    events: list[ReviewEvent] = [
        ObjectionResolved(
            round_id=state.round_id,
            objection_no=cmd.objection_no,
            nomination_id=objection.nomination_id,
            outcome=cmd.outcome,
            resolution=cmd.resolution,
            resolved_by=cmd.actor,
            resolved_at=now,
        )
    ]
    still_winning = objection.nomination_id in state.winners.get(objection.category, ())
    if cmd.outcome == "upheld" and still_winning:
        events.append(
            WinnerRemoved(
                round_id=state.round_id,
                category=objection.category,
                nomination_id=objection.nomination_id,
                objection_no=cmd.objection_no,
                reason=cmd.resolution,
                removed_by=cmd.actor,
            )
        )
    return events


def name_replacement(
    state: ReviewState, cmd: NameReplacement, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    """Fill a removed winner's place from the frozen ranking; a new notice for that category."""
    _check_round(state, cmd)
    _require_role(cmd, _LEADERS, "name a replacement", "确定替补人选")
    _not_published(state)
    vacancies = state.vacancies.get(cmd.category, ())
    decision = state.decisions.get(cmd.category)
    if not vacancies or decision is None:
        raise NoVacancy(category=cmd.category)
    current = state.winners.get(cmd.category, ())
    entry = decision.entry(cmd.nomination_id)
    _check_rankable(state, cmd.nomination_id, cmd.category, entry, decision.method.min_scores)
    if cmd.nomination_id in current:
        raise NotEligible(
            nomination_id=cmd.nomination_id, why="already a winner", why_zh="已是当选人"
        )
    if cmd.nomination_id in state.removed:
        raise NotEligible(
            nomination_id=cmd.nomination_id,
            why="removed after an objection",
            why_zh="已因异议成立被取消",
        )
    remaining = [
        e.nomination_id
        for e in decision.ranking
        if e.rank is not None
        and e.nomination_id not in current
        and e.nomination_id not in state.removed
        and not state.candidates[e.nomination_id].withdrawn
    ]
    if remaining[:1] != [cmd.nomination_id] and not cmd.reason:
        raise ReasonRequired(category=cmd.category, ranking_top=[str(r) for r in remaining])
    named = ReplacementNamed(
        round_id=state.round_id,
        category=cmd.category,
        nomination_id=cmd.nomination_id,
        replaces=vacancies[0],
        off_ranking_reason=cmd.reason or None,
        named_by=cmd.actor,
    )
    winners = {cmd.category: (*current, cmd.nomination_id)}
    notice = _notice_started(state, (cmd.category,), winners, "replacement", cmd.actor, now, policy)
    return [named, notice]


# --- Deciding: result ----------------------------------------------------------------------------


def publish_result(
    state: ReviewState, cmd: PublishResult, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    """Final once every decided category was announced, every notice ended, no objection open."""
    _office_acts(state, cmd, "publish the result", "发布评选结果")
    decided = [c for c in Category if c in state.decisions]
    if not decided:
        raise NothingToPublish(round_id=state.round_id)
    for category in decided:
        if state.latest_notice(category) is None:
            raise NoticeNotStarted(category=category)
    running = [n for n in state.notices if not n.has_ended(now)]
    if running:
        raise NoticeRunning(ends_at=max(n.ends_at for n in running).isoformat())
    open_ = state.open_objections()
    if open_:
        raise ObjectionOpen(objections=", ".join(str(o.objection_no) for o in open_))
    winners: list[PublishedWinner] = []
    for category in decided:
        decision = state.decisions[category]
        for nomination_id in state.winners.get(category, ()):
            candidate = state.candidates[nomination_id].candidate
            entry = decision.entry(nomination_id)
            assert entry is not None
            assert entry.score is not None
            winners.append(
                PublishedWinner(
                    category=category,
                    nomination_id=nomination_id,
                    employee_no=candidate.nominee.employee_no,
                    name=candidate.nominee.name,
                    unit_code=candidate.nominee.unit_code,
                    unit_name=candidate.nominee.unit_name,
                    position=candidate.nominee.position,
                    deeds=candidate.deeds,
                    results=candidate.results,
                    score=entry.score,
                )
            )
    return [
        ResultPublished(
            round_id=state.round_id,
            categories=tuple(decided),
            winners=tuple(winners),
            published_by=cmd.actor,
            published_at=now,
        )
    ]


def revoke_winner(
    state: ReviewState, cmd: RevokeWinner, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    _check_round(state, cmd)
    _require_role(cmd, _LEADERS, "revoke an award", "撤销荣誉")
    if state.result is None:
        raise NotPublished(round_id=state.round_id)
    winner = next((w for w in state.result.winners if w.nomination_id == cmd.nomination_id), None)
    if winner is None:
        raise NotAWinner(nomination_id=cmd.nomination_id)
    if cmd.nomination_id in state.revoked:
        raise AlreadyRevoked(nomination_id=cmd.nomination_id)
    return [
        WinnerRevoked(
            round_id=state.round_id,
            category=winner.category,
            nomination_id=winner.nomination_id,
            employee_no=winner.employee_no,
            name=winner.name,
            reason=cmd.reason,
            revoked_by=cmd.actor,
            revoked_at=now,
        )
    ]


def decide(
    state: ReviewState, cmd: Command, now: datetime, policy: ReviewPolicy
) -> list[ReviewEvent]:
    """Dispatch a command to its decide function."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    match cmd:
        case AcceptNomination():
            return accept_nomination(state, cmd, now, policy)
        case RejectNomination():
            return reject_nomination(state, cmd, now, policy)
        case AssignPanelist():
            return assign_panelist(state, cmd, now, policy)
        case RemovePanelist():
            return remove_panelist(state, cmd, now, policy)
        case RemindPanelist():
            return remind_panelist(state, cmd, now, policy)
        case SubmitScore():
            return submit_score(state, cmd, now, policy)
        case VetoNomination():
            return veto_nomination(state, cmd, now, policy)
        case DecideWinners():
            return decide_winners(state, cmd, now, policy)
        case StartNotice():
            return start_notice(state, cmd, now, policy)
        case RaiseObjection():
            return raise_objection(state, cmd, now, policy)
        case RecordObjectionNote():
            return record_objection_note(state, cmd, now, policy)
        case ResolveObjection():
            return resolve_objection(state, cmd, now, policy)
        case NameReplacement():
            return name_replacement(state, cmd, now, policy)
        case PublishResult():
            return publish_result(state, cmd, now, policy)
        case RevokeWinner():
            return revoke_winner(state, cmd, now, policy)
        case _:
            assert_never(cmd)


# --- Evolving ------------------------------------------------------------------------------------

K = TypeVar("K")
V = TypeVar("V")


# A state's maps grow with the round (candidates, scores): each change makes a new PMap that
# shares the old one's entries, so folding a round costs O(n·√n), not a dict copy per event.
def _put(mapping: Mapping[K, V], key: K, value: V) -> PMap[K, V]:
    return PMap.of(mapping).set(key, value)


def _update(mapping: Mapping[K, V], key: K, change: Callable[[V], V]) -> PMap[K, V]:
    return PMap.of(mapping).set(key, change(mapping[key]))


def evolve(state: ReviewState, event: DomainEvent) -> ReviewState:
    """Apply one event of the round's review stream; unknown events leave the state as is."""
    match event:
        case CandidateRecorded(candidate=candidate):
            known = state.candidates.get(candidate.nomination_id)
            entry = replace(known, candidate=candidate) if known else CandidateState(candidate)
            return replace(state, candidates=_put(state.candidates, candidate.nomination_id, entry))
        case UnitWindowRecorded(unit_code=unit_code, open_until=until):
            others = {u: d for u, d in state.open_units.items() if u != unit_code}
            return replace(
                state, open_units=others if until is None else {**others, unit_code: until}
            )
        case NominationAccepted(nomination_id=nid):
            return replace(
                state,
                candidates=_update(state.candidates, nid, lambda c: replace(c, audit="accepted")),
            )
        case NominationRejected(nomination_id=nid, reason=reason):
            return replace(
                state,
                candidates=_update(
                    state.candidates,
                    nid,
                    lambda c: replace(c, audit="rejected", rejection_reason=reason),
                ),
            )
        case NominationVetoed(nomination_id=nid, reason=reason):
            return replace(
                state,
                candidates=_update(state.candidates, nid, lambda c: replace(c, veto_reason=reason)),
            )
        case PanelistAssigned():
            panelist = Panelist(
                panelist_id=event.panelist_id,
                employee_no=event.employee_no,
                name=event.name,
                department=event.department,
                unit_code=event.unit_code,
            )
            return replace(state, panel=_put(state.panel, event.panelist_id, panelist))
        case PanelistRemoved(panelist_id=pid):
            return replace(
                state, panel=_update(state.panel, pid, lambda p: replace(p, active=False))
            )
        case ScoreSubmitted():
            score = Score(
                nomination_id=event.nomination_id,
                panelist_id=event.panelist_id,
                department=event.department,
                criteria=dict(event.criteria),
                total=event.total,
                revision=event.revision,
                comment=event.comment,
                submitted_at=event.submitted_at,
            )
            key = (event.nomination_id, event.panelist_id)
            return replace(state, scores=_put(state.scores, key, score))
        case WinnersDecided():
            decision = Decision(
                category=event.category,
                winners=event.winners,
                ranking=event.ranking,
                method=event.method,
                off_ranking_reason=event.off_ranking_reason,
                decided_by=event.decided_by,
                decided_at=event.decided_at,
            )
            return replace(
                state,
                decisions=_put(state.decisions, event.category, decision),
                winners=_put(state.winners, event.category, event.winners),
            )
        case PublicNoticeStarted():
            notice = Notice(event.notice_no, event.categories, event.starts_at, event.ends_at)
            return replace(state, notices=(*state.notices, notice))
        case ObjectionRaised():
            objection = Objection(
                objection_no=event.objection_no,
                nomination_id=event.nomination_id,
                category=event.category,
                raised_by=event.raised_by,
                raiser_name=event.raiser_name,
                text=event.text,
                raised_at=event.raised_at,
            )
            return replace(state, objections=_put(state.objections, event.objection_no, objection))
        case ObjectionNoteRecorded(objection_no=no, note=note):
            return replace(
                state,
                objections=_update(
                    state.objections, no, lambda o: replace(o, notes=(*o.notes, note))
                ),
            )
        case ObjectionResolved(objection_no=no, outcome=outcome, resolution=resolution):
            return replace(
                state,
                objections=_update(
                    state.objections,
                    no,
                    lambda o: replace(o, status=outcome, resolution=resolution),
                ),
            )
        case WinnerRemoved(category=category, nomination_id=nid):
            return replace(
                state,
                winners=_put(
                    state.winners,
                    category,
                    tuple(w for w in state.winners.get(category, ()) if w != nid),
                ),
                vacancies=_put(
                    state.vacancies, category, (*state.vacancies.get(category, ()), nid)
                ),
                removed=state.removed | {nid},
            )
        case ReplacementNamed(category=category, nomination_id=nid, replaces=replaced):
            return replace(
                state,
                winners=_put(state.winners, category, (*state.winners.get(category, ()), nid)),
                vacancies=_put(
                    state.vacancies,
                    category,
                    tuple(v for v in state.vacancies.get(category, ()) if v != replaced),
                ),
            )
        case ResultPublished():
            return replace(state, result=event)
        case WinnerRevoked(nomination_id=nid):
            return replace(state, revoked=state.revoked | {nid})
    return state
