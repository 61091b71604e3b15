"""The office's erasure of personal data, as given/when/then tables (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.nomination.domain import (
    NO_ERASURES,
    Erasures,
    PayrollFact,
    decide_erasure,
    evolve_erasures,
)
from services.nomination.errors import LegalHold, NoPersonalData, NotOffice
from shared.clock import SHANGHAI
from shared.contracts.nomination import PersonalDataErased
from shared.contracts.nomination_commands import ErasePersonalData
from shared.eventstore import fold

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
SUBJECT = uuid.UUID("5f0c8a4e-0000-4000-8000-000000000001")


def erase(roles: frozenset[str] = frozenset({"office"})) -> ErasePersonalData:
    return ErasePersonalData(
        actor="u-office", roles=roles, employee_no="E001", reason="本人申请删除（个保法第47条）"
    )


def erased(subject: uuid.UUID = SUBJECT) -> PersonalDataErased:
    return PersonalDataErased(
        subject_id=subject, reason="本人申请删除", erased_by="u-office", erased_at=NOW
    )


def test_the_office_erases_the_data_held_under_the_employees_pseudonym() -> None:
    assert decide_erasure(NO_ERASURES, erase(), SUBJECT, NOW, payroll=(), payroll_years=30) == [
        PersonalDataErased(
            subject_id=SUBJECT,
            reason="本人申请删除（个保法第47条）",
            erased_by="u-office",
            erased_at=NOW,
        )
    ]


def test_the_same_erasure_again_records_nothing() -> None:
    given = fold(evolve_erasures, NO_ERASURES, [erased()])
    assert given == Erasures(frozenset({SUBJECT}))
    assert decide_erasure(given, erase(), SUBJECT, NOW, payroll=(), payroll_years=30) == []


@pytest.mark.parametrize(
    ("roles", "subject", "error"),
    [
        (frozenset({"nominator"}), SUBJECT, NotOffice),
        (frozenset({"admin"}), SUBJECT, NotOffice),
        (frozenset({"office"}), None, NoPersonalData),
        (frozenset({"nominator"}), None, NotOffice),  # nobody but the office learns anything
    ],
)
def test_only_the_office_erases_and_only_data_that_is_held(
    roles: frozenset[str], subject: uuid.UUID | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        decide_erasure(NO_ERASURES, erase(roles), subject, NOW, payroll=(), payroll_years=30)


def test_the_erasure_event_holds_nothing_personal() -> None:
    data = erased().to_data()
    assert set(data) == {"subject_id", "reason", "erased_by", "erased_at"}
    assert "E001" not in str(data)


# --- Legal hold: payroll facts are kept 30 years (会计档案管理办法) ---------------------


def beijing(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def won(round_id: str, at: datetime | None) -> PayrollFact:
    return PayrollFact(round_id, at)


HOLD_ROWS = [
    # (given the employee's payroll facts, years, when erased, then: None = erased, or the
    #  year the hold ends)
    ("nominated, never won", [], 30, NOW, None),
    ("won this year", [won("2026-Q3", beijing(2026, 11, 10))], 30, NOW, 2056),
    (
        "won in December: paid with January's wages",
        [won("2026-Q4", beijing(2026, 12, 28))],
        30,
        NOW,
        2057,
    ),
    ("won 31 years ago: the hold is over", [won("1995-Q2", beijing(1995, 6, 1))], 30, NOW, None),
    (
        "won 31 years ago, revoked 29 years ago: the reversal holds",
        [won("1995-Q2", beijing(1995, 6, 1)), won("1995-Q2", beijing(1997, 3, 5))],
        30,
        NOW,
        2027,
    ),
    (
        "won twice: the later win holds",
        [won("1995-Q2", beijing(1995, 6, 1)), won("2020-Q1", beijing(2020, 4, 1))],
        30,
        NOW,
        2050,
    ),
    ("the union keeps payroll 40 years", [won("1990-Q1", beijing(1990, 4, 1))], 40, NOW, 2030),
    (
        "a win whose time is not known yet counts from now (December: next year)",
        [won("2010-Q1", None)],
        30,
        NOW,
        2057,
    ),
    (
        "the last day of the hold, Beijing time",
        [won("1995-Q2", beijing(1995, 6, 1))],
        30,
        datetime(2025, 12, 31, 23, 59, 59, tzinfo=SHANGHAI),
        2025,
    ),
    (
        "the first day after the hold, Beijing time (still 2025 in UTC)",
        [won("1995-Q2", beijing(1995, 6, 1))],
        30,
        datetime(2025, 12, 31, 16, 0, tzinfo=UTC),
        None,
    ),
]


@pytest.mark.parametrize(
    ("given", "years", "when", "then"),
    [row[1:] for row in HOLD_ROWS],
    ids=[row[0] for row in HOLD_ROWS],
)
def test_a_winners_payroll_facts_hold_their_personal_data_for_the_legal_period(
    given: list[PayrollFact], years: int, when: datetime, then: int | None
) -> None:
    if then is None:
        assert [
            type(e)
            for e in decide_erasure(
                NO_ERASURES, erase(), SUBJECT, when, payroll=given, payroll_years=years
            )
        ] == [PersonalDataErased]
        return
    with pytest.raises(LegalHold) as refused:
        decide_erasure(NO_ERASURES, erase(), SUBJECT, when, payroll=given, payroll_years=years)
    assert refused.value.code == "legal_hold"
    assert refused.value.status == 409
    assert refused.value.details["hold_ends_year"] == then
    assert "会计档案管理办法" in refused.value.message_zh
    assert f"{then} 年 12 月 31 日" in refused.value.message_zh
    assert f"{years} 年" in refused.value.message_zh


def test_an_erasure_recorded_before_is_finished_whatever_the_hold() -> None:
    given = fold(evolve_erasures, NO_ERASURES, [erased()])
    facts = [won("2026-Q3", beijing(2026, 11, 10))]
    assert decide_erasure(given, erase(), SUBJECT, NOW, payroll=facts, payroll_years=30) == []


def test_only_the_office_learns_of_a_hold() -> None:
    facts = [won("2026-Q3", beijing(2026, 11, 10))]
    with pytest.raises(NotOffice):
        decide_erasure(
            NO_ERASURES,
            erase(frozenset({"nominator"})),
            SUBJECT,
            NOW,
            payroll=facts,
            payroll_years=30,
        )
