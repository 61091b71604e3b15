"""/api/v1/publicity (drafts, their workflow, artefacts, reports) and /api/v1/honor-roll."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from services.gateway import access_log
from services.gateway import publicity as pub
from services.gateway.auth import Principal
from services.gateway.commands import body
from services.gateway.deps import allow, api_csrf
from services.gateway.downloads import download
from services.gateway.problems import Problem
from services.gateway.state import services
from shared.contracts.publicity_commands import ApproveMaterial, EditMaterial, PublishMaterial

router = APIRouter(prefix="/api/v1", tags=["publicity"], dependencies=[Depends(api_csrf)])

Readers = Annotated[Principal, Depends(allow(*pub.DRAFT_READERS))]
Writers = Annotated[Principal, Depends(allow(*pub.PUBLICITY_WRITERS))]
EditBody = Annotated[dict[str, Any], Depends(body(EditMaterial, omit=("material_id",)))]
ApproveBody = Annotated[dict[str, Any], Depends(body(ApproveMaterial, omit=("material_id",)))]
PublishBody = Annotated[dict[str, Any], Depends(body(PublishMaterial, omit=("material_id",)))]
ReportReaders = Annotated[Principal, Depends(allow(*pub.REPORT_READERS))]
Scope = Annotated[str, Query(pattern="^(round|year)$")]
Year = Annotated[int | None, Query(ge=1000, le=9999)]


class Out(BaseModel):
    """The service's answer, passed through (fields beyond those listed may appear)."""

    model_config = ConfigDict(extra="allow")


class PublicityRoundOut(Out):
    round_id: str
    materials: int
    drafts: int
    approved: int
    published: int


class MaterialOut(Out):
    material_id: uuid.UUID
    round_id: str
    kind: str
    status: str
    revision: int
    channels: list[str]
    published_channels: list[str]
    formats: list[str]
    title: str


class MaterialDetailOut(MaterialOut):
    content: dict[str, Any]
    html: str
    history: list[dict[str, Any]]


class WorkflowOut(Out):
    events: list[str]
    material_id: uuid.UUID
    revision: int | None
    status: str | None


class HonorRollOut(Out):
    round_id: str
    material_id: uuid.UUID
    status: str
    published_channels: list[str]
    winners: list[dict[str, Any]]


def _scope_args(scope: str, round_id: str | None, year: int | None) -> None:
    if scope == "round" and not round_id:
        raise Problem(422, "round_id_required", ("请指定轮次。", "Name the round (round_id)."))
    if scope == "year" and year is None:
        raise Problem(422, "year_required", ("请指定年度。", "Name the year (year)."))


@router.get("/publicity/rounds", response_model=list[PublicityRoundOut])
async def list_rounds(request: Request, principal: Readers) -> Any:
    """Rounds with materials, newest first, with counts per status."""
    return await pub.rounds(services(request, principal))


@router.get("/publicity/rounds/{round_id}/drafts", response_model=list[MaterialOut])
async def list_drafts(request: Request, round_id: str, principal: Readers) -> Any:
    """A round's materials (honor roll, bulletin, official account, storyboard, corrections)."""
    return await pub.drafts(services(request, principal), round_id)


@router.get("/publicity/drafts/{material_id}", response_model=MaterialDetailOut)
async def get_draft(request: Request, material_id: uuid.UUID, principal: Readers) -> Any:
    """One material: its content, the rendered HTML and its history."""
    return await pub.draft(services(request, principal), material_id)


@router.put("/publicity/drafts/{material_id}", response_model=WorkflowOut)
async def edit_draft(
    request: Request, material_id: uuid.UUID, fields: EditBody, principal: Writers
) -> Any:
    """Change a draft's wording (fields left out stay); an approved draft needs approving again."""
    return await services(request, principal).command(
        pub.SERVICE, "edit", EditMaterial, material_id=material_id, **fields
    )


@router.post("/publicity/drafts/{material_id}/approve", response_model=WorkflowOut)
async def approve_draft(
    request: Request, material_id: uuid.UUID, fields: ApproveBody, principal: Writers
) -> Any:
    """Approve the draft as it stands (at `expected_revision`, when given)."""
    return await services(request, principal).command(
        pub.SERVICE, "approve", ApproveMaterial, material_id=material_id, **fields
    )


