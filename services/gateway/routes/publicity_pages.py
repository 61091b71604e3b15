"""Publicity pages (Party-Mass Work Department): a round's drafts, each draft rendered in a
sandboxed frame, edit / approve / mark published per channel, artefacts to download, and the
statistics reports with their charts. The auditor reads the drafts without the buttons;
the office and the leader read the reports."""

from __future__ import annotations

import base64
import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from services.gateway import access_log
from services.gateway import nomination as nom
from services.gateway import publicity as pub
from services.gateway.accounts import PUBLICITY
from services.gateway.auth import Principal
from services.gateway.deps import allow, page_csrf
from services.gateway.downloads import SANDBOX_CSP, download, labels
from services.gateway.evidence import clean_name, size_text
from services.gateway.home import PanelContext, home_panel
from services.gateway.i18n import locale_of
from services.gateway.problems import Problem
from services.gateway.routes.forms import FormState, form_action
from services.gateway.state import Services, gw_state, services
from services.gateway.web import flash_messages, nav_link, redirect, render
from shared.contracts.publicity_commands import (
    PHOTO_MAX_BYTES,
    ApproveMaterial,
    AttachWinnerPhoto,
    CorrectMaterial,
    EditMaterial,
    PublishMaterial,
    RenderVideo,
)
from shared.rpc import RemoteError

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_csrf)])

nav_link("/publicity/rounds", ("宣传材料", "Publicity"), pub.DRAFT_READERS, order=52)
nav_link("/publicity/reports", ("统计报告", "Reports"), pub.REPORT_READERS, order=53)
flash_messages(
    {
        "draft_edited": ("修改已保存，需重新审核。", "Saved; the draft needs approving again."),
        "draft_unchanged": ("没有改动。", "Nothing changed."),
        "draft_approved": ("已审核通过。", "The draft is approved."),
        "draft_published": ("已标记为发布。", "Marked as published."),
        "correction_drafted": (
            "已起草更正说明，请审核后发布；原材料保持不变。",
            "A correction notice is drafted; approve and publish it. The original stays as it was.",
        ),
        "video_requested": ("已开始生成视频，进度见下。", "The video is being rendered."),
        "photo_attached": (
            "照片已保存；光荣榜、海报、公众号文章和会议视频将使用这张照片。",
            "The photo is kept: the honor roll, poster, article and video show it.",
        ),
        "photo_unchanged": ("这张照片已在使用。", "This photo is already in use."),
    }
)

Readers = Annotated[Principal, Depends(allow(*pub.DRAFT_READERS))]
Writers = Annotated[Principal, Depends(allow(*pub.PUBLICITY_WRITERS))]
ReportReaders = Annotated[Principal, Depends(allow(*pub.REPORT_READERS))]
PhotoReaders = Annotated[Principal, Depends(allow(*pub.PHOTO_READERS))]
PhotoGivers = Annotated[Principal, Depends(allow(*pub.PHOTO_GIVERS))]

# A refusal of the service shown beside the field it concerns.
FIELD_OF_ERROR = {"stale_revision": "", "channel_not_allowed": "channel"}

# The preview frame: the service's own rendering, trusted but kept in a sandbox of its own
# (no script, no same-origin access, framed by our pages only).
PREVIEW_CSP = f"{SANDBOX_CSP}; frame-ancestors 'self'"


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    principal: Principal,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        template,
        {**labels(locale_of(request)), "can_write": PUBLICITY in principal.roles, **context},
        principal=principal,
        status_code=status_code,
    )


def _needs_action(item: dict[str, Any]) -> bool:
    if item["status"] == "draft":
        return True
    return bool(set(item["channels"]) - set(item["published_channels"]))


@home_panel(PUBLICITY, "publicity/_home_publicity.html", order=50)
async def publicity_home(ctx: PanelContext) -> dict[str, Any]:
    rounds = await pub.rounds(ctx.services)
    todo: list[dict[str, Any]] = []
    for r in rounds[:4]:
        items = [d for d in await pub.drafts(ctx.services, r["round_id"]) if _needs_action(d)]
        if items:
            todo.append({"round": r, "items": items})
    return {**labels(ctx.locale), "todo": todo, "rounds": rounds[:4]}


@router.get("/publicity")
async def publicity_index(principal: Readers) -> Response:
    return redirect("/publicity/rounds")


@router.get("/publicity/rounds")
async def rounds_page(request: Request, principal: Readers) -> Response:
    rounds = await pub.rounds(services(request, principal))
    return _page(request, "publicity/rounds.html", {"rounds": rounds}, principal)


