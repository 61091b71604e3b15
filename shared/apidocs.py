"""The AsyncAPI documents of the services and the gateway's OpenAPI (`make docs`).

FastStream writes each service's AsyncAPI document from its brokers. What the service
answers (shared/rpc.py), publishes through the relay and consumes through its own durable
consumers (shared/bus.py) are plain nats-py subscriptions FastStream does not see. So each
ServiceRuntime also holds a documentation-only broker that is never connected nor started:
on it, one publisher per published subject (every event of the service's registry, its
dead-letter subjects, other streams it feeds), one subscriber per consumed subject and one
per request subject (`shared.rpc.document_request`). Both brokers go into the one document.

`make docs` (deploy/apidocs.py) writes the documents; this module only describes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

from faststream.nats import NatsBroker
from pydantic import BaseModel, Field, create_model

from shared.events import DomainEvent, EventRegistry, RecordedEvent

DOCS_NATS_URL = "nats://127.0.0.1:4222"
EVENT_STREAM_NOTE = (
    "Stream FLOWERS (file storage, no age limit). The body is the stored envelope "
    "(`RecordedEvent`, JSON) whose `data` is the event, with its type, schema version, "
    "stream, position and metadata (correlation, cause); one header: Nats-Msg-Id = "
    "event_id. Published by the service's relay in log "
    "order, at least once (duplicates are dropped by the stream within its window and by "
    "every consumer's inbox). Older schema versions are upcast on read by the registry."
)


class DeadLetterMessage(BaseModel):
    """A message a consumer could not handle, kept with its error (stream FLOWERS_DLQ).

    Headers: the original message's, plus Flowers-Error, Flowers-Consumer,
    Flowers-Original-Subject, Flowers-Original-Sequence, Flowers-Deliveries, and
    Nats-Msg-Id = `<consumer>:<original stream sequence>`.
    """

    consumer: str
    subject: str = Field(description="the subject the message was consumed from")
    stream_sequence: int = Field(description="its sequence in stream FLOWERS")
    deliveries: int
    error: str
    traceback: str
    dead_lettered_at: str = Field(description="ISO 8601, UTC")
    payload: str = Field(description="the original message body (the event envelope, JSON)")


@dataclass(frozen=True)
class Publication:
    """A subject a service publishes to besides its relayed events."""

    subject: str
    schema: Callable[[], type[BaseModel]]  # imported only when documented
    title: str
    description: str


def _payroll_line() -> type[BaseModel]:
    from shared.contracts.rewards import PayrollLine

    return PayrollLine


OTHER_PUBLICATIONS: dict[str, list[Publication]] = {
    "rewards": [
        Publication(
            "flowers.payroll.adjustment.*",
            _payroll_line,
            "flowers.payroll.adjustment.<adjustment_id>",
            "One payroll adjustment (an award or its reversal) as payroll reads it, on its own "
            "subject of stream PAYROLL: the stream keeps one message per subject and refuses "
            "any other, so a duplicate is refused forever. Published by the payroll feed in "
            "log order; `position` lets payroll also pull by position "
            "(flowers.qry.rewards.adjustments). `employee_no` and `name` are sealed under the "
            'winner\'s key exactly as the rewards log stores them ({"$pii": …, "ct": …}, '
            "for the adjustment event `event_id`): open them with "
            "shared.contracts.rewards.open_payroll_line and the key store's read-only payroll "
            "role (shared/payroll_reader.py); an erased winner's read 已删除.",
        )
    ]
}

_envelopes: dict[type[DomainEvent], type[BaseModel]] = {}


def envelope_model(model: type[DomainEvent]) -> type[BaseModel]:
    """The wire form of one event type: the envelope whose `data` is the event itself."""
    if model not in _envelopes:
        type_name: Any = Literal[model.event_type]  # type: ignore[valid-type]
        _envelopes[model] = create_model(
            f"{model.__name__}Envelope",
            __base__=RecordedEvent,
            __doc__=(
                f"{model.event_type} (schema version {model.schema_version}) in its envelope: "
                f"its place in the {model.service} log and its metadata."
            ),
            type=(type_name, ...),
            schema_version=(int, Field(description="older versions are upcast on read")),
            data=(model, ...),
        )
    return _envelopes[model]


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` one or more trailing tokens."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


def _describe(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def document_events(broker: NatsBroker, service: str, registry: EventRegistry) -> None:
    """One documentation publisher per event the service's relay publishes."""
    for model in registry.models:
        if model.service != service:
            continue
        summary = _describe(model) or f"{model.event_type} happened."
        broker.publisher(
            model.subject(),
            schema=envelope_model(model),
            title=model.subject(),
            description=f"{summary} (schema version {model.schema_version}) {EVENT_STREAM_NOTE}",
        )
    for publication in OTHER_PUBLICATIONS.get(service, []):
        broker.publisher(
            publication.subject,
            schema=publication.schema(),
            title=publication.title,
            description=publication.description,
        )


def document_consumer(
    broker: NatsBroker, name: str, subjects: Sequence[str], registry: EventRegistry
) -> None:
    """The consumer's subjects (as subscribers) and its dead letters (as a publisher)."""
    for subject in subjects:
        models = [m for m in registry.models if subject_matches(subject, m.subject())]
        envelopes = [envelope_model(m) for m in models]
        payload: Any = Union[tuple(envelopes)] if envelopes else RecordedEvent  # noqa: UP007
        names = ", ".join(m.event_type for m in models) or "events"

        async def consumed(body: Any) -> None:
            """Documentation only: the consumer loop is shared/bus.py's EventConsumer."""

        consumed.__annotations__ = {"body": payload, "return": None}
        broker.subscriber(
            subject,
            title=f"{name}:{subject}",
            description=(
                f"Consumed by the durable pull consumer `{name}` on stream FLOWERS ({names}): "
                "explicit ack after the handler's transaction commits, with the inbox row "
                "(exactly once in effect); retried with back-off, then dead-lettered to "
                f"flowers.dlq.{name}."
            ),
        )(consumed)
    broker.publisher(
        f"flowers.dlq.{name}",
        schema=DeadLetterMessage,
        title=f"flowers.dlq.{name}",
        description=(
            f"Dead letters of consumer `{name}`: {_describe(DeadLetterMessage)} Operators list, "
            "re-drive or drop them with `flowers dlq`."
        ),
    )
