"""The nomination deciders as given / when / then tables: an allowed and a refused case per rule.

Times are Asia/Shanghai wall-clock times; the 2026-Q4 deadline is 2026-12-25 23:59:59.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.nomination.domain import (
    EMPTY_DIRECTORY,
    NominationPolicy,
    PastWin,
    RoundCommand,
    decide_import,
    decide_round,
    directory_from,
    evolve_directory,
    evolve_round,
    round_from,
)
from services.nomination.errors import NominationError
from services.nomination.handlers import policy_from_settings
from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import (
    ClosedNomination,
    DeadlineExtended,
    EmployeeLeft,
    EmployeeRegistered,
    EmployeeRejoined,
    EmployeeTransferred,
    EmployeeUpdated,
    ExpiredPersonalDataShredded,
    MeasurableResult,
    NominationAmended,
    NominationsClosed,
    NominationSubmitted,
    NominationWithdrawn,
    NomineeCorrected,
    PersonalDataErased,
    PublicityConsent,
    PublicityConsentRecorded,
    RoundOpened,
    RoundReopenedForUnit,
    ShreddedSubject,
    UnitNominationsClosed,
    UnitRegistered,
    UnitRenamed,
    registry,
    round_stream_id,
)
from shared.contracts.nomination_commands import (
    AmendNomination,
    CloseRound,
    DirectoryRow,
    ExtendDeadline,
    ImportDirectory,
    MeasurableResultInput,
    OpenRound,
    ReopenForUnit,
    SubmitNomination,
    WithdrawNomination,
)
from shared.events import DomainEvent
from shared.eventstore import fold
from shared.rounds import Cadence
from shared.settings import Settings

SH = ZoneInfo("Asia/Shanghai")
ROUND = "2026-Q4"
OPENED_AT = datetime(2026, 10, 8, 9, 0, tzinfo=SH)
DURING = datetime(2026, 12, 20, 10, 0, tzinfo=SH)
LAST_SECOND = datetime(2026, 12, 25, 23, 59, 59, tzinfo=SH)
LAST_SECOND_LATE_IN_IT = datetime(2026, 12, 25, 23, 59, 59, 999_999, tzinfo=SH)
FIRST_LATE_SECOND = datetime(2026, 12, 26, 0, 0, 0, tzinfo=SH)
DEADLINE = LAST_SECOND
EXTENDED = datetime(2026, 12, 28, 23, 59, 59, tzinfo=SH)
AFTER_EXTENSION = datetime(2026, 12, 29, 0, 0, 0, tzinfo=SH)

STRIVING, REFORM, DEDICATION = Category.STRIVING, Category.REFORM, Category.DEDICATION
N1, N2, N3 = UUID(int=1), UUID(int=2), UUID(int=3)
DEEDS = "带领班组完成井下供电系统改造，连续四十天坚守一线，节约成本十二万元，" * 2
OPINION = "经单位党政研究，同意推荐。"
POLICY = NominationPolicy()
OFFICE = frozenset({"office"})
NOMINATOR = frozenset({"nominator"})

DIRECTORY_EVENTS: list[DomainEvent] = [
    UnitRegistered(unit_code="U1", name="机电修配厂"),
    UnitRegistered(unit_code="U2", name="物业服务中心"),
    EmployeeRegistered(employee_no="E101", name="张伟", unit_code="U1", position="钳工"),
    EmployeeRegistered(employee_no="E102", name="李娜", unit_code="U1", position="电工"),
    EmployeeRegistered(employee_no="E103", name="王强", unit_code="U1", position="焊工"),
    EmployeeLeft(employee_no="E103", unit_code="U1"),
    EmployeeRegistered(employee_no="E201", name="刘洋", unit_code="U2", position="维修工"),
    EmployeeRegistered(employee_no="E202", name="陈静", unit_code="U2", position="保洁班长"),
]
DIRECTORY = directory_from(DIRECTORY_EVENTS)
NOMINEE = {
    "E101": NomineeSnapshot(
        employee_no="E101", name="张伟", unit_code="U1", unit_name="机电修配厂", position="钳工"
    ),
    "E102": NomineeSnapshot(
        employee_no="E102", name="李娜", unit_code="U1", unit_name="机电修配厂", position="电工"
    ),
    "E201": NomineeSnapshot(
        employee_no="E201",
        name="刘洋",
        unit_code="U2",
        unit_name="物业服务中心",
        position="维修工",
    ),
}
UNIT_OF = {"E101": "U1", "E102": "U1", "E103": "U1", "E201": "U2", "E202": "U2"}

# --- Builders -------------------------------------------------------------------------------


def opened(deadline: datetime = DEADLINE, round_id: str = ROUND) -> RoundOpened:
    return RoundOpened(
        round_id=round_id,
        cadence=Cadence.QUARTERLY,
        deadline=deadline,
        opened_by="office-1",
        opened_at=OPENED_AT,
    )


def submit(
    employee_no: str = "E101",
    category: Category = STRIVING,
    *,
    nomination_id: UUID = N1,
    unit: str | None = None,
    actor_unit: str | None = None,
    roles: frozenset[str] = NOMINATOR,
    deeds: str = DEEDS,
    links: tuple[str, ...] = (),
    recommendation: str = OPINION,
) -> SubmitNomination:
    unit = unit or UNIT_OF[employee_no]
    return SubmitNomination(
        actor=f"nominator-{unit}",
        roles=roles,
        actor_unit_code=actor_unit or unit,
        nomination_id=nomination_id,
        round_id=ROUND,
        unit_code=unit,
        employee_no=employee_no,
        category=category,
        deeds=deeds,
        results=(MeasurableResultInput(metric="节约成本", value=Decimal("120000"), unit="元"),),
        evidence_links=links,
        recommendation=recommendation,
    )


def submitted(
    employee_no: str = "E101",
    category: Category = STRIVING,
    *,
    nomination_id: UUID = N1,
    at: datetime = DURING,
    deeds: str = DEEDS,
    links: tuple[str, ...] = (),
) -> NominationSubmitted:
    return NominationSubmitted(
        nomination_id=nomination_id,
        round_id=ROUND,
        category=category,
        nominee=NOMINEE[employee_no],
        deeds=deeds,
        results=(MeasurableResult(metric="节约成本", value=Decimal("120000"), unit="元"),),
        evidence_links=links,
        recommendation=OPINION,
        submitted_by=f"nominator-{UNIT_OF[employee_no]}",
        submitted_at=at,
    )


def amend(
    nomination_id: UUID = N1,
    category: Category = STRIVING,
    *,
    actor_unit: str = "U1",
    roles: frozenset[str] = NOMINATOR,
    deeds: str = DEEDS + "又及。",
) -> AmendNomination:
    return AmendNomination(
        actor=f"nominator-{actor_unit}",
        roles=roles,
        actor_unit_code=actor_unit,
        nomination_id=nomination_id,
        category=category,
        deeds=deeds,
        results=(MeasurableResultInput(metric="节约成本", value=Decimal("120000"), unit="元"),),
        recommendation=OPINION,
    )


def amended(
    employee_no: str = "E101",
    category: Category = STRIVING,
    *,
    nomination_id: UUID = N1,
    at: datetime = DURING,
    deeds: str = DEEDS + "又及。",
) -> NominationAmended:
    return NominationAmended(
        nomination_id=nomination_id,
        round_id=ROUND,
        category=category,
        nominee=NOMINEE[employee_no],
        deeds=deeds,
        results=(MeasurableResult(metric="节约成本", value=Decimal("120000"), unit="元"),),
        evidence_links=(),
        recommendation=OPINION,
        amended_by=f"nominator-{UNIT_OF[employee_no]}",
        amended_at=at,
    )


def withdraw(
    nomination_id: UUID = N1,
    *,
    actor_unit: str = "U1",
    roles: frozenset[str] = NOMINATOR,
    reason: str = "材料需补充，下轮再报",
) -> WithdrawNomination:
    return WithdrawNomination(
        actor=f"nominator-{actor_unit}",
        roles=roles,
        actor_unit_code=actor_unit,
        nomination_id=nomination_id,
        reason=reason,
    )


def withdrawn(
    employee_no: str = "E101",
    category: Category = STRIVING,
    *,
    nomination_id: UUID = N1,
    at: datetime = DURING,
) -> NominationWithdrawn:
    return NominationWithdrawn(
        nomination_id=nomination_id,
        round_id=ROUND,
        category=category,
        nominee=NOMINEE[employee_no],
        reason="材料需补充，下轮再报",
        withdrawn_by=f"nominator-{UNIT_OF[employee_no]}",
        withdrawn_at=at,
    )


def extend(
    new_deadline: datetime = EXTENDED,
    unit: str | None = None,
    *,
    reason: str = "该单位受抢险任务影响",
    roles: frozenset[str] = OFFICE,
) -> ExtendDeadline:
    return ExtendDeadline(
        actor="office-1",
        roles=roles,
        round_id=ROUND,
        unit_code=unit,
        new_deadline=new_deadline,
        reason=reason,
    )


def extended(
    new_deadline: datetime = EXTENDED,
    unit: str | None = None,
    *,
    previous: datetime = DEADLINE,
    at: datetime = DURING,
) -> DeadlineExtended:
    return DeadlineExtended(
        round_id=ROUND,
        unit_code=unit,
        previous_deadline=previous,
        new_deadline=new_deadline,
        reason="该单位受抢险任务影响",
        extended_by="office-1",
        extended_at=at,
    )


def close(*, scheduled: bool = True, roles: frozenset[str] = frozenset()) -> CloseRound:
    actor = "scheduler" if scheduled else "office-1"
    return CloseRound(actor=actor, roles=roles, round_id=ROUND, scheduled=scheduled)


def closed(
    *nominations: NominationSubmitted,
    at: datetime = FIRST_LATE_SECOND,
    how: str = "deadline",
    by: str = "scheduler",
    deadline: datetime = DEADLINE,
) -> NominationsClosed:
    return NominationsClosed(
        round_id=ROUND,
        closed_at=at,
        how=how,  # type: ignore[arg-type]
        closed_by=by,
        deadline=deadline,
        nominations=tuple(
            ClosedNomination(
                nomination_id=n.nomination_id,
                category=n.category,
                nominee=n.nominee,
                submitted_by=n.submitted_by,
                submitted_at=n.submitted_at,
                last_amended_at=None,
            )
            for n in nominations
        ),
    )


# --- The table runner -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    given: list[DomainEvent]
    when: RoundCommand
    at: datetime
    then: list[DomainEvent] | str  # the events, or the code of the refusal
    policy: NominationPolicy = POLICY
    winners: frozenset[PastWin] = field(default_factory=frozenset)
    rejected: frozenset[UUID] = frozenset()  # rejected by the office (heard from review)
    audit_started: bool = False  # the office accepted or rejected one (heard from review)


def check(case: Case) -> None:
    state = round_from(case.given)
    if isinstance(case.then, str):
        with pytest.raises(NominationError) as refused:
            decide_round(
                state,
                case.when,
                case.at,
                directory=DIRECTORY,
                policy=case.policy,
                winners=case.winners,
                rejected=case.rejected,
                audit_started=case.audit_started,
            )
        assert refused.value.code == case.then
        assert refused.value.message_zh
        assert refused.value.message_en
    else:
        events = decide_round(
            state,
            case.when,
            case.at,
            directory=DIRECTORY,
            policy=case.policy,
            winners=case.winners,
            rejected=case.rejected,
            audit_started=case.audit_started,
        )
        assert events == case.then


def cases(**table: Case) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("case", list(table.values()), ids=list(table))


# --- Who nominates whom ---------------------------------------------------------------------


@cases(
    a_nominator_of_the_unit_nominates_its_employee=Case(
        [opened()], submit("E101"), DURING, [submitted("E101")]
    ),
    a_user_without_the_nominator_role_is_refused=Case(
        [opened()], submit("E101", roles=frozenset({"staff"})), DURING, "not_a_nominator"
    ),
    the_office_is_no_nominator=Case(
        [opened()], submit("E101", roles=OFFICE), DURING, "not_a_nominator"
    ),
    a_nominator_of_another_unit_is_refused=Case(
        [opened()], submit("E101", actor_unit="U2"), DURING, "not_own_unit"
    ),
)
def test_only_a_nominator_acts_and_only_for_their_own_unit(case: Case) -> None:
    check(case)


@cases(
    an_active_employee_of_the_unit=Case([opened()], submit("E102"), DURING, [submitted("E102")]),
    an_unknown_employee=Case([opened()], submit("E999", unit="U1"), DURING, "employee_not_found"),
    an_employee_who_left=Case([opened()], submit("E103"), DURING, "employee_inactive"),
    an_employee_of_another_unit=Case(
        [opened()], submit("E201", unit="U1"), DURING, "employee_not_in_unit"
    ),
)
def test_only_active_employees_of_the_unit_can_be_nominated(case: Case) -> None:
    check(case)


# --- Quota, once per round, cooldown --------------------------------------------------------


@cases(
    the_first_in_a_category=Case(
        [opened()], submit("E101", STRIVING), DURING, [submitted("E101", STRIVING)]
    ),
    a_second_in_the_same_category=Case(
        [opened(), submitted("E101", STRIVING)],
        submit("E102", STRIVING, nomination_id=N2),
        DURING,
        "quota_exceeded",
    ),
    a_second_in_another_category=Case(
        [opened(), submitted("E101", STRIVING)],
        submit("E102", REFORM, nomination_id=N2),
        DURING,
        [submitted("E102", REFORM, nomination_id=N2)],
    ),
    another_unit_in_the_same_category=Case(
        [opened(), submitted("E101", STRIVING)],
        submit("E201", STRIVING, nomination_id=N2),
        DURING,
        [submitted("E201", STRIVING, nomination_id=N2)],
    ),
    a_second_when_the_quota_is_two=Case(
        [opened(), submitted("E101", STRIVING)],
        submit("E102", STRIVING, nomination_id=N2),
        DURING,
        [submitted("E102", STRIVING, nomination_id=N2)],
        policy=NominationPolicy(quota_per_unit_category=2),
    ),
    an_amendment_into_a_full_category=Case(
        [opened(), submitted("E101", STRIVING), submitted("E102", REFORM, nomination_id=N2)],
        amend(N2, STRIVING),
        DURING,
        "quota_exceeded",
    ),
)
def test_a_unit_nominates_at_most_its_quota_per_category(case: Case) -> None:
    check(case)


@cases(
    the_same_employee_in_another_category=Case(
        [opened(), submitted("E101", STRIVING)],
        submit("E101", REFORM, nomination_id=N2),
        DURING,
        "already_nominated",
    ),
    the_same_employee_after_a_withdrawal=Case(
        [opened(), submitted("E101", STRIVING), withdrawn("E101", STRIVING)],
        submit("E101", REFORM, nomination_id=N2),
        DURING,
        [submitted("E101", REFORM, nomination_id=N2)],
    ),
)
def test_an_employee_is_nominated_at_most_once_per_round(case: Case) -> None:
    check(case)


COOLDOWN_1 = NominationPolicy(cooldown_rounds=1)
COOLDOWN_2 = NominationPolicy(cooldown_rounds=2)


@cases(
    won_the_same_flower_last_round=Case(
        [opened()],
        submit("E101", STRIVING),
        DURING,
        "cooldown",
        policy=COOLDOWN_1,
        winners=frozenset({("E101", STRIVING, "2026-Q3")}),
    ),
    won_it_two_rounds_ago_with_a_two_round_cooldown=Case(
        [opened()],
        submit("E101", STRIVING),
        DURING,
        "cooldown",
        policy=COOLDOWN_2,
        winners=frozenset({("E101", STRIVING, "2026-Q2")}),
    ),
    won_it_two_rounds_ago_with_a_one_round_cooldown=Case(
        [opened()],
        submit("E101", STRIVING),
        DURING,
        [submitted("E101", STRIVING)],
        policy=COOLDOWN_1,
        winners=frozenset({("E101", STRIVING, "2026-Q2")}),
    ),
    won_another_flower_last_round=Case(
        [opened()],
        submit("E101", STRIVING),
        DURING,
        [submitted("E101", STRIVING)],
        policy=COOLDOWN_1,
        winners=frozenset({("E101", REFORM, "2026-Q3")}),
    ),
    cooldown_off_by_default=Case(
        [opened()],
        submit("E101", STRIVING),
        DURING,
        [submitted("E101", STRIVING)],
        winners=frozenset({("E101", STRIVING, "2026-Q3")}),
    ),
    an_amendment_into_a_cooled_down_flower=Case(
        [opened(), submitted("E101", REFORM)],
        amend(N1, STRIVING),
        DURING,
        "cooldown",
        policy=COOLDOWN_1,
        winners=frozenset({("E101", STRIVING, "2026-Q3")}),
    ),
)
def test_a_recent_winner_waits_out_the_cooldown(case: Case) -> None:
    check(case)


# --- What a nomination holds ----------------------------------------------------------------


@cases(
    fifty_characters=Case(
        [opened()], submit(deeds="事" * 50), DURING, [submitted(deeds="事" * 50)]
    ),
    three_thousand_characters=Case(
        [opened()], submit(deeds="迹" * 3000), DURING, [submitted(deeds="迹" * 3000)]
    ),
    forty_nine_characters=Case([opened()], submit(deeds="事" * 49), DURING, "deeds_length"),
    three_thousand_and_one_characters=Case(
        [opened()], submit(deeds="迹" * 3001), DURING, "deeds_length"
    ),
    bounds_from_the_policy=Case(
        [opened()],
        submit(deeds="事" * 60),
        DURING,
        "deeds_length",
        policy=NominationPolicy(deeds_min_chars=100),
    ),
    too_short_amendment=Case([opened(), submitted()], amend(deeds="短"), DURING, "deeds_length"),
)
def test_deeds_are_between_50_and_3000_characters(case: Case) -> None:
    check(case)


LINKS_OK = ("https://mp.weixin.qq.com/s/abc", "http://intranet.example/材料/1.pdf")


@cases(
    http_and_https_links=Case(
        [opened()], submit(links=LINKS_OK), DURING, [submitted(links=LINKS_OK)]
    ),
    an_ftp_link=Case(
        [opened()], submit(links=("ftp://files.example/a.pdf",)), DURING, "invalid_link"
    ),
    a_script_link=Case([opened()], submit(links=("javascript:alert(1)",)), DURING, "invalid_link"),
    a_link_without_scheme=Case(
        [opened()], submit(links=("www.example.com/a",)), DURING, "invalid_link"
    ),
    a_link_without_host=Case([opened()], submit(links=("https:///a",)), DURING, "invalid_link"),
    a_link_with_spaces=Case(
        [opened()], submit(links=("https://a.example/x y",)), DURING, "invalid_link"
    ),
)
def test_evidence_links_are_web_addresses(case: Case) -> None:
    check(case)


STORED = "/files/" + "ab" * 32 + "/%E5%AE%A1%E8%AE%A1%E6%8A%A5%E5%91%8A.pdf"  # 审计报告.pdf


@cases(
    an_uploaded_file=Case(
        [opened()], submit(links=(STORED,)), DURING, [submitted(links=(STORED,))]
    ),
    a_file_without_digest=Case(
        [opened()], submit(links=("/files/abc/x.pdf",)), DURING, "invalid_link"
    ),
    another_path_on_the_site=Case(
        [opened()], submit(links=("/admin/users",)), DURING, "invalid_link"
    ),
    a_file_with_a_raw_name=Case(
        [opened()], submit(links=("/files/" + "ab" * 32 + "/a b.pdf",)), DURING, "invalid_link"
    ),
    a_file_leaving_its_folder=Case(
        [opened()], submit(links=("/files/" + "ab" * 32 + "/../x",)), DURING, "invalid_link"
    ),
)
def test_an_evidence_file_kept_by_the_site_is_named_by_its_digest(case: Case) -> None:
    check(case)


@cases(
    with_an_opinion=Case([opened()], submit(recommendation=OPINION), DURING, [submitted()]),
    a_blank_opinion=Case(
        [opened()], submit(recommendation="   "), DURING, "recommendation_required"
    ),
)
def test_the_unit_recommendation_is_required(case: Case) -> None:
    check(case)


def test_results_keep_their_decimal_values_and_travel_as_strings() -> None:
    cmd = SubmitNomination.model_validate(
        {
            **submit().model_dump(),
            "results": [{"metric": "节约成本", "value": "120000.50", "unit": "元"}],
        }
    )
    [event] = decide_round(round_from([opened()]), cmd, DURING, directory=DIRECTORY, policy=POLICY)
    assert isinstance(event, NominationSubmitted)
    assert event.results[0].value == Decimal("120000.50")
    assert event.to_data()["results"][0]["value"] == "120000.50"


@pytest.mark.parametrize(
    "bad_results",
    [
        [{"metric": "节约成本", "value": "很多", "unit": "元"}],
        [{"metric": "", "value": "1", "unit": "元"}],
        [{"metric": "节约成本", "value": "NaN", "unit": "元"}],
        [{"metric": "m", "value": "1", "unit": "元"}] * 21,
    ],
)
def test_results_are_metric_value_unit_lines(bad_results: list[dict[str, str]]) -> None:
    with pytest.raises(ValidationError):
        SubmitNomination.model_validate({**submit().model_dump(), "results": bad_results})


# --- The deadline, in Shanghai time ---------------------------------------------------------

UNIT_EXTENDED = extended(EXTENDED, "U1")


@cases(
    well_before_the_deadline=Case([opened()], submit(), DURING, [submitted()]),
    at_235959_on_the_25th=Case([opened()], submit(), LAST_SECOND, [submitted(at=LAST_SECOND)]),
    late_within_the_last_second=Case(
        [opened()],
        submit(),
        LAST_SECOND_LATE_IN_IT,
        [submitted(at=LAST_SECOND_LATE_IN_IT)],
    ),
    at_000000_on_the_26th=Case([opened()], submit(), FIRST_LATE_SECOND, "deadline_passed"),
    the_same_instant_in_utc=Case(
        [opened()],
        submit(),
        datetime(2026, 12, 25, 16, 0, 0, tzinfo=UTC),
        "deadline_passed",
    ),
    the_extended_unit_after_the_deadline=Case(
        [opened(), UNIT_EXTENDED],
        submit("E101"),
        FIRST_LATE_SECOND,
        [submitted("E101", at=FIRST_LATE_SECOND)],
    ),
    another_unit_after_the_deadline_despite_that_extension=Case(
        [opened(), UNIT_EXTENDED], submit("E201"), FIRST_LATE_SECOND, "deadline_passed"
    ),
    the_extended_unit_after_its_own_deadline=Case(
        [opened(), UNIT_EXTENDED], submit("E101"), AFTER_EXTENSION, "deadline_passed"
    ),
    any_unit_after_the_deadline_when_the_whole_round_is_extended=Case(
        [opened(), extended(EXTENDED)],
        submit("E201"),
        FIRST_LATE_SECOND,
        [submitted("E201", at=FIRST_LATE_SECOND)],
    ),
    amending_past_the_deadline=Case(
        [opened(), submitted()], amend(), FIRST_LATE_SECOND, "deadline_passed"
    ),
    withdrawing_past_the_deadline=Case(
        [opened(), submitted()], withdraw(), FIRST_LATE_SECOND, "deadline_passed"
    ),
)
def test_a_unit_cannot_nominate_past_the_deadline(case: Case) -> None:
    check(case)


def test_a_late_unit_reads_the_deadline_in_the_one_chinese_form() -> None:
    with pytest.raises(NominationError) as refused:
        decide_round(
            round_from([opened()]),
            submit(),
            FIRST_LATE_SECOND,
            directory=DIRECTORY,
            policy=POLICY,
        )
    assert refused.value.message_zh == ("2026年第四季度的提名截止时间（2026年12月25日 23:59）已过")
    assert refused.value.details["deadline_local"] == "2026-12-25 23:59:59"  # for machines


CLOSED_EARLY = closed(at=DURING, how="early", by="office-1")


@cases(
    submitting_after_an_early_close=Case(
        [opened(), CLOSED_EARLY], submit(), DURING, "round_closed"
    ),
    amending_after_the_close=Case(
        [opened(), submitted(), CLOSED_EARLY], amend(), DURING, "round_closed"
    ),
    withdrawing_after_the_close=Case(
        [opened(), submitted(), CLOSED_EARLY], withdraw(), DURING, "round_closed"
    ),
    extending_after_the_close=Case(
        [opened(), CLOSED_EARLY], extend(unit="U1"), DURING, "round_closed"
    ),
    the_extended_unit_after_the_close=Case(
        [opened(), UNIT_EXTENDED, CLOSED_EARLY], submit("E101"), DURING, "round_closed"
    ),
)
def test_nothing_is_accepted_after_the_round_is_closed(case: Case) -> None:
    check(case)


@cases(
    submitting_to_an_unknown_round=Case([], submit(), DURING, "round_not_open"),
    amending_where_no_round_holds_it=Case([], amend(), DURING, "nomination_not_found"),
    withdrawing_where_no_round_holds_it=Case([], withdraw(), DURING, "nomination_not_found"),
    extending_an_unknown_round=Case([], extend(), DURING, "round_not_open"),
    closing_an_unknown_round=Case([], close(), FIRST_LATE_SECOND, "round_not_open"),
)
def test_nothing_happens_in_a_round_that_was_never_opened(case: Case) -> None:
    check(case)


# --- Amending and withdrawing ---------------------------------------------------------------


@cases(
    the_unit_amends_before_the_deadline=Case([opened(), submitted()], amend(), DURING, [amended()]),
    the_unit_moves_it_to_a_free_category=Case(
        [opened(), submitted()],
        amend(category=DEDICATION),
        DURING,
        [amended(category=DEDICATION)],
    ),
    the_same_content_again_changes_nothing=Case(
        [opened(), submitted()], amend(deeds=DEEDS), DURING, []
    ),
    another_unit_amends=Case(
        [opened(), submitted()], amend(actor_unit="U2"), DURING, "not_own_unit"
    ),
    a_non_nominator_amends=Case(
        [opened(), submitted()], amend(roles=OFFICE), DURING, "not_a_nominator"
    ),
    an_unknown_nomination=Case([opened()], amend(), DURING, "nomination_not_found"),
    a_withdrawn_nomination=Case(
        [opened(), submitted(), withdrawn()], amend(), DURING, "nomination_withdrawn"
    ),
)
def test_a_nomination_can_be_amended_only_by_its_unit_before_the_deadline(case: Case) -> None:
    check(case)


@cases(
    the_unit_withdraws_before_the_deadline=Case(
        [opened(), submitted()], withdraw(), DURING, [withdrawn()]
    ),
    the_unit_withdraws_in_the_last_second=Case(
        [opened(), submitted()], withdraw(), LAST_SECOND, [withdrawn(at=LAST_SECOND)]
    ),
    withdrawing_twice_changes_nothing=Case(
        [opened(), submitted(), withdrawn()], withdraw(), DURING, []
    ),
    another_unit_withdraws=Case(
        [opened(), submitted()], withdraw(actor_unit="U2"), DURING, "not_own_unit"
    ),
    a_non_nominator_withdraws=Case(
        [opened(), submitted()], withdraw(roles=frozenset()), DURING, "not_a_nominator"
    ),
    without_a_reason=Case([opened(), submitted()], withdraw(reason=" "), DURING, "reason_required"),
    an_unknown_nomination=Case([opened()], withdraw(), DURING, "nomination_not_found"),
)
def test_a_nomination_can_be_withdrawn_only_by_its_unit_before_the_deadline(case: Case) -> None:
    check(case)


@cases(
    its_category_is_free_again=Case(
        [opened(), submitted("E101", STRIVING), withdrawn("E101", STRIVING)],
        submit("E102", STRIVING, nomination_id=N2),
        DURING,
        [submitted("E102", STRIVING, nomination_id=N2)],
    ),
)
def test_a_withdrawn_nomination_frees_the_quota(case: Case) -> None:
    check(case)


@cases(
    its_category_is_free_again=Case(
        [opened(), submitted("E101", STRIVING)],
        submit("E102", STRIVING, nomination_id=N2),
        DURING,
        [submitted("E102", STRIVING, nomination_id=N2)],
        rejected=frozenset({N1}),
    ),
    an_amendment_may_move_into_its_category=Case(
        [opened(), submitted("E101", STRIVING), submitted("E102", REFORM, nomination_id=N2)],
        amend(N2, STRIVING),
        DURING,
        [amended("E102", STRIVING, nomination_id=N2)],
        rejected=frozenset({N1}),
    ),
    its_nominee_may_be_nominated_again=Case(
        [opened(), submitted("E101", STRIVING)],
        submit("E101", REFORM, nomination_id=N2),
        DURING,
        [submitted("E101", REFORM, nomination_id=N2)],
        rejected=frozenset({N1}),
    ),
    another_units_rejection_frees_nothing_here=Case(
        [opened(), submitted("E101", STRIVING), submitted("E201", STRIVING, nomination_id=N2)],
        submit("E102", STRIVING, nomination_id=N3),
        DURING,
        "quota_exceeded",
        rejected=frozenset({N2}),
    ),
    not_after_the_deadline=Case(
        [opened(), submitted("E101", STRIVING)],
        submit("E102", STRIVING, nomination_id=N2),
        FIRST_LATE_SECOND,
        "deadline_passed",
        rejected=frozenset({N1}),
    ),
    the_rejected_one_is_not_amended_but_replaced=Case(
        [opened(), submitted("E101", STRIVING)],
        amend(N1, STRIVING),
        DURING,
        "nomination_rejected",
        rejected=frozenset({N1}),
    ),
)
def test_a_nomination_the_office_rejected_frees_the_quota_before_the_deadline(case: Case) -> None:
    check(case)


@cases(
    a_retry_with_the_same_id=Case([opened(), submitted()], submit(), DURING, []),
    a_retry_after_the_deadline=Case([opened(), submitted()], submit(), FIRST_LATE_SECOND, []),
    the_same_id_for_another_nominee=Case(
        [opened(), submitted()], submit("E102", REFORM), DURING, "nomination_exists"
    ),
)
def test_a_submission_retried_with_the_same_id_is_recorded_once(case: Case) -> None:
    check(case)


def test_the_nominee_snapshot_is_the_directory_at_submission() -> None:
    moved_on = fold(
        evolve_directory,
        DIRECTORY,
        [
            UnitRenamed(unit_code="U1", previous_name="机电修配厂", name="机电装备公司"),
            EmployeeUpdated(employee_no="E101", unit_code="U1", name="张伟", position="班长"),
        ],
    )
    [event] = decide_round(
        round_from([opened()]), submit(), DURING, directory=moved_on, policy=POLICY
    )
    assert isinstance(event, NominationSubmitted)
    assert event.nominee == NomineeSnapshot(
        employee_no="E101", name="张伟", unit_code="U1", unit_name="机电装备公司", position="班长"
    )
    # Later directory changes do not touch a nomination already made.
    state = round_from([opened(), submitted()])
    assert state is not None
    assert state.nominations[N1].nominee == NOMINEE["E101"]


# --- Opening, extending and closing a round -------------------------------------------------


def open_round(
    round_id: str = ROUND, *, roles: frozenset[str] = OFFICE, deadline: datetime | None = None
) -> OpenRound:
    return OpenRound(actor="office-1", roles=roles, round_id=round_id, deadline=deadline)


MONTHLY = NominationPolicy(cadence=Cadence.MONTHLY)


@cases(
    the_office_opens_a_round_with_the_default_deadline=Case(
        [], open_round(), OPENED_AT, [opened()]
    ),
    the_office_opens_it_with_its_own_deadline=Case(
        [], open_round(deadline=EXTENDED), OPENED_AT, [opened(EXTENDED)]
    ),
    a_non_office_user_opens_it=Case([], open_round(roles=NOMINATOR), OPENED_AT, "not_office"),
    opening_it_twice=Case([opened()], open_round(), OPENED_AT, "round_exists"),
    opening_a_monthly_round_in_a_quarterly_campaign=Case(
        [], open_round("2026-11"), OPENED_AT, "cadence_mismatch"
    ),
    opening_after_its_deadline=Case([], open_round(), FIRST_LATE_SECOND, "deadline_in_past"),
)
def test_only_the_office_opens_a_round_and_only_once(case: Case) -> None:
    check(case)


def test_a_monthly_cadence_works_by_configuration_alone() -> None:
    events = decide_round(
        None, open_round("2026-11"), OPENED_AT, directory=DIRECTORY, policy=MONTHLY
    )
    assert events == [
        RoundOpened(
            round_id="2026-11",
            cadence=Cadence.MONTHLY,
            deadline=datetime(2026, 11, 25, 23, 59, 59, tzinfo=SH),
            opened_by="office-1",
            opened_at=OPENED_AT,
        )
    ]
    state = round_from(events)
    cmd = submit().model_copy(update={"round_id": "2026-11"})
    on_time = datetime(2026, 11, 25, 23, 59, 59, tzinfo=SH)
    late = datetime(2026, 11, 26, 0, 0, 0, tzinfo=SH)
    assert decide_round(state, cmd, on_time, directory=DIRECTORY, policy=MONTHLY)
    with pytest.raises(NominationError) as refused:
        decide_round(state, cmd, late, directory=DIRECTORY, policy=MONTHLY)
    assert refused.value.code == "deadline_passed"


LATER_STILL = datetime(2026, 12, 30, 23, 59, 59, tzinfo=SH)


@cases(
    the_whole_round_later=Case([opened()], extend(), DURING, [extended()]),
    one_unit_later=Case([opened()], extend(unit="U1"), DURING, [UNIT_EXTENDED]),
    one_unit_later_after_the_deadline_before_the_close=Case(
        [opened()],
        extend(unit="U1"),
        FIRST_LATE_SECOND,
        [extended(EXTENDED, "U1", at=FIRST_LATE_SECOND)],
    ),
    that_unit_later_again=Case(
        [opened(), UNIT_EXTENDED],
        extend(LATER_STILL, "U1"),
        DURING,
        [extended(LATER_STILL, "U1", previous=EXTENDED)],
    ),
    the_same_deadline=Case([opened()], extend(DEADLINE), DURING, "extension_not_later"),
    an_earlier_deadline=Case([opened()], extend(DURING), DURING, "extension_not_later"),
    a_unit_back_to_the_round_deadline=Case(
        [opened(), UNIT_EXTENDED], extend(EXTENDED, "U1"), DURING, "extension_not_later"
    ),
    a_deadline_already_past=Case(
        [opened()], extend(EXTENDED), datetime(2026, 12, 29, tzinfo=SH), "extension_not_later"
    ),
    without_a_reason=Case([opened()], extend(reason=""), DURING, "reason_required"),
    an_unknown_unit=Case([opened()], extend(unit="U9"), DURING, "unit_not_found"),
    by_a_nominator=Case([opened()], extend(roles=NOMINATOR), DURING, "not_office"),
)
def test_an_extension_moves_the_deadline_later_and_gives_its_reason(case: Case) -> None:
    check(case)


NOMINATED = submitted("E101")


@cases(
    the_scheduler_at_the_deadline=Case(
        [opened(), NOMINATED], close(), FIRST_LATE_SECOND, [closed(NOMINATED)]
    ),
    the_scheduler_in_the_last_second=Case([opened(), NOMINATED], close(), LAST_SECOND, []),
    the_scheduler_again=Case(
        [opened(), NOMINATED, closed(NOMINATED)], close(), AFTER_EXTENSION, []
    ),
    the_scheduler_before_a_unit_extension_ends=Case(
        [opened(), NOMINATED, UNIT_EXTENDED], close(), FIRST_LATE_SECOND, []
    ),
    the_scheduler_after_a_unit_extension_ends=Case(
        [opened(), NOMINATED, UNIT_EXTENDED],
        close(),
        AFTER_EXTENSION,
        [closed(NOMINATED, at=AFTER_EXTENSION, deadline=EXTENDED)],
    ),
    withdrawn_nominations_are_not_listed=Case(
        [opened(), NOMINATED, withdrawn()], close(), FIRST_LATE_SECOND, [closed()]
    ),
)
def test_the_scheduler_closes_a_round_once_after_the_latest_deadline(case: Case) -> None:
    check(case)


@cases(
    the_office_closes_early=Case(
        [opened(), NOMINATED],
        close(scheduled=False, roles=OFFICE),
        DURING,
        [closed(NOMINATED, at=DURING, how="early", by="office-1")],
    ),
    the_office_closes_after_the_deadline=Case(
        [opened()],
        close(scheduled=False, roles=OFFICE),
        FIRST_LATE_SECOND,
        [closed(by="office-1")],
    ),
    the_office_closes_a_closed_round=Case(
        [opened(), CLOSED_EARLY], close(scheduled=False, roles=OFFICE), DURING, "round_closed"
    ),
    a_nominator_closes_it=Case(
        [opened()], close(scheduled=False, roles=NOMINATOR), DURING, "not_office"
    ),
)
def test_the_office_may_close_a_round_early(case: Case) -> None:
    check(case)


def test_the_close_lists_what_review_needs_including_amendments() -> None:
    state = round_from([opened(), submitted(), amended(at=LAST_SECOND)])
    [event] = decide_round(state, close(), FIRST_LATE_SECOND, directory=DIRECTORY, policy=POLICY)
    assert isinstance(event, NominationsClosed)
    [listed] = event.nominations
    assert listed.nomination_id == N1
    assert listed.nominee == NOMINEE["E101"]
    assert listed.category is STRIVING
    assert listed.last_amended_at == LAST_SECOND


# --- Letting one unit in again after the close ------------------------------------------------

CLOSED = closed(NOMINATED)  # at the deadline, with E101 (U1)
LATE_UNTIL = datetime(2026, 12, 31, 23, 59, 59, tzinfo=SH)
REOPENING_AT = datetime(2026, 12, 28, 9, 0, tzinfo=SH)
IN_THE_LATE_WINDOW = datetime(2026, 12, 30, 10, 0, tzinfo=SH)
AFTER_THE_LATE_WINDOW = datetime(2027, 1, 1, 0, 0, 0, tzinfo=SH)
LATE_REASON = "该单位受抢险任务影响，经工会研究同意补报"


def reopen(
    unit: str = "U2",
    new_deadline: datetime = LATE_UNTIL,
    *,
    reason: str = LATE_REASON,
    roles: frozenset[str] = OFFICE,
) -> ReopenForUnit:
    return ReopenForUnit(
        actor="office-1",
        roles=roles,
        round_id=ROUND,
        unit_code=unit,
        new_deadline=new_deadline,
        reason=reason,
    )


def reopened(
    unit: str = "U2", new_deadline: datetime = LATE_UNTIL, *, at: datetime = REOPENING_AT
) -> RoundReopenedForUnit:
    return RoundReopenedForUnit(
        round_id=ROUND,
        unit_code=unit,
        new_deadline=new_deadline,
        reason=LATE_REASON,
        reopened_by="office-1",
        reopened_at=at,
    )


LATE = submitted("E201", nomination_id=N2, at=IN_THE_LATE_WINDOW)


def unit_closed(
    *nominations: NominationSubmitted,
    unit: str = "U2",
    at: datetime = AFTER_THE_LATE_WINDOW,
    how: str = "deadline",
    by: str = "scheduler",
) -> UnitNominationsClosed:
    return UnitNominationsClosed(
        round_id=ROUND,
        unit_code=unit,
        closed_at=at,
        how=how,  # type: ignore[arg-type]
        closed_by=by,
        deadline=LATE_UNTIL,
        nominations=closed(*nominations).nominations,
    )


@cases(
    the_office_lets_one_unit_in_again=Case(
        [opened(), NOMINATED, CLOSED], reopen(), REOPENING_AT, [reopened()]
    ),
    that_unit_later_still=Case(
        [opened(), CLOSED, reopened()],
        reopen(new_deadline=datetime(2027, 1, 5, 23, 59, 59, tzinfo=SH)),
        IN_THE_LATE_WINDOW,
        [reopened(new_deadline=datetime(2027, 1, 5, 23, 59, 59, tzinfo=SH), at=IN_THE_LATE_WINDOW)],
    ),
    once_the_audit_has_started=Case(
        [opened(), NOMINATED, CLOSED], reopen(), REOPENING_AT, "audit_started", audit_started=True
    ),
    a_round_still_open=Case([opened()], reopen(), DURING, "round_not_closed"),
    a_round_never_opened=Case([], reopen(), REOPENING_AT, "round_not_open"),
    without_a_reason=Case([opened(), CLOSED], reopen(reason=" "), REOPENING_AT, "reason_required"),
    an_unknown_unit=Case([opened(), CLOSED], reopen("U9"), REOPENING_AT, "unit_not_found"),
    a_deadline_already_past=Case(
        [opened(), CLOSED], reopen(new_deadline=REOPENING_AT), REOPENING_AT, "extension_not_later"
    ),
    by_a_nominator=Case([opened(), CLOSED], reopen(roles=NOMINATOR), REOPENING_AT, "not_office"),
)
def test_the_office_may_let_one_unit_in_again_until_the_audit_starts(case: Case) -> None:
    check(case)


@cases(
    the_unit_let_in_submits=Case(
        [opened(), CLOSED, reopened()], submit("E201", nomination_id=N2), IN_THE_LATE_WINDOW, [LATE]
    ),
    in_the_last_second_of_its_window=Case(
        [opened(), CLOSED, reopened()],
        submit("E201", nomination_id=N2),
        LATE_UNTIL,
        [submitted("E201", nomination_id=N2, at=LATE_UNTIL)],
    ),
    past_its_new_deadline=Case(
        [opened(), CLOSED, reopened()],
        submit("E201", nomination_id=N2),
        AFTER_THE_LATE_WINDOW,
        "deadline_passed",
    ),
    another_unit_stays_closed=Case(
        [opened(), CLOSED, reopened()],
        submit("E102", nomination_id=N2),
        IN_THE_LATE_WINDOW,
        "round_closed",
    ),
    once_its_window_is_shut=Case(
        [opened(), CLOSED, reopened(), LATE, unit_closed(LATE)],
        submit("E202", nomination_id=N3),
        IN_THE_LATE_WINDOW,
        "round_closed",
    ),
    the_quota_still_counts=Case(
        [opened(), CLOSED, reopened(), LATE],
        submit("E202", nomination_id=N3),
        IN_THE_LATE_WINDOW,
        "quota_exceeded",
    ),
)
def test_the_unit_let_in_again_nominates_until_its_new_deadline(case: Case) -> None:
    check(case)


@cases(
    the_scheduler_shuts_the_window_after_its_deadline=Case(
        [opened(), NOMINATED, CLOSED, reopened(), LATE],
        close(),
        AFTER_THE_LATE_WINDOW,
        [unit_closed(LATE)],
    ),
    the_scheduler_before_it=Case(
        [opened(), NOMINATED, CLOSED, reopened(), LATE], close(), IN_THE_LATE_WINDOW, []
    ),
    the_scheduler_once=Case(
        [opened(), CLOSED, reopened(), LATE, unit_closed(LATE)], close(), AFTER_THE_LATE_WINDOW, []
    ),
    the_office_shuts_it_early=Case(
        [opened(), CLOSED, reopened(), LATE],
        close(scheduled=False, roles=OFFICE),
        IN_THE_LATE_WINDOW,
        [unit_closed(LATE, at=IN_THE_LATE_WINDOW, how="early", by="office-1")],
    ),
    the_office_again_once_shut=Case(
        [opened(), CLOSED, reopened(), unit_closed()],
        close(scheduled=False, roles=OFFICE),
        IN_THE_LATE_WINDOW,
        "round_closed",
    ),
)
def test_a_late_window_is_shut_like_the_round_and_lists_the_units_nominations(
    case: Case,
) -> None:
    check(case)


def test_extending_a_closed_round_still_points_to_reopening() -> None:
    with pytest.raises(NominationError) as refused:
        decide_round(
            round_from([opened(), CLOSED]),
            extend(unit="U2"),
            REOPENING_AT,
            directory=DIRECTORY,
            policy=POLICY,
        )
    assert refused.value.code == "round_closed"


# --- The directory --------------------------------------------------------------------------


def row(employee_no: str, unit: str = "U1", **changes: object) -> DirectoryRow:
    people = {
        "E101": ("张伟", "钳工"),
        "E102": ("李娜", "电工"),
        "E103": ("王强", "焊工"),
        "E201": ("刘洋", "维修工"),
        "E202": ("陈静", "保洁班长"),
    }
    unit_names = {"U1": "机电修配厂", "U2": "物业服务中心", "U3": "供热公司"}
    name, position = people[employee_no]
    values: dict[str, object] = {
        "unit_code": unit,
        "unit_name": unit_names[unit],
        "employee_no": employee_no,
        "name": name,
        "position": position,
        **changes,
    }
    return DirectoryRow.model_validate(values)


THE_FILE = (
    row("E101"),
    row("E102"),
    row("E103", active=False),
    row("E201", "U2"),
    row("E202", "U2"),
)


def import_rows(*rows: DirectoryRow, complete: bool = False) -> ImportDirectory:
    return ImportDirectory(actor="office-1", roles=OFFICE, rows=rows, complete=complete)


def test_the_first_import_registers_units_and_active_employees() -> None:
    events = decide_import(EMPTY_DIRECTORY, import_rows(*THE_FILE))
    assert events == [
        UnitRegistered(unit_code="U1", name="机电修配厂"),
        UnitRegistered(unit_code="U2", name="物业服务中心"),
        EmployeeRegistered(employee_no="E101", name="张伟", unit_code="U1", position="钳工"),
        EmployeeRegistered(employee_no="E102", name="李娜", unit_code="U1", position="电工"),
        EmployeeRegistered(employee_no="E201", name="刘洋", unit_code="U2", position="维修工"),
        EmployeeRegistered(employee_no="E202", name="陈静", unit_code="U2", position="保洁班长"),
    ]


def test_importing_the_same_file_twice_changes_nothing() -> None:
    first = decide_import(EMPTY_DIRECTORY, import_rows(*THE_FILE))
    state = directory_from(first)
    assert decide_import(state, import_rows(*THE_FILE)) == []
    assert decide_import(DIRECTORY, import_rows(*THE_FILE)) == []


@pytest.mark.parametrize(
    ("rows", "then"),
    [
        pytest.param(
            (row("E101", "U2"),),
            [EmployeeTransferred(employee_no="E101", from_unit_code="U1", to_unit_code="U2")],
            id="a_changed_unit_is_a_transfer",
        ),
        pytest.param(
            (row("E102", active=False),),
            [EmployeeLeft(employee_no="E102", unit_code="U1")],
            id="an_inactive_row_means_the_employee_left",
        ),
        pytest.param(
            (row("E103"),),
            [EmployeeRejoined(employee_no="E103", name="王强", unit_code="U1", position="焊工")],
            id="a_returning_employee_rejoins",
        ),
        pytest.param(
            (row("E101", position="班长"),),
            [EmployeeUpdated(employee_no="E101", unit_code="U1", name="张伟", position="班长")],
            id="a_new_position_is_an_update",
        ),
        pytest.param(
            (row("E201", "U2", unit_name="物业公司"),),
            [UnitRenamed(unit_code="U2", previous_name="物业服务中心", name="物业公司")],
            id="a_renamed_unit",
        ),
        pytest.param(
            (row("E201", "U3"),),
            [
                UnitRegistered(unit_code="U3", name="供热公司"),
                EmployeeTransferred(employee_no="E201", from_unit_code="U2", to_unit_code="U3"),
            ],
            id="a_transfer_to_a_new_unit",
        ),
        pytest.param(
            (row("E103", active=False),),
            [],
            id="a_leaver_who_is_still_gone",
        ),
    ],
)
def test_an_import_emits_only_the_differences(
    rows: tuple[DirectoryRow, ...], then: list[DomainEvent]
) -> None:
    assert decide_import(DIRECTORY, import_rows(*rows)) == then


def test_a_complete_import_marks_the_missing_as_left() -> None:
    without_e202 = THE_FILE[:-1]
    assert decide_import(DIRECTORY, import_rows(*without_e202)) == []
    assert decide_import(DIRECTORY, import_rows(*without_e202, complete=True)) == [
        EmployeeLeft(employee_no="E202", unit_code="U2")
    ]


def test_a_transferred_employee_is_nominated_by_the_new_unit_only() -> None:
    moved = directory_from(
        decide_import(DIRECTORY, import_rows(row("E101", "U2"))), initial=DIRECTORY
    )
    state = round_from([opened()])
    with pytest.raises(NominationError) as refused:
        decide_round(state, submit("E101"), DURING, directory=moved, policy=POLICY)
    assert refused.value.code == "employee_not_in_unit"
    [event] = decide_round(state, submit("E101", unit="U2"), DURING, directory=moved, policy=POLICY)
    assert isinstance(event, NominationSubmitted)
    assert event.nominee.unit_code == "U2"
    assert event.nominee.unit_name == "物业服务中心"


@pytest.mark.parametrize(
    ("rows", "roles", "code"),
    [
        pytest.param(
            (row("E101"), row("E101", position="班长")),
            OFFICE,
            "invalid_directory",
            id="one_employee_twice",
        ),
        pytest.param(
            (row("E101"), row("E102", unit_name="别名")),
            OFFICE,
            "invalid_directory",
            id="one_unit_with_two_names",
        ),
        pytest.param(THE_FILE, NOMINATOR, "not_office", id="a_nominator_imports"),
    ],
)
def test_an_inconsistent_or_unauthorised_import_is_refused(
    rows: tuple[DirectoryRow, ...], roles: frozenset[str], code: str
) -> None:
    cmd = ImportDirectory(actor="someone", roles=roles, rows=rows)
    with pytest.raises(NominationError) as refused:
        decide_import(DIRECTORY, cmd)
    assert refused.value.code == code


def test_an_admin_may_import_the_directory() -> None:
    cmd = ImportDirectory(actor="admin-1", roles=frozenset({"admin"}), rows=(row("E102", "U2"),))
    assert decide_import(DIRECTORY, cmd) == [
        EmployeeTransferred(employee_no="E102", from_unit_code="U1", to_unit_code="U2")
    ]


def test_the_policy_comes_from_the_settings() -> None:
    configured = Settings(
        _env_file=None,  # type: ignore[call-arg]
        cadence="monthly",
        deadline_day=20,
        deadline_time="18:00:00",
        quota_per_unit_category=2,
        cooldown_rounds=3,
    )
    assert policy_from_settings(configured) == NominationPolicy(
        cadence=Cadence.MONTHLY,
        deadline_day=20,
        deadline_time=time(18, 0),
        quota_per_unit_category=2,
        cooldown_rounds=3,
    )


def test_folding_the_directory_one_event_at_a_time_equals_the_batch_fold() -> None:
    assert fold(evolve_directory, EMPTY_DIRECTORY, DIRECTORY_EVENTS) == DIRECTORY
    assert DIRECTORY.employees["E103"].active is False


# --- The contract ---------------------------------------------------------------------------


def test_every_event_survives_the_wire_and_is_in_the_registry() -> None:
    samples: list[DomainEvent] = [
        *DIRECTORY_EVENTS,
        UnitRenamed(unit_code="U1", previous_name="a", name="b"),
        EmployeeTransferred(employee_no="E1", from_unit_code="U1", to_unit_code="U2"),
        EmployeeUpdated(employee_no="E1", unit_code="U1", name="n", position="p"),
        EmployeeRejoined(employee_no="E1", name="n", unit_code="U1", position="p"),
        opened(),
        UNIT_EXTENDED,
        submitted(links=LINKS_OK),
        amended(),
        withdrawn(),
        closed(submitted()),
        reopened(),
        unit_closed(LATE),
        PersonalDataErased(
            subject_id=UUID(int=1), reason="本人申请", erased_by="u-office", erased_at=DURING
        ),
        ExpiredPersonalDataShredded(
            subjects=(
                ShreddedSubject(
                    subject_id=UUID(int=2), rule="unsuccessful_nomination", expired_at=DURING
                ),
            ),
            counts={"unsuccessful_nomination": 1},
            years={"unsuccessful_nomination": 3, "objection": 1, "payroll": 30},
            ran_at=DURING,
        ),
        NomineeCorrected(
            nomination_id=UUID(int=3),
            round_id=ROUND,
            employee_no="E001",
            field="name",
            value="张伟",
            reason="本人申请更正",
            corrected_by="u-office",
            corrected_at=DURING,
        ),
        PublicityConsentRecorded(
            nomination_id=N1,
            round_id=ROUND,
            employee_no="E101",
            consent=PublicityConsent.to_all(),
            recorded_by="nominator-U1",
            recorded_at=DURING,
        ),
    ]
    assert {type(e) for e in samples} == set(registry.models)
    for event in samples:
        assert event.service == "nomination"
        assert event.subject() == f"flowers.evt.nomination.{event.event_type}"
        assert registry.decode(event.event_type, event.schema_version, event.to_data()) == event


def test_a_round_lives_in_its_own_stream() -> None:
    assert round_stream_id("2026-Q4") == "round-2026-Q4"


def test_events_hold_utc_times() -> None:
    [event] = decide_round(
        round_from([opened()]), submit(), DURING, directory=DIRECTORY, policy=POLICY
    )
    assert isinstance(event, NominationSubmitted)
    assert event.submitted_at.utcoffset() is not None
    assert event.submitted_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_the_domain_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide_round(
            round_from([opened()]),
            submit(),
            datetime(2026, 12, 20, 10, 0),
            directory=DIRECTORY,
            policy=POLICY,
        )


def test_every_refusal_has_a_stable_unique_code() -> None:
    def subclasses(cls: type[NominationError]) -> list[type[NominationError]]:
        found = []
        for sub in cls.__subclasses__():
            found += [sub, *subclasses(sub)]
        return found

    codes = [cls.code for cls in subclasses(NominationError)]
    assert len(codes) == len(set(codes))
    assert all(code.islower() and " " not in code for code in codes)


def test_folding_a_round_leaves_every_earlier_state_as_it_was() -> None:
    """The nominations map is persistent (shared.pmap): each event makes a new version
    without copying the round's map, and no earlier state sees a later change."""
    ids = [UUID(int=i + 1) for i in range(40)]
    states = [evolve_round(None, opened())]
    for n, nomination_id in enumerate(ids):
        employee = "E101" if n % 2 else "E102"
        states.append(evolve_round(states[-1], submitted(employee, nomination_id=nomination_id)))
    for n, state in enumerate(states):
        assert state is not None
        assert list(state.nominations) == ids[:n]
        assert state.nominations == {i: state.nominations[i] for i in ids[:n]}
