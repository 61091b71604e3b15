"""The one reaction path: how consumed events become events of the service's own streams.

Per fetched batch, inside the consumer's one transaction (after its one inbox insert):

1. `prepare`: the consumer's projection effects for the whole batch (set statements) and
   whatever else the decisions need to read from the read models, as one context value;
2. the streams the batch touches: a stream the process's StateCache holds is taken as the
   cache has it (no statement), the others are loaded at once in one `load_many`;
3. the pure decision for each event, in order, on the states the earlier ones left;
4. one append for every stream touched (with the guards the decisions asked for, and each
   stream taken from the cache at the version it was taken at, appended to or not), then
   the service's own projection of what was appended, in the same transaction;
5. after the commit, the new states go into the cache (a rolled-back batch leaves none).

So the usual batch costs no statement to read its streams: the append's own statement
checks that every stream is where its state was taken (shared/postgres.py `_insert`). A
stream that moved meanwhile (another instance, or a command, appended) raises
ConcurrencyError in step 4 having written nothing, the transaction still usable: steps 2–4
run again in it, with every stream read on from its cached version. An event id already in
the log (`Emit.event_ids`) aborts the append's statement, so only an append that names its
ids runs in a savepoint; then it too is decided again. A failure that remains fails the
batch, which the consumer then handles one message at a time. No service reads `events`
rows itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import asyncpg

from shared.context import transaction_scope_var
from shared.events import DomainEvent, EventMetadata, EventRegistry, NewEvent, RecordedEvent
from shared.eventstore import AppendRequest, ConcurrencyError, DuplicateEventError, fold
from shared.logging import get_logger
from shared.postgres import PostgresEventStore
from shared.projection import Items, Projector

log = get_logger(__name__)

S = TypeVar("S")
C = TypeVar("C")

RETRIES = 10


class StateCache:
    """Folded states of recently used streams, with their version: a command or a reaction
    then reads only the events appended since. States are immutable (deciders evolve into
    new values), so a cached one is never changed behind the cache's back; a stale one only
    means more to read. Only committed states are put here.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._items: dict[tuple[str, object], tuple[int, object]] = {}

    def get(self, stream_id: str, fold_key: object) -> tuple[int, object] | None:
        item = self._items.pop((stream_id, fold_key), None)
        if item is not None:
            self._items[(stream_id, fold_key)] = item  # most recently used last
        return item

    def put(self, stream_id: str, fold_key: object, version: int, state: object) -> None:
        known = self._items.pop((stream_id, fold_key), None)
        if known is not None and known[0] > version:  # a later state is kept
            version, state = known
        self._items[(stream_id, fold_key)] = (version, state)
        while len(self._items) > self.size:
            del self._items[next(iter(self._items))]

    def clear(self) -> None:
        """Forget every state (they hold the values events had when folded: shared/scrub.py)."""
        self._items.clear()


async def load_states(
    conn: asyncpg.Connection | None,
    store: PostgresEventStore,
    registry: EventRegistry,
    cache: StateCache | None,
    evolve: Callable[[S, DomainEvent], S],
    initial: Mapping[str, S],
    *,
    trust_cache: bool = False,
) -> tuple[dict[str, int], dict[str, S], set[str]]:
    """Each stream's version and folded state: the cached one plus the events since, all
    streams in one statement (`initial`: each stream's state before its first event).

    With `trust_cache`, a stream the cache holds is taken as it is there, unread; those
    streams are returned too (the third value): their versions must be checked by whatever
    is written on their states (the reaction's append does)."""
    after: dict[str, int] = {}
    states: dict[str, S] = {}
    versions: dict[str, int] = {}
    taken: set[str] = set()
    for stream_id, empty in initial.items():
        cached = cache.get(stream_id, evolve) if cache is not None else None
        if cached is None:
            after[stream_id], states[stream_id] = 0, empty
        elif trust_cache:
            versions[stream_id], states[stream_id] = cached[0], cast(S, cached[1])
            taken.add(stream_id)
        else:
            after[stream_id], states[stream_id] = cached[0], cast(S, cached[1])
    loaded = await store.load_many(after, conn=conn) if after else {}
    for stream_id, events in loaded.items():
        states[stream_id] = fold(evolve, states[stream_id], map(registry.decode_recorded, events))
        versions[stream_id] = events[-1].version if events else after[stream_id]
    return versions, states, taken