@router.get("/publicity/rounds/{round_id}")
async def round_page(request: Request, round_id: str, principal: Readers) -> Response:
    svc = services(request, principal)
    drafts = await pub.drafts(svc, round_id)
    return _page(
        request, "publicity/round.html", {"round_id": round_id, "drafts": drafts}, principal
    )


async def _load_draft(
    request: Request, principal: Principal, material_id: uuid.UUID
) -> tuple[Services, dict[str, Any]]:
    """The services as `principal` reaches them, and one draft with its rendering and history
    (the draft page and the video page start from it)."""
    svc = services(request, principal)
    return svc, await pub.draft(svc, material_id)


async def _draft_page(
    request: Request,
    principal: Principal,
    material_id: uuid.UUID,
    form: FormState | None = None,
    status_code: int = 200,
) -> Response:
    _, item = await _load_draft(request, principal, material_id)
    names = await gw_state(request).accounts.display_names(
        [h["actor"] for h in item["history"] if h.get("actor")]
    )
    form = form or FormState()
    return _page(
        request,
        "publicity/draft.html",
        {
            "item": item,
            "names": names,
            "unpublished": [c for c in item["channels"] if c not in item["published_channels"]],
            **form.for_page(locale_of(request)),
        },
        principal,
        status_code,
    )


@router.get("/publicity/drafts/{material_id}")
async def draft_page(request: Request, material_id: uuid.UUID, principal: Readers) -> Response:
    return await _draft_page(request, principal, material_id)


