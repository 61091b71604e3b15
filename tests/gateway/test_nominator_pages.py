"""A unit's nominator works through the pages: home, submit, amend, withdraw, in Chinese."""

from __future__ import annotations

import re

import pytest

from tests.gateway.harness import DEEDS, ROUND, UNIT_A, Harness, csrf_in

pytestmark = pytest.mark.integration


def form_data(html: str, **fields: str) -> dict[str, str]:
    nomination_id = re.search(r'name="nomination_id" value="([^"]*)"', html)
    data = {
        "csrf_token": csrf_in(html),
        "round_id": ROUND,
        "employee_no": "E100",
        "category": "striving",
        "deeds": DEEDS,
        "recommendation": "同意推荐。",
        "result_metric_0": "节约成本",
        "result_value_0": "120000",
        "result_unit_0": "元",
        "evidence_links": "",
    }
    if nomination_id:
        data["nomination_id"] = nomination_id.group(1)
    data.update(fields)
    return data


async def test_the_nominator_home_shows_the_deadline_quota_and_the_units_nominations(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    home = await client.get("/")
    assert home.status_code == 200
    assert "2026年第四季度" in home.text
    assert "2026年12月25日 23:59" in home.text  # the deadline, Beijing time
    assert 'data-seconds-left="' in home.text  # the countdown
    assert "拼搏之花" in home.text
    assert "0 / 1" in home.text
    assert "本单位本轮尚未提名" in home.text


async def test_a_nominator_submits_a_nomination_and_sees_it_listed(gateway: Harness) -> None:
    user = await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    page = await client.get("/nominations/new")
    assert page.status_code == 200
    assert "张伟" in page.text
    assert "赵强" not in page.text
    response = await client.post("/nominations/new", data=form_data(page.text))
    assert response.status_code == 303, response.text
    detail = await client.get(response.headers["location"])
    assert "提名已提交" in detail.text
    assert "张伟" in detail.text
    assert "节约成本" in detail.text
    home = await client.get("/")
    assert "张伟" in home.text
    assert "1 / 1" in home.text
    # The actor travelled into the event: the user's id, shown by name.
    nominations = await gateway.rpc.query("nomination", "nominations", {"unit_code": UNIT_A})
    assert nominations[0]["submitted_by"] == str(user.user_id)
    assert "测试 wy" in detail.text


async def test_a_form_with_missing_fields_shows_chinese_messages_beside_them(
    gateway: Harness,
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    page = await client.get("/nominations/new")
    response = await client.post(
        "/nominations/new",
        data=form_data(
            page.text,
            employee_no="",
            category="",
            deeds="",
            recommendation="",
            result_value_0="很多",
        ),
    )
    assert response.status_code == 422
    html = response.text
    for message in (
        "请选择被提名职工",
        "请选择奖项类别",
        "请填写主要事迹",
        "请填写单位推荐意见",
        "数值须为数字",
    ):
        assert message in html
    assert 'id="err-deeds"' in html
    assert 'aria-describedby="err-deeds"' in html


async def test_a_domain_refusal_is_shown_as_a_sentence_beside_its_field(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    page = await client.get("/nominations/new")
    short = await client.post("/nominations/new", data=form_data(page.text, deeds="太短了"))
    assert short.status_code == 422
    assert "事迹应为 50 至 3000 字（现为 3 字）" in short.text
    assert "Traceback" not in short.text
    ok = await client.post("/nominations/new", data=form_data(page.text))
    assert ok.status_code == 303
    page = await client.get("/nominations/new")
    full = await client.post("/nominations/new", data=form_data(page.text, employee_no="E101"))
    assert full.status_code == 422
    assert "本单位本轮「拼搏之花」的提名名额（1 名）已用完" in full.text
    assert 'id="err-category"' in full.text


async def test_a_nominator_amends_then_withdraws_a_nomination(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    page = await client.get("/nominations/new")
    submitted = await client.post("/nominations/new", data=form_data(page.text))
    detail_url = submitted.headers["location"].split("?")[0]
    edit = await client.get(f"{detail_url}/edit")
    assert edit.status_code == 200
    assert "节约成本" in edit.text
    amended = await client.post(
        f"{detail_url}/edit", data=form_data(edit.text, category="dedication")
    )
    assert amended.status_code == 303
    detail = await client.get(detail_url)
    assert "奉献之花" in detail.text
    empty_reason = await client.post(
        f"{detail_url}/withdraw", data={"csrf_token": csrf_in(detail.text), "reason": ""}
    )
    assert empty_reason.status_code == 422
    assert "请填写撤回原因" in empty_reason.text
    withdrawn = await client.post(
        f"{detail_url}/withdraw", data={"csrf_token": csrf_in(detail.text), "reason": "本人婉拒"}
    )
    assert withdrawn.status_code == 303
    detail = await client.get(withdrawn.headers["location"])
    assert "已撤回" in detail.text
    assert "本人婉拒" in detail.text
    assert "撤回提名</button>" not in detail.text


async def test_the_english_switch_translates_the_pages(gateway: Harness) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    client = await gateway.signed_in("wy")
    switched = await client.get("/lang/en?next=/")
    assert switched.status_code == 303
    assert switched.headers["location"] == "/"
    home = await client.get("/")
    assert '<html lang="en">' in home.text
    assert "Striving Flower" in home.text
    assert "Time left" in home.text
    evil = await client.get("/lang/zh-CN?next=//evil.example/")
    assert evil.headers["location"] == "/"  # no open redirect
    home = await client.get("/")
    assert "剩余" in home.text
