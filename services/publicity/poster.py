"""The honor roll as a picture: a PNG of 1080 × 1920 for phone screens and WeChat groups, and
the same design on A3 (297 × 420 mm, a 150 dpi PDF) for print.

`poster_plan` is pure: it lays the poster out in design units (the width is always 1080) for
a given height, fitting every winner's card into the page — the deeds' type gets smaller
before any text is cut, and lines break by the Chinese rules (linebreak.py). `draw` paints a
plan with Pillow and a CJK font; text is drawn as the characters it is, never interpreted.
A winner's photo fills its frame (cropped to fill); without one, a placeholder names the photo
wanted.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont, ImageOps

from services.publicity.linebreak import break_lines, text_width

DESIGN_W = 1080
PHONE = (1080, 1920)
A3_MM = (297, 420)
A3_DPI = 150
A3_PX = (round(A3_MM[0] / 25.4 * A3_DPI), round(A3_MM[1] / 25.4 * A3_DPI))  # 1754 × 2480

RED, GOLD, CREAM, WHITE = "#b71c1c", "#ffd54f", "#fff8e7", "#ffffff"
INK, GREY, ROSE, LINE = "#222222", "#555555", "#fdecea", "#e0b0b0"


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    fill: str
    outline: str | None = None
    radius: float = 0


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # top of the first line
    size: float
    lines: tuple[str, ...]
    color: str
    bold: bool = False
    align: Literal["left", "centre", "right"] = "left"
    line_height: float = 1.4


@dataclass(frozen=True)
class PhotoFrame:
    nomination_id: str
    x: float
    y: float
    w: float
    h: float
    placeholder: Text


@dataclass(frozen=True)
class PosterPlan:
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    photos: list[PhotoFrame] = field(default_factory=list)

    def all_text(self) -> str:
        parts = [*self.texts, *(p.placeholder for p in self.photos)]
        return "\n".join(line for t in parts for line in t.lines)


@dataclass(frozen=True)
class PosterEntry:
    nomination_id: str
    category_zh: str
    name: str
    unit_line: str
    text: str
    photo_slot: str


@dataclass(frozen=True)
class PosterContent:
    subtitle: str
    lead: str
    entries: tuple[PosterEntry, ...]
    closing: str
    signature: str


def _lines(text: str, width: float, size: float) -> tuple[str, ...]:
    return tuple(break_lines(text, width / size))


def _block_height(lines: tuple[str, ...], size: float, line_height: float = 1.4) -> float:
    return len(lines) * size * line_height


def _fit(text: str, width: float, height: float, sizes: range) -> tuple[float, tuple[str, ...]]:
    """The largest size in `sizes` at which `text` fits the box; at the smallest, as many
    lines as fit, the last ending in an ellipsis (only when even that is too long)."""
    for size in sizes:
        lines = _lines(text, width, size)
        if _block_height(lines, size) <= height:
            return size, lines
    size = sizes[-1]
    lines = _lines(text, width, size)
    keep = max(1, int(height // (size * 1.4)))
    if len(lines) > keep:
        last = lines[keep - 1]
        while last and text_width(last + "…") * size > width:
            last = last[:-1]
        lines = (*lines[: keep - 1], last + "…")
    return size, lines


def poster_plan(content: PosterContent, height: int) -> PosterPlan:
    """The layout, in design units (1080 wide), for a page `height` units tall."""
    w, m = DESIGN_W, 48
    plan = PosterPlan(DESIGN_W, height)
    header = round(height * 0.15)
    plan.boxes.append(Box(0, 0, w, height, CREAM))
    plan.boxes.append(Box(0, 0, w, header, RED))
    title_size = min(110, header * 0.42)
    plan.texts.append(
        Text(w / 2, header * 0.12, title_size, ("光荣榜",), GOLD, True, "centre", 1.2)
    )
    sub_size = min(40, header * 0.15)
    plan.texts.append(
        Text(
            w / 2,
            header * 0.12 + title_size * 1.3,
            sub_size,
            _lines(content.subtitle, w - 2 * m, sub_size),
            WHITE,
            align="centre",
            line_height=1.3,
        )
    )
    y: float = header + 28
    lead = _lines(content.lead, w - 2 * m, 28)
    plan.texts.append(Text(m, y, 28, lead, INK))
    y += _block_height(lead, 28) + 20

    closing = _lines(content.closing, w - 2 * m, 26)
    footer = _block_height(closing, 26) + 26 * 1.4 + 48
    plan.texts.append(Text(m, height - footer, 26, closing, INK))
    plan.texts.append(
        Text(w - m, height - 48 - 26 * 1.4, 26, (content.signature,), GREY, align="right")
    )

    n = max(1, len(content.entries))
    gap = 20
    card_h = (height - footer - 20 - y - gap * (n - 1)) / n
    for entry in content.entries:
        plan.boxes.append(Box(m, y, w - 2 * m, card_h, WHITE, LINE, 16))
        pad = min(24, card_h * 0.08)
        photo_h = card_h - 2 * pad
        photo_w = min(photo_h * 0.75, 220)
        px, py = m + pad, y + pad
        slot = _lines(entry.photo_slot or "照片", photo_w - 16, 18)[:4]
        plan.photos.append(
            PhotoFrame(
                entry.nomination_id,
                px,
                py,
                photo_w,
                photo_h,
                Text(
                    px + photo_w / 2,
                    py + photo_h / 2 - 30,
                    18,
                    ("照片", *slot),
                    RED,
                    align="centre",
                ),
            )
        )
        tx = px + photo_w + 28
        tw = w - m - pad - tx - 8
        top = y + pad
        label = min(32, card_h * 0.11)
        name = min(44, card_h * 0.15)
        plan.texts.append(Text(tx, top, label, (entry.category_zh,), RED, True, line_height=1.25))
        top += label * 1.25
        plan.texts.append(Text(tx, top, name, (entry.name,), INK, True, line_height=1.25))
        top += name * 1.25
        unit_size = min(26, card_h * 0.09)
        unit = _lines(entry.unit_line, tw, unit_size)
        plan.texts.append(Text(tx, top, unit_size, unit, GREY, line_height=1.3))
        top += len(unit) * unit_size * 1.3 + 6
        size, deeds = _fit(entry.text, tw, y + card_h - pad - top, range(26, 15, -1))
        plan.texts.append(Text(tx, top, size, deeds, INK))
        y += card_h + gap
    return plan


# --- Painting ------------------------------------------------------------------------------


def draw(
    plan: PosterPlan, size: tuple[int, int], font: Path, photos: Mapping[str, bytes]
) -> Image.Image:
    """The plan painted at `size` pixels (its width scaled to size[0])."""
    scale = size[0] / plan.width
    image = Image.new("RGB", size, CREAM)
    pen = ImageDraw.Draw(image)
    fonts: dict[int, ImageFont.FreeTypeFont] = {}

    def font_at(points: float) -> ImageFont.FreeTypeFont:
        px = max(6, round(points * scale))
        if px not in fonts:
            fonts[px] = ImageFont.truetype(str(font), px)
        return fonts[px]

    def s(v: float) -> int:
        return round(v * scale)

    for box in plan.boxes:
        shape = (s(box.x), s(box.y), s(box.x + box.w), s(box.y + box.h))
        pen.rounded_rectangle(shape, s(box.radius), fill=box.fill, outline=box.outline, width=2)

    def write(text: Text) -> None:
        face = font_at(text.size)
        stroke = max(1, s(text.size / 28)) if text.bold else 0
        for i, line in enumerate(text.lines):
            y = s(text.y + i * text.size * text.line_height)
            anchor = {"left": "la", "centre": "ma", "right": "ra"}[text.align]
            pen.text((s(text.x), y), line, font=face, fill=text.color, anchor=anchor,
                     stroke_width=stroke, stroke_fill=text.color)  # fmt: skip

    for frame in plan.photos:
        shape = (s(frame.x), s(frame.y), s(frame.x + frame.w), s(frame.y + frame.h))
        data = photos.get(frame.nomination_id)
        if data:
            with Image.open(io.BytesIO(data)) as photo:
                fitted = ImageOps.fit(
                    photo.convert("RGB"), (shape[2] - shape[0], shape[3] - shape[1])
                )
            image.paste(fitted, shape[:2])
        else:
            pen.rectangle(shape, fill=ROSE, outline=RED, width=2)
            write(frame.placeholder)
    for text in plan.texts:
        write(text)
    return image


def render_png(content: PosterContent, font: Path, photos: Mapping[str, bytes]) -> bytes:
    """The phone poster: 1080 × 1920 PNG."""
    image = draw(poster_plan(content, PHONE[1]), PHONE, font, photos)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def render_a3_pdf(content: PosterContent, font: Path, photos: Mapping[str, bytes]) -> bytes:
    """The print poster: one A3 page, the design at 150 dpi."""
    height = round(A3_PX[1] * DESIGN_W / A3_PX[0])
    image = draw(poster_plan(content, height), A3_PX, font, photos)
    buffer = io.BytesIO()
    image.save(buffer, "PDF", resolution=A3_DPI, title="光荣榜", author="")
    return buffer.getvalue()
