"""The meeting video rendered in the background.

`request` queues a job for the approved storyboard's current revision in the `videos` table
(once: asking again returns the job as it stands; a failed job is queued again, and so is a
done one when a winner's photo was given after it started). Each
instance of the service runs `worker`, which claims one queued job at a time (SKIP LOCKED, so
two instances never render the same one), runs ffmpeg in a worker thread, writes its progress
to the table about once a second and keeps the MP4 there when done. A job whose renderer went
away (no progress for a minute) is claimed again. Any instance answers `status`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from services.publicity.errors import MaterialNotFound, NotAStoryboard, StoryboardNotApproved
from services.publicity.queries import PublicityQueries
from services.publicity.rendering import build_view, poster_font
from services.publicity.video import render_mp4
from shared.clock import Clock
from shared.settings import Settings

log = structlog.get_logger(__name__)

STALE = timedelta(minutes=1)  # a rendering job without progress this long is taken over


class VideoJobs:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    async def request(
        self, pool: asyncpg.Pool, material_id: uuid.UUID, actor: str
    ) -> dict[str, Any]:
        row = await pool.fetchrow("SELECT * FROM materials WHERE material_id = $1", material_id)
        if row is None:
            raise MaterialNotFound(material_id=material_id)
        if row["kind"] != "storyboard":
            raise NotAStoryboard()
        if row["status"] not in ("approved", "published"):
            raise StoryboardNotApproved()
        now = self.clock.now()
        await pool.execute(
            """
            INSERT INTO videos (material_id, revision, status, started_by, started_at, updated_at)
            VALUES ($1, $2, 'queued', $3, $4, $4)
            ON CONFLICT (material_id, revision) DO UPDATE
                SET status = 'queued', progress = 0, error = NULL, started_by = $3,
                    started_at = $4, updated_at = $4
                WHERE videos.status = 'failed'
                   OR (videos.status = 'done' AND EXISTS (
                       SELECT 1 FROM honor_roll h WHERE h.round_id = $5
                       AND h.photo_at > videos.started_at))
            """,
            material_id,
            row["revision"],
            actor,
            now,
            row["round_id"],
        )
        return await self.status(pool, material_id)

    async def worker(self, pool: asyncpg.Pool, stop: asyncio.Event) -> None:
        """Render queued jobs one at a time until `stop` is set."""
        while not stop.is_set():
            now = self.clock.now()
            job = await pool.fetchrow(
                """
                UPDATE videos SET status = 'rendering', progress = 0, updated_at = $1
                WHERE (material_id, revision) = (
                    SELECT material_id, revision FROM videos
                    WHERE status = 'queued' OR (status = 'rendering' AND updated_at < $2)
                    ORDER BY started_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING material_id, revision
                """,
                now,
                now - STALE,
            )
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                continue
            await self._render(pool, job["material_id"], job["revision"])

    async def _render(self, pool: asyncpg.Pool, material_id: uuid.UUID, revision: int) -> None:
        done = 0.0

        def progress(fraction: float) -> None:
            nonlocal done
            done = fraction

        async def record(
            status: str, error: str | None = None, content: bytes | None = None
        ) -> None:
            await pool.execute(
                """
                UPDATE videos SET status = $3, progress = $4, error = $5,
                       content = coalesce($6, content), updated_at = $7
                WHERE material_id = $1 AND revision = $2
                """,
                material_id,
                revision,
                status,
                done,
                error,
                content,
                self.clock.now(),
            )

        try:
            queries = PublicityQueries(pool, self.settings)
            row = await pool.fetchrow("SELECT * FROM materials WHERE material_id = $1", material_id)
            if row is None or row["revision"] != revision:
                await record("failed", "分镜脚本已修改，请重新生成视频")
                return
            rs = queries.render_settings
            view = build_view(await queries.facts(row["round_id"]), queries.doc(row), rs)
            pictures = await queries.photos(row["round_id"], row["kind"])
            with tempfile.TemporaryDirectory(prefix="flowers-mp4-") as tmp:
                out = Path(tmp) / "video.mp4"
                job = asyncio.create_task(
                    asyncio.to_thread(
                        render_mp4, view, rs, poster_font(rs), pictures, out, progress,
                        fps=self.settings.publicity_video_fps,
                    )
                )  # fmt: skip
                while not job.done():
                    await asyncio.wait({job}, timeout=1.0)
                    if not job.done():
                        await record("rendering")
                await job
                await record("done", content=out.read_bytes())
            log.info("video_rendered", material_id=str(material_id), revision=revision)
        except Exception as exc:  # shown on the page; the job may be requested again
            log.exception("video_failed", material_id=str(material_id), revision=revision)
            await record("failed", f"视频生成失败：{str(exc)[:300]}")

    async def status(
        self, pool: asyncpg.Pool, material_id: uuid.UUID, *, with_content: bool = False
    ) -> dict[str, Any]:
        """The video job of the storyboard's current revision ({"status": "none"} if none)."""
        row = await pool.fetchrow(
            """
            SELECT v.*, octet_length(v.content) AS size, m.revision AS current, m.round_id,
                   EXISTS (SELECT 1 FROM honor_roll h WHERE h.round_id = m.round_id
                           AND h.photo_at > v.started_at) AS photos_changed
            FROM materials m LEFT JOIN videos v
                 ON v.material_id = m.material_id AND v.revision = m.revision
            WHERE m.material_id = $1
            """,
            material_id,
        )
        if row is None:
            raise MaterialNotFound(material_id=material_id)
        if row["status"] is None:
            return {"material_id": str(material_id), "revision": row["current"], "status": "none"}
        out: dict[str, Any] = {
            "material_id": str(material_id),
            "revision": row["revision"],
            "status": row["status"],
            "progress": round(float(row["progress"]), 3),
            "error": row["error"],
            "size": row["size"],
            "started_by": row["started_by"],
            "started_at": row["started_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat(),
            # A photo given after this rendering started: the video may be rendered again.
            "photos_changed": bool(row["photos_changed"]),
        }
        if with_content and row["status"] == "done":
            out["filename"] = f"{row['round_id']}-meeting-video-r{row['revision']}.mp4"
            out["media_type"] = "video/mp4"
            out["encoding"] = "base64"
            out["content"] = base64.b64encode(row["content"]).decode()
        return out
