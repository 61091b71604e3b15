"""The review through the pages: audit, panel, scoring (never a conflicted one), veto, the
leader's decision, the notice with a real-name objection, its dismissal and the publication."""

from __future__ import annotations

import pytest

from tests.gateway.harness import ROUND, Harness, csrf_in
from tests.gateway.review_setup import SHEET_HIGH, after_the_notice, review_round

pytestmark = pytest.mark.integration


def sheet_form(token: str, sheet: dict[str, str], comment: str = "") -> dict[str, str]:
    return {
        "csrf_token": token,
        "comment": comment,
        **{f"criterion_{k}": v for k, v in sheet.items()},
    }


async def test_the_office_audits_and_sets_up_the_panel_and_panelists_score_their_own_only(
    gateway: Harness,
) -> None:
    rr = await review_round(gateway)
    n = rr.nominations
    office = await gateway.signed_in("office")
    home = await office.get("/")
    assert "4</strong> 个提名待审核" in home.text

    page = await office.get("/review/audits")
    assert page.status_code == 200
    assert page.text.count('class="item"') == 4
    token = csrf_in(page.text)
    blank = await office.post(
        f"/review/audits/{ROUND}/{n['E101']}/reject", data={"csrf_token": token, "reason": " "}
    )
    assert blank.status_code == 422
    assert 'id="err-reason"' in blank.text
    assert "请填写驳回理由" in blank.text
    rejected = await office.post(
        f"/review/audits/{ROUND}/{n['E101']}/reject",
        data={"csrf_token": token, "reason": "<script>alert(1)</script>缺少业绩佐证"},
    )
    assert rejected.status_code == 303
    for employee_no in ("E100", "E200", "E201"):
        accepted = await office.post(
            f"/review/audits/{ROUND}/{n[employee_no]}/accept", data={"csrf_token": token}
        )
        assert accepted.status_code == 303
    twice = await office.post(
        f"/review/audits/{ROUND}/{n['E100']}/accept", data={"csrf_token": token}
    )
    assert twice.status_code == 409
    assert "已审核（accepted）" in twice.text  # the service's refusal, as a sentence
    page = await office.get(rejected.headers["location"])
    assert "已驳回，理由将告知提名单位" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;缺少业绩佐证" in page.text
    assert "没有待审核的提名" in page.text

    # The unit hears of it, with the office's reason; an accepted one is under evaluation.
    unit = await gateway.signed_in("wy")
    detail = await unit.get(f"/nominations/{n['E101']}")
    assert "已驳回" in detail.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;缺少业绩佐证" in detail.text
    assert "名额已释放" in detail.text
    assert f"/nominations/{n['E101']}/edit" not in detail.text  # replaced, not amended
    home = await unit.get("/")
    assert "已驳回" in home.text
    assert "评审中" in home.text

    # The panel: the accounts holding the panelist role; a missing employee number is asked for.
    panel = await office.get(f"/review/panel?round_id={ROUND}")
    for name in ("综合办公室 陈刚", "财务部 刘芳", "企业管理部 赵磊", "工会 孙丽"):
        assert name in panel.text
    no_number = await office.post(
        f"/review/panel/{ROUND}/assign",
        data={"csrf_token": token, "user_id": rr.id("p_fin"), "employee_no": ""},
    )
    assert no_number.status_code == 422
    assert "该账户未登记工号" in no_number.text
    assert 'id="err-employee_no"' in no_number.text
    not_panelist = await office.post(
        f"/review/panel/{ROUND}/assign",
        data={"csrf_token": token, "user_id": rr.id("leader"), "employee_no": "X1"},
    )
    assert not_panelist.status_code == 422
    assert "只能指定持有“评审专家”角色的有效账户" in not_panelist.text
    for username, number in (("p_go", ""), ("p_fin", "P002"), ("p_em", ""), ("p_wy", "")):
        assigned = await office.post(
            f"/review/panel/{ROUND}/assign",
            data={"csrf_token": token, "user_id": rr.id(username), "employee_no": number},
        )
        assert assigned.status_code == 303, assigned.text
    members = {p["name"]: p for p in await rr.query("panel", round_id=ROUND)}
    assert members["工会 孙丽"]["unit_code"] == "WY"
    assert members["财务部 刘芳"]["employee_no"] == "P002"
    assert members["财务部 刘芳"]["department"] == "finance"
    panel = await office.get(f"/review/panel?round_id={ROUND}")
    assert "目前覆盖部门：" in panel.text
    assert "<strong>4</strong>" in panel.text

    # The WY panelist is never offered WY's nominee, and cannot score it by crafting a request.
    p_wy = await gateway.signed_in("p_wy")
    listed = await p_wy.get("/review/scoring")
    assert "赵强" in listed.text
    assert "张伟" not in listed.text
    assert "张伟" not in (await p_wy.get("/")).text
    token_wy = csrf_in(listed.text)
    for crafted in (
        await p_wy.get(f"/review/scoring/{ROUND}/{n['E100']}"),
        await p_wy.post(
            f"/review/scoring/{ROUND}/{n['E100']}", data=sheet_form(token_wy, SHEET_HIGH)
        ),
    ):
        assert crafted.status_code == 403
        assert "该推荐不在您的待评分范围内" in crafted.text
    rejected_one = await p_wy.get(f"/review/scoring/{ROUND}/{n['E101']}")
    assert rejected_one.status_code == 403  # not accepted in the audit: not to be scored
    assert (
        await rr.query(
            "scores",
            round_id=ROUND,
            nomination_id=n["E100"],
            viewer=rr.id("office"),
            viewer_roles=["office"],
        )
    )["scores"] == []

    # A panelist scores: checked beside each field, then the total; others' stay hidden.
    p_go = await gateway.signed_in("p_go")
    form = await p_go.get(f"/review/scoring/{ROUND}/{n['E100']}")
    assert form.status_code == 200
    assert "工作业绩" in form.text
    assert "权重 40" in form.text
    token_go = csrf_in(form.text)
    bad = await p_go.post(
        f"/review/scoring/{ROUND}/{n['E100']}",
        data=sheet_form(token_go, {**SHEET_HIGH, "achievements": "150", "innovation": ""}),
    )
    assert bad.status_code == 422
    assert 'id="err-criterion_achievements"' in bad.text
    assert "分数须为 0 至 100 之间的数" in bad.text
    assert 'id="err-criterion_innovation"' in bad.text
    assert 'value="150"' in bad.text  # what was typed is kept
    scored = await p_go.post(
        f"/review/scoring/{ROUND}/{n['E100']}", data=sheet_form(token_go, SHEET_HIGH, "事迹突出")
    )
    assert scored.status_code == 303
    mine = await p_go.get(scored.headers["location"])
    assert "评分已提交" in mine.text
    assert "91.80" in mine.text  # (95×40 + 90×30 + 88×20 + 92×10) / 100
    assert "修改评分" in mine.text

    p_fin = await gateway.signed_in("p_fin")
    before = await p_fin.get(f"/review/scoring/{ROUND}/{n['E100']}")
    assert "提交您自己的评分后，才能看到其他评委的评分" in before.text
    assert "91.80" not in before.text
    await p_fin.post(
        f"/review/scoring/{ROUND}/{n['E100']}",
        data=sheet_form(csrf_in(before.text), {k: "80" for k in SHEET_HIGH}),
    )
    after = await p_fin.get(f"/review/scoring/{ROUND}/{n['E100']}")
    assert "综合办公室 陈刚" in after.text
    assert "91.80" in after.text

    # A revision, until the category is decided.
    revised = await p_go.post(
        f"/review/scoring/{ROUND}/{n['E100']}",
        data=sheet_form(token_go, {k: "90" for k in SHEET_HIGH}),
    )
    assert revised.status_code == 303
    sheet = await rr.query("pending_scores", panelist_id=rr.id("p_go"), viewer=rr.id("p_go"))
    [own] = [s for s in sheet["scored"] if s["nomination_id"] == n["E100"]]
    assert (own["score"]["total"], own["score"]["revision"]) == ("90.0000", 2)
    for client in (office, p_wy, p_go, p_fin):
        await client.aclose()


