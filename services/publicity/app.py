"""The publicity service's composition root (`faststream run services.publicity.app:app`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from services.publicity import projections
from services.publicity import queries as publicity_queries
from services.publicity.errors import NotPublicity
from services.publicity.handlers import PublicityHandlers
from services.publicity.queries import (
    GetArtefact,
    GetDraft,
    GetHonorRoll,
    GetReport,
    GetReportChart,
    GetVideo,
    GetWinnerPhoto,
    ListDrafts,
    ListRounds,
    PublicityQueries,
)
from services.publicity.videojobs import VideoJobs
from shared import scrub
from shared.clock import Clock
from shared.contracts import publicity as publicity_contract
from shared.contracts import review as review_contract
from shared.contracts.publicity_commands import (
    PUBLICITY,
    ApproveMaterial,
    AttachWinnerPhoto,
    CorrectMaterial,
    EditMaterial,
    PublishMaterial,
    RenderVideo,
)
from shared.contracts.subject_access import QUERY as EMPLOYEE_DATA
from shared.contracts.subject_access import EmployeeData, Rows
from shared.events import DomainEvent
from shared.service import ServiceRuntime
from shared.settings import Settings

SCHEMA = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")
VIDEOS_SCHEMA = (Path(__file__).parent / "videos.sql").read_text(encoding="utf-8")

DRAFTS_CONSUMER = "publicity-drafts"
STATS_CONSUMER = projections.STATS_FEED.consumer


def _subjects(events: tuple[type[DomainEvent], ...]) -> list[str]:
    return [e.subject() for e in events]


def build_runtime(settings: Settings | None = None, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        "publicity",
        publicity_contract.registry,
        schema_sql=[SCHEMA, VIDEOS_SCHEMA],
        settings=settings,
        clock=clock,
    )
    runtime.own = projections.OWN
    handlers = PublicityHandlers(runtime)
    rpc = runtime.rpc

    # Drafts: a published result, a revocation. Statistics: the nomination and review facts.
    runtime.react(
        DRAFTS_CONSUMER,
        _subjects((review_contract.ResultPublished, review_contract.WinnerRevoked)),
        review_contract.registry,
        handlers.drafts,
    )
    stats = projections.STATS_FEED  # declared with the projections
    runtime.consumer(stats.consumer, list(stats.subjects), stats.registry)(stats.project)

    def queries() -> PublicityQueries:
        return PublicityQueries(runtime.store.pool, runtime.settings)

    @rpc.command("edit", EditMaterial)
    async def edit(cmd: EditMaterial) -> dict[str, Any]:
        """The publicity role changes a draft (an approved draft then needs approving again)."""
        return await handlers.command(cmd)

    @rpc.command("approve", ApproveMaterial)
    async def approve(cmd: ApproveMaterial) -> dict[str, Any]:
        """The publicity role approves a draft as it stands."""
        return await handlers.command(cmd)

    @rpc.command("correct", CorrectMaterial)
    async def correct(cmd: CorrectMaterial) -> dict[str, Any]:
        """The publicity role drafts a correction notice of a published material."""
        return await handlers.command(cmd)

    @rpc.command("publish", PublishMaterial)
    async def publish(cmd: PublishMaterial) -> dict[str, Any]:
        """The publicity role marks an approved draft published on one channel."""
        return await handlers.command(cmd)

    @rpc.command("attach_photo", AttachWinnerPhoto)
    async def attach_photo(cmd: AttachWinnerPhoto) -> dict[str, Any]:
        """The office or the publicity role gives a winner's photo (JPEG or PNG, resized)."""
        return await handlers.attach_photo(cmd)

    @rpc.query(EMPLOYEE_DATA, EmployeeData)
    async def about_employee(q: EmployeeData) -> dict[str, Rows]:
        """Everything held about one employee, for the office (an access request)."""
        return await publicity_queries.employee_data(runtime.store.pool, q)

    @rpc.query("winner_photo", GetWinnerPhoto)
    async def winner_photo(q: GetWinnerPhoto) -> dict[str, Any]:
        """A featured winner's photo (JPEG, base64)."""
        return await queries().winner_photo(q)

    videos = VideoJobs(runtime.settings, runtime.clock)

    @runtime.background_task
    async def render_videos(stop: asyncio.Event) -> None:
        """The meeting videos asked for, rendered one at a time (ffmpeg in a thread)."""
        await videos.worker(runtime.store.pool, stop)

    @rpc.command("render_video", RenderVideo)
    async def render_video(cmd: RenderVideo) -> dict[str, Any]:
        """The publicity role asks for the meeting video of an approved storyboard."""
        if PUBLICITY not in cmd.roles:
            raise NotPublicity()
        return await videos.request(runtime.store.pool, cmd.material_id, cmd.actor)

    @rpc.query("video", GetVideo)
    async def video(q: GetVideo) -> dict[str, Any]:
        """The meeting video's rendering progress, and the MP4 when asked for and done."""
        return await videos.status(runtime.store.pool, q.material_id, with_content=q.content)

    @rpc.query("rounds", ListRounds)
    async def rounds(q: ListRounds) -> list[dict[str, Any]]:
        """Rounds with drafts, newest first, with counts per status."""
        return await queries().rounds(q)

    @rpc.query("drafts", ListDrafts)
    async def drafts(q: ListDrafts) -> list[dict[str, Any]]:
        """The materials of a round with their state."""
        return await queries().drafts(q)

    @rpc.query("draft", GetDraft)
    async def draft(q: GetDraft) -> dict[str, Any]:
        """One material: content, rendered HTML and history."""
        return await queries().draft(q)

    @rpc.query("artefact", GetArtefact)
    async def artefact(q: GetArtefact) -> dict[str, Any]:
        """One material as a file (html, svg, docx, srt, json)."""
        return await queries().artefact(q)

    @rpc.query("honor_roll", GetHonorRoll)
    async def honor_roll(q: GetHonorRoll) -> dict[str, Any]:
        """The honor roll of a round (the latest by default): its winners, revoked ones left out."""
        return await queries().honor_roll(q)

    @rpc.query("report", GetReport)
    async def report(q: GetReport) -> dict[str, Any]:
        """Statistics of a round or a year, as JSON, CSV or an HTML page with charts."""
        return await queries().report(q)

    @rpc.query("report_chart", GetReportChart)
    async def report_chart(q: GetReportChart) -> dict[str, Any]:
        """One chart of a report as SVG or PNG (base64)."""
        return await queries().report_chart(q)

    scrub.install(runtime)  # projections forget an erased person (shared/scrub.py)
    return runtime


runtime = build_runtime()
app = runtime.app
