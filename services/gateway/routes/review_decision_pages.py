"""The review's pages after the scoring: the round's progress and publishing, discipline
inspection's veto, the leader's ranking and decisions, the public notice with real-name
objections and the office's handling of them, and the published results for everyone.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.gateway import notice as nt
from services.gateway import review as rv
from services.gateway.accounts import DISCIPLINE, LEADER, OFFICE, ROLES, STAFF
from services.gateway.deps import page_csrf
from services.gateway.home import PanelContext, home_panel
from services.gateway.problems import Problem
from services.gateway.routes import review_common as common
from services.gateway.routes.forms import FormState, one_field
from services.gateway.state import gw_state
from services.gateway.web import flash_messages, nav_link
from shared.contracts import review_commands as rc
from shared.contracts.common import Category

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link("/review/summary", ("评审进度", "Review progress"), rv.REVIEW_READERS, order=33)
nav_link("/review/objections", ("异议处理", "Objections"), rv.AUDITORS, order=34)
nav_link("/review/veto", ("否决", "Veto"), rv.VETOERS, order=41)
nav_link("/review/ranking", ("评审排名", "Ranking"), rv.OVERSEERS, order=42)
nav_link("/review/notice", ("公示", "Public notice"), ROLES, order=60)
nav_link("/review/results", ("评选结果", "Results"), ROLES, order=61)
flash_messages(
    {
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

# The commands this page's forms send: name and contract, the form's key on its page (from
# the command's fields), the flash once done.
# Buttons, no fields: a refusal is shown above the page.
START_NOTICE = common.Action("start_notice", rc.StartNotice, "notice", "notice_started", 409, {})
PUBLISH = common.Action("publish_result", rc.PublishResult, "publish", "published", 409, {})
NOTE = common.Action(
    "record_objection_note", rc.RecordObjectionNote, "note:{objection_no}", "note_recorded"
)
RESOLVE = common.Action(
    "resolve_objection", rc.ResolveObjection, "resolve:{objection_no}", "objection_resolved"
)
VETO_NOMINATION = common.Action("veto", rc.VetoNomination, "veto:{nomination_id}", "vetoed")
DECIDE = common.Action("decide_winners", rc.DecideWinners, "decide:{category}", "decided")
REPLACE = common.Action("name_replacement", rc.NameReplacement, "replace:{category}", "replaced")
OBJECT = common.Action(
    "raise_objection", rc.RaiseObjection, "object:{nomination_id}", "objection_raised"
)
REVOKE = common.Action("revoke_winner", rc.RevokeWinner, "revoke:{nomination_id}", "revoked")


# --- Home panels ----------------------------------------------------------------------------


@home_panel(OFFICE, "review/_home_office.html", order=21)
async def office_review_home(ctx: PanelContext) -> dict[str, Any]:
    return {"summaries": await common.unpublished_summaries(ctx.services)}


@home_panel(DISCIPLINE, "review/_home_discipline.html", order=41)
async def discipline_home(ctx: PanelContext) -> dict[str, Any]:
    rounds = []
    for s in await common.unpublished_summaries(ctx.services):
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
    return {"summaries": await common.unpublished_summaries(ctx.services)}


@home_panel(STAFF, "review/_home_staff.html", order=43)
async def staff_home(ctx: PanelContext) -> dict[str, Any]:
    results = await rv.published_results(ctx.services)
    return {
        "notices": await rv.running_notices(ctx.services),
        "latest": results[0] if results else None,
    }


# --- The round's progress: summary, notice, publishing --------------------------------------


async def _summary(at: common.Shown) -> dict[str, Any]:
    summary = await rv.summary(at.svc, at.round_id) if at.round_id else None
    categories = (summary or {}).get("categories", [])
    return {
        "summary": summary,
        "notices": await rv.notices(at.svc, at.round_id) if at.round_id else [],
        "waiting": [c for c in categories if c["decided"] and c["notice"] is None],
    }


SUMMARY = common.ReviewPage(
    router, "/review/summary", "review/summary.html", _summary, rv.REVIEW_READERS
)


@router.post("/review/summary/{round_id}/notice")
async def start_notice(request: Request, round_id: str, principal: common.Auditors) -> Response:
    return await SUMMARY.send(request, principal, FormState(), START_NOTICE, round_id=round_id)


@router.post("/review/summary/{round_id}/publish")
async def publish(request: Request, round_id: str, principal: common.Auditors) -> Response:
    return await SUMMARY.send(request, principal, FormState(), PUBLISH, round_id=round_id)


# --- The office: objections -----------------------------------------------------------------


async def _objections(at: common.Shown) -> dict[str, Any]:
    items = await rv.objections(at.svc, at.principal, at.round_id) if at.round_id else []
    items.sort(key=lambda o: (o["status"] != "open", o["objection_no"]))
    actors = [o.get("resolved_by") for o in items] + [
        n.get("recorded_by") for o in items for n in o.get("notes", [])
    ]
    return {"items": items, "names": await common.names(at.request, actors)}


OBJECTIONS = common.ReviewPage(
    router, "/review/objections", "review/objections.html", _objections, rv.AUDITORS
)


@router.post("/review/objections/{round_id}/{objection_no}/note")
async def record_note(
    request: Request, round_id: str, objection_no: int, principal: common.Auditors
) -> Response:
    state, note = await one_field(request, "note", ("请填写调查情况。", "Write the note."), 5000)
    ids = {"round_id": round_id, "objection_no": objection_no}
    return await OBJECTIONS.send(request, principal, state, NOTE, **ids, note=note)


@router.post("/review/objections/{round_id}/{objection_no}/resolve")
async def resolve(
    request: Request, round_id: str, objection_no: int, principal: common.Auditors
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
    return await OBJECTIONS.send(
        request,
        principal,
        state,
        RESOLVE,
        round_id=round_id,
        objection_no=objection_no,
        outcome=outcome,
        resolution=resolution,
    )


# --- Discipline inspection: veto ------------------------------------------------------------


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


async def _veto(at: common.Shown) -> dict[str, Any]:
    items = await rv.candidates(at.svc, at.principal, at.round_id) if at.round_id else []
    summary = await rv.summary(at.svc, at.round_id) if at.round_id else None
    decided = {c["category"] for c in (summary or {}).get("categories", []) if c["decided"]}
    return {"open": _vetoable(items, decided), "vetoed": [c for c in items if c["veto_reason"]]}


VETO = common.ReviewPage(router, "/review/veto", "review/veto.html", _veto, rv.VETOERS)


@router.post("/review/veto/{round_id}/{nomination_id}")
async def veto(
    request: Request, round_id: str, nomination_id: uuid.UUID, principal: common.Vetoers
) -> Response:
    state, reason = await one_field(
        request, "reason", ("请填写否决理由。", "Give the reason for the veto.")
    )
    ids = {"round_id": round_id, "nomination_id": nomination_id}
    return await VETO.send(request, principal, state, VETO_NOMINATION, **ids, reason=reason[:2000])


# --- The leader: ranking, decisions, replacements, revocations ------------------------------


async def _ranking(at: common.Shown) -> dict[str, Any]:
    categories = await rv.ranking(at.svc, at.principal, at.round_id) if at.round_id else []
    published = any(r["round_id"] == at.round_id and r["published"] for r in at.rounds)
    actors = [(c.get("decision") or {}).get("decided_by") for c in categories]
    return {
        "categories": categories,
        "published": published,
        "can_decide": LEADER in at.principal.roles and not published,
        "winners_per_category": gw_state(at.request).settings.winners_per_category,
        "names": await common.names(at.request, actors),
    }


RANKING = common.ReviewPage(
    router, "/review/ranking", "review/ranking.html", _ranking, rv.OVERSEERS
)


def _category_of(state: FormState, form_value: str) -> str:
    if form_value not in {c.value for c in Category}:
        state.problem = ("请选择奖项类别。", "Choose a category.")
    return form_value


def _uuids(state: FormState, texts: list[str]) -> list[uuid.UUID]:
    """The nominations a form chose; a crafted id is refused above the form."""
    try:
        return [uuid.UUID(t) for t in texts]
    except ValueError:
        if state.ok:
            state.problem = ("所选人选无效。", "The choice is not valid.")
        return []


@router.post("/review/ranking/{round_id}/decide")
async def decide(request: Request, round_id: str, principal: common.Deciders) -> Response:
    form = await request.form()
    state = FormState()
    category = _category_of(state, state.text(form, "category", 64))
    winners = [str(w) for w in form.getlist("winners")][:50]
    state.values["winners"] = winners
    reason = state.text(form, "reason", 2000)
    if not winners:
        state.errors["winners"] = ("请至少选择一名当选人。", "Choose at least one winner.")
    chosen = _uuids(state, winners)
    return await RANKING.send(
        request,
        principal,
        state,
        DECIDE,
        round_id=round_id,
        category=category,
        winners=chosen,
        reason=reason or None,
    )


@router.post("/review/ranking/{round_id}/replace")
async def replace(request: Request, round_id: str, principal: common.Deciders) -> Response:
    form = await request.form()
    state = FormState()
    category = _category_of(state, state.text(form, "category", 64))
    chosen = state.required(form, "nomination_id", ("请选择替补人选。", "Choose the replacement."))
    reason = state.text(form, "reason", 2000)
    # None only when the form is refused already (nothing chosen, or a crafted id): not sent.
    replacement = next(iter(_uuids(state, [chosen] if chosen else [])), None)
    return await RANKING.send(
        request,
        principal,
        state,
        REPLACE,
        round_id=round_id,
        category=category,
        nomination_id=replacement,
        reason=reason or None,
    )


# --- Everyone: the public notice, objections, the results -----------------------------------


async def _notice(at: common.Shown) -> dict[str, Any]:
    rules = gw_state(at.request).settings.public_without_consent
    running = await nt.staff_notices(at.svc, await rv.running_notices(at.svc), rules)
    mine: list[dict[str, Any]] = []
    for round_id in sorted({n["round_id"] for n in running}, reverse=True):
        mine += [o for o in await rv.objections(at.svc, at.principal, round_id) if o["mine"]]
    return {"notices": running, "mine": mine}


NOTICE = common.ReviewPage(
    router, "/review/notice", "review/notice.html", _notice, rv.EVERYONE, by_round=False
)


@router.post("/review/notice/{round_id}/objection")
async def raise_objection(request: Request, round_id: str, principal: common.Everyone) -> Response:
    state, text = await one_field(
        request, "text", ("请写明异议的事实和理由。", "State the facts and reasons."), 5000
    )
    chosen = state.text(await request.form(), "nomination_id", 64)
    try:
        nomination_id = uuid.UUID(chosen)
    except ValueError:
        raise Problem(422, "invalid_input", ("所选人选无效。", "No such winner.")) from None
    return await NOTICE.send(
        request,
        principal,
        state,
        OBJECT,
        round_id=round_id,
        nomination_id=nomination_id,
        raiser_name=principal.user.display_name,
        text=text,
    )


async def _results(at: common.Shown) -> dict[str, Any]:
    return {
        "results": await rv.published_results(at.svc),
        "can_revoke": LEADER in at.principal.roles,
    }


RESULTS = common.ReviewPage(
    router, "/review/results", "review/results.html", _results, rv.EVERYONE, by_round=False
)


@router.post("/review/results/{round_id}/{nomination_id}/revoke")
async def revoke(
    request: Request, round_id: str, nomination_id: uuid.UUID, principal: common.Deciders
) -> Response:
    state, reason = await one_field(
        request, "reason", ("请填写撤销理由。", "Give the reason."), 2000
    )
    ids = {"round_id": round_id, "nomination_id": nomination_id}
    return await RESULTS.send(request, principal, state, REVOKE, **ids, reason=reason)
