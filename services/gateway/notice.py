"""The public notice (公示) as a notice board shows it, to anyone, without signing in.

Only what a board carries leaves here: each provisional winner's name, unit, position and
flower, a summary of the deeds, the notice period in Chinese, how and to whom to object
(the office's phone, e-mail and address: gateway settings) and the issuing body and date
(落款). Never an employee number, a score, a nomination id or who objected: the view is built
field by field from an allow-list, not by removing what is known to be private.

Anonymous visitors are limited per client address (`PublicRateLimit`, counted in the
gateway's database so that every instance shares the count), as the sign-in page is
throttled per address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from fastapi import Request

from services.gateway import review as rv
from services.gateway.auth import client_ip
from services.gateway.config import GatewaySettings
from services.gateway.problems import Problem
from services.gateway.state import Services, gw_state
from shared import database_roles
from shared.clock import Clock, SystemClock, format_zh, format_zh_date
from shared.contracts.common import Category
from shared.contracts.nomination import (
    WITHHELD_NAME_ZH,
    WITHOUT_CONSENT_DEFAULT,
    ConsentUse,
    Disclosure,
    PublicityConsent,
    disclosure,
)
from shared.rounds import InvalidRoundId, RoundPeriod
from shared.settings import Settings

SUMMARY_CHARS = 120
"""A deeds summary is at most this many characters (cut after a full sentence if one fits)."""

OBJECTION_PATH = "/review/notice"
"""Where an objection is raised (under one's real name: it asks to sign in first)."""


def summarise(deeds: str, limit: int = SUMMARY_CHARS) -> str:
    """The deeds cut to `limit` characters, at the last full stop inside it when there is one."""
    text = " ".join(deeds.split())
    if len(text) <= limit:
        return text
    head = text[:limit]
    stop = max(head.rfind(mark) for mark in "。！？；")
    if stop >= limit // 2:
        return head[: stop + 1] + "……"
    return head.rstrip("，、,; ") + "……"


def round_title(round_id: str) -> str:
    try:
        return RoundPeriod.parse(round_id).label_zh
    except InvalidRoundId:
        return round_id


def _category_zh(code: str) -> str:
    try:
        return Category(code).label_zh
    except ValueError:
        return code


@dataclass(frozen=True)
class Contact:
    issuer: str
    phone: str
    email: str
    address: str

    @classmethod
    def of(cls, settings: GatewaySettings) -> Contact:
        return cls(
            settings.notice_issuer,
            settings.notice_office_phone,
            settings.notice_office_email,
            settings.notice_office_address,
        )


def _shown(
    w: dict[str, Any], consents: Mapping[str, Any] | None, rules: Mapping[str, str]
) -> Disclosure:
    """How much of a winner the notice shows: all with their consent to the notice; else what
    the union's rules allow (README "Consent to publicity")."""
    if consents is None:
        return "full"
    given = consents.get(str(w["nomination_id"]))
    consent = None if given is None else PublicityConsent.model_validate(given)
    return disclosure(consent, ConsentUse.NOTICE, rules)


def _winner(w: dict[str, Any], shown: Disclosure, removed: set[str]) -> dict[str, Any]:
    full = shown == "full"
    basic = shown != "none"
    return {
        "category": w["category"],
        "category_zh": _category_zh(w["category"]),
        "name": w["nominee"]["name"] if basic else WITHHELD_NAME_ZH,
        "unit_name": w["nominee"]["unit_name"] if basic else "",
        "position": w["nominee"]["position"] if basic else "",
        "deeds_summary": summarise(w.get("deeds", "")) if full else "",
        "removed": str(w["nomination_id"]) in removed,
        "withheld": not full,
    }


def public_notice(
    notice: dict[str, Any],
    removed: set[str],
    contact: Contact,
    consents: Mapping[str, Any] | None = None,
    rules: Mapping[str, str] = WITHOUT_CONSENT_DEFAULT,
) -> dict[str, Any]:
    """One notice as the board shows it (allow-listed fields only; see the module docstring).
    With `consents` (nomination id -> consent), a winner without consent to the notice shows
    only what `rules` allow; `withheld` counts them, for the note the office reads."""
    order = [c.value for c in Category]
    winners = sorted(
        notice["winners"],
        key=lambda w: order.index(w["category"]) if w["category"] in order else 99,
    )
    return {
        "round_id": notice["round_id"],
        "round_title": round_title(notice["round_id"]),
        "notice_no": notice["notice_no"],
        "replacement": notice["occasion"] == "replacement",
        "status": notice["status"],
        "starts_at": notice["starts_at"],
        "ends_at": notice["ends_at"],
        "period_zh": f"{format_zh(notice['starts_at'])} 至 {format_zh(notice['ends_at'])}",
        "working_days": notice["working_days"],
        "winners": [_winner(w, _shown(w, consents, rules), removed) for w in winners],
        "withheld": sum(1 for w in winners if _shown(w, consents, rules) != "full"),
        "objection": {
            "to": contact.issuer,
            "phone": contact.phone,
            "email": contact.email,
            "address": contact.address,
        },
        "issuer": contact.issuer,
        "issued_on_zh": format_zh_date(notice["starts_at"]),
    }


async def notices_of_round(
    svc: Services,
    round_id: str,
    contact: Contact,
    rules: Mapping[str, str] = WITHOUT_CONSENT_DEFAULT,
) -> list[dict[str, Any]]:
    """A round's notices that have started (running or ended), public fields only, each
    winner as far as their consent to the notice or the union's `rules` allow."""
    known = {r["round_id"]: r for r in await rv.rounds(svc)}
    if round_id not in known:
        return []
    found = [n for n in await rv.notices(svc, round_id) if n["status"] != "scheduled"]
    if not found:
        return []
    current = {
        str(w["nomination_id"])
        for c in (await rv.summary(svc, round_id))["categories"]
        for w in c["winners"]
    }
    announced = {str(w["nomination_id"]) for n in found for w in n["winners"]}
    consents = await svc.query("nomination", "consents", {"round_id": round_id})
    return [public_notice(n, announced - current, contact, consents, rules) for n in found]


async def staff_notices(
    svc: Services, notices: list[dict[str, Any]], rules: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The running notices as the signed-in objection page shows them: a winner whom the
    rules withhold from the notice without consent (`none`) is 某某（未同意公开） there too
    (an objection still names the nomination by its id)."""
    consents: dict[str, Mapping[str, Any]] = {}
    shown: list[dict[str, Any]] = []
    for notice in notices:
        round_id = notice["round_id"]
        if round_id not in consents:
            consents[round_id] = await svc.query("nomination", "consents", {"round_id": round_id})
        winners = []
        for w in notice["winners"]:
            if _shown(w, consents[round_id], rules) == "none":
                hidden = {"name": WITHHELD_NAME_ZH, "unit_name": "", "position": ""}
                w = {**w, "nominee": {**w["nominee"], **hidden}, "deeds": ""}
            winners.append(w)
        shown.append({**notice, "winners": winners})
    return shown


async def rounds_with_notices(svc: Services) -> list[dict[str, Any]]:
    """Every round that has had a public notice, newest first, with whether one runs now."""
    out: list[dict[str, Any]] = []
    for round_ in await rv.rounds(svc):
        found = [n for n in await rv.notices(svc, round_["round_id"]) if n["status"] != "scheduled"]
        if found:
            out.append(
                {
                    "round_id": round_["round_id"],
                    "round_title": round_title(round_["round_id"]),
                    "running": any(n["status"] == "running" for n in found),
                    "published": bool(round_.get("published")),
                }
            )
    return out


def base_url(request: Request, settings: GatewaySettings) -> str:
    """The site's address as people reach it: the setting, else the request's own."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def objection_url(request: Request, settings: GatewaySettings) -> str:
    return base_url(request, settings) + OBJECTION_PATH


async def review_log_head(settings: Settings) -> tuple[int, str]:
    """The review log's head (position, hash) now, read as the auditor (read-only)."""
    conn: asyncpg.Connection = await asyncpg.connect(
        settings.database_url_for("review", login=database_roles.AUDITOR), timeout=5
    )
    try:
        row = await conn.fetchrow("SELECT position, hash FROM event_log_head")
    finally:
        await conn.close()
    if row is None:
        return 0, "0" * 64
    return int(row["position"]), str(row["hash"])


class PublicRateLimit:
    """At most `limit` requests per client address in a 60 s window opened by its first request.

    Counted in the gateway's database (`public_request_counts`), so every gateway instance
    behind a load balancer shares one count per address; one statement per anonymous request.
    """

    WINDOW = timedelta(seconds=60)

    def __init__(self, pool: asyncpg.Pool, limit: int, clock: Clock | None = None) -> None:
        self.pool = pool
        self.limit = limit
        self.clock: Clock = clock or SystemClock()

    async def allow(self, address: str) -> float | None:
        """None when allowed (and counted); else the seconds until the next one is."""
        now = self.clock.now()
        row = await self.pool.fetchrow(
            """
            INSERT INTO public_request_counts (address, window_started_at, hits)
            VALUES ($1, $2, 1)
            ON CONFLICT (address) DO UPDATE SET
                hits = CASE WHEN public_request_counts.window_started_at <= $3
                            THEN 1 ELSE public_request_counts.hits + 1 END,
                window_started_at = CASE WHEN public_request_counts.window_started_at <= $3
                                         THEN $2 ELSE public_request_counts.window_started_at END
            RETURNING hits, window_started_at
            """,
            address,
            now,
            now - self.WINDOW,
        )
        assert row is not None
        if int(row["hits"]) <= self.limit:
            return None
        started: datetime = row["window_started_at"]
        return (started + self.WINDOW - now).total_seconds()

    async def purge_stale(self) -> None:
        """Forget addresses whose window has ended."""
        await self.pool.execute(
            "DELETE FROM public_request_counts WHERE window_started_at <= $1",
            self.clock.now() - self.WINDOW,
        )


async def public_rate_limit(request: Request) -> None:
    """A dependency of every page open to anonymous visitors: 429 past the address's limit."""
    state = gw_state(request)
    limiter: PublicRateLimit | None = getattr(request.app.state, "public_rate_limit", None)
    if limiter is None:
        limiter = request.app.state.public_rate_limit = PublicRateLimit(
            state.pool, state.gateway.public_requests_per_minute
        )
    wait = await limiter.allow(client_ip(request, state.gateway))
    if wait is not None:
        raise Problem(
            429,
            "too_many_requests",
            ("访问过于频繁，请稍后再试。", "Too many requests; please try again shortly."),
            retry_after_s=int(wait) + 1,
        )
