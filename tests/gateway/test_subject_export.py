"""An employee's access request (PIPL): after a small round through the real services, the
office exports everything held about 张伟 (E100) — directory entry, nomination, audit, scores,
objection, award, payroll line, honor roll, account and sign-ins — as one workbook with Chinese
headers and Beijing times, and nothing about any other employee; the request is recorded with
its reason; no one but the office may ask, at the gateway or at the services."""

from __future__ import annotations

import zipfile
from io import BytesIO
from typing import Any

import pytest
from openpyxl import load_workbook

from services.gateway import access_log
from services.gateway.accounts import UserFields
from shared.rpc import RemoteError
from tests.gateway.harness import PASSWORD, Harness, csrf_in
from tests.gateway.published import publish_past_result
from tests.gateway.review_setup import review_round

pytestmark = pytest.mark.integration

OTHERS = ("李娜", "E101", "王芳", "E102", "赵强", "E200", "刘洋", "E201")
REASON = "张伟本人于2026年11月1日书面申请查阅、复制其个人信息。"


def cells(content: bytes) -> dict[str, list[list[Any]]]:
    book = load_workbook(BytesIO(content))
    return {
        sheet.title: [[c for c in row] for row in sheet.iter_rows(values_only=True)]
        for sheet in book.worksheets
    }


def unzipped(content: bytes) -> str:
    """Every part of the .xlsx (a zip of XML), decompressed: what the file says, byte-wise."""
    with zipfile.ZipFile(BytesIO(content)) as archive:
        return "".join(archive.read(n).decode("utf-8") for n in archive.namelist())


def text_of(sheet: list[list[Any]]) -> str:
    return " ".join(str(c) for row in sheet for c in row if c is not None)


async def test_the_office_exports_everything_about_one_employee_and_nothing_else(
    gateway: Harness,
) -> None:
    setup = await review_round(gateway)  # 张伟, 李娜, 赵强, 刘洋 nominated in 2026-Q4
    await setup.accept_all()
    await setup.assign_panel()
    await setup.score_everything()
    await setup.decide_and_announce()  # 张伟 proposed as the striving winner
    await setup.object_to_the_winner()  # 张小伟 (E102) objects to 张伟
    await publish_past_result(gateway)  # 2026-Q3: 张伟, 李娜, 赵强 paid
    # 张伟's own employee account, signed in once.
    await gateway.state.accounts.create_user(
        "E100", PASSWORD, UserFields("张伟", frozenset({"staff"}), "WY", None, "E100"), actor="test"
    )
    await (await gateway.signed_in("E100", ip="10.7.7.7")).aclose()

    office = await gateway.signed_in("office", ip="10.3.3.3")
    form = await office.get("/personal-data/export")
    assert form.status_code == 200
    exported = await office.post(
        "/personal-data/export",
        data={"employee_no": "E100", "reason": REASON, "csrf_token": csrf_in(form.text)},
    )
    assert exported.status_code == 200, exported.text
    assert "attachment" in exported.headers["content-disposition"]
    content = exported.content

    raw = unzipped(content)
    for other in OTHERS:
        assert other not in raw, other
    sheets = cells(content)
    every_cell = " ".join(text_of(s) for s in sheets.values())
    for other in OTHERS:
        assert other not in every_cell, other

    cover = text_of(sheets["说明"])
    assert "E100" in cover
    assert "张伟" in cover
    assert REASON in cover
    assert "2026年11月2日 10:00" in cover

    directory = sheets["名册信息"]
    assert directory[0][:3] == ["工号", "姓名", "单位代码"]
    assert directory[1][:2] == ["E100", "张伟"]
    nominations = sheets["被提名记录"]
    assert len(nominations) == 2  # header + the 2026-Q4 nomination
    assert "拼搏之花" in text_of(nominations)
    assert "2026-Q4" in text_of(nominations)
    assert "通过" in text_of(sheets["资格审核"])
    scores = sheets["评委评分"]
    assert len(scores) == 4  # three departments scored 张伟
    assert "总分" in scores[0]
    assert "评委所在部门" in scores[0]
    assert "节约成本的数据与班组台账不符" in text_of(sheets["针对本人的异议"])
    assert "张小伟" not in every_cell  # the objector is not named
    awards = text_of(sheets["获奖记录"])
    assert "2026-Q3" in awards
    assert "500" in awards
    payroll = text_of(sheets["薪酬调整"])
    assert "红花奖励" in payroll
    assert "2026-10" in payroll
    assert "2026-Q3" in text_of(sheets["光荣榜"])
    assert len(sheets["提及本人的宣传材料"]) > 1
    assert "10.7.7.7" in text_of(sheets["登录记录"])
    assert "E100" in text_of(sheets["系统账号"])
    assert "导出职工个人信息" in text_of(sheets["个人信息访问记录"])
    assert sheets["本人提交的提名"] == [["（无记录）"]]

    [record] = await access_log.search(
        gateway.state.pool, access_log.AccessFilter(employee_no="E100")
    )
    assert record.what == "subject_export"
    assert record.viewer_id == str(setup.users["office"].user_id)
    assert record.viewer_roles == ("office",)
    assert record.client_ip == "10.3.3.3"
    assert list(record.subjects) == ["E100"]
    assert record.detail["reason"] == REASON
    page = await office.get("/personal-data/access?employee_no=E100")
    assert "导出职工个人信息（查阅复制请求）" in page.text
    assert REASON in page.text
    await office.aclose()


async def test_only_the_office_may_export_an_employees_data(gateway: Harness) -> None:
    await gateway.role_accounts()
    for other in ("auditor", "admin", "staff", "payroll", "leader"):
        client = await gateway.signed_in(other)
        page = await client.get("/personal-data/export")
        assert page.status_code == 403, other
        await client.aclose()
    async with gateway.client() as http:
        auditor = {"Authorization": f"Bearer {await gateway.token('auditor')}"}
        refused = await http.post(
            "/api/v1/personal-data/exports",
            json={"employee_no": "E100", "reason": "x"},
            headers=auditor,
        )
        assert refused.status_code == 403
        office = {"Authorization": f"Bearer {await gateway.token('office')}"}
        unknown = await http.post(
            "/api/v1/personal-data/exports",
            json={"employee_no": "E999", "reason": "x"},
            headers=office,
        )
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "unknown_employee"
        found = await http.post(
            "/api/v1/personal-data/exports",
            json={"employee_no": "E201", "reason": "本人申请"},
            headers=office,
        )
        assert found.status_code == 200
        assert "刘洋" in text_of(cells(found.content)["名册信息"])
    # The services answer the office only, on the signed identity, whatever the gateway does.
    for service in ("nomination", "review", "rewards", "publicity", "notification"):
        with pytest.raises(RemoteError) as refused_by:
            await gateway.rpc.query(
                service,
                "employee_data",
                {"employee_no": "E100", "viewer": "someone", "viewer_roles": ["auditor"]},
            )
        assert refused_by.value.error.code == "subject_access_office_only", service
    records = await access_log.search(gateway.state.pool, access_log.AccessFilter())
    assert [(r.what, list(r.subjects)) for r in records] == [("subject_export", ["E201"])]
