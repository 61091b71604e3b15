"""Nominator pages: the home panel, the unit's nominations, submit / amend / withdraw."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from services.gateway import drafts, review
from services.gateway import evidence as ev
from services.gateway import nomination as nom
from services.gateway.accounts import NOMINATOR, PANELIST
from services.gateway.auth import Principal
from services.gateway.deps import allow, page_csrf
from services.gateway.downloads import download
from services.gateway.evidence import evidence_limits
from services.gateway.guidance import FLOWER_MEANINGS
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import locale_of
from services.gateway.outcome import with_outcomes
from services.gateway.problems import Problem
from services.gateway.routes.forms import FormState, form_action, one_field, parse_decimal
from services.gateway.state import Services, gw_state, services
from services.gateway.web import flash_messages, nav_link, redirect, render
from shared.contracts.common import Category
from shared.contracts.nomination import ConsentUse
from shared.contracts.nomination_commands import (
    AmendNomination,
    RecordConsent,
    SubmitNomination,
    WithdrawNomination,
)
from shared.filestore import DIGEST

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

RESULT_ROWS = 5
MAX_LINKS = 10
# Who may open an evidence file: whoever reads nominations or scores them.
EVIDENCE_READERS = (*nom.NOMINATION_READERS, PANELIST)

nav_link("/nominations", ("提名", "Nominations"), nom.NOMINATION_READERS, order=20)
flash_messages(
    {
        "submitted": ("提名已提交。", "The nomination has been submitted."),
        "amended": ("提名已修改。", "The nomination has been amended."),
        "withdrawn": ("提名已撤回。", "The nomination has been withdrawn."),
        "consent_recorded": ("公开展示授权已记录。", "The consent to publicity is recorded."),
        "draft_saved": (
            "草稿已保存（仅您本人可见），可随时回来继续填写后提交。",
            "Draft saved (only you see it): come back to finish and submit it.",
        ),
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
    rounds = await nom.rounds(svc)  # newest first
    if round_id is None:  # the list opens on the current round: the open one, else the newest
        current = [r["round_id"] for r in rounds if r["status"] == "open"] or [
            r["round_id"] for r in rounds
        ]
        round_id = current[0] if current else None
    items = await nom.nominations(
        svc,
        principal,
        round_id=round_id or None,
        unit_code=unit_code or None,
        category=category,
        status=status or None,
    )
    # Every round ("全部"): the newest round's rows first, each round in the order submitted.
    items = sorted(items, key=lambda n: str(n["round_id"]), reverse=True)
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
    draft_saved_at: datetime | None = None,
) -> Response:
    svc = services(request, principal)
    employees = await nom.employees(svc, principal, principal.unit_code) if mode == "new" else []
    quota = await nom.quota(svc, principal, round_id, principal.unit_code)
    settings = gw_state(request).settings
    taken = await _already_nominated(svc, principal, round_id) if mode == "new" else {}
    own_category = (nomination or {}).get("category")
    return render(
        request,
        "nomination/form.html",
        {
            "mode": mode,
            "round_id": round_id,
            "nomination": nomination,
            "employees": employees,
            "taken": taken,
            "quota": quota,
            # A full flower cannot be chosen (its own, when amending, stays choosable).
            "full": {
                c["category"]
                for c in quota["categories"]
                if c["used"] >= c["quota"] and c["category"] != own_category
            },
            "meanings": FLOWER_MEANINGS,
            "upload": evidence_limits(gw_state(request).gateway),
            "draft_saved_at": draft_saved_at,
            "result_rows": RESULT_ROWS,
            "deeds_min": settings.deeds_min_chars,
            "deeds_max": settings.deeds_max_chars,
            "consent_uses": CONSENT_USES,
            **form.for_page(locale_of(request)),
        },
        principal=principal,
        status_code=status_code,
    )


async def _already_nominated(
    svc: Services, principal: Principal, round_id: str
) -> dict[str, dict[str, Any]]:
    """The unit's employees nominated in this round and still standing (neither withdrawn nor
    rejected), each with the flower they stand for: the form offers them no second time."""
    items = await nom.nominations(svc, principal, round_id=round_id, unit_code=principal.unit_code)
    candidates = await review.candidates(svc, principal, round_id, unit_code=principal.unit_code)
    return {
        n["employee_no"]: n
        for n in with_outcomes(items, candidates)
        if n["outcome"] not in ("withdrawn", "rejected")
    }


async def nom_round_open(svc: Services, round_id: str, unit_code: str | None) -> bool:
    """Whether the round takes this unit's nominations (open, or reopened for the unit)."""
    return any(r["round_id"] == round_id for r in await nom.rounds_open_to(svc, unit_code))


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
    saved = await drafts.load(gw_state(request).pool, principal.user.user_id, current)
    draft_saved_at = None
    if saved is not None:
        values, draft_saved_at = saved
        values["results"] = (values.get("results") or [])[:RESULT_ROWS]
        values["results"] += _blank_results()[len(values["results"]) :]
        form = FormState(values={**form.values, **values})
    return await _form_page(
        request, principal, form, mode="new", round_id=current, draft_saved_at=draft_saved_at
    )


def _blank_results() -> list[dict[str, str]]:
    return [{"metric": "", "value": "", "unit": ""} for _ in range(RESULT_ROWS)]


CONSENT_USES = [(u.value, u.label_zh) for u in ConsentUse]


