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
import logging
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import docx
import jieba
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.publicity.document import render_docx
from services.publicity.domain import date_zh, one_line, weekday_zh
from services.publicity.fonts import find_cjk_font
from services.publicity.linebreak import break_lines, text_width
from services.publicity.photos import data_uris
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

Format = Literal["html", "svg", "png", "pdf", "zip", "docx", "srt", "json"]

FORMATS: dict[str, tuple[Format, ...]] = {
    "honor_roll": ("html", "svg", "png", "pdf"),  # png: phone poster; pdf: A3 poster
    "bulletin": ("html", "docx"),
    "official_account": ("html", "zip"),  # zip: the article, its title and cover image
    "storyboard": ("html", "srt", "json"),
    "correction": ("html", "docx"),
}
MEDIA_TYPES: dict[str, str] = {
    "html": "text/html; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "pdf": "application/pdf",
    "zip": "application/zip",
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
    article_source: str = ""
    article_editor: str = ""
    article_reviewer: str = ""

    @property
    def article_footer(self) -> tuple[str, str, str]:
        """来源, 编辑, 审核 of the official-account article."""
        union = f"{self.organisation}工会"
        return (
            self.article_source or union,
            self.article_editor or self.department,
            self.article_reviewer or union,
        )

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
            article_source=settings.publicity_article_source,
            article_editor=settings.publicity_article_editor,
            article_reviewer=settings.publicity_article_reviewer,
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
    opening_ms: int = 0  # the meeting video's opening title (storyboard only)
    closing_start_ms: int = 0  # … and its closing card, up to total_ms


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
    video = doc.kind == "storyboard"
    opening_ms = rs.title_card_s * 1000 if video else 0
    at_ms = opening_ms
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
    # The closing card: long enough to read its words (about 5 characters a second).
    closing_ms = max(rs.title_card_s, -(-len(doc.content.closing) // 5)) * 1000 if video else 0
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
        total_duration=clock_text(at_ms + closing_ms),
        total_ms=at_ms + closing_ms,
        opening_ms=opening_ms,
        closing_start_ms=at_ms,
    )


# --- HTML -----------------------------------------------------------------------------------


def render_html(
    view: View, rs: RenderSettings | None = None, photos: Mapping[str, bytes] | None = None
) -> str:
    """The page; a winner's photo (JPEG bytes by nomination id) goes in inline, as a data URI:
    the article is pasted or uploaded on its own, so it names no address of this site."""
    plan = shots(view) if view.kind == "storyboard" else []
    footer = (rs or RenderSettings()).article_footer
    return _env.get_template(f"{view.kind}.html.j2").render(
        v=view, shots=plan, footer=footer, photos=data_uris(photos or {})
    )


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
_NUMERALS = set("零一二三四五六七八九十百千万亿两半几余多0123456789.%")
# Words jieba's dictionary lacks that must never be cut (the campaign's own phrases).
_WORDS = ("急难愁盼", "五朵金花", "红花献给你", "二次创业", "月度作业计划会", "管网快修六步法")
_tokenizer: jieba.Tokenizer | None = None


def words(text: str) -> list[str]:
    """Word pieces (jieba), a number kept with what it counts (四小时, 二十五天, 3.5%)."""
    global _tokenizer
    if _tokenizer is None:
        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        for word in _WORDS:
            tokenizer.add_word(word)
        _tokenizer = tokenizer
    out: list[str] = []
    for word in _tokenizer.lcut(text):
        if out and set(out[-1]) <= _NUMERALS and word[0] not in _BREAKS and not word.isspace():
            out[-1] += word
        else:
            out.append(word)
    return out


_SUBTITLE_SAFE = str.maketrans({"<": "＜", ">": "＞", "{": "｛", "}": "｝"})


def subtitle_text(text: str) -> str:
    """One subtitle line: no line breaks, no angle brackets a player could take for a tag and
    no braces libass would take for an override ({\\fs200}): their full-width forms instead."""
    return one_line(text).translate(_SUBTITLE_SAFE)


def chunks(text: str, limit: int) -> list[str]:
    """Subtitle lines of at most `limit` characters (a closing punctuation mark may hang
    over), never truncated: phrases (up to a punctuation mark) are packed whole; a phrase
    longer than a line is broken between words (jieba), never inside one; only a single word
    longer than a line is cut."""
    lines: list[str] = []
    line = ""
    phrases: list[str] = []
    current = ""
    for char in subtitle_text(text):
        current += char
        if char in _BREAKS:
            phrases.append(current)
            current = ""
    if current:
        phrases.append(current)
    for phrase in (p.strip() for p in phrases):
        if not phrase:
            continue
        if len(line) + len(phrase) <= limit or (
            len(line) + len(phrase) == limit + 1 and phrase[-1] in _BREAKS
        ):
            line += phrase
            continue
        if line:
            lines.append(line)
            line = ""
        for word in words(phrase):
            pieces = [word[i : i + limit] for i in range(0, len(word), limit)]
            for piece in pieces:
                hangs = len(piece) == 1 and piece in _BREAKS
                if line and len(line) + len(piece) > limit and not hangs:
                    lines.append(line)
                    line = ""
                line += piece
    if line:
        lines.append(line)
    return [c for c in (x.strip() for x in lines) if c]


def opening_title(view: View) -> str:
    """The video's opening words (the storyboard's own title names the script, not the film)."""
    return f"{view.round_label}“五朵金花”"


@dataclass(frozen=True)
class Cue:
    index: int
    start_ms: int
    end_ms: int
    text: str


def _spread(lines: list[str], start: int, end: int) -> list[tuple[int, int, str]]:
    """Lines timed in proportion to their length, filling [start, end) exactly."""
    total = sum(len(line) for line in lines)
    out: list[tuple[int, int, str]] = []
    cumulative = 0
    for line in lines:
        line_start = start + (end - start) * cumulative // total
        cumulative += len(line)
        out.append((line_start, start + (end - start) * cumulative // total, line))
    return out


def cues(view: View, rs: RenderSettings) -> list[Cue]:
    """The opening title, then per segment the caption during the title card and the deeds
    summary in lines timed in proportion to their length, then the closing card: the cues
    cover the video from its first to its last millisecond."""
    timed: list[tuple[int, int, str]] = []
    if view.opening_ms:
        timed += _spread(chunks(opening_title(view), rs.subtitle_chars), 0, view.opening_ms)
    for entry in view.entries:
        start, end = entry.start_ms, entry.end_ms
        lines = chunks(entry.text, rs.subtitle_chars)
        duration = end - start
        title_ms = min(rs.title_card_s * 1000, duration // 2) if lines else duration
        timed.append((start, start + title_ms, subtitle_text(entry.caption)))
        if lines:
            timed += _spread(lines, start + title_ms, end)
    if view.total_ms > view.closing_start_ms and view.closing:
        timed += _spread(
            chunks(view.closing, rs.subtitle_chars), view.closing_start_ms, view.total_ms
        )
    return [Cue(i, start, end, text) for i, (start, end, text) in enumerate(timed, start=1)]


def render_srt(view: View, rs: RenderSettings) -> str:
    blocks = [
        f"{c.index}\n{clock_text(c.start_ms, srt=True)} --> {clock_text(c.end_ms, srt=True)}\n"
        f"{c.text}\n"
        for c in cues(view, rs)
    ]
    return "\n".join(blocks)


@dataclass(frozen=True)
class Shot:
    """One row of the storyboard: what the video shows and plays, and when."""

    kind: Literal["opening", "winner", "closing"]
    start_ms: int
    end_ms: int
    shot_size: str  # 景别
    picture: str  # 画面
    narration: str  # 解说词
    music: str  # 音乐
    caption: str  # the title card's words
    nomination_id: str = ""

    @property
    def start(self) -> str:
        return clock_text(self.start_ms)

    @property
    def end(self) -> str:
        return clock_text(self.end_ms)


def shots(view: View) -> list[Shot]:
    """The video's plan: the opening title, one shot per winner, the closing card."""
    out = [
        Shot(
            "opening",
            0,
            view.opening_ms,
            "全景",
            f"片头：红色背景，金色标题“{opening_title(view)}”，落款{view.organisation}工会",
            f"{opening_title(view)}评选结果揭晓。",
            "片头音乐起（激昂）",
            opening_title(view),
        )
    ]
    for e in view.entries:
        out.append(
            Shot(
                "winner",
                e.start_ms,
                e.end_ms,
                "中景→近景（照片缓推）",
                f"标题卡“{e.category_zh}　{e.name}”；{e.photo_slot}；字幕：事迹摘要",
                e.text,
                "背景音乐（舒缓，低于解说）",
                e.caption,
                e.nomination_id,
            )
        )
    out.append(
        Shot(
            "closing",
            view.closing_start_ms,
            view.total_ms,
            "全景",
            f"片尾字卡：{view.closing}",
            view.closing,
            "音乐渐强后淡出",
            view.closing,
        )
    )
    return out


def storyboard_data(view: View, rs: RenderSettings) -> dict[str, Any]:
    return {
        "round_id": view.round_id,
        "title": view.title,
        "meeting_date": view.meeting_date,
        "meeting_date_zh": view.meeting_date_zh,
        "total_s": view.total_ms / 1000,
        "shots": [
            {
                "kind": shot.kind,
                "start_s": shot.start_ms / 1000,
                "end_s": shot.end_ms / 1000,
                "shot_size": shot.shot_size,
                "picture": shot.picture,
                "narration": shot.narration,
                "music": shot.music,
                "caption": shot.caption,
            }
            for shot in shots(view)
        ],
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


# --- The official-account article as a package for the department's own upload -----------

_FIXED_TIME = (2026, 1, 1, 0, 0, 0)  # zip entries' time: the same content, the same bytes


def article_package(view: View, rs: RenderSettings, photos: Mapping[str, bytes]) -> bytes:
    """article.html (the body to paste, inline styles only, its photos inline), title.txt
    (for WeChat's title field), cover.png (the honor-roll poster of the same winners,
    1080 × 1920) and images/NN.jpg (each winner's photo, in the article's order)."""
    buffer = io.BytesIO()
    images = [
        (f"images/{i:02d}.jpg", photos[e.nomination_id])
        for i, e in enumerate(view.entries, start=1)
        if e.nomination_id in photos
    ]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in (
            ("article.html", render_html(view, rs, photos).encode()),
            ("title.txt", (view.title + "\n").encode()),
            ("cover.png", render_png(poster_content(view), poster_font(rs), photos)),
            *images,
        ):
            package.writestr(zipfile.ZipInfo(name, _FIXED_TIME), data)
    return buffer.getvalue()


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
        content = render_html(view, rs, photos)
    elif fmt == "svg":
        content = render_svg(view)
    elif fmt == "png":
        content = render_png(poster_content(view), poster_font(rs), photos or {})
    elif fmt == "pdf":
        content = render_a3_pdf(poster_content(view), poster_font(rs), photos or {})
    elif fmt == "zip":
        content = article_package(view, rs, photos or {})
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
