"""The 推荐汇总表 of a round for the leadership group: a printable page and an .xlsx file."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.gateway import access_log
from services.gateway import review as rv
from services.gateway.deps import page_csrf
from services.gateway.downloads import download
from services.gateway.problems import Problem
from services.gateway.routes import review_common as common
from services.gateway.state import services
from services.gateway.summary_sheet import HEADERS, summary_lines, workbook
from services.gateway.web import nav_link, round_label

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link("/review/sheet", ("推荐汇总表", "Summary sheet"), rv.REVIEW_READERS, order=36)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sheet_title(round_id: str) -> str:
    return f"{round_label(round_id, 'zh-CN')}“五朵金花”推荐汇总表"


async def _sheet(at: common.Shown) -> dict[str, Any]:
    if at.round_id is None:
        return {"lines": [], "headers": HEADERS, "title": ""}
    return {
        "lines": await summary_lines(at.svc, at.principal, at.round_id),
        "headers": HEADERS,
        "title": sheet_title(at.round_id),
    }


common.ReviewPage(router, "/review/sheet", "review/sheet.html", _sheet, rv.REVIEW_READERS)


@router.get("/review/sheet/{round_id}.xlsx")
async def sheet_xlsx(request: Request, round_id: str, principal: common.ReviewReaders) -> Response:
    svc = services(request, principal)
    if round_id not in {r["round_id"] for r in await rv.rounds(svc)}:
        raise Problem(
            404,
            "unknown_round",
            ("该轮次尚无提名进入评审。", "No nomination of this round has reached the review."),
        )
    lines = await summary_lines(svc, principal, round_id)
    name = f"推荐汇总表-{round_id}.xlsx"
    await access_log.record(
        request,
        principal,
        "summary_sheet",
        round_id=round_id,
        subjects=[line.employee_no for line in lines],
        file=name,
    )
    return download(workbook(sheet_title(round_id), lines), name, XLSX)
