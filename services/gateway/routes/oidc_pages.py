"""OpenID Connect sign-in: /login/oidc sends the browser to the provider, the provider sends it
back to /login/oidc/callback (services/gateway/oidc.py does the protocol). 404 while OIDC is
off; rate-limited per address like the other pages open without a session."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.gateway.auth import is_https
from services.gateway.i18n import locale_of, pick
from services.gateway.metrics import SIGNINS
from services.gateway.notice import base_url, public_rate_limit
from services.gateway.oidc import (
    CALLBACK_PATH,
    FAILED,
    STATE_COOKIE,
    OidcClient,
    OidcError,
    account_for,
)
from services.gateway.problems import NOT_FOUND, Problem
from services.gateway.signin import oidc_button, session_response
from services.gateway.state import gw_state
from services.gateway.web import render, safe_next
from shared.logging import get_logger

router = APIRouter(include_in_schema=False, dependencies=[Depends(public_rate_limit)])
log = get_logger(__name__)


def _client(request: Request) -> OidcClient:
    client: OidcClient | None = getattr(request.app.state, "oidc", None)
    if client is None:
        state = gw_state(request)
        client = request.app.state.oidc = OidcClient(state.gateway, state.pool, state.clock)
    if not client.enabled:
        raise Problem(404, "not_found", NOT_FOUND)
    return client


def _redirect_uri(request: Request) -> str:
    return base_url(request, gw_state(request).gateway) + CALLBACK_PATH


def _refused(request: Request, exc: OidcError, status: int = 401) -> Response:
    SIGNINS.labels("failed").inc()
    log.warning("oidc_signin_failed", reason=str(exc))
    response = render(
        request,
        "login.html",
        {
            "next": "/",
            "error": pick(exc.message, locale_of(request)),
            "username": "",
            **oidc_button(request),
        },
        status_code=status,
    )
    response.delete_cookie(STATE_COOKIE, path="/login/oidc")
    return response


@router.get("/login/oidc")
async def oidc_begin(request: Request, next: str = "/") -> Response:
    client = _client(request)
    try:
        flow = await client.begin(_redirect_uri(request), safe_next(next))
    except OidcError as exc:
        return _refused(request, exc, 503)
    response = RedirectResponse(flow.authorization_url, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        flow.state,
        max_age=600,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back to us
        secure=is_https(request, gw_state(request).gateway),
        path="/login/oidc",
    )
    return response


@router.get(CALLBACK_PATH)
async def oidc_callback(
    request: Request, code: str = "", state: str = "", error: str = ""
) -> Response:
    client = _client(request)
    if error or not code:
        return _refused(request, OidcError(FAILED, f"the provider answered {error or 'no code'}"))
    try:
        employee_no, target = await client.finish(
            _redirect_uri(request), code, state, request.cookies.get(STATE_COOKIE)
        )
        user = await account_for(gw_state(request).pool, employee_no)
    except OidcError as exc:
        return _refused(request, exc)
    SIGNINS.labels("ok").inc()
    log.info("oidc_signin", user_id=str(user.user_id))
    response = await session_response(request, user.user_id, target)
    response.delete_cookie(STATE_COOKIE, path="/login/oidc")
    return response
