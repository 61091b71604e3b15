"""The gateway's side of the notification service: the signed-in user's inbox (the bell's
unread count, the list), marking a notification read, and the user's notification settings
(e-mail address, channels, quiet hours: the service's address book).

Who a notification reaches follows from the signed identity the service verifies (its user
id, roles and the unit a nominator acts for: shared.contracts.notification_commands); the
gateway adds nothing. Links are the gateway's own paths.
"""

from __future__ import annotations

import uuid
from typing import Any

from services.gateway.commands import command
from services.gateway.state import Services
from shared.contracts.notification_commands import GetPreferences, MarkRead, SavePreferences

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
            "actor_employee_no": identity.employee_no,
            "limit": limit,
        },
    )
    return result


async def mark_read(svc: Services, notification_id: uuid.UUID) -> dict[str, Any]:
    result: dict[str, Any] = await svc.command(
        SERVICE, "mark_read", MarkRead, notification_id=notification_id
    )
    return result


async def preferences(svc: Services) -> dict[str, Any]:
    """`{"email", "channels", "quiet_start", "quiet_end", "email_available"}`."""
    if svc.principal is None:
        raise RuntimeError("settings need a signed-in user")
    result: dict[str, Any] = await svc.query(
        SERVICE, "preferences", command(GetPreferences, svc.principal)
    )
    return result


async def save_preferences(
    svc: Services,
    email: str | None,
    channels: list[str],
    quiet_start: str | None,
    quiet_end: str | None,
) -> dict[str, Any]:
    result: dict[str, Any] = await svc.command(
        SERVICE,
        "save_preferences",
        SavePreferences,
        email=email,
        channels=channels,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
    )
    return result


def safe_link(link: str) -> str:
    """A notification's link as the page shows it: only the site's own paths."""
    return link if link.startswith("/") and not link.startswith("//") else "/inbox"
