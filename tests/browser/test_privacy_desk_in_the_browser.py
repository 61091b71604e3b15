"""The office's 个人信息请求 on a 375 px phone, in Chinese: look an employee up from the home
page's panel, erase with a reason through the confirmation page, see the result; the page
fits the screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import Served
from tests.browser.test_desk_in_the_browser import PHONE, fits, phone, sign_in

pytestmark = pytest.mark.integration


async def test_the_office_erases_an_employees_data_on_a_phone(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    await served.harness.account("office", {"office"})
    keys = served.harness.nomination.keys
    assert keys is not None
    pseudonym = await keys.subject_of("E101")  # 李娜, sealed in the directory's events
    assert pseudonym is not None
    page = await phone(browser)
    await sign_in(page, served.url, "office")
    await page.fill("#home-employee_no", "E101")
    await page.click("form[action='/personal-data'] button[type=submit]")
    await expect(page.locator("#held")).to_contain_text("李娜")
    await expect(page.locator("#held")).to_contain_text("客服专员")
    await fits(page)
    await page.screenshot(path=str(artifacts / f"privacy-desk-{PHONE}px.png"), full_page=True)

    reason = "本人于2026年11月1日书面申请删除"
    await page.fill("#erase-reason", reason)
    await page.click("#erase button[type=submit]")
    await expect(page.locator("h1")).to_have_text("确认删除个人信息")
    await expect(page.locator(".confirm-erasure")).to_contain_text(
        "本人于2026年11月1日书面申请删除"
    )
    await fits(page)
    await page.click("button:has-text('确认删除')")
    await expect(page.locator(".flash.ok")).to_contain_text("已删除该职工的个人信息")
    await expect(page.locator("#erased")).to_contain_text(str(pseudonym))
    await fits(page)
    await page.screenshot(
        path=str(artifacts / f"privacy-desk-erased-{PHONE}px.png"), full_page=True
    )
    assert await keys.subject_of("E101") is None
    await page.context.close()
