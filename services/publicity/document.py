"""The bulletin (简报) and a correction as official documents (GB/T 9704-2012 conventions).

A4, margins 37 mm top / 35 mm bottom / 28 mm binding side / 26 mm outer side, so the text
block is 156 × 225 mm; 22 lines (a line grid) × 28 characters for the body in 仿宋 三号 (16 pt).
The bulletin opens with the issuing body's red masthead, its issue number (2026年第N期),
the editing department and the date above a red rule the width of the text block; the title
is in 小标宋 二号 (22 pt); the document ends with the 落款 and date and the
版记 (报/送/发 and 印发) between thin black rules. Page numbers as "— 1 —" at the foot.

Text goes in as runs, never as markup. Font names are those of the house template (方正小标宋简体,
仿宋_GB2312, 黑体, 楷体_GB2312): Word and WPS use them where installed; LibreOffice substitutes
a CJK font. Output depends only on its inputs (fixed dates, no random ids).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import docx
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor, Twips

if TYPE_CHECKING:
    from docx.document import Document
    from docx.text.paragraph import Paragraph

    from services.publicity.rendering import RenderSettings, View

PAGE_W_MM, PAGE_H_MM = 210, 297
TOP_MM, BOTTOM_MM, LEFT_MM, RIGHT_MM = 37, 35, 28, 26
TEXT_W_MM = PAGE_W_MM - LEFT_MM - RIGHT_MM  # 156
TEXT_H_MM = PAGE_H_MM - TOP_MM - BOTTOM_MM  # 225
LINES, CHARS = 22, 28
BODY_PT = 16  # 三号
TITLE_PT = 22  # 二号
RECORD_PT = 14  # 四号, the 版记
LINE_TWIPS = round(TEXT_H_MM / 25.4 * 1440 / LINES)  # 579: the grid's line pitch
# 28 characters a line: the body's characters drawn 0.25 pt closer (w:spacing, in twentieths
# of a point), 15.75 pt each; a character grid would do the same in Word, but LibreOffice
# lays a docx's character grid out differently.
CHAR_SPACING = round((TEXT_W_MM / 25.4 * 72 / CHARS - BODY_PT) * 20 - 0.5)  # -5

RED = RGBColor(0xFF, 0x00, 0x00)
RED_HEX = "FF0000"

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING_FONT = "黑体"
KAI_FONT = "楷体_GB2312"


def _east_asian(run: Any, font: str) -> None:
    run.font.name = font
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), font)


def _border(paragraph: Paragraph, side: str, color: str, eighths: int) -> None:
    """A rule along one side of a paragraph: it spans the text block's width."""
    ppr = paragraph._p.get_or_add_pPr()
    borders = ppr.find(qn("w:pBdr"))
    if borders is None:
        borders = OxmlElement("w:pBdr")
        ppr.append(borders)
    edge = OxmlElement(f"w:{side}")
    edge.set(qn("w:val"), "single")
    edge.set(qn("w:sz"), str(eighths))
    edge.set(qn("w:space"), "4")
    edge.set(qn("w:color"), color)
    borders.append(edge)


def _page_setup(document: Document) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = Mm(PAGE_W_MM), Mm(PAGE_H_MM)
    section.top_margin, section.bottom_margin = Mm(TOP_MM), Mm(BOTTOM_MM)
    section.left_margin, section.right_margin = Mm(LEFT_MM), Mm(RIGHT_MM)
    section.header_distance, section.footer_distance = Mm(15), Mm(22)
    grid = section._sectPr.find(qn("w:docGrid"))
    if grid is None:
        grid = OxmlElement("w:docGrid")
        section._sectPr.append(grid)
    grid.set(qn("w:type"), "lines")
    grid.set(qn("w:linePitch"), str(LINE_TWIPS))

    normal = document.styles["Normal"]
    normal.font.name = BODY_FONT
    normal.font.size = Pt(BODY_PT)
    rpr = normal.element.get_or_add_rPr()
    rpr.get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
    spacing = OxmlElement("w:spacing")
    spacing.set(qn("w:val"), str(CHAR_SPACING))
    rpr.append(spacing)
    fmt = normal.paragraph_format
    fmt.space_before = fmt.space_after = Pt(0)
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = Twips(LINE_TWIPS)

    # Page number "— 1 —", 四号, centred at the foot.
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _east_asian(footer.add_run("— "), BODY_FONT)
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    number = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    number.append(text)
    field.append(number)
    footer._p.append(field)
    _east_asian(footer.add_run(" —"), BODY_FONT)
    for run in footer.runs:
        run.font.size = Pt(RECORD_PT)


