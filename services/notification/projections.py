"""Read models: the inbox (`notifications`), who read what (`notification_reads`) and every
delivery through another channel (`deliveries`), all fed by the service's own events in the
transaction of each append."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg

from services.notification import texts
from shared.contracts import nomination, publicity, review, rewards
from shared.contracts.notification import (
    DeliveryAttempted,
    DeliveryDeadLettered,
    NotificationDelivered,
    NotificationIssued,
    NotificationRead,
    registry,
)
from shared.events import DomainEvent, RecordedEvent
from shared.projection import (
    ConsumedFeed,
    Items,
    OwnLog,
    Projection,
    Statement,
    replay_own,
    run_statements,
    statement,
)

SCHEMA_SQL = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")

OWN_TABLES = ("notifications", "notification_reads", "deliveries")


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
                texts.stored(envelope, "title", event.title),
                texts.stored(envelope, "body", event.body),
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
        case DeliveryAttempted():
            yield statement(
                "INSERT INTO deliveries (delivery_id, notification_id, round_id, channel, target,"
                " status, attempts, last_error, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, 'trying', $6, $7, $8)"
                " ON CONFLICT (delivery_id) DO UPDATE SET attempts = excluded.attempts,"
                " last_error = excluded.last_error, updated_at = excluded.updated_at",
                event.delivery_id,
                event.notification_id,
                event.round_id,
                event.channel,
                event.target,
                event.attempt,
                event.error,
                event.attempted_at,
            )
        case NotificationDelivered():
            yield statement(
                "UPDATE deliveries SET status = 'delivered', updated_at = $2"
                " WHERE delivery_id = $1",
                event.delivery_id,
                event.delivered_at,
            )
        case DeliveryDeadLettered():
            yield statement(
                "UPDATE deliveries SET status = 'dead_lettered', last_error = $2, updated_at = $3"
                " WHERE delivery_id = $1",
                event.delivery_id,
                event.error,
                event.dead_lettered_at,
            )
        case _:
            return


OWN = OwnLog(registry, project)


async def rebuild(conn: asyncpg.Connection) -> int:
    """Empty the own read models and replay the whole log into them (caller's transaction)."""
    return await replay_own(conn, OWN, OWN_TABLES)


async def project_nominating(conn: asyncpg.Connection, items: Items) -> None:
    """The daily rules' read model from nomination's events (the facts consumer's batch)."""
    await run_statements(conn, (w for _, event in items for w in nominating_writes(event)))


def nominating_writes(event: DomainEvent) -> Iterator[Statement]:
    match event:
        case nomination.UnitRegistered() | nomination.UnitRenamed():
            yield statement(
                "INSERT INTO units (unit_code, name) VALUES ($1, $2)"
                " ON CONFLICT (unit_code) DO UPDATE SET name = excluded.name",
                event.unit_code,
                event.name,
            )
        case nomination.RoundOpened():
            yield statement(
                "INSERT INTO rounds (round_id, deadline) VALUES ($1, $2)"
                " ON CONFLICT (round_id) DO NOTHING",
                event.round_id,
                event.deadline,
            )
        case nomination.DeadlineExtended(unit_code=None):
            yield statement(
                "UPDATE rounds SET deadline = $2 WHERE round_id = $1",
                event.round_id,
                event.new_deadline,
            )
        case nomination.NominationSubmitted():
            yield statement(
                "INSERT INTO round_nominations (nomination_id, round_id, unit_code)"
                " VALUES ($1, $2, $3) ON CONFLICT (nomination_id) DO NOTHING",
                event.nomination_id,
                event.round_id,
                event.nominee.unit_code,
            )
        case nomination.NominationWithdrawn():
            yield statement(
                "UPDATE round_nominations SET withdrawn = true WHERE nomination_id = $1",
                event.nomination_id,
            )
        case _:
            return


NOMINATING_EVENTS: tuple[type[DomainEvent], ...] = (
    nomination.UnitRegistered,
    nomination.UnitRenamed,
    nomination.RoundOpened,
    nomination.DeadlineExtended,
    nomination.NominationSubmitted,
    nomination.NominationWithdrawn,
)
# The facts the rules read (services.notification.domain), as published by their services.
FACTS: tuple[type[DomainEvent], ...] = (
    nomination.RoundOpened,
    nomination.DeadlineExtended,
    review.CandidateRecorded,
    review.NominationAccepted,
    review.NominationRejected,
    review.NominationVetoed,
    review.PanelistAssigned,
    review.PanelistReminded,
    review.PanelistRemoved,
    review.ScoreSubmitted,
    review.ObjectionRaised,
    review.ObjectionResolved,
    review.PublicNoticeStarted,
    review.ResultPublished,
    rewards.AwardGranted,
    rewards.PayrollAdjustmentIssued,
    publicity.MaterialsDrafted,
)
FACTS_REGISTRY = (
    nomination.registry.merged(review.registry).merged(rewards.registry).merged(publicity.registry)
)
# Everything the consumer `notification-facts` reads: the facts (appended as the service's
# own events through the reaction path) and the daily rules' feed (projected here).
FACTS_FEED = ConsumedFeed(
    consumer="notification-facts",
    subjects=tuple(dict.fromkeys(e.subject() for e in (*FACTS, *NOMINATING_EVENTS))),
    registry=FACTS_REGISTRY,
    project=project_nominating,
)

# Every read model of the service, and how each is fed (the audit rebuilds them from this).
# The facts consumer (`notification-facts`) appends the service's own events and feeds the
# daily rules' read model.
PROJECTIONS = [
    Projection("inbox", OWN_TABLES, own=OWN),
    Projection("nominating", ("units", "rounds", "round_nominations"), feeds=(FACTS_FEED,)),
]
