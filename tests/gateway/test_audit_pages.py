"""The auditor verifies the logs and browses them, read-only, through the pages and the API."""

from __future__ import annotations

from urllib.parse import quote, unquote

import asyncpg
import pytest

from shared.personal_data import is_sealed
from shared.settings import SERVICES, Settings
from tests.gateway.harness import Harness, csrf_in
from tests.gateway.published import PAST_ROUND, publish_past_result
from tests.gateway.review_setup import review_round
from tests.support import eventually

pytestmark = pytest.mark.integration


async def relayed(gateway: Harness) -> None:
    """Every store's relay has passed its head (verification compares the stream with it)."""

    async def caught_up() -> bool:
        for runtime in (gateway.nomination, gateway.review, gateway.rewards, gateway.publicity):
            assert runtime is not None
            pool = runtime.store.pool
            head = await pool.fetchval("SELECT position FROM event_log_head")
            done = await pool.fetchval(
                "SELECT coalesce(max(position), 0) FROM checkpoints WHERE name = $1",
                f"relay:{runtime.service}",
            )
            if done < head:
                return False
        return True

    await eventually(caught_up, timeout=20, what="every relay to reach its head")


async def test_the_auditor_verifies_the_logs_and_sees_a_tampered_row_named(
    gateway: Harness, settings: Settings
) -> None:
    await gateway.role_accounts()
    await publish_past_result(gateway)
    await relayed(gateway)
    client = await gateway.signed_in("auditor")
    home = await client.get("/")
    assert "立即校验" in home.text
    token = csrf_in(home.text)
    verified = await client.post("/audit/verify", data={"csrf_token": token})
    assert verified.status_code == 200, verified.text
    assert "校验通过：日志完整，未被篡改。" in verified.text
    assert "个人信息访问记录：记录链完整（0 条）" in verified.text

    # Someone with the owner's login edits an award in the rewards store behind its back.
    conn = await asyncpg.connect(settings.database_url_for("rewards", login="rewards_owner"))
    try:
        position = await conn.fetchval(
            "SELECT min(position) FROM events WHERE type = 'AwardGranted'"
        )
        await conn.execute(
            "UPDATE events SET data = jsonb_set(data, '{amount}', '\"5000.00\"') "
            "WHERE position = $1",
            position,
        )
    finally:
        await conn.close()
    broken = await client.post("/audit/verify", data={"csrf_token": token})
    assert "校验未通过" in broken.text
    assert f"在位置 {position} 处断裂" in broken.text
    assert f'href="/audit/events/rewards/{position}"' in broken.text
    await client.aclose()

    api = {"Authorization": f"Bearer {await gateway.token('auditor')}"}
    async with gateway.client() as http:
        report = (await http.post("/api/v1/audit/verify", headers=api)).json()
        assert report["ok"] is False
        rewards = next(s for s in report["services"] if s["service"] == "rewards")
        assert rewards["chain"]["first_break"]["position"] == position
        assert all(s["ok"] for s in report["services"] if s["service"] != "rewards")
        # The access record's chain is walked too (the auditor's read of the event above).
        assert report["access_log"]["ok"] is True


