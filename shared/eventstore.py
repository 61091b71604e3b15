"""The EventStore protocol, its errors, folding, and the in-memory store for pure unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from shared.events import (
    GENESIS_HASH,
    NewEvent,
    RecordedEvent,
    chain_hash,
    metadata_json,
    stored_fields,
)

ANY_VERSION: None = None
NO_STREAM = 0


class ConcurrencyError(Exception):
    """The stream moved on since it was loaded: reload, decide again, retry."""

    def __init__(self, stream_id: str, expected: int | None, actual: int | None) -> None:
        # `actual` is None where it could not be read (a caller's aborted transaction).
        found = "a later one" if actual is None else actual
        super().__init__(f"stream {stream_id!r}: expected version {expected}, found {found}")
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

    async def load(self, stream_id: str, after_version: int = 0) -> EventStream:
        """The stream's events after `after_version` (all of them by default)."""
        ...

    async def load_many(self, after: Mapping[str, int]) -> dict[str, list[RecordedEvent]]:
        """Several streams' events, each after its version (every stream asked for is there)."""
        ...

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


@dataclass
class ChainVerifier:
    """Checks rows fed in position order against the chain; remembers the first break."""

    report: ChainReport
    _expected_position: int = 1

    @classmethod
    def start(cls, after_position: int = 0, after_hash: str = GENESIS_HASH) -> ChainVerifier:
        return cls(
            ChainReport(head_position=after_position, head_hash=after_hash),
            after_position + 1,
        )

    def feed_many(self, rows: Iterable[Mapping[str, Any]]) -> bool:
        """`feed` for each row in order; False at the first break."""
        return all(self.feed(row) for row in rows)

    def feed(self, row: Mapping[str, Any]) -> bool:
        """False once the chain is broken (later rows are not worth checking)."""
        report = self.report
        if report.first_break is not None:
            return False
        position = row["position"]
        if position != self._expected_position:
            report.first_break = ChainBreak(
                self._expected_position,
                f"position {self._expected_position} is missing (next row is {position})",
            )
            return False
        if row["prev_hash"] != report.head_hash:
            report.first_break = ChainBreak(position, "prev_hash does not match the row before")
            return False
        computed = chain_hash(
            row["prev_hash"],
            position,
            row["stream_id"],
            row["version"],
            row["event_id"],
            row["type"],
            row["schema_version"],
            row["data"],
            row["metadata"],
        )
        if computed != row["hash"]:
            report.first_break = ChainBreak(position, "hash does not match the row's content")
            return False
        report.checked += 1
        report.head_position = position
        report.head_hash = row["hash"]
        self._expected_position = position + 1
        return True


def verify_rows(rows: Iterable[RecordedEvent]) -> ChainReport:
    """Check a whole log read in position order; name the first row that does not fit."""
    verifier = ChainVerifier.start()
    for row in rows:
        as_stored = row.model_dump()
        as_stored["metadata"] = metadata_json(row.metadata)
        if not verifier.feed(as_stored):
            break
    return verifier.report


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
                    fields = stored_fields(position, request.stream_id, version, event)
                    digest = chain_hash(prev, *fields)
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

    async def load(self, stream_id: str, after_version: int = 0) -> EventStream:
        events = self._streams.get(stream_id, [])
        return EventStream(stream_id, [e for e in events if e.version > after_version])

    async def load_many(self, after: Mapping[str, int]) -> dict[str, list[RecordedEvent]]:
        return {s: (await self.load(s, v)).events for s, v in after.items()}

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        return self._log[after : after + limit]

    async def head(self) -> int:
        return len(self._log)

    async def verify_chain(self) -> ChainReport:
        return verify_rows(self._log)
