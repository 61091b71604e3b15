"""The daily rules on the clock: quota reminders to units with nomination places still open
(3 and 1 working days before their deadline) and the panelists' digests until scoring is done.

The scheduler runs in one instance at a time (shared/leader.py) and looks every
`notify_tick_interval_s`; from `notify_daily_at` (Beijing) on, it issues the day's
notifications of every round still in play. Each tick is idempotent: a notification's id
derives from the round, the rule, the recipient and the day (`domain.tick_cause`), and the
round's ledger issues each id once: ticking again, or after a restart, tells nobody twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, time, timedelta

import asyncpg

from services.notification import domain, handlers
from shared.calendar import WorkingCalendar
from shared.clock import SHANGHAI, Clock
from shared.contracts.common import Category
from shared.contracts.notification import notification_stream_id
from shared.events import DomainEvent, RecordedEvent
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger(__name__)

SYSTEM = "system:notification-daily"
# A round's daily rules stop this long after its deadline (digests of a late panel included).
IN_PLAY = timedelta(days=120)

Execute = Callable[
    [str, Callable[[handlers.Ledger], Sequence[DomainEvent]], handlers.Ledger],
    Awaitable[list[RecordedEvent]],
]


class DailyTick:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        pool: Callable[[], asyncpg.Pool],
        execute: Execute,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._pool = pool
        self.execute = execute
        self.at = time.fromisoformat(settings.notify_daily_at)
        self.offsets = tuple(settings.notify_quota_reminder_days)
        # A unit's places in a round: the quota per flower times the five flowers (the
        # nomination service holds each flower to its quota, so standing nominations
        # never exceed it).
        self.places = settings.quota_per_unit_category * len(Category)
        self.calendar = WorkingCalendar.of(
            [date.fromisoformat(d) for d in settings.calendar_extra_holidays],
            [date.fromisoformat(d) for d in settings.calendar_extra_workdays],
        )

    async def run(self, resign: asyncio.Event) -> None:
        while not resign.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(resign.wait(), self.settings.notify_tick_interval_s)

    async def tick(self) -> int:
        """Issue today's notifications (none before the daily hour); how many were new."""
        now = self.clock.now()
        local = now.astimezone(SHANGHAI)
        if local.time() < self.at:
            return 0
        today = local.date()
        pool = self._pool()
        rounds = await pool.fetch(
            "SELECT round_id FROM rounds WHERE deadline >= $1 ORDER BY round_id", now - IN_PLAY
        )
        issued = 0
        for r in rounds:
            round_id: str = r["round_id"]
            places_left = {
                row["unit_code"]: self.places - row["used"]
                for row in await pool.fetch(
                    "SELECT u.unit_code, (SELECT count(*) FROM round_nominations n"
                    " WHERE n.round_id = $1 AND n.unit_code = u.unit_code AND NOT n.withdrawn)"
                    " AS used FROM units u ORDER BY u.unit_code",
                    round_id,
                )
            }

            def decide(
                ledger: handlers.Ledger, units: dict[str, int] = places_left
            ) -> list[DomainEvent]:
                due = domain.daily(ledger.facts, units, today, self.calendar, self.offsets)
                return list(handlers.issue(ledger, due, now))

            recorded = await self.execute(
                notification_stream_id(round_id), decide, handlers.initial_ledger(round_id)
            )
            if recorded:
                log.info("daily_notifications_issued", round_id=round_id, count=len(recorded))
            issued += len(recorded)
        return issued