async def test_the_auditor_browses_the_event_log_with_filters(gateway: Harness) -> None:
    await gateway.role_accounts()
    await publish_past_result(gateway)
    payroll = gateway.users["payroll"]
    adjustment = (await gateway.rpc.query("rewards", "adjustments", {"after": 0}))["items"][0]
    await gateway.rpc.command(
        "rewards",
        "acknowledge",
        {
            "actor": str(payroll.user_id),
            "roles": ["payroll"],
            "adjustment_id": adjustment["adjustment_id"],
        },
    )
    client = await gateway.signed_in("auditor")
    page = await client.get("/audit/events?service=rewards")
    assert page.status_code == 200
    # Words first: the type's Chinese name and a one-line summary; the raw JSON one click away.
    assert "<strong>发放奖励</strong>" in page.text
    # The winner's name is sealed in rewards' log: never shown in clear; the unit is.
    assert "（餐饮服务中心）· " in page.text
    assert "赵强" not in page.text
    assert "<strong>工资系统确认入账</strong>" in page.text
    assert '<details class="raw"><summary>原始数据</summary>' in page.text
    assert "<code>AwardGranted</code>" in page.text  # inside the details
    assert '<option value="AwardGranted" >发放奖励</option>' in page.text

    by_actor = await client.get("/audit/events?service=rewards&actor=payroll")
    assert by_actor.text.count('href="/audit/events/rewards/') == 1
    assert "测试 payroll" in by_actor.text  # the actor by name, not by id

    by_type = await client.get("/audit/events?service=publicity&type=MaterialsDrafted")
    assert by_type.text.count('href="/audit/events/publicity/') == 1
    # The text search finds what is in clear (a sealed name it cannot: docs/privacy.md).
    sealed = await client.get("/audit/events?service=rewards&text=赵强")
    assert sealed.text.count('href="/audit/events/rewards/') == 0
    by_text = await client.get("/audit/events?service=rewards&text=餐饮服务中心")
    assert by_text.text.count('href="/audit/events/rewards/') >= 2  # award and adjustment
    by_stream = await client.get(f"/audit/events?service=review&stream=review-{PAST_ROUND}")
    assert "ResultPublished" in by_stream.text
    # One request's path across the stores: the result, and what it caused in each service.
    followed = await client.get("/audit/events?correlation_id=test")
    for caused in (
        "ResultPublished",
        "AwardGranted",
        "PayrollAdjustmentIssued",
        "MaterialsDrafted",
    ):
        assert caused in followed.text, caused
    nothing = await client.get("/audit/events?service=rewards&since=2030-01-01")
    assert "没有符合条件的事件" in nothing.text

    detail = await client.get("/audit/events/review/1")
    assert detail.status_code == 200
    assert '<h1 class="page-title">公布评选结果' in detail.text
    assert '<p class="lead">2026年第三季度，3 名</p>' in detail.text
    assert "<code>ResultPublished</code>" in detail.text
    # The winner's personal values stay sealed in the browser (README "Privacy"): opening them
    # there waits for the log of who looked.
    assert "赵强" not in detail.text
    assert "〔加密个人信息·" in detail.text
    missing = await client.get("/audit/events/review/999")
    assert missing.status_code == 404
    assert "没有位置 999" in missing.text
    await client.aclose()

    api = {"Authorization": f"Bearer {await gateway.token('auditor')}"}
    async with gateway.client() as http:
        # Page through the rewards log two at a time: every event once, in order.
        positions: list[int] = []
        url = "/api/v1/audit/events?service=rewards&limit=2"
        while url:
            page = (await http.get(url, headers=api)).json()
            positions += [e["position"] for e in page["items"]]
            url = (
                "/api/v1/audit/events?service=rewards&limit=2&since=" + quote(page["next_since"])
                if page["next_since"]
                else ""
            )
        heads = (await http.get("/api/v1/audit/heads", headers=api)).json()
        rewards_head = next(h["position"] for h in heads if h["service"] == "rewards")
        assert positions == list(range(1, rewards_head + 1))
        assert {h["service"] for h in heads if h["reachable"]} == set(SERVICES)
        wrong = await http.get("/api/v1/audit/events?service=gateway", headers=api)
        assert wrong.status_code == 422


async def test_who_raised_an_objection_is_hidden_in_the_event_log_from_all_but_the_office(
    gateway: Harness,
) -> None:
    rr = await review_round(gateway)
    await rr.accept_all(reject="E101")
    await rr.assign_panel()
    await rr.score_everything()
    await rr.decide_and_announce()
    await rr.object_to_the_winner()
    raiser_id, raiser_name = rr.id("staff"), rr.users["staff"].display_name
    await gateway.account("office_auditor", {"office", "auditor"})  # may know who raised it
    found = "/api/v1/audit/events?service=review&type=ObjectionRaised"

    async with gateway.client() as http:
        office = {"Authorization": f"Bearer {await gateway.token('office_auditor')}"}
        [named] = (await http.get(found, headers=office)).json()["items"]
        assert named["data"]["raised_by"] == raiser_id
        # The objector's name and text are sealed under their key (docs/privacy.md).
        assert is_sealed(named["data"]["raiser_name"])
        assert is_sealed(named["data"]["text"])
        assert named["actor"] == raiser_id
        position = named["position"]

        auditor = {"Authorization": f"Bearer {await gateway.token('auditor')}"}
        [hidden] = (await http.get(found, headers=auditor)).json()["items"]
        assert hidden["position"] == position
        assert is_sealed(hidden["data"]["text"])
        assert "raised_by" not in hidden["data"]
        assert "raiser_name" not in hidden["data"]
        assert "raiser_subject" not in hidden["data"]
        assert hidden["actor"] == ""
        one = (await http.get(f"/api/v1/audit/events/review/{position}", headers=auditor)).json()
        assert raiser_id not in str(one)
        assert raiser_name not in str(one)
        assert one["data"]["nomination_id"] == rr.nominations["E100"]
        # Nor is it found by what was taken out of it.
        for query in (f"actor={raiser_id}", f"text={quote(raiser_name)}", f"text={raiser_id}"):
            page = (await http.get(f"{found}&{query}", headers=auditor)).json()
            assert page["items"] == [], query
            page = (await http.get(f"{found}&{query}", headers=office)).json()
            by_user_id = raiser_name not in unquote(query)  # a sealed name is not searchable
            assert [e["position"] for e in page["items"]] == [position] * by_user_id, query
        by_text = (await http.get(f"{found}&text={quote('班组台账')}", headers=office)).json()
        assert by_text["items"] == []  # the sealed text neither

    client = await gateway.signed_in("auditor")
    for path in (
        "/audit/events?service=review",
        f"/audit/events/review/{position}",
        "/audit/events?service=review&actor=staff",
    ):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert raiser_name not in page.text, path
        assert raiser_id not in page.text, path
    link = f'href="/audit/events/review/{position}"'
    assert link in (await client.get("/audit/events?service=review")).text
    assert link not in (await client.get(f"/audit/events?actor={raiser_id}")).text
    await client.aclose()
    both = await gateway.signed_in("office_auditor")
    detail = await both.get(f"/audit/events/review/{position}")
    assert raiser_name in detail.text
    assert raiser_id in detail.text
    await both.aclose()
