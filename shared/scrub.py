"""Projections forget an erased person by themselves (issue 18, docs/privacy.md "Scrubbing").

The nomination service records `PersonalDataErased` (the office's erasure) and
`ExpiredPersonalDataShredded` (the retention job) in its stream `privacy`, and only then
destroys the keys they name. From then on every sealed value of those people reads
"已删除" in every log, but projection tables filled before still hold clear copies. Every
service that keeps projections therefore consumes both facts through one durable consumer
(`<service>-privacy`, the project's one consumer path: shared.bus.EventConsumer, inbox row
and handler in one transaction) and scrubs:

1. waits, bounded, until every key the fact names is really destroyed in the key store
   (the fact is recorded before the key is destroyed); a key still there fails the message,
   which comes back after the consumer's back-off (it is never acknowledged unscrubbed);
2. forgets those keys in this process's KEYRING (read as destroyed from now on);
3. re-derives every projection of the service in place, in the consumer's transaction:
   the live tables are locked the way `flowers audit rebuild` locks them for its swap
   (tables fed by consumers, then the log head, then the tables fed by the own log), their
   rows deleted, and the own log and the consumed events (FLOWERS, as the inboxes say they
   were handled) projected again with the same Builder the audit uses, so rebuild ≡ live
   holds by construction and no row keeps a clear copy;
4. runs the service's own hooks (`install(runtime, also=...)`) in the same transaction, for
   its working tables outside the projections (e.g. notification's address book): each is
   given the pseudonyms and forgets what it keeps under them;
5. after the commit, drops the process's folded states (StateCache), which held the clear
   values the events had when they were folded.

The scrub logs counts and pseudonyms only. Readers keep reading while it runs (EXCLUSIVE
locks let SELECTs through); appends and consumers of the service wait for it. Only the
instance leading the consumer scrubs (one at a time, shared/leader.py).

Every process of a service also listens to both facts on core NATS (not a consumer: every
instance hears them) and forgets the named keys at once, so no process keeps opening a
destroyed person's values for the keyring's 30 s (a message missed while disconnected
leaves the 30 s as the bound).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared.audit_projections import Builder, live_schema, quote
from shared.context import transaction_scope_var
from shared.contracts import nomination as nomination_contract
from shared.contracts.nomination import ExpiredPersonalDataShredded, PersonalDataErased
from shared.events import DomainEvent, RecordedEvent
from shared.logging import get_logger
from shared.personal_data import KEYRING, KeySource
from shared.projection import Items, ServiceProjections, declared
from shared.reaction import StateCache
from shared.service import ServiceRuntime

log = get_logger(__name__)

FACTS: tuple[type[DomainEvent], ...] = (PersonalDataErased, ExpiredPersonalDataShredded)
SUBJECTS: tuple[str, ...] = tuple(f.subject() for f in FACTS)
KEY_WAIT_S = 10.0  # how long a scrub waits for the nomination service to destroy the keys
KEY_POLL_S = 0.2
LOCK_TIMEOUT_MS = 500  # below PostgreSQL's deadlock_timeout: the scrub gives way first
LOCK_ATTEMPTS = 20


# A service's own forgetting beyond its projections, in the scrub's transaction: given the
# erased pseudonyms, it deletes or blanks what it keeps under them; the rows it changed.
Hook = Callable[[asyncpg.Connection, Sequence[uuid.UUID]], Awaitable[int]]


def consumer_name(service: str) -> str:
    """The durable consumer of the privacy facts of one service."""
    return f"{service}-privacy"


def erased_subjects(event: DomainEvent) -> list[uuid.UUID]:
    """The pseudonyms whose keys a privacy fact says were (or are being) destroyed."""
    if isinstance(event, PersonalDataErased):
        return [event.subject_id]
    if isinstance(event, ExpiredPersonalDataShredded):
        return [s.subject_id for s in event.subjects]
    return []


class KeyStillThere(Exception):
    """A fact names a key the key store still holds: the scrub waits for its destruction."""


class FeedIncomplete(Exception):
    """The inbox says events were handled that the replay of FLOWERS did not deliver (the
    stream unreachable or slow): tables derived without them would lose facts, so nothing is
    committed and the fact comes back later."""


async def await_destroyed(
    keys: KeySource,
    subjects: Sequence[uuid.UUID],
    *,
    timeout_s: float = KEY_WAIT_S,
    poll_s: float = KEY_POLL_S,
) -> None:
    """Return once every key of `subjects` is destroyed; KeyStillThere after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        held = [s for s, key in (await keys.keys(list(subjects))).items() if key is not None]
        if not held:
            return
        if time.monotonic() >= deadline:
            raise KeyStillThere(
                f"{len(held)} key(s) named by the fact still exist (e.g. {held[0]}): "
                "scrubbed once destroyed"
            )
        await asyncio.sleep(poll_s)


@dataclass
class ScrubReport:
    service: str
    subjects: list[str]
    tables: list[str]
    rows: dict[str, int] = field(default_factory=dict)  # rows per table after the scrub
    own_events: int = 0
    consumed: dict[str, int] = field(default_factory=dict)
    lock_attempts: int = 0
    ms: float = 0.0


