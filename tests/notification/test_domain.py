"""The notification rules as given / when / then: who hears what, when, once. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import get_args
from uuid import UUID

import pytest

from services.notification.domain import (
    EVERYONE,
    GROUP_RULES,
    LEADER,
    OFFICE,
    PAYROLL,
    PUBLICITY,
    Contact,
    Delivery,
    DeliveryState,
    Notification,
    Preferences,
    QuietHours,
    RetryPolicy,
    Robots,
    RoundFacts,
    Rule,
    after_attempt,
    daily,
    deadline_reminders,
    decide,
    evolve,
    evolve_delivery,
    initial_facts,
    notification_id,
    panel_digests,
    plan,
    robot_targets,
    settle,
    working_days_before,
)
from shared.calendar import WorkingCalendar
from shared.clock import SHANGHAI
from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import DeadlineExtended, RoundOpened
from shared.contracts.publicity import MaterialsDrafted
from shared.contracts.review import (
    Candidate,
    CandidateRecorded,
    NominationAccepted,
    NominationRejected,
    NominationVetoed,
    NoticeWinner,
    ObjectionRaised,
    ObjectionResolved,
    PanelistAssigned,
    PanelistReminded,
    PublicNoticeStarted,
    PublishedWinner,
    ResultPublished,
    ScoreSubmitted,
)
from shared.contracts.rewards import AwardGranted, PayrollAdjustmentIssued
from shared.events import DomainEvent

ROUND = "2026-Q4"
AT = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
DEADLINE = datetime(2026, 12, 25, 23, 59, 59, tzinfo=SHANGHAI)  # a Friday
N1 = UUID("00000000-0000-0000-0000-0000000000a1")
N2 = UUID("00000000-0000-0000-0000-0000000000a2")
CAL = WorkingCalendar()


def eid(n: int) -> UUID:
    return UUID(int=n)


def nominee(no: str, name: str, unit_code: str) -> NomineeSnapshot:
    return NomineeSnapshot(
        employee_no=no,
        name=name,
        unit_code=unit_code,
        unit_name=f"{unit_code}单位",
        position="工程师",
    )


def recorded(nid: UUID, who: NomineeSnapshot) -> CandidateRecorded:
    return CandidateRecorded(
        round_id=ROUND,
        candidate=Candidate(
            nomination_id=nid,
            round_id=ROUND,
            category=Category.STRIVING,
            nominee=who,
            deeds="事迹",
            submitted_by="u-sub",
        ),
    )


def assigned(pid: str, unit_code: str | None) -> PanelistAssigned:
    return PanelistAssigned(
        round_id=ROUND,
        panelist_id=pid,
        employee_no=f"E{pid}",
        name=f"专家{pid}",
        department="技术部",
        unit_code=unit_code,
        assigned_by="office",
    )


def score(nid: UUID, pid: str) -> ScoreSubmitted:
    return ScoreSubmitted(
        round_id=ROUND,
        nomination_id=nid,
        category=Category.STRIVING,
        panelist_id=pid,
        department="技术部",
        criteria={"a": Decimal("80")},
        total=Decimal("80"),
        revision=1,
        comment=None,
        submitted_at=AT,
    )


ZHANG = nominee("E001", "张三", "U1")
LI = nominee("E002", "李四", "U2")

# Two accepted nominations (U1, U2), two panelists: p1 of U1 (conflicted on N1), p2 of none.
SETUP: list[DomainEvent] = [
    RoundOpened(
        round_id=ROUND, cadence="quarterly", deadline=DEADLINE, opened_by="o", opened_at=AT
    ),
    recorded(N1, ZHANG),
    recorded(N2, LI),
    NominationAccepted(
        round_id=ROUND, nomination_id=N1, category=Category.STRIVING, accepted_by="o"
    ),
    NominationAccepted(
        round_id=ROUND, nomination_id=N2, category=Category.STRIVING, accepted_by="o"
    ),
    assigned("p1", "U1"),
    assigned("p2", None),
]


def given(events: Sequence[DomainEvent]) -> RoundFacts:
    facts = initial_facts(ROUND)
    for e in events:
        facts = settle(evolve(facts, e))
    return facts


def told(out: list[Notification]) -> list[tuple[str, str]]:
    return [(n.rule, n.recipient) for n in out]


def test_a_panelist_hears_of_the_assignment_with_a_link_to_score() -> None:
    [n] = decide(given([]), eid(1), assigned("p1", "U1"))
    assert (n.rule, n.recipient, n.link) == (
        "panelist_assigned",
        "user:p1",
        "/review/scoring",
    )
    assert "评审专家" in n.subject
    assert "专家p1" in n.body
    assert n.notification_id == notification_id(eid(1), "user:p1", "panelist_assigned")


def test_the_same_fact_twice_gives_the_same_ids() -> None:
    first = decide(given(SETUP), eid(7), score(N2, "p1"))
    again = decide(given(SETUP), eid(7), score(N2, "p1"))
    assert [n.notification_id for n in first] == [n.notification_id for n in again]
    other = decide(given(SETUP), eid(8), assigned("p3", None))
    assert {n.notification_id for n in other}.isdisjoint(n.notification_id for n in first)


@pytest.mark.parametrize(
    ("history", "when", "then"),
    [
        # the conflicted panelist p1 is not expected to score N1
        (
            [*SETUP, score(N1, "p2"), score(N2, "p1")],
            score(N2, "p2"),
            [("scores_complete", OFFICE), ("ranking_complete", LEADER)],
        ),
        ([*SETUP, score(N1, "p2")], score(N2, "p1"), []),
        # told once: a revised score after completion tells nobody
        ([*SETUP, score(N1, "p2"), score(N2, "p1"), score(N2, "p2")], score(N2, "p2"), []),
        # a vetoed nomination needs no more scores
        (
            [*SETUP, score(N1, "p2"), score(N2, "p1")],
            NominationVetoed(
                round_id=ROUND,
                nomination_id=N2,
                category=Category.STRIVING,
                reason="违纪",
                vetoed_by="leader",
            ),
            [
                ("nomination_vetoed", "unit:U2"),
                ("scores_complete", OFFICE),
                ("ranking_complete", LEADER),
            ],
        ),
    ],
)
def test_all_scores_in_tells_the_office_and_the_leader(
    history: list[DomainEvent], when: DomainEvent, then: list[tuple[str, str]]
) -> None:
    assert told(decide(given(history), eid(9), when)) == then


def test_scores_complete_has_one_cause_per_round() -> None:
    facts = given([*SETUP, score(N1, "p2"), score(N2, "p1")])
    a = decide(facts, eid(10), score(N2, "p2"))
    b = decide(facts, eid(11), score(N2, "p2"))  # a second copy under another id
    assert [n.notification_id for n in a] == [n.notification_id for n in b]


def objection(no: int) -> ObjectionRaised:
    return ObjectionRaised(
        round_id=ROUND,
        objection_no=no,
        nomination_id=N1,
        category=Category.STRIVING,
        raised_by="u-obj",
        raiser_subject="E900",
        raiser_name="王五",
        text="事迹不实",
        raised_at=AT,
    )


@pytest.mark.parametrize(
    ("history", "when", "then", "words"),
    [
        ([], objection(1), [("objection_raised", OFFICE)], "第1号异议"),
        (
            [*SETUP, objection(1)],
            ObjectionResolved(
                round_id=ROUND,
                objection_no=1,
                nomination_id=N1,
                outcome="dismissed",
                resolution="经核实事迹属实",
                resolved_by="o",
                resolved_at=AT,
            ),
            [("objection_resolved", "user:u-obj")],
            "异议不成立",
        ),
        (
            [*SETUP, objection(1)],
            ObjectionResolved(
                round_id=ROUND,
                objection_no=1,
                nomination_id=N1,
                outcome="upheld",
                resolution="属实",
                resolved_by="o",
                resolved_at=AT,
            ),
            [("objection_resolved", "user:u-obj")],
            "异议成立",
        ),
        (
            SETUP,
            NominationRejected(
                round_id=ROUND,
                nomination_id=N1,
                category=Category.STRIVING,
                reason="材料不全",
                rejected_by="o",
            ),
            [("nomination_rejected", "unit:U1")],
            "材料不全",
        ),
        (
            SETUP,
            MaterialsDrafted(
                round_id=ROUND,
                result_event_id=eid(3),
                result_published_at=AT,
                categories=(Category.STRIVING,),
                winners=(),
                meeting_date=date(2027, 1, 5),
                materials=(),
                drafted_at=AT,
            ),
            [("drafts_ready", PUBLICITY)],
            "宣传素材",
        ),
    ],
)
def test_who_hears_of_objections_rejections_and_drafts(
    history: list[DomainEvent], when: DomainEvent, then: list[tuple[str, str]], words: str
) -> None:
    out = decide(given(history), eid(20), when)
    assert told(out) == then
    assert words in out[0].subject + out[0].body


def resolved(no: int) -> ObjectionResolved:
    return ObjectionResolved(
        round_id=ROUND,
        objection_no=no,
        nomination_id=N1,
        outcome="dismissed",
        resolution="经核实事迹属实",
        resolved_by="o",
        resolved_at=AT,
    )


def rejected(nid: UUID) -> NominationRejected:
    return NominationRejected(
        round_id=ROUND,
        nomination_id=nid,
        category=Category.STRIVING,
        reason="材料不全",
        rejected_by="o",
    )


@pytest.mark.parametrize(
    ("history", "when", "about", "never"),
    [
        ([], assigned("p9", None), {"panelist_assigned": "Ep9"}, ()),
        (SETUP, rejected(N2), {"nomination_rejected": "E002"}, ()),
        # the office hears of an objection about the nominee, not who raised it
        (SETUP, objection(1), {"objection_raised": "E001"}, ("王五",)),
        # the objector hears the outcome, sealed under their own subject
        ([*SETUP, objection(1)], resolved(1), {"objection_resolved": "E900"}, ()),
        ([], objection(1), {"objection_raised": None}, ("王五",)),  # nominee unknown yet
    ],
)
def test_a_notification_is_about_the_one_person_it_names(
    history: list[DomainEvent],
    when: DomainEvent,
    about: dict[str, str | None],
    never: tuple[str, ...],
) -> None:
    out = decide(given(history), eid(20), when)
    assert {n.rule: n.about for n in out} == about
    for n in out:
        assert not any(word in n.subject + n.body for word in never)


def test_a_public_notice_tells_everyone_with_the_link_and_the_objection_deadline() -> None:
    ends = datetime.combine(date(2026, 12, 31), time.max, tzinfo=SHANGHAI)
    notice = PublicNoticeStarted(
        round_id=ROUND,
        notice_no=1,
        occasion="decision",
        categories=(Category.STRIVING,),
        winners=(NoticeWinner(category=Category.STRIVING, nomination_id=N1, nominee=ZHANG),),
        starts_at=AT,
        ends_at=ends,
        working_days=5,
        first_day=date(2026, 12, 2),
        last_day=date(2026, 12, 31),
        started_by="o",
    )
    [n] = decide(given(SETUP), eid(30), notice)
    assert (n.recipient, n.link) == (EVERYONE, f"/gongshi/{ROUND}")
    # To everyone and the group robots: it names nobody (the notice page shows each winner
    # as their consent allows), so nothing in it is anyone's personal data.
    assert "张三" not in n.subject + n.body
    assert f"{Category.STRIVING.label_zh}1人" in n.body
    assert n.about is None
    assert "2026年12月31日 24:00" in n.body


def test_a_published_result_tells_the_unit_and_the_winner_then_payroll_and_the_award() -> None:
    winner = PublishedWinner(
        category=Category.STRIVING,
        nomination_id=N1,
        employee_no="E001",
        name="张三",
        unit_code="U1",
        unit_name="U1单位",
        position="工程师",
        deeds="事迹",
        results=(),
        score=Decimal("88.5"),
    )
    result = ResultPublished(
        round_id=ROUND,
        categories=(Category.STRIVING,),
        winners=(winner,),
        published_by="o",
        published_at=AT,
    )
    assert told(decide(given(SETUP), eid(40), result)) == [
        ("nomination_won", "unit:U1"),
        ("winner_published", "employee:E001"),
    ]
    award = AwardGranted(
        award_id=eid(41),
        round_id=ROUND,
        category=Category.STRIVING,
        nomination_id=N1,
        employee_no="E001",
        name="张三",
        unit_code="U1",
        unit_name="U1单位",
        position="工程师",
        deeds="事迹",
        score=Decimal("88.5"),
        amount=Decimal("5000.00"),
        currency="CNY",
        adjustment_id=eid(42),
        period="2027-01",
        published_at=AT,
        granted_at=AT,
        result_event_id=eid(40),
    )
    [n] = decide(given(SETUP), eid(43), award)
    assert (n.rule, n.recipient) == ("award_on_payroll", "employee:E001")
    assert "5000.00 CNY" in n.body
    assert "2027-01" in n.body
    issued = PayrollAdjustmentIssued(
        adjustment_id=eid(42),
        award_id=eid(41),
        round_id=ROUND,
        category=Category.STRIVING,
        employee_no="E001",
        name="张三",
        unit_code="U1",
        unit_name="U1单位",
        amount=Decimal("5000.00"),
        currency="CNY",
        period="2027-01",
        reason_code="AWARD",
        description_zh="奖励",
        issued_at=AT,
    )
    [p] = decide(given(SETUP), eid(44), issued)
    # Each names one person, whose key seals it; an employee is told about themselves.
    assert {(n.rule, n.about) for n in decide(given(SETUP), eid(40), result)} == {
        ("nomination_won", "E001"),
        ("winner_published", "E001"),
    }
    assert (n.about, p.about) == ("E001", "E001")
    assert (p.rule, p.recipient, p.link) == (
        "payroll_period_pending",
        PAYROLL,
        "/payroll/periods/2027-01",
    )
    # a second adjustment in the same period: payroll already knows
    second = replace_adjustment(issued, eid(45))
    assert decide(given([*SETUP, issued]), eid(46), second) == []
    # the same first adjustment from another round's feed: the same id
    assert decide(given([]), eid(47), issued)[0].notification_id == p.notification_id


def replace_adjustment(e: PayrollAdjustmentIssued, adjustment_id: UUID) -> PayrollAdjustmentIssued:
    return e.model_copy(update={"adjustment_id": adjustment_id})


@pytest.mark.parametrize(
    ("calendar", "today", "n"),
    [
        (CAL, date(2026, 12, 22), 3),  # Tue, Wed, Thu before Friday the 25th
        (CAL, date(2026, 12, 24), 1),
        (WorkingCalendar.of(extra_holidays={date(2026, 12, 23)}), date(2026, 12, 21), 3),
        (CAL, date(2026, 12, 23), None),
        (CAL, date(2026, 12, 25), None),
    ],
)
def test_units_without_a_nomination_are_reminded_3_and_1_working_days_before(
    calendar: WorkingCalendar, today: date, n: int | None
) -> None:
    out = deadline_reminders(given(SETUP), {"U3": 5, "U4": 5}, today, calendar)
    if n is None:
        assert out == []
        return
    assert told(out) == [("quota_reminder", "unit:U3"), ("quota_reminder", "unit:U4")]
    assert f"还有{n}个工作日" in out[0].body
    assert "2026年12月25日 23:59" in out[0].body
    assert out[0].link == "/nominations/new"
    again = deadline_reminders(given(SETUP), {"U3": 5, "U4": 5}, today, calendar)
    assert [a.notification_id for a in again] == [o.notification_id for o in out]


def test_only_units_with_places_left_are_reminded_and_told_how_many() -> None:
    out = deadline_reminders(given(SETUP), {"U1": 0, "U3": 2, "U4": 5}, date(2026, 12, 22), CAL)
    assert told(out) == [("quota_reminder", "unit:U3"), ("quota_reminder", "unit:U4")]
    assert "尚有2个提名名额未使用" in out[0].body
    assert "尚有5个提名名额未使用" in out[1].body


def test_a_unit_deadline_extension_moves_its_reminders() -> None:
    later = DEADLINE + timedelta(days=7)  # Friday 1 January 2027
    extended = DeadlineExtended(
        round_id=ROUND,
        unit_code="U3",
        previous_deadline=DEADLINE,
        new_deadline=later,
        reason="系统故障",
        extended_by="o",
        extended_at=AT,
    )
    facts = given([*SETUP, extended])
    assert told(deadline_reminders(facts, {"U3": 5, "U4": 5}, date(2026, 12, 24), CAL)) == [
        ("quota_reminder", "unit:U4")
    ]
    assert working_days_before(date(2027, 1, 1), 1, CAL) < date(2027, 1, 1)


def test_the_daily_digest_counts_what_each_panelist_has_left_until_done() -> None:
    facts = given([*SETUP, score(N1, "p2")])
    out = panel_digests(facts, date(2026, 12, 10))
    assert told(out) == [("panel_digest", "user:p1"), ("panel_digest", "user:p2")]
    assert "还有1份" in out[0].body
    assert "还有1份" in out[1].body
    tomorrow = panel_digests(facts, date(2026, 12, 11))
    assert {n.notification_id for n in tomorrow}.isdisjoint(n.notification_id for n in out)
    done = given([*SETUP, score(N1, "p2"), score(N2, "p1"), score(N2, "p2")])
    assert panel_digests(done, date(2026, 12, 10)) == []
    # the leader decided without every score, the 公示 started: no more digests
    moved_on = given([*SETUP, score(N1, "p2"), notice_of(N1)])
    assert panel_digests(moved_on, date(2026, 12, 10)) == []


def notice_of(nid: UUID) -> PublicNoticeStarted:
    return PublicNoticeStarted(
        round_id=ROUND,
        notice_no=1,
        occasion="decision",
        categories=(Category.STRIVING,),
        winners=(NoticeWinner(category=Category.STRIVING, nomination_id=nid, nominee=ZHANG),),
        starts_at=AT,
        ends_at=AT + timedelta(days=7),
        working_days=5,
        first_day=date(2026, 12, 2),
        last_day=date(2026, 12, 8),
        started_by="o",
    )


QUIET = QuietHours(time(22, 0), time(8, 0))


OFFICE_ROBOTS = Robots(office=frozenset({"wecom", "dingtalk"}), units={"U1": frozenset({"wecom"})})


def contact(uid: str, prefs: Preferences, **who: object) -> Contact:
    return Contact(user_id=uid, email=f"{uid}@example.cn", preferences=prefs, **who)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "prefs", "then"),
    [
        (
            datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI),
            Preferences(frozenset({"inbox", "email"}), QUIET),
            [("email", "user:p1", "10:00")],
        ),
        (
            datetime(2026, 12, 1, 23, 0, tzinfo=SHANGHAI),
            Preferences(frozenset({"inbox", "email"}), QUIET),
            [("email", "user:p1", "08:00")],
        ),
        (
            datetime(2026, 12, 2, 7, 59, tzinfo=SHANGHAI),
            Preferences(frozenset({"inbox", "email"}), None),
            [("email", "user:p1", "07:59")],
        ),
        (datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI), Preferences(), []),
    ],
)
def test_quiet_hours_hold_the_email_and_the_inbox_needs_no_delivery(
    now: datetime, prefs: Preferences, then: list[tuple[str, str, str]]
) -> None:
    n = decide(given([]), eid(1), assigned("p1", None))[0]
    others = [contact("p2", Preferences(frozenset({"inbox", "email"}), None))]
    out = plan(n, [contact("p1", prefs), *others], OFFICE_ROBOTS, now, QUIET)
    assert [
        (d.channel, d.target, f"{d.not_before.astimezone(SHANGHAI):%H:%M}") for d in out
    ] == then
    assert all(d.not_before >= now for d in out)


EMAIL = Preferences(frozenset({"inbox", "email"}), None)


def test_an_email_goes_to_everyone_the_address_reaches_who_chose_it() -> None:
    people = [
        contact("o1", EMAIL, roles=frozenset({"office"})),
        contact("o2", Preferences(), roles=frozenset({"office"})),  # inbox only
        Contact("o3", roles=frozenset({"office"}), preferences=EMAIL),  # no address
        contact("n1", EMAIL, roles=frozenset({"nominator"}), unit_code="U1"),
        contact("w1", EMAIL, employee_no="E001"),
    ]
    raised = decide(given([]), eid(2), objection(1))[0]
    assert [d.target for d in plan(raised, people, Robots(), AT)] == ["user:o1"]
    won = Notification(eid(3), "winner_published", "employee:E001", ROUND, "s", "b", "/", eid(3))
    assert [d.target for d in plan(won, people, Robots(), AT)] == ["user:w1"]
    quota = deadline_reminders(given(SETUP), {"U1": 5}, date(2026, 12, 22), CAL)[0]
    assert [(d.channel, d.target) for d in plan(quota, people, OFFICE_ROBOTS, AT)] == [
        ("email", "user:n1"),
        ("wecom", "robot:unit:U1"),
    ]
    again = plan(quota, people, OFFICE_ROBOTS, AT)
    assert [d.delivery_id for d in again] == [
        d.delivery_id for d in plan(quota, people, OFFICE_ROBOTS, AT)
    ]


@pytest.mark.parametrize("rule", get_args(Rule))
@pytest.mark.parametrize(
    "recipient", ["user:p1", "employee:E001", EVERYONE, OFFICE, "unit:U1", LEADER]
)
def test_personal_notices_never_go_to_group_robots(rule: Rule, recipient: str) -> None:
    n = Notification(eid(4), rule, recipient, ROUND, "标题", "正文", "/", eid(4))
    targets = robot_targets(n, OFFICE_ROBOTS)
    if recipient.startswith(("user:", "employee:")) or rule not in GROUP_RULES:
        assert targets == []
    # a group notice reaches its own group's robots only
    for target, _ in targets:
        assert target == "robot:office" or (
            target == "robot:unit:U1" and recipient in (EVERYONE, "unit:U1")
        )


def test_group_notices_go_to_their_robots() -> None:
    def to(rule: Rule, recipient: str) -> list[tuple[str, str]]:
        n = Notification(eid(5), rule, recipient, ROUND, "标题", "正文", "/", eid(5))
        return [(t, c) for t, c in robot_targets(n, OFFICE_ROBOTS)]

    assert to("notice_started", EVERYONE) == [
        ("robot:office", "wecom"),
        ("robot:office", "dingtalk"),
        ("robot:unit:U1", "wecom"),
    ]
    assert to("scores_complete", OFFICE) == [
        ("robot:office", "wecom"),
        ("robot:office", "dingtalk"),
    ]
    assert to("nomination_won", "unit:U1") == [("robot:unit:U1", "wecom")]
    assert to("nomination_won", "unit:U2") == []  # U2 has no robot
    assert to("objection_raised", OFFICE) == []  # names the objector: personal
    assert to("ranking_complete", LEADER) == []


def test_a_failed_try_is_retried_with_back_off_then_dead_lettered_and_a_success_ends_it() -> None:
    policy = RetryPolicy(attempts=3, first_delay=timedelta(seconds=30))
    d = Delivery(eid(6), eid(7), ROUND, "dingtalk", "robot:office", AT)
    state, waits, at = DeliveryState(), [], AT
    while True:
        events, retry_at = after_attempt(state, d, "errcode 310000: sign not match", at, policy)
        for e in events:
            state = evolve_delivery(state, e)
        if retry_at is None:
            break
        waits.append((retry_at - at).total_seconds())
        at = retry_at
    assert [type(e).__name__ for e in events] == ["DeliveryAttempted", "DeliveryDeadLettered"]
    assert (state.attempts, state.done, waits) == (3, True, [30, 60])
    assert after_attempt(state, d, None, at, policy) == ([], None)  # never again
    ok, none = after_attempt(DeliveryState(attempts=1), d, None, AT, policy)
    assert [type(e).__name__ for e in ok] == ["DeliveryAttempted", "NotificationDelivered"]
    assert none is None


def test_after_the_last_attempt_a_delivery_is_dead_lettered() -> None:
    policy = RetryPolicy(attempts=3, first_delay=timedelta(seconds=10))
    assert policy.next_try(1, AT) == AT + timedelta(seconds=10)
    assert policy.next_try(2, AT) == AT + timedelta(seconds=20)
    assert policy.next_try(3, AT) is None


def test_the_office_is_sent_to_the_progress_page_and_the_leader_to_the_ranking() -> None:
    facts = given([*SETUP, score(N1, "p2"), score(N2, "p1")])
    office, leader = decide(facts, eid(12), score(N2, "p2"))
    assert office.link == f"/review/summary?round_id={ROUND}"
    assert leader.link == f"/review/ranking?round_id={ROUND}"
    assert "请审定获奖人选" in leader.subject


def test_the_office_reminding_a_panelist_becomes_a_message_to_that_panelist() -> None:
    reminded = PanelistReminded(
        round_id=ROUND, panelist_id="p2", waiting=2, reminded_by="o", reminded_at=AT
    )
    [n] = decide(given(SETUP), eid(50), reminded)
    assert (n.rule, n.recipient, n.link) == ("panelist_reminded", "user:p2", "/review/scoring")
    assert "还有2份提名" in n.subject
    assert "2026年12月1日 10:00" in n.body
    # the office reminding again is another message; the same fact again is not
    assert decide(given(SETUP), eid(51), reminded)[0].notification_id != n.notification_id
    assert decide(given(SETUP), eid(50), reminded)[0].notification_id == n.notification_id


def test_the_daily_rules_remind_units_and_digest_panelists_on_working_days_only() -> None:
    facts = given([*SETUP, score(N1, "p2")])
    tuesday, saturday = date(2026, 12, 22), date(2026, 12, 19)
    assert told(daily(facts, {"U3": 5}, tuesday, CAL)) == [
        ("quota_reminder", "unit:U3"),
        ("panel_digest", "user:p1"),
        ("panel_digest", "user:p2"),
    ]
    assert daily(facts, {"U3": 5}, saturday, CAL) == []
