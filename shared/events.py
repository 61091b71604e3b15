"""The event envelope, the base of every published event, and the registry that upcasts.

A domain event is a frozen pydantic model: a fact in the past tense. Its wire and storage
form is the envelope (`NewEvent` before it is stored, `RecordedEvent` after), which
carries the event's type, its schema version, its data as JSON and its metadata.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.personal_data import Mark, marks, opened

GENESIS_HASH = "0" * 64


class DomainEvent(BaseModel):
    """Base of every event: subclasses set `service`, optionally `event_type`, `schema_version`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ClassVar[str] = ""
    event_type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1
    # Fields that hold another event's data as published (personal values sealed for that
    # event): left sealed when this event is decoded; their reader opens them.
    copied_event_data: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "event_type" not in cls.__dict__:
            cls.event_type = cls.__name__

    @classmethod
    def subject(cls) -> str:
        return f"flowers.evt.{cls.service}.{cls.event_type}"

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class EventMetadata(BaseModel):
    """Who caused an event, in answer to what, and when it happened (timezone-aware)."""

    model_config = ConfigDict(frozen=True)

    actor: str = "system"
    correlation_id: str | None = None
    causation_id: str | None = None
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class NewEvent(BaseModel):
    """An event about to be appended: its id is fixed before it is stored (idempotency)."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: EventMetadata
    # The personal values in `data` and whose they are (shared.personal_data): the store
    # seals them before they are chained and stored. Never stored itself.
    personal: tuple[Mark, ...] = Field(default=(), exclude=True)

    @classmethod
    def of(
        cls,
        event: DomainEvent,
        metadata: EventMetadata,
        event_id: uuid.UUID | None = None,
    ) -> NewEvent:
        return cls(
            event_id=event_id or uuid.uuid4(),
            type=event.event_type,
            schema_version=event.schema_version,
            data=event.to_data(),
            metadata=metadata,
            personal=marks(event),
        )


class RecordedEvent(BaseModel):
    """An event as the store holds it: its place in its stream and in the whole log."""

    model_config = ConfigDict(frozen=True)

    position: int
    stream_id: str
    version: int
    event_id: uuid.UUID
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: EventMetadata
    recorded_at: datetime
    prev_hash: str
    hash: str


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value: sorted keys, no spaces, UTF-8 kept as is."""
    return _CANONICAL.encode(value)  # json.dumps with these options, without a new encoder


def chain_hash(
    prev_hash: str,
    position: int,
    stream_id: str,
    version: int,
    event_id: uuid.UUID,
    type_: str,
    schema_version: int,
    data: dict[str, Any],
    metadata: dict[str, Any],
) -> str:
    """SHA-256 over the previous hash and everything stored about one event.

    Changing, deleting or reordering any past row changes some later hash.
    """
    return chain_hash_encoded(
        prev_hash,
        position,
        stream_id,
        version,
        event_id,
        type_,
        schema_version,
        canonical_json(data),
        canonical_json(metadata),
    )


def chain_hash_encoded(
    prev_hash: str,
    position: int,
    stream_id: str,
    version: int,
    event_id: uuid.UUID,
    type_: str,
    schema_version: int,
    data_json: str,
    metadata_json: str,
) -> str:
    """`chain_hash` with the data and metadata already spelled by `canonical_json`: the
    same bytes are hashed (a list's canonical JSON is its items' canonical JSON joined by
    commas), so an append encodes each event once, for the hash and the jsonb column."""
    body = (
        f"[{_json_string(prev_hash)},{position},{_json_string(stream_id)},{version},"
        f'"{event_id}",{_json_string(type_)},{schema_version},{data_json},{metadata_json}]'
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# A string as `canonical_json` spells it (what json.dumps calls for ensure_ascii=False).
_json_string: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


def stored_fields(
    position: int, stream_id: str, version: int, event: NewEvent
) -> tuple[int, str, int, uuid.UUID, str, int, dict[str, Any], dict[str, Any]]:
    """What the log stores of a new event at (position, stream_id, version), in the order
    chain_hash takes it (after the previous hash)."""
    return (
        position,
        stream_id,
        version,
        event.event_id,
        event.type,
        event.schema_version,
        event.data,
        metadata_json(event.metadata),
    )


def metadata_json(metadata: EventMetadata) -> dict[str, Any]:
    return metadata.model_dump(mode="json")


E = TypeVar("E", bound=DomainEvent)
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(Exception):
    """A stored or received event whose type no registry knows."""


class EventRegistry:
    """Maps type names to models, and upcasts older schema versions on read."""

    def __init__(self, models: Iterable[type[DomainEvent]] = ()) -> None:
        self._models: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for model in models:
            self.register(model)

    def register(self, model: type[E]) -> type[E]:
        self._models[model.event_type] = model
        return model

    def upcaster(self, type_: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning version `from_version` data into the next version."""

        def register(fn: Upcaster) -> Upcaster:
            self._upcasters[(type_, from_version)] = fn
            return fn

        return register

    def merged(self, other: EventRegistry) -> EventRegistry:
        merged = EventRegistry()
        merged._models = {**self._models, **other._models}
        merged._upcasters = {**self._upcasters, **other._upcasters}
        return merged

    def knows(self, type_: str) -> bool:
        return type_ in self._models

    @property
    def models(self) -> list[type[DomainEvent]]:
        return list(self._models.values())

    def decode(
        self,
        type_: str,
        schema_version: int,
        data: dict[str, Any],
        event_id: uuid.UUID | None = None,
    ) -> DomainEvent:
        """The event's model; sealed personal values (shared.personal_data) are opened with
        the process's keys first, which needs the event's id (their associated data)."""
        model = self._models.get(type_)
        if model is None:
            raise UnknownEventType(type_)
        if event_id is not None:
            data = opened(data, event_id, model.copied_event_data)
        version = schema_version
        while version < model.schema_version:
            step = self._upcasters.get((type_, version))
            if step is None:
                raise UnknownEventType(f"{type_} v{version}: no upcaster to v{version + 1}")
            data = step(data)
            version += 1
        if version > model.schema_version:
            raise UnknownEventType(f"{type_} v{version} is newer than this code knows")
        return model.model_validate(data)

    def decode_recorded(self, event: RecordedEvent) -> DomainEvent:
        return self.decode(event.type, event.schema_version, event.data, event.event_id)
