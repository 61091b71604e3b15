"""The statistics report computed over a round built here with known counts; CSV; charts
with Chinese labels. Pure (no servers)."""

from __future__ import annotations

import csv
import io
import warnings
from decimal import Decimal
from typing import Any
from uuid import UUID

import docx
import openpyxl
import pytest

from services.publicity import reports, tables
from services.publicity.reports import NominationFact, ReportInput, ScoreFact, compute
from shared.contracts.common import Category

S, V, D, R, H = (
    Category.STRIVING,
    Category.VALUE_CREATION,
    Category.DEDICATION,
    Category.REFORM,
    Category.HARD_WORK,
)
UNITS = {"PS": "物业服务中心", "CY": "餐饮服务中心", "YL": "医疗服务中心", "JX": "机修厂"}


def fact(
    n: int,
    unit: str,
    category: Category,
    *,
    round_id: str = "2026-Q3",
    audit: str | None = None,
    reason: str | None = None,
    withdrawn: bool = False,
    vetoed: bool = False,
    winner: bool = False,
    revoked: bool = False,
    score: str | None = None,
) -> NominationFact:
    return NominationFact(
        nomination_id=UUID(int=n),
        round_id=round_id,
        category=category,
        unit_code=unit,
        unit_name=UNITS[unit],
        employee_no=f"E{n:04d}",
        name=f"职工{n}",
        withdrawn=withdrawn,
        audit=audit,
        reject_reason=reason,
        vetoed=vetoed,
        winner=winner,
        revoked=revoked,
        score=Decimal(score) if score else None,
    )


# A round with known counts: 8 nominations by 3 of 4 units (1 more withdrawn), 6 accepted,
# 2 rejected (one reason twice), scores from three panelists on the accepted ones, 2 winners.
ROUND_FACTS = [
    fact(1, "PS", S, audit="accepted", winner=True, score="90.00"),
    fact(2, "PS", V, audit="accepted"),
    fact(3, "PS", D, audit="rejected", reason="事迹材料不足"),
    fact(4, "CY", S, audit="accepted"),
    fact(5, "CY", V, audit="accepted", winner=True, score="85.50"),
    fact(6, "CY", R, audit="rejected", reason="事迹材料不足"),
    fact(7, "YL", D, audit="accepted", vetoed=True),
    fact(8, "YL", H, audit="accepted"),
    fact(9, "YL", R, withdrawn=True),
]
PANEL = {
    1: ("88", "90", "92"),
    2: ("70", "80", "75"),
    4: ("85", "86", "84"),
    5: ("86", "85", "85.5"),
}
ROUND_SCORES = [
    ScoreFact(UUID(int=n), f"p{i}", Decimal(total))
    for n, totals in PANEL.items()
    for i, total in enumerate(totals)
]


def round_report() -> dict[str, Any]:
    return compute(
        ReportInput(
            scope="round",
            key="2026-Q3",
            rounds=("2026-Q3",),
            units=UNITS,
            nominations=ROUND_FACTS,
            scores=ROUND_SCORES,
            award_amount=Decimal("500.00"),
            award_currency="CNY",
        )
    )


def test_the_round_totals_match_the_known_counts() -> None:
    totals = round_report()["totals"]
    assert totals["nominations"] == 8
    assert totals["withdrawn"] == 1
    assert totals["accepted"] == 6
    assert totals["rejected"] == 2
    assert totals["pending_audit"] == 0
    assert totals["acceptance_rate"] == "0.7500"
    assert totals["rejection_rate"] == "0.2500"
    assert totals["vetoed"] == 1
    assert totals["winners"] == 2
    assert totals["units_total"] == 4
    assert totals["units_nominating"] == 3
    assert totals["award_total"] == {"amount": "1000.00", "currency": "CNY", "source": "expected"}


