"""个人信息: who looked at personal data (the office, the administrator, the auditor), and an
employee's access request, exported by the office."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.gateway import access_log
from services.gateway import subject_export as se
from services.gateway.accounts import OFFICE
from services.gateway.auth import Principal
from services.gateway.deps import allow, page_csrf
from services.gateway.downloads import download
from services.gateway.i18n import locale_of
from services.gateway.routes.forms import FormState
from services.gateway.state import gw_state
from services.gateway.web import nav_link, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link(
    "/personal-data/access",
    ("个人信息访问记录", "Personal data access"),
    access_log.ACCESS_READERS,
    order=56,
)
nav_link("/personal-data/export", ("个人信息导出", "Personal data export"), (OFFICE,), order=57)

EMPLOYEE_NEEDED = ("请填写职工工号。", "Enter the employee number.")
REASON_NEEDED = (
    "请写明事由（如：职工本人于某日提出查阅、复制申请）。",
    "Give the reason (e.g. the employee's access request of a given day).",
)

Readers = Annotated[Principal, Depends(allow(*access_log.ACCESS_READERS))]
Office = Annotated[Principal, Depends(allow(OFFICE))]


def day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/personal-data/access")
async def access_page(
    request: Request,
    principal: Readers,
    employee_no: Annotated[str, Query(max_length=64)] = "",
    viewer: Annotated[str, Query(max_length=100)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    verify: bool = False,
) -> Response:
    state = gw_state(request)
    wanted = await access_log.access_filter(
        request, employee_no, viewer, day(since), day(until), before
    )
    records = await access_log.search(state.pool, wanted)
    filters = {"employee_no": employee_no, "viewer": viewer, "since": since, "until": until}
    more = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "personal_data/access.html",
        {
            "records": records,
            "filters": filters,
            "more_query": urlencode(more),
            "older": records[-1].position if len(records) == wanted.limit else None,
            # Walking the chain reads every record (about 8,000 a second here): on demand.
            "chain": await access_log.verify(state.pool) if verify else None,
            "what_labels": access_log.WHAT_LABELS,
        },
        principal=principal,
    )


@router.get("/personal-data/export")
async def export_form(request: Request, principal: Office) -> Response:
    return render(
        request,
        "personal_data/export.html",
        {"form": FormState().for_page(locale_of(request))},
        principal=principal,
    )


@router.post("/personal-data/export")
async def export_file(request: Request, principal: Office) -> Response:
    form = await request.form()
    state = FormState()
    employee_no = state.required(form, "employee_no", EMPLOYEE_NEEDED, 64)
    reason = state.required(form, "reason", REASON_NEEDED, 500)
    if state.errors:
        return render(
            request,
            "personal_data/export.html",
            {"form": state.for_page(locale_of(request))},
            principal=principal,
            status_code=422,
        )
    file = await se.export(request, principal, employee_no, reason)
    return download(
        file.content, file.filename, se.XLSX, ascii_name=f"personal-data-{employee_no}.xlsx"
    )
