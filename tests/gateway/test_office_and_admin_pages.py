"""The office's rounds and the administrator's accounts and directory import, through the pages."""

from __future__ import annotations

import pytest

from tests.gateway.harness import PASSWORD, ROUND, UNIT_A, Harness, csrf_in

pytestmark = pytest.mark.integration


async def test_the_office_opens_extends_and_closes_a_round(gateway: Harness) -> None:
    await gateway.account("office", {"office"})
    client = await gateway.signed_in("office")
    page = await client.get("/office/rounds")
    assert page.status_code == 200
    assert "2026年第四季度" in page.text
    assert 'value="2027-Q1"' in page.text  # the next round not opened yet is suggested
    token = csrf_in(page.text)
    bad = await client.post("/office/rounds", data={"csrf_token": token, "round_id": "2027-13"})
    assert bad.status_code == 422
    assert "轮次格式应为" in bad.text
    opened = await client.post("/office/rounds", data={"csrf_token": token, "round_id": "2027-Q1"})
    assert opened.status_code == 303
    again = await client.post("/office/rounds", data={"csrf_token": token, "round_id": "2027-Q1"})
    assert again.status_code == 422
    assert "2027年第一季度已开放过" in again.text
    earlier = await client.post(
        f"/office/rounds/{ROUND}/extend",
        data={"csrf_token": token, "new_deadline": "2026-12-01T18:00", "reason": "年终"},
    )
    assert earlier.status_code == 422
    assert "新的截止时间须晚于现截止时间" in earlier.text
    extended = await client.post(
        f"/office/rounds/{ROUND}/extend",
        data={
            "csrf_token": token,
            "new_deadline": "2026-12-28T18:00",
            "unit_code": UNIT_A,
            "reason": "物业中心年终检修",
        },
    )
    assert extended.status_code == 303
    page = await client.get(extended.headers["location"])
    assert "截止时间已延长" in page.text
    assert "2026年12月28日 18:00" in page.text
    closed = await client.post(f"/office/rounds/{ROUND}/close", data={"csrf_token": token})
    assert closed.status_code == 303
    rounds = await gateway.rpc.query("nomination", "rounds", {})
    assert {r["round_id"]: r["status"] for r in rounds} == {"2027-Q1": "open", ROUND: "closed"}
    home = await client.get("/")
    assert "2027年第一季度" in home.text
    assert "资格审核" in home.text


async def test_an_administrator_creates_a_nominator_who_can_then_sign_in(gateway: Harness) -> None:
    await gateway.account("admin", {"admin"})
    client = await gateway.signed_in("admin")
    form = await client.get("/admin/users/new")
    assert "物业服务中心（WY）" in form.text  # units from the directory
    token = csrf_in(form.text)
    missing_unit = await client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "username": "li",
            "password": PASSWORD,
            "display_name": "李静",
            "roles": "nominator",
        },
    )
    assert missing_unit.status_code == 422
    assert "单位提名人须绑定一个单位" in missing_unit.text
    created = await client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "username": "li",
            "password": PASSWORD,
            "display_name": "李静",
            "roles": ["nominator", "staff"],
            "unit_code": UNIT_A,
        },
    )
    assert created.status_code == 303
    user_page = await client.get(created.headers["location"])
    assert "用户已创建" in user_page.text
    issued = await client.post(
        created.headers["location"].split("?")[0] + "/tokens",
        data={"csrf_token": token, "name": "payroll-system"},
    )
    assert "flw_" in issued.text  # shown once
    li = await gateway.signed_in("li")
    home = await li.get("/")
    assert "本单位提名" in home.text
    assert "公示与光荣榜" in home.text


GBK_CSV = (
    "employee_no,name,unit_code,unit_name,position,active\n"
    "E300,孙悦,YS,运输队,调度员,是\n"
    "E301,,YS,运输队,货车司机,是\n"
    "E302,钱多,YS,运输队,安全员,也许\n"
).encode("gbk")


async def test_a_directory_upload_in_gbk_reports_bad_rows_with_line_numbers(
    gateway: Harness,
) -> None:
    await gateway.account("admin", {"admin"})
    client = await gateway.signed_in("admin")
    token = csrf_in((await client.get("/admin/directory")).text)
    refused = await client.post(
        "/admin/directory",
        data={"csrf_token": token},
        files={"file": ("hr.csv", GBK_CSV, "text/csv")},
    )
    assert refused.status_code == 422
    assert "第3行：姓名不能为空" in refused.text
    assert "第4行：在岗一栏的“也许”无法识别" in refused.text
    assert "未导入任何数据" in refused.text
    assert not [
        u for u in await gateway.rpc.query("nomination", "units", {}) if u["unit_code"] == "YS"
    ]
    skipped = await client.post(
        "/admin/directory",
        data={"csrf_token": token, "skip_bad_rows": "on"},
        files={"file": ("hr.csv", GBK_CSV, "text/csv")},
    )
    assert skipped.status_code == 200
    assert "导入完成" in skipped.text
    assert "新增职工 1 名" in skipped.text
    employees = await gateway.rpc.query("nomination", "employees", {"unit_code": "YS"})
    assert [e["name"] for e in employees] == ["孙悦"]
