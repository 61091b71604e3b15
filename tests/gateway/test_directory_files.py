"""HR's own files in the directory import: Chinese headers, Excel workbooks, the template,
errors that name the columns in Chinese, and a report in words."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from tests.gateway.harness import Harness, csrf_in

pytestmark = pytest.mark.integration

API = "/api/v1/directory"
HEADER = ("工号", "姓名", "单位编码", "单位名称", "岗位", "在岗")


def workbook(*rows: tuple[Any, ...]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(HEADER))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def test_hr_imports_its_own_files_through_the_api_and_reads_the_report_in_words(
    gateway: Harness,
) -> None:
    await gateway.account("hr", {"admin"})
    auth = {"Authorization": f"Bearer {await gateway.token('hr')}"}
    async with gateway.client() as client:
        template = await client.get(f"{API}/template.xlsx", headers=auth)
        assert template.status_code == 200
        assert template.headers["content-type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        assert "filename*=UTF-8''%E8%81%8C%E5%B7%A5" in template.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(template.content)).worksheets[0]
        assert tuple(c.value for c in sheet[1]) == HEADER
        csv_template = await client.get(f"{API}/template.csv", headers=auth)
        assert csv_template.content.startswith(b"\xef\xbb\xbf\xe5\xb7\xa5\xe5\x8f\xb7")  # BOM 工号
        assert "UTF-8.csv" in csv_template.headers["content-disposition"]
        assert (await client.get(f"{API}/template.pdf", headers=auth)).status_code == 422

        chinese_csv = (
            "工号,姓名,单位编码,单位名称,岗位,在岗\n"
            "H001,孙悦,YS,运输队,调度员,是\n"
            "H002,钱多,YS,运输队,安全员,是\n"
            "H003,周平,YS,运输队,司机,是\n"
        ).encode("gbk")
        first = await client.post(
            f"{API}/import.csv", files={"file": ("名册.csv", chinese_csv)}, headers=auth
        )
        assert first.status_code == 200, first.text
        assert first.json()["report_zh"] == "新增职工 3 名；新增单位 1 个"

        bad = workbook(
            ("H004", "", "YS", "运输队", "司机", "是"), ("H005", "吴六", "YS", "运输队", "", "也许")
        )
        refused = await client.post(
            f"{API}/import.csv", files={"file": ("名册.xlsx", bad)}, headers=auth
        )
        assert refused.status_code == 422
        assert [(r["line"], r["message_zh"]) for r in refused.json()["details"]["rows"]] == [
            (2, "姓名不能为空。"),
            (3, "在岗一栏的“也许”无法识别（应填 是/否 或 1/0）。"),
        ]

        excel = workbook(
            ("H001", "孙悦", "YS", "运输队", "队长", "是"),  # a new position
            ("H002", "钱多", "YS", "运输队", "安全员", "否"),  # left
            ("H003", "周平", "YS", "运输队", "司机", "是"),  # unchanged
            (6, "吴六", "YS", "运输队", "司机", 1),  # typed as numbers in Excel
        )
        second = await client.post(
            f"{API}/import.csv", files={"file": ("名册.xlsx", excel)}, headers=auth
        )
        assert second.status_code == 200, second.text
        assert second.json()["report_zh"] == "新增职工 1 名，更新 1 名，离岗 1 名"
        assert second.json()["report_en"] == "1 employee(s) added, 1 updated, 1 left"
        employees = await gateway.rpc.query("nomination", "employees", {"unit_code": "YS"})
        assert {(e["employee_no"], e["position"]) for e in employees} == {
            ("H001", "队长"),
            ("H003", "司机"),
            ("6", "司机"),
        }

        garbage = await client.post(
            f"{API}/import.csv", files={"file": ("x.xlsx", b"PK\x03\x04broken")}, headers=auth
        )
        assert garbage.status_code == 422
        assert garbage.json()["code"] == "unreadable_file"


async def test_the_directory_page_offers_the_templates_and_takes_an_excel_file(
    gateway: Harness,
) -> None:
    await gateway.account("admin", {"admin"})
    client = await gateway.signed_in("admin")
    page = await client.get("/admin/directory")
    assert 'href="/api/v1/directory/template.xlsx"' in page.text
    assert "工号、姓名、单位编码、单位名称、岗位、在岗" in page.text
    imported = await client.post(
        "/admin/directory",
        data={"csrf_token": csrf_in(page.text)},
        files={"file": ("名册.xlsx", workbook(("H010", "郑洁", "HW", "后勤服务部", "库管", "是")))},
    )
    assert imported.status_code == 200
    assert "导入完成：共读取 1 行。新增职工 1 名；新增单位 1 个。" in imported.text
