"""Browsing the log (`flowers audit events`): one store or all, filtered, ordered by time.

Filters: stream (exact, or a prefix ending in `*`), type, actor, correlation id, a
nomination id (any event whose data mentions it), and a time range on `recorded_at`.
Following a correlation id also follows causation: an event caused by one found (a
consumer's reaction, which keeps the correlation id anyway) is found too, across stores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.clock import SHANGHAI

COLUMNS = (
    "position, stream_id, version, event_id::text AS event_id, type, schema_version, data, "
    "metadata, recorded_at"
)


@dataclass(frozen=True)
class EventFilter:
    stream: str | None = None
    types: tuple[str, ...] = ()
    actor: str | None = None
    correlation: str | None = None
    nomination: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 1000


@dataclass(frozen=True)
class LoggedEvent:
    service: str
    position: int
    recorded_at: datetime
    stream_id: str
    version: int
    event_id: str
    type: str
    schema_version: int
    metadata: dict[str, Any]
    data: dict[str, Any]

    @property
    def actor(self) -> str:
        return str(self.metadata.get("actor", ""))

    @property
    def correlation_id(self) -> str:
        return str(self.metadata.get("correlation_id") or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "position": self.position,
            "recorded_at": self.recorded_at.astimezone(SHANGHAI).isoformat(),
            "stream_id": self.stream_id,
            "version": self.version,
            "event_id": self.event_id,
            "type": self.type,
            "schema_version": self.schema_version,
            "actor": self.actor,
            "correlation_id": self.metadata.get("correlation_id"),
            "causation_id": self.metadata.get("causation_id"),
            "occurred_at": self.metadata.get("occurred_at"),
            "data": self.data,
        }


def _where(f: EventFilter, args: list[Any]) -> str:
    clauses: list[str] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.stream:
        if f.stream.endswith("*"):
            prefix = f.stream[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append(f"stream_id LIKE {arg(prefix + '%')}")
        else:
            clauses.append(f"stream_id = {arg(f.stream)}")
    if f.types:
        clauses.append(f"type = ANY({arg(list(f.types))}::text[])")
    if f.actor:
        clauses.append(f"metadata->>'actor' = {arg(f.actor)}")
    if f.correlation:
        clauses.append(f"metadata->>'correlation_id' = {arg(f.correlation)}")
    if f.nomination:
        clauses.append(f"strpos(data::text, {arg(f.nomination)}) > 0")
    if f.since:
        clauses.append(f"recorded_at >= {arg(f.since)}")
    if f.until:
        clauses.append(f"recorded_at <= {arg(f.until)}")
    return " AND ".join(clauses) or "true"


def _logged(service: str, row: Mapping[str, Any]) -> LoggedEvent:
    return LoggedEvent(
        service=service,
        position=row["position"],
        recorded_at=row["recorded_at"],
        stream_id=row["stream_id"],
        version=row["version"],
        event_id=row["event_id"],
        type=row["type"],
        schema_version=row["schema_version"],
        metadata=row["metadata"],
        data=row["data"],
    )


async def find_events(pools: Mapping[str, asyncpg.Pool], f: EventFilter) -> list[LoggedEvent]:
    """The events of the stores given that pass the filter, oldest first (at most f.limit)."""
    found: dict[tuple[str, str], LoggedEvent] = {}
    for service, pool in pools.items():
        args: list[Any] = []
        sql = f"SELECT {COLUMNS} FROM events WHERE {_where(f, args)} ORDER BY position LIMIT "
        args.append(f.limit)
        for row in await pool.fetch(sql + f"${len(args)}", *args):
            event = _logged(service, row)
            found[(service, event.event_id)] = event
    if f.correlation:
        await _follow_causation(pools, f, found)
    ordered = sorted(found.values(), key=lambda e: (e.recorded_at, e.service, e.position))
    return ordered[: f.limit]


async def _follow_causation(
    pools: Mapping[str, asyncpg.Pool], f: EventFilter, found: dict[tuple[str, str], LoggedEvent]
) -> None:
    """Add the events caused by those found (transitively), whatever their correlation."""
    frontier = [e.event_id for e in found.values()]
    narrowed = EventFilter(types=f.types, actor=f.actor, since=f.since, until=f.until)
    while frontier and len(found) < f.limit:
        new: list[str] = []
        for service, pool in pools.items():
            args: list[Any] = [frontier]
            where = _where(narrowed, args)
            rows = await pool.fetch(
                f"SELECT {COLUMNS} FROM events WHERE metadata->>'causation_id' = ANY($1::text[]) "
                f"AND {where} ORDER BY position",
                *args,
            )
            for row in rows:
                event = _logged(service, row)
                if (service, event.event_id) not in found:
                    found[(service, event.event_id)] = event
                    new.append(event.event_id)
        frontier = new


def _short(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def render_table(events: Sequence[LoggedEvent]) -> str:
    if not events:
        return "No event matches."
    lines = [
        f"{'RECORDED (Asia/Shanghai)':<26} {'SERVICE':<10} {'POS':>6}  {'STREAM':<36} "
        f"{'TYPE':<26} {'ACTOR':<18} CORRELATION"
    ]
    for e in events:
        lines.append(
            f"{e.recorded_at.astimezone(SHANGHAI).strftime('%Y-%m-%d %H:%M:%S.%f')[:23]:<26} "
            f"{e.service:<10} {e.position:>6}  {_short(e.stream_id, 36):<36} "
            f"{_short(e.type, 26):<26} {_short(e.actor, 18):<18} {e.correlation_id}"
        )
    return "\n".join(lines)


def render_json_lines(events: Sequence[LoggedEvent]) -> str:
    return "\n".join(json.dumps(e.to_json(), ensure_ascii=False, default=str) for e in events)
