"""/api/v1/inbox: the signed-in user's notifications, the unread count, marking read."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict

from services.gateway import notification as notif
from services.gateway.auth import Principal
from services.gateway.deps import ANY_ROLE, allow, api_csrf
from services.gateway.state import services

router = APIRouter(prefix="/api/v1", tags=["notification"], dependencies=[Depends(api_csrf)])

Anyone = Annotated[Principal, Depends(allow(ANY_ROLE))]


class NotificationOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    notification_id: uuid.UUID
    round_id: str
    rule: str
    title: str
    body: str
    link: str
    issued_at: str
    read: bool


class InboxOut(BaseModel):
    unread: int
    items: list[NotificationOut]


class UnreadOut(BaseModel):
    unread: int


class ReadOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    notification_id: uuid.UUID
    events: list[str]


@router.get("/inbox", response_model=InboxOut)
async def get_inbox(
    request: Request, principal: Anyone, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> Any:
    """The signed-in user's notifications, newest first, and how many are unread."""
    return await notif.inbox(services(request, principal), limit)


@router.get("/inbox/unread", response_model=UnreadOut)
async def get_unread(request: Request, principal: Anyone) -> Any:
    """The bell's count: how many of the user's notifications are unread."""
    result = await notif.inbox(services(request, principal), 1)
    return {"unread": result["unread"]}


@router.post("/inbox/{notification_id}/read", response_model=ReadOut)
async def read(request: Request, notification_id: uuid.UUID, principal: Anyone) -> Any:
    """Mark one of the user's notifications read (for this user only)."""
    return await notif.mark_read(services(request, principal), notification_id)
