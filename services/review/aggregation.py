"""Scoring math for the review, in Decimal: rubric totals, means, z-scores, the ranking.

Every number that leaves this module is quantized to four decimal places (`SCALE`,
half-even), and rankings compare those quantized numbers: two nominations whose scores
differ only in the 20th digit are a tie, broken by the explicit rules below, not by noise.
Sums are taken over sorted values, so the order in which scores arrive never changes a
result, not even in its last rounded digit.

Method, per nomination:
1. each panelist's weighted total: sum(weight * criterion) / sum(weights), 0–100;
2. optionally, z-score normalisation per panelist (see `zscore_normalise`);
3. the mean of the totals, or, with at least `trim_from` (default 5) scores, the mean
   after dropping one highest and one lowest total;
4. eligible = not vetoed and scored by panelists of at least `min_scores` different
   departments; eligible nominations are ranked by score, ties broken by `TIE_BREAK_ORDER`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Literal

SCALE = Decimal("0.0001")
TRIM_FROM = 5
MIN_CRITERION = Decimal(0)
MAX_CRITERION = Decimal(100)

ACHIEVEMENTS = "achievements"
EXEMPLARY_ROLE = "exemplary_role"
INNOVATION = "innovation"
RECOGNITION = "recognition"  # recognition by colleagues

DEFAULT_WEIGHTS: Mapping[str, Decimal] = {
    ACHIEVEMENTS: Decimal(40),
    EXEMPLARY_ROLE: Decimal(30),
    INNOVATION: Decimal(20),
    RECOGNITION: Decimal(10),
}

# How ties in the aggregated score are broken, in order: the untrimmed mean of the
# (normalised) totals, the mean of the raw totals, more scores, then the nomination id
# ascending — arbitrary but stable, so the same log always gives the same ranking.
TIE_BREAK_ORDER: tuple[str, ...] = ("plain_mean", "raw_mean", "score_count", "nomination_id")

Aggregation = Literal["mean", "trimmed_mean"]
Exclusion = Literal["vetoed", "insufficient_scores"]

_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)


class RubricError(ValueError):
    """A score sheet that does not fit the rubric (missing, unknown or out-of-range criteria)."""


def q(value: Decimal) -> Decimal:
    """Quantize to SCALE, half-even."""
    with localcontext(_CONTEXT):
        return value.quantize(SCALE)


@dataclass(frozen=True)
class Rubric:
    """Weighted criteria, each scored 0–100; the weighted total is on the same 0–100 scale."""

    weights: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def __post_init__(self) -> None:
        if not self.weights:
            raise RubricError("a rubric needs at least one criterion")
        if any(w < 0 for w in self.weights.values()):
            raise RubricError("weights must not be negative")
        if sum(self.weights.values(), Decimal(0)) <= 0:
            raise RubricError("weights must not all be zero")
        object.__setattr__(self, "weights", {k: Decimal(v) for k, v in self.weights.items()})

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.weights.items())))

    @property
    def criteria(self) -> tuple[str, ...]:
        return tuple(self.weights)

    def weighted_total(self, scores: Mapping[str, Decimal]) -> Decimal:
        missing = set(self.weights) - set(scores)
        unknown = set(scores) - set(self.weights)
        if missing or unknown:
            raise RubricError(
                f"criteria must be exactly {sorted(self.weights)}: "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        for name, value in scores.items():
            if not value.is_finite() or not MIN_CRITERION <= value <= MAX_CRITERION:
                raise RubricError(f"{name}: {value} is not between 0 and 100")
        with localcontext(_CONTEXT):
            weighted = sorted(self.weights[k] * scores[k] for k in self.weights)
            total = sum(weighted, Decimal(0)) / sum(sorted(self.weights.values()), Decimal(0))
        return q(total)


def _mean(values: Sequence[Decimal]) -> Decimal:
    if not values:
        raise ValueError("the mean of no values")
    with localcontext(_CONTEXT):
        return sum(sorted(values), Decimal(0)) / len(values)


def _pstdev(values: Sequence[Decimal]) -> Decimal:
    """Population standard deviation (divide by n), unquantized."""
    with localcontext(_CONTEXT):
        m = _mean(values)
        return _mean([(v - m) ** 2 for v in values]).sqrt()


def plain_mean(values: Sequence[Decimal]) -> Decimal:
    return q(_mean(values))


def trimmed_mean(values: Sequence[Decimal]) -> Decimal:
    """The mean after dropping one highest and one lowest value (needs at least 3)."""
    if len(values) < 3:
        raise ValueError("a trimmed mean needs at least 3 values")
    return q(_mean(sorted(values)[1:-1]))


def aggregate(values: Sequence[Decimal], trim_from: int = TRIM_FROM) -> tuple[Decimal, Aggregation]:
    """Trimmed mean from `trim_from` scores on (drop one high, one low), plain mean below."""
    if len(values) >= max(trim_from, 3):
        return trimmed_mean(values), "trimmed_mean"
    return plain_mean(values), "mean"


@dataclass(frozen=True)
class PanelScore:
    """One panelist's weighted total for one nomination."""

    nomination_id: str
    panelist_id: str
    department: str
    total: Decimal


