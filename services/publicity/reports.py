"""Statistics per round and per year for the experience materials and the research report
(调研报告): figures, CSV, charts (matplotlib, Chinese labels) and a page with all of them.

`compute` is pure: it takes the facts the statistics tables hold and returns the report as
JSON-ready data. Rates are ratios with four decimals, scores have two; both are strings
(Decimal, never float, in what leaves the service).
"""

from __future__ import annotations

import base64
import io
import statistics
import threading
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, cast
from uuid import UUID

from matplotlib import font_manager, rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from services.publicity.fonts import find_cjk_font
from services.publicity.rendering import environment
from shared.contracts.common import Category
from shared.logging import get_logger
from shared.rounds import RoundPeriod

log = get_logger(__name__)

Scope = Literal["round", "year"]
UNKNOWN_UNIT = ("?", "（未知单位）")

_RATE = Decimal("0.0001")
_SCORE = Decimal("0.01")


@dataclass(frozen=True)
class NominationFact:
    nomination_id: UUID
    round_id: str
    category: Category
    unit_code: str | None
    unit_name: str | None
    employee_no: str | None
    name: str | None
    withdrawn: bool = False
    audit: str | None = None  # accepted | rejected | None
    reject_reason: str | None = None
    vetoed: bool = False
    winner: bool = False
    revoked: bool = False
    score: Decimal | None = None


@dataclass(frozen=True)
class ScoreFact:
    nomination_id: UUID
    panelist_id: str
    total: Decimal


@dataclass(frozen=True)
class Scored:
    """A scored nomination: the mean of its panelists' totals and their spread."""

    nomination_id: str
    round_id: str
    category: str
    unit_code: str
    mean: Decimal
    panel_spread: Decimal
    score_count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "nomination_id": self.nomination_id,
            "round_id": self.round_id,
            "category": self.category,
            "unit_code": self.unit_code,
            "mean": dec(self.mean),
            "panel_spread": dec(self.panel_spread),
            "score_count": self.score_count,
        }


@dataclass(frozen=True)
class ReportInput:
    scope: Scope
    key: str  # the round id, or the year
    rounds: tuple[str, ...]
    units: Mapping[str, str]  # unit_code -> name, every unit known
    nominations: Sequence[NominationFact]
    scores: Sequence[ScoreFact]
    award_amount: Decimal
    award_currency: str
    # Awards as rewards granted them, not revoked: (amount, currency). When rewards has
    # granted none yet, the total is the winners times the configured amount ("expected").
    awards: Sequence[tuple[Decimal, str]] = ()


def _award_total(data: ReportInput, winners: int) -> dict[str, str]:
    if data.awards:
        currency = data.awards[0][1]
        paid = sum((amount for amount, _ in data.awards), Decimal(0))
        return {
            "amount": str(paid.quantize(data.award_amount)),
            "currency": currency,
            "source": "granted",
        }
    return {
        "amount": str((data.award_amount * winners).quantize(data.award_amount)),
        "currency": data.award_currency,
        "source": "expected",
    }


def round_sort_key(round_id: str) -> tuple[int, int]:
    period = RoundPeriod.parse(round_id)
    return period.year, period.months[0]


def rate(part: int, whole: int) -> str | None:
    if whole == 0:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(_RATE, ROUND_HALF_UP))


def dec(value: Decimal) -> str:
    return str(value.quantize(_SCORE, ROUND_HALF_UP))


def score_stats(values: Sequence[Decimal]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "min": None, "max": None, "mean": None, "median": None, "stdev": None}
    return {
        "count": len(values),
        "min": dec(min(values)),
        "max": dec(max(values)),
        "mean": dec(sum(values, Decimal(0)) / len(values)),
        "median": dec(statistics.median(values)),
        "stdev": dec(statistics.pstdev(values)) if len(values) > 1 else dec(Decimal(0)),
    }


def _audit_counts(facts: Iterable[NominationFact]) -> dict[str, Any]:
    facts = [f for f in facts if not f.withdrawn]
    accepted = sum(1 for f in facts if f.audit == "accepted")
    rejected = sum(1 for f in facts if f.audit == "rejected")
    winners = sum(1 for f in facts if f.winner and not f.revoked)
    return {
        "nominations": len(facts),
        "accepted": accepted,
        "rejected": rejected,
        "pending_audit": len(facts) - accepted - rejected,
        "acceptance_rate": rate(accepted, accepted + rejected),
        "rejection_rate": rate(rejected, accepted + rejected),
        "winners": winners,
    }


