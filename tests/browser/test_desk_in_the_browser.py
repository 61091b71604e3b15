"""Issue 16 points 6–8 on a 375 px phone, in Chinese: a panelist scores with the evidence in
view (bands, live total, "next"); a nominator's form greys out a full flower and an employee
already nominated, filters the employee list, and refuses a file in Chinese; the office's
grouped menu folds behind 菜单 and fits."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.async_api import Browser, FilePayload, Page, expect

from tests.browser.conftest import Served
from tests.gateway.harness import PASSWORD, ROUND, UNIT_A, nomination_body
from tests.gateway.test_scoring_with_evidence import EVIDENCE, OPINION, nominated_and_on_the_panel

pytestmark = pytest.mark.integration

PHONE = 375


async def phone(browser: Browser) -> Page:
    context = await browser.new_context(
        viewport={"width": PHONE, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    return await context.new_page()


async def sign_in(page: Page, url: str, username: str) -> None:
    await page.goto(f"{url}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}/")


async def shot(page: Page, artifacts: Path, name: str) -> None:
    await page.screenshot(path=str(artifacts / f"desk-{name}-{PHONE}px.png"), full_page=True)


async def fits(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE, f"{page.url} is {width} px wide at {PHONE} px"


async def test_a_panelist_scores_with_the_evidence_on_a_phone(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    rr = await nominated_and_on_the_panel(served.harness)
    page = await phone(browser)
    await sign_in(page, served.url, "p_go")
    await page.goto(f"{served.url}/review/scoring/{ROUND}/{rr.nominations['E100']}")
    await expect(page.locator(f"a[href='{EVIDENCE}']")).to_be_visible()
    await expect(page.get_by_text(OPINION)).to_be_visible()
    await expect(page.locator("#criterion_achievements-bands")).to_contain_text("业绩突出")
    total = page.locator("[data-live-total] .live-total-value")
    await expect(total).to_have_text("—")
    for key, value in (
        ("achievements", "90"),
        ("exemplary_role", "90"),
        ("innovation", "80"),
        ("recognition", "70"),
    ):
        await page.fill(f"#criterion_{key}", value)
    await expect(total).to_have_text("86.00")  # weighted as the panelist types
    await fits(page)
    await shot(page, artifacts, "scoring")

    await page.click("button:has-text('提交评分')")
    await expect(page.locator(".flash.ok")).to_have_text("评分已提交。")
    await expect(page.locator("p.muted", has_text="总分").locator("strong")).to_have_text("86.00")
    await page.click("a.button.next")
    await expect(page.locator("h1")).to_contain_text("李娜")
    await fits(page)
    await shot(page, artifacts, "scoring-next")


async def test_a_nominators_form_prevents_mistakes_on_a_phone(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    harness = served.harness
    user = await harness.account("wy", {"nominator"}, unit_code=UNIT_A, display_name="李静")
    await harness.rpc.command(
        "nomination",
        "submit",
        {
            **nomination_body("E100"),  # 张伟, for the striving flower: its quota of 1 is used
            "actor": str(user.user_id),
            "roles": ["nominator"],
            "actor_unit_code": UNIT_A,
            "unit_code": UNIT_A,
            "nomination_id": str(uuid.uuid4()),
        },
    )
    page = await phone(browser)
    await sign_in(page, served.url, "wy")
    await page.goto(f"{served.url}/nominations/new")
    striving = page.locator("input[name=category][value=striving]")
    await expect(striving).to_be_disabled()
    await expect(page.locator("#why-striving")).to_have_text("本单位本轮名额已用完，不能再选")
    await expect(page.locator("#choice-reform .meaning")).to_contain_text("带头改革创新")
    await expect(page.locator("#employee_no option[value=E100]")).to_be_disabled()
    await expect(page.locator("#employee_no option[value=E100]")).to_contain_text("本轮已被提名")

    # The filter box narrows 160 names to one and picks it.
    await page.fill("input[data-filter-for=employee_no]", "李娜")
    await expect(page.locator(".picker-count")).to_have_text("找到 1 人")
    assert await page.input_value("#employee_no") == "E101"
    await fits(page)
    await shot(page, artifacts, "nomination-form")

    # A file of a refused kind: a Chinese sentence beside the field, nothing submitted.
    await page.check("input[name=category][value=reform]")
    await page.fill("#deeds", nomination_body()["deeds"])
    await page.fill("#recommendation", "同意推荐。")
    await page.set_input_files(
        "#evidence_files",
        files=[FilePayload(name="setup.exe", mimeType="application/octet-stream", buffer=b"MZ")],
    )
    button = page.locator("button:has-text('提交提名')")
    await expect(button).to_have_attribute("data-busy", "正在提交…")
    await button.click()
    await expect(page.locator("#err-evidence_files")).to_contain_text(
        "文件“setup.exe”的类型不允许上传"
    )
    await fits(page)
    await shot(page, artifacts, "upload-refused")


async def test_the_offices_grouped_menu_folds_on_a_phone(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    await served.harness.account("office", {"office"}, display_name="工会办公室 周敏")
    page = await phone(browser)
    await sign_in(page, served.url, "office")
    await expect(page.locator("nav.mainnav a[href='/review/sheet']")).to_be_hidden()
    await page.click("nav.mainnav summary")
    await expect(page.locator(".menu-group[aria-label='评审办公室']")).to_be_visible()
    await expect(page.locator("nav.mainnav a[href='/review/sheet']")).to_be_visible()
    await fits(page)
    await shot(page, artifacts, "menu")
    await page.click("nav.mainnav a[href='/review/sheet']")
    await expect(page.locator("h1")).to_have_text("推荐汇总表")