@router.post("/publicity/drafts/{material_id}/publish", response_model=WorkflowOut)
async def publish_draft(
    request: Request, material_id: uuid.UUID, fields: PublishBody, principal: Writers
) -> Any:
    """Mark the approved draft published on one of its channels."""
    return await services(request, principal).command(
        pub.SERVICE, "publish", PublishMaterial, material_id=material_id, **fields
    )


@router.get(
    "/publicity/drafts/{material_id}/artefacts/{fmt}",
    response_class=Response,
    responses={200: {"description": "The file (docx, srt, svg, html or json)"}},
)
async def get_artefact(
    request: Request, material_id: uuid.UUID, fmt: str, principal: Readers
) -> Response:
    """One material as a file: html, svg (honor roll poster), docx, srt (subtitles), json."""
    if fmt not in pub.ARTEFACT_FORMATS:
        raise Problem(
            422,
            "invalid_format",
            ("没有该格式。", "No such format."),
            formats=list(pub.ARTEFACT_FORMATS),
        )
    svc = services(request, principal)
    file = await pub.artefact(svc, material_id, fmt)
    round_id, subjects = await access_log.material_subjects(svc, material_id)
    await access_log.record(
        request,
        principal,
        "publicity_draft",
        round_id=round_id,
        subjects=subjects,
        material_id=str(material_id),
        file=file.filename,
    )
    return download(file.content, file.filename, file.media_type)


@router.get("/publicity/reports", response_model=Out)
async def get_report(
    request: Request,
    principal: ReportReaders,
    scope: Scope = "round",
    round_id: str | None = None,
    year: Year = None,
) -> Any:
    """Statistics of a round or a year (nominations, audit, scores, winners, participation)."""
    _scope_args(scope, round_id, year)
    return await pub.report(services(request, principal), scope, round_id, year)


@router.get(
    "/publicity/reports/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
)
async def export_report(
    request: Request,
    principal: ReportReaders,
    scope: Scope = "round",
    round_id: str | None = None,
    year: Year = None,
    format: Annotated[str, Query(pattern="^(csv|xlsx|docx|html)$")] = "csv",
) -> Response:
    """The report as CSV (for Excel) or as an HTML page with its charts."""
    _scope_args(scope, round_id, year)
    svc = services(request, principal)
    file = await pub.report_file(svc, scope, round_id, year, format)
    await access_log.record(
        request,
        principal,
        "publicity_report",
        round_id=round_id if scope == "round" else str(year),
        subjects=await access_log.report_subjects(svc, round_id if scope == "round" else None),
        file=file.filename,
    )
    return download(file.content, file.filename, file.media_type)


@router.get(
    "/publicity/reports/charts/{chart}",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}},
)
async def report_chart(
    request: Request,
    chart: str,
    principal: ReportReaders,
    scope: Scope = "round",
    round_id: str | None = None,
    year: Year = None,
    format: Annotated[str, Query(pattern="^(svg|png)$")] = "svg",
    size: Annotated[str, Query(pattern="^(wide|narrow)$")] = "wide",
) -> Response:
    """One chart of a report as an image; `size=narrow` is laid out for a phone (375 px)."""
    if chart not in pub.CHART_LABELS:
        raise Problem(
            404, "not_found", ("没有该图表。", "No such chart."), charts=list(pub.CHART_LABELS)
        )
    _scope_args(scope, round_id, year)
    file = await pub.report_chart(
        services(request, principal), scope, round_id, year, chart, format, size
    )
    return download(file.content, file.filename, file.media_type, inline=True)


@router.get("/honor-roll", response_model=HonorRollOut, tags=["honors"])
async def honor_roll(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*pub.HONOR_ROLL_READERS))],
    round_id: str | None = None,
) -> Any:
    """The honor roll (光荣榜) of a round — the latest by default; revoked winners left out."""
    roll = await pub.honor_roll(services(request, principal), round_id)
    return pub.public_view(roll, principal)
