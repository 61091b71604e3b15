"""The office's desk: each panelist's progress with a recorded reminder, the deeds in the
audit list, lists that open on the current round, the 推荐汇总表 (.xlsx and printable)."""

from __future__ import annotations

import uuid
from io import BytesIO

import pytest
from openpyxl import load_workbook

from tests.gateway.harness import DEEDS, ROUND, UNIT_A, Harness, csrf_in, nomination_body
from tests.gateway.review_setup import SHEET_HIGH, review_round
from tests.support import eventually

pytestmark = pytest.mark.integration


async def test_the_office_sees_who_has_not_scored_and_reminds_them(gateway: Harness) -> None:
    rr = await review_round(gateway)
    await rr.accept_all(reject="E101")
    await rr.assign_panel()
    await rr.score("p_go", "E100", SHEET_HIGH)
    office = await gateway.signed_in("office")
    page = await office.get(f"/review/panel?round_id={ROUND}")
    assert page.status_code == 200
    # 综合办公室 陈刚 scored one of three; 工会 孙丽 (unit WY) may score CY's two only.
    assert f'id="progress-{rr.id("p_go")}"' in page.text
    go = page.text.split(f'id="progress-{rr.id("p_go")}"')[1].split("</p>")[0]
    assert "已评 1 / 3" in go
    assert "待评 2" in go
    wy = page.text.split(f'id="progress-{rr.id("p_wy")}"')[1].split("</p>")[0]
    assert "已评 0 / 2" in wy

    reminded = await office.post(
        f"/review/panel/{ROUND}/{rr.id('p_fin')}/remind", data={"csrf_token": csrf_in(page.text)}
    )
    assert reminded.status_code == 303
    after = await office.get(reminded.headers["location"])
    assert "已提醒该评委评分" in after.text
    fin = after.text.split(f'id="progress-{rr.id("p_fin")}"')[1]
    assert "已提醒" in fin.split("</article>")[0]
    assert "2026年11月2日" in fin.split("</article>")[0]  # the time, in Chinese form
    assert "工会办公室 周敏" in fin.split("</article>")[0]  # by whom

    # Recorded in the round's log, with how many were waiting.
    events = await gateway.rpc.query("review", "panel", {"round_id": ROUND})
    (fin_row,) = [p for p in events if p["panelist_id"] == rr.id("p_fin")]
    assert fin_row["reminders"] == 1
    assert fin_row["reminded_by"] == rr.id("office")

    # Somebody with nothing left to score is not reminded: a Chinese refusal.
    for sheet in ("E200", "E201"):
        await rr.score("p_go", sheet, SHEET_HIGH)
    refused = await office.post(
        f"/review/panel/{ROUND}/{rr.id('p_go')}/remind", data={"csrf_token": csrf_in(page.text)}
    )
    assert refused.status_code == 422
    assert "已没有待评分的提名，无需提醒" in refused.text
    # Only the office reminds.
    leader = await gateway.signed_in("leader")
    denied = await leader.post(
        f"/review/panel/{ROUND}/{rr.id('p_fin')}/remind",
        data={"csrf_token": gateway.csrf_for(leader)},
    )
    assert denied.status_code == 403


async def test_the_audit_list_shows_the_deeds(gateway: Harness) -> None:
    await review_round(gateway)
    office = await gateway.signed_in("office")
    page = await office.get("/review/audits")
    assert page.text.count("展开全部事迹") == 4
    assert DEEDS[:40] in page.text
    assert "节约成本：120000 元" in page.text
    assert "经单位研究，同意推荐。" in page.text


async def test_the_nomination_list_opens_on_the_current_round(gateway: Harness) -> None:
    rr = await review_round(gateway)
    office = {"actor": rr.id("office"), "roles": ["office"]}
    await gateway.rpc.command("nomination", "open_round", {**office, "round_id": "2027-Q1"})
    newer = str(uuid.uuid4())
    await gateway.rpc.command(
        "nomination",
        "submit",
        {
            **nomination_body("E102", round_id="2027-Q1"),
            "actor": rr.id("wy"),
            "roles": ["nominator"],
            "actor_unit_code": UNIT_A,
            "unit_code": UNIT_A,
            "nomination_id": newer,
        },
    )
    client = await gateway.signed_in("office")

    async def listed() -> bool:
        return "王芳" in (await client.get("/nominations")).text

    await eventually(listed, timeout=10, what="the new round's nomination to be listed")
    page = await client.get("/nominations")
    assert "张伟" not in page.text  # the earlier round's rows are one choice away
    assert 'value="2027-Q1" selected' in page.text
    every = await client.get("/nominations?round_id=")
    assert every.text.index("王芳") < every.text.index("张伟")  # the newest round first