def test_nominations_per_unit_and_category() -> None:
    by_unit = {u["unit_code"]: u for u in round_report()["by_unit"]}
    assert by_unit["PS"]["nominations"] == 3
    assert by_unit["PS"]["by_category"] == {
        "striving": 1,
        "value_creation": 1,
        "dedication": 1,
        "reform": 0,
        "hard_work": 0,
    }
    assert by_unit["PS"]["acceptance_rate"] == "0.6667"
    assert by_unit["YL"]["by_category"]["reform"] == 0  # withdrawn, not counted
    assert by_unit["JX"]["nominations"] == 0
    assert by_unit["JX"]["acceptance_rate"] is None
    by_category = {c["category"]: c for c in round_report()["by_category"]}
    assert [by_category[c.value]["nominations"] for c in Category] == [2, 2, 2, 1, 1]
    assert by_category["reform"]["rejected"] == 1
    assert by_category["striving"]["winners"] == 1
    assert by_category["striving"]["label_zh"] == "拼搏之花"


def test_rejection_reasons_are_counted() -> None:
    assert round_report()["rejection_reasons"] == [{"reason": "事迹材料不足", "count": 2}]


def test_score_spread() -> None:
    scores = round_report()["scores"]
    # Means: 90.00, 75.00, 85.00, 85.50; panel spreads: 4, 10, 2, 1.
    assert scores["count"] == 4
    assert scores["min"] == "75.00"
    assert scores["max"] == "90.00"
    assert scores["mean"] == "83.88"
    assert scores["median"] == "85.25"
    assert scores["panel_spread_mean"] == "4.25"
    assert scores["panel_spread_max"] == "10.00"
    striving = next(c for c in round_report()["by_category"] if c["category"] == "striving")
    assert striving["scores"]["count"] == 2
    assert striving["scores"]["mean"] == "87.50"
    assert striving["scores"]["stdev"] == "2.50"


def test_winners_and_participation() -> None:
    report = round_report()
    assert [(w["name"], w["label_zh"], w["score"]) for w in report["winners"]] == [
        ("职工1", "拼搏之花", "90.00"),
        ("职工5", "创效之花", "85.50"),
    ]
    participation = {p["unit_code"]: p for p in report["participation"]}
    assert participation["PS"]["rounds"] == {"2026-Q3": 3}
    assert participation["JX"]["rounds_participated"] == 0


def test_a_year_report_spans_its_rounds_and_each_units_participation() -> None:
    q4 = [
        fact(21, "JX", H, round_id="2026-Q4", audit="accepted", winner=True, revoked=True),
        fact(22, "PS", S, round_id="2026-Q4"),
    ]
    report = compute(
        ReportInput(
            scope="year",
            key="2026",
            rounds=("2026-Q4", "2026-Q3"),
            units=UNITS,
            nominations=[*ROUND_FACTS, *q4],
            scores=ROUND_SCORES,
            award_amount=Decimal("500.00"),
            award_currency="CNY",
        )
    )
    assert report["label_zh"] == "2026年全年"
    assert report["rounds"] == ["2026-Q3", "2026-Q4"]
    assert [(r["round_id"], r["nominations"]) for r in report["by_round"]] == [
        ("2026-Q3", 8),
        ("2026-Q4", 2),
    ]
    participation = {p["unit_code"]: p for p in report["participation"]}
    assert participation["JX"]["rounds"] == {"2026-Q3": 0, "2026-Q4": 1}
    assert participation["PS"]["rounds_participated"] == 2
    assert report["totals"]["winners"] == 2  # the revoked one does not count
    assert report["totals"]["revoked"] == 1
    assert report["totals"]["pending_audit"] == 1


