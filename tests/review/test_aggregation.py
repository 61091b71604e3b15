"""Scoring math: rubric totals, means, z-score normalisation and the ranking."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.review.aggregation import (
    PanelScore,
    Rubric,
    RubricError,
    aggregate,
    plain_mean,
    rank,
    trimmed_mean,
    zscore_normalise,
)

D = Decimal

totals = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)


def sheet(a: int, e: int, i: int, r: int) -> dict[str, Decimal]:
    return {"achievements": D(a), "exemplary_role": D(e), "innovation": D(i), "recognition": D(r)}


# --- A worked example, checked by hand --------------------------------------------------------


def test_a_worked_example_of_five_panelists_scoring_one_nomination() -> None:
    rubric = Rubric()  # achievements 40, exemplary role 30, innovation 20, recognition 10
    # P1: (90*40 + 80*30 + 70*20 + 60*10) / 100 = (3600 + 2400 + 1400 + 600) / 100 = 80
    # P2: (70*40 + 70*30 + 70*20 + 70*10) / 100 = 7000 / 100                        = 70
    # P3: (100*40 + 90*30 + 80*20 + 70*10) / 100 = (4000 + 2700 + 1600 + 700) / 100 = 90
    # P4: 60 everywhere                                                             = 60
    # P5: (85*40 + 85*30 + 85*20 + 85*10) / 100                                     = 85
    sheets = [sheet(90, 80, 70, 60), sheet(70, 70, 70, 70), sheet(100, 90, 80, 70)]
    sheets += [sheet(60, 60, 60, 60), sheet(85, 85, 85, 85)]
    got = [rubric.weighted_total(s) for s in sheets]
    assert got == [D(80), D(70), D(90), D(60), D(85)]
    # Five scores: drop the highest (90) and the lowest (60): (80 + 70 + 85) / 3 = 235 / 3
    # = 78.3333… -> 78.3333. The plain mean would be (80+70+90+60+85) / 5 = 385 / 5 = 77.
    assert aggregate(got) == (D("78.3333"), "trimmed_mean")
    assert plain_mean(got) == D("77.0000")
    # Four scores are too few to trim: (80 + 70 + 90 + 60) / 4 = 300 / 4 = 75.
    assert aggregate(got[:4]) == (D("75.0000"), "mean")


def test_a_worked_example_of_a_strict_and_a_lenient_panelist() -> None:
    # Strict A gives X 60, Y 70; lenient B gives X 80, Y 90. All four totals: mean M = 75,
    # population stdev S = sqrt((15² + 5² + 5² + 15²) / 4) = sqrt(125) = 11.18033988…
    # Each panelist: mean 65 (A) or 85 (B), stdev 5, so X is -1 and Y +1 standard deviation:
    # X -> 75 - 11.18033988 = 63.8197, Y -> 75 + 11.18033988 = 86.1803, from both panelists.
    scores = [
        PanelScore("X", "A", "finance", D(60)),
        PanelScore("Y", "A", "finance", D(70)),
        PanelScore("X", "B", "general_office", D(80)),
        PanelScore("Y", "B", "general_office", D(90)),
    ]
    assert [s.total for s in zscore_normalise(scores)] == [
        D("63.8197"),
        D("86.1803"),
        D("63.8197"),
        D("86.1803"),
    ]
    ranking = rank(["X", "Y"], scores, min_scores=2, zscore=True)
    assert [(e.nomination_id, e.rank, e.score, e.raw_mean) for e in ranking.entries] == [
        ("Y", 1, D("86.1803"), D("80.0000")),
        ("X", 2, D("63.8197"), D("70.0000")),
    ]


# --- The rubric --------------------------------------------------------------------------------


def test_weights_are_configurable_and_the_total_stays_on_a_0_to_100_scale() -> None:
    rubric = Rubric({"achievements": D(1), "innovation": D(3)})
    # (80*1 + 40*3) / (1 + 3) = 200 / 4 = 50
    assert rubric.weighted_total({"achievements": D(80), "innovation": D(40)}) == D(50)


@pytest.mark.parametrize(
    "scores",
    [
        {"achievements": D(80)},  # missing criteria
        {**sheet(80, 80, 80, 80), "charisma": D(90)},  # unknown criterion
        sheet(101, 80, 80, 80),  # above 100
        sheet(80, -1, 80, 80),  # below 0
    ],
)
def test_a_score_sheet_must_fit_the_rubric(scores: dict[str, Decimal]) -> None:
    with pytest.raises(RubricError):
        Rubric().weighted_total(scores)


# --- Properties --------------------------------------------------------------------------------


@given(
    st.lists(totals, min_size=1, max_size=12).flatmap(
        lambda v: st.tuples(st.just(v), st.permutations(v))
    )
)
def test_the_order_of_scores_never_changes_the_aggregate(
    pair: tuple[list[Decimal], list[Decimal]],
) -> None:
    values, shuffled = pair
    assert aggregate(values) == aggregate(shuffled)


@given(st.lists(totals, min_size=3, max_size=12))
def test_the_trimmed_mean_lies_between_the_lowest_and_the_highest_score(
    values: list[Decimal],
) -> None:
    assert min(values) <= trimmed_mean(values) <= max(values)


panel_scores = st.lists(
    st.tuples(
        st.sampled_from(["n1", "n2", "n3", "n4"]),
        st.sampled_from(["p1", "p2", "p3", "p4", "p5"]),
        totals,
    ),
    min_size=1,
    max_size=20,
    unique_by=lambda t: (t[0], t[1]),
).map(lambda rows: [PanelScore(n, p, f"dept-{p}", t) for n, p, t in rows])


@given(panel_scores.flatmap(lambda s: st.tuples(st.just(s), st.permutations(s))), st.booleans())
def test_the_order_in_which_scores_arrive_never_changes_the_ranking(
    pair: tuple[list[PanelScore], list[PanelScore]], zscore: bool
) -> None:
    scores, shuffled = pair
    ids = ["n1", "n2", "n3", "n4"]
    assert rank(ids, scores, min_scores=2, zscore=zscore) == rank(
        list(reversed(ids)), shuffled, min_scores=2, zscore=zscore
    )


@given(
    st.lists(totals, min_size=1, max_size=8),
    st.integers(min_value=1, max_value=6),
)
def test_z_scores_leave_a_panel_of_identical_panelists_unchanged(
    their_totals: list[Decimal], panelists: int
) -> None:
    scores = [
        PanelScore(f"n{i}", f"p{p}", f"dept-{p}", total)
        for p in range(panelists)
        for i, total in enumerate(their_totals)
    ]
    assert zscore_normalise(scores) == scores


# --- The ranking -------------------------------------------------------------------------------


def test_ties_are_broken_by_the_untrimmed_mean_then_by_nomination_id() -> None:
    def five(nid: str, values: list[int]) -> list[PanelScore]:
        return [PanelScore(nid, f"p{i}", f"d{i}", D(v)) for i, v in enumerate(values)]

    # A and B both trim to (70 + 80 + 90) / 3 = 80; A's untrimmed mean is 80, B's is 82.
    # C and D are identical in every respect: the id decides.
    scores = five("A", [60, 70, 80, 90, 100]) + five("B", [70, 70, 80, 90, 100])
    scores += five("D", [50, 50, 50, 50, 50]) + five("C", [50, 50, 50, 50, 50])
    ranking = rank(["A", "B", "C", "D"], scores, min_scores=3)
    assert [(e.nomination_id, e.rank, e.tie_break) for e in ranking.entries] == [
        ("B", 1, None),
        ("A", 2, "plain_mean"),
        ("C", 3, None),
        ("D", 4, "nomination_id"),
    ]


def test_a_nomination_needs_scores_from_enough_departments_to_be_ranked() -> None:
    scores = [
        PanelScore("A", "p1", "finance", D(90)),
        PanelScore("A", "p2", "finance", D(90)),  # same department: counts once
        PanelScore("A", "p3", "union", D(90)),
        PanelScore("B", "p1", "finance", D(50)),
        PanelScore("B", "p3", "union", D(50)),
        PanelScore("B", "p4", "general_office", D(50)),
    ]
    ranking = rank(["A", "B"], scores, min_scores=3)
    assert [(e.nomination_id, e.rank, e.excluded) for e in ranking.entries] == [
        ("B", 1, None),
        ("A", None, "insufficient_scores"),
    ]


def test_a_vetoed_nomination_is_listed_but_not_ranked() -> None:
    scores = [PanelScore("A", f"p{i}", f"d{i}", D(99)) for i in range(3)]
    ranking = rank(["A"], scores, min_scores=3, vetoed={"A"})
    (entry,) = ranking.entries
    assert (entry.rank, entry.score, entry.excluded) == (None, D(99), "vetoed")
    assert ranking.eligible == ()
