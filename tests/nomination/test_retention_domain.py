"""Retention of personal data: who expires when, and what a run records (pure tables)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.nomination.domain import NO_ERASURES, Erasures
from services.nomination.retention import (
    Expiry,
    Holding,
    Nominated,
    Objected,
    RetentionPolicy,
    Rule,
    decide_retention,
    evolve_shredded,
    expired,
    plus_years,
    subject_expiry,
)
from shared.contracts.nomination import (
    ExpiredPersonalDataShredded,
    PersonalDataErased,
    ShreddedSubject,
)
from shared.eventstore import fold

POLICY = RetentionPolicy()  # 3 years after the round for a nomination that did not win
RESULT_2023 = datetime(2023, 12, 28, 2, 0, tzinfo=UTC)  # round 2023-Q4's result
RESULT_2024 = datetime(2024, 3, 28, 2, 0, tzinfo=UTC)  # round 2024-Q1's result
EXPIRES_2023 = datetime(2026, 12, 28, 2, 0, tzinfo=UTC)
EXPIRES_2024 = datetime(2027, 3, 28, 2, 0, tzinfo=UTC)
A = uuid.UUID("5f0c8a4e-0000-4000-8000-00000000000a")
B = uuid.UUID("5f0c8a4e-0000-4000-8000-00000000000b")


def lost(employee_no: str, result_at: datetime | None = RESULT_2023) -> Nominated:
    return Nominated(employee_no, "2023-Q4", result_at, won=False)


def won(employee_no: str) -> Nominated:
    return Nominated(employee_no, "2024-Q1", RESULT_2024, won=True)


@pytest.mark.parametrize(
    ("given", "then"),
    [
        # one nomination that did not win: 3 years after its round's result
        ([lost("E1")], Expiry(Rule.UNSUCCESSFUL_NOMINATION, EXPIRES_2023)),
        # a winner's public record is kept
        ([won("E1")], Expiry(Rule.WINNER, None)),
        # a winner who also had a nomination that did not win: kept all the same
        ([lost("E1"), won("E1")], Expiry(Rule.WINNER, None)),
        # a round without a result yet: not over, kept for now
        ([lost("E1", None)], Expiry(Rule.ROUND_NOT_OVER, None)),
        ([lost("E1"), lost("E1", None)], Expiry(Rule.ROUND_NOT_OVER, None)),
        # two that did not win: the later one's time
        (
            [lost("E1"), Nominated("E1", "2024-Q1", RESULT_2024, won=False)],
            Expiry(Rule.UNSUCCESSFUL_NOMINATION, EXPIRES_2024),
        ),
    ],
)
def test_how_long_a_subjects_data_is_kept(given: list[Nominated], then: Expiry) -> None:
    assert subject_expiry(given, POLICY) == then


RESOLVED_2025 = datetime(2025, 6, 30, 2, 0, tzinfo=UTC)  # an objection's resolution
OBJECTION_EXPIRES = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)  # 1 year later


def objected(subject: str, resolved_at: datetime | None = RESOLVED_2025) -> Objected:
    return Objected(subject, "2025-Q2", 1, resolved_at)


@pytest.mark.parametrize(
    ("given", "then"),
    [
        # an objection: 1 year after its resolution
        ([objected("E9")], Expiry(Rule.OBJECTION, OBJECTION_EXPIRES)),
        # an objection still open: kept until it is resolved
        ([objected("E9", None)], Expiry(Rule.OBJECTION_OPEN, None)),
        # a winner who objected to someone keeps their key (one key per person)
        ([objected("E9"), won("E9")], Expiry(Rule.WINNER, None)),
        # a nominee who did not win and objected: the later of the two times
        ([objected("E9"), lost("E9")], Expiry(Rule.UNSUCCESSFUL_NOMINATION, EXPIRES_2023)),
        (
            [lost("E9"), Objected("E9", "2027-Q1", 2, datetime(2027, 4, 1, tzinfo=UTC))],
            Expiry(Rule.OBJECTION, datetime(2028, 4, 1, tzinfo=UTC)),
        ),
        # an objector's open objection keeps their nominations' data too
        ([lost("E9"), objected("E9", None)], Expiry(Rule.OBJECTION_OPEN, None)),
        # an objector without an employee number: their user id's subject
        ([objected("user:u-7")], Expiry(Rule.OBJECTION, OBJECTION_EXPIRES)),
    ],
)
def test_how_long_an_objectors_data_is_kept(
    given: list[Nominated | Objected], then: Expiry
) -> None:
    assert subject_expiry(given, POLICY) == then


def test_exactly_the_objectors_past_their_time_expire() -> None:
    held: list[Holding] = [
        objected("E1"),
        objected("E2"),  # won since: kept
        won("E2"),
        objected("E3", None),  # still open
        objected("user:u-7"),
        Objected("E4", "2025-Q3", 2, datetime(2025, 9, 30, 2, 0, tzinfo=UTC)),
    ]
    assert set(expired(held, POLICY, OBJECTION_EXPIRES)) == {"E1", "user:u-7"}
    assert set(expired(held, RetentionPolicy(objection_years=2), OBJECTION_EXPIRES)) == set()
    late = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
    assert {k: v.rule for k, v in expired(held, POLICY, late).items()} == {
        "E1": Rule.OBJECTION,
        "E4": Rule.OBJECTION,
        "user:u-7": Rule.OBJECTION,
    }


@pytest.mark.parametrize(
    ("now", "then"),
    [
        (datetime(2026, 12, 28, 1, 59, tzinfo=UTC), set()),  # a minute early
        (EXPIRES_2023, {"E1"}),  # on the dot
        (datetime(2027, 3, 28, 2, 0, tzinfo=UTC), {"E1", "E3"}),
    ],
)
def test_exactly_the_subjects_past_their_time_expire(now: datetime, then: set[str]) -> None:
    held = [
        lost("E1"),
        lost("E2"),  # also won later: kept
        won("E2"),
        lost("E3"),
        Nominated("E3", "2024-Q1", RESULT_2024, won=False),
        lost("E4", None),  # round not over
    ]
    assert set(expired(held, POLICY, now)) == then


def test_the_years_are_a_setting() -> None:
    assert set(expired([lost("E1")], RetentionPolicy(5), EXPIRES_2023)) == set()
    assert plus_years(datetime(2024, 2, 29, tzinfo=UTC), 3) == datetime(2027, 2, 28, tzinfo=UTC)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        expired([lost("E1")], POLICY, datetime(2027, 1, 1))


NOW = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)
DUE = {
    B: Expiry(Rule.UNSUCCESSFUL_NOMINATION, EXPIRES_2023),
    A: Expiry(Rule.UNSUCCESSFUL_NOMINATION, EXPIRES_2023),
}


def test_a_run_records_the_expired_subjects_rule_and_counts() -> None:
    assert decide_retention(NO_ERASURES, DUE, POLICY, NOW) == [
        ExpiredPersonalDataShredded(
            subjects=(
                ShreddedSubject(
                    subject_id=A, rule="unsuccessful_nomination", expired_at=EXPIRES_2023
                ),
                ShreddedSubject(
                    subject_id=B, rule="unsuccessful_nomination", expired_at=EXPIRES_2023
                ),
            ),
            counts={"unsuccessful_nomination": 2},
            years={"unsuccessful_nomination": 3, "objection": 1, "payroll": 30},
            ran_at=NOW,
        )
    ]


@pytest.mark.parametrize(
    ("given", "then"),
    [
        ([], {A, B}),
        # a second run (or a restart after a recorded run) records nothing again
        (decide_retention(NO_ERASURES, DUE, POLICY, NOW), set()),
        # the office erased one of them already: only the other
        (
            [PersonalDataErased(subject_id=A, reason="本人申请", erased_by="u", erased_at=NOW)],
            {B},
        ),
    ],
)
def test_no_subject_is_recorded_twice(given: list[object], then: set[uuid.UUID]) -> None:
    state = fold(evolve_shredded, NO_ERASURES, given)  # type: ignore[arg-type]
    events = decide_retention(state, DUE, POLICY, NOW)
    assert {s.subject_id for e in events for s in e.subjects} == then  # type: ignore[attr-defined]


def test_the_recorded_subjects_are_the_states() -> None:
    events = decide_retention(Erasures(), DUE, POLICY, NOW)
    assert fold(evolve_shredded, NO_ERASURES, events) == Erasures(frozenset({A, B}))
