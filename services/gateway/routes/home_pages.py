"""The home page: for each of the user's roles, the panels of what needs their action now."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.gateway.auth import Principal
from services.gateway.deps import ANY_ROLE, allow, page_csrf
from services.gateway.home import HomePanel, PanelContext, panels_for
from services.gateway.i18n import locale_of, pick
from services.gateway.problems import Problem
from services.gateway.state import services
from services.gateway.web import render
from shared.logging import get_logger
from shared.rpc import RemoteError

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])
log = get_logger(__name__)


@router.get("/")
async def home(
    request: Request, principal: Annotated[Principal, Depends(allow(ANY_ROLE))]
) -> Response:
    locale = locale_of(request)
    ctx = PanelContext(request, principal, services(request, principal), locale)

    async def load(panel: HomePanel) -> dict[str, Any]:
        try:
            data = await panel.load(ctx)
            return {"template": panel.template, "role": panel.role, "data": data, "error": None}
        except (RemoteError, Problem) as exc:
            problem = Problem.from_remote(exc) if isinstance(exc, RemoteError) else exc
            return {
                "template": panel.template,
                "role": panel.role,
                "data": {},
                "error": pick(problem.message, locale),
            }

    panels = await asyncio.gather(*(load(p) for p in panels_for(principal)))
    return render(request, "home.html", {"panels": panels}, principal=principal)
