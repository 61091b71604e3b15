"""The notification service's composition root (`faststream run services.notification.app:app`).

It consumes the facts the other services publish (consumer `notification-facts`, through the
one reaction path), issues `NotificationIssued` events into the inbox read model, and answers
the gateway's `inbox`, `preferences` queries and `mark_read`, `save_preferences` commands.
Two tasks run in one instance at a time: the daily rules (daily.py) and the delivery of
every notification through e-mail and the group robots (delivery.py). No other service
calls it.
"""

from __future__ import annotations

import asyncio
from datetime import time
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from services.notification import addressbook, handlers, projections
from services.notification import queries as notification_queries
from services.notification.channels import quiet_hours
from services.notification.daily import SYSTEM as DAILY
from services.notification.daily import DailyTick
from services.notification.delivery import Deliverer
from services.notification.errors import InvalidPreferences, NotificationNotFound
from services.notification.queries import inbox, round_of
from shared import scrub
from shared.clock import Clock
from shared.contracts import notification as notification_contract
from shared.contracts.notification import notification_stream_id
from shared.contracts.notification_commands import (
    GetInbox,
    GetPreferences,
    MarkRead,
    SavePreferences,
)
from shared.contracts.subject_access import QUERY as EMPLOYEE_DATA
from shared.contracts.subject_access import EmployeeData, Rows
from shared.logging import get_logger
from shared.service import ServiceRuntime
from shared.settings import Settings

FACTS_CONSUMER = "notification-facts"
log = get_logger(__name__)

# The delivery task's working tables and the address book (not read models: delivery.sql).
DELIVERY_SCHEMA = (Path(__file__).parent / "delivery.sql").read_text(encoding="utf-8")

PERSON_CHANNELS = frozenset({"inbox", "email"})


def _checked(cmd: SavePreferences) -> tuple[str | None, frozenset[str], tuple[time, time] | None]:
    """The settings as stored, or InvalidPreferences saying what is wrong (in Chinese)."""
    email = (cmd.email or "").strip() or None
    if email is not None and (
        email.count("@") != 1
        or not all(email.split("@"))
        or any(c.isspace() or not c.isprintable() for c in email)
    ):
        raise InvalidPreferences(reason="电子邮箱地址格式不正确")
    if not cmd.channels <= PERSON_CHANNELS:
        raise InvalidPreferences(reason="只能选择站内通知和电子邮件")
    if "email" in cmd.channels and email is None:
        raise InvalidPreferences(reason="选择电子邮件通知时须填写电子邮箱地址")
    start, end = (cmd.quiet_start or "").strip(), (cmd.quiet_end or "").strip()
    if bool(start) != bool(end):
        raise InvalidPreferences(reason="免打扰时段须同时填写开始和结束时间")
    quiet: tuple[time, time] | None = None
    if start:
        try:
            quiet = (time.fromisoformat(start), time.fromisoformat(end))
        except ValueError:
            raise InvalidPreferences(reason="免打扰时间格式应为 时:分，如 22:00") from None
        if quiet[0] == quiet[1]:
            raise InvalidPreferences(reason="免打扰开始和结束时间不能相同")
    return email, cmd.channels, quiet


def build_runtime(settings: Settings | None = None, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        "notification",
        notification_contract.registry,
        schema_sql=[projections.SCHEMA_SQL, DELIVERY_SCHEMA],
        settings=settings,
        clock=clock,
    )
    runtime.own = projections.OWN
    rpc = runtime.rpc

    runtime.react(
        FACTS_CONSUMER,
        list(handlers.SUBJECTS),
        handlers.FACTS_REGISTRY,
        handlers.facts_reaction(runtime.clock),
    )

    @rpc.query(EMPLOYEE_DATA, EmployeeData)
    async def about_employee(q: EmployeeData) -> dict[str, Rows]:
        """Everything held about one employee, for the office (an access request)."""
        return await notification_queries.employee_data(runtime.store.pool, q)

    @rpc.query("inbox", GetInbox)
    async def get_inbox(q: GetInbox) -> dict[str, Any]:
        """The signed-in user's notifications, newest first, and the unread count."""
        await addressbook.refresh(runtime.store.pool, q, runtime.clock.now())
        return await inbox(runtime.store.pool, q)

    default_quiet = quiet_hours(runtime.settings.notify_quiet_hours)

    @rpc.query("preferences", GetPreferences)
    async def get_preferences(q: GetPreferences) -> dict[str, Any]:
        """The user's notification settings, and which channels the operator has set up."""
        found = await addressbook.contact(runtime.store.pool, q.actor)
        return {
            **addressbook.preferences_out(found, default_quiet),
            "email_available": bool(runtime.settings.notify_smtp_host),
        }

    @rpc.command("save_preferences", SavePreferences)
    async def save_preferences(cmd: SavePreferences) -> dict[str, Any]:
        """Set the user's e-mail address, channels and quiet hours (the address book)."""
        email, channels, quiet = _checked(cmd)
        await addressbook.save(runtime.store.pool, cmd, email, channels, quiet, runtime.clock.now())
        found = await addressbook.contact(runtime.store.pool, cmd.actor)
        return addressbook.preferences_out(found, default_quiet)

    tries = Counter(
        "flowers_notification_delivery_tries_total",
        "Delivery tries through e-mail and the robots, by channel and outcome"
        " (delivered, retrying, dead_lettered)",
        ["channel", "outcome"],
        registry=runtime.metrics.registry,
    )
    deliverer = Deliverer(
        runtime.settings,
        runtime.clock,
        lambda: runtime.store,
        projections.OWN,
        lambda: runtime.relay.wake() if runtime.relay is not None else None,
        lambda channel, outcome: tries.labels(channel, outcome).inc(),
    )

    daily = DailyTick(
        runtime.settings,
        runtime.clock,
        lambda: runtime.store.pool,
        lambda stream_id, decide, initial: runtime.execute(
            stream_id, handlers.evolve, initial, decide, DAILY
        ),
    )

    @runtime.background_task
    async def daily_rules(stopping: asyncio.Event) -> None:
        """The daily rules run in one instance at a time (shared/leader.py)."""
        await runtime.lead("scheduler:notification-daily", daily.run, stopping)

    @runtime.background_task
    async def contact_subjects(stopping: asyncio.Event) -> None:
        """Contacts from before the address book kept pseudonyms get theirs (once)."""
        filled = await addressbook.backfill_subjects(runtime.store.pool)
        if filled:
            log.info("contacts_given_pseudonyms", contacts=filled)

    @runtime.background_task
    async def delivery(stopping: asyncio.Event) -> None:
        """Deliveries run in one instance at a time (shared/leader.py)."""
        await runtime.lead("delivery:notification", deliverer.run, stopping)

    @rpc.command("mark_read", MarkRead)
    async def mark_read(cmd: MarkRead) -> dict[str, Any]:
        """Mark one of the user's notifications read (for this user only)."""
        round_id = await round_of(runtime.store.pool, cmd)
        if round_id is None:
            raise NotificationNotFound(notification_id=cmd.notification_id)
        now = runtime.clock.now()
        recorded = await runtime.execute(
            notification_stream_id(round_id),
            handlers.evolve,
            handlers.initial_ledger(round_id),
            lambda ledger: handlers.mark_read(ledger, cmd.notification_id, cmd.actor, now),
            cmd.actor,
        )
        return {"notification_id": str(cmd.notification_id), "events": [e.type for e in recorded]}

    # Projections forget an erased person (shared/scrub.py), and so does the address book.
    scrub.install(runtime, also=[addressbook.forget])
    return runtime


runtime = build_runtime()
app = runtime.app
