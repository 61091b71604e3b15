"""Payroll exports a period and acknowledges it; publicity edits, approves and publishes a
draft — in Chinese, in a real browser, on the desktop and at phone width."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Served, confirm_dialogs
from tests.browser.test_nominator_in_the_browser import sign_in
from tests.gateway.published import PERIOD, WINNERS, publish_past_result

pytestmark = pytest.mark.integration


async def fits_the_screen(page: Page, width: int = 375) -> None:
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll} px wide at a {width} px viewport"


async def test_payroll_exports_a_period_and_acknowledges_it(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    await served.harness.account("finance", {"payroll"}, display_name="财务部 林文博")
    await served.harness.account("audit", {"auditor"}, display_name="审计 何志明")
    await publish_past_result(served.harness)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    confirm_dialogs(page)
    await sign_in(page, served.url, "finance")
    panel = page.locator(".panel[data-role=payroll]")
    await expect(panel.locator("h3").first).to_have_text("待确认入账")
    await expect(panel).to_contain_text("2026年10月")
    await page.screenshot(path=str(artifacts / "payroll-home.png"), full_page=True)

    await panel.locator("a.button.primary", has_text="确认入账").click()
    await expect(page.locator("h1")).to_contain_text("2026年10月")
    rows = page.locator("table.list tbody tr")
    await expect(rows).to_have_count(len(WINNERS))
    await expect(rows.first).to_contain_text("待确认")

    async with page.expect_download() as started:
        await page.click("text=导出 CSV（UTF-8）")
    download = await started.value
    assert download.suggested_filename == f"薪酬调整_{PERIOD}_UTF-8.csv"  # the encoding named
    saved = artifacts / f"payroll-{PERIOD}.csv"
    await download.save_as(saved)
    content = await asyncio.to_thread(saved.read_bytes)
    assert content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(table) == len(WINNERS) + 1
    async with page.expect_download() as started:
        await page.click("text=导出 CSV（GBK）")
    gbk = await started.value
    assert gbk.suggested_filename == f"薪酬调整_{PERIOD}_GBK.csv"
    async with page.expect_download() as started:
        await page.click("text=导出 Excel（.xlsx）")
    workbook = await started.value
    assert workbook.suggested_filename == f"薪酬调整_{PERIOD}.xlsx"
    sheet = load_workbook(
        io.BytesIO(await asyncio.to_thread(Path(await workbook.path()).read_bytes))
    ).worksheets[0]
    assert [c.value for c in sheet[1]] == [
        "工号",
        "姓名",
        "部门",
        "期间",
        "项目",
        "金额",
        "业务单号",
    ]
    assert sheet.max_row == len(WINNERS) + 1
    gbk_content = await asyncio.to_thread(Path(await gbk.path()).read_bytes)
    assert list(csv.reader(io.StringIO(gbk_content.decode("gbk")))) == table

    await page.fill("#payroll_reference", "2026年10月工资批次 PR-1024")
    await page.click("button:has-text('全部确认入账')")
    await expect(page.locator(".flash.ok")).to_have_text("已确认本期全部未确认的调整。")
    await expect(page.locator("table.list tbody tr .status-open")).to_have_count(len(WINNERS))
    await page.click("text=对账报告")
    await expect(page.locator(".lead")).to_contain_text("完全一致")
    await page.screenshot(path=str(artifacts / "payroll-reconciled.png"), full_page=True)
    await context.close()

    # The auditor's home, and the payroll pages at phone width.
    phone = await browser.new_context(
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    page = await phone.new_page()
    await sign_in(page, served.url, "audit")
    await expect(page.locator(".panel[data-role=auditor] h2")).to_have_text("审计")
    await fits_the_screen(page)
    await page.screenshot(path=str(artifacts / "auditor-home-375px.png"), full_page=True)
    await page.click("button:has-text('立即校验')")
    await expect(page.locator(".verify-report .flash")).to_contain_text("校验通过")
    await fits_the_screen(page)
    await page.goto(f"{served.url}/payroll/periods/{PERIOD}")
    await expect(page.locator("table.list tbody tr")).to_have_count(len(WINNERS))
    await fits_the_screen(page)
    await page.screenshot(path=str(artifacts / "payroll-period-375px.png"), full_page=True)
    await phone.close()


async def test_publicity_edits_approves_and_publishes_a_draft(
    served: Served, browser: Browser, artifacts: Path
) -> None:
    await served.harness.account("pm", {"publicity"}, display_name="党群工作部 黄海燕")
    await publish_past_result(served.harness)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    confirm_dialogs(page)
    await sign_in(page, served.url, "pm")
    panel = page.locator(".panel[data-role=publicity]")
    await expect(panel).to_contain_text("会议短视频脚本")
    await expect(panel).to_contain_text("待编辑、审核")
    await page.screenshot(path=str(artifacts / "publicity-home.png"), full_page=True)

    await panel.locator("a", has_text="会议短视频脚本").click()
    await expect(page.locator("h1")).to_contain_text("会议短视频脚本")
    preview = page.frame_locator("iframe.preview")
    await expect(preview.locator("body")).to_contain_text(WINNERS[0][2])

    await page.click("a.button:has-text('编辑')")
    caption = page.locator("input[name^='caption:']").first
    await caption.fill("拼搏之花" * 16)  # 64 characters
    await expect(caption.locator("xpath=following-sibling::p[1]")).to_contain_text("64 / 60")
    await page.click("button:has-text('保存修改')")
    await expect(page.locator(".field-error").first).to_contain_text("字幕最多 60 个字")
    await page.screenshot(path=str(artifacts / "publicity-caption-refused.png"), full_page=True)
    await page.locator("input[name^='caption:']").first.fill("拼搏之花·张伟：管网快修第一人")
    await page.click("button:has-text('保存修改')")
    await expect(page.locator(".flash.ok")).to_have_text("修改已保存，需重新审核。")
    await expect(preview.locator("body")).to_contain_text("管网快修第一人")

    await page.click("button:has-text('审核通过')")
    await expect(page.locator(".flash.ok")).to_have_text("已审核通过。")
    await page.click("button:has-text('已在“月度作业计划会”发布')")
    await expect(page.locator(".flash.ok")).to_have_text("已标记为发布。")
    await expect(page.locator(".facts")).to_contain_text("✓ 已发布")
    async with page.expect_download() as started:
        await page.click("text=字幕（SRT）")
    srt = await started.value
    assert srt.suggested_filename == "2026-Q3-storyboard.srt"
    await page.screenshot(path=str(artifacts / "publicity-published.png"), full_page=True)

    await page.click("text=首页")
    await expect(panel).not_to_contain_text("会议短视频脚本 已发布")
    await page.set_viewport_size({"width": 375, "height": 812})
    await page.goto(f"{served.url}/publicity/rounds/2026-Q3")
    await fits_the_screen(page)
    await page.screenshot(path=str(artifacts / "publicity-round-375px.png"), full_page=True)
    await context.close()