def _para(
    document: Document,
    text: str = "",
    *,
    size: float = BODY_PT,
    font: str = BODY_FONT,
    align: Any = None,
    indent_chars: float = 0,
    right_chars: float = 0,
    color: RGBColor | None = None,
    auto_height: bool = False,
) -> Paragraph:
    paragraph = document.add_paragraph()
    if align is not None:
        paragraph.alignment = align
    fmt = paragraph.paragraph_format
    if indent_chars:
        fmt.first_line_indent = Pt(size * indent_chars)
    if right_chars:
        fmt.right_indent = Pt(size * right_chars)
    if auto_height:  # a line taller than the grid's (masthead, title): not clipped
        fmt.line_spacing_rule = WD_LINE_SPACING.SINGLE
    if text:
        run = paragraph.add_run(text)
        run.font.size = Pt(size)
        if color is not None:
            run.font.color.rgb = color
        _east_asian(run, font)
    return paragraph


def masthead_size(text: str) -> int:
    """The masthead's size in points: 初号 (42 pt) unless that is wider than the text block."""
    width_pt = TEXT_W_MM / 25.4 * 72
    return max(16, min(42, int(width_pt * 0.92 / max(len(text), 1))))


def _head(document: Document, view: View, rs: RenderSettings) -> None:
    """版头: red masthead, issue number, editor and date, the red rule."""
    _para(
        document,
        rs.masthead,
        size=masthead_size(rs.masthead),
        font=TITLE_FONT,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        color=RED,
        auto_height=True,
    )
    _para(document, rs.issue_zh(view.round_id), align=WD_ALIGN_PARAGRAPH.CENTER)
    line = _para(document)
    line.paragraph_format.tab_stops.add_tab_stop(Mm(TEXT_W_MM), WD_TAB_ALIGNMENT.RIGHT)
    _east_asian(line.add_run(f"{rs.department}编"), BODY_FONT)
    _east_asian(line.add_run(f"\t{view.issued_on_zh}"), BODY_FONT)
    _border(line, "bottom", RED_HEX, 12)  # 1.5 pt
    _para(document)


def _record(document: Document, view: View, rs: RenderSettings) -> None:
    """版记: 报/送/发, then the printing body and date, between thin black rules."""
    _para(document)
    rows = [
        ("报", rs.bulletin_report_to),
        ("送", rs.bulletin_copy_to),
        ("发", rs.bulletin_send_to),
    ]
    first = True
    for label, to in rows:
        if not to:
            continue
        p = _para(document, f"{label}：{to}。", size=RECORD_PT, indent_chars=0)
        p.paragraph_format.left_indent = Pt(RECORD_PT)
        if first:
            _border(p, "top", "000000", 6)
            first = False
    printed = _para(document, size=RECORD_PT)
    printed.paragraph_format.left_indent = Pt(RECORD_PT)
    printed.paragraph_format.tab_stops.add_tab_stop(
        Mm(TEXT_W_MM) - Pt(RECORD_PT * 2), WD_TAB_ALIGNMENT.RIGHT
    )
    for text in (f"{view.organisation}工会", f"\t{view.issued_on_zh}印发"):
        run = printed.add_run(text)
        run.font.size = Pt(RECORD_PT)
        _east_asian(run, BODY_FONT)
    if first:
        _border(printed, "top", "000000", 6)
    _border(printed, "bottom", "000000", 6)


def render_docx(view: View, rs: RenderSettings) -> bytes:
    """The bulletin or a correction as a .docx that opens in Word, WPS and LibreOffice."""
    document = docx.Document()
    _page_setup(document)
    bulletin = view.kind == "bulletin"
    if bulletin:
        _head(document, view, rs)
    _para(
        document,
        view.title,
        size=TITLE_PT,
        font=TITLE_FONT,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        auto_height=True,
    )
    _para(document)
    _para(document, view.lead, indent_chars=2)
    for entry in view.entries:
        if bulletin:
            _para(
                document,
                f"{entry.ordinal_zh}、{entry.category_zh}　{entry.name}",
                font=HEADING_FONT,
                indent_chars=2,
            )
            _para(document, f"{entry.unit_name}　{entry.position}", font=KAI_FONT, indent_chars=2)
        for text in entry.paragraphs:
            _para(document, text, indent_chars=2)
        if entry.results and bulletin:
            _para(document, "主要业绩：" + "；".join(entry.results) + "。", indent_chars=2)
    _para(document, view.closing, indent_chars=2)
    _para(document)
    _para(document, f"{view.organisation}工会", align=WD_ALIGN_PARAGRAPH.RIGHT, right_chars=4)
    _para(document, view.issued_on_zh, align=WD_ALIGN_PARAGRAPH.RIGHT, right_chars=2)
    if bulletin:
        _record(document, view, rs)

    issued = datetime.combine(view.issued_on, datetime.min.time(), UTC)
    core = document.core_properties
    core.title = view.title
    core.subject = f"{view.round_label}“五朵金花”"
    core.author = f"{view.organisation}{view.department}"
    core.last_modified_by = view.department
    core.comments = f"{view.organisation}{view.department}编"
    core.category = view.kind_zh
    core.keywords = "五朵金花；红花献给你"
    core.created = issued
    core.modified = issued
    core.revision = 1
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