async def test_discipline_vetoes_the_leader_decides_and_the_notice_runs_to_publication(
    gateway: Harness,
) -> None:
    rr = await review_round(gateway)
    n = rr.nominations
    await rr.accept_all(reject="E101")
    await rr.assign_panel()
    await rr.score_everything()

    # Discipline inspection: a veto needs a reason.
    discipline = await gateway.signed_in("discipline")
    page = await discipline.get("/review/veto")
    assert "刘洋" in page.text
    token = csrf_in(page.text)
    blank = await discipline.post(
        f"/review/veto/{ROUND}/{n['E201']}", data={"csrf_token": token, "reason": ""}
    )
    assert blank.status_code == 422
    assert "请填写否决理由" in blank.text
    vetoed = await discipline.post(
        f"/review/veto/{ROUND}/{n['E201']}", data={"csrf_token": token, "reason": "存在违纪问题。"}
    )
    assert vetoed.status_code == 303
    assert "存在违纪问题。" in (await discipline.get(vetoed.headers["location"])).text

    # Nothing to decide while units may still nominate; then the round closes.
    early = await (await gateway.signed_in("leader")).get("/")
    assert "提名尚未截止，截止后可确定人选" in early.text
    assert "可确定人选：" not in early.text
    await rr.close_nominations()
    # The leader sees the ranking with raw scores and the method, and decides.
    leader = await gateway.signed_in("leader")
    home = await leader.get("/")
    assert "可确定人选" in home.text
    assert "拼搏之花" in home.text
    ranking = await leader.get(f"/review/ranking?round_id={ROUND}")
    assert ranking.status_code == 200
    assert "张伟" in ranking.text
    assert "赵强" in ranking.text
    assert "原始评分" in ranking.text
    assert "财务部 刘芳" in ranking.text
    assert "至少 3 个不同部门评分" in ranking.text
    token = csrf_in(ranking.text)
    nothing = await leader.post(
        f"/review/ranking/{ROUND}/decide",
        data={"csrf_token": token, "category": "striving", "reason": ""},
    )
    assert nothing.status_code == 422
    assert "请至少选择一名当选人" in nothing.text
    off_ranking = await leader.post(
        f"/review/ranking/{ROUND}/decide",
        data={"csrf_token": token, "category": "striving", "winners": n["E200"]},
    )
    assert off_ranking.status_code == 422
    assert 'id="err-reason"' in off_ranking.text
    assert "未按排名顺序确定人选，须写明理由" in off_ranking.text
    decided = await leader.post(
        f"/review/ranking/{ROUND}/decide",
        data={"csrf_token": token, "category": "striving", "winners": n["E100"]},
    )
    assert decided.status_code == 303
    assert "已确定，排名冻结" in (await leader.get(decided.headers["location"])).text
    leader.cookies.set("flowers_lang", "en")
    english = await leader.get(f"/review/ranking?round_id={ROUND}")
    assert "decided: ranking frozen" in english.text
    assert "Striving Flower" in english.text
    leader.cookies.set("flowers_lang", "zh-CN")

    # The office starts the notice; publishing is refused while it runs, as a sentence.
    office = await gateway.signed_in("office")
    summary = await office.get(f"/review/summary?round_id={ROUND}")
    assert "已决定但尚未公示：拼搏之花" in summary.text
    token = csrf_in(summary.text)
    started = await office.post(f"/review/summary/{ROUND}/notice", data={"csrf_token": token})
    assert started.status_code == 303
    early = await office.post(f"/review/summary/{ROUND}/publish", data={"csrf_token": token})
    assert early.status_code == 409
    assert "公示期尚未结束（至" in early.text
    assert "日 24:00）" in early.text  # Beijing time, not an ISO instant
    assert "T23:59:59" not in early.text

    # Staff see the notice and object under the account's name.
    staff = await gateway.signed_in("staff")
    assert "张伟" in (await staff.get("/")).text
    notice = await staff.get("/review/notice")
    assert "张小伟" in notice.text  # whose name the objection will carry
    token_staff = csrf_in(notice.text)
    empty = await staff.post(
        f"/review/notice/{ROUND}/objection",
        data={"csrf_token": token_staff, "nomination_id": n["E100"], "text": ""},
    )
    assert empty.status_code == 422
    assert "请写明异议的事实和理由" in empty.text
    raised = await staff.post(
        f"/review/notice/{ROUND}/objection",
        data={
            "csrf_token": token_staff,
            "nomination_id": n["E100"],
            "text": "节约成本数据与台账不符。",
            "raiser_name": "冒名顶替",  # ignored: the name is the account's
        },
    )
    assert raised.status_code == 303
    mine = await staff.get(raised.headers["location"])
    assert "我提出的异议" in mine.text
    assert "待处理" in mine.text
    [objection] = await rr.query("objections", round_id=ROUND)
    assert (objection["raiser_name"], objection["raised_by"]) == ("张小伟", rr.id("staff"))

    # The office investigates and dismisses it; the leader never sees who raised it.
    objections = await office.get(f"/review/objections?round_id={ROUND}")
    assert "张小伟" in objections.text
    blank_note = await office.post(
        f"/review/objections/{ROUND}/1/note", data={"csrf_token": token, "note": ""}
    )
    assert blank_note.status_code == 422
    noted = await office.post(
        f"/review/objections/{ROUND}/1/note", data={"csrf_token": token, "note": "已调阅台账。"}
    )
    assert noted.status_code == 303
    no_outcome = await office.post(
        f"/review/objections/{ROUND}/1/resolve",
        data={"csrf_token": token, "resolution": "数据无误。"},
    )
    assert no_outcome.status_code == 422
    assert "请选择处理结果" in no_outcome.text
    dismissed = await office.post(
        f"/review/objections/{ROUND}/1/resolve",
        data={"csrf_token": token, "outcome": "dismissed", "resolution": "经核查，数据无误。"},
    )
    assert dismissed.status_code == 303
    assert "张小伟" not in (await leader.get(f"/review/ranking?round_id={ROUND}")).text

    # Past the notice's end the office publishes; everyone sees the result.
    await after_the_notice(gateway)
    office = await gateway.signed_in("office")
    summary = await office.get(f"/review/summary?round_id={ROUND}")
    assert "可以正式发布评选结果" in summary.text
    published = await office.post(
        f"/review/summary/{ROUND}/publish", data={"csrf_token": csrf_in(summary.text)}
    )
    assert published.status_code == 303
    assert "评选结果已正式发布" in (await office.get(published.headers["location"])).text
    staff = await gateway.signed_in("staff")
    results = await staff.get("/review/results")
    assert "张伟" in results.text
    assert "撤销荣誉" not in results.text
    assert "最新评选结果" in (await staff.get("/")).text

    # Misconduct found later: the leader revokes, with a reason.
    leader = await gateway.signed_in("leader")
    results = await leader.get("/review/results")
    token = csrf_in(results.text)
    no_reason = await leader.post(
        f"/review/results/{ROUND}/{n['E100']}/revoke", data={"csrf_token": token, "reason": ""}
    )
    assert no_reason.status_code == 422
    revoked = await leader.post(
        f"/review/results/{ROUND}/{n['E100']}/revoke",
        data={"csrf_token": token, "reason": "事后查实材料造假。"},
    )
    assert revoked.status_code == 303
    assert "荣誉已撤销" in (await leader.get("/review/results")).text
    for client in (discipline, leader, office, staff):
        await client.aclose()


