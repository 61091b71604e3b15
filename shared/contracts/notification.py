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
from shared.personal_data import PersonalFields
from shared.rounds import RoundId


def notification_stream_id(round_id: str) -> str:
    """The event stream of one round's notifications."""
    return f"notification-{round_id}"


def delivery_stream_id(delivery_id: UUID) -> str:
    """The event stream of one delivery: one notification, one channel, one target."""
    return f"notification-delivery-{delivery_id}"


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


class NotificationIssuedV1(NotificationEvent):
    """Version 1 of NotificationIssued, as logs written before version 2 hold it (never
    emitted now): every value in clear. The upcaster says it names nobody (`about` None)."""

    event_type: ClassVar[str] = "NotificationIssued"
    schema_version: ClassVar[int] = 1

    notification_id: UUID
    rule: str
    recipient: str
    title: str
    body: str
    link: str
    cause_id: UUID
    issued_at: AwareDatetime


class NotificationIssued(NotificationEvent):
    """`recipient` is to be told `title`/`body` because of `cause_id` under `rule` (version 2).

    Recipients: ``role:<role>``, ``unit:<code>``, ``user:<id>``, ``employee:<no>`` or
    ``everyone``; `link` is a gateway path. Version 2 adds `about`: the one person the
    notification names (their employee number, or an objector's data subject), None when it
    names nobody; then the recipient, title and body are that person's personal data, sealed
    under their key (shared/personal_data), and read 已删除 once it is destroyed."""

    schema_version: ClassVar[int] = 2
    personal_data: ClassVar[PersonalFields] = PersonalFields(
        "about", ("recipient", "title", "body")
    )

    notification_id: UUID
    rule: str
    recipient: str
    title: str
    body: str
    link: str
    cause_id: UUID
    issued_at: AwareDatetime
    about: str | None = None


class NotificationRead(NotificationEvent):
    """A signed-in user marked a notification read (for that user only)."""

    notification_id: UUID
    user_id: str
    read_at: AwareDatetime


class DeliveryEvent(NotificationEvent):
    """About one delivery (stream `notification-delivery-<delivery_id>`): `channel` is
    ``email``, ``wecom`` or ``dingtalk``; `target` is ``user:<id>`` (an e-mail to that
    user's address in the address book, never the address itself) or ``robot:office`` /
    ``robot:unit:<code>`` (a group robot)."""

    delivery_id: UUID
    notification_id: UUID
    channel: str
    target: str


class DeliveryAttempted(DeliveryEvent):
    """One try to send (number `attempt`, from 1): `ok`, or the `error` and, unless it was the
    last try, when the next one is due (`retry_at`)."""

    attempt: int
    ok: bool
    error: str | None
    attempted_at: AwareDatetime
    retry_at: AwareDatetime | None


class NotificationDelivered(DeliveryEvent):
    """The channel accepted the message (after `attempts` tries); it is not sent again."""

    attempts: int
    delivered_at: AwareDatetime


class DeliveryDeadLettered(DeliveryEvent):
    """Every try failed: given up with the last `error`, for an operator to look into."""

    attempts: int
    error: str
    dead_lettered_at: AwareDatetime


registry = EventRegistry(
    [
        RoundFactNoted,
        NotificationIssued,
        NotificationRead,
        DeliveryAttempted,
        NotificationDelivered,
        DeliveryDeadLettered,
    ]
)


@registry.upcaster(NotificationIssued.event_type, from_version=1)
def _notification_issued_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 named nobody as its data subject: say so (`about` None)."""
    v1 = NotificationIssuedV1.model_validate(data)
    return {**v1.to_data(), "about": None}
