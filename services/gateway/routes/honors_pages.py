"""For everyone signed in: the honor roll (光荣榜) of a published round and the year's
pacesetter (十大标兵) standings."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.gateway import publicity as pub
from services.gateway import rewards as rw
from services.gateway.accounts import ROLES, STAFF
from services.gateway.auth import Principal
from services.gateway.deps import ANY_ROLE, allow, page_csrf
from services.gateway.downloads import download, labels
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import locale_of
from services.gateway.problems import Problem
from services.gateway.state import Services, gw_state, services
from services.gateway.web import nav_link, render
from shared.contracts.common import Category
from shared.rpc import RemoteError

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link("/honor-roll", ("光荣榜", "Honor roll"), ROLES, order=62)
nav_link("/pacesetters", ("年度标兵", "Pacesetters"), ROLES, order=63)

Anyone = Annotated[Principal, Depends(allow(ANY_ROLE))]


async def honor_roll_or_none(
    svc: Services, principal: Principal, round_id: str | None = None
) -> dict[str, Any] | None:
    """The honor roll, or None when there is none yet (a plain sentence on the page)."""
    try:
        roll = await pub.honor_roll(svc, round_id)
    except RemoteError as exc:
        if exc.error.status == 404:
            return None
        raise
    return pub.public_view(roll, principal)


def by_category(winners: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    order = [c.value for c in Category]
    groups: dict[str, list[dict[str, Any]]] = {}
    for w in winners:
        groups.setdefault(w["category"], []).append(w)
    return sorted(groups.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)


@home_panel(STAFF, "honors/_home_honor_roll.html", order=44)
async def honor_roll_home(ctx: PanelContext) -> dict[str, Any]:
    roll = await honor_roll_or_none(ctx.services, ctx.principal)
    return {"roll": roll, "groups": by_category(roll["winners"]) if roll else []}


@router.get("/honor-roll")
async def honor_roll_page(
    request: Request, principal: Anyone, round_id: str | None = None
) -> Response:
    svc = services(request, principal)
    roll = await honor_roll_or_none(svc, principal, round_id or None)
    if roll is None and round_id:
        raise Problem(404, "not_found", ("该轮次尚无光荣榜。", "No honor roll for this round."))
    try:
        rounds = [r["round_id"] for r in await pub.rounds(svc)]
    except RemoteError:
        rounds = []
    return render(
        request,
        "honors/honor_roll.html",
        {
            "roll": roll,
            "groups": by_category(roll["winners"]) if roll else [],
            "rounds": rounds,
            "can_give_photos": principal.has(*pub.PHOTO_GIVERS),
        },
        principal=principal,
    )


@router.get("/honor-roll/{round_id}/photos/{nomination_id}.jpg")
async def winner_photo(
    request: Request, round_id: str, nomination_id: uuid.UUID, principal: Anyone
) -> Response:
    """A featured winner's photo (as the service resized it); a revoked winner's is gone."""
    file = await pub.winner_photo(services(request, principal), round_id, nomination_id)
    response = download(file.content, file.filename, file.media_type, inline=True)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@router.get("/pacesetters")
async def pacesetters_page(request: Request, principal: Anyone, year: str = "") -> Response:
    svc = services(request, principal)
    this_year = gw_state(request).clock.now().year
    chosen = int(year) if year.isdigit() and 1000 <= int(year) <= 9999 else this_year
    standings = await rw.standings(svc, chosen)
    years = sorted({this_year, this_year - 1, chosen}, reverse=True)
    return render(
        request,
        "honors/pacesetters.html",
        {
            **labels(locale_of(request)),
            "standings": standings,
            "year": chosen,
            "years": years,
        },
        principal=principal,
    )
