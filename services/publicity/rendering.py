"""A material's content rendered: HTML pages, the honor-roll SVG poster, .docx, .srt, JSON.

Everything a person typed (names, deeds, edits) is inserted by Jinja2 with autoescaping on,
or as plain text runs (.docx), so markup in it is shown, never interpreted. Subtitles
replace angle brackets with their full-width forms, because subtitle players interpret
a few HTML-like tags. Output depends only on its inputs: the same content renders to the
same bytes, which the golden tests rely on.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import docx
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.publicity.document import render_docx
from services.publicity.domain import date_zh, one_line, weekday_zh
from services.publicity.fonts import find_cjk_font
from services.publicity.linebreak import break_lines, text_width
from services.publicity.poster import PosterContent, PosterEntry, render_a3_pdf, render_png
from shared.clock import SHANGHAI
from shared.contracts.nomination import MeasurableResult
from shared.contracts.publicity import (
    KIND_LABELS_ZH,
    FeaturedWinner,
    MaterialContent,
    MaterialKind,
)
from shared.rounds import RoundPeriod
from shared.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"

Format = Literal["html", "svg", "png", "pdf", "docx", "srt", "json"]

FORMATS: dict[str, tuple[Format, ...]] = {
    "honor_roll": ("html", "svg", "png", "pdf"),  # png: phone poster; pdf: A3 poster
    "bulletin": ("html", "docx"),
    "official_account": ("html",),
    "storyboard": ("html", "srt", "json"),
    "correction": ("html", "docx"),
}
MEDIA_TYPES: dict[str, str] = {
    "html": "text/html; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "srt": "application/x-subrip; charset=utf-8",
    "json": "application/json",
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template: HTML and SVG alike
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def environment() -> Environment:
    return _env


# --- Inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderSettings:
    organisation: str = "后勤实业分公司"
    department: str = "党群工作部"
    title_card_s: int = 4
    subtitle_chars: int = 16
    bulletin_masthead: str = ""  # empty: the organisation's name + 工会简报
    bulletin_issue_offset: int = 0
    bulletin_report_to: str = "集团公司工会"
    bulletin_copy_to: str = "分公司党委、行政领导班子成员"
    bulletin_send_to: str = "各基层单位党支部、工会分会"
    font_file: str = ""  # a CJK font for pictures; empty: one fontconfig knows

    @property
    def masthead(self) -> str:
        return self.bulletin_masthead or f"{self.organisation}工会简报"

    def issue_zh(self, round_id: str) -> str:
        """The bulletin's issue number (期号), e.g. 2026年第3期: offset + the round's index."""
        period = RoundPeriod.parse(round_id)
        return f"{period.year}年第{self.bulletin_issue_offset + period.index}期"

    @classmethod
    def from_settings(cls, settings: Settings) -> RenderSettings:
        return cls(
            organisation=settings.publicity_organisation,
            department=settings.publicity_department,
            title_card_s=settings.publicity_title_card_s,
            subtitle_chars=settings.publicity_subtitle_chars,
            bulletin_masthead=settings.publicity_bulletin_masthead,
            bulletin_issue_offset=settings.publicity_bulletin_issue_offset,
            bulletin_report_to=settings.publicity_bulletin_report_to,
            bulletin_copy_to=settings.publicity_bulletin_copy_to,
            bulletin_send_to=settings.publicity_bulletin_send_to,
            font_file=settings.publicity_chart_font,
        )


@dataclass(frozen=True)
class RoundFacts:
    """What every material of a round draws on besides its own content."""

    round_id: str
    result_published_at: datetime
    meeting_date: date
    winners: Mapping[UUID, FeaturedWinner]


@dataclass(frozen=True)
class MaterialDoc:
    material_id: UUID
    kind: MaterialKind
    revision: int
    content: MaterialContent
    issued_at: datetime | None = None  # a correction's own date; else the result's


# --- The view the templates see -----------------------------------------------------------------


@dataclass(frozen=True)
class EntryView:
    nomination_id: str
    ordinal_zh: str
    category: str
    category_zh: str
    name: str
    unit_name: str
    position: str
    text: str
    paragraphs: list[str]
    results: list[str]
    caption: str
    duration_s: int
    photo_slot: str
    start: str = ""
    end: str = ""
    start_ms: int = 0
    end_ms: int = 0


@dataclass(frozen=True)
class View:
    round_id: str
    round_label: str
    kind: str
    kind_zh: str
    title: str
    lead: str
    closing: str
    organisation: str
    department: str
    issued_on: date
    issued_on_zh: str
    meeting_date: str
    meeting_date_zh: str
    meeting_weekday_zh: str
    entries: list[EntryView] = field(default_factory=list)
    total_duration: str = ""
    total_ms: int = 0


_DIGITS_ZH = "零一二三四五六七八九"


def ordinal_zh(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 35 → 三十五 (1–99)."""
    if not 1 <= n <= 99:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS_ZH[tens] + "十")
    return head + (_DIGITS_ZH[ones] if ones else "")


