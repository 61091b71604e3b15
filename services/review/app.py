"""The review service's composition root (`faststream run services.review.app:app`).

Commands `flowers.cmd.review.<name>` (payload: the command model of services/review/commands.py,
with `actor`, `roles`, `actor_department` as the gateway passes them), queries
`flowers.qry.review.<name>` (the query models of services/review/queries.py), and the
consumer `review-nomination` of the nomination service's events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.review import projections
from services.review.commands import (
    AcceptNomination,
    AssignPanelist,
    Command,
    DecideWinners,
    NameReplacement,
    PublishResult,
    RaiseObjection,
    RecordObjectionNote,
    RejectNomination,
    RemovePanelist,
    ResolveObjection,
    RevokeWinner,
    StartNotice,
    SubmitScore,
    VetoNomination,
)
from services.review.handlers import ReviewHandlers, ReviewStates
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
from shared.clock import Clock
from shared.contracts import review as review_contract
from shared.service import ServiceRuntime
from shared.settings import Settings

SCHEMA = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")

COMMANDS: dict[str, tuple[type[Command], str]] = {
    "accept": (AcceptNomination, "The office accepts a nomination in the eligibility audit."),
    "reject": (RejectNomination, "The office rejects a nomination, with a reason the unit sees."),
    "assign_panelist": (
        AssignPanelist,
        "The office puts a panelist (with a department) on the panel.",
    ),
    "remove_panelist": (
        RemovePanelist,
        "The office takes a panelist off the panel, with a reason.",
    ),
    "submit_score": (SubmitScore, "A panelist submits or revises a score sheet (no conflicts)."),
    "veto": (VetoNomination, "Discipline inspection vetoes a nomination (一票否决)."),
    "decide_winners": (
        DecideWinners,
        "The leader decides a category's winners (reason off-ranking).",
    ),
    "start_notice": (StartNotice, "The public notice (公示) of decided categories starts."),
    "raise_objection": (
        RaiseObjection,
        "Anyone signed in raises a real-name objection to a winner.",
    ),
    "record_objection_note": (RecordObjectionNote, "The office records an investigation note."),
    "resolve_objection": (ResolveObjection, "The office dismisses or upholds an objection."),
    "name_replacement": (NameReplacement, "The leader names a replacement; a new notice starts."),
    "publish_result": (PublishResult, "The office publishes the round's result (ResultPublished)."),
    "revoke_winner": (
        RevokeWinner,
        "The leader revokes a published winner's award, with a reason.",
    ),
}


def build_runtime(settings: Settings | None = None, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        "review", review_contract.registry, schema_sql=[SCHEMA], settings=settings, clock=clock
    )
    runtime.project = projections.project
    states = ReviewStates()
    handlers = ReviewHandlers(runtime, states)
    rpc = runtime.rpc

    # The feed (name, subjects) is declared in projections.py; the handler also records
    # CandidateRecorded events beside the feed's projection effects.
    feed = projections.NOMINATION_FEED
    runtime.consumer(feed.consumer, list(feed.subjects), feed.registry)(
        handlers.on_nomination_event
    )

    for name, (model, doc) in COMMANDS.items():

        async def run(cmd: Command) -> dict[str, Any]:
            return await handlers.command(cmd)

        run.__doc__ = doc
        rpc.command(name, model)(run)

    def queries() -> ReviewQueries:
        assert runtime.pool is not None, "the service has not started"
        return ReviewQueries(runtime.pool, states, handlers.policy)

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

    return runtime


runtime = build_runtime()
app = runtime.app
