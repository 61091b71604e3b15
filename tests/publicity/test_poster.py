"""The honor roll as a picture: the Chinese line-breaking rules (a pure function, as tables and
a property), the plan keeping every card's text inside its card, and the images themselves —
a 1080 × 1920 PNG and one A3 page — with a winner's photo where one was given.

The phone poster is kept in test-artifacts/publicity/poster-phone.png.
"""

from __future__ import annotations

import io

import pypdf
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from services.publicity.linebreak import CLOSING, OPENING, break_lines, fits, text_width
from services.publicity.poster import A3_MM, PHONE, PosterPlan, poster_plan
from services.publicity.rendering import poster_content, render
from shared.settings import PROJECT_ROOT
from tests.publicity.fixtures import WINNERS
from tests.publicity.test_rendering import RS, all_views

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "publicity"


# --- 禁则: where lines break ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        # the stranded opening quote: it goes down with what it opens
        ("第三季度“五朵金花”", 5, ["第三季度", "“五朵金", "花”"]),
        ("第三季度“五朵金花”", 6, ["第三季度“五", "朵金花”"]),
        # a full stop never starts a line: the character before it comes down too
        ("居民送来锦旗。改造后", 6, ["居民送来锦", "旗。改造后"]),
        # a closing quote then a full stop, after an opening quote at a line's end
        ("他说“好”。然后", 4, ["他说", "“好”。", "然后"]),
        # a number is never split
        ("全年节约资金12000元", 8, ["全年节约资金", "12000元"]),
        ("损耗率下降3.5%，成效明显", 7, ["损耗率下降", "3.5%，成效明", "显"]),
        # a book title's marks
        ("学习《工会法》心得体会", 3, ["学习", "《工会", "法》心", "得体会"]),
        # what fits stays on one line
        ("向先进学习", 5, ["向先进学习"]),
        ("", 5, []),
    ],
)
def test_lines_break_by_the_chinese_rules(text: str, width: float, expected: list[str]) -> None:
    assert break_lines(text, width) == expected


_HAN = "一二三四五六七八九十先进职工"
_MARKS = "，。、；：！？）》”“（《"


@st.composite
def chinese_text(draw: st.DrawFn) -> str:
    """Han characters with single marks between them (no two marks side by side)."""
    pieces = draw(
        st.lists(
            st.tuples(st.text(_HAN, min_size=1, max_size=6), st.sampled_from(_MARKS)),
            max_size=12,
        )
    )
    return "".join(han + mark for han, mark in pieces) + draw(st.text(_HAN, min_size=1))


@given(text=chinese_text(), width=st.integers(min_value=3, max_value=30))
def test_no_line_starts_with_a_closing_or_ends_with_an_opening_mark(text: str, width: int) -> None:
    lines = break_lines(text, width)
    assert "".join(lines) == text  # nothing dropped, nothing added
    assert fits(lines)
    for line in lines:
        assert text_width(line) <= width
        assert line[0] not in CLOSING
        assert line[-1] not in OPENING


# --- The plan ---------------------------------------------------------------------------------


def cards(plan: PosterPlan) -> list[tuple[float, float, float, float]]:
    return [(b.x, b.y, b.x + b.w, b.y + b.h) for b in plan.boxes if b.radius]


@pytest.mark.parametrize("height", [PHONE[1], round(A3_MM[1] / A3_MM[0] * 1080)])
def test_every_text_stays_inside_its_card_and_nothing_is_cut(height: int) -> None:
    content = poster_content(all_views()["honor_roll"])
    plan = poster_plan(content, height)
    boxes = cards(plan)
    assert len(boxes) == len(WINNERS)
    for text in plan.texts:
        for i, line in enumerate(text.lines):
            top = text.y + i * text.size * text.line_height
            bottom = top + text.size * text.line_height
            assert bottom <= plan.height
            if text.align != "left":
                continue
            right = text.x + text_width(line) * text.size
            assert right <= plan.width - 48, f"{line!r} crosses the page's margin"
            for left_, top_, right_, bottom_ in boxes:
                if left_ <= text.x <= right_ and top_ <= top < bottom_:
                    assert right <= right_, f"{line!r} crosses its card's edge"
                    assert bottom <= bottom_ + 1, f"{line!r} runs out of its card"
    for entry in content.entries:  # every deeds text whole, never an ellipsis
        assert any("".join(t.lines) == entry.text for t in plan.texts)
    assert "…" not in plan.all_text()
    # hostile deeds are drawn as the characters they are
    assert '<script>alert("xss")</script>' in "".join(plan.all_text().split("\n"))


# --- The pictures -----------------------------------------------------------------------------


def test_the_phone_poster_is_a_1080_by_1920_png_with_the_photo_given() -> None:
    view = all_views()["honor_roll"]
    blue = io.BytesIO()
    Image.new("RGB", (600, 800), (20, 60, 200)).save(blue, "JPEG")
    first = view.entries[0].nomination_id
    artefact = render(view, "png", RS, photos={first: blue.getvalue()})
    assert isinstance(artefact.content, bytes)
    assert artefact.media_type == "image/png"
    image = Image.open(io.BytesIO(artefact.content)).convert("RGB")
    assert image.size == PHONE
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image.save(ARTIFACTS / "poster-phone.png")

    plan = poster_plan(poster_content(view), PHONE[1])
    for frame in plan.photos:
        centre = image.getpixel((round(frame.x + frame.w / 2), round(frame.y + frame.h / 4)))
        if frame.nomination_id == first:
            assert centre == pytest.approx((20, 60, 200), abs=12)  # the photo
        else:
            assert centre == (0xFD, 0xEC, 0xEA)  # the placeholder, only where none was given


def test_the_print_poster_is_one_a3_page() -> None:
    artefact = render(all_views()["honor_roll"], "pdf", RS)
    assert isinstance(artefact.content, bytes)
    pages = pypdf.PdfReader(io.BytesIO(artefact.content)).pages
    assert len(pages) == 1
    width_mm = float(pages[0].mediabox.width) * 25.4 / 72
    height_mm = float(pages[0].mediabox.height) * 25.4 / 72
    assert width_mm == pytest.approx(A3_MM[0], abs=1)
    assert height_mm == pytest.approx(A3_MM[1], abs=1)
