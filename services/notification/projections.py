"""Read models: the inbox (`notifications`) and who read what (`notification_reads`), both fed
by the service's own events in the transaction of each append."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg

from shared.contracts.notification import NotificationIssued, NotificationRead, registry
from shared.events import DomainEvent, RecordedEvent
from shared.projection import (
    Items,
    OwnLog,
    Projection,
    Statement,
    replay_own,
    run_statements,
    statement,
)

SCHEMA_SQL = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")

OWN_TABLES = ("notifications", "notification_reads")


async def project(conn: asyncpg.Connection, items: Items) -> None:
    await run_statements(conn, (w for envelope, event in items for w in writes(envelope, event)))


def writes(envelope: RecordedEvent, event: DomainEvent) -> Iterator[Statement]:
    match event:
        case NotificationIssued():
            yield statement(
                "INSERT INTO notifications (notification_id, round_id, rule, recipient, title,"
                " body, link, cause_id, issued_at, position)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (notification_id) DO NOTHING",
                event.notification_id,
                event.round_id,
                event.rule,
                event.recipient,
                event.title,
                event.body,
                event.link,
                event.cause_id,
                event.issued_at,
                envelope.position,
            )
        case NotificationRead():
            yield statement(
                "INSERT INTO notification_reads (notification_id, user_id, read_at)"
                " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                event.notification_id,
                event.user_id,
                event.read_at,
            )
        case _:
            return


OWN = OwnLog(registry, project)


async def rebuild(conn: asyncpg.Connection) -> int:
    """Empty the own read models and replay the whole log into them (caller's transaction)."""
    return await replay_own(conn, OWN, OWN_TABLES)


# Every read model of the service, and how each is fed (the audit rebuilds them from this).
# The facts consumer (`notification-facts`) only appends the service's own events.
PROJECTIONS = [Projection("inbox", OWN_TABLES, own=OWN)]