_UNITS_ZH = {"CNY": "元", "RMB": "元", "元": "元"}


def plain_number(value: Decimal) -> str:
    """120000 → 120000, 3.50 → 3.5: no exponent, no trailing zeros."""
    if value == value.to_integral_value():
        return format(value.quantize(Decimal(1)), "f")
    return format(value.normalize(), "f")


def amount_zh(value: Decimal, unit: str) -> str:
    """A quantity the way Chinese documents write it: money from 10,000 yuan in 万元 (from
    10^8 in 亿元), at most two decimals (3200000 → 320万元, 812000 → 81.2万元); other
    units as they are (3.5%)."""
    if _UNITS_ZH.get(unit) == "元":
        for scale, name in ((Decimal(100_000_000), "亿元"), (Decimal(10_000), "万元")):
            if abs(value) >= scale:
                return plain_number((value / scale).quantize(Decimal("0.01"))) + name
        return plain_number(value) + "元"
    return plain_number(value) + unit


def result_text(result: MeasurableResult) -> str:
    """E.g. 节约成本12万元 — one measured result, its amount written the Chinese way."""
    return f"{result.metric}{amount_zh(result.value, result.unit)}"


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.splitlines() if p.strip()]


def clock_text(ms: int, *, srt: bool = False) -> str:
    seconds, millis = divmod(ms, 1000)
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    if srt:
        return f"{hours:02d}:{mins:02d}:{secs:02d},{millis:03d}"
    return f"{minutes:02d}:{secs:02d}"


def build_view(facts: RoundFacts, doc: MaterialDoc, rs: RenderSettings) -> View:
    issued_on = (doc.issued_at or facts.result_published_at).astimezone(SHANGHAI).date()
    entries: list[EntryView] = []
    at_ms = 0
    for index, section in enumerate(doc.content.sections, start=1):
        winner = facts.winners.get(section.nomination_id)
        start_ms, end_ms = at_ms, at_ms + section.duration_s * 1000
        at_ms = end_ms
        entries.append(
            EntryView(
                nomination_id=str(section.nomination_id),
                ordinal_zh=ordinal_zh(index),
                category=winner.category.value if winner else "",
                category_zh=winner.category.label_zh if winner else "",
                name=winner.name if winner else "",
                unit_name=winner.unit_name if winner else "",
                position=winner.position if winner else "",
                text=section.text,
                paragraphs=paragraphs(section.text),
                results=[result_text(r) for r in winner.results] if winner else [],
                caption=section.caption,
                duration_s=section.duration_s,
                photo_slot=section.photo_slot,
                start=clock_text(start_ms),
                end=clock_text(end_ms),
                start_ms=start_ms,
                end_ms=end_ms,
            )
        )
    return View(
        round_id=facts.round_id,
        round_label=RoundPeriod.parse(facts.round_id).label_zh,
        kind=doc.kind,
        kind_zh=KIND_LABELS_ZH[doc.kind],
        title=doc.content.title,
        lead=doc.content.lead,
        closing=doc.content.closing,
        organisation=rs.organisation,
        department=rs.department,
        issued_on=issued_on,
        issued_on_zh=date_zh(issued_on),
        meeting_date=facts.meeting_date.isoformat(),
        meeting_date_zh=date_zh(facts.meeting_date),
        meeting_weekday_zh=weekday_zh(facts.meeting_date),
        entries=entries,
        total_duration=clock_text(at_ms),
        total_ms=at_ms,
    )


# --- HTML -----------------------------------------------------------------------------------


def render_html(view: View) -> str:
    return _env.get_template(f"{view.kind}.html.j2").render(v=view)


# --- The honor roll poster (SVG) ------------------------------------------------------------