async def test_an_upheld_objection_takes_the_winner_off_and_the_leader_names_a_replacement(
    gateway: Harness,
) -> None:
    rr = await review_round(gateway)
    n = rr.nominations
    await rr.accept_all(reject="E101")
    await rr.assign_panel()
    await rr.score_everything()
    await rr.decide_and_announce()
    objection_no = await rr.object_to_the_winner()

    # The office takes a panelist off the panel (a reason is needed) and upholds the objection.
    office = await gateway.signed_in("office")
    panel = await office.get(f"/review/panel?round_id={ROUND}")
    token = csrf_in(panel.text)
    remove = f"/review/panel/{ROUND}/{rr.id('p_wy')}/remove"
    assert (await office.post(remove, data={"csrf_token": token, "reason": ""})).status_code == 422
    removed = await office.post(remove, data={"csrf_token": token, "reason": "工作调动。"})
    assert removed.status_code == 303
    assert "已撤换" in (await office.get(removed.headers["location"])).text
    upheld = await office.post(
        f"/review/objections/{ROUND}/{objection_no}/resolve",
        data={"csrf_token": token, "outcome": "upheld", "resolution": "经核实，数据有误。"},
    )
    assert upheld.status_code == 303
    summary = await office.get(f"/review/summary?round_id={ROUND}")
    assert "空缺" in summary.text

    # The leader is told a replacement is needed and names the next in the ranking.
    leader = await gateway.signed_in("leader")
    assert "异议成立后须确定替补" in (await leader.get("/")).text
    ranking = await leader.get(f"/review/ranking?round_id={ROUND}")
    assert "确定替补人选" in ranking.text
    assert "因异议取消" in ranking.text
    replaced = await leader.post(
        f"/review/ranking/{ROUND}/replace",
        data={
            "csrf_token": csrf_in(ranking.text),
            "category": "striving",
            "nomination_id": n["E200"],
        },
    )
    assert replaced.status_code == 303
    notices = await rr.query("notices", round_id=ROUND)
    assert [(x["notice_no"], x["occasion"]) for x in notices] == [
        (1, "decision"),
        (2, "replacement"),
    ]

    # Staff see only the winner still on the list.
    staff = await gateway.signed_in("staff")
    notice = await staff.get("/review/notice")
    assert "赵强" in notice.text
    assert "异议成立，已取消" in notice.text  # 张伟, as first announced
    assert f'value="{n["E100"]}"' not in notice.text  # no objection form for him
    for client in (office, leader, staff):
        await client.aclose()