async def current_state(
    store: PostgresEventStore,
    registry: EventRegistry,
    stream_id: str,
    evolve: Callable[[S, DomainEvent], S],
    initial: S,
    *,
    fold_all: Callable[[Iterable[DomainEvent]], S] | None = None,
    cache: StateCache | None = None,
) -> tuple[int, S]:
    """A stream's version and folded state: from the cache plus the events appended since.

    `fold_all` replaces folding event by event where a stream is long (the directory).
    """
    cached = cache.get(stream_id, evolve) if cache is not None else None
    version: int = 0
    state: S = initial
    if cached is not None:
        version, state = cached[0], cast(S, cached[1])
    stream = await store.load(stream_id, after_version=version)
    history = [registry.decode_recorded(e) for e in stream.events]
    if fold_all is not None and cached is None:
        state = fold_all(history)
    else:
        state = fold(evolve, state, history)
    if stream.events:
        version = stream.events[-1].version
    return version, state


@dataclass(frozen=True)
class Emit:
    """New events for one stream; `event_ids` derived from the cause make a second copy of
    the cause append nothing (DuplicateEventError, then decided again on the newer state)."""

    stream_id: str
    events: Sequence[DomainEvent]
    event_ids: Sequence[uuid.UUID] | None = None


@dataclass(frozen=True)
class Guard:
    """The append counts only while `stream_id` is at `version` (nothing is written to it)."""

    stream_id: str
    version: int = 0


class _Unconfirmed(Exception):
    """A batch decided on cached states appends nothing that would check them: it is decided
    again on states read from the log."""


async def _nothing_to_prepare(conn: asyncpg.Connection, items: Items) -> None:
    return None


@dataclass(frozen=True)
class Reaction(Generic[S, C]):
    """What one consumer does with its events: the parts of the reaction path it supplies.

    - `streams(context, envelope, event)`: the streams the event may write to, each with its
      state before its first event (they are loaded before any decision);
    - `decide(context, envelope, event, states)`: pure; the new events (Emit) and the
      guards, on the states as the batch's earlier events left them;
    - `metadata(envelope)`: the new events' metadata (actor, correlation, cause);
    - `prepare(conn, items)`: I/O before the decisions (the feed's projection effects, the
      read models the decisions consult), once per batch; its value is the context;
    - `appended(recorded)`: after the append, before the commit (logs, fault injection).
    """

    evolve: Callable[[S, DomainEvent], S]
    streams: Callable[[C, RecordedEvent, DomainEvent], Mapping[str, S]]
    decide: Callable[[C, RecordedEvent, DomainEvent, Mapping[str, S]], Sequence[Emit | Guard]]
    metadata: Callable[[RecordedEvent], EventMetadata]
    prepare: Callable[[asyncpg.Connection, Items], Awaitable[C]] = _nothing_to_prepare  # type: ignore[assignment]
    appended: Callable[[list[RecordedEvent]], Awaitable[None]] | None = None


