"""A correction's whole workflow in the browser: the bulletin approved and published, then a
correction notice drafted from its page, approved and published through the same workflow,
the original left as it was published."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import Served, confirm_dialogs
from tests.browser.test_nominator_in_the_browser import sign_in
from tests.gateway.published import publish_past_result

pytestmark = pytest.mark.integration


async def test_a_published_bulletin_is_corrected_from_its_page(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    await served.harness.role_accounts()
    drafts = (await publish_past_result(served.harness))["drafts"]
    bulletin = drafts["bulletin"]["material_id"]
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    confirm_dialogs(page)
    await sign_in(page, served.url, "publicity")
    await page.goto(f"{served.url}/publicity/drafts/{bulletin}")
    await expect(page.locator("#draft-correction")).to_have_count(0)  # a draft is edited
    await page.click("button:has-text('审核通过')")
    await expect(page.locator(".flash.ok")).to_have_text("已审核通过。")
    await page.click("button:has-text('已在“公司简报”发布')")
    await expect(page.locator(".flash.ok")).to_have_text("已标记为发布。")
    original = await page.locator("dl.facts").inner_text()

    await page.fill("#correction", "第一段“连续四十五天”应为“连续四十天”。<script>x</script>")
    await page.click("#draft-correction")
    await expect(page.locator(".flash.ok")).to_contain_text("已起草更正说明")
    await expect(page.locator("h1")).to_contain_text("更正说明")
    correction_url = page.url
    frame = page.frame_locator("iframe.preview")
    await expect(frame.locator("body")).to_contain_text("连续四十天")
    await expect(frame.locator("body")).to_contain_text("<script>x</script>")  # shown as text
    await page.click("button:has-text('审核通过')")
    await page.click("button:has-text('已在“公司简报”发布')")
    await expect(page.locator(".flash.ok")).to_have_text("已标记为发布。")
    await expect(page.locator(".status-published")).to_be_visible()
    await page.screenshot(
        path=str(artifacts / "publicity-correction-published.png"), full_page=True
    )

    await page.goto(f"{served.url}/publicity/drafts/{bulletin}")
    assert await page.locator("dl.facts").inner_text() == original  # the original as it was
    assert correction_url != page.url
    await context.close()
