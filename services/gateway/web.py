"""Server-rendered pages: the Jinja2 environment (autoescaped), navigation, flash messages.

Pages of a service register what they add to the layout here: `nav_link(...)` for the menu
and `flash_messages({...})` for the one-line confirmations shown after a redirect.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.gateway.auth import PRE_COOKIE, Principal, is_https
from services.gateway.deps import csrf_binding
from services.gateway.display import date_text, datetime_text, nowrap, score_text
from services.gateway.evidence import link_text
from services.gateway.i18n import (
    DEPARTMENT_LABELS,
    EN,
    NOMINATION_STATUS_LABELS,
    ROLE_LABELS,
    ROUND_STATUS_LABELS,
    Text,
    locale_of,
    pick,
)
from services.gateway.outcome import OUTCOME_LABELS
from services.gateway.state import gw_state
from shared.contracts.common import Category
from shared.rounds import InvalidRoundId, RoundPeriod

TEMPLATES = Path(__file__).parent / "templates"

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every value is escaped: a `<script>` typed into a field shows as text
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Chinese values as people read them (`services.gateway.display`); the locale-aware `dt`
# every page calls is in `render`. `zh_datetime`/`zh_date` give the Chinese form anywhere.
env.filters["zh_datetime"] = lambda value: nowrap(datetime_text(value))
env.filters["zh_date"] = lambda value: nowrap(date_text(value))
env.filters["score"] = score_text
env.filters["link_text"] = link_text  # an uploaded evidence file by its name


@dataclass(frozen=True)
class NavLink:
    path: str
    text: Text
    roles: frozenset[str]
    order: int


_NAV: list[NavLink] = []
_FLASH: dict[str, Text] = {}


def nav_link(path: str, text: Text, roles: Iterable[str], order: int = 100) -> None:
    """Add a menu entry shown to users holding any of `roles`."""
    _NAV.append(NavLink(path, text, frozenset(roles), order))
    _NAV.sort(key=lambda link: (link.order, link.path))


def flash_messages(messages: dict[str, Text]) -> None:
    """Register confirmations a redirect may name with `?msg=<key>` (never free text)."""
    _FLASH.update(messages)


def nav_for(principal: Principal | None) -> list[NavLink]:
    if principal is None:
        return []
    return [link for link in _NAV if link.roles & principal.roles]


# The menu's groups, by the tens of a link's order (a link's order says where it belongs).
NAV_GROUPS: dict[int, Text] = {
    2: ("提名", "Nominations"),
    3: ("评审办公室", "The office"),
    4: ("评分与评定", "Scoring and decisions"),
    5: ("工资、宣传与审计", "Payroll, publicity, audit"),
    6: ("公示与表彰", "Notice and honours"),
    8: ("系统管理", "Administration"),
}


def nav_groups(links: list[NavLink]) -> list[tuple[Text, list[NavLink]]]:
    """The user's menu links in their groups, in order (a group without a link left out)."""
    groups: dict[int, list[NavLink]] = {}
    for link in links:
        groups.setdefault(link.order // 10, []).append(link)
    return [(NAV_GROUPS.get(key, ("其他", "More")), groups[key]) for key in sorted(groups)]


def duration(seconds: int | float, locale: str) -> str:
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if locale == EN:
        parts = [f"{days} d"] if days else []
        return " ".join([*parts, f"{hours} h", f"{minutes} min"])
    return (f"{days} 天 " if days else "") + f"{hours} 小时 {minutes} 分"


def round_label(round_id: str, locale: str) -> str:
    try:
        period = RoundPeriod.parse(round_id)
    except InvalidRoundId:
        return round_id
    return period.label_en if locale == EN else period.label_zh


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: never `//host` or a scheme (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def redirect(path: str, msg: str | None = None) -> RedirectResponse:
    if msg is not None:
        path += ("&" if "?" in path else "?") + "msg=" + quote(msg)
    return RedirectResponse(path, status_code=303)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    principal: Principal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = locale_of(request)
    if principal is None:
        principal = getattr(request.state, "principal", None)
    state = gw_state(request)
    new_pre: str | None = None
    binding = csrf_binding(request, principal)
    if binding is None:
        new_pre = binding = secrets.token_urlsafe(24)

    def tr(zh: str, en: str) -> str:
        return en if locale == EN else zh

    def label(table: dict[str, Text], code: str | None) -> str:
        if code is None:
            return ""
        return pick(table[code], locale) if code in table else code

    def category(code: str) -> str:
        try:
            cat = Category(code)
        except ValueError:
            return code
        return cat.label_en if locale == EN else cat.label_zh

    flash_key = request.query_params.get("msg")
    page: dict[str, Any] = {
        "request": request,
        "principal": principal,
        "locale": locale,
        "tr": tr,
        "pick": lambda text: pick(text, locale),
        "csrf_token": state.csrf.token(binding),
        "idempotency_key": _form_key(request),
        "nav": nav_for(principal),
        "nav_groups": nav_groups(nav_for(principal)),
        "path": request.url.path,
        "current_url": str(request.url.path)
        + (f"?{request.url.query}" if request.url.query else ""),
        "flash": pick(_FLASH[flash_key], locale) if flash_key in _FLASH else None,
        "categories": list(Category),
        "category": category,
        "role_label": lambda code: label(ROLE_LABELS, code),
        "dept_label": lambda code: label(DEPARTMENT_LABELS, code),
        "nomination_status": lambda code: label(NOMINATION_STATUS_LABELS, code),
        "nomination_outcome": lambda code: label(OUTCOME_LABELS, code),
        "round_status": lambda code: label(ROUND_STATUS_LABELS, code),
        "round_label": lambda rid: round_label(rid, locale),
        "dt": lambda value: nowrap(datetime_text(value, locale)),
        "day": lambda value: nowrap(date_text(value, locale)),
        "duration": lambda s: duration(s, locale),
        "quote": quote,
    }
    page.update(context or {})
    html = env.get_template(template).render(page)
    response = HTMLResponse(html, status_code=status_code)
    if new_pre is not None:
        response.set_cookie(
            PRE_COOKIE,
            new_pre,
            httponly=True,
            samesite="lax",
            secure=is_https(request, state.gateway),
            path="/",
        )
    response.headers["Cache-Control"] = "no-store"
    return response


def _form_key(request: Request) -> str:
    """The idempotency key of the page's forms. A form shown again after its post keeps the
    key it was posted with (sent again, a command that timed out or was refused gets its
    first answer or is decided again, never carried out twice); once a command of that post
    was carried out, the page's forms get a new key, so the next post is a new command."""
    posted: str | None = getattr(request.state, "idempotency_key", None)
    keys = getattr(request.state, "command_keys", None)
    if posted and not (keys is not None and keys.carried_out):
        return posted
    return str(uuid.uuid4())
