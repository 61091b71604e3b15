"""The HR clerk brings the directory in line with an Excel export, on a phone: downloads the
template, uploads a workbook with Chinese headers, reads a bad row named in Chinese, fixes
it and reads what changed in words."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from playwright.async_api import Browser, expect

from tests.browser.conftest import Served
from tests.browser.test_nominator_in_the_browser import sign_in
from tests.browser.test_payroll_and_publicity_in_the_browser import fits_the_screen

pytestmark = pytest.mark.integration

HEADER = ["工号", "姓名", "单位编码", "单位名称", "岗位", "在岗"]


def workbook(path: Path, *rows: list[object]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(buffer.getvalue())
    return path


async def test_the_hr_clerk_imports_an_excel_export_on_a_phone(
    served: Served, browser: Browser, artifacts: Path, tmp_path: Path
) -> None:
    await served.harness.account("hr", {"admin"}, display_name="人力资源部 周敏")
    phone = await browser.new_context(
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        accept_downloads=True,
    )
    page = await phone.new_page()
    await sign_in(page, served.url, "hr")
    await page.goto(f"{served.url}/admin/directory")
    await expect(page.locator("h1")).to_have_text("职工名册")
    await expect(page.locator(".card").first).to_contain_text(
        "工号、姓名、单位编码、单位名称、岗位、在岗"
    )
    await fits_the_screen(page)
    await page.screenshot(path=str(artifacts / "hr-directory-375px.png"), full_page=True)

    async with page.expect_download() as started:
        await page.click("text=Excel 模板（.xlsx）")
    template = await started.value
    assert template.suggested_filename == "职工名册导入模板.xlsx"
    sheet = load_workbook(
        io.BytesIO(await asyncio.to_thread((await template.path()).read_bytes))
    ).worksheets[0]
    assert [c.value for c in sheet[1]] == HEADER

    bad = workbook(
        tmp_path / "名册-有误.xlsx",
        ["H001", "孙悦", "YS", "运输队", "调度员", "是"],
        ["H002", "", "YS", "运输队", "安全员", "是"],
    )
    await page.set_input_files("#file", str(bad))
    await page.click("button:has-text('上传并导入')")
    await expect(page.locator(".flash.error")).to_contain_text("有 1 行有误，未导入任何数据")
    await expect(page.locator("ul.row-errors li")).to_have_text(["第3行：姓名不能为空。"])
    await fits_the_screen(page)
    await page.screenshot(path=str(artifacts / "hr-directory-bad-row-375px.png"), full_page=True)

    good = workbook(
        tmp_path / "名册.xlsx",
        ["H001", "孙悦", "YS", "运输队", "调度员", "是"],
        ["H002", "钱多", "YS", "运输队", "安全员", "是"],
        [1003, "周平", "YS", "运输队", "司机", "是"],
    )
    await page.set_input_files("#file", str(good))
    await page.click("button:has-text('上传并导入')")
    await expect(page.locator(".flash.ok")).to_have_text(
        "导入完成：共读取 3 行。新增职工 3 名；新增单位 1 个。"
    )
    await expect(page.locator("table.list tbody")).to_contain_text("运输队")
    await fits_the_screen(page)
    await page.screenshot(path=str(artifacts / "hr-directory-imported-375px.png"), full_page=True)

    left = workbook(
        tmp_path / "名册-变动.xlsx",
        ["H001", "孙悦", "YS", "运输队", "队长", "是"],
        ["H002", "钱多", "YS", "运输队", "安全员", "否"],
        [1003, "周平", "YS", "运输队", "司机", "是"],
    )
    await page.set_input_files("#file", str(left))
    await page.click("button:has-text('上传并导入')")
    await expect(page.locator(".flash.ok")).to_have_text(
        "导入完成：共读取 3 行。更新 1 名，离岗 1 名。"
    )
    await page.screenshot(path=str(artifacts / "hr-directory-changes-375px.png"), full_page=True)
    employees = await served.harness.rpc.query("nomination", "employees", {"unit_code": "YS"})
    assert sorted(e["employee_no"] for e in employees) == ["1003", "H001"]
    await phone.close()
