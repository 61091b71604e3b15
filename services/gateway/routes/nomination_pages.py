"""Nominator pages: the home panel, the unit's nominations, submit / amend / withdraw."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from services.gateway import nomination as nom
from services.gateway import review
from services.gateway.accounts import NOMINATOR
from services.gateway.auth import Principal
from services.gateway.deps import allow, page_csrf
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import locale_of
from services.gateway.outcome import with_outcomes
from services.gateway.problems import Problem
from services.gateway.routes.forms import FormState, form_action, one_field, parse_decimal
from services.gateway.state import Services, gw_state, services
from services.gateway.web import flash_messages, nav_link, render
from shared.contracts.common import Category
from shared.contracts.nomination_commands import (
    AmendNomination,
    SubmitNomination,
    WithdrawNomination,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

RESULT_ROWS = 5
MAX_LINKS = 10

nav_link("/nominations", ("提名", "Nominations"), nom.NOMINATION_READERS, order=20)
flash_messages(
    {
        "submitted": ("提名已提交。", "The nomination has been submitted."),
        "amended": ("提名已修改。", "The nomination has been amended."),
        "withdrawn": ("提名已撤回。", "The nomination has been withdrawn."),
    }
)

# A service refusal shown beside the field it is about.
FIELD_OF_ERROR = {
    "deeds_length": "deeds",
    "invalid_link": "evidence_links",
    "recommendation_required": "recommendation",
    "reason_required": "reason",
    "quota_exceeded": "category",
    "cooldown": "category",
    "already_nominated": "employee_no",
    "employee_not_found": "employee_no",
    "employee_inactive": "employee_no",
    "employee_not_in_unit": "employee_no",
}


@home_panel(NOMINATOR, "nomination/_home_nominator.html", order=10)
async def nominator_home(ctx: PanelContext) -> dict[str, Any]:
    unit = ctx.principal.unit_code
    open_rounds = await nom.rounds_open_to(ctx.services, unit)
    current = open_rounds[0] if open_rounds else None
    data: dict[str, Any] = {
        "round": None,
        "unit_code": unit,
        "unit_name": await _unit_name(ctx.services, unit),
        "earlier": None,
    }
    if current is not None:
        round_id = current["round_id"]
        data.update(
            round=current,
            deadline=nom.effective_deadline(current, unit),
            seconds_left=nom.seconds_left_for(current, unit),
            quota=await nom.quota(ctx.services, ctx.principal, round_id, unit),
            nominations=await _with_outcomes(ctx.services, ctx.principal, round_id, unit),
            other_rounds=[r["round_id"] for r in open_rounds[1:]],
        )
    # The latest closed round: its outcomes reach the unit long after its nominations close.
    closed = [
        r
        for r in await nom.rounds(ctx.services, "closed")
        if current is None or r["round_id"] != current["round_id"]
    ]
    if closed:
        round_id = closed[0]["round_id"]
        data["earlier"] = {
            "round_id": round_id,
            "nominations": await _with_outcomes(ctx.services, ctx.principal, round_id, unit),
        }
    return data


async def _with_outcomes(
    svc: Services, principal: Principal, round_id: str, unit: str | None
) -> list[dict[str, Any]]:
    """A unit's nominations in a round, each with the outcome the review gave it."""
    nominations = await nom.nominations(svc, principal, round_id=round_id, unit_code=unit)
    candidates = await review.candidates(svc, principal, round_id, unit_code=unit)
    return with_outcomes(nominations, candidates)


async def _unit_name(svc: Services, unit_code: str | None) -> str:
    if unit_code is None:
        return ""
    for unit in await nom.units(svc):
        if unit["unit_code"] == unit_code:
            return str(unit["name"])
    return unit_code


@router.get("/nominations")
async def list_nominations(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*nom.NOMINATION_READERS))],
    round_id: str | None = None,
    unit_code: str | None = None,
    category: str | None = None,
    status: str | None = None,
) -> Response:
    svc = services(request, principal)
    category = category if category in {c.value for c in Category} else None
    rounds = await nom.rounds(svc)
    items = await nom.nominations(
        svc,
        principal,
        round_id=round_id or None,
        unit_code=unit_code or None,
        category=category,
        status=status or None,
    )
    all_units = bool(principal.roles & nom.ALL_UNITS_READERS)
    return render(
        request,
        "nomination/list.html",
        {
            "items": items,
            "rounds": rounds,
            "units": await nom.units(svc) if all_units else [],
            "filters": {
                "round_id": round_id or "",
                "unit_code": unit_code or "",
                "category": category or "",
                "status": status or "",
            },
            "open_rounds": [r["round_id"] for r in rounds if r["status"] == "open"],
        },
        principal=principal,
    )


