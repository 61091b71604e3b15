"""At phone width (375 px) in Chromium: the statistics charts are drawn for the screen (their
text at least 12 px on screen, no two labels overlapping, nothing wider than the screen), and
the honor roll (with a winner's photo) and the public notice (/gongshi) fit: no horizontal
scrolling, every photo inside its winner's box, no text cut off. Screenshots are kept in
test-artifacts/browser/."""

from __future__ import annotations

import base64
import io
import uuid
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page

from tests.browser.conftest import Served
from tests.browser.test_nominator_in_the_browser import sign_in
from tests.gateway.harness import ROUND
from tests.gateway.published import PAST_ROUND, WINNERS, publish_past_result
from tests.gateway.review_setup import review_round

pytestmark = pytest.mark.integration

WIDTH = 375
MIN_TEXT_PX = 12.0

# The page scrolls sideways when its content is wider than the screen.
SCROLL = "[document.scrollingElement.scrollWidth, window.innerWidth]"

# Text cut off: an element that hides its overflow while its content is larger than its box,
# or that ends outside the screen.
CLIPPED = """() => {
  const out = [];
  for (const el of document.querySelectorAll("main *")) {
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const s = getComputedStyle(el);
    if (s.display === "none" || s.visibility === "hidden") continue;
    const r = el.getBoundingClientRect();
    const hides = v => v !== "visible";
    if ((hides(s.overflowX) && el.scrollWidth > el.clientWidth + 1)
        || (hides(s.overflowY) && el.scrollHeight > el.clientHeight + 1)
        || s.textOverflow === "ellipsis" || r.right > innerWidth + 1 || r.left < -1) {
      out.push(`${el.tagName}.${el.className}: ${el.textContent.trim().slice(0, 30)}`);
    }
  }
  return out;
}"""

# Each chart's text as it lands on the screen: matplotlib draws a text as glyph outlines in a
# group scaled from a 100-unit em, so the group's on-screen scale gives its font size in CSS px.
CHART_TEXT = """(svg) => Array.from(svg.querySelectorAll("g[id^='text_']")).map(g => {
  const glyphs = g.querySelector("g[transform*='scale']");
  const r = g.getBoundingClientRect();
  const m = glyphs ? glyphs.getScreenCTM() : null;
  const em = m ? Math.hypot(m.c, m.d) * 100 : 0;
  const note = Array.from(g.childNodes).find(n => n.nodeType === 8);
  const label = note ? note.textContent : g.id;
  return {label: label.trim(), em, left: r.left, top: r.top, right: r.right, bottom: r.bottom};
})"""


