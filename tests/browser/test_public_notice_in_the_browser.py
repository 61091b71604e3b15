"""An employee without a session, on a 375 px phone, reads the public notice and reaches the
objection form: an objection is made under one's real name, so on the way they activate their
account with the code their unit handed out, sign in with their employee number, and object."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from services.gateway.employees import EmployeeAccounts
from tests.browser.conftest import Served
from tests.gateway.harness import ROUND
from tests.gateway.review_setup import review_round

pytestmark = pytest.mark.integration

WIDTH = 375
NEW_PASSWORD = "peony-harbour-lantern-77"


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
    # The unit's secretary printed the activation sheet (the page is tested at the API level).
    harness = served.harness
    directory = await harness.rpc.query(
        "nomination", "employees", {"unit_code": None, "active_only": False}
    )
    employees = EmployeeAccounts(harness.state.accounts)
    await employees.provision(directory, actor="test")
    codes = {c.employee_no: c.code for c in await employees.issue_codes("WY", actor="test")}

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
        # 李娜 (E101) has no password yet: the slip from her unit's sheet activates her account.
        await page.click("text=用单位发放的激活码设置密码")
        await page.wait_for_url(re.compile(r"/activate\?next="))
        await fits(page)
        await page.fill("#employee_no", "E101")
        await page.fill("#code", codes["E101"])
        await page.fill("#password", NEW_PASSWORD)
        await page.fill("#password2", NEW_PASSWORD)
        await page.screenshot(path=str(artifacts / "employee-activation-375px.png"), full_page=True)
        await page.click("button[type=submit]")
        await page.wait_for_url(
            re.compile(r"/login\?next=(/|%2F)review(/|%2F)notice&msg=activated")
        )
        await expect(page.locator(".flash.ok")).to_contain_text("账户已激活")
        await page.fill("#username", "E101")
        await page.fill("#password", NEW_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{served.url}/review/notice")
        await page.click("summary:has-text('提出异议')")
        await expect(page.locator("textarea[name=text]")).to_be_visible()
        await expect(page.locator(".winner-card").first).to_contain_text("张伟")
        await expect(page.locator("form .hint strong").first).to_have_text("李娜")  # real name
        await fits(page)
        await page.screenshot(
            path=str(artifacts / "public-notice-objection-form-375px.png"), full_page=True
        )
        await page.fill("textarea[name=text]", "张伟同志的节约成本数据需要核实。")
        await page.click("button:has-text('实名提交异议')")
        await expect(page.locator("text=我提出的异议")).to_be_visible()
        await fits(page)
    finally:
        await context.close()
