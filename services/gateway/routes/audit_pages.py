"""Auditor pages: run the verification and read its report; browse the event logs."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.gateway import access_log, audit
from services.gateway import rewards as rw
from services.gateway.accounts import AUDITOR
from services.gateway.auth import Principal
from services.gateway.deps import allow, page_csrf
from services.gateway.downloads import labels
from services.gateway.event_words import event_label, summary
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import locale_of
from services.gateway.state import gw_state
from services.gateway.web import nav_link, render
from shared.clock import SHANGHAI
from shared.rpc import RemoteError
from shared.settings import SERVICES

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link("/audit", ("审计", "Audit"), audit.AUDIT_READERS, order=55)

Auditor = Annotated[Principal, Depends(allow(*audit.AUDIT_READERS))]

SERVICE_LABELS = {
    "nomination": ("提名", "Nomination"),
    "review": ("评审", "Review"),
    "rewards": ("奖励", "Rewards"),
    "publicity": ("宣传", "Publicity"),
    "notification": ("通知", "Notifications"),
}


def _words(locale: str) -> dict[str, Any]:
    """The event log in words: a type's name, a one-line summary, the raw JSON."""
    return {
        "event_label": lambda event_type: event_label(event_type, locale),
        "event_summary": lambda event_type, data: summary(event_type, data, locale),
        "raw_json": lambda value: json.dumps(value, ensure_ascii=False, indent=2),
    }


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@home_panel(AUDITOR, "audit/_home_auditor.html", order=52)
async def auditor_home(ctx: PanelContext) -> dict[str, Any]:
    heads = await audit.heads(gw_state(ctx.request).settings)
    try:
        periods = await rw.periods(ctx.services)
    except RemoteError:
        periods = []
    return {
        **labels(ctx.locale),
        "heads": heads,
        "open_periods": [p for p in periods if p["acknowledged"] < p["adjustments"]],
        "service_labels": SERVICE_LABELS,
    }


@router.get("/audit")
async def audit_index(request: Request, principal: Auditor) -> Response:
    heads = await audit.heads(gw_state(request).settings)
    return render(
        request,
        "audit/index.html",
        {"heads": heads, "report": None, "service_labels": SERVICE_LABELS},
        principal=principal,
    )


@router.post("/audit/verify")
async def run_verify(request: Request, principal: Auditor) -> Response:
    state = gw_state(request)
    report = await audit.verify(state.settings, state.nc.jetstream())
    heads = await audit.heads(state.settings)
    return render(
        request,
        "audit/index.html",
        {
            "heads": heads,
            "report": report,
            "ran_at": state.clock.now(),
            "service_labels": SERVICE_LABELS,
            **labels(locale_of(request)),
        },
        principal=principal,
    )


def _instant(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


@router.get("/audit/events")
async def events_page(
    request: Request,
    principal: Auditor,
    service: str = "",
    type: str = "",
    stream: str = "",
    actor: str = "",
    correlation_id: str = "",
    text: str = "",
    since: str = "",
    until: str = "",
    cont: str = "",
) -> Response:
    state = gw_state(request)
    chosen = (service,) if service in SERVICES else SERVICES
    actor_id = actor.strip()
    if actor_id:
        user = await state.accounts.by_username(actor_id)
        if user is not None:
            actor_id = str(user.user_id)
    first_day, last_day = _day(since), _day(until)
    start = datetime.combine(first_day, time.min, SHANGHAI) if first_day else None
    page = await audit.browse(
        state.settings,
        audit.EventQuery(
            services=chosen,
            type=type.strip()[:100] or None,
            stream=stream.strip()[:200] or None,
            actor=actor_id[:100] or None,
            correlation_id=correlation_id.strip()[:100] or None,
            text=text.strip()[:200] or None,
            since=_instant(cont) or start,
            until=datetime.combine(last_day, time.max, SHANGHAI) if last_day else None,
        ),
        principal,
    )
    names = await state.accounts.display_names(i["actor"] for i in page["items"] if i["actor"])
    await access_log.record_events(
        request, principal, "audit_events", page["items"], query=str(request.url.query) or None
    )
    filters = {
        "service": service if service in SERVICES else "",
        "type": type,
        "stream": stream,
        "actor": actor,
        "correlation_id": correlation_id,
        "text": text,
        "since": since,
        "until": until,
    }
    more = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "audit/events.html",
        {
            "page": page,
            "names": names,
            "filters": filters,
            "more_query": urlencode(more),
            "services": SERVICES,
            "service_labels": SERVICE_LABELS,
            **labels(locale_of(request)),
            **_words(locale_of(request)),
        },
        principal=principal,
    )


@router.get("/audit/events/{service}/{position}")
async def event_page(request: Request, service: str, position: int, principal: Auditor) -> Response:
    state = gw_state(request)
    item = await audit.event(state.settings, service, position, principal)
    await access_log.record_events(request, principal, "audit_event", [item])
    return await _event_page(request, principal, item)


@router.post("/audit/events/{service}/{position}/open")
async def open_event(request: Request, service: str, position: int, principal: Auditor) -> Response:
    """「查看」: the event's sealed personal values opened for this auditor, and the opening
    recorded (who, which event, which data subjects by pseudonym, when) before it is shown."""
    state = gw_state(request)
    opened = await audit.opened_event(state.settings, service, position, principal)
    item = opened.item
    await access_log.record_opening(request, principal, item, opened.stored, opened.erased)
    return await _event_page(request, principal, item, opened=opened)


async def _event_page(
    request: Request,
    principal: Principal,
    item: dict[str, Any],
    opened: audit.Opened | None = None,
) -> Response:
    state = gw_state(request)
    names = await state.accounts.display_names([item["actor"]] if item["actor"] else [])
    return render(
        request,
        "audit/event.html",
        {
            "item": item,
            "names": names,
            "opened": opened,
            "data_json": json.dumps(item["data"], ensure_ascii=False, indent=2),
            "metadata_json": json.dumps(item["metadata"], ensure_ascii=False, indent=2),
            "service_labels": SERVICE_LABELS,
            **labels(locale_of(request)),
            **_words(locale_of(request)),
        },
        principal=principal,
    )
