"""The review service's composition root (`faststream run services.review.app:app`).

Commands `flowers.cmd.review.<name>` (payload: the command model of
shared/contracts/review_commands.py; `actor`, `roles`, `actor_department` from the verified
identity), queries
`flowers.qry.review.<name>` (the query models of services/review/queries.py), and the
consumer `review-nomination` of the nomination service's events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.review import projections
from services.review import queries as review_queries
from services.review.handlers import NOMINATION_REACTION, ReviewHandlers
from services.review.queries import (
    GetPanel,
    GetRanking,
    GetResult,
    GetSummary,
    ListCandidates,
    ListNotices,
    ListObjections,
    ListRounds,
    PendingAudits,
    PendingScores,
    ReviewQueries,
    VisibleScores,
)
from shared import scrub
from shared.clock import Clock
from shared.contracts import review as review_contract
from shared.contracts.review_commands import (
    AcceptNomination,
    AssignPanelist,
    DecideWinners,
    NameReplacement,
    PublishResult,
    RaiseObjection,
    RecordObjectionNote,
    RejectNomination,
    RemindPanelist,
    RemovePanelist,
    ResolveObjection,
    RevokeWinner,
    StartNotice,
    SubmitScore,
    VetoNomination,
)
from shared.contracts.subject_access import QUERY as EMPLOYEE_DATA
from shared.contracts.subject_access import EmployeeData, Rows
from shared.service import ServiceRuntime
from shared.settings import Settings

SCHEMA = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")


def build_runtime(settings: Settings | None = None, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        "review", review_contract.registry, schema_sql=[SCHEMA], settings=settings, clock=clock
    )
    runtime.own = projections.OWN
    handlers = ReviewHandlers(runtime)
    rpc = runtime.rpc

    # The feed (name, subjects) is declared in projections.py; its reaction also records
    # CandidateRecorded events beside the feed's projection effects.
    feed = projections.NOMINATION_FEED
    runtime.react(feed.consumer, list(feed.subjects), feed.registry, NOMINATION_REACTION)

    @rpc.command("accept", AcceptNomination)
    async def accept(cmd: AcceptNomination) -> dict[str, Any]:
        """The office accepts a nomination in the eligibility audit."""
        return await handlers.command(cmd)

    @rpc.command("reject", RejectNomination)
    async def reject(cmd: RejectNomination) -> dict[str, Any]:
        """The office rejects a nomination, with a reason the unit sees."""
        return await handlers.command(cmd)

    @rpc.command("assign_panelist", AssignPanelist)
    async def assign_panelist(cmd: AssignPanelist) -> dict[str, Any]:
        """The office puts a panelist (with a department) on the panel."""
        return await handlers.command(cmd)

    @rpc.command("remove_panelist", RemovePanelist)
    async def remove_panelist(cmd: RemovePanelist) -> dict[str, Any]:
        """The office takes a panelist off the panel, with a reason."""
        return await handlers.command(cmd)

    @rpc.command("remind_panelist", RemindPanelist)
    async def remind_panelist(cmd: RemindPanelist) -> dict[str, Any]:
        """The office reminds a panelist of what still waits for their score."""
        return await handlers.command(cmd)

    @rpc.command("submit_score", SubmitScore)
    async def submit_score(cmd: SubmitScore) -> dict[str, Any]:
        """A panelist submits or revises a score sheet (no conflicts)."""
        return await handlers.command(cmd)

    @rpc.command("veto", VetoNomination)
    async def veto(cmd: VetoNomination) -> dict[str, Any]:
        """Discipline inspection vetoes a nomination (一票否决)."""
        return await handlers.command(cmd)

    @rpc.command("decide_winners", DecideWinners)
    async def decide_winners(cmd: DecideWinners) -> dict[str, Any]:
        """The leader decides a category's winners (reason off-ranking)."""
        return await handlers.command(cmd)

    @rpc.command("start_notice", StartNotice)
    async def start_notice(cmd: StartNotice) -> dict[str, Any]:
        """The public notice (公示) of decided categories starts."""
        return await handlers.command(cmd)

    @rpc.command("raise_objection", RaiseObjection)
    async def raise_objection(cmd: RaiseObjection) -> dict[str, Any]:
        """Anyone signed in raises a real-name objection to a winner."""
        return await handlers.command(cmd)

    @rpc.command("record_objection_note", RecordObjectionNote)
    async def record_objection_note(cmd: RecordObjectionNote) -> dict[str, Any]:
        """The office records an investigation note."""
        return await handlers.command(cmd)

    @rpc.command("resolve_objection", ResolveObjection)
    async def resolve_objection(cmd: ResolveObjection) -> dict[str, Any]:
        """The office dismisses or upholds an objection."""
        return await handlers.command(cmd)

    @rpc.command("name_replacement", NameReplacement)
    async def name_replacement(cmd: NameReplacement) -> dict[str, Any]:
        """The leader names a replacement; a new notice starts."""
        return await handlers.command(cmd)

    @rpc.command("publish_result", PublishResult)
    async def publish_result(cmd: PublishResult) -> dict[str, Any]:
        """The office publishes the round's result (ResultPublished)."""
        return await handlers.command(cmd)

    @rpc.command("revoke_winner", RevokeWinner)
    async def revoke_winner(cmd: RevokeWinner) -> dict[str, Any]:
        """The leader revokes a published winner's award, with a reason."""
        return await handlers.command(cmd)

    def queries() -> ReviewQueries:
        assert runtime.pool is not None, "the service has not started"
        return ReviewQueries(runtime.pool, handlers.policy, runtime.states)

    @rpc.query(EMPLOYEE_DATA, EmployeeData)
    async def about_employee(q: EmployeeData) -> dict[str, Rows]:
        """Everything held about one employee, for the office (an access request)."""
        return await review_queries.employee_data(runtime.store.pool, q)

    @rpc.query("rounds", ListRounds)
    async def rounds(q: ListRounds) -> list[dict[str, Any]]:
        """Rounds the review knows, with their candidate count and whether published."""
        return await queries().rounds(q)

    @rpc.query("candidates", ListCandidates)
    async def candidates(q: ListCandidates) -> list[dict[str, Any]]:
        """A round's nominations with their audit status (pending/accepted/rejected) and veto."""
        return await queries().candidates(q)

    @rpc.query("pending_audits", PendingAudits)
    async def pending_audits(q: PendingAudits) -> list[dict[str, Any]]:
        """Nominations waiting for the office's eligibility audit."""
        return await queries().pending_audits(q)

    @rpc.query("pending_scores", PendingScores)
    async def pending_scores(q: PendingScores) -> dict[str, Any]:
        """What a panelist may still score (never a conflicted one), and their own sheets."""
        return await queries().pending_scores(q)

    @rpc.query("scores", VisibleScores)
    async def scores(q: VisibleScores) -> dict[str, Any]:
        """The scores of a nomination the viewer may see (none before their own)."""
        return await queries().visible_scores(q)

    @rpc.query("ranking", GetRanking)
    async def ranking(q: GetRanking) -> list[dict[str, Any]]:
        """Per category: ranking, raw scores, method, decision (overseers only)."""
        return await queries().ranking(q)

    @rpc.query("panel", GetPanel)
    async def panel(q: GetPanel) -> list[dict[str, Any]]:
        """A round's panelists with their departments."""
        return await queries().panel(q)

    @rpc.query("notices", ListNotices)
    async def notices(q: ListNotices) -> list[dict[str, Any]]:
        """A round's public notices with their end time and whether they are running."""
        return await queries().notices(q, runtime.clock.now())

    @rpc.query("objections", ListObjections)
    async def objections(q: ListObjections) -> list[dict[str, Any]]:
        """A round's objections with their notes and state."""
        return await queries().objections(q)

    @rpc.query("result", GetResult)
    async def result(q: GetResult) -> dict[str, Any]:
        """A round's published result and later revocations."""
        return await queries().result(q)

    @rpc.query("summary", GetSummary)
    async def summary(q: GetSummary) -> dict[str, Any]:
        """Where a round's review stands, and what blocks publishing."""
        return await queries().summary(q, runtime.clock.now())

    scrub.install(runtime)  # projections forget an erased person (shared/scrub.py)
    return runtime


runtime = build_runtime()
app = runtime.app
