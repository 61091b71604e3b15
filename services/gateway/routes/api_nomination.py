"""/api/v1 for the nomination side: rounds, nominations, quota, directory."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from services.gateway import nomination as nom
from services.gateway.auth import Principal
from services.gateway.commands import body
from services.gateway.deps import allow, api_csrf
from services.gateway.downloads import download
from services.gateway.employees import sync_after_import
from services.gateway.problems import Problem
from services.gateway.state import gw_state, services
from shared import directory_file
from shared.contracts.common import Category
from shared.contracts.nomination_commands import (
    AmendNomination,
    CloseRound,
    CorrectNominee,
    ErasePersonalData,
    ExtendDeadline,
    ImportDirectory,
    OpenRound,
    RecordConsent,
    ReopenForUnit,
    SubmitNomination,
    WithdrawNomination,
)

router = APIRouter(prefix="/api/v1", tags=["nomination"], dependencies=[Depends(api_csrf)])


class Out(BaseModel):
    """The service's answer, passed through (fields beyond those listed may appear)."""

    model_config = ConfigDict(extra="allow")


class RoundOut(Out):
    round_id: str
    cadence: str
    deadline: str
    unit_deadlines: dict[str, str]
    status: str
    opened_at: str
    closed_at: str | None
    seconds_left: int
    reopened: dict[str, str]
    reopened_seconds_left: dict[str, int]
    audit_started: bool


class NominationOut(Out):
    nomination_id: uuid.UUID
    round_id: str
    category: Category
    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    position: str
    deeds: str
    results: list[dict[str, Any]]
    evidence_links: list[str]
    recommendation: str
    status: str
    submitted_by: str
    submitted_at: str
    updated_at: str
    consent: dict[str, list[str]] | None = Field(
        default=None,
        description="The uses of public display consented to; null: not recorded (none)",
    )


class NominationDetailOut(NominationOut):
    history: list[dict[str, Any]]


class QuotaOut(Out):
    round_id: str
    unit_code: str
    categories: list[dict[str, Any]]


class CommandOut(Out):
    events: list[str]
    position: int | None


class SubmittedOut(CommandOut):
    nomination_id: uuid.UUID


class UnitOut(Out):
    unit_code: str
    name: str
    active_employees: int


class EmployeeOut(Out):
    employee_no: str
    name: str
    unit_code: str
    position: str
    active: bool


class ErasureOut(CommandOut):
    subject_id: uuid.UUID
    key_destroyed: bool


class ImportOut(CommandOut):
    changes: dict[str, int]
    summary: dict[str, int]
    report_zh: str
    report_en: str


OpenRoundBody = Annotated[dict[str, Any], Depends(body(OpenRound))]
ExtendDeadlineBody = Annotated[dict[str, Any], Depends(body(ExtendDeadline, omit=("round_id",)))]
ReopenBody = Annotated[dict[str, Any], Depends(body(ReopenForUnit, omit=("round_id",)))]
SubmitBody = Annotated[
    dict[str, Any],
    Depends(
        body(
            SubmitNomination,
            optional={
                "unit_code": "The nominator's own unit (the default); any other is refused.",
                "nomination_id": "Chosen by the client to make a retry harmless.",
            },
        )
    ),
]
AmendBody = Annotated[dict[str, Any], Depends(body(AmendNomination, omit=("nomination_id",)))]
ConsentBody = Annotated[dict[str, Any], Depends(body(RecordConsent, omit=("nomination_id",)))]
WithdrawBody = Annotated[dict[str, Any], Depends(body(WithdrawNomination, omit=("nomination_id",)))]
ImportBody = Annotated[dict[str, Any], Depends(body(ImportDirectory))]
EraseBody = Annotated[dict[str, Any], Depends(body(ErasePersonalData, omit=("employee_no",)))]
CorrectBody = Annotated[dict[str, Any], Depends(body(CorrectNominee, omit=("nomination_id",)))]

ReadNominations = Annotated[Principal, Depends(allow(*nom.NOMINATION_READERS))]
WriteNominations = Annotated[Principal, Depends(allow(*nom.NOMINATION_WRITERS))]
WriteRounds = Annotated[Principal, Depends(allow(*nom.ROUND_WRITERS))]


@router.get("/rounds", response_model=list[RoundOut])
async def list_rounds(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*nom.ROUND_READERS))],
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
) -> Any:
    """Rounds, newest first, with the deadline and the seconds left."""
    return await nom.rounds(services(request, principal), status)


@router.post("/rounds", response_model=CommandOut, status_code=201)
async def open_round(request: Request, fields: OpenRoundBody, principal: WriteRounds) -> Any:
    """Open a round for nominations (the office)."""
    return await services(request, principal).command(
        nom.SERVICE, "open_round", OpenRound, **fields
    )