def test_the_csv_is_a_wide_table_a_clerk_pastes_safe_to_open() -> None:
    facts = [*ROUND_FACTS, fact(30, "PS", H, audit="rejected", reason='=HYPERLINK("x")')]
    data = compute(
        ReportInput(
            "round", "2026-Q3", ("2026-Q3",), UNITS, facts, ROUND_SCORES, Decimal("500.00"), "CNY"
        )
    )
    text = tables.to_csv(data)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["2026年第三季度各单位提名与审核情况"]
    header = rows[1]
    assert header[:8] == [
        "单位代码",
        "单位",
        "提名数",
        "审核通过",
        "审核未通过",
        "待审核",
        "通过率",
        "获奖数",
    ]
    assert header[8:] == [f"{c.label_zh}提名" for c in Category]
    units = {r[0]: dict(zip(header, r, strict=True)) for r in rows[2 : 2 + len(UNITS) + 1]}
    assert units["PS"]["拼搏之花提名"] == "1"
    total = units[""]
    assert total["单位"] == "合计"
    assert total["提名数"] == "9"
    assert total["审核未通过"] == "3"
    assert total["通过率"].endswith("%")
    flower_title = rows.index(["2026年第三季度各奖项情况"])
    flowers = rows[flower_title + 2 : flower_title + 2 + len(Category)]
    assert [r[0] for r in flowers] == [c.label_zh for c in Category]
    assert all(not cell.startswith("=") for row in rows for cell in row), "no formula"


def test_the_workbook_has_a_sheet_per_table_with_numbers_as_numbers() -> None:
    book = openpyxl.load_workbook(io.BytesIO(tables.to_xlsx(round_report())))
    assert book.sheetnames == ["各单位提名与审核情况", "各奖项情况", "获奖名单"]
    sheet = book["各单位提名与审核情况"]
    assert sheet["A2"].value == "单位代码"
    assert isinstance(sheet["C3"].value, int | float)  # a number a clerk can sum
    assert sheet.max_row == 2 + len(UNITS) + 1


def test_the_word_chapter_holds_the_tables_and_the_charts() -> None:
    report = round_report()
    drawn: list[str] = []

    def draw(chart: str) -> bytes:
        drawn.append(chart)
        return reports.render_chart(report, chart, "png")  # type: ignore[arg-type]

    data = tables.to_docx_chapter(report, reports.charts_for("round"), draw, "党群工作部")
    document = docx.Document(io.BytesIO(data))
    assert len(document.tables) == 3
    assert len(document.inline_shapes) == len(drawn) == len(reports.charts_for("round"))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "评选出“五朵金花”" in text
    assert "图1" in text
    assert document.core_properties.author == "党群工作部"


@pytest.mark.parametrize("chart", list(reports.CHARTS))
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_every_chart_renders_with_chinese_glyphs(chart: str, fmt: reports.ChartFormat) -> None:
    if reports.cjk_font_family() is None:
        pytest.fail(
            "no CJK font: `make test` installs fonts-wqy-microhei (deploy/ensure-browser.sh)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph … missing from font(s)" would fail here
        image = reports.render_chart(round_report(), chart, fmt)
    assert image.startswith(b"<?xml" if fmt == "svg" else b"\x89PNG")


@pytest.mark.parametrize("chart", sorted(reports.CHARTS))
def test_a_phone_gets_each_chart_drawn_at_its_width(chart: str) -> None:
    """The narrow layout is as wide as a 375 px screen shows it (the browser test measures
    its text there: tests/browser/test_phone_width_in_the_browser.py)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = reports.render_chart(round_report(), chart, "svg", size="narrow").decode()
    width = float(svg.split('width="', 1)[1].split("pt", 1)[0])
    assert width == pytest.approx(reports.NARROW_WIDTH_IN * 72, abs=1)
    png = reports.render_chart(round_report(), chart, "png", size="narrow")
    assert png.startswith(b"\x89PNG")


def test_the_report_page_holds_every_figure_and_chart() -> None:
    if reports.cjk_font_family() is None:
        pytest.fail(
            "no CJK font: `make test` installs fonts-wqy-microhei (deploy/ensure-browser.sh)"
        )
    page = reports.render_page(round_report())
    assert page.count('src="data:image/svg+xml;base64,') == len(reports.charts_for("round"))
    assert page.count('srcset="data:image/svg+xml;base64,') == len(reports.charts_for("round"))
    assert "2026年第三季度“红花献给你”活动统计报告" in page
    assert "事迹材料不足" in page
    assert "<script" not in page


def test_without_a_cjk_font_the_chart_still_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "_font_checked", True)
    monkeypatch.setattr(reports, "_font_family", None)
    image = reports.render_chart(round_report(), "audit_by_category", "png")
    assert image.startswith(b"\x89PNG")
