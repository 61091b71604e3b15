"""The panelist's review pages: the scoring sheet and a nomination's score form."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.gateway import review as rv
from services.gateway.accounts import PANELIST
from services.gateway.auth import Principal
from services.gateway.deps import page_csrf
from services.gateway.guidance import SCORE_BANDS
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import locale_of
from services.gateway.routes.forms import FormState, form_action, parse_decimal
from services.gateway.routes.review_common import FIELD_OF_ERROR, Scorers
from services.gateway.state import services
from services.gateway.web import flash_messages, nav_link, render
from shared.contracts import review_commands as rc

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link("/review/scoring", ("评分", "Scoring"), rv.SCORERS, order=40)
flash_messages({"scored": ("评分已提交。", "Your score has been submitted.")})


@home_panel(PANELIST, "review/_home_panelist.html", order=40)
async def panelist_home(ctx: PanelContext) -> dict[str, Any]:
    return {"sheet": await rv.scoring_sheet(ctx.services, ctx.principal)}


@router.get("/review/scoring")
async def scoring_page(request: Request, principal: Scorers) -> Response:
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
    rubric = rubric_of(sheet, item)
    if form is None:
        values: dict[str, Any] = {"comment": (own or {}).get("comment") or ""}
        for key in rubric:
            values[f"criterion_{key}"] = (own or {}).get("criteria", {}).get(key, "")
        form = FormState(values=values)
    others = await rv.visible_scores(svc, principal, round_id, nomination_id) if own else None
    return render(
        request,
        "review/score_form.html",
        {
            "round_id": round_id,
            "item": item,
            "rubric": rubric,
            "bands": SCORE_BANDS,
            "next_item": next_to_score(sheet, nomination_id),
            "left": len(sheet.get("pending", [])),
            "own": own,
            "editable": own is None or item.get("revisable", False),
            "others": others,
            **form.for_page(locale_of(request)),
        },
        principal=principal,
        status_code=status_code,
    )


def rubric_of(sheet: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """The rubric this nomination is scored on (its flower's own, else the shared one)."""
    rubric: dict[str, Any] = item.get("rubric") or sheet["rubric"]
    return rubric


def next_to_score(sheet: dict[str, Any], nomination_id: uuid.UUID) -> dict[str, Any] | None:
    """The nomination to score after this one: the next waiting on the sheet, else the first."""
    pending = [p for p in sheet.get("pending", []) if p["nomination_id"] != str(nomination_id)]
    if not pending:
        return None
    order = [p["nomination_id"] for p in sheet.get("pending", [])]
    here = order.index(str(nomination_id)) if str(nomination_id) in order else -1
    after = [p for p in pending if order.index(p["nomination_id"]) > here]
    return dict((after or pending)[0])


@router.get("/review/scoring/{round_id}/{nomination_id}")
async def score_form(
    request: Request, round_id: str, nomination_id: uuid.UUID, principal: Scorers
) -> Response:
    return await _score_form(request, principal, round_id, nomination_id)


@router.post("/review/scoring/{round_id}/{nomination_id}")
async def submit_score(
    request: Request, round_id: str, nomination_id: uuid.UUID, principal: Scorers
) -> Response:
    svc = services(request, principal)
    sheet = await rv.scoring_sheet(svc, principal, round_id)
    item = rv.scorable_item(sheet, nomination_id)
    if item is None:
        raise rv.not_scorable(nomination_id)
    form = await request.form()
    state = FormState()
    criteria: dict[str, Any] = {}
    for key in rubric_of(sheet, item):
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

    return await form_action(
        state,
        send,
        render=lambda form, status: _score_form(
            request, principal, round_id, nomination_id, form, status
        ),
        success_url=f"/review/scoring/{round_id}/{nomination_id}",
        message="scored",
        field_of=FIELD_OF_ERROR,
    )
