"""The bulletin as the department's document system would receive it: rendered by LibreOffice
(Debian's libreoffice-writer-nogui, installed by deploy/ensure-browser.sh) to PDF, then looked
at as a person would: an A4 page, the text inside the GB/T 9704 margins, the red masthead
above a red rule as wide as the text block, the issue number, the 报/送/发 block.

A picture of page 1 is kept in test-artifacts/publicity/bulletin-page1.png.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import cast

import docx
import pypdf
import pypdfium2 as pdfium
import pytest
from PIL import Image

from services.publicity.document import (
    BOTTOM_MM,
    LEFT_MM,
    PAGE_H_MM,
    PAGE_W_MM,
    RIGHT_MM,
    TOP_MM,
    masthead_size,
)
from services.publicity.rendering import RenderSettings, amount_zh, render
from shared.settings import PROJECT_ROOT
from tests.publicity.fixtures import HOSTILE_DEEDS
from tests.publicity.test_rendering import RS, all_views

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "publicity"
DPI = 150
PX_PER_MM = DPI / 25.4
MM_PER_PT = 25.4 / 72


def soffice() -> str:
    found = shutil.which("soffice")
    assert found, "LibreOffice missing: run `bash deploy/ensure-browser.sh` (as root)"
    return found


def to_pdf(data: bytes, tmp: Path) -> Path:
    source = tmp / "bulletin.docx"
    source.write_bytes(data)
    subprocess.run(
        [
            soffice(),
            f"-env:UserInstallation={(tmp / 'lo-profile').as_uri()}",  # never the user's own
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return tmp / "bulletin.pdf"


def is_red(pixel: object) -> bool:
    r, g, b = cast(tuple[int, int, int], pixel)
    return r > 180 and g < 110 and b < 110


def is_ink(pixel: object) -> bool:
    return sum(cast(tuple[int, int, int], pixel)) < 600


@pytest.fixture(scope="module")
def bulletin_pdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    artefact = render(all_views()["bulletin"], "docx", RS)
    assert isinstance(artefact.content, bytes)
    return artefact.content, to_pdf(artefact.content, tmp_path_factory.mktemp("bulletin"))


@pytest.fixture(scope="module")
def page_one(bulletin_pdf: tuple[bytes, Path]) -> Image.Image:
    pdf = pdfium.PdfDocument(str(bulletin_pdf[1]))
    image = pdf[0].render(scale=DPI / 72).to_pil().convert("RGB")
    pdf.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image.save(ARTIFACTS / "bulletin-page1.png")
    return image


@pytest.mark.integration  # runs LibreOffice (≈ 6 s)
def test_every_page_is_a4(bulletin_pdf: tuple[bytes, Path]) -> None:
    reader = pypdf.PdfReader(bulletin_pdf[1])
    assert len(reader.pages) >= 2
    for page in reader.pages:
        width_mm = float(page.mediabox.width) * MM_PER_PT
        height_mm = float(page.mediabox.height) * MM_PER_PT
        assert abs(width_mm - PAGE_W_MM) < 0.5
        assert abs(height_mm - PAGE_H_MM) < 0.5


@pytest.mark.integration
def test_page_one_keeps_to_the_margins_under_a_red_masthead_and_rule(
    page_one: Image.Image,
) -> None:
    width = page_one.width
    pixels = page_one.load()
    assert pixels is not None
    foot = round((PAGE_H_MM - BOTTOM_MM) * PX_PER_MM)  # the page number sits below the block
    rows = [y for y in range(foot) if any(is_ink(pixels[x, y]) for x in range(0, width, 2))]
    cols = [x for x in range(width) if any(is_ink(pixels[x, y]) for y in range(0, foot, 2))]
    top_mm, left_mm, right_mm = rows[0] / PX_PER_MM, cols[0] / PX_PER_MM, cols[-1] / PX_PER_MM
    assert top_mm >= TOP_MM - 0.5, f"ink {top_mm:.1f} mm from the top"
    assert left_mm >= LEFT_MM - 0.5, f"ink {left_mm:.1f} mm from the left"
    assert right_mm <= PAGE_W_MM - RIGHT_MM + 0.5, f"ink up to {right_mm:.1f} mm"

    # The masthead: the first band of ink, nearly all of it red.
    band_end = next(y for y in range(rows[0], foot) if y not in set(rows))
    band = [pixels[x, y] for y in range(rows[0], band_end) for x in range(width)]
    inked = [p for p in band if is_ink(p)]
    assert sum(is_red(p) for p in inked) / len(inked) > 0.8
    masthead_mm = (band_end - rows[0]) / PX_PER_MM
    assert masthead_mm > masthead_size(RS.masthead) * MM_PER_PT * 0.6  # a large heading

    # The red rule: a red row spanning the text block (156 mm), from margin to margin.
    rule_rows = [
        y
        for y in range(band_end, foot)
        if sum(is_red(pixels[x, y]) for x in range(0, width, 2)) * 2 > 150 * PX_PER_MM
    ]
    assert rule_rows, "no red rule under the masthead"
    y = rule_rows[0]
    reds = [x for x in range(width) if is_red(pixels[x, y])]
    assert abs(reds[0] / PX_PER_MM - LEFT_MM) < 1.0
    assert abs(reds[-1] / PX_PER_MM - (PAGE_W_MM - RIGHT_MM)) < 1.0


@pytest.mark.integration
def test_the_pdf_reads_as_the_bulletin(bulletin_pdf: tuple[bytes, Path]) -> None:
    text = "".join(page.extract_text() for page in pypdf.PdfReader(bulletin_pdf[1]).pages)
    flat = "".join(text.split())
    assert "后勤实业分公司工会简报" in flat
    assert "2026年第3期" in flat
    for line in ("报：集团公司工会。", "发：各基层单位党支部、工会分会。", "2026年9月28日印发"):
        assert line in flat
    assert "300万元" in flat  # never 3000000元
    assert "81.2万元" in flat
    assert "：3000000" not in flat  # nor a doubled colon before a raw number
    assert "<script>alert" in flat  # the hostile deeds shown as the text they are
    assert HOSTILE_DEEDS.split("，")[0].replace(" ", "") in flat


def test_the_document_names_the_department_not_its_tool() -> None:
    artefact = render(all_views()["bulletin"], "docx", RS)
    assert isinstance(artefact.content, bytes)
    core = docx.Document(io.BytesIO(artefact.content)).core_properties
    assert RS.department in core.author
    assert core.title == all_views()["bulletin"].title
    xml = zipfile.ZipFile(io.BytesIO(artefact.content)).read("docProps/core.xml").decode()
    assert "python-docx" not in xml


def test_the_masthead_issue_and_distribution_come_from_settings() -> None:
    rs = RenderSettings(
        bulletin_masthead="工会工作简报",
        bulletin_issue_offset=10,
        bulletin_report_to="",
        bulletin_copy_to="公司领导",
        bulletin_send_to="各分会",
    )
    artefact = render(all_views()["bulletin"], "docx", rs)
    assert isinstance(artefact.content, bytes)
    lines = [p.text for p in docx.Document(io.BytesIO(artefact.content)).paragraphs]
    assert lines[:2] == ["工会工作简报", "2026年第13期"]
    assert "送：公司领导。" in lines
    assert "发：各分会。" in lines
    assert not any(line.startswith("报：") for line in lines)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("3200000", "CNY", "320万元"),
        ("812000", "CNY", "81.2万元"),
        ("120000", "元", "12万元"),
        ("123456", "CNY", "12.35万元"),
        ("5000", "CNY", "5000元"),
        ("250000000", "CNY", "2.5亿元"),
        ("3.5", "%", "3.5%"),
        ("12.0", "台次", "12台次"),
    ],
)
def test_amounts_are_written_the_way_chinese_documents_write_them(
    value: str, unit: str, expected: str
) -> None:
    assert amount_zh(Decimal(value), unit) == expected
