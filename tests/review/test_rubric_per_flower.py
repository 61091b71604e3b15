"""A rubric per flower (a setting): a flower with its own rubric is scored and decided on it;
every other flower keeps the shared one."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from services.review.aggregation import Rubric
from services.review.domain import ReviewPolicy, decide
from services.review.errors import ReviewError
from services.review.handlers import policy_from_settings
from shared.contracts.review import ScoreSubmitted, WinnersDecided
from shared.contracts.review_commands import DecideWinners, SubmitScore
from shared.settings import Settings
from tests.review.test_domain import (
    LEADER,
    POLICY,
    REFORM,
    REVIEWING,
    ROUND,
    STRIVING,
    A,
    R,
    audited,
    scored,
    sheet,
)

REFORM_RUBRIC = Rubric({"innovation": Decimal(60), "achievements": Decimal(40)})
PER_FLOWER = replace(POLICY, rubrics={REFORM: REFORM_RUBRIC})


def submit(nomination_id: object, criteria: dict[str, Decimal]) -> SubmitScore:
    return SubmitScore(round_id=ROUND, actor="p-go", nomination_id=nomination_id, criteria=criteria)


@pytest.mark.parametrize(
    ("nomination_id", "criteria", "total"),
    [
        pytest.param(
            R,
            {"innovation": Decimal(90), "achievements": Decimal(70)},
            Decimal("82.0000"),  # (90*60 + 70*40) / 100
            id="the reform flower is scored on its own rubric",
        ),
        pytest.param(
            A, sheet(80), Decimal("80.0000"), id="the striving flower keeps the shared rubric"
        ),
    ],
)
def test_a_score_is_weighted_by_its_flowers_rubric(
    nomination_id: object, criteria: dict[str, Decimal], total: Decimal
) -> None:
    (event,) = decide(audited().state, submit(nomination_id, criteria), REVIEWING, PER_FLOWER)
    assert isinstance(event, ScoreSubmitted)
    assert event.total == total


@pytest.mark.parametrize(
    ("nomination_id", "criteria"),
    [
        pytest.param(R, sheet(80), id="the shared sheet does not fit the reform rubric"),
        pytest.param(
            A,
            {"innovation": Decimal(90), "achievements": Decimal(70)},
            id="the reform sheet does not fit the striving flower",
        ),
    ],
)
def test_a_sheet_must_fit_its_flowers_rubric(
    nomination_id: object, criteria: dict[str, Decimal]
) -> None:
    with pytest.raises(ReviewError) as refused:
        decide(audited().state, submit(nomination_id, criteria), REVIEWING, PER_FLOWER)
    assert refused.value.code == "invalid_score"


def test_the_decision_records_the_rubric_of_its_flower() -> None:
    state = scored().state
    cmd = DecideWinners(round_id=ROUND, **LEADER, category=STRIVING, winners=(A,))
    (event,) = decide(state, cmd, REVIEWING, PER_FLOWER)
    assert isinstance(event, WinnersDecided)
    assert event.method.rubric == dict(POLICY.rubric.weights)
    assert PER_FLOWER.rubric_for(REFORM) == REFORM_RUBRIC
    assert PER_FLOWER.rubric_for(STRIVING) == POLICY.rubric


def test_the_rubric_per_flower_is_a_setting() -> None:
    settings = Settings(
        review_rubric_by_category={"reform": {"innovation": Decimal(60), "achievements": 40}}
    )
    policy: ReviewPolicy = policy_from_settings(settings)
    assert policy.rubric_for(REFORM) == REFORM_RUBRIC
    assert policy.rubric_for(STRIVING) == Rubric()
    with pytest.raises(ValueError, match="bravery"):
        Settings(review_rubric_by_category={"bravery": {"innovation": Decimal(1)}})
    with pytest.raises(ValueError, match="non-negative"):
        Settings(review_rubric_by_category={"reform": {"innovation": Decimal(-1)}})
