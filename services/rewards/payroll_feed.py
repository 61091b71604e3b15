"""The PAYROLL feed: every adjustment, once, on its own subject of stream PAYROLL.

Each PayrollAdjustmentIssued / PayrollAdjustmentReversed in the rewards log is published as
a `PayrollLine` to `flowers.payroll.adjustment.<adjustment_id>`. The stream keeps one
message per subject and refuses any further one (`discard_new_per_subject`), so the
server refuses a duplicate forever, not only inside a duplicate window. The feed's own
checkpoint (`payroll-feed`, in the rewards database) advances only past acknowledged
publishes; after a crash it publishes again from the checkpoint, and the server's refusal
(err_code 10077, "maximum messages per subject exceeded") means "already there": success.

A line carries the winner's employee number and name exactly as the log stored them:
sealed under the winner's key (shared/personal_data.py; `PayrollLine.sealed_message`). The
feed needs no key and never opens them; the payroll system does, with the key store's
read-only payroll role (shared/payroll_reader.py). Destroying the winner's key makes the
line read 已删除 there too.

Publishes are awaited one by one (pipelined, a bounded number in flight) with
`js.publish`, not `publish_async`: nats-py 2.16's async publish never completes a future
whose reply is an error, which is exactly the reply a re-publish gets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from nats.js import JetStreamContext
from nats.js.errors import APIError

from shared.bus import HDR_MSG_ID, HDR_POSITION, PAYROLL_STREAM
from shared.contracts.rewards import (
    PayrollAdjustmentIssued,
    PayrollAdjustmentReversed,
    PayrollLine,
    payroll_subject,
    registry,
)
from shared.logging import get_logger
from shared.personal_data import open_data
from shared.postgres import PostgresEventStore, get_checkpoint, set_checkpoint
from shared.relay import follow_log

log = get_logger(__name__)

CHECKPOINT = "payroll-feed"
ADJUSTMENT_TYPES = [PayrollAdjustmentIssued.event_type, PayrollAdjustmentReversed.event_type]
ALREADY_THERE = 10077  # JetStream: maximum messages per subject exceeded


def is_already_there(exc: BaseException) -> bool:
    return isinstance(exc, APIError) and exc.err_code == ALREADY_THERE


def _no_key(_: str) -> bytes | None:
    return None


@dataclass(frozen=True)
class SealedLine:
    """An adjustment's line and its PAYROLL message (JSON bytes, personal values sealed)."""

    line: PayrollLine
    message: bytes


@dataclass
class FeedStats:
    published: int = 0
    already_there: int = 0
    batches: int = 0
    errors: int = 0


@dataclass
class PayrollFeed:
    batch_size: int = 500
    in_flight: int = 64
    poll_interval_s: float = 1.0
    publish_timeout_s: float = 5.0
    # Fault injection for tests: awaited after a batch's publishes are acknowledged and
    # before the checkpoint moves (a crash there re-publishes the batch).
    before_checkpoint: Callable[[int], Awaitable[None]] | None = None
    stats: FeedStats = field(default_factory=FeedStats)
    store: PostgresEventStore | None = None
    js: JetStreamContext | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def bind(self, store: PostgresEventStore, js: JetStreamContext) -> None:
        self.store, self.js = store, js

    @property
    def pool(self) -> asyncpg.Pool:
        if self.store is None:
            raise RuntimeError("the payroll feed is not bound to a store")
        return self.store.pool

    async def checkpoint(self) -> int:
        return await get_checkpoint(self.pool, CHECKPOINT)

    async def lines(self, after: int, up_to: int, limit: int) -> list[SealedLine]:
        """The adjustments in the log in (after, up_to], in position order, each with its
        PAYROLL message (personal values sealed as stored)."""
        rows = await self.pool.fetch(
            "SELECT position, event_id, type, schema_version, data FROM events "
            "WHERE position > $1 AND position <= $2 AND type = ANY($3::text[]) "
            "ORDER BY position LIMIT $4",
            after,
            up_to,
            ADJUSTMENT_TYPES,
            limit,
        )
        lines = []
        for row in rows:
            # Decoded without keys: a sealed value reads 已删除 here and the message carries
            # the stored ciphertext in its place.
            unopened = open_data(row["data"], row["event_id"], _no_key)
            event = registry.decode(row["type"], row["schema_version"], unopened)
            assert isinstance(event, PayrollAdjustmentIssued | PayrollAdjustmentReversed)
            line = PayrollLine.of(row["position"], event)
            message = line.sealed_message(row["event_id"], row["data"])
            lines.append(SealedLine(line, json.dumps(message, ensure_ascii=False).encode()))
        return lines

    async def pump_once(self) -> int:
        """Publish the next batch past the checkpoint; return how many adjustments it held."""
        js = self.js
        assert js is not None, "the payroll feed is not bound"
        after = await self.checkpoint()
        # Positions are handed out in commit order: everything up to the head read now is
        # committed and visible, so the checkpoint may pass the head when nothing is left.
        head = int(await self.pool.fetchval("SELECT position FROM event_log_head") or 0)
        if head <= after:
            return 0
        lines = await self.lines(after, head, self.batch_size)
        limit = asyncio.Semaphore(self.in_flight)

        async def publish(sealed: SealedLine) -> bool:
            line = sealed.line
            async with limit:
                try:
                    ack = await js.publish(
                        payroll_subject(line.adjustment_id),
                        sealed.message,
                        timeout=self.publish_timeout_s,
                        stream=PAYROLL_STREAM,
                        headers={
                            HDR_MSG_ID: str(line.adjustment_id),
                            HDR_POSITION: str(line.position),
                        },
                    )
                    return not ack.duplicate  # a duplicate inside the window: already there
                except APIError as exc:
                    if is_already_there(exc):
                        return False
                    raise

        results = await asyncio.gather(*map(publish, lines), return_exceptions=True)
        reached = after
        failure: BaseException | None = None
        for sealed, result in zip(lines, results, strict=True):
            if isinstance(result, BaseException):
                failure = result
                break
            if result:
                self.stats.published += 1
            else:
                self.stats.already_there += 1
            reached = sealed.line.position
        if failure is None:
            # The whole batch is in the stream; without a full batch, nothing is left up to head.
            reached = lines[-1].line.position if len(lines) == self.batch_size else head
        if reached > after:
            if self.before_checkpoint is not None:
                await self.before_checkpoint(reached)
            await set_checkpoint(self.pool, CHECKPOINT, reached)
        self.stats.batches += 1
        if failure is not None:
            raise failure
        return len(lines)

    async def drain(self) -> int:
        """Publish until caught up with the log (tests)."""
        total = 0
        while await self.checkpoint() < await self.store_head():
            total += await self.pump_once()
        return total

    async def store_head(self) -> int:
        return int(await self.pool.fetchval("SELECT position FROM event_log_head") or 0)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """One active feed per database (an advisory lock); woken by each append's NOTIFY."""
        await follow_log(
            self.pool,
            CHECKPOINT,
            self.pump_once,
            self._wake,
            stopping,
            self.poll_interval_s,
            on_error=self._count_error,
            name="payroll-feed",
        )

    def _count_error(self) -> None:
        self.stats.errors += 1
