"""The address book: who each user is to the rules, their e-mail address and preferences.

Kept in table `contacts` (not events: an address is personal data that must be erasable).
Who a user is (roles, the unit a nominator acts for, their employee number) comes from their
signed identity whenever they save their settings or read their inbox, never from the body.

A contact with an employee number also keeps that employee's pseudonym (`subject_id`, from the
key store): an erasure or a retention run names only the pseudonym, and `forget` (run in the
service's scrub, shared/scrub.py) deletes the contacts under it, address and all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

import asyncpg

from services.notification.domain import Channel, Contact, Preferences, QuietHours
from shared.contracts.notification_commands import InboxRequest
from shared.personal_data import KEYRING

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
        " quiet_start, quiet_end, updated_at, subject_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (user_id) DO UPDATE SET roles = excluded.roles,"
        " unit_code = excluded.unit_code, employee_no = excluded.employee_no,"
        " email = excluded.email, channels = excluded.channels,"
        " quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,"
        " updated_at = excluded.updated_at, subject_id = excluded.subject_id",
        who.actor,
        sorted(who.roles),
        who.actor_unit_code,
        who.actor_employee_no,
        email,
        sorted(channels | {"inbox"}),
        quiet[0] if quiet else None,
        quiet[1] if quiet else None,
        now,
        await subject_of(who.actor_employee_no),
    )


async def refresh(pool: asyncpg.Pool, who: InboxRequest, now: datetime) -> None:
    """Keep who a user in the book is up to date with their latest signed identity."""
    row = await pool.fetchrow(
        "SELECT roles, unit_code, employee_no, subject_id FROM contacts WHERE user_id = $1",
        who.actor,
    )
    if row is None:
        return  # not in the book: nothing to keep up to date
    unchanged = (sorted(row["roles"]), row["unit_code"], row["employee_no"]) == (
        sorted(who.roles),
        who.actor_unit_code,
        who.actor_employee_no,
    )
    if unchanged and (row["subject_id"] is not None or not who.actor_employee_no):
        return
    await pool.execute(
        "UPDATE contacts SET roles = $2, unit_code = $3, employee_no = $4, updated_at = $5,"
        " subject_id = $6 WHERE user_id = $1",
        who.actor,
        sorted(who.roles),
        who.actor_unit_code,
        who.actor_employee_no,
        now,
        await subject_of(who.actor_employee_no),
    )


async def subject_of(employee_no: str | None) -> uuid.UUID | None:
    """The pseudonym an employee's data is kept under (made on first use, as sealing does)."""
    if not employee_no or KEYRING.source is None:
        return None
    return (await KEYRING.subjects_for([employee_no]))[employee_no].subject_id


async def backfill_subjects(pool: asyncpg.Pool) -> int:
    """Contacts saved before they kept a pseudonym get it (once, at start; each instance may
    run it: the same employee number gives the same pseudonym)."""
    rows = await pool.fetch(
        "SELECT user_id, employee_no FROM contacts"
        " WHERE subject_id IS NULL AND employee_no IS NOT NULL"
    )
    for row in rows:
        await pool.execute(
            "UPDATE contacts SET subject_id = $2 WHERE user_id = $1 AND employee_no = $3"
            " AND subject_id IS NULL",
            row["user_id"],
            await subject_of(row["employee_no"]),
            row["employee_no"],
        )
    return len(rows)


async def forget(conn: asyncpg.Connection, subject_ids: Sequence[uuid.UUID]) -> int:
    """An erased (or expired) person's contacts deleted, address and preferences; their
    e-mails still queued are given up (the row stays, done: counted, never sent), and so is
    every queued delivery of a notification about them (its text reads 已删除 now)."""
    gone = await conn.fetch(
        "DELETE FROM contacts WHERE subject_id = ANY($1::uuid[]) RETURNING user_id",
        list(subject_ids),
    )
    targets = [f"user:{r['user_id']}" for r in gone]
    dropped = await conn.execute(
        "UPDATE delivery_queue q SET done = true WHERE NOT q.done AND ("
        " (q.channel = 'email' AND q.target = ANY($1::text[]))"
        " OR EXISTS (SELECT 1 FROM notifications n, unnest($2::text[]) s"
        "   WHERE n.notification_id = q.notification_id"
        "   AND (strpos(n.title, s) > 0 OR strpos(n.body, s) > 0)))",
        targets,
        [str(s) for s in subject_ids],
    )
    return len(gone) + int(dropped.split()[-1])