def zscore_normalise(scores: Sequence[PanelScore]) -> list[PanelScore]:
    """Correct strict and lenient panelists: each one's totals mapped onto the panel's scale.

    For a panelist p with totals t over the nominations p scored (mean m_p, population
    standard deviation s_p), and all totals of all panelists given (mean M, population
    standard deviation S):  t' = M + S * (t - m_p) / s_p.
    So every panelist's normalised totals have mean M and spread S: a strict panelist's
    80 can count like a lenient one's 90, and the result stays on the familiar 0–100-ish
    scale (it may leave 0–100 slightly; it is a ranking device, never shown as a score).
    A panelist with a single score, or whose totals are all equal, is left as is (there
    is nothing to standardise), as is everything when S is zero. A panel of identical
    panelists is unchanged: m_p = M and s_p = S.
    Returns the scores in the order given, totals quantized to SCALE.
    """
    if len(scores) < 2:
        return list(scores)
    everyone = [s.total for s in scores]
    big_m, big_s = _mean(everyone), _pstdev(everyone)
    if big_s == 0:
        return list(scores)
    by_panelist: dict[str, list[Decimal]] = defaultdict(list)
    for s in scores:
        by_panelist[s.panelist_id].append(s.total)
    stats: dict[str, tuple[Decimal, Decimal]] = {}
    for panelist, totals in by_panelist.items():
        if len(totals) >= 2:
            spread = _pstdev(totals)
            if spread != 0:
                stats[panelist] = (_mean(totals), spread)
    out: list[PanelScore] = []
    with localcontext(_CONTEXT):
        for s in scores:
            if s.panelist_id not in stats:
                out.append(s)
                continue
            m_p, s_p = stats[s.panelist_id]
            out.append(replace(s, total=q(big_m + big_s * ((s.total - m_p) / s_p))))
    return out


@dataclass(frozen=True)
class RankedNomination:
    """One line of a ranking; `rank` and `score` are None when it is not eligible to win."""

    nomination_id: str
    rank: int | None
    score: Decimal | None  # the aggregated score the ranking orders by
    aggregation: Aggregation | None
    plain_mean: Decimal | None  # mean of the (normalised) totals, untrimmed
    raw_mean: Decimal | None  # mean of the raw totals, before any normalisation
    score_count: int
    department_count: int
    excluded: Exclusion | None
    tie_break: str | None  # the TIE_BREAK_ORDER key that put it below an equal score

    @property
    def eligible(self) -> bool:
        return self.excluded is None


