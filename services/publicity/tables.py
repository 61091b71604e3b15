"""A report's figures as the wide tables a union clerk pastes into the research report (调研报告):
one row per unit and one per flower (and, for a year, one per round), as CSV (UTF-8 with a
byte-order mark, the tables one under another) and as an .xlsx workbook (a sheet each), plus
a .docx chapter with the tables and the charts embedded. Pure but for the chart drawing.

Rates are percentages with one decimal (95.8%); a cell that a spreadsheet would take for a
formula is prefixed with an apostrophe (CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import docx
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from shared.contracts.common import Category
from shared.rounds import RoundPeriod

Table = tuple[str, list[str], list[list[Any]]]  # title, header, rows

_COUNTS = ("nominations", "accepted", "rejected", "pending_audit", "acceptance_rate", "winners")
_COUNT_HEADER = ["提名数", "审核通过", "审核未通过", "待审核", "通过率", "获奖数"]


def percent(rate: str | None) -> str:
    """ "0.9583" → "95.8%"; no rate (nothing audited) → "—"."""
    if rate is None:
        return "—"
    return f"{(Decimal(rate) * 100).quantize(Decimal('0.1'))}%"


def _counts(row: dict[str, Any]) -> list[Any]:
    return [percent(row[k]) if k.endswith("_rate") else row[k] for k in _COUNTS]


def _score(category: dict[str, Any], key: str) -> Any:
    value = category["scores"][key]
    return "—" if value is None else value


def tables(report: dict[str, Any]) -> list[Table]:
    flowers = [c.label_zh for c in Category]
    units = [
        [
            u["unit_code"],
            u["unit_name"],
            *_counts(u),
            *(u["by_category"][c.value] for c in Category),
        ]
        for u in report["by_unit"]
    ]
    totals = report["totals"]
    units.append(
        [
            "",
            "合计",
            *_counts(totals),
            *(sum(u["by_category"][c.value] for u in report["by_unit"]) for c in Category),
        ]
    )
    out: list[Table] = [
        (
            f"{report['label_zh']}各单位提名与审核情况",
            ["单位代码", "单位", *_COUNT_HEADER, *(f"{f}提名" for f in flowers)],
            units,
        ),
        (
            f"{report['label_zh']}各奖项情况",
            ["奖项", *_COUNT_HEADER, "平均分", "最高分", "最低分"],
            [
                [
                    c["label_zh"],
                    *_counts(c),
                    *(c["scores"][k] or "—" for k in ("mean", "max", "min")),
                ]
                for c in report["by_category"]
            ],
        ),
    ]
    if report["scope"] == "year":
        out.append(
            (
                f"{report['label_zh']}各轮次情况",
                ["轮次", *_COUNT_HEADER],
                [[r["label_zh"], *_counts(r)] for r in report["by_round"]],
            )
        )
    out.append(
        (
            f"{report['label_zh']}获奖名单",
            ["轮次", "奖项", "姓名", "工号", "单位", "综合得分", "备注"],
            [
                [
                    RoundPeriod.parse(w["round_id"]).label_zh,
                    w["label_zh"],
                    w["name"],
                    w["employee_no"],
                    w["unit_name"],
                    w["score"],
                    "已撤销" if w["revoked"] else "",
                ]
                for w in report["winners"]
            ],
        )
    )
    return out


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(report: dict[str, Any]) -> str:
    """The tables one under another, each under its title, a blank row between them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for i, (title, header, rows) in enumerate(tables(report)):
        if i:
            writer.writerow([])
        writer.writerow([_cell(title)])
        writer.writerow(header)
        writer.writerows([_cell(v) for v in row] for row in rows)
    return "\ufeff" + buffer.getvalue()


_FIXED = datetime(2026, 1, 1, tzinfo=UTC)


def _xlsx_value(value: Any) -> Any:
    """Numbers stay numbers (a clerk sums them); text is never a formula."""
    if isinstance(value, int | float):
        return value
    text = _cell(value)
    try:
        return float(text) if text and text.replace(".", "", 1).isdigit() else text
    except ValueError:
        return text


def to_xlsx(report: dict[str, Any]) -> bytes:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, header, rows in tables(report):
        sheet = book.create_sheet(title.removeprefix(report["label_zh"])[:31])
        sheet.append([title])
        sheet["A1"].font = Font(bold=True, size=14)
        sheet.append(header)
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_xlsx_value(v) for v in row])
        sheet.freeze_panes = "A3"
        for i, name in enumerate(header, start=1):
            width = max([len(str(name)), *(len(str(r[i - 1])) for r in rows)]) * 2 + 2
            sheet.column_dimensions[get_column_letter(i)].width = min(40, width)
    book.properties.creator = "党群工作部"
    book.properties.created = book.properties.modified = _FIXED.replace(tzinfo=None)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def to_docx_chapter(
    report: dict[str, Any],
    charts: Sequence[str],
    draw: Callable[[str], bytes],
    department: str,
) -> bytes:
    """A chapter for the research report: a heading, the key figures in a paragraph, each
    table, and each chart (`draw(chart)` gives its PNG) with a caption."""
    document = docx.Document()
    normal = document.styles["Normal"]
    normal.font.name = "仿宋_GB2312"
    normal.font.size = Pt(14)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "仿宋_GB2312")

    def heading(text: str, size: float) -> None:
        run = document.add_paragraph().add_run(text)
        run.font.size = Pt(size)
        run.font.name = "黑体"
        run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "黑体")

    t = report["totals"]
    heading(f"“五朵金花”评选情况（{report['label_zh']}）", 16)
    summary = document.add_paragraph(
        f"{report['label_zh']}，{t['units_nominating']}个单位（共{t['units_total']}个）"
        f"提名{t['nominations']}人次，审核通过{t['accepted']}人次，通过率"
        f"{percent(t['acceptance_rate'])}，评选出“五朵金花”{t['winners']}名。"
    )
    summary.paragraph_format.first_line_indent = Pt(28)
    for n, (title, header, rows) in enumerate(tables(report), start=1):
        caption = document.add_paragraph(f"表{n}　{title.removeprefix(report['label_zh'])}")
        caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
        grid = document.add_table(rows=1, cols=len(header))
        grid.style = "Table Grid"
        for cell, name in zip(grid.rows[0].cells, header, strict=True):
            cell.text = name
        for row in rows:
            for cell, value in zip(grid.add_row().cells, row, strict=True):
                cell.text = "" if value is None else str(value)
    for n, chart in enumerate(charts, start=1):
        document.add_picture(io.BytesIO(draw(chart)), width=Cm(15))
        document.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
        caption = document.add_paragraph(f"图{n}　{CHART_TITLES.get(chart, chart)}")
        caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
    core = document.core_properties
    core.title = f"“五朵金花”评选情况（{report['label_zh']}）"
    core.author = core.last_modified_by = department
    core.comments = ""
    core.created = core.modified = _FIXED
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


CHART_TITLES = {
    "nominations_by_unit": "各单位提名数",
    "nominations_by_round": "各轮次提名数",
    "audit_by_category": "各奖项审核情况",
    "score_spread": "评分分布",
    "participation": "各单位参与情况",
}
