"""The office's correction of a nominee's name or position, as given/when/then tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

import pytest

from services.nomination.correction import decide_correction
from services.nomination.domain import RoundState, evolve_round
from services.nomination.errors import NominationNotFound, NotOffice
from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import NominationSubmitted, NomineeCorrected, RoundOpened
from shared.contracts.nomination_commands import CorrectNominee
from shared.eventstore import fold
from shared.rounds import Cadence

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
NOMINATION = uuid.UUID("5f0c8a4e-0000-4000-8000-000000000001")
GIVEN = [
    RoundOpened(
        round_id="2026-Q4",
        cadence=Cadence.QUARTERLY,
        deadline=datetime(2026, 12, 25, 15, 59, 59, tzinfo=UTC),
        opened_by="office-1",
        opened_at=NOW,
    ),
    NominationSubmitted(
        nomination_id=NOMINATION,
        round_id="2026-Q4",
        category=Category.STRIVING,
        nominee=NomineeSnapshot(
            employee_no="E001",
            name="张玮",
            unit_code="WY",
            unit_name="物业服务中心",
            position="维修工",
        ),
        deeds="事迹" * 30,
        results=(),
        evidence_links=(),
        recommendation="同意推荐",
        submitted_by="nominator-WY",
        submitted_at=NOW,
    ),
]


def state() -> RoundState | None:
    return fold(evolve_round, None, GIVEN)


def correct(
    field: Literal["name", "position"] = "name",
    value: str = "张伟",
    roles: frozenset[str] = frozenset({"office"}),
    nomination_id: uuid.UUID = NOMINATION,
) -> CorrectNominee:
    return CorrectNominee(
        actor="office-1",
        roles=roles,
        nomination_id=nomination_id,
        field=field,
        value=value,
        reason="本人申请更正（个保法第四十六条）",
    )


@pytest.mark.parametrize(("field", "value"), [("name", "张伟"), ("position", "维修班班长")])
def test_the_office_corrects_a_field_with_who_and_why(
    field: Literal["name", "position"], value: str
) -> None:
    assert decide_correction(state(), correct(field, value), NOW) == [
        NomineeCorrected(
            nomination_id=NOMINATION,
            round_id="2026-Q4",
            employee_no="E001",
            field=field,
            value=value,
            reason="本人申请更正（个保法第四十六条）",
            corrected_by="office-1",
            corrected_at=NOW,
        )
    ]


def test_the_round_reads_the_corrected_value_from_then_on() -> None:
    events = decide_correction(state(), correct(), NOW)
    after = fold(evolve_round, state(), events)
    assert after is not None
    nominee = after.nominations[NOMINATION].nominee
    assert (nominee.name, nominee.position, nominee.employee_no) == ("张伟", "维修工", "E001")
    # The same request again records nothing.
    assert decide_correction(after, correct(), NOW) == []


@pytest.mark.parametrize(
    ("cmd", "error"),
    [
        (correct(roles=frozenset({"nominator"})), NotOffice),
        (correct(nomination_id=uuid.UUID(int=9)), NominationNotFound),
    ],
)
def test_only_the_office_corrects_an_existing_nomination(
    cmd: CorrectNominee, error: type[Exception]
) -> None:
    with pytest.raises(error):
        decide_correction(state(), cmd, NOW)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide_correction(state(), correct(), datetime(2026, 12, 3))
