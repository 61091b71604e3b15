"""/api/v1/inbox: the signed-in user's notifications, the unread count, marking read;
/api/v1/notification-settings: the user's e-mail address, channels and quiet hours."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

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


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(
        default=None, max_length=254, description="The address for e-mail notifications."
    )
    channels: list[Annotated[str, Field(max_length=16)]] = Field(
        default=["inbox"], max_length=4, description='Besides "inbox" (always): "email".'
    )
    quiet_start: str | None = Field(
        default=None,
        max_length=5,
        description="Quiet hours start, Beijing time HH:MM (both empty: none).",
    )
    quiet_end: str | None = Field(default=None, max_length=5, description="Quiet hours end, HH:MM.")


class PreferencesOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    email: str | None
    channels: list[str]
    quiet_start: str | None
    quiet_end: str | None


@router.get("/notification-settings", response_model=PreferencesOut)
async def get_settings(request: Request, principal: Anyone) -> Any:
    """The user's notification settings (and whether the site sends e-mail at all)."""
    return await notif.preferences(services(request, principal))


@router.put("/notification-settings", response_model=PreferencesOut)
async def put_settings(request: Request, principal: Anyone, body: PreferencesIn) -> Any:
    """Set the user's e-mail address, channels and quiet hours; 422 with the reason in
    Chinese when a value is refused."""
    return await notif.save_preferences(
        services(request, principal), body.email, body.channels, body.quiet_start, body.quiet_end
    )
