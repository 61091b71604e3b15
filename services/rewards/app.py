"""The rewards service's composition root (`faststream run services.rewards.app:app`).

Consumes review's ResultPublished and WinnerRevoked (durable consumer `rewards-review`),
publishes its own events to FLOWERS through the relay and every adjustment to PAYROLL
through the payroll feed, and answers payroll's and Finance's commands and queries.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from services.rewards import projections
from services.rewards import queries as rewards_queries
from services.rewards.domain import PacesetterPolicy, RewardsPolicy
from services.rewards.handlers import (
    RewardsHandlers,
    pacesetter_policy_from_settings,
    rewards_policy_from_settings,
)
from services.rewards.payroll_feed import PayrollFeed
from services.rewards.queries import (
    BudgetLedger,
    ExportPeriod,
    FeedStatus,
    GetAdjustment,
    ListAdjustments,
    ListAwards,
    ListPeriods,
    PacesetterStandings,
    ReconcilePeriod,
    RewardsQueries,
)
from shared import scrub
from shared.bus import PAYROLL_STREAM
from shared.clock import Clock
from shared.contracts import review as review_contract
from shared.contracts import rewards as rewards_contract
from shared.contracts.review import ResultPublished, WinnerRevoked
from shared.contracts.rewards_commands import AcknowledgeAdjustment
from shared.contracts.subject_access import QUERY as EMPLOYEE_DATA
from shared.contracts.subject_access import EmployeeData, Rows
from shared.service import ServiceRuntime
from shared.settings import Settings

SCHEMA = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")
CONSUMER = "rewards-review"


class RewardsRuntime(ServiceRuntime):
    """The rewards process; `handlers` and `payroll_feed` are reachable for fault injection."""

    handlers: RewardsHandlers
    payroll_feed: PayrollFeed


def _policies(settings: Settings) -> tuple[RewardsPolicy, PacesetterPolicy]:
    """The rules' settings; a bad one stops the service with one line naming it."""
    try:
        rewards = rewards_policy_from_settings(settings)
    except ValueError as exc:
        print(
            f"flowers: invalid setting FLOWERS_AWARD_AMOUNT or FLOWERS_AWARD_CURRENCY: {exc}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    try:
        pacesetters = pacesetter_policy_from_settings(settings)
    except ValueError as exc:
        print(
            "flowers: invalid setting FLOWERS_PACESETTER_CATEGORY_WEIGHTS or "
            f"FLOWERS_PACESETTER_TIE_BREAKS: {exc}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    return rewards, pacesetters


def build_runtime(settings: Settings | None = None, clock: Clock | None = None) -> RewardsRuntime:
    runtime = RewardsRuntime(
        "rewards",
        rewards_contract.registry,
        schema_sql=[SCHEMA],
        settings=settings,
        clock=clock,
    )
    policy, pacesetters = _policies(runtime.settings)
    runtime.streams.append(PAYROLL_STREAM)  # the payroll feed publishes there
    runtime.own = projections.OWN
    handlers = runtime.handlers = RewardsHandlers(runtime)
    feed = runtime.payroll_feed = PayrollFeed(
        batch_size=runtime.settings.relay_batch_size,
        poll_interval_s=runtime.settings.relay_poll_interval_s,
        publish_timeout_s=runtime.settings.request_timeout_s,
    )
    rpc = runtime.rpc

    runtime.react(
        CONSUMER,
        [ResultPublished.subject(), WinnerRevoked.subject()],
        review_contract.registry,
        handlers.awards,
    )

    def queries() -> RewardsQueries:
        return RewardsQueries(runtime.store.pool, policy, pacesetters)

    @rpc.command("acknowledge", AcknowledgeAdjustment)
    async def acknowledge(cmd: AcknowledgeAdjustment) -> dict[str, Any]:
        """Payroll applied an adjustment (idempotent; the first one in a period closes it)."""
        return await handlers.acknowledge(cmd)

    @rpc.query(EMPLOYEE_DATA, EmployeeData)
    async def about_employee(q: EmployeeData) -> dict[str, Rows]:
        """Everything held about one employee, for the office (an access request)."""
        return await rewards_queries.employee_data(runtime.store.pool, q)

    @rpc.query("adjustments", ListAdjustments)
    async def adjustments(q: ListAdjustments) -> dict[str, Any]:
        """Payroll's pull feed: adjustments after a position, oldest first."""
        return await queries().adjustments(q)

    @rpc.query("adjustment", GetAdjustment)
    async def adjustment(q: GetAdjustment) -> dict[str, Any]:
        """One adjustment with payroll's acknowledgement, if any."""
        return await queries().adjustment(q)

    @rpc.query("export", ExportPeriod)
    async def export(q: ExportPeriod) -> dict[str, Any]:
        """A period's adjustments as CSV for Excel (utf-8-sig or gbk), base64-encoded."""
        return await queries().export(q)

    @rpc.query("reconcile", ReconcilePeriod)
    async def reconcile(q: ReconcilePeriod) -> dict[str, Any]:
        """Awards ↔ adjustments ↔ acknowledgements of a period, every mismatch listed."""
        return await queries().reconcile(q)

    @rpc.query("periods", ListPeriods)
    async def periods(q: ListPeriods) -> list[dict[str, Any]]:
        """Payroll periods with their adjustments, acknowledgements and open/closed status."""
        return await queries().periods(q)

    @rpc.query("awards", ListAwards)
    async def awards(q: ListAwards) -> list[dict[str, Any]]:
        """Awards by round, employee, status or year."""
        return await queries().awards(q)

    @rpc.query("ledger", BudgetLedger)
    async def ledger(q: BudgetLedger) -> dict[str, Any]:
        """Finance's budget ledger: totals per round, period, year and unit."""
        return await queries().ledger(q)

    @rpc.query("standings", PacesetterStandings)
    async def standings(q: PacesetterStandings) -> dict[str, Any]:
        """Year-end pacesetter (十大标兵) standings: weighted flowers, ties explained."""
        return await queries().standings(q)

    @rpc.query("payroll_feed", FeedStatus)
    async def payroll_feed_status(_: FeedStatus) -> dict[str, Any]:
        """How far the PAYROLL stream publisher got (its checkpoint against the log head)."""
        checkpoint, head = await feed.checkpoint(), await feed.store_head()
        stats = feed.stats
        return {
            "checkpoint": checkpoint,
            "log_head": head,
            "lag": head - checkpoint,
            "published": stats.published,
            "already_there": stats.already_there,
            "errors": stats.errors,
        }

    @runtime.background_task
    async def payroll_feed(stopping: asyncio.Event) -> None:
        """Every adjustment to stream PAYROLL, once per subject."""
        assert runtime.js is not None
        feed.bind(runtime.store, runtime.js)
        await feed.run(stopping)

    scrub.install(runtime)  # projections forget an erased person (shared/scrub.py)
    return runtime


runtime = build_runtime()
app = runtime.app