async def phone(browser: Browser) -> BrowserContext:
    return await browser.new_context(
        viewport={"width": WIDTH, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )


async def fits(page: Page) -> None:
    scroll, inner = await page.evaluate(SCROLL)
    assert scroll <= inner, f"{page.url} scrolls sideways: {scroll} px at {inner} px"
    assert await page.evaluate(CLIPPED) == [], f"text cut off on {page.url}"


def overlapping(a: dict[str, float], b: dict[str, float]) -> bool:
    slack = 0.5  # glyph outlines of neighbours may touch
    return (
        min(a["right"], b["right"]) - max(a["left"], b["left"]) > slack
        and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > slack
    )


async def test_the_charts_honor_roll_and_notice_read_well_on_a_phone(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    harness = served.harness
    rr = await review_round(harness)
    await rr.accept_all()
    await rr.assign_panel()
    await rr.score_everything()
    await rr.decide_and_announce()
    await publish_past_result(harness)
    first = uuid.uuid5(uuid.NAMESPACE_URL, f"{PAST_ROUND}/{WINNERS[0][1]}")
    picture = io.BytesIO()
    Image.new("RGB", (1200, 800), (20, 60, 200)).save(picture, "PNG")  # landscape: cropped
    await harness.rpc.command(
        "publicity",
        "attach_photo",
        {"actor": rr.id("office"), "roles": ["office"], "round_id": PAST_ROUND,
         "nomination_id": str(first), "photo": base64.b64encode(picture.getvalue()).decode()},
    )  # fmt: skip

    context = await phone(browser)
    try:
        page = await context.new_page()
        # The public notice, without signing in.
        await page.goto(f"{served.url}/gongshi")
        await fits(page)
        await page.screenshot(path=str(artifacts / "gongshi-board-375px.png"), full_page=True)
        await page.goto(f"{served.url}/gongshi/{ROUND}")
        assert await page.locator(".winner-card").count() >= 1
        await fits(page)
        await page.screenshot(path=str(artifacts / "gongshi-round-375px.png"), full_page=True)

        await sign_in(page, served.url, "office")

        # The honor roll: the photo inside its winner's box, the text beside it whole.
        await page.goto(f"{served.url}/honor-roll?round_id={PAST_ROUND}")
        photos = page.locator("img.honor-photo")
        assert await photos.count() == 1
        await page.wait_for_function(
            "() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
        )
        boxes = await page.evaluate(
            """() => Array.from(document.querySelectorAll(".honor-winner")).map(w => {
                 const box = w.closest(".honor-card").getBoundingClientRect();
                 const img = w.querySelector("img");
                 const p = img ? img.getBoundingClientRect() : null;
                 return [box.left, box.right, box.top, box.bottom,
                         p && [p.left, p.right, p.top, p.bottom]];
               })"""
        )
        assert len(boxes) == len(WINNERS)
        for left, right, top, bottom, photo in boxes:
            if photo is not None:
                p_left, p_right, p_top, p_bottom = photo
                assert left <= p_left, "the photo drifts out of its card"
                assert p_right <= right, "the photo drifts out of its card"
                assert top <= p_top, "the photo crosses its card's edge"
                assert p_bottom <= bottom, "the photo crosses its card's edge"
        text = await page.inner_text("main")
        for winner in WINNERS:
            assert winner[2] in text
            assert winner[5] in text
        await fits(page)
        await page.screenshot(path=str(artifacts / "honor-roll-375px.png"), full_page=True)

        # The photos page the office uploads from: each winner's row fits the phone.
        await page.click("text=上传获奖职工照片")
        await page.wait_for_url(f"{served.url}/publicity/rounds/{PAST_ROUND}/photos")
        assert await page.locator(".photo-row").count() == len(WINNERS)
        assert await page.locator(".photo-thumb img").count() == 1
        await fits(page)
        await page.screenshot(path=str(artifacts / "winner-photos-375px.png"), full_page=True)

        # The statistics report's charts: the phone's layout, legible, nothing on top of another.
        await page.goto(f"{served.url}/publicity/reports?scope=round&round_id={ROUND}")
        charts = page.locator(".charts img")
        assert await charts.count() == 3
        await page.evaluate(
            "document.querySelectorAll('.charts img').forEach(i => i.loading = 'eager')"
        )
        await page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.charts img'))"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        await fits(page)
        await page.screenshot(path=str(artifacts / "report-charts-375px.png"), full_page=True)
        shown = await page.evaluate(
            """() => Array.from(document.querySelectorAll('.charts img')).map(i => {
                 const r = i.getBoundingClientRect();
                 return [i.currentSrc, r.width, r.right];
               })"""
        )
        for src, width, right in shown:
            assert "size=narrow" in src, "a phone gets the chart drawn for its width"
            assert right <= WIDTH
            svg = await (await page.request.get(src)).text()
            # The chart alone, at the width the page shows it: measure its text on screen.
            measure = await context.new_page()
            await measure.set_content(
                f'<body style="margin:0"><div id="chart" style="width:{width}px">'
                f"{svg[svg.index('<svg') :]}</div></body>"
            )
            await measure.evaluate(
                "() => { const s = document.querySelector('svg');"
                " s.removeAttribute('height'); s.style.width = '100%'; s.style.height = 'auto'; }"
            )
            texts = await measure.eval_on_selector("svg", CHART_TEXT)
            await measure.close()
            assert len(texts) >= 5, src
            for t in texts:
                assert t["em"] >= MIN_TEXT_PX, f"“{t['label']}” is {t['em']:.1f} px in {src}"
            for i, a in enumerate(texts):
                for b in texts[i + 1 :]:
                    assert not overlapping(a, b), f"“{a['label']}” overlaps “{b['label']}” in {src}"
    finally:
        await context.close()
