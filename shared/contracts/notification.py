"""The notification service's published events: the facts it noted, what it told whom, reads.

One stream per round, `notification-<round_id>` (`notification_stream_id`). Subjects are
`flowers.evt.notification.<EventType>`. A `NotificationIssued` event's id is its
notification id (uuid5 of the causing event, the recipient and the rule), so a cause
delivered twice issues nothing the second time.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime

from shared.events import DomainEvent, EventRegistry
from shared.rounds import RoundId


def notification_stream_id(round_id: str) -> str:
    """The event stream of one round's notifications."""
    return f"notification-{round_id}"


class NotificationEvent(DomainEvent):
    service: ClassVar[str] = "notification"

    round_id: RoundId


class RoundFactNoted(NotificationEvent):
    """The service took note of another service's fact about the round (the rules decide on
    the facts noted so far): the fact's event id, type, schema version and data as published."""

    # The fact's personal values stay sealed for the fact's own event id (shared/personal_data).
    copied_event_data: ClassVar[tuple[str, ...]] = ("fact",)

    cause_id: UUID
    fact_type: str
    fact_version: int
    fact: dict[str, Any]


class NotificationIssued(NotificationEvent):
    """`recipient` is to be told `title`/`body` because of `cause_id` under `rule`.

    Recipients: ``role:<role>``, ``unit:<code>``, ``user:<id>``, ``employee:<no>`` or
    ``everyone``; `link` is a gateway path."""

    notification_id: UUID
    rule: str
    recipient: str
    title: str
    body: str
    link: str
    cause_id: UUID
    issued_at: AwareDatetime


class NotificationRead(NotificationEvent):
    """A signed-in user marked a notification read (for that user only)."""

    notification_id: UUID
    user_id: str
    read_at: AwareDatetime


registry = EventRegistry([RoundFactNoted, NotificationIssued, NotificationRead])
