"""The relay: the events table is the outbox; this publishes it to JetStream in position order.

Each event goes to `flowers.evt.<service>.<type>` with `Nats-Msg-Id = event_id`; the
checkpoint advances only past events whose publish was acknowledged. A crash between
publish and checkpoint re-publishes on restart: the stream's duplicate window drops
the copy and consumers' inboxes would absorb it anyway. One relay per service runs at a
time (a PostgreSQL advisory lock); more instances wait as hot standbys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from nats.js import JetStreamContext
from nats.js.api import PubAck

from shared import leader
from shared.bus import EVENTS_STREAM, event_headers, event_subject
from shared.logging import get_logger
from shared.outage import OutageLog, is_outage
from shared.postgres import (
    NOTIFY_CHANNEL,
    PostgresEventStore,
    Published,
    get_checkpoint,
    set_checkpoint,
)

log = get_logger(__name__)


@dataclass
class RelayStats:
    published: int = 0
    duplicates: int = 0
    batches: int = 0
    errors: int = 0


@dataclass
class Relay:
    service: str
    store: PostgresEventStore
    js: JetStreamContext
    batch_size: int = 500
    poll_interval_s: float = 1.0
    ack_timeout_s: float = 10.0
    # Fault injection for tests: called after the publishes are acknowledged and before
    # the checkpoint moves (the window in which a crash re-publishes).
    before_checkpoint: Callable[[int], Awaitable[None]] | None = None
    stats: RelayStats = field(default_factory=RelayStats)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def checkpoint_name(self) -> str:
        return f"relay:{self.service}"

    async def checkpoint(self) -> int:
        return await get_checkpoint(self.store.pool, self.checkpoint_name)

    async def pump_once(self) -> int:
        """Publish the next batch past the checkpoint; return how many were published."""
        # The checkpoint is read in the same statement as the events after it.
        events = await self.store.read_published(after=self.checkpoint_name, limit=self.batch_size)
        if not events:
            return 0
        results = await self._publish(events)
        last: int | None = None
        published = 0
        failure: BaseException | None = None
        for event, result in zip(events, results, strict=False):
            if isinstance(result, BaseException):
                failure = result
                break
            if result.duplicate:
                self.stats.duplicates += 1
            self.stats.published += 1
            published += 1
            last = event.position
        if last is not None:
            if self.before_checkpoint is not None:
                await self.before_checkpoint(last)
            await set_checkpoint(self.store.pool, self.checkpoint_name, last)
        self.stats.batches += 1
        if failure is not None:
            raise failure
        return published

    async def _publish(self, events: list[Published]) -> list[PubAck | BaseException]:
        # Publishes are pipelined on one connection, so the stream receives them in
        # position order; the acks are awaited together.
        futures = [
            await self.js.publish_async(
                event_subject(self.service, event.type),
                event.body,
                stream=EVENTS_STREAM,
                headers=event_headers(event.event_id),
            )
            for event in events
        ]
        try:
            return list(
                await asyncio.wait_for(
                    asyncio.gather(*futures, return_exceptions=True), self.ack_timeout_s
                )
            )
        except TimeoutError:
            # nats-py leaves a future pending when the server answers with an error it does
            # not parse: publish the batch again one at a time, where an error raises. The
            # ones already stored come back as duplicates (same Nats-Msg-Id).
            log.warning("relay_acks_timed_out", batch=len(events), retry="one by one")
        results: list[PubAck | BaseException] = []
        for event in events:
            try:
                results.append(
                    await self.js.publish(
                        event_subject(self.service, event.type),
                        event.body,
                        stream=EVENTS_STREAM,
                        headers=event_headers(event.event_id),
                        timeout=self.ack_timeout_s,
                    )
                )
            except Exception as exc:
                results.append(exc)
                break
        return results

    async def drain(self) -> int:
        """Publish until caught up with the log's head (tests and shutdown use it)."""
        total = 0
        while (published := await self.pump_once()) > 0:
            total += published
        return total

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        await follow_log(
            self.store.pool,
            self.checkpoint_name,
            self.pump_once,
            self._wake,
            stopping or asyncio.Event(),
            self.poll_interval_s,
            on_error=self._count_error,
            name=f"relay:{self.service}",
        )

    def _count_error(self) -> None:
        self.stats.errors += 1


async def follow_log(
    pool: asyncpg.Pool,
    leader_key: str,
    pump: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    stopping: asyncio.Event,
    poll_interval_s: float,
    *,
    on_error: Callable[[], None] | None = None,
    name: str = "follower",
) -> None:
    """Pump a service's log out while it grows: the loop of the relay and the payroll feed.

    One follower per `leader_key` is active at a time (a PostgreSQL advisory lock held on
    the listening connection); the others wait as hot standbys. It is woken by each append's
    NOTIFY, polls every `poll_interval_s` as a safety net, and backs off on errors.
    """
    outage = OutageLog(log, "database", name=name)
    while not stopping.is_set():
        try:
            await _lead(pool, leader_key, pump, wake, stopping, poll_interval_s, on_error, outage)
        except Exception as exc:
            if not is_outage(exc):
                raise
            # PostgreSQL went away with the leader's connection (its lock and its LISTEN):
            # lead again once it is back, without a traceback per try.
            outage.failed(exc)
            if await _wait(stopping, 1.0):
                return


async def _lead(
    pool: asyncpg.Pool,
    leader_key: str,
    pump: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    stopping: asyncio.Event,
    poll_interval_s: float,
    on_error: Callable[[], None] | None,
    outage: OutageLog,
) -> None:
    """Take the lead on one connection and pump until stopping, or until that connection is
    lost (then the caller leads again: the lock went with it, and another follower may
    have taken over)."""

    def on_notify(*_: object) -> None:
        wake.set()

    conn: asyncpg.Connection
    async with pool.acquire() as conn:
        try:
            if not await leader.acquire(conn, leader_key, stopping):  # shared/leader.py
                return
            await conn.add_listener(NOTIFY_CHANNEL, on_notify)
            outage.succeeded()
            log.info("log_follower_started", follower=outage.name)
            delay = 0.2
            while not stopping.is_set():
                if _lost(conn):
                    raise ConnectionResetError("the leader's connection was lost")
                wake.clear()
                try:
                    published = await pump()
                    delay = 0.2
                except Exception as exc:
                    if on_error is not None:
                        on_error()
                    if is_outage(exc) and _lost(conn):
                        raise
                    log.warning(
                        "log_follower_failed",
                        follower=outage.name,
                        error=repr(exc),
                        retry_in_s=delay,
                    )
                    if await _wait(stopping, delay):
                        break
                    delay = min(delay * 2, 10.0)
                    continue
                if published == 0:
                    await _wait_any(wake, stopping, poll_interval_s)
        finally:
            # The lock and the channel go with the connection: the pool does not reset
            # session state, and closing is the one step no cancellation can interrupt.
            conn.terminate()


def _lost(conn: asyncpg.Connection) -> bool:
    """Is the connection gone (the pool detaches a lost connection from its proxy)?"""
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:  # "connection has been released back to the pool"
        return True


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), seconds)
        return True
    except TimeoutError:
        return False


async def _wait_any(a: asyncio.Event, b: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
