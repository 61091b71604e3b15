"""The printable public notice: one A4 PDF per round for notice boards and screens.

reportlab draws it with a Chinese TrueType font (embedded, so any viewer shows it and its text
can be extracted); a QR code (segno) leads to the objection form. The footer carries an anchor:
the review log's head position and hash at the time of printing, in the form
`review@<position>:<hash>` that `flowers audit verify --anchors` accepts, so a printed sheet
proves later that the log up to it was not rewritten.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from shared.clock import format_zh

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
FALLBACK_FONT = "STSong-Light"  # reportlab's CID font: not embedded, the viewer supplies it
MARGIN = 20 * mm
QR_SIZE = 32 * mm


def anchor_text(position: int, hash_: str) -> str:
    """The footer's anchor, as `flowers audit verify --anchors` reads it."""
    return f"review@{position}:{hash_}"


def _font(configured: str) -> str:
    """Register and name the font to draw with (the configured file, a found one, or CID)."""
    for candidate in (configured, *FONT_CANDIDATES) if configured else FONT_CANDIDATES:
        path = Path(candidate)
        if not path.is_file():
            continue
        name = f"notice-{path.stem}"
        if name not in pdfmetrics.getRegisteredFontNames():
            kwargs = {"subfontIndex": 0} if path.suffix.lower() == ".ttc" else {}
            pdfmetrics.registerFont(TTFont(name, str(path), **kwargs))
        return name
    if FALLBACK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return FALLBACK_FONT


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of `text` no wider than `width` (Chinese breaks between any two characters)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for char in paragraph:
            if pdfmetrics.stringWidth(line + char, font, size) > width and line:
                lines.append(line)
                line = char
            else:
                line += char
        lines.append(line)
    return lines


class _Page:
    """A cursor down an A4 canvas that starts a new page when the text reaches the footer."""

    def __init__(self, canvas: Canvas, font: str, footer: str) -> None:
        self.c = canvas
        self.font = font
        self.footer = footer
        self.width, self.height = A4
        self.y = self.height - MARGIN
        self.page_no = 1

    def _draw_footer(self) -> None:
        self.c.setFont(self.font, 7)
        self.c.drawString(MARGIN, 10 * mm, self.footer)
        self.c.drawRightString(self.width - MARGIN, 14 * mm, f"第 {self.page_no} 页")

    def need(self, height: float) -> None:
        if self.y - height < 24 * mm:
            self._draw_footer()
            self.c.showPage()
            self.page_no += 1
            self.y = self.height - MARGIN

    def text(self, text: str, size: float, *, indent: float = 0, gap: float = 1.5) -> None:
        width = self.width - 2 * MARGIN - indent
        for line in _wrap(text, self.font, size, width):
            self.need(size * gap)
            self.c.setFont(self.font, size)
            self.y -= size * gap
            self.c.drawString(MARGIN + indent, self.y, line)

    def centred(self, text: str, size: float) -> None:
        self.need(size * 2)
        self.y -= size * 2
        self.c.setFont(self.font, size)
        self.c.drawCentredString(self.width / 2, self.y, text)

    def space(self, height: float) -> None:
        self.y -= height

    def finish(self) -> None:
        self._draw_footer()
        self.c.showPage()


def render_notice_pdf(
    notices: list[dict[str, Any]],
    *,
    objection_url: str,
    anchor: str,
    printed_at: datetime,
    font_file: str = "",
) -> bytes:
    """The round's notices (public views, services.gateway.notice) as an A4 PDF."""
    font = _font(font_file)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    first = notices[0]
    title = f"{first['round_title']}“红花献给你”拟表彰人选公示"
    canvas.setTitle(title)
    canvas.setAuthor(first["issuer"])
    footer = f"打印于 {format_zh(printed_at)}（北京时间） · 审计锚点 {anchor}"
    page = _Page(canvas, font, footer)
    page.centred(title, 18)
    page.space(4 * mm)
    for notice in notices:
        if notice["replacement"]:
            page.text("（替补人选公示）", 12)
        page.text(
            f"经各单位推荐、资格审核、评审组评审和领导小组研究，现将{first['round_title']}"
            "“红花献给你”拟表彰人选予以公示。",
            11,
        )
        page.text(f"公示期：{notice['period_zh']}（{notice['working_days']} 个工作日）。", 11)
        page.space(2 * mm)
        for w in notice["winners"]:
            page.need(40)
            mark = "（异议成立，已取消）" if w["removed"] else ""
            where = f"  {w['unit_name']} · {w['position']}" if w["unit_name"] else ""
            page.text(f"【{w['category_zh']}】{w['name']}{where}" + mark, 12)
            deeds = "本人未同意公开事迹。" if w["withheld"] else f"主要事迹：{w['deeds_summary']}"
            page.text(deeds, 10, indent=6 * mm, gap=1.45)
            page.space(2 * mm)
    contact = first["objection"]
    page.space(2 * mm)
    page.text(
        "公示期间，如对拟表彰人选有异议，请以实名方式向"
        f"{contact['to']}反映（扫描右侧二维码在线提出，或通过以下方式）：",
        11,
    )
    page.text(f"电话：{contact['phone']}", 11, indent=6 * mm)
    page.text(f"电子邮箱：{contact['email']}", 11, indent=6 * mm)
    page.text(f"地址：{contact['address']}", 11, indent=6 * mm)
    page.text(f"在线提出异议：{objection_url}", 9, indent=6 * mm)
    page.need(QR_SIZE + 12 * mm)
    qr = segno.make(objection_url, error="m")
    image = io.BytesIO()
    qr.save(image, kind="png", scale=10, border=4)
    image.seek(0)
    page.y -= QR_SIZE + 4 * mm
    canvas.drawImage(ImageReader(image), page.width - MARGIN - QR_SIZE, page.y, QR_SIZE, QR_SIZE)
    # 落款: the issuing body and the date of the latest notice, left of the QR code.
    canvas.setFont(font, 12)
    right = page.width - MARGIN - QR_SIZE - 8 * mm
    canvas.drawRightString(right, page.y + QR_SIZE - 10 * mm, notices[-1]["issuer"])
    canvas.drawRightString(right, page.y + QR_SIZE - 18 * mm, notices[-1]["issued_on_zh"])
    page.finish()
    canvas.save()
    return out.getvalue()
