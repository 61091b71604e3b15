"""How a service declares its read models, so the audit can rebuild any of them from the log.

Each service lists its projections in one place: `services/<name>/projections.py` defines
`SCHEMA_SQL` (its schema.sql) and `PROJECTIONS` (a list of `Projection`). A projection names
its tables and how they are fed:

- `own`: a projector over the service's own log (`fn(conn, [RecordedEvent])`, the function
  `runtime.project` runs in the transaction of each append);
- `feeds`: other services' events as the service received them through FLOWERS: the
  durable consumer's name (its inbox rows say which events it has handled), its filter
  subjects, the registry that decodes them, and `apply(conn, envelope, event)`: the
  consumer's projection effects only — never an inbox row, never an append.

`not_derived` lists, per table, the columns that do not follow from events (a wall-clock
default, say); the comparison leaves them out, and each must be explained beside it.

The audit finds a service's declaration by that convention (`declared(service)`), so
`shared` never imports a service by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from shared.events import DomainEvent, EventRegistry, RecordedEvent

OwnProjector = Callable[[asyncpg.Connection, list[RecordedEvent]], Awaitable[None]]
FeedProjector = Callable[[asyncpg.Connection, RecordedEvent, DomainEvent], Awaitable[Any]]


@dataclass(frozen=True)
class ConsumedFeed:
    """Other services' events, as one durable consumer received and projected them."""

    consumer: str
    subjects: tuple[str, ...]
    registry: EventRegistry
    apply: FeedProjector


@dataclass(frozen=True)
class Projection:
    name: str
    tables: tuple[str, ...]
    own: OwnProjector | None = None
    feeds: tuple[ConsumedFeed, ...] = ()
    not_derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceProjections:
    service: str
    schema_sql: str
    projections: tuple[Projection, ...]

    def select(self, names: Sequence[str] | None = None) -> list[Projection]:
        """The projections named (all when None); an unknown name raises KeyError."""
        if not names:
            return list(self.projections)
        known = {p.name: p for p in self.projections}
        missing = [n for n in names if n not in known]
        if missing:
            raise KeyError(
                f"{self.service} has no projection {', '.join(missing)} (it has {', '.join(known)})"
            )
        return [known[n] for n in names]

    @property
    def tables(self) -> list[str]:
        return [t for p in self.projections for t in p.tables]


def declared(service: str) -> ServiceProjections:
    """`services/<service>/projections.py`'s SCHEMA_SQL and PROJECTIONS."""
    module = importlib.import_module(f"services.{service}.projections")
    return ServiceProjections(service, module.SCHEMA_SQL, tuple(module.PROJECTIONS))


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)