@dataclass(frozen=True)
class RankingMethod:
    zscore: bool
    min_scores: int
    trim_from: int
    tie_break_order: tuple[str, ...] = TIE_BREAK_ORDER


@dataclass(frozen=True)
class Ranking:
    method: RankingMethod
    entries: tuple[RankedNomination, ...]

    @property
    def eligible(self) -> tuple[RankedNomination, ...]:
        return tuple(e for e in self.entries if e.eligible)

    def entry(self, nomination_id: str) -> RankedNomination | None:
        return next((e for e in self.entries if e.nomination_id == nomination_id), None)


def _order_key(e: RankedNomination) -> tuple[Decimal, Decimal, Decimal, int, str]:
    assert e.score is not None
    assert e.plain_mean is not None
    assert e.raw_mean is not None
    return (-e.score, -e.plain_mean, -e.raw_mean, -e.score_count, e.nomination_id)


def _separating_key(upper: RankedNomination, lower: RankedNomination) -> str | None:
    """Which tie-break put `lower` below `upper`, if their scores are equal."""
    if upper.score != lower.score:
        return None
    pairs: dict[str, tuple[object, object]] = {
        "plain_mean": (upper.plain_mean, lower.plain_mean),
        "raw_mean": (upper.raw_mean, lower.raw_mean),
        "score_count": (upper.score_count, lower.score_count),
        "nomination_id": (upper.nomination_id, lower.nomination_id),
    }
    return next(key for key in TIE_BREAK_ORDER if pairs[key][0] != pairs[key][1])


def rank(
    nomination_ids: Iterable[str],
    scores: Sequence[PanelScore],
    *,
    min_scores: int,
    zscore: bool = False,
    trim_from: int = TRIM_FROM,
    vetoed: Collection[str] = (),
) -> Ranking:
    """Rank `nomination_ids` (one category) from `scores`.

    `scores` may hold scores of other nominations too (the whole round): z-score
    normalisation uses all of them, so a panelist's leniency is judged on everything
    they scored. Eligible entries come first, ranked 1..n; then the excluded ones.
    """
    normalised = zscore_normalise(scores) if zscore else list(scores)
    raw: dict[str, list[PanelScore]] = defaultdict(list)
    adjusted: dict[str, list[PanelScore]] = defaultdict(list)
    for s in scores:
        raw[s.nomination_id].append(s)
    for s in normalised:
        adjusted[s.nomination_id].append(s)

    lines: list[RankedNomination] = []
    for nomination_id in sorted(set(nomination_ids)):
        values = [s.total for s in adjusted[nomination_id]]
        departments = {s.department for s in adjusted[nomination_id]}
        excluded: Exclusion | None = None
        if nomination_id in vetoed:
            excluded = "vetoed"
        elif len(departments) < min_scores or not values:
            excluded = "insufficient_scores"
        score, how = aggregate(values, trim_from) if values else (None, None)
        lines.append(
            RankedNomination(
                nomination_id=nomination_id,
                rank=None,
                score=score,
                aggregation=how,
                plain_mean=plain_mean(values) if values else None,
                raw_mean=plain_mean([s.total for s in raw[nomination_id]]) if values else None,
                score_count=len(values),
                department_count=len(departments),
                excluded=excluded,
                tie_break=None,
            )
        )

    eligible = sorted((e for e in lines if e.eligible), key=_order_key)
    ranked: list[RankedNomination] = []
    for i, e in enumerate(eligible):
        tie = _separating_key(eligible[i - 1], e) if i else None
        ranked.append(replace(e, rank=i + 1, tie_break=tie))
    others = sorted(
        (e for e in lines if not e.eligible),
        key=lambda e: (
            e.excluded or "",
            -e.score if e.score is not None else Decimal(1),
            e.nomination_id,
        ),
    )
    method = RankingMethod(zscore=zscore, min_scores=min_scores, trim_from=trim_from)
    return Ranking(method=method, entries=(*ranked, *others))
