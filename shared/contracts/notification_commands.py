"""Requests to the notification service: the gateway builds them, the service validates them.

The identity fields (actor, roles, the unit a nominator acts for, department) are set by the
service from the verified assertion; they decide which recipient addresses reach the user.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class InboxRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str
    roles: frozenset[str] = frozenset()
    actor_unit_code: str | None = None
    actor_department: str | None = None
    actor_employee_no: str | None = None


class GetInbox(InboxRequest):
    """The user's notifications, newest first, and how many are unread."""

    limit: int = Field(default=50, ge=1, le=500)


class MarkRead(InboxRequest):
    """Mark one of the user's notifications read (for this user)."""

    notification_id: UUID


def addresses(req: InboxRequest) -> list[str]:
    """The recipient addresses that reach this user: ``user:<id>``, ``everyone``,
    ``role:<role>`` for each role, ``unit:<code>`` for the unit a nominator acts for and
    ``employee:<no>`` for the user's own directory entry (a winner hears of the award)."""
    out = [f"user:{req.actor}", "everyone"]
    out += [f"role:{r}" for r in sorted(req.roles)]
    if req.actor_unit_code:
        out.append(f"unit:{req.actor_unit_code}")
    if req.actor_employee_no:
        out.append(f"employee:{req.actor_employee_no}")
    return out


class GetPreferences(InboxRequest):
    """The user's notification settings (e-mail address, channels, quiet hours)."""


class SavePreferences(InboxRequest):
    """Set the user's e-mail address, channels besides the inbox and quiet hours (Beijing
    HH:MM, both empty: none)."""

    email: str | None = Field(default=None, max_length=254)
    channels: frozenset[str] = frozenset({"inbox"})
    quiet_start: str | None = None
    quiet_end: str | None = None