def _unit(f: NominationFact, units: Mapping[str, str]) -> tuple[str, str]:
    if f.unit_code is None:
        return UNKNOWN_UNIT
    return f.unit_code, units.get(f.unit_code) or f.unit_name or f.unit_code


def compute(data: ReportInput) -> dict[str, Any]:
    """The report's figures (see the module docstring for the number formats)."""
    facts = list(data.nominations)
    standing = [f for f in facts if not f.withdrawn]
    units = _known_units(data)
    rounds = sorted(set(data.rounds) | {f.round_id for f in facts}, key=round_sort_key)
    scored = _scored(data)
    return {
        "scope": data.scope,
        "key": data.key,
        "label_zh": _label_zh(data),
        "rounds": rounds,
        "totals": _totals(data, facts, units),
        "by_round": [_round_row(r, facts, standing) for r in rounds],
        "by_unit": _by_unit(facts, units),
        "by_category": [_category_row(c, facts, scored) for c in Category],
        "rejection_reasons": _rejection_reasons(standing),
        "scores": {
            **_score_summary(scored),
            "method": "每项提名取各评委最新一次加权总分的平均值",
            "per_nomination": [p.to_json() for p in scored],
        },
        "winners": _winners(facts, data.units),
        "participation": _participation(standing, units, rounds),
    }


def _label_zh(data: ReportInput) -> str:
    return RoundPeriod.parse(data.key).label_zh if data.scope == "round" else f"{data.key}年全年"


def _unit_code(f: NominationFact) -> str:
    return UNKNOWN_UNIT[0] if f.unit_code is None else f.unit_code


def _known_units(data: ReportInput) -> dict[str, str]:
    """Every unit of the directory, and any other a nomination names (or the unknown unit)."""
    units: dict[str, str] = dict(data.units)
    for f in data.nominations:
        code, name = _unit(f, data.units)
        units.setdefault(code, name)
    return units


def _count_by_category(facts: Iterable[NominationFact]) -> dict[str, int]:
    counts = Counter(f.category for f in facts)
    return {c.value: counts[c] for c in Category}


# Scores: each nomination's mean over its panelists' latest totals.


def _scored(data: ReportInput) -> list[Scored]:
    """Every nomination still standing that has scores, in (round, category, id) order."""
    panel: dict[UUID, list[Decimal]] = defaultdict(list)
    for s in data.scores:
        panel[s.nomination_id].append(s.total)
    by_id = {f.nomination_id: f for f in data.nominations}
    scored: list[Scored] = []
    for nomination_id, sheet_totals in panel.items():
        fact = by_id.get(nomination_id)
        if fact is None or fact.withdrawn:
            continue
        scored.append(
            Scored(
                nomination_id=str(nomination_id),
                round_id=fact.round_id,
                category=fact.category.value,
                unit_code=_unit_code(fact),
                mean=sum(sheet_totals, Decimal(0)) / len(sheet_totals),
                panel_spread=max(sheet_totals) - min(sheet_totals),
                score_count=len(sheet_totals),
            )
        )
    scored.sort(key=lambda p: (p.round_id, p.category, p.nomination_id))
    return scored


def _score_summary(scored: Sequence[Scored]) -> dict[str, Any]:
    """The spread of the means, and how far apart each nomination's panelists were."""
    stats = score_stats([p.mean for p in scored])
    spreads = [p.panel_spread for p in scored]
    stats["panel_spread_mean"] = dec(sum(spreads, Decimal(0)) / len(spreads)) if spreads else None
    stats["panel_spread_max"] = dec(max(spreads)) if spreads else None
    return stats


# The tables: the whole scope, per round, per unit, per category.


def _totals(
    data: ReportInput, facts: Sequence[NominationFact], units: Mapping[str, str]
) -> dict[str, Any]:
    standing = [f for f in facts if not f.withdrawn]
    winners_now = sum(1 for f in facts if f.winner and not f.revoked)
    return {
        **_audit_counts(facts),
        "withdrawn": len(facts) - len(standing),
        "vetoed": sum(1 for f in standing if f.vetoed),
        "revoked": sum(1 for f in facts if f.winner and f.revoked),
        "units_total": len(units),
        "units_nominating": len({_unit_code(f) for f in standing}),
        "award_total": _award_total(data, winners_now),
    }


