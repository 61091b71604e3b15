"""/api/v1/payroll, /api/v1/awards, /api/v1/pacesetters: what Finance's payroll system and
staff use, and the union's standings.

Payroll's system authenticates with a bearer token (an account holding the payroll role) and
pulls adjustments by position: `GET /api/v1/payroll/adjustments?after=<next_after>`; it
acknowledges each one it applied, and may export a period as CSV.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from services.gateway import access_log
from services.gateway import rewards as rw
from services.gateway.auth import Principal
from services.gateway.commands import body
from services.gateway.deps import allow, api_csrf
from services.gateway.downloads import download
from services.gateway.state import services
from shared.contracts.rewards_commands import AcknowledgeAdjustment

router = APIRouter(prefix="/api/v1", tags=["payroll"], dependencies=[Depends(api_csrf)])

Readers = Annotated[Principal, Depends(allow(*rw.PAYROLL_READERS))]
Writers = Annotated[Principal, Depends(allow(*rw.PAYROLL_WRITERS))]
AcknowledgeBody = Annotated[
    dict[str, Any], Depends(body(AcknowledgeAdjustment, omit=("adjustment_id",)))
]
PeriodQuery = Annotated[str | None, Query(pattern=rw.PERIOD_PATTERN, description="YYYY-MM")]


class Out(BaseModel):
    """The service's answer, passed through (fields beyond those listed may appear)."""

    model_config = ConfigDict(extra="allow")


class AdjustmentOut(Out):
    position: int
    adjustment_id: uuid.UUID
    kind: str
    award_id: uuid.UUID
    round_id: str
    category: str
    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    amount: str
    currency: str
    period: str
    reason_code: str
    description_zh: str
    issued_at: str


class FeedOut(Out):
    items: list[AdjustmentOut]
    next_after: int
    latest_position: int


class AdjustmentDetailOut(AdjustmentOut):
    acknowledgement: dict[str, Any] | None


class PeriodOut(Out):
    period: str
    status: str
    adjustments: int
    acknowledged: int
    net_amount: str


class ReconciliationOut(Out):
    period: str
    balanced: bool
    mismatches: list[dict[str, Any]]
    status: str


class AcknowledgedOut(Out):
    adjustment_id: uuid.UUID
    period: str
    status: str


class PeriodAcknowledgedOut(Out):
    period: str
    pending: int
    acknowledged: list[str]
    refused: list[dict[str, Any]]


class StandingsOut(Out):
    year: int
    entries: list[dict[str, Any]]


@router.get("/payroll/periods", response_model=list[PeriodOut])
async def list_periods(request: Request, principal: Readers) -> Any:
    """Payroll periods, newest first, with adjustments, acknowledgements and open/closed."""
    return await rw.periods(services(request, principal))


@router.get("/payroll/adjustments", response_model=FeedOut)
async def list_adjustments(
    request: Request,
    principal: Readers,
    after: Annotated[int, Query(ge=0, description="The last position already seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    period: PeriodQuery = None,
) -> Any:
    """The pull feed: adjustments after a position, oldest first; continue from `next_after`."""
    return await rw.adjustments(
        services(request, principal), after=after, limit=limit, period=period
    )


@router.get("/payroll/adjustments/{adjustment_id}", response_model=AdjustmentDetailOut)
async def get_adjustment(request: Request, adjustment_id: uuid.UUID, principal: Readers) -> Any:
    """One adjustment with payroll's acknowledgement, if any."""
    return await rw.adjustment(services(request, principal), adjustment_id)


@router.post("/payroll/adjustments/{adjustment_id}/acknowledge", response_model=AcknowledgedOut)
async def acknowledge(
    request: Request, adjustment_id: uuid.UUID, fields: AcknowledgeBody, principal: Writers
) -> Any:
    """Payroll applied this adjustment (idempotent: the same again changes nothing).

    Leave `period`, `amount` and `currency` out when it was applied as issued; give them for
    an id rewards never issued (recorded and reported by the reconciliation).
    """
    return await services(request, principal).command(
        rw.SERVICE, "acknowledge", AcknowledgeAdjustment, adjustment_id=adjustment_id, **fields
    )


@router.post("/payroll/periods/{period}/acknowledge", response_model=PeriodAcknowledgedOut)
async def acknowledge_period(
    request: Request, period: str, body: rw.AcknowledgePeriodIn, principal: Writers
) -> Any:
    """Acknowledge, as issued, every adjustment of the period not acknowledged yet."""
    return await rw.acknowledge_period(
        services(request, principal), rw.check_period(period), body.payroll_reference
    )


@router.get(
    "/payroll/periods/{period}/export",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}, rw.XLSX_MEDIA_TYPE: {}},
            "description": "The period's CSV or Excel workbook",
        }
    },
)
async def export_period(
    request: Request,
    period: str,
    principal: Readers,
    encoding: Annotated[str, Query(pattern="^(utf-8-sig|gbk)$")] = "utf-8-sig",
    file_format: Annotated[str, Query(alias="format", pattern="^(csv|xlsx)$")] = "csv",
) -> Response:
    """A period's adjustments as CSV that opens in Excel in Chinese (UTF-8 with BOM, or GBK),
    or as an Excel workbook (工号 as text, 金额 as a number); the file's name carries the
    encoding (薪酬调整_2026-12_UTF-8.csv, RFC 5987 `filename*`)."""
    svc = services(request, principal)
    exported = await rw.export(
        svc,
        rw.check_period(period),
        encoding,  # type: ignore[arg-type]
        file_format,  # type: ignore[arg-type]
    )
    await access_log.record(
        request,
        principal,
        "payroll_export",
        round_id=period,
        subjects=await access_log.payroll_subjects(svc, period),
        file=exported.filename,
    )
    response = download(
        exported.content,
        exported.filename,
        exported.media_type,
        ascii_name=exported.ascii_filename,
    )
    response.headers["X-Rows"] = str(exported.rows)
    return response


@router.get("/payroll/periods/{period}/reconciliation", response_model=ReconciliationOut)
async def reconcile_period(request: Request, period: str, principal: Readers) -> Any:
    """Awards ↔ adjustments ↔ acknowledgements of a period, every mismatch listed."""
    return await rw.reconcile(services(request, principal), rw.check_period(period))


@router.get("/payroll/ledger", response_model=Out)
async def ledger(
    request: Request,
    principal: Readers,
    year: Annotated[int | None, Query(ge=1000, le=9999, description="Payroll year")] = None,
) -> Any:
    """Totals per round, payroll period, year and unit (net of reversals)."""
    return await rw.ledger(services(request, principal), year)


@router.get("/awards", response_model=list[Out])
async def list_awards(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*rw.AWARD_READERS))],
    round_id: str | None = None,
    employee_no: str | None = None,
    status: Annotated[str | None, Query(pattern="^(granted|revoked)$")] = None,
    year: Annotated[int | None, Query(ge=1000, le=9999)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    """Awards by round, employee, status or year."""
    return await rw.awards(
        services(request, principal),
        round_id=round_id,
        employee_no=employee_no,
        status=status,
        year=year,
        limit=limit,
        offset=offset,
    )


@router.get("/pacesetters", response_model=StandingsOut)
async def pacesetters(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*rw.STANDINGS_READERS))],
    year: Annotated[int, Query(ge=1000, le=9999, description="The rounds' year")],
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> Any:
    """The year's pacesetter (十大标兵) standings: weighted flowers, ties explained."""
    return await rw.standings(services(request, principal), year, limit)
