"""The home page is made of panels, one or more per role: what needs the user's action now.

A service's pages add their panel with the decorator; the loader's result is the template's
context (a refusal or an unreachable service shows as a sentence in that panel only):

    @home_panel("panelist", "review/_home_panelist.html", order=30)
    async def to_score(ctx: PanelContext) -> dict[str, Any]:
        return {"items": await ctx.services.query("review", "to_score", {...})}
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from services.gateway.auth import Principal
from services.gateway.state import Services

PanelLoader = Callable[["PanelContext"], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class PanelContext:
    request: Request
    principal: Principal
    services: Services
    locale: str


@dataclass(frozen=True)
class HomePanel:
    role: str
    template: str
    load: PanelLoader
    order: int


_PANELS: list[HomePanel] = []


def home_panel(
    role: str, template: str, *, order: int = 100
) -> Callable[[PanelLoader], PanelLoader]:
    def register(load: PanelLoader) -> PanelLoader:
        _PANELS[:] = [p for p in _PANELS if (p.role, p.template) != (role, template)]
        _PANELS.append(HomePanel(role, template, load, order))
        _PANELS.sort(key=lambda p: (p.order, p.role))
        return load

    return register


def panels_for(principal: Principal) -> list[HomePanel]:
    return [p for p in _PANELS if p.role in principal.roles]