def _round_row(
    round_id: str, facts: Sequence[NominationFact], standing: Sequence[NominationFact]
) -> dict[str, Any]:
    in_round = [f for f in standing if f.round_id == round_id]
    return {
        "round_id": round_id,
        "label_zh": RoundPeriod.parse(round_id).label_zh,
        **_audit_counts(f for f in facts if f.round_id == round_id),
        "by_category": _count_by_category(in_round),
        "units_nominating": len({_unit_code(f) for f in in_round}),
    }


def _by_unit(facts: Sequence[NominationFact], units: Mapping[str, str]) -> list[dict[str, Any]]:
    of_unit: dict[str, list[NominationFact]] = defaultdict(list)
    for f in facts:
        of_unit[_unit_code(f)].append(f)
    return [
        {
            "unit_code": code,
            "unit_name": units[code],
            **_audit_counts(of_unit[code]),
            "by_category": _count_by_category(f for f in of_unit[code] if not f.withdrawn),
        }
        for code in sorted(units)
    ]


def _category_row(
    category: Category, facts: Sequence[NominationFact], scored: Sequence[Scored]
) -> dict[str, Any]:
    return {
        "category": category.value,
        "label_zh": category.label_zh,
        **_audit_counts(f for f in facts if f.category == category),
        "scores": _score_summary([p for p in scored if p.category == category.value]),
    }


