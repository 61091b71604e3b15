"""The review's pages: the office's audit, panel, progress, objections and publishing; the
panelist's scoring; discipline inspection's veto; the leader's ranking and decisions; the
public notice with real-name objections and the published results for everyone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.gateway import nomination as nom
from services.gateway import review as rv
from services.gateway.accounts import DISCIPLINE, LEADER, OFFICE, PANELIST, ROLES, STAFF
from services.gateway.auth import Principal
from services.gateway.deps import allow, page_csrf
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import locale_of
from services.gateway.problems import Problem
from services.gateway.routes.forms import FormState, parse_decimal
from services.gateway.state import Services, gw_state, services
from services.gateway.web import flash_messages, nav_link, redirect, render
from shared.contracts import review_commands as rc
from shared.contracts.common import Category

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link("/review/audits", ("资格审核", "Audit"), rv.AUDITORS, order=31)
nav_link("/review/panel", ("评审组", "Panel"), rv.AUDITORS, order=32)
nav_link("/review/summary", ("评审进度", "Review progress"), rv.REVIEW_READERS, order=33)
nav_link("/review/objections", ("异议处理", "Objections"), rv.AUDITORS, order=34)
nav_link("/review/scoring", ("评分", "Scoring"), rv.SCORERS, order=40)
nav_link("/review/veto", ("否决", "Veto"), rv.VETOERS, order=41)
nav_link("/review/ranking", ("评审排名", "Ranking"), rv.OVERSEERS, order=42)
nav_link("/review/notice", ("公示", "Public notice"), ROLES, order=60)
nav_link("/review/results", ("评选结果", "Results"), ROLES, order=61)
flash_messages(
    {
        "accepted": ("已通过资格审核。", "The nomination has been accepted."),
        "rejected": ("已驳回，理由将告知提名单位。", "Rejected; the unit will see the reason."),
        "panelist_assigned": ("已加入评审组。", "The panelist has joined the panel."),
        "panelist_removed": ("已撤换该评委。", "The panelist has been taken off the panel."),
        "scored": ("评分已提交。", "Your score has been submitted."),
        "vetoed": ("已一票否决该推荐。", "The nomination has been vetoed."),
        "decided": ("已确定拟表彰人选。", "The winners have been decided."),
        "replaced": ("已确定替补人选，新的公示已开始。", "Replacement named; a new notice runs."),
        "revoked": ("已撤销该荣誉。", "The award has been revoked."),
        "notice_started": ("公示已开始。", "The public notice has started."),
        "objection_raised": (
            "您的异议已实名提交，办公室将调查处理。",
            "Your objection has been submitted under your name; the office will look into it.",
        ),
        "note_recorded": ("调查情况已记录。", "The note has been recorded."),
        "objection_resolved": ("异议已处理。", "The objection has been resolved."),
        "published": ("评选结果已正式发布。", "The result has been published."),
    }
)

# A service refusal shown beside the field it is about.
FIELD_OF_ERROR = {
    "reason_required": "reason",
    "employee_no_required": "employee_no",
    "employee_no_mismatch": "employee_no",
    "department_required": "employee_no",
    "quota_exceeded": "winners",
    "wrong_category": "winners",
    "insufficient_scores": "winners",
    "vetoed": "winners",
    "not_accepted": "winners",
    "not_eligible": "nomination_id",
}


def _forms(locale: str, forms: dict[str, FormState] | None) -> dict[str, Any]:
    """The forms being redisplayed (values, errors by field) and a refusal that belongs to no
    field, shown as one sentence at the top of the page."""
    shown = {k: v.for_page(locale) for k, v in (forms or {}).items()}
    refusal = next((f["problem"] for f in shown.values() if f["problem"]), None)
    return {"forms": shown, "refusal": refusal}


def _back(path: str, round_id: str | None) -> str:
    return f"{path}?round_id={round_id}" if round_id else path


async def _names(request: Request, ids: Iterable[str | None]) -> dict[str, str]:
    return await gw_state(request).accounts.display_names(i for i in ids if i)


async def _round_choice(
    svc: Services, requested: str | None, *, with_nomination_rounds: bool = False
) -> tuple[list[dict[str, Any]], str | None]:
    """The rounds a page may switch between, and the one it shows."""
    known = await rv.rounds(svc)
    if with_nomination_rounds:  # a panel can be set up before the first nomination arrives
        seen = {r["round_id"] for r in known}
        extra = [
            {"round_id": r["round_id"], "published": False, "candidates": 0}
            for r in await nom.rounds(svc)
            if r["round_id"] not in seen
        ]
        known = sorted([*known, *extra], key=lambda r: r["round_id"], reverse=True)
    return known, rv.pick_round(known, requested)


# --- Home panels --------------------------------------------------------------------------------


async def _unpublished_summaries(svc: Services) -> list[dict[str, Any]]:
    return [
        await rv.summary(svc, r["round_id"]) for r in await rv.rounds(svc) if not r["published"]
    ]


@home_panel(OFFICE, "review/_home_office.html", order=21)
async def office_review_home(ctx: PanelContext) -> dict[str, Any]:
    return {"summaries": await _unpublished_summaries(ctx.services)}


@home_panel(PANELIST, "review/_home_panelist.html", order=40)
async def panelist_home(ctx: PanelContext) -> dict[str, Any]:
    return {"sheet": await rv.scoring_sheet(ctx.services, ctx.principal)}


@home_panel(DISCIPLINE, "review/_home_discipline.html", order=41)
async def discipline_home(ctx: PanelContext) -> dict[str, Any]:
    rounds = []
    for s in await _unpublished_summaries(ctx.services):
        items = await rv.candidates(ctx.services, ctx.principal, s["round_id"])
        decided = {c["category"] for c in s["categories"] if c["decided"]}
        rounds.append(
            {
                "round_id": s["round_id"],
                "open": len(_vetoable(items, decided)),
                "vetoed": s["candidates"]["vetoed"],
            }
        )
    return {"rounds": rounds}


@home_panel(LEADER, "review/_home_leader.html", order=42)
async def leader_home(ctx: PanelContext) -> dict[str, Any]:
    return {"summaries": await _unpublished_summaries(ctx.services)}


@home_panel(STAFF, "review/_home_staff.html", order=43)
async def staff_home(ctx: PanelContext) -> dict[str, Any]:
    results = await rv.published_results(ctx.services)
    return {
        "notices": await rv.running_notices(ctx.services),
        "latest": results[0] if results else None,
    }


# --- Office: eligibility audit ------------------------------------------------------------------


async def _audits_page(
    request: Request,
    principal: Principal,
    round_id: str | None,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    known, chosen = await _round_choice(svc, round_id)
    pending = await rv.pending_audits(svc, chosen) if chosen else []
    audited = (
        [c for c in await rv.candidates(svc, principal, chosen) if c["audit"] != "pending"]
        if chosen
        else []
    )
    return render(
        request,
        "review/audits.html",
        {
            "rounds": known,
            "round_id": chosen,
            "pending": pending,
            "audited": audited,
            "names": await _names(request, (c["audited_by"] for c in audited)),
            **_forms(locale_of(request), forms),
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/review/audits")
async def audits_page(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*rv.AUDITORS))],
    round_id: str | None = None,
) -> Response:
    return await _audits_page(request, principal, round_id)


@router.post("/review/audits/{round_id}/{nomination_id}/accept")
async def accept(
    request: Request,
    round_id: str,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*rv.AUDITORS))],
) -> Response:
    state = FormState()
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE,
            "accept",
            rc.AcceptNomination,
            round_id=round_id,
            nomination_id=nomination_id,
        ),
        FIELD_OF_ERROR,
    ):
        return redirect(_back("/review/audits", round_id), "accepted")
    return await _audits_page(
        request, principal, round_id, {f"audit:{nomination_id}": state}, status_code=409
    )


@router.post("/review/audits/{round_id}/{nomination_id}/reject")
async def reject(
    request: Request,
    round_id: str,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*rv.AUDITORS))],
) -> Response:
    form = await request.form()
    state = FormState()
    reason = state.required(
        form,
        "reason",
        ("请填写驳回理由（将告知提名单位）。", "Give the reason (the unit sees it)."),
        2000,
    )
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE,
            "reject",
            rc.RejectNomination,
            round_id=round_id,
            nomination_id=nomination_id,
            reason=reason,
        ),
        FIELD_OF_ERROR,
    ):
        return redirect(_back("/review/audits", round_id), "rejected")
    return await _audits_page(
        request, principal, round_id, {f"audit:{nomination_id}": state}, status_code=422
    )


# --- Office: the panel --------------------------------------------------------------------------


async def _panel_page(
    request: Request,
    principal: Principal,
    round_id: str | None,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    known, chosen = await _round_choice(svc, round_id, with_nomination_rounds=True)
    members = await rv.panel(svc, chosen) if chosen else []
    active_ids = {m["panelist_id"] for m in members if m["active"]}
    accounts = [
        u
        for u in await rv.eligible_panelists(gw_state(request).accounts)
        if str(u.user_id) not in active_ids
    ]
    settings = gw_state(request).settings
    departments = sorted({m["department"] for m in members if m["active"]})
    return render(
        request,
        "review/panel.html",
        {
            "rounds": known,
            "round_id": chosen,
            "members": members,
            "accounts": accounts,
            "departments": departments,
            "min_scores": settings.min_scores,
            **_forms(locale_of(request), forms),
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/review/panel")
async def panel_page(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*rv.AUDITORS))],
    round_id: str | None = None,
) -> Response:
    return await _panel_page(request, principal, round_id)


@router.post("/review/panel/{round_id}/assign")
async def assign_panelist(
    request: Request,
    round_id: str,
    principal: Annotated[Principal, Depends(allow(*rv.AUDITORS))],
) -> Response:
    form = await request.form()
    state = FormState()
    user_text = state.text(form, "user_id", 64)
    employee_no = state.text(form, "employee_no", 64) or None
    try:
        user_id = uuid.UUID(user_text)
    except ValueError:
        state.problem = ("请选择评审专家账户。", "Choose a panelist account.")
        return await _panel_page(request, principal, round_id, {"assign": state}, 422)

    async def send() -> object:
        fields = await rv.panelist_fields(gw_state(request).accounts, user_id, employee_no)
        return await services(request, principal).command(
            rv.SERVICE, "assign_panelist", rc.AssignPanelist, round_id=round_id, **fields
        )

    if await state.send(send, FIELD_OF_ERROR):
        return redirect(_back("/review/panel", round_id), "panelist_assigned")
    return await _panel_page(
        request, principal, round_id, {f"assign:{user_id}": state}, status_code=422
    )


@router.post("/review/panel/{round_id}/{panelist_id}/remove")
async def remove_panelist(
    request: Request,
    round_id: str,
    panelist_id: str,
    principal: Annotated[Principal, Depends(allow(*rv.AUDITORS))],
) -> Response:
    form = await request.form()
    state = FormState()
    reason = state.required(form, "reason", ("请填写撤换理由。", "Give the reason."), 2000)
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE,
            "remove_panelist",
            rc.RemovePanelist,
            round_id=round_id,
            panelist_id=panelist_id,
            reason=reason,
        ),
        FIELD_OF_ERROR,
    ):
        return redirect(_back("/review/panel", round_id), "panelist_removed")
    return await _panel_page(
        request, principal, round_id, {f"remove:{panelist_id}": state}, status_code=422
    )


# --- The round's progress: summary, notice, publishing ------------------------------------------


async def _summary_page(
    request: Request,
    principal: Principal,
    round_id: str | None,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    known, chosen = await _round_choice(svc, round_id)
    summary = await rv.summary(svc, chosen) if chosen else None
    notices = await rv.notices(svc, chosen) if chosen else []
    waiting = [
        c for c in (summary or {}).get("categories", []) if c["decided"] and c["notice"] is None
    ]
    return render(
        request,
        "review/summary.html",
        {
            "rounds": known,
            "round_id": chosen,
            "summary": summary,
            "notices": notices,
            "waiting": waiting,
            **_forms(locale_of(request), forms),
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/review/summary")
async def summary_page(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*rv.REVIEW_READERS))],
    round_id: str | None = None,
) -> Response:
    return await _summary_page(request, principal, round_id)


@router.post("/review/summary/{round_id}/notice")
async def start_notice(
    request: Request,
    round_id: str,
    principal: Annotated[Principal, Depends(allow(*rv.AUDITORS))],
) -> Response:
    state = FormState()
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE, "start_notice", rc.StartNotice, round_id=round_id
        ),
        {},
    ):
        return redirect(_back("/review/summary", round_id), "notice_started")
    return await _summary_page(request, principal, round_id, {"notice": state}, status_code=409)


@router.post("/review/summary/{round_id}/publish")
async def publish(
    request: Request,
    round_id: str,
    principal: Annotated[Principal, Depends(allow(*rv.AUDITORS))],
) -> Response:
    state = FormState()
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE, "publish_result", rc.PublishResult, round_id=round_id
        ),
        {},
    ):
        return redirect(_back("/review/summary", round_id), "published")
    return await _summary_page(request, principal, round_id, {"publish": state}, status_code=409)


# --- Office: objections -------------------------------------------------------------------------


async def _objections_page(
    request: Request,
    principal: Principal,
    round_id: str | None,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    known, chosen = await _round_choice(svc, round_id)
    items = await rv.objections(svc, principal, chosen) if chosen else []
    items.sort(key=lambda o: (o["status"] != "open", o["objection_no"]))
    actors = [o.get("resolved_by") for o in items] + [
        n.get("recorded_by") for o in items for n in o.get("notes", [])
    ]
    return render(
        request,
        "review/objections.html",
        {
            "rounds": known,
            "round_id": chosen,
            "items": items,
            "names": await _names(request, actors),
            **_forms(locale_of(request), forms),
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/review/objections")
async def objections_page(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*rv.AUDITORS))],
    round_id: str | None = None,
) -> Response:
    return await _objections_page(request, principal, round_id)


@router.post("/review/objections/{round_id}/{objection_no}/note")
async def record_note(
    request: Request,
    round_id: str,
    objection_no: int,
    principal: Annotated[Principal, Depends(allow(*rv.AUDITORS))],
) -> Response:
    form = await request.form()
    state = FormState()
    note = state.required(form, "note", ("请填写调查情况。", "Write the note."), 5000)
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE,
            "record_objection_note",
            rc.RecordObjectionNote,
            round_id=round_id,
            objection_no=objection_no,
            note=note,
        ),
        FIELD_OF_ERROR,
    ):
        return redirect(_back("/review/objections", round_id), "note_recorded")
    return await _objections_page(
        request, principal, round_id, {f"note:{objection_no}": state}, status_code=422
    )


@router.post("/review/objections/{round_id}/{objection_no}/resolve")
async def resolve(
    request: Request,
    round_id: str,
    objection_no: int,
    principal: Annotated[Principal, Depends(allow(*rv.AUDITORS))],
) -> Response:
    form = await request.form()
    state = FormState()
    outcome = state.required(
        form, "outcome", ("请选择处理结果。", "Choose dismissed or upheld."), 20
    )
    if outcome and outcome not in ("dismissed", "upheld"):
        state.errors["outcome"] = ("请选择处理结果。", "Choose dismissed or upheld.")
    resolution = state.required(
        form, "resolution", ("请填写处理意见。", "Write the resolution."), 5000
    )
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE,
            "resolve_objection",
            rc.ResolveObjection,
            round_id=round_id,
            objection_no=objection_no,
            outcome=outcome,
            resolution=resolution,
        ),
        FIELD_OF_ERROR,
    ):
        return redirect(_back("/review/objections", round_id), "objection_resolved")
    return await _objections_page(
        request, principal, round_id, {f"resolve:{objection_no}": state}, status_code=422
    )


# --- Panelist: scoring --------------------------------------------------------------------------


@router.get("/review/scoring")
async def scoring_page(
    request: Request, principal: Annotated[Principal, Depends(allow(*rv.SCORERS))]
) -> Response:
    sheet = await rv.scoring_sheet(services(request, principal), principal)
    return render(request, "review/scoring.html", {"sheet": sheet}, principal=principal)


async def _score_form(
    request: Request,
    principal: Principal,
    round_id: str,
    nomination_id: uuid.UUID,
    form: FormState | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    sheet = await rv.scoring_sheet(svc, principal, round_id)
    item = rv.scorable_item(sheet, nomination_id) or rv.own_sheet(sheet, nomination_id)
    if item is None:
        raise rv.not_scorable(nomination_id)
    own = item.get("score")
    if form is None:
        values: dict[str, Any] = {"comment": (own or {}).get("comment") or ""}
        for key in sheet["rubric"]:
            values[f"criterion_{key}"] = (own or {}).get("criteria", {}).get(key, "")
        form = FormState(values=values)
    others = await rv.visible_scores(svc, principal, round_id, nomination_id) if own else None
    return render(
        request,
        "review/score_form.html",
        {
            "round_id": round_id,
            "item": item,
            "rubric": sheet["rubric"],
            "own": own,
            "editable": own is None or item.get("revisable", False),
            "others": others,
            **form.for_page(locale_of(request)),
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/review/scoring/{round_id}/{nomination_id}")
async def score_form(
    request: Request,
    round_id: str,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*rv.SCORERS))],
) -> Response:
    return await _score_form(request, principal, round_id, nomination_id)


@router.post("/review/scoring/{round_id}/{nomination_id}")
async def submit_score(
    request: Request,
    round_id: str,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*rv.SCORERS))],
) -> Response:
    svc = services(request, principal)
    sheet = await rv.scoring_sheet(svc, principal, round_id)
    if rv.scorable_item(sheet, nomination_id) is None:
        raise rv.not_scorable(nomination_id)
    form = await request.form()
    state = FormState()
    criteria: dict[str, Any] = {}
    for key in sheet["rubric"]:
        name = f"criterion_{key}"
        text = state.required(form, name, ("请打分（0–100）。", "Enter a score (0–100)."), 20)
        if not text:
            continue
        value = parse_decimal(text)
        if value is None or not 0 <= value <= 100:
            state.errors[name] = (
                "分数须为 0 至 100 之间的数。",
                "A score is a number from 0 to 100.",
            )
        else:
            criteria[key] = value
    comment = state.text(form, "comment", 2000)

    async def send() -> object:
        await rv.require_scorable(svc, principal, round_id, nomination_id)
        return await svc.command(
            rv.SERVICE,
            "submit_score",
            rc.SubmitScore,
            round_id=round_id,
            nomination_id=nomination_id,
            criteria=criteria,
            comment=comment or None,
        )

    if await state.send(send, FIELD_OF_ERROR):
        return redirect(f"/review/scoring/{round_id}/{nomination_id}", "scored")
    return await _score_form(request, principal, round_id, nomination_id, state, 422)


# --- Discipline inspection: veto ----------------------------------------------------------------


def _vetoable(items: list[dict[str, Any]], decided: set[str]) -> list[dict[str, Any]]:
    """Nominations a veto can still reach: not withdrawn, rejected, vetoed or decided."""
    return [
        c
        for c in items
        if c["status"] != "withdrawn"
        and c["audit"] != "rejected"
        and not c["veto_reason"]
        and c["category"] not in decided
    ]


async def _veto_page(
    request: Request,
    principal: Principal,
    round_id: str | None,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    known, chosen = await _round_choice(svc, round_id)
    items = await rv.candidates(svc, principal, chosen) if chosen else []
    summary = await rv.summary(svc, chosen) if chosen else None
    decided = {c["category"] for c in (summary or {}).get("categories", []) if c["decided"]}
    return render(
        request,
        "review/veto.html",
        {
            "rounds": known,
            "round_id": chosen,
            "open": _vetoable(items, decided),
            "vetoed": [c for c in items if c["veto_reason"]],
            **_forms(locale_of(request), forms),
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/review/veto")
async def veto_page(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*rv.VETOERS))],
    round_id: str | None = None,
) -> Response:
    return await _veto_page(request, principal, round_id)


@router.post("/review/veto/{round_id}/{nomination_id}")
async def veto(
    request: Request,
    round_id: str,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*rv.VETOERS))],
) -> Response:
    form = await request.form()
    state = FormState()
    reason = state.required(form, "reason", ("请填写否决理由。", "Give the reason for the veto."))
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE,
            "veto",
            rc.VetoNomination,
            round_id=round_id,
            nomination_id=nomination_id,
            reason=reason[:2000],
        ),
        FIELD_OF_ERROR,
    ):
        return redirect(_back("/review/veto", round_id), "vetoed")
    return await _veto_page(
        request, principal, round_id, {f"veto:{nomination_id}": state}, status_code=422
    )


# --- The leader: ranking, decisions, replacements, revocations ----------------------------------


async def _ranking_page(
    request: Request,
    principal: Principal,
    round_id: str | None,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    known, chosen = await _round_choice(svc, round_id)
    categories = await rv.ranking(svc, principal, chosen) if chosen else []
    published = any(r["round_id"] == chosen and r["published"] for r in known)
    actors = [(c.get("decision") or {}).get("decided_by") for c in categories]
    return render(
        request,
        "review/ranking.html",
        {
            "rounds": known,
            "round_id": chosen,
            "categories": categories,
            "published": published,
            "can_decide": LEADER in principal.roles and not published,
            "winners_per_category": gw_state(request).settings.winners_per_category,
            "names": await _names(request, actors),
            **_forms(locale_of(request), forms),
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/review/ranking")
async def ranking_page(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*rv.OVERSEERS))],
    round_id: str | None = None,
) -> Response:
    return await _ranking_page(request, principal, round_id)


def _category_of(state: FormState, form_value: str) -> str:
    if form_value not in {c.value for c in Category}:
        state.problem = ("请选择奖项类别。", "Choose a category.")
    return form_value


@router.post("/review/ranking/{round_id}/decide")
async def decide(
    request: Request,
    round_id: str,
    principal: Annotated[Principal, Depends(allow(*rv.DECIDERS))],
) -> Response:
    form = await request.form()
    state = FormState()
    category = _category_of(state, state.text(form, "category", 64))
    winners = [str(w) for w in form.getlist("winners")][:50]
    state.values["winners"] = winners
    reason = state.text(form, "reason", 2000)
    if not winners:
        state.errors["winners"] = ("请至少选择一名当选人。", "Choose at least one winner.")
    chosen = _uuids(state, winners)
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE,
            "decide_winners",
            rc.DecideWinners,
            round_id=round_id,
            category=category,
            winners=chosen,
            reason=reason or None,
        ),
        FIELD_OF_ERROR,
    ):
        return redirect(_back("/review/ranking", round_id), "decided")
    return await _ranking_page(
        request, principal, round_id, {f"decide:{category}": state}, status_code=422
    )


def _uuids(state: FormState, texts: list[str]) -> list[uuid.UUID]:
    """The nominations a form chose; a crafted id is refused above the form."""
    try:
        return [uuid.UUID(t) for t in texts]
    except ValueError:
        if state.ok:
            state.problem = ("所选人选无效。", "The choice is not valid.")
        return []


@router.post("/review/ranking/{round_id}/replace")
async def replace(
    request: Request,
    round_id: str,
    principal: Annotated[Principal, Depends(allow(*rv.DECIDERS))],
) -> Response:
    form = await request.form()
    state = FormState()
    category = _category_of(state, state.text(form, "category", 64))
    chosen = state.required(form, "nomination_id", ("请选择替补人选。", "Choose the replacement."))
    reason = state.text(form, "reason", 2000)
    replacement = _uuids(state, [chosen] if chosen else [])
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE,
            "name_replacement",
            rc.NameReplacement,
            round_id=round_id,
            category=category,
            nomination_id=replacement[0],
            reason=reason or None,
        ),
        FIELD_OF_ERROR,
    ):
        return redirect(_back("/review/ranking", round_id), "replaced")
    return await _ranking_page(
        request, principal, round_id, {f"replace:{category}": state}, status_code=422
    )


@router.post("/review/results/{round_id}/{nomination_id}/revoke")
async def revoke(
    request: Request,
    round_id: str,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*rv.DECIDERS))],
) -> Response:
    form = await request.form()
    state = FormState()
    reason = state.required(form, "reason", ("请填写撤销理由。", "Give the reason."), 2000)
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE,
            "revoke_winner",
            rc.RevokeWinner,
            round_id=round_id,
            nomination_id=nomination_id,
            reason=reason,
        ),
        FIELD_OF_ERROR,
    ):
        return redirect("/review/results", "revoked")
    return await _results_page(
        request, principal, {f"revoke:{nomination_id}": state}, status_code=422
    )


# --- Everyone: the public notice, objections, the results ---------------------------------------


async def _notice_page(
    request: Request,
    principal: Principal,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request, principal)
    running = await rv.running_notices(svc)
    mine: list[dict[str, Any]] = []
    for round_id in sorted({n["round_id"] for n in running}, reverse=True):
        mine += [o for o in await rv.objections(svc, principal, round_id) if o["mine"]]
    return render(
        request,
        "review/notice.html",
        {"notices": running, "mine": mine, **_forms(locale_of(request), forms)},
        principal=principal,
        status_code=status_code,
    )


@router.get("/review/notice")
async def notice_page(
    request: Request, principal: Annotated[Principal, Depends(allow(*rv.EVERYONE))]
) -> Response:
    return await _notice_page(request, principal)


@router.post("/review/notice/{round_id}/objection")
async def raise_objection(
    request: Request,
    round_id: str,
    principal: Annotated[Principal, Depends(allow(*rv.EVERYONE))],
) -> Response:
    form = await request.form()
    state = FormState()
    chosen = state.text(form, "nomination_id", 64)
    text = state.required(
        form, "text", ("请写明异议的事实和理由。", "State the facts and reasons."), 5000
    )
    try:
        nomination_id = uuid.UUID(chosen)
    except ValueError:
        raise Problem(422, "invalid_input", ("所选人选无效。", "No such winner.")) from None
    if await state.send(
        lambda: services(request, principal).command(
            rv.SERVICE,
            "raise_objection",
            rc.RaiseObjection,
            round_id=round_id,
            nomination_id=nomination_id,
            raiser_name=principal.user.display_name,
            text=text,
        ),
        FIELD_OF_ERROR,
    ):
        return redirect("/review/notice", "objection_raised")
    return await _notice_page(
        request, principal, {f"object:{nomination_id}": state}, status_code=422
    )


async def _results_page(
    request: Request,
    principal: Principal,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> Response:
    results = await rv.published_results(services(request, principal))
    return render(
        request,
        "review/results.html",
        {
            "results": results,
            "can_revoke": LEADER in principal.roles,
            **_forms(locale_of(request), forms),
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/review/results")
async def results_page(
    request: Request, principal: Annotated[Principal, Depends(allow(*rv.EVERYONE))]
) -> Response:
    return await _results_page(request, principal)
