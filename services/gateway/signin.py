"""The one way a sign-in ends: a new session, its cookie, and a redirect (password or OIDC)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse

from services.gateway.auth import PRE_COOKIE, SESSION_COOKIE, client_ip, is_https
from services.gateway.state import gw_state


async def session_response(request: Request, user_id: uuid.UUID, target: str) -> RedirectResponse:
    """A new session for `user_id` (never the id the browser brought: no fixation)."""
    state = gw_state(request)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await state.sessions.delete(old)
    raw = await state.sessions.create(
        user_id, client_ip(request, state.gateway), request.headers.get("user-agent", "")
    )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        httponly=True,
        samesite="lax",
        secure=is_https(request, state.gateway),
        path="/",
    )
    response.delete_cookie(PRE_COOKIE, path="/")
    return response


def oidc_button(request: Request) -> dict[str, Any]:
    """The sign-in page's OpenID Connect button: its label, or None when OIDC is off."""
    gateway = gw_state(request).gateway
    return {"oidc_label": gateway.oidc_label if gateway.oidc_issuer else None}
