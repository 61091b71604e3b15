"""/api/v1/audit: verify the logs, read each store's head, browse the event logs (read-only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.gateway import access_log, audit
from services.gateway.auth import Principal
from services.gateway.deps import allow, api_csrf
from services.gateway.state import gw_state
from shared.settings import SERVICES

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], dependencies=[Depends(api_csrf)])

Auditor = Annotated[Principal, Depends(allow(*audit.AUDIT_READERS))]
SERVICE_PATTERN = "^(nomination|review|rewards|publicity)$"


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class VerifyOut(Out):
    ok: bool
    stream_messages: int
    unknown_in_stream: list[str]
    services: list[dict[str, Any]]
    access_log: dict[str, Any] | None = None  # the access record's chain: ok, records, first_break


class HeadOut(Out):
    service: str
    reachable: bool


class EventOut(Out):
    service: str
    position: int
    stream_id: str
    version: int
    event_id: str
    type: str
    data: Any
    metadata: dict[str, Any]
    recorded_at: str
    prev_hash: str
    hash: str


class OpenedEventOut(EventOut):
    erased: list[str]  # the data subjects (pseudonyms) whose values read 已删除


class LoggedEventOut(Out):
    service: str
    position: int
    recorded_at: str
    stream_id: str
    version: int
    event_id: str
    type: str
    actor: str
    correlation_id: str | None
    data: Any


class EventPageOut(Out):
    services: list[str]
    items: list[LoggedEventOut]
    next_since: str | None
    types: list[str]


@router.post("/verify", response_model=VerifyOut)
async def verify(request: Request, principal: Auditor) -> Any:
    """Every store's hash chain, and every relayed event in FLOWERS exactly once (read-only)."""
    state = gw_state(request)
    return await audit.verify(state.settings, state.nc.jetstream())


@router.get("/heads", response_model=list[HeadOut])
async def heads(request: Request, principal: Auditor) -> Any:
    """Each store's log head: position, hash and when its last event was recorded."""
    return await audit.heads(gw_state(request).settings)


@router.get("/events", response_model=EventPageOut)
async def events(
    request: Request,
    principal: Auditor,
    service: Annotated[
        str | None, Query(pattern=SERVICE_PATTERN, description="One store; default: all")
    ] = None,
    type: Annotated[str | None, Query(max_length=100)] = None,
    stream: Annotated[
        str | None, Query(max_length=200, description="A stream id, or a prefix ending in *")
    ] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    correlation_id: Annotated[
        str | None, Query(max_length=100, description="Followed across stores with its effects")
    ] = None,
    text: Annotated[
        str | None, Query(max_length=200, description="Anywhere in the event's data")
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="Inclusive")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = audit.PAGE_SIZE,
) -> Any:
    """The event logs, oldest first (one store or all, by time); continue with
    `since=<next_since>`. The same search as `flowers audit events`; who raised an objection
    (ObjectionRaised's `raised_by`, `raiser_name` and actor) is shown to the office only."""
    page = await audit.browse(
        gw_state(request).settings,
        audit.EventQuery(
            services=(service,) if service else SERVICES,
            type=type,
            stream=stream,
            actor=actor,
            correlation_id=correlation_id,
            text=text,
            since=since,
            until=until,
            limit=limit,
        ),
        principal,
    )
    await access_log.record_events(
        request, principal, "audit_events", page["items"], query=str(request.url.query) or None
    )
    return page


@router.get("/events/{service}/{position}", response_model=EventOut)
async def event(request: Request, service: str, position: int, principal: Auditor) -> Any:
    """One event with its data, metadata and hash-chain values."""
    item = await audit.event(gw_state(request).settings, service, position, principal)
    await access_log.record_events(request, principal, "audit_event", [item])
    return item


@router.post("/events/{service}/{position}/open", response_model=OpenedEventOut)
async def open_event(request: Request, service: str, position: int, principal: Auditor) -> Any:
    """One event with its sealed personal values opened (the page's 「查看」): the opening is
    recorded in the access record first (who, the event, its subjects by pseudonym, when)."""
    opened = await audit.opened_event(gw_state(request).settings, service, position, principal)
    await access_log.record_opening(request, principal, opened.item, opened.stored, opened.erased)
    return {**opened.item, "erased": [str(s) for s in opened.erased]}