@router.post("/rounds/{round_id}/extend", response_model=CommandOut)
async def extend_deadline(
    request: Request, round_id: str, fields: ExtendDeadlineBody, principal: WriteRounds
) -> Any:
    """Extend the deadline for the whole round or one unit, with a reason (the office)."""
    return await services(request, principal).command(
        nom.SERVICE, "extend_deadline", ExtendDeadline, round_id=round_id, **fields
    )


@router.post("/rounds/{round_id}/reopen", response_model=CommandOut)
async def reopen_for_unit(
    request: Request, round_id: str, fields: ReopenBody, principal: WriteRounds
) -> Any:
    """Let one unit nominate again in a closed round until a new deadline, with a reason
    (the office), until the office has begun auditing the round; `extend` only serves a
    round still open. Nothing is decided while the unit's window is open."""
    return await services(request, principal).command(
        nom.SERVICE, "reopen_for_unit", ReopenForUnit, round_id=round_id, **fields
    )


@router.post("/employees/{employee_no}/erasure", response_model=ErasureOut)
async def erase_personal_data(
    request: Request, employee_no: str, fields: EraseBody, principal: WriteRounds
) -> Any:
    """Erase an employee's personal data on their request, with the reason (the office):
    their key is destroyed, so their data reads 已删除 in every log, stream and backup
    (README "Privacy"); 404 `no_personal_data` when none is held. The gateway's drafts
    naming the employee go once it is recorded (services/gateway/nomination.py)."""
    return await nom.erase_employee(request, principal, employee_no, **fields)


@router.post("/nominations/{nomination_id}/correction", response_model=CommandOut)
async def correct_nominee(
    request: Request, nomination_id: uuid.UUID, fields: CorrectBody, principal: WriteRounds
) -> Any:
    """Correct the nominee's name or position in a nomination on their request, with the
    reason (the office): a correcting event, the original kept (README "Correction")."""
    return await services(request, principal).command(
        nom.SERVICE, "correct_nominee", CorrectNominee, nomination_id=nomination_id, **fields
    )


@router.post("/rounds/{round_id}/close", response_model=CommandOut)
async def close_round(request: Request, round_id: str, principal: WriteRounds) -> Any:
    """Close the nomination window early (the office)."""
    return await services(request, principal).command(
        nom.SERVICE, "close_round", CloseRound, round_id=round_id
    )


@router.get("/rounds/{round_id}/quota", response_model=QuotaOut)
async def quota(
    request: Request,
    round_id: str,
    principal: ReadNominations,
    unit_code: str | None = None,
) -> Any:
    """A unit's quota use per category (a nominator: their own unit only)."""
    return await nom.quota(services(request, principal), principal, round_id, unit_code)


