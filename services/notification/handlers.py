"""Use cases: noting the other services' facts and issuing notifications (through the one
reaction path, shared.reaction), marking a notification read.

One stream per round (`notification-<round_id>`) holds the facts noted (`RoundFactNoted`),
the notifications issued and the reads; its state (`Ledger`) folds them. A fact's
`RoundFactNoted` id derives from the fact's event id and each `NotificationIssued` id is
the notification id (uuid5 of cause, recipient and rule): a fact delivered twice — the same
message again, or another copy — notes and issues nothing the second time.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from services.notification import domain, projections
from shared.clock import Clock
from shared.contracts.notification import (
    NotificationIssued,
    NotificationRead,
    RoundFactNoted,
    notification_stream_id,
)
from shared.events import DomainEvent, EventMetadata, RecordedEvent
from shared.projection import Items
from shared.reaction import Emit, Guard, Reaction

SYSTEM = "system:notification"

_FACT_NAMESPACE = uuid.UUID("9a3c5e71-2b4d-5f60-8e1a-3c7b9d0f2a45")

FACTS = projections.FACTS
FACTS_REGISTRY = projections.FACTS_REGISTRY
SUBJECTS = projections.FACTS_FEED.subjects


@dataclass(frozen=True)
class Ledger:
    """One round as the service knows it: the rules' facts, the causes noted, what was issued
    and read."""

    facts: domain.RoundFacts
    noted: frozenset[uuid.UUID] = frozenset()
    issued: frozenset[uuid.UUID] = frozenset()
    reads: frozenset[tuple[uuid.UUID, str]] = frozenset()


def initial_ledger(round_id: str) -> Ledger:
    return Ledger(domain.initial_facts(round_id))


def evolve(ledger: Ledger, event: DomainEvent) -> Ledger:
    match event:
        case RoundFactNoted():
            fact = FACTS_REGISTRY.decode(
                event.fact_type, event.fact_version, event.fact, event.cause_id
            )
            return replace(
                ledger,
                facts=domain.settle(domain.evolve(ledger.facts, fact)),
                noted=ledger.noted | {event.cause_id},
            )
        case NotificationIssued():
            return replace(ledger, issued=ledger.issued | {event.notification_id})
        case NotificationRead():
            return replace(ledger, reads=ledger.reads | {(event.notification_id, event.user_id)})
        case _:
            return ledger


def fact_id(cause_id: uuid.UUID) -> uuid.UUID:
    """The id of the `RoundFactNoted` event that notes the fact `cause_id`."""
    return uuid.uuid5(_FACT_NAMESPACE, str(cause_id))


def on_fact(
    ledger: Ledger, cause: RecordedEvent, fact: DomainEvent, now: datetime
) -> tuple[list[DomainEvent], list[uuid.UUID]]:
    """Pure: the events a consumed fact leads to (nothing when it was noted before), with
    their ids."""
    if cause.event_id in ledger.noted:
        return [], []
    round_id = ledger.facts.round_id
    events: list[DomainEvent] = [
        RoundFactNoted(
            round_id=round_id,
            cause_id=cause.event_id,
            fact_type=type(fact).event_type,
            # The fact's data as published: its personal values stay sealed for the fact's
            # own event id (RoundFactNoted.copied_event_data), never copied here in clear.
            fact_version=cause.schema_version,
            fact=cause.data,
        )
    ]
    ids = [fact_id(cause.event_id)]
    issued = issue(ledger, domain.decide(ledger.facts, cause.event_id, fact), now)
    return events + list(issued), ids + [e.notification_id for e in issued]


def issue(
    ledger: Ledger, notifications: list[domain.Notification], now: datetime
) -> list[NotificationIssued]:
    """Pure: the notifications not issued before, as events (each once)."""
    out: list[NotificationIssued] = []
    seen = set(ledger.issued)
    for n in notifications:
        if n.notification_id in seen:
            continue
        seen.add(n.notification_id)
        out.append(
            NotificationIssued(
                round_id=ledger.facts.round_id,
                notification_id=n.notification_id,
                rule=n.rule,
                recipient=n.recipient,
                title=n.subject,
                body=n.body,
                link=n.link,
                cause_id=n.cause_id,
                issued_at=now,
                about=n.about,
            )
        )
    return out


def mark_read(
    ledger: Ledger, notification_id: uuid.UUID, user_id: str, now: datetime
) -> list[DomainEvent]:
    """Pure: a read recorded once per user and notification."""
    if notification_id not in ledger.issued or (notification_id, user_id) in ledger.reads:
        return []
    return [
        NotificationRead(
            round_id=ledger.facts.round_id,
            notification_id=notification_id,
            user_id=user_id,
            read_at=now,
        )
    ]


def _round_of(_: datetime, __: RecordedEvent, event: DomainEvent) -> dict[str, Ledger]:
    round_id = getattr(event, "round_id", None)
    if not isinstance(event, FACTS) or not isinstance(round_id, str):  # a feed-only event
        return {}
    return {notification_stream_id(round_id): initial_ledger(round_id)}


def _metadata(cause: RecordedEvent) -> EventMetadata:
    return EventMetadata(
        actor=SYSTEM,
        correlation_id=cause.metadata.correlation_id,
        causation_id=str(cause.event_id),
    )


def _decide(
    now: datetime, cause: RecordedEvent, event: DomainEvent, states: Mapping[str, Ledger]
) -> list[Emit | Guard]:
    streams = _round_of(now, cause, event)
    if not streams:
        return []
    (stream_id,) = streams
    events, ids = on_fact(states[stream_id], cause, event, now)
    return [Emit(stream_id, events, ids)] if events else []


def facts_reaction(clock: Clock) -> Reaction[Ledger, datetime]:
    """The facts consumer's reaction: the batch's decisions all take one `now`."""

    async def prepare(conn: asyncpg.Connection, items: Items) -> datetime:
        await projections.project_nominating(conn, items)  # the feed's projection effects
        return clock.now()

    return Reaction(
        evolve=evolve,
        streams=_round_of,
        decide=_decide,
        metadata=_metadata,
        prepare=prepare,
    )
