"""The honor roll (and the other drafts' pages) at phone width in Chromium: nothing wider than
the screen, every photo box inside its winner's section (never across the separators), every
winner's deeds whole. A screenshot is kept in test-artifacts/browser/."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser

from services.publicity.rendering import render
from tests.publicity.test_rendering import RS, all_views

pytestmark = pytest.mark.integration

BOXES = """() => Array.from(document.querySelectorAll("section.entry")).map(s => {
  const box = s.getBoundingClientRect();
  const photo = s.querySelector(".photo").getBoundingClientRect();
  return [box.top, box.bottom, box.left, box.right,
          photo.top, photo.bottom, photo.left, photo.right];
})"""


CASES = [("honor_roll", 375), ("honor_roll", 1280), ("bulletin", 375), ("storyboard", 375),
         ("correction", 375)]  # fmt: skip


@pytest.mark.parametrize(("kind", "width"), CASES)
async def test_the_drafts_fit_a_phone(
    browser: Browser, artifacts: Path, kind: str, width: int
) -> None:
    view = all_views()[kind]
    html = render(view, "html", RS).content
    assert isinstance(html, str)
    context = await browser.new_context(
        viewport={"width": width, "height": 812}, device_scale_factor=2, is_mobile=width < 500
    )
    page = await context.new_page()
    await page.set_content(html)
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{kind} is {scroll} px wide at {width} px"
    if kind == "honor_roll":
        for top, bottom, left, right, p_top, p_bottom, p_left, p_right in await page.evaluate(
            BOXES
        ):
            assert top <= p_top, "a photo box crosses its separator"
            assert p_bottom <= bottom, "a photo box crosses its separator"
            assert left <= p_left
            assert p_right <= right
        text = await page.inner_text("body")
        for entry in view.entries:
            for paragraph in entry.paragraphs:
                assert paragraph in text.replace("\n", "")
        assert "…" not in text
    await page.screenshot(path=str(artifacts / f"publicity-{kind}-{width}.png"), full_page=True)
    await context.close()


async def test_the_honor_roll_with_a_photo_keeps_it_in_its_box_on_a_phone(
    browser: Browser, artifacts: Path
) -> None:
    view = all_views()["honor_roll"]
    photo = io.BytesIO()
    Image.new("RGB", (1200, 800), (20, 60, 200)).save(photo, "JPEG")  # landscape: cropped
    html = render(view, "html", RS, photos={view.entries[0].nomination_id: photo.getvalue()})
    assert isinstance(html.content, str)
    context = await browser.new_context(
        viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True
    )
    page = await context.new_page()
    await page.set_content(html.content)
    scroll, inner = await page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    assert scroll <= inner
    boxes = await page.evaluate(BOXES)
    for top, bottom, left, right, p_top, p_bottom, p_left, p_right in boxes:
        assert top <= p_top, "a photo box crosses its separator"
        assert p_bottom <= bottom, "a photo box crosses its separator"
        assert left <= p_left
        assert p_right <= right
    image = await page.evaluate(
        "(() => { const r = document.querySelector('.photo img').getBoundingClientRect();"
        " const b = document.querySelector('.photo').getBoundingClientRect();"
        " return [r.width, r.height, b.width, b.height]; })()"
    )
    assert image[0] == image[2]  # the photo fills its box (cropped, not squeezed)
    assert image[1] == image[3]
    await page.screenshot(
        path=str(artifacts / "publicity-honor_roll-photo-375.png"), full_page=True
    )
    await context.close()
