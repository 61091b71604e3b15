"""Sign-in, sign-out, the language switch and the user's own account page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.gateway.accounts import AccountError, normalise_username
from services.gateway.auth import (
    SESSION_COOKIE,
    Principal,
    client_ip,
)
from services.gateway.deps import ANY_ROLE, allow, current_principal, page_csrf
from services.gateway.i18n import LANG_COOKIE, LOCALES, locale_of, pick
from services.gateway.metrics import SIGNINS
from services.gateway.signin import oidc_button, session_response
from services.gateway.state import gw_state
from services.gateway.web import flash_messages, redirect, render, safe_next

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

flash_messages(
    {
        "signed_out": ("您已退出登录。", "You have signed out."),
        "password_changed": (
            "密码已修改。其他设备上的登录和全部 API 令牌已失效。",
            "Password changed. Your other sessions and every API token have ended.",
        ),
    }
)

BAD_CREDENTIALS = ("用户名或密码错误。", "Wrong username or password.")


def _locked_message(minutes: int) -> tuple[str, str]:
    return (
        f"登录失败次数过多，请 {minutes} 分钟后再试。",
        f"Too many failed sign-ins; try again in {minutes} minute(s).",
    )


def _password_check_locked(minutes: int) -> tuple[str, str]:
    return (
        f"当前密码输错次数过多，请 {minutes} 分钟后再试。",
        f"The current password was wrong too often; try again in {minutes} minute(s).",
    )


def _minutes_until(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds() + 59) // 60)


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    principal = await current_principal(request)
    if principal is not None:
        return redirect(safe_next(next))
    return render(
        request,
        "login.html",
        {"next": safe_next(next), "error": None, "username": "", **oidc_button(request)},
    )


@router.post("/login")
async def login(request: Request) -> Response:
    state = gw_state(request)
    form = await request.form()
    username = normalise_username(str(form.get("username", "")))[:64]
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    ip = client_ip(request, state.gateway)
    locale = locale_of(request)

    def refuse(message: tuple[str, str], status: int) -> Response:
        return render(
            request,
            "login.html",
            {
                "next": target,
                "error": pick(message, locale),
                "username": username,
                **oidc_button(request),
            },
            status_code=status,
        )

    until = await state.throttle.locked_until(username, ip)
    if until is not None:
        SIGNINS.labels("locked").inc()
        return refuse(_locked_message(_minutes_until(until, state.clock.now())), 429)
    user = await state.accounts.authenticate(username, password) if username else None
    if user is None:
        SIGNINS.labels("failed").inc()
        locked = await state.throttle.failed(username, ip)
        if locked is not None:
            return refuse(_locked_message(_minutes_until(locked, state.clock.now())), 429)
        return refuse(BAD_CREDENTIALS, 401)
    await state.throttle.succeeded(username, ip)
    SIGNINS.labels("ok").inc()
    # A new session id every time (no fixation): whatever id the browser brought is dropped.
    return await session_response(request, user.user_id, target)


@router.post("/logout")
async def logout(request: Request) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        await gw_state(request).sessions.delete(raw)
    response = redirect("/login", "signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
async def switch_language(request: Request, code: str, next: str = "/") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LOCALES:
        response.set_cookie(
            LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/", httponly=True
        )
    return response


@router.get("/account")
async def account(
    request: Request, principal: Annotated[Principal, Depends(allow(ANY_ROLE))]
) -> Response:
    return render(
        request,
        "account.html",
        {"errors": {}, "min_length": gw_state(request).gateway.password_min_length},
        principal=principal,
    )


@router.post("/account/password")
async def change_password(
    request: Request, principal: Annotated[Principal, Depends(allow(ANY_ROLE))]
) -> Response:
    state = gw_state(request)
    form = await request.form()
    current = str(form.get("current_password", ""))
    new = str(form.get("new_password", ""))
    confirm = str(form.get("confirm_password", ""))
    errors: dict[str, tuple[str, str]] = {}
    status = 422
    # Counted per user: a stolen session must not become a way to guess the password.
    counters = state.throttle.password_check_counters(principal.user_id)
    until = await state.throttle.locked(counters)
    if until is not None:
        errors["current_password"] = _password_check_locked(
            _minutes_until(until, state.clock.now())
        )
        status = 429
    elif await state.accounts.authenticate(principal.user.username, current) is None:
        errors["current_password"] = ("当前密码不正确。", "The current password is wrong.")
        until = await state.throttle.count_failure(counters)
        if until is not None:
            errors["current_password"] = _password_check_locked(
                _minutes_until(until, state.clock.now())
            )
            status = 429
    else:
        await state.throttle.forgive(counters)
    if new != confirm:
        errors["confirm_password"] = ("两次输入的新密码不一致。", "The new passwords differ.")
    if not errors:
        try:
            await state.accounts.set_password(
                principal.user.user_id,
                new,
                actor=principal.user_id,
                keep_session=principal.session_id,
            )
        except AccountError as exc:
            errors.update(exc.errors)
    if errors:
        locale = locale_of(request)
        return render(
            request,
            "account.html",
            {
                "errors": {k: pick(v, locale) for k, v in errors.items()},
                "min_length": state.gateway.password_min_length,
            },
            principal=principal,
            status_code=status,
        )
    return redirect("/account", "password_changed")
