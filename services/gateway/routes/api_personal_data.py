"""/api/v1/personal-data: who looked at personal data, and an employee's data export."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.gateway import access_log
from services.gateway import subject_export as se
from services.gateway.accounts import OFFICE
from services.gateway.auth import Principal
from services.gateway.deps import allow, api_csrf
from services.gateway.downloads import download
from services.gateway.state import gw_state

router = APIRouter(
    prefix="/api/v1/personal-data", tags=["personal data"], dependencies=[Depends(api_csrf)]
)

Readers = Annotated[Principal, Depends(allow(*access_log.ACCESS_READERS))]
Office = Annotated[Principal, Depends(allow(OFFICE))]


class AccessOut(BaseModel):
    position: int
    at: str
    viewer_id: str
    viewer_name: str
    viewer_roles: list[str]
    client_ip: str
    what: str
    round_id: str | None
    subjects: list[str]
    detail: dict[str, Any]
    prev_hash: str
    chain_hash: str


class AccessPageOut(BaseModel):
    items: list[AccessOut]
    next_before: int | None


class ChainOut(BaseModel):
    ok: bool
    records: int
    first_break: int | None


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_no: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


@router.get("/access", response_model=AccessPageOut)
async def access_records(
    request: Request,
    principal: Readers,
    employee_no: Annotated[str, Query(max_length=64)] = "",
    viewer: Annotated[
        str, Query(max_length=100, description="A user name, user id or display name")
    ] = "",
    since: Annotated[date | None, Query(description="A day (Beijing), inclusive")] = None,
    until: Annotated[date | None, Query(description="A day (Beijing), inclusive")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Continue: next_before")
    ] = None,
) -> Any:
    """Who read personal data (event browser, exports), newest first; 200 a page."""
    pool = gw_state(request).pool
    wanted = await access_log.access_filter(request, employee_no, viewer, since, until, before)
    records = await access_log.search(pool, wanted)
    return {
        "items": [r.to_json() for r in records],
        "next_before": records[-1].position if len(records) == wanted.limit else None,
    }


@router.get("/access/verify", response_model=ChainOut)
async def verify_access_records(request: Request, principal: Readers) -> Any:
    """Walk the whole access record: every position present, every hash recomputed;
    `first_break` is the first record that does not follow."""
    chain = await access_log.verify(gw_state(request).pool)
    return {"ok": chain.ok, "records": chain.records, "first_break": chain.first_break}


@router.post(
    "/exports",
    response_class=Response,
    responses={200: {"content": {se.XLSX: {}}, "description": "The employee's data workbook"}},
)
async def export_employee(request: Request, body: ExportIn, principal: Office) -> Response:
    """Everything held about one employee as an .xlsx workbook (PIPL access request), for the
    office; the request is recorded with its reason in the access record."""
    file = await se.export(request, principal, body.employee_no.strip(), body.reason.strip())
    return download(
        file.content, file.filename, se.XLSX, ascii_name=f"personal-data-{body.employee_no}.xlsx"
    )
