"""The inbox page (/inbox): the signed-in user's notifications with their links, each marked
read with a button (or all at once). The bell in the top bar links here."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.gateway import notification as notif
from services.gateway.auth import Principal
from services.gateway.deps import ANY_ROLE, allow, page_csrf
from services.gateway.state import services
from services.gateway.web import flash_messages, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

Anyone = Annotated[Principal, Depends(allow(ANY_ROLE))]

flash_messages({"notification_read": ("已标记为已读。", "Marked as read.")})


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
