"""Home panels of the roles whose services are still being wired (review, rewards, publicity).

Each panel says what the role will do here; the templates hold TODO markers where the
service's queries will feed them. Replace a panel by registering the same (role, template)
with a loader that queries the service (see services/gateway/home.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.gateway.home import PanelContext, home_panel

router = APIRouter(include_in_schema=False)

PLACEHOLDERS: dict[str, str] = {}


async def _nothing_yet(_: PanelContext) -> dict[str, Any]:
    return {}


for _order, (_role, _template) in enumerate(PLACEHOLDERS.items(), start=40):
    home_panel(_role, _template, order=_order)(_nothing_yet)
