"""The EventStore protocol, its errors, folding, and the in-memory store for pure unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from shared.events import (
    GENESIS_HASH,
    NewEvent,
    RecordedEvent,
    chain_hash,
    metadata_json,
)

ANY_VERSION: None = None
NO_STREAM = 0


class ConcurrencyError(Exception):
    """The stream moved on since it was loaded: reload, decide again, retry."""

    def __init__(self, stream_id: str, expected: int | None, actual: int) -> None:
        super().__init__(f"stream {stream_id!r}: expected version {expected}, found {actual}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class DuplicateEventError(Exception):
    """An event id that is already in the log (an idempotent retry may treat it as done)."""


@dataclass(frozen=True)
class EventStream:
    stream_id: str
    events: list[RecordedEvent]

    @property
    def version(self) -> int:
        return self.events[-1].version if self.events else NO_STREAM


@dataclass(frozen=True)
class AppendRequest:
    """Events for one stream, appended only if the stream is at `expected_version`.

    `expected_version=None` appends whatever the stream's version; `0` requires a new stream.
    """

    stream_id: str
    events: Sequence[NewEvent]
    expected_version: int | None = ANY_VERSION


@dataclass(frozen=True)
class ChainBreak:
    position: int
    reason: str


@dataclass
class ChainReport:
    checked: int = 0
    head_position: int = 0
    head_hash: str = GENESIS_HASH
    first_break: ChainBreak | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.first_break is None


class EventStore(Protocol):
    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: int | None = ANY_VERSION,
    ) -> list[RecordedEvent]: ...

    async def append_batch(self, requests: Sequence[AppendRequest]) -> list[RecordedEvent]: ...

    async def load(self, stream_id: str) -> EventStream: ...

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]: ...

    async def head(self) -> int: ...

    async def verify_chain(self) -> ChainReport: ...


S = TypeVar("S")
Ev = TypeVar("Ev")


def fold(evolve: Callable[[S, Ev], S], initial: S, events: Iterable[Ev]) -> S:
    state = initial
    for event in events:
        state = evolve(state, event)
    return state


def verify_rows(rows: Iterable[RecordedEvent], expected_prev: str = GENESIS_HASH) -> ChainReport:
    """Check a run of rows read in position order; name the first one that does not fit."""
    report = ChainReport(head_hash=expected_prev)
    expected_position = None
    for row in rows:
        if expected_position is None:
            expected_position = row.position
            if row.position != 1 and expected_prev == GENESIS_HASH:
                report.first_break = ChainBreak(1, f"log starts at position {row.position}")
                return report
        if row.position != expected_position:
            report.first_break = ChainBreak(
                expected_position, f"position {expected_position} missing (found {row.position})"
            )
            return report
        if row.prev_hash != report.head_hash:
            report.first_break = ChainBreak(row.position, "prev_hash does not match the row before")
            return report
        computed = chain_hash(
            row.prev_hash,
            row.position,
            row.stream_id,
            row.version,
            row.event_id,
            row.type,
            row.schema_version,
            row.data,
            metadata_json(row.metadata),
        )
        if computed != row.hash:
            report.first_break = ChainBreak(row.position, "hash does not match the row's content")
            return report
        report.checked += 1
        report.head_position = row.position
        report.head_hash = row.hash
        expected_position = row.position + 1
    return report


class InMemoryEventStore:
    """The same contract as the PostgreSQL store, in a list: for pure unit tests."""

    def __init__(self) -> None:
        self._log: list[RecordedEvent] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._ids: set[str] = set()
        self._lock = asyncio.Lock()

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: int | None = ANY_VERSION,
    ) -> list[RecordedEvent]:
        return await self.append_batch([AppendRequest(stream_id, events, expected_version)])

    async def append_batch(self, requests: Sequence[AppendRequest]) -> list[RecordedEvent]:
        async with self._lock:
            versions: dict[str, int] = {}
            seen: set[str] = set()
            for request in requests:
                current = versions.get(request.stream_id, self._version(request.stream_id))
                if request.expected_version is not None and request.expected_version != current:
                    raise ConcurrencyError(request.stream_id, request.expected_version, current)
                versions[request.stream_id] = current + len(request.events)
                for event in request.events:
                    key = str(event.event_id)
                    if key in self._ids or key in seen:
                        raise DuplicateEventError(key)
                    seen.add(key)
            recorded: list[RecordedEvent] = []
            now = datetime.now(UTC)
            prev = self._log[-1].hash if self._log else GENESIS_HASH
            position = len(self._log)
            for request in requests:
                version = self._version(request.stream_id) + sum(
                    1 for r in recorded if r.stream_id == request.stream_id
                )
                for event in request.events:
                    position += 1
                    version += 1
                    meta = metadata_json(event.metadata)
                    digest = chain_hash(
                        prev,
                        position,
                        request.stream_id,
                        version,
                        event.event_id,
                        event.type,
                        event.schema_version,
                        event.data,
                        meta,
                    )
                    recorded.append(
                        RecordedEvent(
                            position=position,
                            stream_id=request.stream_id,
                            version=version,
                            event_id=event.event_id,
                            type=event.type,
                            schema_version=event.schema_version,
                            data=event.data,
                            metadata=event.metadata,
                            recorded_at=now,
                            prev_hash=prev,
                            hash=digest,
                        )
                    )
                    prev = digest
            for row in recorded:
                self._log.append(row)
                self._streams.setdefault(row.stream_id, []).append(row)
                self._ids.add(str(row.event_id))
            return recorded

    def _version(self, stream_id: str) -> int:
        stream = self._streams.get(stream_id)
        return stream[-1].version if stream else NO_STREAM

    async def load(self, stream_id: str) -> EventStream:
        return EventStream(stream_id, list(self._streams.get(stream_id, [])))

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        return self._log[after : after + limit]

    async def head(self) -> int:
        return len(self._log)

    async def verify_chain(self) -> ChainReport:
        return verify_rows(self._log)