@router.get("/nominations", response_model=list[NominationOut])
async def list_nominations(
    request: Request,
    principal: ReadNominations,
    round_id: str | None = None,
    unit_code: str | None = None,
    category: Category | None = None,
    status: Annotated[str | None, Query(pattern="^(submitted|withdrawn|closed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    """Nominations (a nominator sees their own unit's only)."""
    return await nom.nominations(
        services(request, principal),
        principal,
        round_id=round_id,
        unit_code=unit_code,
        category=category.value if category else None,
        status=status,
        limit=limit,
        offset=offset,
    )


@router.post("/nominations", response_model=SubmittedOut, status_code=201)
async def submit_nomination(
    request: Request, fields: SubmitBody, principal: WriteNominations
) -> Any:
    """Nominate an active employee of the nominator's own unit."""
    return await services(request, principal).command(
        nom.SERVICE,
        "submit",
        SubmitNomination,
        **{
            **fields,
            "unit_code": fields["unit_code"] or principal.unit_code,
            "nomination_id": fields["nomination_id"] or uuid.uuid4(),
        },
    )


@router.get("/nominations/{nomination_id}", response_model=NominationDetailOut)
async def get_nomination(
    request: Request, nomination_id: uuid.UUID, principal: ReadNominations
) -> Any:
    """One nomination with its history."""
    return await nom.nomination(services(request, principal), principal, nomination_id)


@router.put("/nominations/{nomination_id}", response_model=CommandOut)
async def amend_nomination(
    request: Request,
    nomination_id: uuid.UUID,
    fields: AmendBody,
    principal: WriteNominations,
) -> Any:
    """Replace a nomination's content before the deadline (own unit only)."""
    return await services(request, principal).command(
        nom.SERVICE, "amend", AmendNomination, nomination_id=nomination_id, **fields
    )


@router.post("/nominations/{nomination_id}/withdraw", response_model=CommandOut)
async def withdraw_nomination(
    request: Request,
    nomination_id: uuid.UUID,
    fields: WithdrawBody,
    principal: WriteNominations,
) -> Any:
    """Withdraw a nomination before the deadline, with a reason (own unit only)."""
    return await services(request, principal).command(
        nom.SERVICE, "withdraw", WithdrawNomination, nomination_id=nomination_id, **fields
    )


@router.post("/nominations/{nomination_id}/consent", response_model=CommandOut)
async def record_consent(
    request: Request,
    nomination_id: uuid.UUID,
    fields: ConsentBody,
    principal: WriteNominations,
) -> Any:
    """Record or change the nominee's consent to public display, until the result is
    published (own unit only); the uses listed replace any earlier consent."""
    return await services(request, principal).command(
        nom.SERVICE, "record_consent", RecordConsent, nomination_id=nomination_id, **fields
    )


@router.get("/directory/units", response_model=list[UnitOut])
async def list_units(
    request: Request, principal: Annotated[Principal, Depends(allow(*nom.DIRECTORY_READERS))]
) -> Any:
    """The units of the directory."""
    return await nom.units(services(request, principal))


@router.get("/directory/employees", response_model=list[EmployeeOut])
async def list_employees(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*nom.DIRECTORY_READERS))],
    unit_code: str | None = None,
    active_only: bool = True,
) -> Any:
    """Employees (a nominator: their own unit's only)."""
    return await nom.employees(services(request, principal), principal, unit_code, active_only)


@router.post("/directory/import", response_model=ImportOut)
async def import_directory(
    request: Request,
    fields: ImportBody,
    principal: Annotated[Principal, Depends(allow(*nom.DIRECTORY_WRITERS))],
) -> Any:
    """Bring the directory in line with these rows; only differences become events."""
    svc = services(request, principal)
    reply = await svc.command(nom.SERVICE, "import_directory", ImportDirectory, **fields)
    await sync_after_import(svc, gw_state(request).accounts)
    return with_report(reply)


@router.post("/directory/import.csv", response_model=ImportOut)
async def import_directory_file(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*nom.DIRECTORY_WRITERS))],
    file: Annotated[
        UploadFile,
        File(
            description="An HR export, CSV (UTF-8 or GBK) or .xlsx, headed 工号,姓名,单位编码,"
            "单位名称,岗位,在岗 or employee_no,name,unit_code,unit_name,position,active"
        ),
    ],
    complete: bool = False,
    skip_bad_rows: bool = False,
) -> Any:
    """Import an HR export (CSV or .xlsx, told by its content); bad rows come with line numbers."""
    limit = gw_state(request).gateway.directory_upload_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise Problem(413, "file_too_large", ("文件过大。", "The file is too large."))
    try:
        parsed = directory_file.parse(data)
    except ValueError:
        raise Problem(422, "unreadable_file", UNREADABLE) from None
    if parsed.errors and not skip_bad_rows:
        raise Problem(
            422,
            "invalid_rows",
            (
                f"有 {len(parsed.errors)} 行有误，未导入任何数据。",
                f"{len(parsed.errors)} bad row(s): nothing was imported.",
            ),
            rows=[
                {"line": e.line, "message_zh": e.reason_zh, "message_en": e.reason_en}
                for e in parsed.errors
            ],
        )
    svc = services(request, principal)
    reply = await svc.command(
        nom.SERVICE, "import_directory", ImportDirectory, rows=parsed.rows, complete=complete
    )
    await sync_after_import(svc, gw_state(request).accounts)
    return {**with_report(reply), "skipped_lines": [e.line for e in parsed.errors]}


UNREADABLE = (
    "文件既不是 Excel 工作簿（.xlsx），也不是 UTF-8 或 GBK 编码的 CSV。",
    "The file is neither an Excel workbook (.xlsx) nor UTF-8 or GBK CSV text.",
)


def with_report(reply: dict[str, Any]) -> dict[str, Any]:
    """The import's reply with what it changed in words."""
    summary = reply.get("summary", {})
    return {
        **reply,
        "report_zh": directory_file.report_zh(summary),
        "report_en": directory_file.report_en(summary),
    }


@router.get(
    "/directory/template.{fmt}",
    response_class=Response,
    responses={200: {"description": "The import template: Chinese header and an example row"}},
)
async def directory_template(
    fmt: Annotated[str, Path(pattern="^(xlsx|csv)$")],
    principal: Annotated[Principal, Depends(allow(*nom.DIRECTORY_WRITERS))],
) -> Response:
    """The directory import template for HR, as .xlsx or as CSV (UTF-8 with BOM)."""
    if fmt == "xlsx":
        return download(
            directory_file.template_xlsx(),
            "职工名册导入模板.xlsx",
            directory_file.XLSX_MEDIA_TYPE,
            ascii_name="directory-template.xlsx",
        )
    return download(
        directory_file.template_csv(),
        "职工名册导入模板_UTF-8.csv",
        "text/csv; charset=utf-8",
        ascii_name="directory-template-UTF-8.csv",
    )
