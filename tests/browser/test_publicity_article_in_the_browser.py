"""The official-account article copied from its page into the clipboard as rich text, as the
WeChat editor will receive it: the inline styles, the footer, no title inside the body."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import Served
from tests.browser.test_nominator_in_the_browser import sign_in
from tests.gateway.published import publish_past_result

pytestmark = pytest.mark.integration

READ_CLIPBOARD = """async () => {
  const items = await navigator.clipboard.read();
  const blob = await items[0].getType("text/html");
  return await blob.text();
}"""


async def test_the_article_is_copied_for_the_wechat_editor(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    await served.harness.role_accounts()
    drafts = (await publish_past_result(served.harness))["drafts"]
    article = drafts["official_account"]["material_id"]
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.url)
    page = await context.new_page()
    await sign_in(page, served.url, "publicity")
    await page.goto(f"{served.url}/publicity/drafts/{article}")
    button = page.locator("#copy-article")
    await expect(button).to_be_visible()
    await button.click()
    await expect(page.locator("#copy-article-status")).to_contain_text("已复制")
    html = await page.evaluate(READ_CLIPBOARD)
    assert 'style="' in html
    assert "来源：" in html
    assert "<h1" not in html
    assert "<script" not in html
    await page.screenshot(path=str(artifacts / "publicity-article-copied.png"))
    await context.close()
