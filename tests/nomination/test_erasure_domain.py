"""The office's erasure of personal data, as given/when/then tables (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.nomination.domain import (
    NO_ERASURES,
    Erasures,
    decide_erasure,
    evolve_erasures,
)
from services.nomination.errors import NoPersonalData, NotOffice
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
    assert decide_erasure(NO_ERASURES, erase(), SUBJECT, NOW) == [
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
    assert decide_erasure(given, erase(), SUBJECT, NOW) == []


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
        decide_erasure(NO_ERASURES, erase(roles), subject, NOW)


def test_the_erasure_event_holds_nothing_personal() -> None:
    data = erased().to_data()
    assert set(data) == {"subject_id", "reason", "erased_by", "erased_at"}
    assert "E001" not in str(data)