@dataclass
class Reactor:
    """Runs reactions for one service: its store, registry, state cache and own projection."""

    registry: EventRegistry
    cache: StateCache
    project: Projector | None = None
    store: PostgresEventStore | None = None  # set when the service starts
    retries: int = RETRIES

    def handler(
        self, consumer: str, reaction: Reaction[Any, Any]
    ) -> Callable[[asyncpg.Connection, Items], Awaitable[None]]:
        """The consumer's handler: a batch through the reaction path."""

        async def handle(conn: asyncpg.Connection, items: Items) -> None:
            await self.react(conn, consumer, reaction, items)

        return handle

    async def react(
        self, conn: asyncpg.Connection, consumer: str, reaction: Reaction[S, C], items: Items
    ) -> list[RecordedEvent]:
        store = self.store
        if store is None:
            raise RuntimeError("the service has not started")
        context = await reaction.prepare(conn, items)
        initial: dict[str, S] = {}
        for envelope, event in items:
            for stream_id, empty in reaction.streams(context, envelope, event).items():
                initial.setdefault(stream_id, empty)
        if not initial:
            return []
        trust_cache = True  # the first attempt takes cached streams unread
        for attempt in range(1, self.retries + 1):
            try:
                # No savepoint: a conflict is raised before anything of the attempt is
                # written (the loads only read), so the attempt runs again in place.
                return await self._once(
                    conn, store, consumer, reaction, context, items, initial, trust_cache
                )
            except (ConcurrencyError, DuplicateEventError, _Unconfirmed) as exc:
                if attempt == self.retries:
                    raise
                trust_cache = False
                if not isinstance(exc, _Unconfirmed):
                    log.info(
                        "reaction_conflict_retrying",
                        consumer=consumer,
                        attempt=attempt,
                        error=str(exc),
                    )
        raise AssertionError("unreachable")

    async def _once(
        self,
        conn: asyncpg.Connection,
        store: PostgresEventStore,
        consumer: str,
        reaction: Reaction[S, C],
        context: C,
        items: Items,
        initial: Mapping[str, S],
        trust_cache: bool,
    ) -> list[RecordedEvent]:
        evolve = reaction.evolve
        versions, states, unread = await load_states(
            conn, store, self.registry, self.cache, evolve, initial, trust_cache=trust_cache
        )
        named_ids = False
        pending: dict[str, list[NewEvent]] = {}
        decided: dict[str, list[DomainEvent]] = {}
        guards: dict[str, int] = {}
        for envelope, event in items:
            # Decisions are pure (no log line to name the event in) and the metadata comes
            # from the envelope itself: no per-event logging context on this hot path.
            outcome = reaction.decide(context, envelope, event, states)
            if not outcome:
                continue
            meta = reaction.metadata(envelope)
            for emit in outcome:
                if isinstance(emit, Guard):
                    guards.setdefault(emit.stream_id, emit.version)
                    continue
                if emit.stream_id not in states:
                    raise KeyError(f"{emit.stream_id} was decided on but not named by streams()")
                if not emit.events:
                    continue
                states[emit.stream_id] = fold(evolve, states[emit.stream_id], emit.events)
                named_ids = named_ids or bool(emit.event_ids)
                ids: Iterable[uuid.UUID | None] = emit.event_ids or [None] * len(emit.events)
                pending.setdefault(emit.stream_id, []).extend(
                    NewEvent.of(e, meta, event_id=i) for e, i in zip(emit.events, ids, strict=True)
                )
                decided.setdefault(emit.stream_id, []).extend(emit.events)
        recorded: list[RecordedEvent] = []
        if not pending and unread:
            raise _Unconfirmed  # decided on cached states, nothing appended to check them
        if pending:
            requests = [
                AppendRequest(s, events, expected_version=versions[s])
                for s, events in pending.items()
            ]
            requests += [AppendRequest(s, [], expected_version=v) for s, v in guards.items()]
            # The cached streams decided on but not appended to: checked by the same statement.
            requests += [
                AppendRequest(s, [], expected_version=versions[s])
                for s in unread
                if s not in pending and s not in guards
            ]
            if named_ids:  # a duplicate id aborts the statement: undo only the append
                async with conn.transaction():
                    recorded = await store.append_batch(requests, conn=conn)
            else:
                recorded = await store.append_batch(requests, conn=conn)
            # Positions follow the requests' order, stream by stream: so do the events decided.
            events = [e for s in pending for e in decided[s]]
            if self.project is not None:
                await self.project(conn, list(zip(recorded, events, strict=True)))
            if reaction.appended is not None:
                await reaction.appended(recorded)
        final = {s: (versions[s] + len(pending.get(s, ())), states[s]) for s in states}

        def remember() -> None:
            for stream_id, (version, state) in final.items():
                self.cache.put(stream_id, evolve, version, state)

        # Only committed states are cached: outside a consumer's transaction scope, none.
        # (No relay wake-up is needed: the append's NOTIFY reaches the relay at commit.)
        scope = transaction_scope_var.get()
        if scope is not None:
            scope.on_commit(remember)
        return recorded