def read_consent(form: FormData, state: FormState) -> dict[str, Any]:
    """The uses the nominee consented to, ticked one by one (none ticked: consent refused;
    nothing is ticked in advance: consent is given, never assumed)."""
    known = {u.value for u in ConsentUse}
    uses = [str(v) for v in form.getlist("consent") if str(v) in known]
    state.values["consent"] = uses
    return {"uses": uses}


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


def kept_files(links: list[str]) -> list[dict[str, str]]:
    """The uploaded files among a nomination's links, as the form lists them."""
    return [
        {"link": stored.link, "name": stored.name}
        for stored in (ev.parse_link(link) for link in links)
        if stored is not None
    ]


async def _read_files(
    request: Request, form: FormData, state: FormState, content: dict[str, Any]
) -> list[str]:
    """The evidence files of the form: those kept from before (ticked) and those sent now,
    stored in the file store; a refused file is named in Chinese under the file field."""
    gw = gw_state(request)
    store = ev.store_for(gw.settings, gw.gateway)
    ticked = [ev.parse_link(v) for v in form.getlist("evidence_file") if isinstance(v, str)]
    # Kept files count as sent again now (the evidence sweep's grace period), before they
    # are looked for in the store.
    await ev.record_uploads(gw.pool, [s.digest for s in ticked if s], gw.clock.now())
    kept: list[ev.Stored] = []
    for stored in ticked:
        if stored is not None and await asyncio.to_thread(store.get, stored.digest) is not None:
            kept.append(stored)
    uploads = [f for f in form.getlist("evidence_files") if isinstance(f, UploadFile)]
    added, refused = await ev.receive(
        uploads, len(kept), store, gw.gateway, gw.pool, gw.clock.now()
    )
    files = [*kept, *added]
    state.values["evidence_files"] = [{"link": f.link, "name": f.name} for f in files]
    if refused:
        state.errors["evidence_files"] = (
            "".join(zh for zh, _ in refused),
            " ".join(en for _, en in refused),
        )
    if len(content["evidence_links"]) + len(files) > MAX_LINKS:
        state.errors["evidence_links"] = (
            f"证明材料链接与文件合计最多 {MAX_LINKS} 个。",
            f"At most {MAX_LINKS} links and files together.",
        )
    return [f.link for f in files]


@router.get("/files/{digest}/{name}")
async def evidence_file(
    request: Request,
    digest: str,
    name: str,
    principal: Annotated[Principal, Depends(allow(*EVIDENCE_READERS))],
) -> Response:
    """An evidence file, to those who read nominations (the office, panelists, the units…)."""
    gw = gw_state(request)
    store = ev.store_for(gw.settings, gw.gateway)
    data = await asyncio.to_thread(store.get, digest) if DIGEST.match(digest) else None
    if data is None:
        raise ev.not_found()
    kind = ev.kind_of(name)
    media_type = ev.MEDIA_TYPES.get(kind, "application/octet-stream")
    return download(data, name, media_type, inline=kind in ("pdf", "jpg", "jpeg", "png"))


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
    content["evidence_links"] += await _read_files(request, form, state, content)
    consent = read_consent(form, state)
    try:
        nomination_id = uuid.UUID(state.text(form, "nomination_id", 64))
    except ValueError:
        nomination_id = uuid.uuid4()
    state.values["nomination_id"] = str(nomination_id)
    pool = gw_state(request).pool
    if form.get("action") == "draft":  # kept as typed, checked only when it is submitted
        refused_files = state.errors.get("evidence_files")
        state.errors = {"evidence_files": refused_files} if refused_files else {}
        if refused_files:
            return await _form_page(
                request, principal, state, mode="new", round_id=round_id, status_code=422
            )
        if await nom_round_open(svc, round_id, principal.unit_code):
            now = gw_state(request).clock.now()
            await drafts.save(pool, principal.user.user_id, round_id, state.values, now)
            return redirect(f"/nominations/new?round_id={round_id}", "draft_saved")
        state.problem = ("该轮次已不接受提名，草稿未保存。", "The round is not open: not saved.")

    async def send() -> object:
        reply = await svc.command(
            nom.SERVICE,
            "submit",
            SubmitNomination,
            **content,
            nomination_id=nomination_id,
            round_id=round_id,
            unit_code=principal.unit_code,
            employee_no=employee_no,
            consent=consent,
        )
        await drafts.delete(pool, principal.user.user_id, round_id)  # submitted: no draft
        return reply

    return await form_action(
        state,
        send,
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
            # Consent changes until the result is published (the service refuses after).
            "can_consent": NOMINATOR in principal.roles
            and principal.unit_code == item["unit_code"]
            and item["status"] != "withdrawn",
            "consent_uses": CONSENT_USES,
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
            "evidence_links": "\n".join(
                link for link in item.get("evidence_links", []) if ev.parse_link(link) is None
            ),
            "evidence_files": kept_files(item.get("evidence_links", [])),
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
    content["evidence_links"] += await _read_files(request, form, state, content)
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


@router.post("/nominations/{nomination_id}/consent")
async def record_consent(
    request: Request,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*nom.NOMINATION_WRITERS))],
) -> Response:
    """The unit records or changes the nominee's consent to public display."""
    svc = services(request, principal)
    form = await request.form()
    state = FormState()
    consent = read_consent(form, state)
    return await form_action(
        state,
        lambda: svc.command(
            nom.SERVICE,
            "record_consent",
            RecordConsent,
            nomination_id=nomination_id,
            consent=consent,
        ),
        render=partial(_page_again, request, principal, nomination_id, "detail"),
        success_url=f"/nominations/{nomination_id}",
        message="consent_recorded",
        field_of=FIELD_OF_ERROR,
    )
