"""The office's pages: rounds (open, extend the deadline, close) and its home panel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.gateway import nomination as nom
from services.gateway.accounts import OFFICE
from services.gateway.auth import Principal
from services.gateway.deps import allow, page_csrf
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import locale_of
from services.gateway.routes.forms import (
    FormState,
    form_action,
    form_page,
    parse_local_datetime,
)
from services.gateway.state import gw_state, services
from services.gateway.web import flash_messages, nav_link
from shared.contracts.nomination_commands import (
    CloseRound,
    ExtendDeadline,
    OpenRound,
    ReopenForUnit,
)
from shared.rounds import Cadence, RoundPeriod

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link("/office/rounds", ("轮次管理", "Rounds"), [OFFICE], order=30)
flash_messages(
    {
        "round_opened": ("已开放该轮次的提名。", "The round is open for nominations."),
        "deadline_extended": ("截止时间已延长。", "The deadline has been extended."),
        "round_closed": ("该轮次的提名已截止。", "Nominations for the round are closed."),
        "round_reopened": (
            "已为该单位重新开放提名，截止后其新提名将进入审核。",
            "The unit may nominate again; its nominations reach the audit when it closes.",
        ),
    }
)

FIELD_OF_ERROR = {
    "round_exists": "round_id",
    "cadence_mismatch": "round_id",
    "deadline_in_past": "deadline",
    "extension_not_later": "new_deadline",
    "reason_required": "reason",
    "unit_not_found": "unit_code",
}


@home_panel(OFFICE, "office/_home_office.html", order=20)
async def office_home(ctx: PanelContext) -> dict[str, Any]:
    rounds = await nom.rounds(ctx.services)
    open_rounds = [r for r in rounds if r["status"] == "open"]
    counts: dict[str, int] = {}
    for round_ in open_rounds:
        items = await nom.nominations(
            ctx.services, ctx.principal, round_id=round_["round_id"], status="submitted"
        )
        counts[round_["round_id"]] = len(items)
    late_rounds = [r for r in rounds if r["status"] == "closed" and r.get("reopened")]
    unit_names = {u["unit_code"]: u["name"] for u in await nom.units(ctx.services)}
    return {
        "open_rounds": open_rounds,
        "counts": counts,
        "rounds": rounds[:5],
        "late_rounds": late_rounds,
        "unit_names": unit_names if late_rounds else {},
    }


def suggested_round(rounds: list[dict[str, Any]], now: datetime, cadence: str) -> str:
    """The first round not opened yet, from the one holding today on."""
    taken = {r["round_id"] for r in rounds}
    period = RoundPeriod.containing(now, Cadence(cadence))
    while period.id in taken:
        period = period.next()
    return period.id


RoundWriters = Annotated[Principal, Depends(allow(*nom.ROUND_WRITERS))]


async def _rounds_page(
    request: Request,
    principal: Principal,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    rounds = await nom.rounds(svc)
    state = gw_state(request)
    forms = forms or {}
    open_form = forms.get("open") or FormState(
        values={
            "round_id": suggested_round(rounds, state.clock.now(), state.settings.cadence),
            "deadline": "",
        }
    )
    units = await nom.units(svc)
    context = {
        "rounds": rounds,
        "units": units,
        "unit_names": {u["unit_code"]: u["name"] for u in units},
        "open_form": open_form.for_page(locale_of(request)),
    }
    return form_page(request, "office/rounds.html", context, principal, forms, status_code)


@router.get("/office/rounds")
async def rounds_page(request: Request, principal: RoundWriters) -> Response:
    return await _rounds_page(request, principal)


async def _round_action(
    request: Request,
    principal: Principal,
    state: FormState,
    command: tuple[str, type[BaseModel]],
    fields: dict[str, Any],
    *,
    form_key: str,
    message: str,
    refused_status: int = 422,
    field_of: dict[str, str] = FIELD_OF_ERROR,
) -> Response:
    """Send a round's command from the rounds page; refused, the page again with the form."""
    name, model = command
    return await form_action(
        state,
        lambda: services(request, principal).command(nom.SERVICE, name, model, **fields),
        render=lambda form, status: _rounds_page(request, principal, {form_key: form}, status),
        success_url="/office/rounds",
        message=message,
        field_of=field_of,
        refused_status=refused_status,
    )


def _deadline(state: FormState, name: str, text: str) -> datetime | None:
    deadline = parse_local_datetime(text) if text else None
    if text and deadline is None:
        state.errors[name] = ("截止时间格式不正确。", "The deadline is not a valid time.")
    return deadline


@router.post("/office/rounds")
async def open_round(request: Request, principal: RoundWriters) -> Response:
    form = await request.form()
    state = FormState()
    round_id = state.required(
        form, "round_id", ("请填写轮次，如 2026-Q4。", "Enter a round such as 2026-Q4."), 64
    )
    deadline = _deadline(state, "deadline", state.text(form, "deadline", 64))
    if round_id:
        try:
            RoundPeriod.parse(round_id)
        except ValueError:
            state.errors["round_id"] = (
                "轮次格式应为 2026-Q4（季度）或 2026-11（月度）。",
                "A round looks like 2026-Q4 (quarterly) or 2026-11 (monthly).",
            )
    return await _round_action(
        request,
        principal,
        state,
        ("open_round", OpenRound),
        {"round_id": round_id, "deadline": deadline},
        form_key="open",
        message="round_opened",
    )


@router.post("/office/rounds/{round_id}/extend")
async def extend_deadline(request: Request, round_id: str, principal: RoundWriters) -> Response:
    form = await request.form()
    state = FormState()
    text = state.required(
        form, "new_deadline", ("请填写新的截止时间。", "Enter the new deadline."), 64
    )
    new_deadline = _deadline(state, "new_deadline", text)
    unit_code = state.text(form, "unit_code", 64) or None
    reason = state.required(form, "reason", ("请填写延期原因。", "Give the reason."), 2000)
    return await _round_action(
        request,
        principal,
        state,
        ("extend_deadline", ExtendDeadline),
        {
            "round_id": round_id,
            "new_deadline": new_deadline,
            "unit_code": unit_code,
            "reason": reason,
        },
        form_key=f"extend:{round_id}",
        message="deadline_extended",
    )


@router.post("/office/rounds/{round_id}/reopen")
async def reopen_for_unit(request: Request, round_id: str, principal: RoundWriters) -> Response:
    form = await request.form()
    state = FormState()
    text = state.required(
        form, "new_deadline", ("请填写新的截止时间。", "Enter the new deadline."), 64
    )
    new_deadline = _deadline(state, "new_deadline", text)
    unit_code = state.required(form, "unit_code", ("请选择单位。", "Choose the unit."), 64)
    reason = state.required(form, "reason", ("请填写重新开放的原因。", "Give the reason."), 2000)
    return await _round_action(
        request,
        principal,
        state,
        ("reopen_for_unit", ReopenForUnit),
        {
            "round_id": round_id,
            "new_deadline": new_deadline,
            "unit_code": unit_code,
            "reason": reason,
        },
        form_key=f"reopen:{round_id}",
        message="round_reopened",
    )


@router.post("/office/rounds/{round_id}/close")
async def close_round(request: Request, round_id: str, principal: RoundWriters) -> Response:
    return await _round_action(
        request,
        principal,
        FormState(),
        ("close_round", CloseRound),
        {"round_id": round_id},
        form_key=f"close:{round_id}",
        message="round_closed",
        refused_status=409,
        field_of={},
    )
