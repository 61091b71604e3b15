"""A nominator signs in and nominates a colleague, in Chinese, in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from services.gateway.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo_accounts_into
from tests.browser.conftest import Served
from tests.gateway.harness import DEEDS, PASSWORD, UNIT_A

pytestmark = pytest.mark.integration


async def sign_in(page: Page, url: str, username: str, password: str = PASSWORD) -> None:
    await page.goto(f"{url}/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}/")


async def nominate(page: Page, url: str) -> None:
    await page.click("text=提名职工")
    await expect(page.locator("h1")).to_have_text("提名职工")
    await page.select_option("#employee_no", "E100")
    await page.check("input[name=category][value=striving]")
    await page.fill("#deeds", DEEDS)
    await page.fill("input[name=result_metric_0]", "节约维修成本")
    await page.fill("input[name=result_value_0]", "120000")
    await page.fill("input[name=result_unit_0]", "元")
    await page.fill("#recommendation", "经物业服务中心党政联席会研究，同意推荐。")
    # The nominee agreed to every public use; nothing is ticked until the unit ticks it.
    boxes = page.locator("input[name=consent]")
    await expect(boxes).to_have_count(5)
    for i in range(5):
        await expect(boxes.nth(i)).not_to_be_checked()
        await boxes.nth(i).check()
    await page.click("button:has-text('提交提名')")
    await expect(page.locator(".flash.ok")).to_have_text("提名已提交。")


async def test_a_nominator_submits_a_nomination_in_chinese_and_sees_it_listed(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    await served.harness.account("wy", {"nominator"}, unit_code=UNIT_A, display_name="李静")
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    await sign_in(page, served.url, "wy")
    await expect(page.locator(".panel h2").first).to_contain_text("本单位提名")
    await expect(page.locator(".countdown")).to_contain_text("剩余")
    await page.screenshot(path=str(artifacts / "nominator-home-before.png"), full_page=True)

    # A refusal first: deeds too short, the message sits beside the field.
    await page.click("text=提名职工")
    await page.select_option("#employee_no", "E101")
    await page.check("input[name=category][value=reform]")
    await page.fill("#deeds", "太短")
    await page.fill("#recommendation", "同意")
    await page.click("button:has-text('提交提名')")
    await expect(page.locator("#err-deeds")).to_contain_text("事迹应为 50 至 3000 字")
    await page.screenshot(path=str(artifacts / "nominator-form-refused.png"), full_page=True)

    await page.goto(f"{served.url}/")
    await nominate(page, served.url)
    await page.screenshot(path=str(artifacts / "nominator-detail.png"), full_page=True)
    await page.click("text=首页")
    row = page.locator("table.list tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("张伟")
    await expect(row).to_contain_text("拼搏之花")
    await expect(row).to_contain_text("待审核")
    await expect(page.locator(".quota li").first).to_contain_text("1 / 1")
    await page.screenshot(path=str(artifacts / "nominator-home-after.png"), full_page=True)
    await context.close()


async def test_the_nominator_pages_work_at_phone_width(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    await served.harness.account("wy", {"nominator"}, unit_code=UNIT_A, display_name="李静")
    context = await browser.new_context(
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    page = await context.new_page()
    await sign_in(page, served.url, "wy")
    await nominate(page, served.url)
    await page.click("text=首页")
    await expect(page.locator("table.list tbody tr")).to_contain_text("张伟")
    overflow = await page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 375, f"the page is {overflow} px wide at a 375 px viewport"
    await page.screenshot(path=str(artifacts / "nominator-home-375px.png"), full_page=True)
    await page.click("text=English")
    await expect(page.locator(".panel h2").first).to_contain_text("My unit's nominations")
    await page.screenshot(path=str(artifacts / "nominator-home-375px-en.png"), full_page=True)
    await context.close()


async def test_every_demo_role_has_a_home_page(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    await seed_demo_accounts_into(served.harness.state.accounts)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    for demo in DEMO_ACCOUNTS:
        await sign_in(page, served.url, demo.username, DEMO_PASSWORD)
        await expect(page.locator("h1")).to_contain_text(demo.display_name)
        assert await page.locator(".panel").count() >= 1, demo.username
        await page.screenshot(path=str(artifacts / f"home-{demo.username}.png"), full_page=True)
        await page.click("button:has-text('退出')")
        await page.wait_for_url(f"{served.url}/login?msg=signed_out")
    await context.close()
