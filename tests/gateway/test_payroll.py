"""Payroll (Finance) through the pages and the API: adjustments by period, export in both
encodings, acknowledgement one by one and for a whole period, reconciliation, the ledger."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal
from urllib.parse import quote

import pytest
from openpyxl import load_workbook

from tests.gateway.harness import Harness, csrf_in
from tests.gateway.published import PERIOD, WINNERS, publish_past_result

pytestmark = pytest.mark.integration


def rows_of(content: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode(encoding))))


async def test_payroll_exports_a_period_and_acknowledges_it_through_the_pages(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    published = await publish_past_result(gateway)
    client = await gateway.signed_in("payroll")

    home = await client.get("/")
    assert "待确认入账" in home.text
    assert "2026年10月" in home.text

    period = await client.get(f"/payroll/periods/{PERIOD}")
    assert period.status_code == 200
    for _, employee_no, name, *_ in WINNERS:
        assert name in period.text
        assert employee_no in period.text
    assert period.text.count("待确认") >= len(WINNERS)
    assert "全部确认入账（3 项）" in period.text

    utf8 = await client.get(f"/payroll/periods/{PERIOD}/export?encoding=utf-8-sig")
    assert utf8.status_code == 200
    assert utf8.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="payroll-{PERIOD}-UTF-8.csv"' in utf8.headers["content-disposition"]
    assert (  # RFC 5987: 薪酬调整_2026-10_UTF-8.csv
        f"filename*=UTF-8''{quote(f'薪酬调整_{PERIOD}_UTF-8.csv')}"
        in utf8.headers["content-disposition"]
    )
    assert utf8.headers["content-disposition"].startswith("attachment")
    assert utf8.content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads it as UTF-8
    rows = rows_of(utf8.content, "utf-8-sig")
    assert len(rows) == len(WINNERS) + 1
    assert {w[2] for w in WINNERS} <= {c for r in rows for c in r}

    gbk = await client.get(f"/payroll/periods/{PERIOD}/export?encoding=gbk")
    assert gbk.headers["content-type"] == "text/csv; charset=gbk"
    assert quote(f"薪酬调整_{PERIOD}_GBK.csv") in gbk.headers["content-disposition"]
    assert rows_of(gbk.content, "gbk") == rows
    bad = await client.get(f"/payroll/periods/{PERIOD}/export?encoding=latin-1")
    assert bad.status_code == 422

    token = csrf_in(period.text)
    first = published["adjustments"][0]["adjustment_id"]
    one = await client.post(f"/payroll/adjustments/{first}/acknowledge", data={"csrf_token": token})
    assert one.status_code == 303
    page = await client.get(one.headers["location"])
    assert "已确认该调整已入账" in page.text
    assert "全部确认入账（2 项）" in page.text
    again = await client.post(
        f"/payroll/adjustments/{first}/acknowledge", data={"csrf_token": token}
    )
    assert "already_acknowledged" in again.headers["location"]

    rest = await client.post(
        f"/payroll/periods/{PERIOD}/acknowledge",
        data={"csrf_token": token, "payroll_reference": "PR-2026-10"},
    )
    assert rest.status_code == 303
    page = await client.get(rest.headers["location"])
    assert "已确认本期全部未确认的调整" in page.text
    assert "全部确认入账" not in page.text

    report = await client.get(f"/payroll/periods/{PERIOD}/reconciliation")
    assert "奖励、工资调整与工资系统的确认完全一致" in report.text
    line = await client.get(f"/payroll/adjustments/{published['adjustments'][1]['adjustment_id']}")
    assert "PR-2026-10" in line.text
    assert "测试 payroll" in line.text  # who acknowledged, by name
    second = published["adjustments"][1]
    assert f"TZ202610-{second['position']:04d}" in line.text  # 业务单号, not the UUID
    assert "红花奖励 · 并入当月工资计税" in line.text  # not FLOWER_AWARD · taxable_earning
    assert "FLOWER_AWARD · taxable_earning" not in line.text

    ledger = await client.get("/payroll/ledger")
    assert "1,500.00 元" in ledger.text
    feed = await client.get("/payroll/feed")
    assert feed.text.count("/payroll/adjustments/") == len(WINNERS)
    await client.aclose()

    # The auditor reads the same pages, without a button to press.
    auditor = await gateway.signed_in("auditor")
    seen = await auditor.get(f"/payroll/periods/{PERIOD}")
    assert seen.status_code == 200
    assert "/acknowledge" not in seen.text
    await auditor.aclose()


async def test_payrolls_system_pulls_acknowledges_and_reconciles_through_the_api(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    published = await publish_past_result(gateway)
    auth = {"Authorization": f"Bearer {await gateway.token('payroll')}"}
    async with gateway.client() as client:
        page = await client.get("/api/v1/payroll/adjustments?after=0&limit=2", headers=auth)
        assert page.status_code == 200
        body = page.json()
        assert len(body["items"]) == 2
        rest = await client.get(
            f"/api/v1/payroll/adjustments?after={body['next_after']}", headers=auth
        )
        pulled = body["items"] + rest.json()["items"]
        assert [a["adjustment_id"] for a in pulled] == [
            a["adjustment_id"] for a in published["adjustments"]
        ]
        assert {a["amount"] for a in pulled} == {"500.00"}

        first = pulled[0]["adjustment_id"]
        url = f"/api/v1/payroll/adjustments/{first}/acknowledge"
        acknowledged = await client.post(url, json={"payroll_reference": "B-1"}, headers=auth)
        assert acknowledged.status_code == 200, acknowledged.text
        assert acknowledged.json()["status"] == "acknowledged"
        repeated = await client.post(url, json={"payroll_reference": "B-1"}, headers=auth)
        assert repeated.json()["status"] == "already_acknowledged"
        conflict = await client.post(url, json={"amount": "400.00"}, headers=auth)
        assert conflict.status_code == 409
        assert conflict.headers["content-type"].startswith("application/problem+json")
        assert conflict.json()["code"] == "acknowledgement_conflict"
        floated = await client.post(url, json={"amount": 500.0}, headers=auth)
        assert floated.status_code == 422  # money is never a float

        # Payroll applied an id rewards never issued: recorded, and reported.
        stray = uuid.uuid4()
        unknown = await client.post(
            f"/api/v1/payroll/adjustments/{stray}/acknowledge",
            json={"period": PERIOD, "amount": "500.00", "currency": "CNY"},
            headers=auth,
        )
        assert unknown.status_code == 200, unknown.text
        report = (
            await client.get(f"/api/v1/payroll/periods/{PERIOD}/reconciliation", headers=auth)
        ).json()
        kinds = sorted(m["kind"] for m in report["mismatches"])
        assert kinds == ["missing_acknowledgement"] * 2 + ["unknown_acknowledgement"]

        everything = await client.post(
            f"/api/v1/payroll/periods/{PERIOD}/acknowledge", json={}, headers=auth
        )
        assert everything.json()["pending"] == 2
        assert len(everything.json()["acknowledged"]) == 2

        exported = await client.get(
            f"/api/v1/payroll/periods/{PERIOD}/export?encoding=gbk", headers=auth
        )
        assert exported.headers["content-type"] == "text/csv; charset=gbk"
        assert exported.headers["x-rows"] == str(len(WINNERS))
        assert len(rows_of(exported.content, "gbk")) == len(WINNERS) + 1
        wrong_period = await client.get("/api/v1/payroll/periods/2026-13/export", headers=auth)
        assert wrong_period.status_code == 422
        assert wrong_period.json()["code"] == "invalid_period"

        periods = (await client.get("/api/v1/payroll/periods", headers=auth)).json()
        assert periods[0]["period"] == PERIOD
        assert periods[0]["acknowledged"] == len(WINNERS) + 1
        ledger = (await client.get("/api/v1/payroll/ledger?year=2026", headers=auth)).json()
        assert ledger["total"][0]["net"] == "1500.00"

    # The mismatch shows on the reconciliation page as a sentence, not a code.
    client = await gateway.signed_in("payroll")
    page = await client.get(f"/payroll/periods/{PERIOD}/reconciliation")
    assert "工资系统确认了不存在的调整单" in page.text
    await client.aclose()


async def test_payroll_downloads_the_period_as_an_excel_workbook(gateway: Harness) -> None:
    await gateway.role_accounts()
    published = await publish_past_result(gateway)
    client = await gateway.signed_in("payroll")
    period = await client.get(f"/payroll/periods/{PERIOD}")
    assert f'href="/payroll/periods/{PERIOD}/export?format=xlsx"' in period.text

    xlsx = await client.get(f"/payroll/periods/{PERIOD}/export?format=xlsx")
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert f'filename="payroll-{PERIOD}.xlsx"' in xlsx.headers["content-disposition"]
    assert quote(f"薪酬调整_{PERIOD}.xlsx") in xlsx.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert sheet.title == "2026年10月"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("工号", "姓名", "部门", "期间", "项目", "金额", "业务单号")
    assert len(rows) == len(WINNERS) + 1
    by_name = {row[1]: row for row in rows[1:]}
    for _, employee_no, name, _, unit_name, *_ in WINNERS:
        row = by_name[name]
        assert row[0] == employee_no
        assert row[2] == unit_name
        assert row[3] == PERIOD
        assert str(row[4]).startswith("2026年第三季度 ")
    for cells in sheet.iter_rows(min_row=2):
        assert cells[0].data_type == "s"  # 工号 is text, never a number
        assert cells[5].data_type == "n"
        assert cells[5].number_format == "#,##0.00"
    issued = {a["employee_no"]: a for a in published["adjustments"]}
    for row in rows[1:]:
        adjustment = issued[str(row[0])]
        assert Decimal(str(row[5])) == Decimal(adjustment["amount"])
        assert row[6] == f"TZ202610-{adjustment['position']:04d}"

    api = await client.get(f"/api/v1/payroll/periods/{PERIOD}/export?format=xlsx")
    assert api.content[:4] == b"PK\x03\x04"
    assert api.headers["x-rows"] == str(len(WINNERS))
    refused = await client.get(f"/payroll/periods/{PERIOD}/export?format=pdf")
    assert refused.status_code == 422
