"""The review of a round, rule by rule: given past events, when a command, then events or a refusal.

The story: round 2025-Q3. Striving Flower candidates A (unit U01), B (U02), C (U03) and D
(scored by two departments only); Reform Flower candidate R (U04). Five panelists from
five departments. A scores 90, B 80, C 70, R 85. The leader picks A and R; the office
announces them on Monday 2025-09-29, so the notice runs until 2025-10-13 23:59:59.999999
(the National Day holiday does not count).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest
from pydantic import ValidationError

from services.review.domain import (
    ReviewPolicy,
    ReviewState,
    decide,
    evolve,
    initial_state,
    record_candidate,
    record_unit_window,
    visible_scores,
)
from services.review.errors import ReviewError
from shared.calendar import WorkingCalendar, end_of_day
from shared.clock import SHANGHAI
from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import MeasurableResult
from shared.contracts.review import (
    Candidate,
    CandidateRecorded,
    NominationAccepted,
    NominationRejected,
    NominationVetoed,
    ObjectionNoteRecorded,
    ObjectionRaised,
    ObjectionResolved,
    PanelistAssigned,
    PanelistRemoved,
    PublicNoticeStarted,
    ReplacementNamed,
    ResultPublished,
    ReviewEvent,
    ScoreSubmitted,
    UnitWindowRecorded,
    WinnerRemoved,
    WinnerRevoked,
    WinnersDecided,
    registry,
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
    RemovePanelist,
    ResolveObjection,
    RevokeWinner,
    StartNotice,
    SubmitScore,
    VetoNomination,
)
from shared.events import DomainEvent
from shared.eventstore import fold
from shared.personal_data import marks

ROUND = "2025-Q3"
STRIVING, REFORM = Category.STRIVING, Category.REFORM
POLICY = ReviewPolicy()


def at(d: date, hour: int = 10) -> datetime:
    return datetime.combine(d, time(hour), tzinfo=SHANGHAI)


REVIEWING = at(date(2025, 9, 22))
ANNOUNCED = at(date(2025, 9, 29))  # Monday before National Day
DURING_NOTICE = at(date(2025, 10, 9))
LAST_INSTANT = datetime(2025, 10, 13, 23, 59, 59, 999999, tzinfo=SHANGHAI)
AFTER_NOTICE = at(date(2025, 10, 14))


def nid(name: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"nomination/{name}")


A, B, C, D, R = (nid(x) for x in "ABCDR")

OFFICE: dict[str, Any] = {"actor": "office-1", "roles": frozenset({"office"})}
LEADER: dict[str, Any] = {"actor": "leader-1", "roles": frozenset({"leader"})}
DISCIPLINE: dict[str, Any] = {"actor": "jijian-1", "roles": frozenset({"discipline"})}
DEPUTY: dict[str, Any] = {"actor": "deputy-1", "roles": frozenset({"deputy_leader"})}
STAFF: dict[str, Any] = {"actor": "staff-9", "roles": frozenset({"staff"})}

PANEL = {
    "p-go": ("E901", "general_office"),
    "p-fin": ("E902", "finance"),
    "p-em": ("E903", "enterprise_management"),
    "p-pm": ("E904", "party_mass"),
    "p-un": ("E905", "union"),
}


def candidate(
    nomination_id: UUID, category: Category, employee_no: str, unit: str, submitted_by: str
) -> Candidate:
    return Candidate(
        nomination_id=nomination_id,
        round_id=ROUND,
        category=category,
        nominee=NomineeSnapshot(
            employee_no=employee_no,
            name=f"员工{employee_no}",
            unit_code=unit,
            unit_name=f"单位{unit}",
            position="班长",
        ),
        deeds="带领班组攻坚克难，全年降本增效成绩突出。" * 3,
        results=(MeasurableResult(metric="cost saved", value=Decimal("120000"), unit="CNY"),),
        submitted_by=submitted_by,
        status="closed",
    )


CANDIDATES = (
    candidate(A, STRIVING, "E001", "U01", "u01-nominator"),
    candidate(B, STRIVING, "E002", "U02", "u02-nominator"),
    candidate(C, STRIVING, "E003", "U03", "u03-nominator"),
    candidate(D, STRIVING, "E004", "U05", "u05-nominator"),
    candidate(R, REFORM, "E010", "U04", "u04-nominator"),
)


def sheet(value: int) -> dict[str, Decimal]:
    v = Decimal(value)
    return {"achievements": v, "exemplary_role": v, "innovation": v, "recognition": v}


def score(panelist: str, nomination_id: UUID, value: int) -> SubmitScore:
    return SubmitScore(
        round_id=ROUND, actor=panelist, nomination_id=nomination_id, criteria=sheet(value)
    )


# --- The story, step by step -------------------------------------------------------------------


@dataclass
class Story:
    policy: ReviewPolicy = POLICY
    events: list[ReviewEvent] = field(default_factory=list)

    @property
    def state(self) -> ReviewState:
        return given(self.events)

    def then(self, cmd: Command, now: datetime = REVIEWING) -> Story:
        return Story(self.policy, [*self.events, *decide(self.state, cmd, now, self.policy)])

    def record(self, c: Candidate) -> Story:
        return Story(self.policy, [*self.events, *record_candidate(self.state, c)])


def given(events: Sequence[DomainEvent]) -> ReviewState:
    return fold(evolve, initial_state(ROUND), events)


@cache
def nominated() -> Story:
    story = Story()
    for c in CANDIDATES:
        story = story.record(c)
    for pid, (employee_no, department) in PANEL.items():
        story = story.then(
            AssignPanelist(
                round_id=ROUND,
                **OFFICE,
                panelist_id=pid,
                employee_no=employee_no,
                name=f"评委{pid}",
                department=department,
                unit_code="HQ",
            )
        )
    return story


@cache
def audited() -> Story:
    story = nominated()
    for c in CANDIDATES:
        story = story.then(
            AcceptNomination(round_id=ROUND, **OFFICE, nomination_id=c.nomination_id)
        )
    return story


@cache
def scored() -> Story:
    story = audited()
    for pid in ("p-go", "p-fin", "p-em"):
        for nomination_id, value in ((A, 90), (B, 80), (C, 70), (R, 85)):
            story = story.then(score(pid, nomination_id, value))
    for pid in ("p-go", "p-fin"):  # D: two departments only
        story = story.then(score(pid, D, 99))
    return story


@cache
def decided() -> Story:
    return (
        scored()
        .then(DecideWinners(round_id=ROUND, **LEADER, category=STRIVING, winners=(A,)))
        .then(DecideWinners(round_id=ROUND, **LEADER, category=REFORM, winners=(R,)))
    )


@cache
def announced() -> Story:
    return decided().then(StartNotice(round_id=ROUND, **OFFICE), ANNOUNCED)


def objection(nomination_id: UUID = A, name: str = "张三") -> RaiseObjection:
    return RaiseObjection(
        round_id=ROUND,
        **STAFF,
        nomination_id=nomination_id,
        raiser_name=name,
        text="该同事的业绩数据与班组台账不符。",
    )


@cache
def objected() -> Story:
    return announced().then(objection(), DURING_NOTICE)


def resolve(outcome: str, no: int = 1) -> ResolveObjection:
    return ResolveObjection.model_validate(
        {
            "round_id": ROUND,
            **OFFICE,
            "objection_no": no,
            "outcome": outcome,
            "resolution": "经核查台账，异议属实。" if outcome == "upheld" else "经核查，数据无误。",
        }
    )


@cache
def upheld() -> Story:
    return objected().then(resolve("upheld"), DURING_NOTICE)


@cache
def replaced() -> Story:
    return upheld().then(
        NameReplacement(round_id=ROUND, **LEADER, category=STRIVING, nomination_id=B),
        DURING_NOTICE,
    )


@cache
def published() -> Story:
    return announced().then(PublishResult(round_id=ROUND, **OFFICE), AFTER_NOTICE)


# --- The table runner --------------------------------------------------------------------------

Then = tuple[type[ReviewEvent], ...] | str


def check(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> list[ReviewEvent]:
    story = history()
    if isinstance(then, str):
        with pytest.raises(ReviewError) as refused:
            decide(story.state, when, now, story.policy)
        assert refused.value.code == then
        assert refused.value.message_zh
        assert refused.value.message_en
        return []
    events = decide(story.state, when, now, story.policy)
    assert tuple(type(e) for e in events) == then
    fold(evolve, story.state, events)  # the new events apply cleanly
    return events


def row(
    history: Callable[[], Story], when: Command, then: Then, now: datetime = REVIEWING, *, id: str
) -> object:
    return pytest.param(history, when, now, then, id=id)


def table_test(rows: list[object]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return pytest.mark.parametrize(("history", "when", "now", "then"), rows)


# --- Eligibility audit -------------------------------------------------------------------------


def withdrawn_a() -> Story:
    return nominated().record(CANDIDATES[0].model_copy(update={"status": "withdrawn"}))


@table_test(
    [
        row(
            nominated,
            AcceptNomination(round_id=ROUND, **OFFICE, nomination_id=A),
            (NominationAccepted,),
            id="the office accepts an eligible nomination",
        ),
        row(
            nominated,
            RejectNomination(round_id=ROUND, **OFFICE, nomination_id=A, reason="不符合条件"),
            (NominationRejected,),
            id="the office rejects a nomination with a reason",
        ),
        row(
            nominated,
            AcceptNomination(round_id=ROUND, **STAFF, nomination_id=A),
            "not_permitted",
            id="only the office audits",
        ),
        row(
            audited,
            RejectNomination(round_id=ROUND, **OFFICE, nomination_id=A, reason="x"),
            "already_audited",
            id="a nomination is audited once",
        ),
        row(
            withdrawn_a,
            AcceptNomination(round_id=ROUND, **OFFICE, nomination_id=A),
            "nomination_withdrawn",
            id="a withdrawn nomination is not audited",
        ),
        row(
            nominated,
            AcceptNomination(round_id=ROUND, **OFFICE, nomination_id=nid("nobody")),
            "unknown_nomination",
            id="an unknown nomination is not audited",
        ),
        row(
            nominated,
            AcceptNomination(round_id="2025-Q4", **OFFICE, nomination_id=A),
            "wrong_round",
            id="a command for another round is refused",
        ),
    ]
)
def test_the_office_audits_eligibility(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


def test_a_rejection_reason_is_kept_for_the_unit_and_cannot_be_blank() -> None:
    (event,) = check(
        nominated,
        RejectNomination(round_id=ROUND, **OFFICE, nomination_id=A, reason="事迹材料不全"),
        REVIEWING,
        (NominationRejected,),
    )
    assert isinstance(event, NominationRejected)
    assert event.reason == "事迹材料不全"
    with pytest.raises(ValidationError):
        RejectNomination(round_id=ROUND, **OFFICE, nomination_id=A, reason="  ")


def test_the_review_notes_a_candidate_once_and_again_when_it_changes() -> None:
    state = nominated().state
    assert record_candidate(state, CANDIDATES[0]) == []
    amended = CANDIDATES[0].model_copy(update={"deeds": "新的事迹" * 20})
    (event,) = record_candidate(state, amended)
    assert isinstance(event, CandidateRecorded)
    assert evolve(state, event).candidates[A].candidate.deeds == amended.deeds


# --- The panel ---------------------------------------------------------------------------------


def assign(pid: str, employee_no: str, department: str, unit: str | None, **actor: object):
    return AssignPanelist.model_validate(
        {
            "round_id": ROUND,
            **(actor or OFFICE),
            "panelist_id": pid,
            "employee_no": employee_no,
            "name": f"评委{pid}",
            "department": department,
            "unit_code": unit,
        }
    )


def p_fin_removed() -> Story:
    return audited().then(
        RemovePanelist(round_id=ROUND, **OFFICE, panelist_id="p-fin", reason="回避")
    )


@table_test(
    [
        row(
            audited,
            assign("p-new", "E906", "finance", "HQ"),
            (PanelistAssigned,),
            id="the office assigns a panelist with a department",
        ),
        row(
            audited,
            assign("p-go", "E901", "general_office", "HQ"),
            "already_assigned",
            id="a panelist is assigned once",
        ),
        row(
            audited,
            assign("p-new", "E906", "finance", "HQ", **LEADER),
            "not_permitted",
            id="only the office assigns panelists",
        ),
        row(
            audited,
            RemovePanelist(round_id=ROUND, **OFFICE, panelist_id="p-fin", reason="回避"),
            (PanelistRemoved,),
            id="the office removes a panelist",
        ),
        row(
            p_fin_removed,
            score("p-fin", A, 90),
            "not_a_panelist",
            id="a removed panelist no longer scores",
        ),
        row(
            audited,
            score("staff-9", A, 90),
            "not_a_panelist",
            id="only a panelist scores",
        ),
    ]
)
def test_the_office_forms_the_panel(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


# --- Conflicts of interest ---------------------------------------------------------------------


@cache
def conflicted_panel() -> Story:
    return (
        audited()
        .then(assign("p-u01", "E100", "union", "U01"))  # works in A's unit
        .then(assign("p-e002", "E002", "finance", "U02"))  # is B
        .then(assign("u03-nominator", "E300", "general_office", None))  # submitted C
    )


@table_test(
    [
        row(
            conflicted_panel,
            score("p-u01", B, 80),
            (ScoreSubmitted,),
            id="a panelist scores a nominee of another unit",
        ),
        row(
            conflicted_panel,
            score("p-u01", A, 80),
            "conflict_of_interest",
            id="a panelist cannot score a nominee of their own unit",
        ),
        row(
            conflicted_panel,
            score("p-e002", B, 100),
            "conflict_of_interest",
            id="a panelist cannot score themselves",
        ),
        row(
            conflicted_panel,
            score("u03-nominator", C, 80),
            "conflict_of_interest",
            id="a panelist cannot score a nomination they submitted",
        ),
    ]
)
def test_conflicts_of_interest_are_refused_by_the_domain(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


@pytest.mark.parametrize(
    ("panelist", "nomination_id", "conflict"),
    [
        ("p-u01", A, "own_unit"),
        ("p-e002", B, "self"),
        ("u03-nominator", C, "submitted_by_panelist"),
    ],
)
def test_a_conflict_of_interest_names_its_kind(
    panelist: str, nomination_id: UUID, conflict: str
) -> None:
    with pytest.raises(ReviewError) as refused:
        decide(conflicted_panel().state, score(panelist, nomination_id, 80), REVIEWING, POLICY)
    assert refused.value.details["conflict"] == conflict


# --- Scores: sheets, revisions, the freeze -----------------------------------------------------


@table_test(
    [
        row(audited, score("p-go", A, 90), (ScoreSubmitted,), id="a panelist scores"),
        row(
            nominated,
            score("p-go", A, 90),
            "not_accepted",
            id="a nomination not yet accepted is not scored",
        ),
        row(
            audited,
            SubmitScore(
                round_id=ROUND, actor="p-go", nomination_id=A, criteria={"achievements": Decimal(9)}
            ),
            "invalid_score",
            id="a score sheet must cover the rubric",
        ),
        row(
            audited,
            SubmitScore(
                round_id=ROUND,
                actor="p-go",
                nomination_id=A,
                criteria={**sheet(90), "innovation": Decimal(120)},
            ),
            "invalid_score",
            id="a criterion is scored 0 to 100",
        ),
        row(
            scored,
            score("p-go", A, 95),
            (ScoreSubmitted,),
            id="a score is revised before the decision",
        ),
        row(
            decided,
            score("p-go", A, 95),
            "ranking_frozen",
            id="a score cannot be revised once the decision froze the ranking",
        ),
    ]
)
def test_panelists_score_until_the_ranking_is_frozen(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


def test_a_revised_score_carries_its_revision_and_replaces_the_first() -> None:
    (event,) = check(scored, score("p-go", A, 60), REVIEWING, (ScoreSubmitted,))
    assert isinstance(event, ScoreSubmitted)
    assert (event.revision, event.total) == (2, Decimal("60.0000"))
    state = evolve(scored().state, event)
    assert state.scores[(A, "p-go")].total == Decimal(60)


def test_a_score_total_is_weighted_by_the_rubric() -> None:
    criteria = {
        "achievements": Decimal(90),
        "exemplary_role": Decimal(80),
        "innovation": Decimal(70),
        "recognition": Decimal(60),
    }
    cmd = SubmitScore(round_id=ROUND, actor="p-go", nomination_id=A, criteria=criteria)
    (event,) = check(audited, cmd, REVIEWING, (ScoreSubmitted,))
    assert isinstance(event, ScoreSubmitted)
    assert event.total == Decimal(80)  # (90*40 + 80*30 + 70*20 + 60*10) / 100
    assert event.department == "general_office"


def test_scores_are_never_floats() -> None:
    with pytest.raises(ValidationError):
        SubmitScore(round_id=ROUND, actor="p-go", nomination_id=A, criteria={"achievements": 0.1})


# --- Hidden scores -----------------------------------------------------------------------------


def test_a_panelist_sees_no_other_score_until_they_have_submitted_their_own() -> None:
    state = scored().state
    assert visible_scores(state, A, "p-pm") == ()  # p-pm has not scored A yet
    after = fold(evolve, state, decide(state, score("p-pm", A, 50), REVIEWING, POLICY))
    seen = visible_scores(after, A, "p-pm")
    assert sorted(s.panelist_id for s in seen) == ["p-em", "p-fin", "p-go", "p-pm"]


def test_the_office_sees_the_scores_and_other_staff_do_not() -> None:
    state = scored().state
    assert len(visible_scores(state, A, "office-1", {"office"})) == 3
    assert visible_scores(state, A, "staff-9", {"staff"}) == ()


# --- Discipline veto ---------------------------------------------------------------------------


def a_vetoed() -> Story:
    return scored().then(
        VetoNomination(round_id=ROUND, **DISCIPLINE, nomination_id=A, reason="违纪")
    )


@table_test(
    [
        row(
            scored,
            VetoNomination(round_id=ROUND, **DISCIPLINE, nomination_id=A, reason="违反廉洁纪律"),
            (NominationVetoed,),
            id="discipline inspection vetoes a nomination with a reason",
        ),
        row(
            scored,
            VetoNomination(round_id=ROUND, **OFFICE, nomination_id=A, reason="x"),
            "not_permitted",
            id="only discipline inspection vetoes",
        ),
        row(
            a_vetoed,
            VetoNomination(round_id=ROUND, **DISCIPLINE, nomination_id=A, reason="x"),
            "already_vetoed",
            id="a nomination is vetoed once",
        ),
        row(
            a_vetoed,
            DecideWinners(round_id=ROUND, **LEADER, category=STRIVING, winners=(A,), reason="x"),
            "vetoed",
            id="a vetoed nomination cannot win",
        ),
        row(
            a_vetoed,
            DecideWinners(round_id=ROUND, **LEADER, category=STRIVING, winners=(B,)),
            (WinnersDecided,),
            id="with the top vetoed the next one is the ranking's choice",
        ),
        row(
            decided,
            VetoNomination(round_id=ROUND, **DISCIPLINE, nomination_id=B, reason="x"),
            "ranking_frozen",
            id="a veto comes before the decision",
        ),
    ]
)
def test_discipline_inspection_may_veto(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


# --- The leader's decision ---------------------------------------------------------------------


def decide_striving(*winners: UUID, reason: str | None = None, **actor: object) -> DecideWinners:
    return DecideWinners.model_validate(
        {
            "round_id": ROUND,
            **(actor or LEADER),
            "category": STRIVING,
            "winners": winners,
            "reason": reason,
        }
    )


def scored_with_two_places() -> Story:
    return Story(ReviewPolicy(winners_per_category=2), scored().events)


@table_test(
    [
        row(scored, decide_striving(A), (WinnersDecided,), id="the leader picks the top"),
        row(
            scored,
            decide_striving(A, **DEPUTY),
            (WinnersDecided,),
            id="a deputy leader may decide",
        ),
        row(scored, decide_striving(A, **OFFICE), "not_permitted", id="only leaders decide"),
        row(scored, decide_striving(A, B), "quota_exceeded", id="no more winners than the quota"),
        row(
            scored_with_two_places,
            decide_striving(A, B),
            (WinnersDecided,),
            id="a larger quota is a policy value",
        ),
        row(
            scored,
            decide_striving(B),
            "reason_required",
            id="choosing outside the ranking's order requires a written reason",
        ),
        row(
            scored,
            decide_striving(B, reason="A已获上季度同类荣誉，组长会议决定"),
            (WinnersDecided,),
            id="choosing outside the ranking's order with a reason",
        ),
        row(
            scored,
            decide_striving(D, reason="x"),
            "insufficient_scores",
            id="a nomination scored by too few departments cannot win",
        ),
        row(scored, decide_striving(R), "wrong_category", id="a winner comes from its category"),
        row(decided, decide_striving(A), "already_decided", id="a category is decided once"),
    ]
)
def test_the_leader_decides_winners_per_category(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


def test_the_decision_keeps_the_ranking_and_its_method() -> None:
    (event,) = check(scored, decide_striving(A), REVIEWING, (WinnersDecided,))
    assert isinstance(event, WinnersDecided)
    assert event.winners == (A,)
    assert event.off_ranking_reason is None
    assert event.decided_at == REVIEWING
    assert [(e.nomination_id, e.rank, e.score, e.excluded) for e in event.ranking] == [
        (A, 1, Decimal(90), None),
        (B, 2, Decimal(80), None),
        (C, 3, Decimal(70), None),
        (D, None, Decimal(99), "insufficient_scores"),
    ]
    assert event.method.min_scores == 3
    assert event.method.rubric["achievements"] == Decimal(40)


def test_a_removed_panelists_scores_no_longer_count() -> None:
    story = scored().then(
        RemovePanelist(round_id=ROUND, **OFFICE, panelist_id="p-em", reason="回避")
    )
    # A, B, C now have two departments each: nobody is rankable.
    with pytest.raises(ReviewError) as refused:
        decide(story.state, decide_striving(A), REVIEWING, POLICY)
    assert refused.value.code == "insufficient_scores"


# --- The public notice -------------------------------------------------------------------------


@table_test(
    [
        row(
            decided,
            StartNotice(round_id=ROUND, **OFFICE),
            (PublicNoticeStarted,),
            ANNOUNCED,
            id="the office announces the decided winners",
        ),
        row(
            scored,
            StartNotice(round_id=ROUND, **OFFICE),
            "nothing_to_announce",
            ANNOUNCED,
            id="nothing is announced before a decision",
        ),
        row(
            announced,
            StartNotice(round_id=ROUND, **OFFICE),
            "nothing_to_announce",
            ANNOUNCED,
            id="a decision is announced once",
        ),
        row(
            decided,
            StartNotice(round_id=ROUND, **STAFF),
            "not_permitted",
            ANNOUNCED,
            id="staff do not announce",
        ),
    ]
)
def test_the_decided_winners_are_announced_publicly(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


# --- The campaign's order: nominations close before anything is decided ------------------------


def still_open(history: Callable[[], Story]) -> Callable[[], Story]:
    """The same story in a round whose nominations have not closed (no NominationsClosed yet:
    every candidate is still "submitted", open for amendment)."""

    def story() -> Story:
        base = history()
        events = [
            CandidateRecorded(
                round_id=e.round_id,
                candidate=e.candidate.model_copy(update={"status": "submitted"}),
            )
            if isinstance(e, CandidateRecorded)
            else e
            for e in base.events
        ]
        return Story(base.policy, events)

    return story


LATE_UNTIL = datetime(2025, 9, 30, 23, 59, 59, tzinfo=SHANGHAI)


def one_unit_let_in(history: Callable[[], Story]) -> Callable[[], Story]:
    """The same story after the office let unit U06 nominate again in the closed round."""

    def story() -> Story:
        base = history()
        reopened = UnitWindowRecorded(round_id=ROUND, unit_code="U06", open_until=LATE_UNTIL)
        return Story(base.policy, [*base.events, reopened])

    return story


def its_window_shut(history: Callable[[], Story]) -> Callable[[], Story]:
    def story() -> Story:
        base = history()
        shut = UnitWindowRecorded(round_id=ROUND, unit_code="U06", open_until=None)
        return Story(base.policy, [*base.events, shut])

    return story


@table_test(
    [
        row(
            still_open(scored),
            decide_striving(A),
            "nominations_open",
            id="no decision while a unit may still nominate",
        ),
        row(
            one_unit_let_in(scored),
            decide_striving(A),
            "nominations_open",
            id="no decision while a unit let in again may nominate",
        ),
        row(
            one_unit_let_in(decided),
            StartNotice(round_id=ROUND, **OFFICE),
            "nominations_open",
            ANNOUNCED,
            id="no notice while a unit let in again may nominate",
        ),
        row(
            its_window_shut(one_unit_let_in(scored)),
            decide_striving(A),
            (WinnersDecided,),
            id="a decision once that unit's window shut",
        ),
        row(
            still_open(decided),
            StartNotice(round_id=ROUND, **OFFICE),
            "nominations_open",
            ANNOUNCED,
            id="no notice while a unit may still nominate",
        ),
        row(scored, decide_striving(A), (WinnersDecided,), id="a decision once closed"),
        row(
            decided,
            StartNotice(round_id=ROUND, **OFFICE),
            (PublicNoticeStarted,),
            ANNOUNCED,
            id="a notice once closed",
        ),
    ]
)
def test_nothing_is_decided_or_announced_before_the_nominations_close(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


def test_a_notice_announced_before_national_day_runs_past_the_holiday() -> None:
    (event,) = check(
        decided, StartNotice(round_id=ROUND, **OFFICE), ANNOUNCED, (PublicNoticeStarted,)
    )
    assert isinstance(event, PublicNoticeStarted)
    assert event.categories == (STRIVING, REFORM)
    assert [w.nomination_id for w in event.winners] == [A, R]
    assert (event.starts_at, event.ends_at) == (ANNOUNCED, end_of_day(date(2025, 10, 13)))
    assert (event.first_day, event.last_day, event.working_days) == (
        date(2025, 9, 30),
        date(2025, 10, 13),
        5,
    )
    assert event.calendar_fallback_years == ()


# --- Objections --------------------------------------------------------------------------------


@table_test(
    [
        row(
            announced,
            objection(),
            (ObjectionRaised,),
            DURING_NOTICE,
            id="anyone raises a real-name objection during the notice",
        ),
        row(
            announced,
            objection(),
            (ObjectionRaised,),
            LAST_INSTANT,
            id="the last instant of the last working day is inside the notice",
        ),
        row(
            decided,
            objection(),
            "notice_not_running",
            DURING_NOTICE,
            id="no objection before the notice starts",
        ),
        row(
            announced,
            objection(),
            "notice_not_running",
            AFTER_NOTICE,
            id="no objection after the notice ends",
        ),
        row(
            announced,
            objection(B),
            "not_a_winner",
            DURING_NOTICE,
            id="an objection is about a provisional winner",
        ),
    ]
)
def test_objections_are_raised_during_the_notice_about_a_winner(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


def test_an_objection_needs_the_raisers_real_name() -> None:
    with pytest.raises(ValidationError):
        objection(name=" ")
    (event,) = check(announced, objection(name="李四"), DURING_NOTICE, (ObjectionRaised,))
    assert isinstance(event, ObjectionRaised)
    assert (event.raiser_name, event.raised_by, event.objection_no) == ("李四", "staff-9", 1)


@pytest.mark.parametrize(
    ("employee_no", "subject"),
    [
        pytest.param("E0042", "E0042", id="an employee's objection is theirs by employee number"),
        pytest.param(None, "user:staff-9", id="an account without one is its user id's"),
    ],
)
def test_an_objection_is_sealed_under_its_raisers_subject(
    employee_no: str | None, subject: str
) -> None:
    cmd = objection().model_copy(update={"actor_employee_no": employee_no})
    (event,) = check(announced, cmd, DURING_NOTICE, (ObjectionRaised,))
    assert isinstance(event, ObjectionRaised)
    assert event.raiser_subject == subject
    found = {m.path: (m.employee_no, m.identifying) for m in marks(event)}
    assert found == {
        ("raiser_subject",): (subject, True),
        ("raiser_name",): (subject, False),
        ("text",): (subject, False),
    }


def test_a_version_1_objection_reads_as_its_raisers_user_id() -> None:
    v1 = {
        "round_id": ROUND,
        "objection_no": 1,
        "nomination_id": str(A),
        "category": "striving",
        "raised_by": "staff-9",
        "raiser_name": "李四",
        "text": "数据不符。",
        "raised_at": DURING_NOTICE.isoformat(),
    }
    event = registry.decode("ObjectionRaised", 1, v1)
    assert isinstance(event, ObjectionRaised)
    assert (event.raiser_subject, event.raiser_name) == ("user:staff-9", "李四")


def note(text: str = "已调取班组台账。", no: int = 1) -> RecordObjectionNote:
    return RecordObjectionNote(round_id=ROUND, **OFFICE, objection_no=no, note=text)


@table_test(
    [
        row(
            objected, note(), (ObjectionNoteRecorded,), DURING_NOTICE, id="the office records notes"
        ),
        row(
            objected,
            resolve("dismissed"),
            (ObjectionResolved,),
            DURING_NOTICE,
            id="a dismissed objection leaves the winner",
        ),
        row(
            objected,
            resolve("upheld"),
            (ObjectionResolved, WinnerRemoved),
            DURING_NOTICE,
            id="an upheld objection removes the winner",
        ),
        row(
            objected,
            resolve("upheld"),
            (ObjectionResolved, WinnerRemoved),
            AFTER_NOTICE,
            id="an objection may be resolved after the notice ends",
        ),
        row(upheld, note(), "objection_closed", DURING_NOTICE, id="a resolved objection is closed"),
        row(upheld, resolve("dismissed"), "objection_closed", DURING_NOTICE, id="resolved once"),
        row(objected, note(no=7), "unknown_objection", DURING_NOTICE, id="an unknown objection"),
        row(
            objected,
            RecordObjectionNote(round_id=ROUND, **LEADER, objection_no=1, note="x"),
            "not_permitted",
            DURING_NOTICE,
            id="only the office investigates",
        ),
    ]
)
def test_the_office_investigates_and_resolves_objections(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


# --- Replacement -------------------------------------------------------------------------------


def name(nomination_id: UUID, reason: str | None = None) -> NameReplacement:
    return NameReplacement(
        round_id=ROUND, **LEADER, category=STRIVING, nomination_id=nomination_id, reason=reason
    )


@table_test(
    [
        row(
            upheld,
            name(B),
            (ReplacementNamed, PublicNoticeStarted),
            DURING_NOTICE,
            id="the leader names the next in the ranking and a new notice starts",
        ),
        row(
            upheld,
            name(C),
            "reason_required",
            DURING_NOTICE,
            id="a replacement out of the ranking's order needs a reason",
        ),
        row(
            upheld,
            name(C, "B已调离本单位"),
            (ReplacementNamed, PublicNoticeStarted),
            DURING_NOTICE,
            id="a replacement out of the ranking's order with a reason",
        ),
        row(upheld, name(A), "not_eligible", DURING_NOTICE, id="the removed winner is not named"),
        row(
            upheld, name(D, "x"), "insufficient_scores", DURING_NOTICE, id="an unranked one is not"
        ),
        row(objected, name(B), "no_vacancy", DURING_NOTICE, id="a replacement needs a vacancy"),
        row(replaced, name(C, "x"), "no_vacancy", DURING_NOTICE, id="a vacancy is filled once"),
    ]
)
def test_the_leader_may_name_a_replacement_for_a_removed_winner(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


def test_a_replacement_starts_a_new_notice_for_that_category_only() -> None:
    named, notice = check(upheld, name(B), DURING_NOTICE, (ReplacementNamed, PublicNoticeStarted))
    assert isinstance(named, ReplacementNamed)
    assert isinstance(notice, PublicNoticeStarted)
    assert (named.nomination_id, named.replaces) == (B, A)
    assert notice.categories == (STRIVING,)
    assert notice.occasion == "replacement"
    assert notice.notice_no == 2
    # Announced Thursday 10-09: 10-10, 10-11 (make-up Saturday), 10-13, 10-14, 10-15.
    assert notice.ends_at == end_of_day(date(2025, 10, 15))
    # Objections about the replacement are now possible; Reform's notice is unchanged.
    state = replaced().state
    assert state.winners[STRIVING] == (B,)
    assert decide(state, objection(B), AFTER_NOTICE, POLICY)
    with pytest.raises(ReviewError, match="notice"):
        decide(state, objection(R), AFTER_NOTICE, POLICY)


# --- Publication -------------------------------------------------------------------------------


def publish(**actor: object) -> PublishResult:
    return PublishResult.model_validate({"round_id": ROUND, **(actor or OFFICE)})


@table_test(
    [
        row(
            announced,
            publish(),
            (ResultPublished,),
            AFTER_NOTICE,
            id="the result is published when the notice has ended and no objection is open",
        ),
        row(
            announced,
            publish(),
            "notice_running",
            LAST_INSTANT,
            id="the result is not published before the notice ends",
        ),
        row(
            objected,
            publish(),
            "objection_open",
            AFTER_NOTICE,
            id="the result is not published while an objection is open",
        ),
        row(
            upheld,
            publish(),
            (ResultPublished,),
            AFTER_NOTICE,
            id="the result may be published without naming a replacement",
        ),
        row(
            replaced,
            publish(),
            "notice_running",
            AFTER_NOTICE,
            id="a replacement's notice must end too",
        ),
        row(
            replaced,
            publish(),
            (ResultPublished,),
            at(date(2025, 10, 16)),
            id="published once the replacement's notice has ended",
        ),
        row(
            decided,
            publish(),
            "notice_not_started",
            AFTER_NOTICE,
            id="a decided category must be announced first",
        ),
        row(scored, publish(), "nothing_to_publish", AFTER_NOTICE, id="nothing decided"),
        row(published, publish(), "already_published", AFTER_NOTICE, id="published once"),
        row(announced, publish(**LEADER), "not_permitted", AFTER_NOTICE, id="the office publishes"),
        row(
            published,
            decide_striving(B),
            "already_published",
            AFTER_NOTICE,
            id="nothing changes after publication",
        ),
    ]
)
def test_the_result_is_published_after_the_notice(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


def test_the_published_result_carries_what_rewards_and_publicity_need() -> None:
    (event,) = check(announced, publish(), AFTER_NOTICE, (ResultPublished,))
    assert isinstance(event, ResultPublished)
    assert event.round_id == ROUND
    assert event.published_at == AFTER_NOTICE
    assert event.categories == (STRIVING, REFORM)
    first = event.winners[0]
    assert (first.category, first.nomination_id, first.employee_no, first.unit_code) == (
        STRIVING,
        A,
        "E001",
        "U01",
    )
    assert (first.name, first.unit_name, first.position) == ("员工E001", "单位U01", "班长")
    assert first.score == Decimal(90)
    assert first.results[0].value == Decimal("120000")
    assert first.deeds.startswith("带领班组")


def test_a_replacement_is_published_in_the_removed_winners_place() -> None:
    (event,) = check(replaced, publish(), at(date(2025, 10, 16)), (ResultPublished,))
    assert isinstance(event, ResultPublished)
    assert [(w.category, w.nomination_id) for w in event.winners] == [(STRIVING, B), (REFORM, R)]


# --- Revocation --------------------------------------------------------------------------------


def revoke(nomination_id: UUID = A, **actor: object) -> RevokeWinner:
    return RevokeWinner.model_validate(
        {
            "round_id": ROUND,
            **(actor or LEADER),
            "nomination_id": nomination_id,
            "reason": "弄虚作假",
        }
    )


def a_revoked() -> Story:
    return published().then(revoke(), at(date(2025, 11, 3)))


@table_test(
    [
        row(
            published,
            revoke(),
            (WinnerRevoked,),
            at(date(2025, 11, 3)),
            id="a published winner's award is revoked with a reason",
        ),
        row(
            announced, revoke(), "not_published", DURING_NOTICE, id="revoked only after publication"
        ),
        row(published, revoke(B), "not_a_winner", AFTER_NOTICE, id="only a winner is revoked"),
        row(a_revoked, revoke(), "already_revoked", AFTER_NOTICE, id="revoked once"),
        row(published, revoke(**OFFICE), "not_permitted", AFTER_NOTICE, id="leaders revoke"),
    ]
)
def test_a_published_award_may_be_revoked(
    history: Callable[[], Story], when: Command, now: datetime, then: Then
) -> None:
    check(history, when, now, then)


def test_a_revocation_names_the_employee_for_payroll() -> None:
    (event,) = check(published, revoke(), AFTER_NOTICE, (WinnerRevoked,))
    assert isinstance(event, WinnerRevoked)
    assert (event.category, event.employee_no, event.reason) == (STRIVING, "E001", "弄虚作假")


# --- The stream --------------------------------------------------------------------------------


def test_every_event_of_a_whole_round_survives_storage_and_rebuilds_the_same_state() -> None:
    story = a_revoked()
    decoded = [registry.decode(e.event_type, e.schema_version, e.to_data()) for e in story.events]
    assert decoded == story.events
    assert given(decoded) == story.state
    assert story.state.stream_id == review_stream_id(ROUND) == "review-2025-Q3"
    assert all(e.subject().startswith("flowers.evt.review.") for e in story.events)
    score_data = next(e.to_data() for e in story.events if isinstance(e, ScoreSubmitted))
    assert score_data["total"] == "90.0000"  # Decimal as a string


def test_a_notice_reaching_past_the_official_calendar_records_the_fallback() -> None:
    new_year = {date(2027, 1, 1)}
    policy = ReviewPolicy(calendar=WorkingCalendar.of(extra_holidays=new_year))
    story = Story(policy, decided().events)
    (event,) = decide(
        story.state, StartNotice(round_id=ROUND, **OFFICE), at(date(2026, 12, 29)), policy
    )
    assert isinstance(event, PublicNoticeStarted)
    # 12-30, 12-31 (official 2026), then 2027: 01-01 configured holiday, 01-04, 01-05, 01-06.
    assert event.last_day == date(2027, 1, 6)
    assert event.calendar_fallback_years == (2027,)


def test_a_category_is_announced_once_even_when_named_explicitly() -> None:
    cmd = StartNotice(round_id=ROUND, **OFFICE, categories=(STRIVING,))
    check(announced, cmd, DURING_NOTICE, "already_announced")
    check(scored, cmd, DURING_NOTICE, "not_decided")


def all_refusals(cls: type[ReviewError] = ReviewError) -> list[type[ReviewError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *all_refusals(sub)]
    return found


def test_every_refusal_has_a_stable_code_and_a_chinese_and_an_english_message() -> None:
    refusals = all_refusals()
    codes = [r.code for r in refusals]
    assert len(codes) == len(set(codes)), "codes are unique"
    for refusal in refusals:
        fields = {
            name.split(".")[0]
            for template in (refusal.message_zh_template, refusal.message_en_template)
            for _, name, _, _ in string.Formatter().parse(template)
            if name
        }
        details: dict[str, Any] = {name: "x" for name in fields}
        if "category" in fields:
            details["category"] = Category.REFORM
        if refusal.__name__ == "ConflictOfInterest":
            error: ReviewError = refusal(conflict="self")  # type: ignore[call-arg]
        else:
            error = refusal(**details)
        assert error.message_zh
        assert error.message_en
        assert "{" not in error.message_zh + error.message_en
        assert error.to_dict()["code"] == refusal.code


def test_the_review_notes_a_unit_let_in_again_once() -> None:
    state = fold(evolve, initial_state(ROUND), [])
    [noted] = record_unit_window(state, "U06", LATE_UNTIL)
    assert noted == UnitWindowRecorded(round_id=ROUND, unit_code="U06", open_until=LATE_UNTIL)
    state = fold(evolve, state, [noted])
    assert record_unit_window(state, "U06", LATE_UNTIL) == []  # heard twice: noted once
    [shut] = record_unit_window(state, "U06", None)
    assert fold(evolve, state, [shut]).open_units == {}
    assert record_unit_window(fold(evolve, state, [shut]), "U06", None) == []
