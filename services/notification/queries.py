"""The inbox as the signed-in user sees it, and the round of a notification to mark read.

Who a user is to the rules (services.notification.domain's recipient addresses) follows from
the signed identity (shared.contracts.notification_commands.addresses).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.notification import texts
from shared.contracts.notification_commands import GetInbox, MarkRead, addresses
from shared.contracts.subject_access import EmployeeData, Rows, check_office, plain_rows


async def inbox(pool: asyncpg.Pool, q: GetInbox) -> dict[str, Any]:
    to = addresses(q)
    rows = await texts.opened(
        await pool.fetch(
            "SELECT n.notification_id, n.round_id, n.rule, n.recipient, n.title, n.body, n.link,"
            " n.issued_at, r.read_at"
            " FROM notifications n LEFT JOIN notification_reads r"
            "   ON r.notification_id = n.notification_id AND r.user_id = $2"
            " WHERE n.recipient = ANY($1::text[])"
            " ORDER BY n.position DESC LIMIT $3",
            to,
            q.actor,
            q.limit,
        )
    )
    unread = await pool.fetchval(
        "SELECT count(*) FROM notifications n WHERE n.recipient = ANY($1::text[])"
        " AND NOT EXISTS (SELECT 1 FROM notification_reads r"
        "   WHERE r.notification_id = n.notification_id AND r.user_id = $2)",
        to,
        q.actor,
    )
    return {
        "unread": int(unread),
        "items": [
            {
                "notification_id": str(r["notification_id"]),
                "round_id": r["round_id"],
                "rule": r["rule"],
                "recipient": r["recipient"],
                "title": r["title"],
                "body": r["body"],
                "link": r["link"],
                "issued_at": r["issued_at"].isoformat(),
                "read": r["read_at"] is not None,
            }
            for r in rows
        ],
    }


async def round_of(pool: asyncpg.Pool, cmd: MarkRead) -> str | None:
    """The notification's round, if it is addressed to this user."""
    value = await pool.fetchval(
        "SELECT round_id FROM notifications WHERE notification_id = $1"
        " AND recipient = ANY($2::text[])",
        cmd.notification_id,
        addresses(cmd),
    )
    return str(value) if value is not None else None


async def employee_data(pool: asyncpg.Pool, q: EmployeeData) -> dict[str, Rows]:
    """The notifications addressed to one employee (by number or to their accounts)."""
    check_office(q)
    recipients = [f"employee:{q.employee_no}", *(f"user:{u}" for u in q.user_ids)]
    rows = await texts.opened(
        await pool.fetch(
            "SELECT n.notification_id, n.round_id, n.title, n.body, n.issued_at, "
            "(SELECT min(r.read_at) FROM notification_reads r "
            " WHERE r.notification_id = n.notification_id) AS read_at "
            "FROM notifications n WHERE n.recipient = ANY($1::text[]) ORDER BY n.position",
            recipients,
        )
    )
    contacts = await pool.fetch(
        "SELECT user_id, email, channels, to_char(quiet_start, 'HH24:MI') AS quiet_start, "
        "to_char(quiet_end, 'HH24:MI') AS quiet_end, updated_at FROM contacts "
        "WHERE employee_no = $1 OR user_id = ANY($2::text[]) ORDER BY user_id",
        q.employee_no,
        list(q.user_ids),
    )
    deliveries = await pool.fetch(
        "SELECT d.notification_id, d.channel, d.status, d.attempts, d.updated_at "
        "FROM deliveries d JOIN notifications n USING (notification_id) "
        "WHERE n.recipient = ANY($1::text[]) AND d.target = ANY($2::text[]) "
        "ORDER BY d.updated_at",
        recipients,
        [f"user:{u}" for u in q.user_ids],
    )
    return {
        "notifications": plain_rows(rows),
        "notification_settings": plain_rows(contacts),
        "deliveries": plain_rows(deliveries),
    }