async def rederive(
    conn: asyncpg.Connection,
    spec: ServiceProjections,
    js: JetStreamContext | None,
    *,
    attempts: int = LOCK_ATTEMPTS,
) -> ScrubReport:
    """Every projection of the service derived again from the log, in place, inside the
    caller's transaction (a savepoint per attempt: locks not granted in time are tried
    again, as `flowers audit rebuild`'s swap does)."""
    projections = list(spec.projections)
    # The lock order of the audit's swap (shared/audit_projections.py `_swap`): tables fed by
    # consumers first (a consumer that wrote one may wait for the head to append), the head,
    # then the own-fed tables (only appenders, who hold the head first, write them).
    fed = [t for p in projections if p.feeds for t in p.tables]
    own = [t for p in projections if not p.feeds for t in p.tables]
    live = await live_schema(conn)
    search_path = await conn.fetchval("SELECT current_setting('search_path')")
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        builder = Builder(spec, projections, live, live, js)
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
                if fed:
                    await conn.execute(
                        f"LOCK TABLE {', '.join(quote(t) for t in fed)} IN EXCLUSIVE MODE"
                    )
                await conn.execute("SELECT 1 FROM event_log_head WHERE singleton FOR UPDATE")
                if own:
                    await conn.execute(
                        f"LOCK TABLE {', '.join(quote(t) for t in own)} IN EXCLUSIVE MODE"
                    )
                for table in fed + own:
                    await conn.execute(f"DELETE FROM {quote(table)}")
                await builder.catch_up(conn)
                missing = {k: len(f.unmatched) for k, f in builder.feeds.items() if f.unmatched}
                if missing:
                    raise FeedIncomplete(f"handled but not replayed from FLOWERS: {missing}")
                rows = {
                    t: int(await conn.fetchval(f"SELECT count(*) FROM {quote(t)}"))
                    for t in fed + own
                }
                # catch_up pointed the search_path at the live schema alone: as it was.
                await conn.execute("SELECT set_config('search_path', $1, true)", search_path)
        except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError):
            if attempt == attempts:
                raise
            await asyncio.sleep(0.05 * attempt)
            continue
        return ScrubReport(
            service=spec.service,
            subjects=[],
            tables=fed + own,
            rows=rows,
            own_events=builder.own_events,
            consumed={k: len(s.applied) for k, s in builder.feeds.items()},
            lock_attempts=attempt,
            ms=(time.monotonic() - started) * 1000,
        )
    raise AssertionError("unreachable")


@dataclass
class Scrubber:
    """The privacy consumer's handler for one service (see the module's docstring)."""

    service: str
    keys: Callable[[], KeySource | None]
    js: Callable[[], JetStreamContext | None]
    states: StateCache | None = None
    spec: ServiceProjections | None = None
    key_wait_s: float = KEY_WAIT_S
    also: tuple[Hook, ...] = ()  # the service's working tables (see `install`)
    scrubbed: int = 0  # scrubs committed by this process

    async def __call__(self, conn: asyncpg.Connection, items: Items) -> None:
        subjects = sorted({s for _, event in items for s in erased_subjects(event)}, key=str)
        if not subjects:
            return
        keys = self.keys()
        if keys is None:
            raise RuntimeError("no key store in this process")
        await await_destroyed(keys, subjects, timeout_s=self.key_wait_s)
        for subject_id in subjects:
            KEYRING.forget(subject_id)
        report = await rederive(conn, self.spec or declared(self.service), self.js())
        report.subjects = [str(s) for s in subjects]
        forgotten = 0
        for hook in self.also:
            forgotten += await hook(conn, subjects)
        log.info(
            "personal_data_scrubbed",
            service=self.service,
            subjects=report.subjects,
            facts=[str(envelope.event_id) for envelope, _ in items],
            tables=len(report.tables),
            rows=sum(report.rows.values()),
            working_rows_forgotten=forgotten,
            own_events=report.own_events,
            consumed=report.consumed,
            lock_attempts=report.lock_attempts,
            ms=round(report.ms, 1),
        )

        def committed() -> None:
            if self.states is not None:
                self.states.clear()  # folded before: they hold the clear values
            self.scrubbed += 1

        # Only once committed (a rolled-back scrub is tried again and clears them then).
        scope = transaction_scope_var.get()
        if scope is None:
            committed()
        else:
            scope.on_commit(committed)


def forget_named(payload: bytes) -> list[uuid.UUID]:
    """A privacy fact as FLOWERS carries it: its keys forgotten in this process at once."""
    envelope = RecordedEvent.model_validate_json(payload)
    event = nomination_contract.registry.decode_recorded(envelope)
    subjects = erased_subjects(event)
    for subject_id in subjects:
        KEYRING.forget(subject_id)
    return subjects


async def listen(nc: NatsClient | None, stopping: asyncio.Event) -> None:
    """Every instance: forget the keys a privacy fact names the moment it is published."""
    if nc is None:
        return

    async def heard(msg: Msg) -> None:
        try:
            subjects = forget_named(msg.data)
        except Exception as exc:  # not a fact we can read: the keyring's 30 s still bound it
            log.warning("privacy_fact_unreadable", subject=msg.subject, error=repr(exc))
            return
        log.info("keys_forgotten", subjects=[str(s) for s in subjects])

    subscriptions = [await nc.subscribe(s, cb=heard) for s in SUBJECTS]
    try:
        await stopping.wait()
    finally:
        for sub in subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


def install(runtime: ServiceRuntime, also: Sequence[Hook] = ()) -> Scrubber:
    """Wire the scrub into a service (its app.py): the privacy consumer, and the listener
    that makes every instance forget the keys at once. `also`: the service's hooks for its
    working tables outside the projections, run in the scrub's transaction."""
    scrubber = Scrubber(
        runtime.service,
        lambda: runtime.keys,
        lambda: runtime.js,
        states=runtime.states,
        also=tuple(also),
    )
    runtime.consumer(consumer_name(runtime.service), list(SUBJECTS), nomination_contract.registry)(
        scrubber
    )

    async def forget_erased_keys(stopping: asyncio.Event) -> None:
        await listen(runtime.nc, stopping)

    runtime.background_task(forget_erased_keys)
    return scrubber
