"""The office's review pages before the scoring: the eligibility audit and the panel."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.gateway import review as rv
from services.gateway.deps import page_csrf
from services.gateway.routes import review_common as common
from services.gateway.routes.forms import FormState, form_action, one_field
from services.gateway.state import gw_state, services
from services.gateway.web import flash_messages, nav_link
from shared.contracts import review_commands as rc

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link("/review/audits", ("资格审核", "Audit"), rv.AUDITORS, order=31)
nav_link("/review/panel", ("评审组", "Panel"), rv.AUDITORS, order=32)
flash_messages(
    {
        "accepted": ("已通过资格审核。", "The nomination has been accepted."),
        "rejected": ("已驳回，理由将告知提名单位。", "Rejected; the unit will see the reason."),
        "panelist_assigned": ("已加入评审组。", "The panelist has joined the panel."),
        "panelist_removed": ("已撤换该评委。", "The panelist has been taken off the panel."),
        "panelist_reminded": ("已提醒该评委评分（已记录）。", "The reminder has been recorded."),
    }
)

# The commands this page's forms send: name and contract, the form's key on its page (from
# the command's fields), the flash once done.
ACCEPT = common.Action("accept", rc.AcceptNomination, "audit:{nomination_id}", "accepted", 409)
REJECT = common.Action("reject", rc.RejectNomination, "audit:{nomination_id}", "rejected")
REMOVE = common.Action(
    "remove_panelist", rc.RemovePanelist, "remove:{panelist_id}", "panelist_removed"
)

REMIND = common.Action(
    "remind_panelist", rc.RemindPanelist, "remind:{panelist_id}", "panelist_reminded"
)


# --- Eligibility audit ----------------------------------------------------------------------


async def _audits(at: common.Shown) -> dict[str, Any]:
    pending = await rv.pending_audits(at.svc, at.round_id) if at.round_id else []
    audited = (
        [
            c
            for c in await rv.candidates(at.svc, at.principal, at.round_id)
            if c["audit"] != "pending"
        ]
        if at.round_id
        else []
    )
    ids = (c["audited_by"] for c in audited)
    return {"pending": pending, "audited": audited, "names": await common.names(at.request, ids)}


AUDITS = common.ReviewPage(router, "/review/audits", "review/audits.html", _audits, rv.AUDITORS)


@router.post("/review/audits/{round_id}/{nomination_id}/accept")
async def accept(
    request: Request, round_id: str, nomination_id: uuid.UUID, principal: common.Auditors
) -> Response:
    ids = {"round_id": round_id, "nomination_id": nomination_id}
    return await AUDITS.send(request, principal, FormState(), ACCEPT, **ids)


@router.post("/review/audits/{round_id}/{nomination_id}/reject")
async def reject(
    request: Request, round_id: str, nomination_id: uuid.UUID, principal: common.Auditors
) -> Response:
    state, reason = await one_field(
        request,
        "reason",
        ("请填写驳回理由（将告知提名单位）。", "Give the reason (the unit sees it)."),
        2000,
    )
    ids = {"round_id": round_id, "nomination_id": nomination_id}
    return await AUDITS.send(request, principal, state, REJECT, **ids, reason=reason)


# --- The panel ------------------------------------------------------------------------------


async def _panel(at: common.Shown) -> dict[str, Any]:
    members = await rv.panel(at.svc, at.round_id) if at.round_id else []
    active_ids = {m["panelist_id"] for m in members if m["active"]}
    accounts = [
        u
        for u in await rv.eligible_panelists(gw_state(at.request).accounts)
        if str(u.user_id) not in active_ids
    ]
    progress: dict[str, dict[str, int]] = {}
    for m in members:
        if m["active"]:
            sheet = await at.svc.query(
                rv.SERVICE,
                "pending_scores",
                {"panelist_id": m["panelist_id"], "round_id": at.round_id},
            )
            scored, waiting = len(sheet["scored"]), len(sheet["pending"])
            progress[m["panelist_id"]] = {
                "scored": scored,
                "waiting": waiting,
                "total": scored + waiting,
            }
    return {
        "members": members,
        "progress": progress,
        "reminders": await common.names(at.request, (m.get("reminded_by") for m in members)),
        "accounts": accounts,
        "departments": sorted({m["department"] for m in members if m["active"]}),
        "min_scores": gw_state(at.request).settings.min_scores,
    }


PANEL = common.ReviewPage(
    router, "/review/panel", "review/panel.html", _panel, rv.AUDITORS, with_nomination_rounds=True
)


@router.post("/review/panel/{round_id}/assign")
async def assign_panelist(request: Request, round_id: str, principal: common.Auditors) -> Response:
    form = await request.form()
    state = FormState()
    user_text = state.text(form, "user_id", 64)
    employee_no = state.text(form, "employee_no", 64) or None
    try:
        user_id = uuid.UUID(user_text)
    except ValueError:
        state.problem = ("请选择评审专家账户。", "Choose a panelist account.")
        return await PANEL.show(request, principal, round_id, {"assign": state}, 422)

    async def send() -> object:
        # The account's department and unit travel with the panelist (never typed in).
        fields = await rv.panelist_fields(gw_state(request).accounts, user_id, employee_no)
        return await services(request, principal).command(
            rv.SERVICE, "assign_panelist", rc.AssignPanelist, round_id=round_id, **fields
        )

    return await form_action(
        state,
        send,
        render=lambda form, status: PANEL.show(
            request, principal, round_id, {f"assign:{user_id}": form}, status
        ),
        success_url=common.back("/review/panel", round_id),
        message="panelist_assigned",
        field_of=common.FIELD_OF_ERROR,
    )


@router.post("/review/panel/{round_id}/{panelist_id}/remove")
async def remove_panelist(
    request: Request, round_id: str, panelist_id: str, principal: common.Auditors
) -> Response:
    state, reason = await one_field(
        request, "reason", ("请填写撤换理由。", "Give the reason."), 2000
    )
    ids = {"round_id": round_id, "panelist_id": panelist_id}
    return await PANEL.send(request, principal, state, REMOVE, **ids, reason=reason)


@router.post("/review/panel/{round_id}/{panelist_id}/remind")
async def remind_panelist(
    request: Request, round_id: str, panelist_id: str, principal: common.Auditors
) -> Response:
    ids = {"round_id": round_id, "panelist_id": panelist_id}
    return await PANEL.send(request, principal, FormState(), REMIND, **ids)