def _rejection_reasons(standing: Iterable[NominationFact]) -> list[dict[str, Any]]:
    """How often each reason was given (blanks folded), the most frequent first."""
    reasons = Counter(
        " ".join((f.reject_reason or "（未说明原因）").split())
        for f in standing
        if f.audit == "rejected"
    )
    return [
        {"reason": reason, "count": count}
        for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _winners(facts: Iterable[NominationFact], units: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every winner, revoked ones too (marked), by round and then in the flowers' order."""
    winners = sorted(
        (f for f in facts if f.winner),
        key=lambda f: (round_sort_key(f.round_id), list(Category).index(f.category)),
    )
    return [_winner_row(f, units) for f in winners]


def _winner_row(f: NominationFact, units: Mapping[str, str]) -> dict[str, Any]:
    unit_code, unit_name = _unit(f, units)
    return {
        "round_id": f.round_id,
        "category": f.category.value,
        "label_zh": f.category.label_zh,
        "employee_no": f.employee_no,
        "name": f.name,
        "unit_code": unit_code,
        "unit_name": unit_name,
        "score": dec(f.score) if f.score is not None else None,
        "revoked": f.revoked,
    }


def _participation(
    standing: Iterable[NominationFact], units: Mapping[str, str], rounds: Sequence[str]
) -> list[dict[str, Any]]:
    """Per unit, its standing nominations in each round and how many rounds it took part in."""
    per_unit_round = Counter((_unit_code(f), f.round_id) for f in standing)
    participation = []
    for code in sorted(units):
        counts = {r: per_unit_round[(code, r)] for r in rounds}
        participation.append(
            {
                "unit_code": code,
                "unit_name": units[code],
                "rounds": counts,
                "rounds_participated": sum(1 for n in counts.values() if n),
            }
        )
    return participation


# --- CSV --------------------------------------------------------------------------------------

# The CSV, the .xlsx and the .docx chapter: services/publicity/tables.py (wide tables).


# --- Charts -----------------------------------------------------------------------------------

_font_lock = threading.Lock()
_render_lock = threading.Lock()
_font_family: str | None = None
_font_checked = False


def cjk_font_family(explicit: str = "") -> str | None:
    """Register the CJK font with matplotlib once; None (and one warning) if there is none."""
    global _font_family, _font_checked
    with _font_lock:
        if not _font_checked:
            _font_checked = True
            path = find_cjk_font(explicit)
            if path is None:
                log.warning(
                    "no_cjk_font",
                    hint="install fonts-wqy-microhei (or set FLOWERS_PUBLICITY_CHART_FONT); "
                    "Chinese chart labels will show as boxes",
                )
            else:
                font_manager.fontManager.addfont(str(path))
                _font_family = font_manager.FontProperties(fname=str(path)).get_name()
                log.info("cjk_font", family=_font_family, file=str(path))
        return _font_family


_PALETTE = ("#c62828", "#ef6c00", "#f9a825", "#2e7d32", "#1565c0", "#6a1b9a")

ChartFormat = Literal["svg", "png"]


ChartSize = Literal["wide", "narrow"]

# A chart for a phone (375 px): drawn at the width it is shown (no shrinking), every bar
# horizontal (long Chinese labels on the left, one per line), the legend under the plot, and
# text of 10 pt (13.3 CSS px; at least 12 px still on a 360 px screen).
NARROW_WIDTH_IN = 3.2  # 230 pt = 307 CSS px: a 375 px screen less the page's margins
NARROW_FONT_PT = 10.0


def _legend(ax: Any, narrow: bool) -> None:
    if narrow:  # under the plot, outside it: the constrained layout makes room for it
        ax.figure.legend(loc="outside lower center", ncol=3, frameon=False,
                         fontsize=NARROW_FONT_PT, columnspacing=0.8, handlelength=1.0)  # fmt: skip
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)


def _title(ax: Any, report: dict[str, Any], words: str, narrow: bool) -> None:
    # Narrow: the round on a line of its own, so a long title never runs off the picture.
    ax.set_title(f"{report['label_zh']}{chr(10) if narrow else ' '}{words}")


def _bars_by_category(
    ax: Any, labels: list[str], counts: list[dict[str, int]], horizontal: bool, narrow: bool
) -> None:
    base = [0] * len(labels)
    for i, c in enumerate(Category):
        values = [row[c.value] for row in counts]
        if horizontal:
            ax.barh(labels, values, left=base, label=c.label_zh, color=_PALETTE[i])
        else:
            ax.bar(labels, values, bottom=base, label=c.label_zh, color=_PALETTE[i])
        base = [b + v for b, v in zip(base, values, strict=True)]
    (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    _legend(ax, narrow)


def chart_nominations_by_unit(report: dict[str, Any], fig: Figure, narrow: bool) -> None:
    units = report["by_unit"]
    ax = fig.add_subplot()
    _bars_by_category(
        ax,
        [u["unit_name"] for u in units],
        [u["by_category"] for u in units],
        horizontal=True,
        narrow=narrow,
    )
    ax.invert_yaxis()
    ax.set_xlabel("提名数")
    _title(ax, report, "各单位提名数（按类别）", narrow)


def chart_nominations_by_round(report: dict[str, Any], fig: Figure, narrow: bool) -> None:
    rounds = report["by_round"]
    ax = fig.add_subplot()
    _bars_by_category(
        ax,
        [r["label_zh"] for r in rounds],
        [r["by_category"] for r in rounds],
        horizontal=narrow,
        narrow=narrow,
    )
    if narrow:
        ax.invert_yaxis()
        ax.set_xlabel("提名数")
    else:
        ax.set_ylabel("提名数")
    _title(ax, report, "各轮提名数（按类别）", narrow)


def chart_audit_by_category(report: dict[str, Any], fig: Figure, narrow: bool) -> None:
    cats = report["by_category"]
    ax = fig.add_subplot()
    xs = list(range(len(cats)))
    width = 0.27
    for offset, key, label, color in (
        (-width, "accepted", "审核通过", "#2e7d32"),
        (0.0, "rejected", "未通过", "#c62828"),
        (width, "winners", "获奖", "#f9a825"),
    ):
        values = [c[key] for c in cats]
        if narrow:
            ax.barh([x + offset for x in xs], values, width, label=label, color=color)
        else:
            ax.bar([x + offset for x in xs], values, width, label=label, color=color)
    names = [c["label_zh"] for c in cats]
    if narrow:
        ax.set_yticks(xs, names)
        ax.invert_yaxis()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("人数")
    else:
        ax.set_xticks(xs, names)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("人数")
    _title(ax, report, "审核与获奖（按类别）", narrow)
    _legend(ax, narrow)


def chart_score_spread(report: dict[str, Any], fig: Figure, narrow: bool) -> None:
    ax = fig.add_subplot()
    per = report["scores"]["per_nomination"]
    data = [[float(p["mean"]) for p in per if p["category"] == c.value] for c in Category]
    labels = [c.label_zh for c in Category]
    ax.boxplot(
        [d or [float("nan")] for d in data],
        tick_labels=labels,
        orientation="horizontal" if narrow else "vertical",
    )
    if narrow:
        ax.invert_yaxis()
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.set_xlabel("平均得分")
    else:
        ax.set_ylabel("平均得分")
    _title(ax, report, "评分分布（按类别）", narrow)


def chart_participation(report: dict[str, Any], fig: Figure, narrow: bool) -> None:
    rows = report["participation"]
    rounds = report["rounds"]
    ax = fig.add_subplot()
    matrix = [[p["rounds"].get(r, 0) for r in rounds] for p in rows] or [[0]]
    top = max(max(row) for row in matrix) or 1
    image = ax.imshow(matrix, cmap="Reds", aspect="auto", vmin=0, vmax=top)
    labels = [RoundPeriod.parse(r).label_zh for r in rounds]
    if narrow:  # the year is in the title: a round is named by its quarter or month alone
        labels = [label.split("年", 1)[-1] for label in labels]
    ax.set_xticks(range(len(rounds)), labels, rotation=90 if narrow else 0)
    ax.set_yticks(range(len(rows)), [p["unit_name"] for p in rows])
    for i, row in enumerate(matrix):
        for j, n in enumerate(row):
            color = "white" if n > top / 2 else "black"
            ax.text(j, i, str(n), ha="center", va="center", fontsize=10, color=color)
    if narrow:
        fig.colorbar(image, ax=ax, label="提名数", location="bottom", shrink=0.8)
    else:
        fig.colorbar(image, ax=ax, label="提名数")
    _title(ax, report, "各单位参与情况", narrow)


CHARTS: dict[str, Callable[[dict[str, Any], Figure, bool], None]] = {
    "nominations_by_unit": chart_nominations_by_unit,
    "nominations_by_round": chart_nominations_by_round,
    "audit_by_category": chart_audit_by_category,
    "score_spread": chart_score_spread,
    "participation": chart_participation,
}
CHART_TITLES_ZH = {
    "nominations_by_unit": "各单位提名数",
    "nominations_by_round": "各轮提名数",
    "audit_by_category": "审核与获奖",
    "score_spread": "评分分布",
    "participation": "单位参与情况",
}


def render_chart(
    report: dict[str, Any],
    chart: str,
    fmt: ChartFormat = "svg",
    font_file: str = "",
    size: ChartSize = "wide",
) -> bytes:
    """One chart as SVG (glyphs drawn as paths: it looks the same without the font) or PNG;
    `narrow`: laid out for a phone's width (NARROW_WIDTH_IN)."""
    family = cjk_font_family(font_file)
    narrow = size == "narrow"
    params: dict[str, Any] = {
        "font.family": "sans-serif",
        "font.sans-serif": [*([family] if family else []), "DejaVu Sans"],
        "axes.unicode_minus": False,
        "svg.fonttype": "path",
        "svg.hashsalt": "five-golden-flowers",
        **(
            {
                "font.size": NARROW_FONT_PT,
                "axes.titlesize": NARROW_FONT_PT + 1,
                "axes.labelsize": NARROW_FONT_PT,
                "xtick.labelsize": NARROW_FONT_PT,
                "ytick.labelsize": NARROW_FONT_PT,
            }
            if narrow
            else {}
        ),
    }
    rows = max(len(report["by_unit"]), len(report["rounds"]), 5)
    if narrow:
        rows = max(rows, len(report["by_round"]), len(Category)) + 3  # + the legend under it
        figsize = (NARROW_WIDTH_IN, max(3.6, 0.34 * rows + 1.6))
    else:
        figsize = (9, max(4.0, 0.45 * rows + 1.5))
    # rcParams are process-wide: one chart at a time (queries render in worker threads).
    with _render_lock, rc_context(cast(Any, params)), warnings.catch_warnings():
        if family is None:  # already warned once; do not repeat per glyph
            warnings.filterwarnings("ignore", message="Glyph .* missing from")
        fig = Figure(figsize=figsize, dpi=100, layout="constrained")
        CHARTS[chart](report, fig, narrow)
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()


def charts_for(scope: Scope) -> tuple[str, ...]:
    if scope == "year":
        return (
            "nominations_by_round",
            "nominations_by_unit",
            "audit_by_category",
            "score_spread",
            "participation",
        )
    return ("nominations_by_unit", "audit_by_category", "score_spread", "participation")


def render_page(report: dict[str, Any], font_file: str = "") -> str:
    """The report as one HTML page; charts are SVG images (data URIs: nothing in them runs),
    each also laid out for a phone, which a narrow screen picks."""

    def uri(name: str, size: ChartSize) -> str:
        svg = render_chart(report, name, "svg", font_file, size)
        return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()

    charts = [
        {"title": CHART_TITLES_ZH[name], "src": uri(name, "wide"), "narrow": uri(name, "narrow")}
        for name in charts_for(report["scope"])
    ]
    labels = {r: RoundPeriod.parse(r).label_zh for r in report["rounds"]}
    return (
        environment()
        .get_template("report.html.j2")
        .render(r=report, charts=charts, round_labels=labels, categories=list(Category))
    )
