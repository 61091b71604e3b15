"""An employee without a session, on a 375 px phone, reads the public notice and reaches the
objection form (signing in on the way, as an objection is made under one's real name)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Served
from tests.gateway.harness import PASSWORD, ROUND
from tests.gateway.review_setup import review_round

pytestmark = pytest.mark.integration

WIDTH = 375


async def fits(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{page.url} is {width} px wide at {WIDTH} px"


async def test_an_anonymous_employee_on_a_phone_reads_the_notice_and_reaches_the_objection_form(
    browser: Browser, served: Served, artifacts: Path
) -> None:
    rr = await review_round(served.harness)
    await rr.accept_all()
    await rr.assign_panel()
    await rr.score_everything()
    await rr.decide_and_announce()

    context = await browser.new_context(
        viewport={"width": WIDTH, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    try:
        page = await context.new_page()
        await page.goto(f"{served.url}/gongshi")
        await fits(page)
        await page.click(f"a[href='/gongshi/{ROUND}']")
        await page.wait_for_url(f"{served.url}/gongshi/{ROUND}")
        await expect(page.locator(".winner-name")).to_have_text(["张伟"])
        await expect(page.locator(".winner-card .deeds").first).to_contain_text("主要事迹：")
        await expect(page.locator(".deadline").first).to_contain_text("公示期：2026年11月2日")
        await expect(page.locator(".objection-contact")).to_contain_text("电子邮箱")
        await expect(page.locator(".signature")).to_contain_text("2026年11月2日")
        assert "E100" not in await page.content()
        await fits(page)
        await page.screenshot(
            path=str(artifacts / "public-notice-anonymous-375px.png"), full_page=True
        )

        await page.click("text=在线实名提出异议")
        await page.wait_for_url(re.compile(r"/login\?next=(/|%2F)review(/|%2F)notice$"))
        await fits(page)
        await page.fill("#username", "staff")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{served.url}/review/notice")
        await page.click("summary:has-text('提出异议')")
        await expect(page.locator("textarea[name=text]")).to_be_visible()
        await expect(page.locator(".winner-card").first).to_contain_text("张伟")
        await fits(page)
        await page.screenshot(
            path=str(artifacts / "public-notice-objection-form-375px.png"), full_page=True
        )
    finally:
        await context.close()
