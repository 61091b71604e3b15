"""The meeting video (月度作业计划会) rendered from the approved storyboard: an MP4 draft,
1920 × 1080 H.264, one picture per shot of the plan (`rendering.shots`) — the opening title,
one segment per winner with photo, flower, name and unit, the closing card — with the .srt of
the same plan burned in and also carried as a subtitle track.

Pictures are drawn by Pillow (text as the characters it is, never markup); the ffmpeg binary of
the `imageio-ffmpeg` wheel (libx264, libass) encodes them. `render_mp4` reports its progress
(0.0–1.0) as ffmpeg goes; it blocks, so the service runs it in a worker thread.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageDraw, ImageFont, ImageOps

from services.publicity.linebreak import break_lines
from services.publicity.rendering import RenderSettings, Shot, View, render_srt, shots

SIZE = (1920, 1080)
SUBTITLE_BAND = 200  # px at the foot kept clear of the picture's own text
RED, GOLD, CREAM, WHITE = "#b71c1c", "#ffd54f", "#fff8e7", "#ffffff"
INK, GREY, ROSE = "#222222", "#555555", "#fdecea"
PHOTO_BOX = (140, 140, 140 + 560, 140 + 700)  # left, top, right, bottom (a winner's photo)
TEXT_LEFT = 780


@dataclass(frozen=True)
class Slide:
    shot: Shot
    image: Image.Image


def ffmpeg() -> str:
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def _lines(
    pen: ImageDraw.ImageDraw,
    xy: tuple[int, int],
    lines: list[str],
    font: ImageFont.FreeTypeFont,
    fill: str,
    *,
    anchor: str = "la",
    spacing: float = 1.35,
    bold: bool = False,
) -> int:
    """Draw lines from `xy` down; return the y below the last."""
    x, y = xy
    size = font.size
    for line in lines:
        pen.text((x, y), line, font=font, fill=fill, anchor=anchor,
                 stroke_width=2 if bold else 0, stroke_fill=fill)  # fmt: skip
        y += round(size * spacing)
    return y


def winner_slide(shot: Shot, view: View, font: Path, photo: bytes | None) -> Image.Image:
    entry = next(e for e in view.entries if e.nomination_id == shot.nomination_id)
    image = Image.new("RGB", SIZE, CREAM)
    pen = ImageDraw.Draw(image)
    pen.rectangle((0, 0, SIZE[0], 24), fill=RED)
    left, top, right, bottom = PHOTO_BOX
    if photo:
        with Image.open(io.BytesIO(photo)) as source:
            fitted = ImageOps.fit(source.convert("RGB"), (right - left, bottom - top))
        image.paste(fitted, (left, top))
    else:
        pen.rectangle(PHOTO_BOX, fill=ROSE, outline=RED, width=4)
        slot = break_lines(entry.photo_slot or "照片", (right - left - 60) / 36)
        _lines(pen, ((left + right) // 2, top + 300), ["照片", *slot], _font(font, 36), RED,
               anchor="ma")  # fmt: skip
    width_em = (SIZE[0] - TEXT_LEFT - 120) / 56
    y = _lines(pen, (TEXT_LEFT, 170), [entry.category_zh], _font(font, 80), RED, bold=True)
    y = _lines(pen, (TEXT_LEFT, y + 20), [entry.name], _font(font, 120), INK, bold=True)
    unit = break_lines(f"{entry.unit_name}　{entry.position}", width_em)
    y = _lines(pen, (TEXT_LEFT, y + 30), unit, _font(font, 56), GREY)
    if entry.results:
        results = break_lines(
            "主要业绩：" + "；".join(entry.results), (SIZE[0] - TEXT_LEFT - 120) / 44
        )
        _lines(pen, (TEXT_LEFT, y + 30), results[:4], _font(font, 44), INK)
    return image


def card_slide(title: str, lines: list[str], footer: str, font: Path) -> Image.Image:
    image = Image.new("RGB", SIZE, RED)
    pen = ImageDraw.Draw(image)
    y = _lines(pen, (SIZE[0] // 2, 230), break_lines(title, 1600 / 110), _font(font, 110),
               GOLD, anchor="ma", bold=True)  # fmt: skip
    y = _lines(pen, (SIZE[0] // 2, y + 40), lines, _font(font, 60), WHITE, anchor="ma")
    _lines(pen, (SIZE[0] // 2, SIZE[1] - SUBTITLE_BAND - 90), [footer], _font(font, 48), WHITE,
           anchor="ma")  # fmt: skip
    return image


def slides(view: View, font: Path, photos: Mapping[str, bytes]) -> list[Slide]:
    out: list[Slide] = []
    for shot in shots(view):
        if shot.kind == "winner":
            image = winner_slide(shot, view, font, photos.get(shot.nomination_id))
        elif shot.kind == "opening":
            image = card_slide(
                shot.caption,
                [f"{view.organisation}工会"],
                f"月度作业计划会　{view.meeting_date_zh}",
                font,
            )
        else:
            image = card_slide(
                "红花献给你", break_lines(view.closing, 1600 / 60), view.organisation + "工会", font
            )
        out.append(Slide(shot, image))
    return out


def _font_family(font: Path) -> str:
    family = _font(font, 12).getname()[0]
    return family or "sans-serif"


def render_mp4(
    view: View,
    rs: RenderSettings,
    font: Path,
    photos: Mapping[str, bytes],
    out: Path,
    progress: Callable[[float], None] = lambda _: None,
    *,
    fps: int = 25,
    preset: str = "veryfast",
) -> Path:
    """Write the video to `out` (an .mp4); progress(0.0…1.0) is called as ffmpeg encodes."""
    with tempfile.TemporaryDirectory(prefix="flowers-video-") as tmp:
        work = Path(tmp)
        listing: list[str] = []
        made = slides(view, font, photos)
        for i, slide in enumerate(made):
            name = f"slide-{i:03d}.png"
            slide.image.save(work / name)
            listing += [
                f"file '{name}'",
                f"duration {(slide.shot.end_ms - slide.shot.start_ms) / 1000:.3f}",
            ]
        listing.append(f"file 'slide-{len(made) - 1:03d}.png'")  # the concat demuxer's last frame
        (work / "slides.txt").write_text("\n".join(listing) + "\n", encoding="utf-8")
        (work / "subtitles.srt").write_text(render_srt(view, rs), encoding="utf-8")
        style = f"FontName={_font_family(font)},FontSize=22,Outline=2,MarginV=24"
        burn = f"subtitles=subtitles.srt:fontsdir={font.parent}:force_style='{style}'"
        command = [
            ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "concat", "-safe", "0", "-i", "slides.txt",
            "-i", "subtitles.srt",
            "-filter_complex", f"[0:v]fps={fps},format=yuv420p,{burn}[v]",
            "-map", "[v]", "-map", "1:s",
            "-c:v", "libx264", "-preset", preset, "-tune", "stillimage", "-crf", "23",
            "-c:s", "mov_text", "-metadata:s:s:0", "language=chi",
            "-metadata", f"title={view.title}",
            "-t", f"{view.total_ms / 1000:.3f}",
            "-movflags", "+faststart",
            "-progress", "pipe:1", "-nostats",
            "video.mp4",
        ]  # fmt: skip
        total_us = view.total_ms * 1000
        with subprocess.Popen(
            command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                key, _, value = line.strip().partition("=")
                if key == "out_time_us" and value.isdigit() and total_us:
                    progress(min(0.99, int(value) / total_us))
            errors = proc.stderr.read() if proc.stderr else ""
            if proc.wait() != 0:
                raise RuntimeError(f"ffmpeg failed: {errors.strip()[-500:]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(work / "video.mp4", out)
    progress(1.0)
    return out
