"""FastAPI dependencies: who is asking, may they, and did the form come from us (CSRF)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from services.gateway.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    PRE_COOKIE,
    UNSAFE_METHODS,
    Principal,
    resolve_principal,
)
from services.gateway.problems import CSRF_FAILED, Problem, forbidden, unauthenticated
from services.gateway.state import IDEMPOTENCY_FIELD, gw_state

ANY_ROLE = "*"
"""In a role list: any signed-in user."""


async def current_principal(request: Request) -> Principal | None:
    state = gw_state(request)
    return await resolve_principal(request, state.accounts, state.sessions)


def allow(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the signed-in user if they hold one of `roles` (401 / 403 otherwise).

    Pages and the API use the same check; the exception handler answers a page with a
    redirect to the sign-in page or an error page, and the API with problem+json.
    """
    wanted = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if principal is None:
            raise unauthenticated()
        if ANY_ROLE not in wanted and not principal.roles & wanted:
            raise forbidden(required_roles=sorted(wanted))
        return principal

    dependency.__name__ = f"allow_{'_'.join(sorted(wanted)).replace('*', 'any')}"
    return dependency


def csrf_binding(request: Request, principal: Principal | None) -> str | None:
    if principal is not None and principal.session_id:
        return principal.session_id
    return request.cookies.get(PRE_COOKIE)


async def page_csrf(request: Request) -> None:
    """Every state-changing form must carry the token bound to this browser's session."""
    if request.method not in UNSAFE_METHODS:
        return
    principal = await current_principal(request)
    form = await request.form()
    token = form.get(CSRF_FIELD)
    key = form.get(IDEMPOTENCY_FIELD)
    if isinstance(key, str) and key:
        request.state.idempotency_key = key  # the form's commands carry it (state.services)
    if not gw_state(request).csrf.verify(
        csrf_binding(request, principal), token if isinstance(token, str) else None
    ):
        raise Problem(403, "csrf_failed", CSRF_FAILED)


async def api_csrf(request: Request) -> None:
    """A cookie-authenticated API call that changes state must echo the CSRF header."""
    if request.method not in UNSAFE_METHODS:
        return
    principal = await current_principal(request)
    if principal is None or principal.via != "session":
        return  # bearer tokens are not sent by the browser on its own: no CSRF exposure
    if not gw_state(request).csrf.verify(principal.session_id, request.headers.get(CSRF_HEADER)):
        raise Problem(403, "csrf_failed", CSRF_FAILED)