@router.get("/publicity/drafts/{material_id}/preview")
async def draft_preview(request: Request, material_id: uuid.UUID, principal: Readers) -> Response:
    """The rendered draft alone, for the sandboxed frame of the draft page."""
    _, item = await _load_draft(request, principal, material_id)
    return HTMLResponse(
        item["html"],
        headers={
            "Content-Security-Policy": PREVIEW_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )


async def _record_material(
    request: Request, principal: Principal, what: str, material_id: uuid.UUID, filename: str
) -> None:
    svc = services(request, principal)
    round_id, subjects = await access_log.material_subjects(svc, material_id)
    await access_log.record(
        request,
        principal,
        what,
        round_id=round_id,
        subjects=subjects,
        material_id=str(material_id),
        file=filename,
    )


@router.get("/publicity/drafts/{material_id}/download/{fmt}")
async def draft_download(
    request: Request, material_id: uuid.UUID, fmt: str, principal: Readers
) -> Response:
    if fmt not in pub.ARTEFACT_FORMATS:
        raise Problem(404, "not_found", ("没有该格式。", "No such format."))
    try:
        file = await pub.artefact(services(request, principal), material_id, fmt)
    except RemoteError as exc:
        form = FormState()
        form.refused(exc, {})
        return await _draft_page(request, principal, material_id, form, status_code=422)
    await _record_material(request, principal, "publicity_draft", material_id, file.filename)
    return download(file.content, file.filename, file.media_type)


# --- Winners' photos (the office or publicity gives one per winner) -------------------------

PHOTO_ACCEPT = "image/jpeg,image/png"


async def _photos_page(
    request: Request,
    principal: Principal,
    round_id: str,
    form: FormState | None = None,
    status_code: int = 200,
) -> Response:
    roll = await pub.honor_roll(services(request, principal), round_id)
    return _page(
        request,
        "publicity/photos.html",
        {
            "round_id": round_id,
            "roll": roll,
            "can_give": principal.has(*pub.PHOTO_GIVERS),
            "accept": PHOTO_ACCEPT,
            "max_size": size_text(PHOTO_MAX_BYTES),
            **(form or FormState()).for_page(locale_of(request)),
        },
        principal,
        status_code,
    )


@router.get("/publicity/rounds/{round_id}/photos")
async def photos_page(request: Request, round_id: str, principal: PhotoReaders) -> Response:
    return await _photos_page(request, principal, round_id)


@router.post("/publicity/rounds/{round_id}/photos/{nomination_id}")
async def upload_photo(
    request: Request, round_id: str, nomination_id: uuid.UUID, principal: PhotoGivers
) -> Response:
    """One winner's photo: at most PHOTO_MAX_BYTES here; its kind (JPEG or PNG, by content)
    and its resizing are the service's."""
    form = await request.form()
    state = FormState()
    key = f"photo:{nomination_id}"
    upload = form.get("photo")
    data = b""
    if not isinstance(upload, UploadFile) or not upload.filename:
        state.errors[key] = ("请选择一张照片（JPEG 或 PNG）。", "Choose a photo (JPEG or PNG).")
    else:
        name = clean_name(upload.filename)
        data = await upload.read(PHOTO_MAX_BYTES + 1)
        if len(data) > PHOTO_MAX_BYTES:
            limit = size_text(PHOTO_MAX_BYTES)
            state.errors[key] = (
                f"照片“{name}”超过上限 {limit}，请压缩后再上传。",
                f"“{name}” is over the {limit} limit.",
            )
        elif not data:
            state.errors[key] = (f"照片“{name}”是空文件。", f"“{name}” is empty.")
    return await form_action(
        state,
        lambda: services(request, principal).command(
            pub.SERVICE,
            "attach_photo",
            AttachWinnerPhoto,
            round_id=round_id,
            nomination_id=nomination_id,
            photo=base64.b64encode(data).decode(),
        ),
        render=partial(_photos_page, request, principal, round_id),
        success_url=f"/publicity/rounds/{round_id}/photos",
        message=lambda reply: "photo_attached" if reply.get("events") else "photo_unchanged",
        field_of={"photo_refused": key, "winner_revoked": key},
    )


# --- The meeting video (rendered in the background by the service) --------------------------


async def _video_page(
    request: Request,
    principal: Principal,
    material_id: uuid.UUID,
    form: FormState | None = None,
    status_code: int = 200,
) -> Response:
    svc, item = await _load_draft(request, principal, material_id)
    if item["kind"] != "storyboard":
        raise Problem(
            404, "not_found", ("只有会议短视频脚本有视频。", "Only a storyboard has a video.")
        )
    job = await pub.video(svc, material_id)
    form = form or FormState()
    response = _page(
        request,
        "publicity/video.html",
        {
            "item": item,
            "job": job,
            "percent": round(100 * float(job.get("progress") or 0)),
            "job_label": pub.VIDEO_STATUS_LABELS[job["status"]],
            **form.for_page(locale_of(request)),
        },
        principal,
        status_code,
    )
    if job["status"] in ("queued", "rendering"):
        response.headers["Refresh"] = "3"  # the progress, read again every 3 s
    return response


@router.get("/publicity/drafts/{material_id}/video")
async def video_page(request: Request, material_id: uuid.UUID, principal: Readers) -> Response:
    return await _video_page(request, principal, material_id)


@router.post("/publicity/drafts/{material_id}/video")
async def render_video(request: Request, material_id: uuid.UUID, principal: Writers) -> Response:
    await request.form()
    return await form_action(
        FormState(),
        lambda: services(request, principal).command(
            pub.SERVICE, "render_video", RenderVideo, material_id=material_id
        ),
        render=partial(_video_page, request, principal, material_id),
        success_url=f"/publicity/drafts/{material_id}/video",
        message="video_requested",
        refused_status=409,
    )


@router.get("/publicity/drafts/{material_id}/video.mp4")
async def video_download(request: Request, material_id: uuid.UUID, principal: Readers) -> Response:
    file = await pub.video_file(services(request, principal), material_id)
    await _record_material(request, principal, "publicity_video", material_id, file.filename)
    return download(file.content, file.filename, file.media_type)


@router.post("/publicity/drafts/{material_id}/correct")
async def correct_draft(request: Request, material_id: uuid.UUID, principal: Writers) -> Response:
    """Draft a correction notice of a published material (the original stays as it was)."""
    form = await request.form()
    state = FormState()
    text = state.required(
        form, "correction", ("请写明需要更正的内容。", "Say what is corrected."), 5000
    )
    return await form_action(
        state,
        lambda: services(request, principal).command(
            pub.SERVICE, "correct", CorrectMaterial, material_id=material_id, correction=text
        ),
        render=partial(_draft_page, request, principal, material_id),
        success_url=lambda reply: f"/publicity/drafts/{reply['correction_id']}",
        message="correction_drafted",
        refused_status=409,
    )


@router.post("/publicity/drafts/{material_id}/approve")
async def approve_draft(request: Request, material_id: uuid.UUID, principal: Writers) -> Response:
    form = await request.form()
    state = FormState()
    revision = _int(state.text(form, "expected_revision", 10))
    return await form_action(
        state,
        lambda: services(request, principal).command(
            pub.SERVICE,
            "approve",
            ApproveMaterial,
            material_id=material_id,
            expected_revision=revision,
        ),
        render=partial(_draft_page, request, principal, material_id),
        success_url=f"/publicity/drafts/{material_id}",
        message="draft_approved",
        refused_status=409,
    )


@router.post("/publicity/drafts/{material_id}/publish")
async def publish_draft(request: Request, material_id: uuid.UUID, principal: Writers) -> Response:
    form = await request.form()
    state = FormState()
    channel = state.required(form, "channel", ("请选择发布渠道。", "Choose a channel."), 40)
    if channel and not pub.is_channel(channel):
        state.errors["channel"] = ("请选择发布渠道。", "Choose a channel.")
    return await form_action(
        state,
        lambda: services(request, principal).command(
            pub.SERVICE, "publish", PublishMaterial, material_id=material_id, channel=channel
        ),
        render=partial(_draft_page, request, principal, material_id),
        success_url=f"/publicity/drafts/{material_id}",
        message="draft_published",
        field_of=FIELD_OF_ERROR,
        refused_status=409,
    )


# --- Editing ----------------------------------------------------------------------------------


def _edit_values(item: dict[str, Any]) -> dict[str, Any]:
    content = item["content"]
    values: dict[str, Any] = {
        "expected_revision": str(item["revision"]),
        "title": content["title"],
        "lead": content["lead"],
        "closing": content["closing"],
    }
    for s in content["sections"]:
        nid = s["nomination_id"]
        for name in pub.SECTION_FIELDS[item["kind"]]:
            values[f"{name}:{nid}"] = str(s.get(name, ""))
    return values


async def _edit_page(
    request: Request,
    principal: Principal,
    item: dict[str, Any],
    form: FormState,
    status_code: int = 200,
) -> Response:
    settings = gw_state(request).settings
    winners = {w["nomination_id"]: w for w in item["winners"]}
    return _page(
        request,
        "publicity/edit.html",
        {
            "item": item,
            "winners": winners,
            "fields": pub.SECTION_FIELDS[item["kind"]],
            "caption_max": settings.publicity_caption_max_chars,
            "duration_min": settings.publicity_segment_min_s,
            "duration_max": settings.publicity_segment_max_s,
            **form.for_page(locale_of(request)),
        },
        principal,
        status_code,
    )


async def _editable(svc: Services, material_id: uuid.UUID) -> dict[str, Any]:
    item = await pub.draft(svc, material_id)
    if item["status"] == "published":
        raise Problem(
            409,
            "already_published",
            (
                "该版本已发布，不能再修改；如需更正请发布更正说明。",
                "This revision is published and cannot change; publish a correction.",
            ),
        )
    return item


@router.get("/publicity/drafts/{material_id}/edit")
async def edit_draft_form(request: Request, material_id: uuid.UUID, principal: Writers) -> Response:
    item = await _editable(services(request, principal), material_id)
    return await _edit_page(request, principal, item, FormState(values=_edit_values(item)))


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


@router.post("/publicity/drafts/{material_id}/edit")
async def edit_draft(request: Request, material_id: uuid.UUID, principal: Writers) -> Response:
    svc = services(request, principal)
    item = await _editable(svc, material_id)
    settings = gw_state(request).settings
    form = await request.form()
    state = FormState()
    revision = _int(state.text(form, "expected_revision", 10))
    title = state.required(form, "title", ("请填写标题。", "Enter a title."), 200)
    lead = state.required(form, "lead", ("请填写导语。", "Enter the lead paragraph."), 5000)
    closing = state.required(
        form, "closing", ("请填写结束语。", "Enter the closing paragraph."), 5000
    )
    fields = pub.SECTION_FIELDS[item["kind"]]
    sections: list[dict[str, Any]] = []
    for s in item["content"]["sections"]:
        nid = s["nomination_id"]
        edit: dict[str, Any] = {"nomination_id": nid}
        if "text" in fields:
            edit["text"] = state.required(
                form, f"text:{nid}", ("请填写事迹文字。", "Enter the text."), 20_000
            )
        if "caption" in fields:
            key = f"caption:{nid}"
            caption = state.required(form, key, ("请填写字幕。", "Enter the caption."), 500)
            limit = settings.publicity_caption_max_chars
            if len(caption) > limit:
                state.errors[key] = (
                    f"字幕最多 {limit} 个字（现为 {len(caption)} 个字）。",
                    f"A caption has at most {limit} characters (this one has {len(caption)}).",
                )
            edit["caption"] = caption
        if "duration_s" in fields:
            key = f"duration_s:{nid}"
            raw = state.required(form, key, ("请填写时长（秒）。", "Enter the duration."), 10)
            low, high = settings.publicity_segment_min_s, settings.publicity_segment_max_s
            seconds = _int(raw)
            if raw and (seconds is None or not low <= seconds <= high):
                state.errors[key] = (
                    f"时长应为 {low} 至 {high} 秒的整数。",
                    f"A whole number of seconds from {low} to {high}.",
                )
            edit["duration_s"] = seconds
        if "photo_slot" in fields:
            edit["photo_slot"] = state.text(form, f"photo_slot:{nid}", 500)
        sections.append(edit)
    return await form_action(
        state,
        lambda: svc.command(
            pub.SERVICE,
            "edit",
            EditMaterial,
            material_id=material_id,
            expected_revision=revision,
            title=title,
            lead=lead,
            closing=closing,
            sections=sections,
        ),
        render=partial(_edit_page, request, principal, item),
        success_url=f"/publicity/drafts/{material_id}",
        message=lambda reply: "draft_edited" if reply.get("events") else "draft_unchanged",
    )


# --- Reports ----------------------------------------------------------------------------------


def _scope(scope: str, round_id: str | None, year: str | None) -> tuple[str, str | None, int]:
    chosen_year = int(year) if year and year.isdigit() and 1000 <= int(year) <= 9999 else 0
    return ("year" if scope == "year" else "round"), (round_id or None), chosen_year


@router.get("/publicity/reports")
async def reports_page(
    request: Request,
    principal: ReportReaders,
    scope: str = "round",
    round_id: str | None = None,
    year: str | None = None,
) -> Response:
    svc = services(request, principal)
    scope, round_id, chosen_year = _scope(scope, round_id, year)
    published = [r["round_id"] for r in await pub.rounds(svc)]  # rounds with a result
    every = {r["round_id"] for r in await nom.rounds(svc)} | set(published)
    round_id = round_id or (published[0] if published else max(every, default=None))
    rounds = sorted(every | ({round_id} if round_id else set()), reverse=True)
    chosen_year = chosen_year or gw_state(request).clock.now().year
    years = sorted({int(r[:4]) for r in rounds if r[:4].isdigit()} | {chosen_year}, reverse=True)
    report: dict[str, Any] | None = None
    problem: str | None = None
    if scope == "year" or round_id:
        try:
            report = await pub.report(svc, scope, round_id, chosen_year)
        except RemoteError as exc:
            form = FormState()
            form.refused(exc, {})
            problem = form.for_page(locale_of(request))["problem"]
    query = (
        f"scope=year&year={chosen_year}" if scope == "year" else f"scope=round&round_id={round_id}"
    )
    return _page(
        request,
        "publicity/reports.html",
        {
            "scope": scope,
            "round_id": round_id,
            "year": chosen_year,
            "rounds": rounds,
            "years": years,
            "report": report,
            "problem": problem,
            "query": query,
            "charts": pub.YEAR_CHARTS if scope == "year" else pub.ROUND_CHARTS,
        },
        principal,
    )


@router.get("/publicity/reports/chart")
async def report_chart(
    request: Request,
    principal: ReportReaders,
    chart: str,
    scope: str = "round",
    round_id: str | None = None,
    year: str | None = None,
    size: str = "wide",
) -> Response:
    """One chart as SVG; `size=narrow` is the phone's layout (the page picks it under 40rem)."""
    if chart not in pub.CHART_LABELS:
        raise Problem(404, "not_found", ("没有该图表。", "No such chart."))
    scope, round_id, chosen_year = _scope(scope, round_id, year)
    file = await pub.report_chart(
        services(request, principal),
        scope,
        round_id,
        chosen_year or None,
        chart,
        "svg",
        "narrow" if size == "narrow" else "wide",
    )
    return download(file.content, file.filename, file.media_type, inline=True)


@router.get("/publicity/reports/download")
async def report_download(
    request: Request,
    principal: ReportReaders,
    scope: str = "round",
    round_id: str | None = None,
    year: str | None = None,
    format: Annotated[str, Query(pattern="^(csv|xlsx|docx|html)$")] = "csv",
) -> Response:
    scope, round_id, chosen_year = _scope(scope, round_id, year)
    svc = services(request, principal)
    file = await pub.report_file(svc, scope, round_id, chosen_year or None, format)
    await access_log.record(
        request,
        principal,
        "publicity_report",
        round_id=round_id if scope == "round" else str(chosen_year or "") or None,
        subjects=await access_log.report_subjects(svc, round_id if scope == "round" else None),
        file=file.filename,
    )
    return download(file.content, file.filename, file.media_type)
