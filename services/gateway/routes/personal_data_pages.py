"""个人信息: who looked at personal data (the office, the administrator, the auditor), an
employee's access request exported by the office, and the office's desk for a data subject's
requests (个人信息请求: look up what is held, export it, correct a nominee's name or position,
erase with a reason after a confirmation step)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.gateway import access_log, keys
from services.gateway import nomination as nom
from services.gateway import subject_export as se
from services.gateway.accounts import OFFICE
from services.gateway.auth import Principal
from services.gateway.deps import allow, page_csrf
from services.gateway.downloads import download
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import locale_of
from services.gateway.routes.forms import FormState, form_action, form_page
from services.gateway.state import gw_state, services
from services.gateway.web import flash_messages, nav_link, render
from shared.contracts.nomination_commands import CorrectNominee
from shared.contracts.subject_access import QUERY

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link(
    "/personal-data/access",
    ("个人信息访问记录", "Personal data access"),
    access_log.ACCESS_READERS,
    order=56,
)
nav_link("/personal-data/export", ("个人信息导出", "Personal data export"), (OFFICE,), order=57)
nav_link("/personal-data", ("个人信息请求", "Personal data requests"), (OFFICE,), order=54)
flash_messages(
    {
        "nominee_corrected": (
            "已更正。原记录保留在日志中，更正记录了经办人、时间和事由。",
            "Corrected. The original stays in the log; the correction records who, when and why.",
        ),
        "personal_data_erased": (
            "已删除该职工的个人信息：其密钥已销毁，各处的个人信息均显示为“已删除”。",
            "The employee's personal data is erased: the key is destroyed, it reads 已删除 "
            "everywhere.",
        ),
    }
)

EMPLOYEE_NEEDED = ("请填写职工工号。", "Enter the employee number.")
REASON_NEEDED = (
    "请写明事由（如：职工本人于某日提出查阅、复制申请）。",
    "Give the reason (e.g. the employee's access request of a given day).",
)

CORRECTION_FIELDS = {"name": ("姓名", "Name"), "position": ("岗位", "Position")}
NOMINATION_NEEDED = ("请选择要更正的提名。", "Choose the nomination to correct.")
FIELD_NEEDED = ("请选择要更正的项目（姓名或岗位）。", "Choose what to correct (name or position).")
VALUE_NEEDED = ("请填写更正后的内容。", "Enter the corrected value.")
ERASE_REASON_NEEDED = (
    "请写明删除事由（如：职工本人于某日书面申请删除）。",
    "Give the reason (e.g. the employee's written erasure request of a given day).",
)
FIELD_OF_ERROR = {
    "reason_required": "reason",
    "nomination_not_found": "nomination_id",
    "not_found": "nomination_id",
}  # anything else (no_personal_data, not_office…) is shown as a message above the forms

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


# --- The office's desk for a data subject's requests (个人信息请求) ----------------------------


@home_panel(OFFICE, "personal_data/_home_office.html", order=25)
async def office_privacy_home(ctx: PanelContext) -> dict[str, Any]:
    return {}


def desk_url(employee_no: str, **more: str) -> str:
    query = urlencode({"employee_no": employee_no, **more}, quote_via=quote)
    return f"/personal-data?{query}"


async def _desk(
    request: Request,
    principal: Principal,
    employee_no: str,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
    erased: str = "",
) -> Response:
    """The desk: the lookup form and, for an employee number, what is held about them (their
    directory entry and nominations, from the nomination service's answer to the office's
    access query), with the export, correction and erasure forms. A lookup is a read of
    personal data, so it is recorded in the access record."""
    held: dict[str, Any] = {}
    pseudonym: uuid.UUID | None = None
    if employee_no:
        state = gw_state(request)
        held = await services(request, principal).query(
            nom.SERVICE, QUERY, {"employee_no": employee_no, "user_ids": []}
        )
        pseudonym = await keys.pseudonym_of(state.settings, employee_no)
        await access_log.record(
            request,
            principal,
            "privacy_desk",
            subjects=[
                employee_no,
                *([f"{access_log.SEALED_PREFIX}{pseudonym}"] if pseudonym else []),
            ],
        )
    forms = forms or {}
    context = {
        "employee_no": employee_no,
        "directory": held.get("directory", []),
        "nominations": held.get("nominations", []),
        "pseudonym": str(pseudonym) if pseudonym else None,
        "erased": erased,
        "correction_fields": CORRECTION_FIELDS,
        "correct_form": (forms.get("correct") or FormState()).for_page(locale_of(request)),
        "erase_form": (forms.get("erase") or FormState()).for_page(locale_of(request)),
    }
    return form_page(request, "personal_data/desk.html", context, principal, forms, status_code)


def _employee_no(value: str) -> str:
    return value.strip()[:64]


@router.get("/personal-data")
async def desk_page(
    request: Request,
    principal: Office,
    employee_no: Annotated[str, Query(max_length=64)] = "",
    erased: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    return await _desk(request, principal, _employee_no(employee_no), erased=erased)


@router.post("/personal-data/correction")
async def correct_nominee(request: Request, principal: Office) -> Response:
    """The office corrects a nominee's name or position in one nomination (README
    "Correction"): `correct_nominee`, the original kept in the log."""
    form = await request.form()
    state = FormState()
    employee_no = _employee_no(state.text(form, "employee_no", 64))
    chosen = state.required(form, "nomination_id", NOMINATION_NEEDED, 64)
    field = state.required(form, "field", FIELD_NEEDED, 16)
    value = state.required(form, "value", VALUE_NEEDED, 100)
    reason = state.required(form, "reason", REASON_NEEDED, 2000)
    nomination_id: uuid.UUID | None = None
    if chosen:
        try:
            nomination_id = uuid.UUID(chosen)
        except ValueError:
            state.errors["nomination_id"] = NOMINATION_NEEDED
    if field and field not in CORRECTION_FIELDS:
        state.errors["field"] = FIELD_NEEDED
    return await form_action(
        state,
        lambda: services(request, principal).command(
            nom.SERVICE,
            "correct_nominee",
            CorrectNominee,
            nomination_id=nomination_id,
            field=field,
            value=value,
            reason=reason,
        ),
        render=lambda form_, status: _desk(
            request, principal, employee_no, {"correct": form_}, status
        ),
        success_url=desk_url(employee_no),
        message="nominee_corrected",
        field_of=FIELD_OF_ERROR,
    )


@router.post("/personal-data/erasure")
async def erase_personal_data(request: Request, principal: Office) -> Response:
    """Erasure in two steps: the reason first, then a page that says what erasing does and
    asks to confirm; only the confirmed post sends `erase_personal_data` (README "Privacy")."""
    form = await request.form()
    state = FormState()
    employee_no = _employee_no(state.required(form, "employee_no", EMPLOYEE_NEEDED, 64))
    reason = state.required(form, "reason", ERASE_REASON_NEEDED, 2000)
    if state.ok and form.get("confirm") != "yes":
        return render(
            request,
            "personal_data/erase_confirm.html",
            {"employee_no": employee_no, "reason": reason},
            principal=principal,
        )

    def erased(reply: Any) -> str:
        return desk_url(employee_no, erased=str(reply.get("subject_id", "")))

    return await form_action(
        state,
        lambda: nom.erase_employee(request, principal, employee_no, reason=reason),
        render=lambda form_, status: _desk(
            request, principal, employee_no, {"erase": form_}, status
        ),
        success_url=erased,
        message="personal_data_erased",
        field_of=FIELD_OF_ERROR,
    )
