"""The 推荐汇总表 of a round: every standing nomination by flower, for the leadership group —
as rows for the printable page and as an .xlsx workbook (openpyxl)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from services.gateway import review as rv
from services.gateway.auth import Principal
from services.gateway.state import Services
from shared.contracts.common import Category

AUDIT_ZH = {"pending": "待审核", "accepted": "已通过", "rejected": "已驳回"}
HEADERS = (
    ("序号", 6),
    ("奖项", 10),
    ("单位", 16),
    ("姓名", 10),
    ("工号", 10),
    ("岗位", 12),
    ("主要事迹", 60),
    ("可量化业绩", 24),
    ("单位推荐意见", 30),
    ("资格审核", 16),
    ("评审得分", 10),
    ("排名", 6),
)


@dataclass(frozen=True)
class Line:
    """One nomination on the sheet."""

    no: int
    category: Category
    unit_name: str
    name: str
    employee_no: str
    position: str
    deeds: str
    results: str
    recommendation: str
    audit: str
    score: Decimal | None
    rank: int | None

    def cells(self) -> list[Any]:
        return [
            self.no,
            self.category.label_zh,
            self.unit_name,
            self.name,
            self.employee_no,
            self.position,
            self.deeds,
            self.results,
            self.recommendation,
            self.audit,
            f"{self.score:.2f}" if self.score is not None else "",
            self.rank or "",
        ]


async def summary_lines(svc: Services, principal: Principal, round_id: str) -> list[Line]:
    """The round's nominations still standing (none withdrawn), by flower then unit; scores and
    ranks only for those who may see the ranking (never a panelist's own page)."""
    items = [c for c in await rv.candidates(svc, principal, round_id) if c["status"] != "withdrawn"]
    ranked: dict[str, dict[str, Any]] = {}
    if principal.has(*rv.OVERSEERS):
        for category in await rv.ranking(svc, principal, round_id):
            ranked.update({line["nomination_id"]: line for line in category["entries"]})
    order = {c: i for i, c in enumerate(Category)}
    items.sort(key=lambda c: (order[Category(c["category"])], c["unit_code"], c["name"]))
    lines = []
    for no, c in enumerate(items, start=1):
        audit = AUDIT_ZH.get(c["audit"], c["audit"])
        if c.get("rejection_reason"):
            audit += f"（{c['rejection_reason']}）"
        line = ranked.get(str(c["nomination_id"]), {})
        lines.append(
            Line(
                no=no,
                category=Category(c["category"]),
                unit_name=c["unit_name"],
                name=c["name"],
                employee_no=c["employee_no"],
                position=c["position"],
                deeds=c["deeds"],
                results="；".join(
                    f"{r['metric']}：{r['value']} {r['unit']}".strip() for r in c["results"]
                ),
                recommendation=c["recommendation"],
                audit=audit,
                score=Decimal(line["score"]) if line.get("score") is not None else None,
                rank=line.get("rank"),
            )
        )
    return lines


def workbook(title: str, lines: list[Line]) -> bytes:
    """The sheet as .xlsx: a title row, the headers, one row per nomination; 工号 as text."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "推荐汇总表"
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append([h for h, _ in HEADERS])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for index, (_, width) in enumerate(HEADERS, start=1):
        sheet.column_dimensions[sheet.cell(row=2, column=index).column_letter].width = width
    wrap = Alignment(wrap_text=True, vertical="top")
    for line in lines:
        sheet.append(line.cells())
        row = sheet.max_row
        sheet.cell(row=row, column=5).number_format = "@"  # 工号 stays text (leading zeros)
        for cell in sheet[row]:
            cell.alignment = wrap
    sheet.freeze_panes = "A3"
    sheet.print_title_rows = "2:2"
    sheet.page_setup.orientation = "landscape"
    out = BytesIO()
    book.save(out)
    return out.getvalue()