async def _form_page(
    request: Request,
    principal: Principal,
    form: FormState,
    *,
    mode: str,
    round_id: str,
    nomination: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    employees = await nom.employees(svc, principal, principal.unit_code) if mode == "new" else []
    quota = await nom.quota(svc, principal, round_id, principal.unit_code)
    settings = gw_state(request).settings
    return render(
        request,
        "nomination/form.html",
        {
            "mode": mode,
            "round_id": round_id,
            "nomination": nomination,
            "employees": employees,
            "quota": quota,
            "result_rows": RESULT_ROWS,
            "deeds_min": settings.deeds_min_chars,
            "deeds_max": settings.deeds_max_chars,
            **form.for_page(locale_of(request)),
        },
        principal=principal,
        status_code=status_code,
    )


async def _current_round_id(
    svc: Services, requested: str | None, unit_code: str | None
) -> str | None:
    open_ids = [r["round_id"] for r in await nom.rounds_open_to(svc, unit_code)]
    if requested:
        return requested if requested in open_ids else None
    return open_ids[0] if open_ids else None


@router.get("/nominations/new")
async def new_nomination(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*nom.NOMINATION_WRITERS))],
    round_id: str | None = None,
) -> Response:
    svc = services(request, principal)
    current = await _current_round_id(svc, round_id, principal.unit_code)
    if current is None:
        raise Problem(409, "round_not_open", ("当前没有开放提名的轮次。", "No round is open."))
    form = FormState(values={"nomination_id": str(uuid.uuid4()), "results": _blank_results()})
    return await _form_page(request, principal, form, mode="new", round_id=current)


def _blank_results() -> list[dict[str, str]]:
    return [{"metric": "", "value": "", "unit": ""} for _ in range(RESULT_ROWS)]


def _read_content(form: FormData, state: FormState) -> dict[str, Any]:
    """The content fields of a nomination form, checked for presence and format."""
    category = state.required(form, "category", ("请选择奖项类别。", "Choose a category."), 64)
    if category and category not in {c.value for c in Category}:
        state.errors["category"] = ("请选择奖项类别。", "Choose a category.")
    deeds = state.required(form, "deeds", ("请填写主要事迹。", "Describe the deeds."))
    recommendation = state.required(
        form, "recommendation", ("请填写单位推荐意见。", "Enter the unit's recommendation."), 2000
    )
    results: list[dict[str, Any]] = []
    shown: list[dict[str, str]] = []
    for i in range(RESULT_ROWS):
        row = {
            key: str(form.get(f"result_{key}_{i}", "")).strip()[:100]
            for key in ("metric", "value", "unit")
        }
        shown.append(row)
        if not any(row.values()):
            continue
        if not row["metric"]:
            state.errors[f"result_{i}"] = ("请填写指标名称。", "Name the metric.")
            continue
        value = parse_decimal(row["value"])
        if value is None:
            state.errors[f"result_{i}"] = (
                "数值须为数字，如 120000。",
                "The value must be a number.",
            )
            continue
        results.append({"metric": row["metric"], "value": str(value), "unit": row["unit"][:20]})
    state.values["results"] = shown
    links_text = state.text(form, "evidence_links", 20_000)
    links = [line.strip() for line in links_text.splitlines() if line.strip()]
    if len(links) > MAX_LINKS:
        state.errors["evidence_links"] = (
            f"最多 {MAX_LINKS} 个链接。",
            f"At most {MAX_LINKS} links.",
        )
    return {
        "category": category,
        "deeds": deeds,
        "results": results,
        "evidence_links": links,
        "recommendation": recommendation,
    }


@router.post("/nominations/new")
async def submit_nomination(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*nom.NOMINATION_WRITERS))],
) -> Response:
    svc = services(request, principal)
    form = await request.form()
    state = FormState()
    round_id = state.text(form, "round_id", 64)
    employee_no = state.required(
        form, "employee_no", ("请选择被提名职工。", "Choose the employee to nominate."), 64
    )
    content = _read_content(form, state)
    try:
        nomination_id = uuid.UUID(state.text(form, "nomination_id", 64))
    except ValueError:
        nomination_id = uuid.uuid4()
    state.values["nomination_id"] = str(nomination_id)
    return await form_action(
        state,
        lambda: svc.command(
            nom.SERVICE,
            "submit",
            SubmitNomination,
            **content,
            nomination_id=nomination_id,
            round_id=round_id,
            unit_code=principal.unit_code,
            employee_no=employee_no,
        ),
        render=lambda form, status: _form_page(
            request, principal, form, mode="new", round_id=round_id, status_code=status
        ),
        success_url=f"/nominations/{nomination_id}",
        message="submitted",
        field_of=FIELD_OF_ERROR,
    )


