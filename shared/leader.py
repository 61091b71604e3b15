"""Single-active work across a service's instances: one PostgreSQL advisory lock per role.

Several processes of a service may run at once (`flowers up --cluster`, compose, Kubernetes).
Some work must run in exactly one of them at a time: the relay (positions in order), the
payroll feed, the deadline scheduler, and each durable consumer (order per aggregate, see
README "Running several instances"). Each such role takes a session-level advisory lock
in the service's own database, on a connection it keeps for as long as it leads. The
others try again every `RETRY_S` as hot standbys.

Why a session lock on a held connection: PostgreSQL releases it the moment the holder's
connection ends — a clean stop, a crash, `kill -9` (the kernel closes the socket and the
backend exits) or a lost network — so a standby takes over within `RETRY_S` plus the time
the server needs to notice. A leader that loses its connection (its lock may now be held by
another instance) stops its work before it leads again.

A leader that stops cleanly (the service stops; it still holds the lock and its work has
ended) runs its `handover` before it lets go: a durable consumer's leader hands back the
messages it still held (`hand_back_messages`), so its successor, in this process or
another, starts pulling at once instead of waiting out an ack wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from shared.logging import get_logger
from shared.outage import OutageLog, is_outage

log = get_logger(__name__)

RETRY_S = 1.0  # how often a standby asks for the lock
CHECK_S = 1.0  # how often a leader makes sure its lock's connection still lives


def lock_key(name: str) -> int:
    """The advisory lock of a role (`relay:review`, `consumer:rewards-review`, …)."""
    return zlib.crc32(name.encode())


async def acquire(
    conn: asyncpg.Connection, name: str, stopping: asyncio.Event, retry_s: float = RETRY_S
) -> bool:
    """Wait on `conn` until this session holds the lock of `name` (True) or stopping (False)."""
    key = lock_key(name)
    while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), retry_s)
        if stopping.is_set():
            return False
    log.info("leader_elected", role=name)
    return True


async def lead(
    pool: asyncpg.Pool,
    name: str,
    work: Callable[[asyncio.Event], Awaitable[None]],
    stopping: asyncio.Event,
    *,
    retry_s: float = RETRY_S,
    check_s: float = CHECK_S,
    handover: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run `work(resign)` whenever this instance holds the lock of `name`, until stopping.

    `resign` is set when the service stops or the lock's connection is lost; `work` must
    return soon after. Then the lock is given up and, unless stopping, asked for again.
    `handover` runs after `work` has returned on a clean stop only: stopping, and the lock
    provably still held (never after it was lost, when another instance may lead).
    """
    outage = OutageLog(log, "database", name=name)
    while not stopping.is_set():
        try:
            await _lead_once(pool, name, work, stopping, retry_s, check_s, handover)
            outage.succeeded()
        except Exception as exc:
            if not is_outage(exc):
                raise
            outage.failed(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), retry_s)


async def _lead_once(
    pool: asyncpg.Pool,
    name: str,
    work: Callable[[asyncio.Event], Awaitable[None]],
    stopping: asyncio.Event,
    retry_s: float,
    check_s: float,
    handover: Callable[[], Awaitable[None]] | None = None,
) -> None:
    conn: asyncpg.Connection
    async with pool.acquire() as conn:
        try:
            if not await acquire(conn, name, stopping, retry_s):
                return
            resign = asyncio.Event()
            lost = asyncio.Event()
            # The server ended the session (the lock is gone with it): resign at once.
            conn.add_termination_listener(lambda _: lost.set())
            worker: asyncio.Future[None] = asyncio.ensure_future(work(resign))
            try:
                while not worker.done() and not lost.is_set():
                    if stopping.is_set() or not await _alive(conn, check_s):
                        break
                    await _first(worker, lost, stopping, timeout=check_s)
            finally:
                resign.set()
                if not worker.done() and not stopping.is_set():
                    log.warning("leader_lost_its_lock", role=name)
                await worker  # its exception, if any, is the caller's to see
            # A clean stop with the lock still ours (no successor can be leading yet).
            clean = handover is not None and stopping.is_set() and not lost.is_set()
            if clean and handover is not None and await _alive(conn, check_s):
                await handover()
        finally:
            # The lock goes with the connection, and only after the work has stopped: never
            # hand a locked session back to the pool.
            with contextlib.suppress(asyncpg.InterfaceError):  # already detached if lost
                conn.terminate()


async def _first(worker: asyncio.Future[None], *events: asyncio.Event, timeout: float) -> None:
    """Wait until the worker ends, one of the events is set, or the timeout passes."""
    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait([worker, *waiters], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _alive(conn: asyncpg.Connection, timeout: float) -> bool:
    """Does the connection that holds the lock still answer?"""
    try:
        if conn.is_closed():
            return False
        await asyncio.wait_for(conn.fetchval("SELECT 1"), max(timeout, 2.0))
        return True
    except (TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError, OSError):
        return False


async def while_leading(
    run: Callable[[], Awaitable[None]], stop: Callable[[], None], resign: asyncio.Event
) -> None:
    """Run a loop that stops by a call (an EventConsumer) until `resign` is set."""
    runner = asyncio.ensure_future(run())
    resigned = asyncio.ensure_future(resign.wait())
    try:
        await asyncio.wait({runner, resigned}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        resigned.cancel()
        stop()
        await runner


async def await_predecessors_messages(
    js: JetStreamContext, stream: str, consumer: str, ack_wait_s: float, resign: asyncio.Event
) -> bool:
    """Before a new leader pulls a durable consumer: if messages are still unacknowledged,
    its predecessor did not stop cleanly (a clean stop hands them back, `hand_back_messages`):
    it died, or lost its lock while alive and may still be applying a batch. Then wait until
    their ack wait has run out, so the server redelivers them — in stream order, before
    anything newer — to this leader's first pull. Otherwise a stream's later event would be
    applied before its earlier one. Returns False if told to resign meanwhile."""
    try:
        info = await asyncio.wait_for(js.consumer_info(stream, consumer), 5.0)
    except Exception:  # not created yet (nothing pending), or the server is away
        return not resign.is_set()
    if info.num_ack_pending:
        log.info(
            "consumer_takeover_waits_for_redeliveries",
            consumer=consumer,
            unacknowledged=info.num_ack_pending,
            wait_s=ack_wait_s,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(resign.wait(), ack_wait_s)
    return not resign.is_set()


async def hand_back_messages(nc: NatsClient, stream: str, consumer: str) -> None:
    """A clean stop's handover of a durable consumer (run while its lock is still held and
    its pulling has ended): reset the consumer to its acknowledgement floor
    (`$JS.API.CONSUMER.RESET`, NATS 2.14+), so whatever this leader still held — fetched
    and not handled, or nak'ed with a delay — goes at once, in stream order, to the next
    leader's first pull, which then finds nothing unacknowledged and need not wait (see
    `await_predecessors_messages`). Anything acknowledged above the floor comes once more and
    the inbox skips it. A failure is logged only: the successor then waits, as before."""
    subject = f"$JS.API.CONSUMER.RESET.{stream}.{consumer}"
    try:
        reply = await nc.request(subject, b"", timeout=5.0)
        answer = json.loads(reply.data or b"{}")
    except Exception as exc:  # the server is away, or too old for the call
        log.warning("consumer_handover_failed", consumer=consumer, error=repr(exc))
        return
    if "error" in answer:
        log.warning("consumer_handover_failed", consumer=consumer, error=answer["error"])
        return
    log.info("consumer_handed_over", consumer=consumer, from_sequence=answer.get("reset_seq"))
