"""The public notice (公示) for everyone, signed in or not: a list, a round's notice page, its
printable A4 PDF, and the same content as JSON.

No route here needs a session; each is limited per client address (`public_rate_limit`). What
they show is the allow-listed public view of services.gateway.notice (no employee number, no
score). Raising an objection stays on /review/notice, under one's real name (sign-in).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from services.gateway import notice as nt
from services.gateway.deps import current_principal, page_csrf
from services.gateway.downloads import download
from services.gateway.notice_pdf import anchor_text, render_notice_pdf
from services.gateway.problems import Problem
from services.gateway.state import Services, gw_state, services
from services.gateway.web import render
from shared.rounds import InvalidRoundId, RoundPeriod

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(page_csrf), Depends(nt.public_rate_limit)]
)
api = APIRouter(
    prefix="/api/v1/public", tags=["public"], dependencies=[Depends(nt.public_rate_limit)]
)


NO_NOTICE = ("该轮次没有公示。", "This round has no public notice.")


def _anonymous_services(request: Request) -> Services:
    """Queries for the public pages go as `anonymous`, whoever asks: the view is the same."""
    return services(request, None)


async def _round_notices(request: Request, round_id: str) -> list[dict[str, Any]]:
    try:
        RoundPeriod.parse(round_id)
    except InvalidRoundId:
        raise Problem(404, "not_found", NO_NOTICE) from None
    contact = nt.Contact.of(gw_state(request).gateway)
    rules = gw_state(request).settings.public_without_consent
    found = await nt.notices_of_round(_anonymous_services(request), round_id, contact, rules)
    if not found:
        raise Problem(404, "not_found", NO_NOTICE)
    return found


@router.get("/gongshi")
async def notice_board(request: Request) -> Response:
    principal = await current_principal(request)
    rounds = await nt.rounds_with_notices(_anonymous_services(request))
    return render(request, "notice/board.html", {"rounds": rounds}, principal=principal)


@router.get("/gongshi/{round_id}")
async def notice_page(request: Request, round_id: str) -> Response:
    principal = await current_principal(request)
    found = await _round_notices(request, round_id)
    return render(
        request,
        "notice/round.html",
        {
            "round_id": round_id,
            "round_title": found[0]["round_title"],
            "notices": found,
            "last": found[-1],
            "objection_path": nt.OBJECTION_PATH,
        },
        principal=principal,
    )


@router.get("/gongshi/{round_id}/print.pdf")
async def notice_pdf(request: Request, round_id: str) -> Response:
    found = await _round_notices(request, round_id)
    state = gw_state(request)
    position, head = await nt.review_log_head(state.settings)
    pdf = render_notice_pdf(
        found,
        objection_url=nt.objection_url(request, state.gateway),
        anchor=anchor_text(position, head),
        printed_at=state.clock.now(),
        font_file=state.gateway.notice_font_file,
    )
    return download(pdf, f"公示-{round_id}.pdf", "application/pdf")


@api.get("/notices/{round_id}", summary="A round's public notice (no sign-in)")
async def notice_json(request: Request, round_id: str) -> JSONResponse:
    """The notice board's content: names, units, positions, flowers, deeds summaries, the
    period, how to object and the 落款. No employee numbers or scores."""
    found = await _round_notices(request, round_id)
    return JSONResponse({"round_id": round_id, "notices": found})