def wrap(text: str, width_em: float, max_lines: int | None = None) -> list[str]:
    """Lines of at most `width_em` by the Chinese line-breaking rules (linebreak.py); the last
    kept line ends with an ellipsis if cut to `max_lines`."""
    lines = break_lines(one_line(text), width_em)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and text_width(last + "…") > width_em:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


@dataclass(frozen=True)
class PosterCard:
    y: int
    height: int
    category_zh: str
    name: str
    unit_line: str
    text_lines: list[str]
    photo_lines: list[str]


@dataclass(frozen=True)
class Poster:
    width: int
    height: int
    header_height: int
    margin: int
    subtitle: str
    lead_lines: list[str]
    lead_y: int
    lead_line_height: int
    cards: list[PosterCard]
    closing_lines: list[str]
    closing_y: int
    signature: str


def poster_layout(view: View) -> Poster:
    width, margin, header = 1080, 60, 240
    lead_lines = wrap(view.lead, (width - 2 * margin) / 26)
    lead_y, lead_lh = header + 60, 40
    y = lead_y + len(lead_lines) * lead_lh + 10
    cards: list[PosterCard] = []
    text_em = (width - 2 * margin - 270) / 24
    for entry in view.entries:
        text_lines = wrap(entry.text, text_em, max_lines=6)
        height = max(300, 208 + len(text_lines) * 34)
        cards.append(
            PosterCard(
                y=y,
                height=height,
                category_zh=entry.category_zh,
                name=entry.name,
                unit_line=f"{entry.unit_name}　{entry.position}",
                text_lines=text_lines,
                photo_lines=wrap(entry.photo_slot, 160 / 18, max_lines=3),
            )
        )
        y += height + 30
    closing_lines = wrap(view.closing, (width - 2 * margin) / 30)
    closing_y = y + 40
    height = closing_y + len(closing_lines) * 40 + 80
    return Poster(
        width=width,
        height=height,
        header_height=header,
        margin=margin,
        subtitle=f"{view.round_label}“五朵金花”",
        lead_lines=lead_lines,
        lead_y=lead_y,
        lead_line_height=lead_lh,
        cards=cards,
        closing_lines=closing_lines,
        closing_y=closing_y,
        signature=f"{view.organisation}工会　{view.issued_on_zh}",
    )


def render_svg(view: View) -> str:
    return _env.get_template("honor_roll.svg.j2").render(p=poster_layout(view))


# --- The honor roll poster as a picture (PNG for phones, A3 PDF for print): poster.py ------


def poster_content(view: View) -> PosterContent:
    return PosterContent(
        subtitle=f"{view.round_label}“五朵金花”",
        lead=view.lead,
        entries=tuple(
            PosterEntry(
                e.nomination_id,
                e.category_zh,
                e.name,
                f"{e.unit_name}　{e.position}",
                one_line(e.text),
                e.photo_slot,
            )
            for e in view.entries
        ),
        closing=view.closing,
        signature=f"{view.organisation}工会　{view.issued_on_zh}",
    )


def poster_font(rs: RenderSettings) -> Path:
    font = find_cjk_font(rs.font_file)
    if font is None:
        raise RuntimeError(
            "no CJK font for the poster: install fonts-wqy-microhei "
            "(or set FLOWERS_PUBLICITY_CHART_FONT)"
        )
    return font


# --- Bulletin and correction as .docx: services/publicity/document.py ---------------------


# --- The meeting video: subtitles and the storyboard as data -----------------------------

_BREAKS = "，。；！？、：,.;!?:"


def subtitle_text(text: str) -> str:
    """One subtitle line: no line breaks, no angle brackets a player could take for a tag."""
    return one_line(text).replace("<", "＜").replace(">", "＞")


