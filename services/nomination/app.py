"""The nomination service's composition root (`faststream run services.nomination.app:app`)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from services.nomination import projections
from services.nomination.handlers import NominationHandlers
from services.nomination.queries import (
    GetNomination,
    ListConsents,
    ListEmployees,
    ListNominations,
    ListRounds,
    ListUnits,
    NamedEvidenceFiles,
    NominationQueries,
    QuotaUse,
    employee_data,
    named_evidence_files,
)
from services.nomination.retention_job import RetentionJob
from shared import scrub
from shared.clock import Clock
from shared.contracts import nomination as nomination_contract
from shared.contracts.nomination_commands import (
    SCHEDULER,
    AmendNomination,
    CloseRound,
    CorrectNominee,
    ErasePersonalData,
    ExtendDeadline,
    ImportDirectory,
    OpenRound,
    RecordConsent,
    ReopenForUnit,
    SubmitNomination,
    WithdrawNomination,
)
from shared.contracts.subject_access import QUERY as EMPLOYEE_DATA
from shared.contracts.subject_access import EmployeeData, Rows
from shared.logging import get_logger
from shared.service import ServiceRuntime
from shared.settings import Settings

SCHEMA = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")
log = get_logger(__name__)


def build_runtime(settings: Settings | None = None, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        "nomination",
        nomination_contract.registry,
        schema_sql=[SCHEMA],
        settings=settings,
        clock=clock,
    )
    runtime.own = projections.OWN
    handlers = NominationHandlers(runtime)
    rpc = runtime.rpc

    def queries() -> NominationQueries:
        return NominationQueries(runtime.store, runtime.settings.quota_per_unit_category)

    @rpc.command("import_directory", ImportDirectory)
    async def import_directory(cmd: ImportDirectory) -> dict[str, Any]:
        """Bring units and employees in line with an HR export; only differences are emitted."""
        return await handlers.import_directory(cmd)

    @rpc.command("open_round", OpenRound)
    async def open_round(cmd: OpenRound) -> dict[str, Any]:
        """The office opens a round with its deadline (default: the 25th, 23:59:59)."""
        return await handlers.round_command(cmd)

    @rpc.command("extend_deadline", ExtendDeadline)
    async def extend_deadline(cmd: ExtendDeadline) -> dict[str, Any]:
        """The office extends the deadline for the whole round or one unit, with a reason."""
        return await handlers.round_command(cmd)

    @rpc.command("reopen_for_unit", ReopenForUnit)
    async def reopen_for_unit(cmd: ReopenForUnit) -> dict[str, Any]:
        """The office lets one unit nominate again in a closed round, with a reason, until the
        office has begun auditing it."""
        return await handlers.round_command(cmd)

    @rpc.command("close_round", CloseRound)
    async def close_round(cmd: CloseRound) -> dict[str, Any]:
        """The office closes a round early (the scheduler closes it at the deadline)."""
        return await handlers.round_command(cmd)

    @rpc.command("submit", SubmitNomination)
    async def submit(cmd: SubmitNomination) -> dict[str, Any]:
        """A unit's nominator nominates one of the unit's active employees."""
        return {**await handlers.round_command(cmd), "nomination_id": str(cmd.nomination_id)}

    @rpc.command("amend", AmendNomination)
    async def amend(cmd: AmendNomination) -> dict[str, Any]:
        """The unit replaces a nomination's content before the deadline."""
        return await handlers.round_command(cmd)

    @rpc.command("withdraw", WithdrawNomination)
    async def withdraw(cmd: WithdrawNomination) -> dict[str, Any]:
        """The unit withdraws a nomination before the deadline, with a reason."""
        return await handlers.round_command(cmd)

    @rpc.command("erase_personal_data", ErasePersonalData)
    async def erase_personal_data(cmd: ErasePersonalData) -> dict[str, Any]:
        """The office erases an employee's personal data on request, with the reason: their
        key is destroyed, so their data reads "已删除" in every log, stream and backup."""
        return await handlers.erase_personal_data(cmd)

    @rpc.command("correct_nominee", CorrectNominee)
    async def correct_nominee(cmd: CorrectNominee) -> dict[str, Any]:
        """The office corrects a nominee's name or position on their request, with the
        reason: a correcting event, the original kept in the log."""
        return await handlers.correct_nominee(cmd)

    @rpc.command("record_consent", RecordConsent)
    async def record_consent(cmd: RecordConsent) -> dict[str, Any]:
        """The unit records or changes its nominee's consent to public display, until the
        round's result is published."""
        return await handlers.round_command(cmd)

    @rpc.query("consents", ListConsents)
    async def consents(q: ListConsents) -> dict[str, Any]:
        """A round's consents to public display, by nomination (for the public notice)."""
        return await queries().consents(q)

    @rpc.query("rounds", ListRounds)
    async def rounds(q: ListRounds) -> list[dict[str, Any]]:
        """Rounds with status, deadline and the seconds left."""
        return await queries().rounds(q, runtime.clock.now())

    @rpc.query("nominations", ListNominations)
    async def nominations(q: ListNominations) -> list[dict[str, Any]]:
        """Nominations filtered by round, unit, category and status."""
        return await queries().nominations(q)

    @rpc.query("nomination", GetNomination)
    async def nomination(q: GetNomination) -> dict[str, Any]:
        """One nomination with its history."""
        return await queries().nomination(q)

    @rpc.query("quota", QuotaUse)
    async def quota(q: QuotaUse) -> dict[str, Any]:
        """A unit's quota use per category in a round."""
        return await queries().quota_use(q)

    @rpc.query("units", ListUnits)
    async def units(q: ListUnits) -> list[dict[str, Any]]:
        """The units of the directory."""
        return await queries().units(q)

    @rpc.query("employees", ListEmployees)
    async def employees(q: ListEmployees) -> list[dict[str, Any]]:
        """The employees of the directory, optionally of one unit."""
        return await queries().employees(q)

    @rpc.query("evidence_files", NamedEvidenceFiles)
    async def evidence_files(q: NamedEvidenceFiles) -> dict[str, Any]:
        """The stored evidence files (SHA-256 digests) the nominations still name, with the
        number of nominations and of privacy facts not yet scrubbed: the gateway deletes the
        files nothing names (services/gateway/evidence_sweep.py)."""
        return await named_evidence_files(runtime.store.pool, q)

    @rpc.query(EMPLOYEE_DATA, EmployeeData)
    async def about_employee(q: EmployeeData) -> dict[str, Rows]:
        """Everything held about one employee, for the office (an access request)."""
        return await employee_data(runtime.store.pool, q)

    # Past winners, for the optional cooldown rule (the feed is declared in projections.py).
    feed = projections.REVIEW_FEED
    runtime.consumer(feed.consumer, list(feed.subjects), feed.registry)(feed.project)

    async def close_due_rounds(resign: asyncio.Event) -> None:
        """At the deadline each round closes by itself, exactly once (the decider is idempotent)."""
        while not resign.is_set():
            for round_id in await handlers.due_rounds(runtime.clock.now()):
                result = await handlers.round_command(
                    CloseRound(
                        actor=SCHEDULER,
                        roles=frozenset({SCHEDULER}),
                        round_id=round_id,
                        scheduled=True,
                    )
                )
                if result["events"]:
                    log.info("round_closed_at_deadline", round_id=round_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(resign.wait(), runtime.settings.scheduler_interval_s)

    @runtime.background_task
    async def scheduler(stopping: asyncio.Event) -> None:
        """The deadline scheduler runs in one instance at a time (shared/leader.py)."""
        await runtime.lead("scheduler:close-due-rounds", close_due_rounds, stopping)

    retention = RetentionJob(runtime)

    async def shred_expired(resign: asyncio.Event) -> None:
        """Personal data whose retention time has run out is shredded (README "Retention")."""
        while not resign.is_set():
            await retention.run()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(resign.wait(), runtime.settings.retention_interval_s)

    @runtime.background_task
    async def retention_job(stopping: asyncio.Event) -> None:
        """The retention job runs in one instance at a time (shared/leader.py)."""
        await runtime.lead("scheduler:retention", shred_expired, stopping)

    scrub.install(runtime)  # projections forget an erased person (shared/scrub.py)
    return runtime


runtime = build_runtime()
app = runtime.app
