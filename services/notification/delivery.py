"""The delivery task: every issued notification through the channels its recipients chose.

It runs in one instance of the service at a time (shared/leader.py) and loops:

1. **Plan.** Notifications past the planned position (table `delivery_planned`) are fanned
   out by the rules (`domain.plan`: the address book's e-mail choices, the group robots,
   quiet hours) into `delivery_queue`, one row per delivery id, in one transaction with the
   new position: planned once, whatever crashes.
2. **Send.** Each due row: its delivery stream (`notification-delivery-<id>`) is loaded; if
   it already says delivered or dead-lettered, nothing is sent. Otherwise one try, then
   `domain.after_attempt` records `DeliveryAttempted` (+ `NotificationDelivered` or
   `DeliveryDeadLettered`) and the row's next due time in one transaction.

"Once" in effect: what the log records as delivered is never sent again, by this instance
after a restart or by the one that takes over. A crash after the channel accepted a message
but before its event commits sends that message again: at-least-once at the wire. An
e-mail sent again carries the same Message-ID (derived from the notification id and the
recipient), so mail systems that deduplicate show it once; a robot message would show twice
in the group (the window is one SMTP/HTTP round trip).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.notification import addressbook, domain, texts
from services.notification.channels import (
    DeliveryError,
    RobotHook,
    compose_email,
    policy_from_settings,
    quiet_hours,
    robot_hooks,
    robots_of,
    send_email,
    send_robot,
    smtp_from_settings,
)
from shared.clock import Clock
from shared.contracts.notification import delivery_stream_id, registry
from shared.events import EventMetadata, NewEvent
from shared.eventstore import ConcurrencyError, fold
from shared.logging import get_logger
from shared.postgres import PostgresEventStore
from shared.projection import OwnLog
from shared.settings import Settings

log = get_logger(__name__)

SYSTEM = "system:notification-delivery"
PLAN_BATCH = 200
SEND_BATCH = 100
# A notification issued longer ago than this when first planned (the service was down for
# days, or e-mail and robots were switched on for an installation that already had a
# history) stays in the inbox only: a group is not flooded with last month's news.
STALE_AFTER = timedelta(days=3)

_NOTIFICATION_COLUMNS = (
    "notification_id, round_id, rule, recipient, title, body, link, cause_id, issued_at, position"
)


def _notification(row: Mapping[str, Any]) -> domain.Notification:
    return domain.Notification(
        notification_id=row["notification_id"],
        rule=row["rule"],
        recipient=row["recipient"],
        round_id=row["round_id"],
        subject=row["title"],
        body=row["body"],
        link=row["link"],
        cause_id=row["cause_id"],
    )


class Deliverer:
    """Plans and sends deliveries; `run` is the leader's loop, `step` one pass (tests)."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        store: Callable[[], PostgresEventStore],
        own: OwnLog | None,
        wake_relay: Callable[[], None],
        observe: Callable[[str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._store = store
        self.own = own
        self.wake_relay = wake_relay
        self.observe = observe  # (channel, outcome: delivered | retrying | dead_lettered)
        self.policy = policy_from_settings(settings)
        self.hooks: dict[tuple[str, domain.Channel], RobotHook] = robot_hooks(settings)
        self.robots = robots_of(self.hooks)
        self.quiet = quiet_hours(settings.notify_quiet_hours)
        self.smtp = smtp_from_settings(settings)

    @property
    def store(self) -> PostgresEventStore:
        return self._store()

    async def run(self, resign: asyncio.Event) -> None:
        async with httpx.AsyncClient() as client:
            while not resign.is_set():
                await self.step(client)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(resign.wait(), self.settings.notify_delivery_interval_s)

    async def step(self, client: httpx.AsyncClient) -> tuple[int, int]:
        """Plan what is new and send what is due: (planned, tried)."""
        planned = 0
        while n := await self.plan_batch():
            planned += n
        return planned, await self.send_due(client)

    async def plan_batch(self) -> int:
        """Plan the next notifications; how many were planned (0: none left)."""
        now = self.clock.now()
        async with self.store.transaction() as conn:
            after = await conn.fetchval("SELECT position FROM delivery_planned FOR UPDATE")
            rows = await conn.fetch(
                f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE position > $1"
                " ORDER BY position LIMIT $2",
                after or 0,
                PLAN_BATCH,
            )
            if not rows:
                return 0
            book = await addressbook.contacts(conn)
            if self.smtp is None:  # no mail server configured: nobody is e-mailed
                book = [replace(c, email=None) for c in book]
            plans = [
                d
                for r in rows
                if r["issued_at"] >= now - STALE_AFTER
                for d in domain.plan(_notification(r), book, self.robots, now, self.quiet)
            ]
            await conn.executemany(
                "INSERT INTO delivery_queue (delivery_id, notification_id, channel, target,"
                " due_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (delivery_id) DO NOTHING",
                [
                    (d.delivery_id, d.notification_id, d.channel, d.target, d.not_before)
                    for d in plans
                ],
            )
            await conn.execute(
                "INSERT INTO delivery_planned (id, position) VALUES (1, $1)"
                " ON CONFLICT (id) DO UPDATE SET position = excluded.position",
                rows[-1]["position"],
            )
        return len(rows)

    async def send_due(self, client: httpx.AsyncClient) -> int:
        rows = await self.store.pool.fetch(
            "SELECT q.delivery_id, q.channel, q.target,"
            f" {', '.join('n.' + c.strip() for c in _NOTIFICATION_COLUMNS.split(','))}"
            " FROM delivery_queue q JOIN notifications n USING (notification_id)"
            " WHERE NOT q.done AND q.due_at <= $1 ORDER BY q.due_at LIMIT $2",
            self.clock.now(),
            SEND_BATCH,
        )
        for row in await texts.opened(rows):  # a sealed text is opened only to be sent
            await self.deliver(client, row)
        return len(rows)

    async def deliver(self, client: httpx.AsyncClient, row: Mapping[str, Any]) -> None:
        notification = _notification(row)
        channel: domain.Channel = row["channel"]
        d = domain.Delivery(
            row["delivery_id"],
            notification.notification_id,
            notification.round_id,
            channel,
            row["target"],
            self.clock.now(),
        )
        stream_id = delivery_stream_id(d.delivery_id)
        loaded = await self.store.load(stream_id)
        state = fold(
            domain.evolve_delivery,
            domain.DeliveryState(),
            (registry.decode_recorded(e) for e in loaded.events),
        )
        if state.done:  # the log says so (another instance sent it, or a restored queue row)
            await self._finish(d.delivery_id)
            return
        error = await self._send(client, d, notification)
        now = self.clock.now()
        events, retry_at = domain.after_attempt(state, d, error, now, self.policy)
        meta = EventMetadata(actor=SYSTEM, correlation_id=str(d.notification_id))
        new = [
            NewEvent.of(
                e, meta, uuid.uuid5(d.delivery_id, f"{type(e).__name__}|{state.attempts + 1}")
            )
            for e in events
        ]
        try:
            async with self.store.transaction() as conn:
                recorded = await self.store.append(
                    stream_id, new, expected_version=len(loaded.events), conn=conn
                )
                if self.own is not None:
                    await self.own.project(conn, list(zip(recorded, events, strict=True)))
                await conn.execute(
                    "UPDATE delivery_queue SET due_at = coalesce($2, due_at), done = $3"
                    " WHERE delivery_id = $1",
                    d.delivery_id,
                    retry_at,
                    retry_at is None,
                )
        except ConcurrencyError:  # another instance recorded this try meanwhile
            return
        self.wake_relay()
        if self.observe is not None:
            outcome = "delivered" if error is None else "retrying" if retry_at else "dead_lettered"
            self.observe(channel, outcome)
        log.info(
            "notification_delivery_attempted",
            delivery_id=str(d.delivery_id),
            channel=channel,
            target=d.target,
            ok=error is None,
            error=error,
            retry_at=retry_at.isoformat() if retry_at else None,
        )

    async def _finish(self, delivery_id: uuid.UUID) -> None:
        await self.store.pool.execute(
            "UPDATE delivery_queue SET done = true WHERE delivery_id = $1", delivery_id
        )

    async def _send(
        self, client: httpx.AsyncClient, d: domain.Delivery, notification: domain.Notification
    ) -> str | None:
        """One try: None when the channel accepted it, else the error to record."""
        base = self.settings.notify_base_url
        try:
            if d.channel == "email":
                return await self._email(d, notification, self.clock.now())
            hook = self.hooks.get((d.target, d.channel))
            if hook is None:
                return f"no {d.channel} robot is configured for {d.target}"
            # 钉钉 checks its signature's timestamp against its own clock: the wall clock's
            await send_robot(client, d.channel, hook, notification, base, datetime.now(UTC))
        except DeliveryError as exc:
            return str(exc)
        return None

    async def _email(
        self, d: domain.Delivery, notification: domain.Notification, now: datetime
    ) -> str | None:
        if self.smtp is None:
            return "FLOWERS_NOTIFY_SMTP_HOST is not set"
        found = await addressbook.contact(self.store.pool, d.target.removeprefix("user:"))
        if found is None or not found.email:
            return f"{d.target} has no e-mail address"
        msg = compose_email(
            notification, [found.email], self.smtp.sender, self.settings.notify_base_url, now
        )
        await send_email(self.smtp, msg)
        return None