@router.get("/nominations/{nomination_id}")
async def show_nomination(
    request: Request,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*nom.NOMINATION_READERS))],
) -> Response:
    svc = services(request, principal)
    item = await nom.nomination(svc, principal, nomination_id)
    return await _detail_page(request, principal, item, FormState())


async def _detail_page(
    request: Request,
    principal: Principal,
    item: dict[str, Any],
    withdraw: FormState,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    item = _one_with_outcome(
        item, await review.candidates(svc, principal, item["round_id"], unit_code=item["unit_code"])
    )
    round_open = any(
        r["round_id"] == item["round_id"] for r in await nom.rounds_open_to(svc, item["unit_code"])
    )
    actors = [item["submitted_by"], *(h.get("actor") or "" for h in item.get("history", []))]
    names = await gw_state(request).accounts.display_names(actors)
    can_change = (
        NOMINATOR in principal.roles
        and principal.unit_code == item["unit_code"]
        and item["status"] == "submitted"
        and item["outcome"] != "rejected"  # its place is free: the unit nominates anew
        and round_open
    )
    return render(
        request,
        "nomination/detail.html",
        {
            "item": item,
            "names": names,
            "can_change": can_change,
            "withdraw": withdraw.for_page(locale_of(request)),
        },
        principal=principal,
        status_code=status_code,
    )


def _one_with_outcome(item: dict[str, Any], candidates: list[dict[str, Any]]) -> dict[str, Any]:
    return with_outcomes([item], candidates)[0]


@router.get("/nominations/{nomination_id}/edit")
async def edit_nomination(
    request: Request,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*nom.NOMINATION_WRITERS))],
) -> Response:
    item = await nom.nomination(services(request, principal), principal, nomination_id)
    results = [
        {"metric": r["metric"], "value": str(r["value"]), "unit": r.get("unit", "")}
        for r in item.get("results", [])
    ][:RESULT_ROWS]
    results += _blank_results()[len(results) :]
    form = FormState(
        values={
            "category": item["category"],
            "deeds": item["deeds"],
            "recommendation": item["recommendation"],
            "evidence_links": "\n".join(item.get("evidence_links", [])),
            "results": results,
        }
    )
    return await _form_page(
        request, principal, form, mode="edit", round_id=item["round_id"], nomination=item
    )


@router.post("/nominations/{nomination_id}/edit")
async def amend_nomination(
    request: Request,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*nom.NOMINATION_WRITERS))],
) -> Response:
    svc = services(request, principal)
    form = await request.form()
    state = FormState()
    content = _read_content(form, state)
    return await form_action(
        state,
        lambda: svc.command(
            nom.SERVICE, "amend", AmendNomination, nomination_id=nomination_id, **content
        ),
        render=partial(_page_again, request, principal, nomination_id, "edit"),
        success_url=f"/nominations/{nomination_id}",
        message="amended",
        field_of=FIELD_OF_ERROR,
    )


async def _page_again(
    request: Request,
    principal: Principal,
    nomination_id: uuid.UUID,
    mode: str,
    form: FormState,
    status: int,
) -> Response:
    """The edit form (`mode` "edit") or the detail page again, with the form refused."""
    item = await nom.nomination(services(request, principal), principal, nomination_id)
    if mode != "edit":
        return await _detail_page(request, principal, item, form, status_code=status)
    round_id = item["round_id"]
    return await _form_page(
        request, principal, form, mode=mode, round_id=round_id, nomination=item, status_code=status
    )


@router.post("/nominations/{nomination_id}/withdraw")
async def withdraw_nomination(
    request: Request,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*nom.NOMINATION_WRITERS))],
) -> Response:
    svc = services(request, principal)
    state, reason = await one_field(
        request, "reason", ("请填写撤回原因。", "Give the reason for withdrawing."), 2000
    )
    return await form_action(
        state,
        lambda: svc.command(
            nom.SERVICE, "withdraw", WithdrawNomination, nomination_id=nomination_id, reason=reason
        ),
        render=partial(_page_again, request, principal, nomination_id, "detail"),
        success_url=f"/nominations/{nomination_id}",
        message="withdrawn",
        field_of=FIELD_OF_ERROR,
    )