def chunks(text: str, limit: int) -> list[str]:
    """Subtitle lines of at most `limit` characters (a closing punctuation mark may hang
    over): phrases (up to a punctuation mark) are packed whole; only a phrase longer than a
    line is cut."""
    phrases: list[str] = []
    current = ""
    for char in subtitle_text(text):
        current += char
        if char in _BREAKS:
            phrases.append(current)
            current = ""
    if current:
        phrases.append(current)
    lines: list[str] = []
    line = ""
    for phrase in (p.strip() for p in phrases):
        if len(phrase) > limit and not (len(phrase) == limit + 1 and phrase[-1] in _BREAKS):
            # Too long even alone: cut into near-equal pieces, not one full line and a stub.
            if line:
                lines.append(line)
                line = ""
            pieces = -(-len(phrase) // limit)
            size = -(-len(phrase) // pieces)
            lines.extend(phrase[i : i + size] for i in range(0, len(phrase) - size, size))
            phrase = phrase[(pieces - 1) * size :]
        if line and len(line) + len(phrase) > limit:
            lines.append(line)
            line = ""
        line += phrase
    if line:
        lines.append(line)
    return [c for c in (line.strip() for line in lines) if c]


@dataclass(frozen=True)
class Cue:
    index: int
    start_ms: int
    end_ms: int
    text: str


def cues(view: View, rs: RenderSettings) -> list[Cue]:
    """Per segment: the caption during the title card, then the deeds summary in lines
    timed in proportion to their length; each segment's cues fill exactly its duration."""
    out: list[Cue] = []
    for entry in view.entries:
        start, end = entry.start_ms, entry.end_ms
        lines = chunks(entry.text, rs.subtitle_chars)
        duration = end - start
        title_ms = min(rs.title_card_s * 1000, duration // 2) if lines else duration
        out.append(Cue(len(out) + 1, start, start + title_ms, subtitle_text(entry.caption)))
        body_start, body_ms = start + title_ms, duration - title_ms
        total_chars = sum(len(line) for line in lines)
        cumulative = 0
        for line in lines:
            line_start = body_start + body_ms * cumulative // total_chars
            cumulative += len(line)
            line_end = body_start + body_ms * cumulative // total_chars
            out.append(Cue(len(out) + 1, line_start, line_end, line))
    return out


def render_srt(view: View, rs: RenderSettings) -> str:
    blocks = [
        f"{c.index}\n{clock_text(c.start_ms, srt=True)} --> {clock_text(c.end_ms, srt=True)}\n"
        f"{c.text}\n"
        for c in cues(view, rs)
    ]
    return "\n".join(blocks)


def storyboard_data(view: View, rs: RenderSettings) -> dict[str, Any]:
    return {
        "round_id": view.round_id,
        "title": view.title,
        "meeting_date": view.meeting_date,
        "meeting_date_zh": view.meeting_date_zh,
        "total_s": view.total_ms // 1000,
        "segments": [
            {
                "index": i,
                "nomination_id": e.nomination_id,
                "start_s": e.start_ms // 1000,
                "end_s": e.end_ms // 1000,
                "duration_s": e.duration_s,
                "title_card": {"category": e.category_zh, "name": e.name},
                "title_card_s": min(rs.title_card_s, e.duration_s),
                "caption": e.caption,
                "summary": e.text,
                "photo_slot": e.photo_slot,
            }
            for i, e in enumerate(view.entries, start=1)
        ],
    }


def safe_json(data: Any) -> str:
    """JSON whose text never contains `<`, `>` or `&` (escaped as \\u003c…): safe to inline
    in a page's script block, and it parses to the same data."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


# --- One entry point -----------------------------------------------------------------------


@dataclass(frozen=True)
class Artefact:
    filename: str
    media_type: str
    content: bytes | str  # bytes for binary formats, text otherwise


def render(
    view: View, fmt: str, rs: RenderSettings, photos: Mapping[str, bytes] | None = None
) -> Artefact:
    if fmt not in FORMATS[view.kind]:
        raise ValueError(f"{view.kind} has no {fmt} form")
    name = f"{view.round_id}-{view.kind}.{fmt}"
    content: bytes | str
    if fmt == "html":
        content = render_html(view)
    elif fmt == "svg":
        content = render_svg(view)
    elif fmt == "png":
        content = render_png(poster_content(view), poster_font(rs), photos or {})
    elif fmt == "pdf":
        content = render_a3_pdf(poster_content(view), poster_font(rs), photos or {})
    elif fmt == "docx":
        content = render_docx(view, rs)
    elif fmt == "srt":
        content = render_srt(view, rs)
    else:
        content = safe_json(storyboard_data(view, rs))
    return Artefact(name, MEDIA_TYPES[fmt], content)


def render_all(view: View, rs: RenderSettings) -> dict[str, Artefact]:
    return {fmt: render(view, fmt, rs) for fmt in FORMATS[view.kind]}


def docx_text(data: bytes) -> list[str]:
    """The paragraphs of a .docx, read back with python-docx (tests, checks)."""
    return [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]


def formats_of(kind: str) -> Sequence[str]:
    return FORMATS[kind]
