"""The gateway's side of the publicity service: drafts, their workflow, artefacts, the honor
roll and the statistics reports.

The route checks the role; the publicity service checks again that every edit, approval and
publication comes from the publicity role (`not_publicity`). Its commands are the contract's
(shared/contracts/publicity_commands.py), built by the routes.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from services.gateway.accounts import AUDITOR, LEADER, OFFICE, PUBLICITY
from services.gateway.auth import Principal
from services.gateway.i18n import Text
from services.gateway.problems import Problem
from services.gateway.state import Services
from shared.contracts.publicity import CHANNELS

SERVICE = "publicity"

# Who may do what.
PUBLICITY_WRITERS = (PUBLICITY,)  # edit, approve, mark published
DRAFT_READERS = (PUBLICITY, AUDITOR)
REPORT_READERS = (PUBLICITY, OFFICE, LEADER, AUDITOR)
HONOR_ROLL_READERS = ("*",)  # every signed-in user
PHOTO_GIVERS = (OFFICE, PUBLICITY)  # upload a winner's photo
PHOTO_READERS = (OFFICE, PUBLICITY, AUDITOR)  # the photos page

ArtefactFormat = Literal["html", "svg", "png", "pdf", "zip", "docx", "srt", "json"]
ARTEFACT_FORMATS: tuple[str, ...] = ("html", "svg", "png", "pdf", "zip", "docx", "srt", "json")
Chart = Literal[
    "nominations_by_unit",
    "nominations_by_round",
    "audit_by_category",
    "score_spread",
    "participation",
]
ROUND_CHARTS: tuple[str, ...] = ("nominations_by_unit", "audit_by_category", "score_spread")
YEAR_CHARTS: tuple[str, ...] = (
    "nominations_by_round",
    "nominations_by_unit",
    "audit_by_category",
    "score_spread",
    "participation",
)

KIND_LABELS: dict[str, Text] = {
    "honor_roll": ("光荣榜", "Honor roll"),
    "bulletin": ("简报", "Bulletin article"),
    "official_account": ("公众号文章", "Official-account article"),
    "storyboard": ("会议短视频脚本", "Meeting video storyboard"),
    "correction": ("更正说明", "Correction notice"),
}
CHANNEL_LABELS: dict[str, Text] = {
    "bulletin": ("公司简报", "Company bulletin"),
    "official_account": ("微信公众号", "WeChat official account"),
    "meeting": ("月度作业计划会", "Monthly operations-planning meeting"),
}
STATUS_LABELS: dict[str, Text] = {
    "draft": ("待审核", "Draft"),
    "approved": ("已审核", "Approved"),
    "published": ("已发布", "Published"),
}
FORMAT_LABELS: dict[str, Text] = {
    "html": ("网页", "Web page"),
    "svg": ("海报（SVG）", "Poster (SVG)"),
    "png": ("海报（手机图片 PNG）", "Poster for phones (PNG)"),
    "pdf": ("海报（A3 打印 PDF）", "Poster for print (A3 PDF)"),
    "zip": ("导出包（正文 HTML + 标题 + 封面图）", "Package (HTML, title, cover image)"),
    "docx": ("Word 文档", "Word document"),
    "srt": ("字幕（SRT）", "Subtitles (SRT)"),
    "json": ("分镜数据（JSON）", "Storyboard data (JSON)"),
}
CHART_LABELS: dict[str, Text] = {
    "nominations_by_unit": ("各单位提名数", "Nominations by unit"),
    "nominations_by_round": ("各轮次提名数", "Nominations by round"),
    "audit_by_category": ("各奖项审核情况", "Audit by category"),
    "score_spread": ("评分分布", "Score spread"),
    "participation": ("各单位参与情况", "Participation by unit"),
}

# Which section fields a kind of material has (the service refuses the others).
SECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "honor_roll": ("text", "photo_slot"),
    "bulletin": ("text",),
    "official_account": ("text", "photo_slot"),
    "storyboard": ("text", "caption", "duration_s", "photo_slot"),
    "correction": ("text",),
}


@dataclass(frozen=True)
class File:
    filename: str
    media_type: str
    content: bytes


def file_of(data: dict[str, Any]) -> File:
    """An artefact or report as the service sent it (base64 or UTF-8 text)."""
    raw = data["content"]
    content = base64.b64decode(raw) if data.get("encoding") == "base64" else str(raw).encode()
    return File(str(data["filename"]), str(data["media_type"]), content)


# --- Queries ----------------------------------------------------------------------------------


async def rounds(svc: Services) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.query(SERVICE, "rounds", {})
    return result


async def drafts(svc: Services, round_id: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.query(SERVICE, "drafts", {"round_id": round_id})
    return result


async def draft(svc: Services, material_id: uuid.UUID) -> dict[str, Any]:
    result: dict[str, Any] = await svc.query(SERVICE, "draft", {"material_id": str(material_id)})
    return result


async def artefact(svc: Services, material_id: uuid.UUID, fmt: str) -> File:
    data: dict[str, Any] = await svc.query(
        SERVICE, "artefact", {"material_id": str(material_id), "format": fmt}
    )
    return file_of(data)


async def video(svc: Services, material_id: uuid.UUID) -> dict[str, Any]:
    """The meeting video's job: status (none, queued, rendering, done, failed) and progress."""
    result: dict[str, Any] = await svc.query(SERVICE, "video", {"material_id": str(material_id)})
    return result


