"""The inbox page (/inbox): the signed-in user's notifications with their links, each marked
read with a button. The bell in the top bar links here. 通知设置 (/settings/notifications):
the user's e-mail address, whether to be e-mailed, and quiet hours."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.gateway import notification as notif
from services.gateway.auth import Principal
from services.gateway.deps import ANY_ROLE, allow, page_csrf
from services.gateway.i18n import locale_of
from services.gateway.state import services
from services.gateway.web import flash_messages, redirect, render
from shared.rpc import RemoteError

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

Anyone = Annotated[Principal, Depends(allow(ANY_ROLE))]

flash_messages(
    {
        "notification_read": ("已标记为已读。", "Marked as read."),
        "notification_settings_saved": ("通知设置已保存。", "Notification settings saved."),
    }
)


@router.get("/inbox")
async def inbox_page(request: Request, principal: Anyone) -> Response:
    box = await notif.inbox(services(request, principal), 100)
    for item in box["items"]:
        item["link"] = notif.safe_link(item["link"])
    return render(request, "notification/inbox.html", {"box": box}, principal=principal)


@router.post("/inbox/{notification_id}/read")
async def read(request: Request, notification_id: uuid.UUID, principal: Anyone) -> Response:
    await notif.mark_read(services(request, principal), notification_id)
    return RedirectResponse("/inbox?msg=notification_read", status_code=303)


@router.get("/settings/notifications")
async def settings_page(request: Request, principal: Anyone) -> Response:
    prefs = await notif.preferences(services(request, principal))
    return render(
        request,
        "notification/settings.html",
        {"prefs": prefs, "error": None},
        principal=principal,
    )


@router.post("/settings/notifications")
async def save_settings(request: Request, principal: Anyone) -> Response:
    form = await request.form()
    email = str(form.get("email", "")).strip() or None
    channels = ["inbox", *(["email"] if form.get("by_email") else [])]
    quiet = bool(form.get("quiet"))
    start = str(form.get("quiet_start", "")).strip() if quiet else ""
    end = str(form.get("quiet_end", "")).strip() if quiet else ""
    svc = services(request, principal)
    try:
        await notif.save_preferences(svc, email, channels, start or None, end or None)
    except RemoteError as exc:
        if exc.error.status != 422:
            raise
        prefs = {
            **await notif.preferences(svc),
            "email": email,
            "channels": channels,
            "quiet_start": start or None,
            "quiet_end": end or None,
        }
        message = exc.error.message_en if locale_of(request) == "en" else exc.error.message_zh
        return render(
            request,
            "notification/settings.html",
            {"prefs": prefs, "error": message},
            principal=principal,
            status_code=422,
        )
    return redirect("/settings/notifications", "notification_settings_saved")
