"""The gateway's side of the notification service: the signed-in user's inbox (the bell's
unread count, the list) and marking a notification read.

Who a notification reaches follows from the signed identity the service verifies (its user
id, roles and the unit a nominator acts for: shared.contracts.notification_commands); the
gateway adds nothing. Links are the gateway's own paths.
"""

from __future__ import annotations

import uuid
from typing import Any

from services.gateway.state import Services
from shared.contracts.notification_commands import MarkRead

SERVICE = "notification"


async def inbox(svc: Services, limit: int = 50) -> dict[str, Any]:
    """`{"unread": n, "items": [...]}`, newest first."""
    if svc.principal is None:
        raise RuntimeError("an inbox needs a signed-in user")
    identity = svc.identity()
    result: dict[str, Any] = await svc.query(
        SERVICE,
        "inbox",
        {
            "actor": identity.subject,
            "roles": sorted(identity.roles),
            "actor_unit_code": identity.unit_code,
            "actor_department": identity.department,
            "limit": limit,
        },
    )
    return result


async def mark_read(svc: Services, notification_id: uuid.UUID) -> dict[str, Any]:
    result: dict[str, Any] = await svc.command(
        SERVICE, "mark_read", MarkRead, notification_id=notification_id
    )
    return result


def safe_link(link: str) -> str:
    """A notification's link as the page shows it: only the site's own paths."""
    return link if link.startswith("/") and not link.startswith("//") else "/inbox"