async def test_the_summary_sheet_downloads_as_xlsx_and_prints(gateway: Harness) -> None:
    rr = await review_round(gateway)
    await rr.accept_all(reject="E101")
    await rr.assign_panel()
    await rr.score_everything()
    office = await gateway.signed_in("office")
    page = await office.get("/review/sheet")
    assert page.status_code == 200
    assert "2026年第四季度“五朵金花”推荐汇总表" in page.text
    assert f'href="/review/sheet/{ROUND}.xlsx"' in page.text
    assert "window.print()" in page.text
    assert "已驳回（缺少单位盖章。）" in page.text

    answer = await office.get(f"/review/sheet/{ROUND}.xlsx")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "filename*=UTF-8''%E6%8E%A8%E8%8D%90" in answer.headers["content-disposition"]
    sheet = load_workbook(BytesIO(answer.content)).active
    assert sheet is not None
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][0] == "2026年第四季度“五朵金花”推荐汇总表"
    assert rows[1][:4] == ["序号", "奖项", "单位", "姓名"]
    by_name = {r[3]: r for r in rows[2:]}
    assert set(by_name) == {"张伟", "李娜", "赵强", "刘洋"}
    zhang = by_name["张伟"]
    assert zhang[1] == "拼搏之花"
    assert zhang[4] == "E100"
    assert zhang[6] == DEEDS
    assert zhang[7] == "节约成本：120000 元"
    assert zhang[9] == "已通过"
    assert zhang[10] == "91.80"  # the panel's mean, two decimals
    assert zhang[11] == 1
    assert by_name["李娜"][9] == "已驳回（缺少单位盖章。）"

    # The auditor reads the sheet without scores (the ranking is not theirs to see).
    auditor = await gateway.signed_in("auditor")
    plain = load_workbook(BytesIO((await auditor.get(f"/review/sheet/{ROUND}.xlsx")).content))
    assert plain.active is not None
    audited_rows = [[c.value for c in row] for row in plain.active.iter_rows()][2:]
    assert all(r[10] in (None, "") for r in audited_rows)
    # A panelist or a unit does not.
    unit = await gateway.signed_in("wy")
    assert (await unit.get(f"/review/sheet/{ROUND}.xlsx")).status_code == 403
    assert (await office.get("/review/sheet/2019-Q1.xlsx")).status_code == 404


async def test_the_office_follows_progress_and_reminds_through_the_api(gateway: Harness) -> None:
    rr = await review_round(gateway)
    await rr.accept_all(reject="E101")
    await rr.assign_panel()
    await rr.score("p_fin", "E100", SHEET_HIGH)
    bearer = {"Authorization": f"Bearer {await gateway.token('office')}"}
    api = f"/api/v1/review/rounds/{ROUND}/panel"
    async with gateway.client() as client:
        progress = (await client.get(f"{api}/progress", headers=bearer)).json()
        by_id = {p["panelist_id"]: p for p in progress}
        assert (by_id[rr.id("p_fin")]["scored"], by_id[rr.id("p_fin")]["waiting"]) == (1, 2)
        assert (by_id[rr.id("p_wy")]["scored"], by_id[rr.id("p_wy")]["waiting"]) == (0, 2)
        reminded = await client.post(f"{api}/{rr.id('p_wy')}/remind", headers=bearer)
        assert reminded.status_code == 200, reminded.text
        again = {
            p["panelist_id"]: p
            for p in (await client.get(f"{api}/progress", headers=bearer)).json()
        }
        assert again[rr.id("p_wy")]["reminders"] == 1
        assert again[rr.id("p_wy")]["reminded_at"].startswith("2026-11-02T10:00")
        nobody = await client.post(f"{api}/nobody/remind", headers=bearer)
        assert nobody.status_code == 404
        assert nobody.json()["code"] == "unknown_panelist"