async def video_file(svc: Services, material_id: uuid.UUID) -> File:
    data: dict[str, Any] = await svc.query(
        SERVICE, "video", {"material_id": str(material_id), "content": True}
    )
    if "content" not in data:
        raise Problem(404, "not_found", ("视频尚未生成。", "The video is not rendered yet."))
    return file_of(data)


VIDEO_STATUS_LABELS: dict[str, Text] = {
    "none": ("尚未生成", "Not rendered"),
    "queued": ("排队中", "Queued"),
    "rendering": ("生成中", "Rendering"),
    "done": ("已生成", "Rendered"),
    "failed": ("生成失败", "Failed"),
}


async def honor_roll(svc: Services, round_id: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await svc.query(SERVICE, "honor_roll", {"round_id": round_id})
    return result


async def winner_photo(svc: Services, round_id: str, nomination_id: uuid.UUID) -> File:
    """A featured winner's photo (JPEG, resized by the service)."""
    data: dict[str, Any] = await svc.query(
        SERVICE, "winner_photo", {"round_id": round_id, "nomination_id": str(nomination_id)}
    )
    return file_of(data)


def report_scope(scope: str, round_id: str | None, year: int | None) -> dict[str, Any]:
    if scope == "year":
        return {"scope": "year", "year": year}
    return {"scope": "round", "round_id": round_id}


async def report(
    svc: Services, scope: str, round_id: str | None, year: int | None
) -> dict[str, Any]:
    result: dict[str, Any] = await svc.query(
        SERVICE, "report", {**report_scope(scope, round_id, year), "format": "json"}
    )
    return result


async def report_file(
    svc: Services, scope: str, round_id: str | None, year: int | None, fmt: str
) -> File:
    data: dict[str, Any] = await svc.query(
        SERVICE, "report", {**report_scope(scope, round_id, year), "format": fmt}
    )
    return file_of(data)


async def report_chart(
    svc: Services,
    scope: str,
    round_id: str | None,
    year: int | None,
    chart: str,
    fmt: str,
    size: str = "wide",
) -> File:
    """One chart; `size` "narrow" is laid out for a phone's width."""
    data: dict[str, Any] = await svc.query(
        SERVICE,
        "report_chart",
        {**report_scope(scope, round_id, year), "chart": chart, "format": fmt, "size": size},
    )
    return file_of(data)


def public_view(roll: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """What everyone sees of an honor roll: its winners. Whose honour was revoked stays with
    publicity and the auditor (the correction notice is how the others learn of it)."""
    if principal.has(*DRAFT_READERS):
        return roll
    return {k: v for k, v in roll.items() if k != "revoked"}


def is_channel(value: str) -> bool:
    return value in CHANNELS
