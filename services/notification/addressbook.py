"""The address book: who each user is to the rules, their e-mail address and preferences.

Kept in table `contacts` (not events: an address is personal data that must be erasable).
Who a user is (roles, the unit a nominator acts for, their employee number) comes from their
signed identity whenever they save their settings or read their inbox, never from the body.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

import asyncpg

from services.notification.domain import Channel, Contact, Preferences, QuietHours
from shared.contracts.notification_commands import InboxRequest

_COLUMNS = "user_id, roles, unit_code, employee_no, email, channels, quiet_start, quiet_end"


def _contact(row: asyncpg.Record) -> Contact:
    quiet = (
        QuietHours(row["quiet_start"], row["quiet_end"])
        if row["quiet_start"] is not None and row["quiet_end"] is not None
        else None
    )
    channels: frozenset[Channel] = frozenset(
        c for c in row["channels"] if c in ("inbox", "email", "wecom", "dingtalk")
    )
    return Contact(
        user_id=row["user_id"],
        roles=frozenset(row["roles"]),
        unit_code=row["unit_code"],
        employee_no=row["employee_no"],
        email=row["email"],
        preferences=Preferences(channels | {"inbox"}, quiet),
    )


async def contacts(conn: asyncpg.Pool | asyncpg.Connection) -> list[Contact]:
    return [_contact(r) for r in await conn.fetch(f"SELECT {_COLUMNS} FROM contacts")]


async def contact(conn: asyncpg.Pool | asyncpg.Connection, user_id: str) -> Contact | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM contacts WHERE user_id = $1", user_id)
    return _contact(row) if row is not None else None


def preferences_out(found: Contact | None, default_quiet: QuietHours | None) -> dict[str, Any]:
    """The settings page's values: a user not in the book has the defaults."""
    prefs = found.preferences if found is not None else Preferences(quiet=default_quiet)
    quiet = prefs.quiet
    return {
        "email": found.email if found is not None else None,
        "channels": sorted(prefs.channels),
        "quiet_start": quiet.start.strftime("%H:%M") if quiet is not None else None,
        "quiet_end": quiet.end.strftime("%H:%M") if quiet is not None else None,
        "employee_no": found.employee_no if found is not None else None,
    }


async def save(
    pool: asyncpg.Pool,
    who: InboxRequest,
    email: str | None,
    channels: frozenset[str],
    quiet: tuple[time, time] | None,
    now: datetime,
) -> None:
    await pool.execute(
        "INSERT INTO contacts (user_id, roles, unit_code, employee_no, email, channels,"
        " quiet_start, quiet_end, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (user_id) DO UPDATE SET roles = excluded.roles,"
        " unit_code = excluded.unit_code, employee_no = excluded.employee_no,"
        " email = excluded.email, channels = excluded.channels,"
        " quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,"
        " updated_at = excluded.updated_at",
        who.actor,
        sorted(who.roles),
        who.actor_unit_code,
        who.actor_employee_no,
        email,
        sorted(channels | {"inbox"}),
        quiet[0] if quiet else None,
        quiet[1] if quiet else None,
        now,
    )


async def refresh(pool: asyncpg.Pool, who: InboxRequest, now: datetime) -> None:
    """Keep who a user in the book is up to date with their latest signed identity."""
    await pool.execute(
        "UPDATE contacts SET roles = $2, unit_code = $3, employee_no = $4, updated_at = $5"
        " WHERE user_id = $1 AND (roles, unit_code, employee_no)"
        "   IS DISTINCT FROM ($2::text[], $3::text, $4::text)",
        who.actor,
        sorted(who.roles),
        who.actor_unit_code,
        who.actor_employee_no,
        now,
    )
