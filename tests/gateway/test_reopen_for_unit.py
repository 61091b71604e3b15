"""The office lets one unit in late: after the close, with a reason, until the audit starts;
that unit nominates until its new deadline, nothing is decided meanwhile, and its
nominations reach the review when its window shuts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.rpc import RemoteError
from tests.gateway.harness import NOW, ROUND, UNIT_A, Harness, csrf_in, nomination_body
from tests.support import eventually

pytestmark = pytest.mark.integration

REASON = "物业服务中心受抢险任务影响，经工会研究同意补报"


async def decision_refusal(gateway: Harness, nomination_id: str) -> str:
    """The code with which the review refuses the leader's decision just now."""
    try:
        await gateway.rpc.command(
            "review",
            "decide_winners",
            {
                "actor": "leader-1",
                "roles": ["leader"],
                "round_id": ROUND,
                "category": "dedication",
                "winners": [nomination_id],
            },
        )
    except RemoteError as exc:
        return exc.error.code
    raise AssertionError("the decision was accepted")


async def candidates(gateway: Harness) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await gateway.rpc.query(
        "review", "candidates", {"round_id": ROUND}
    )
    return result


async def test_the_office_lets_one_unit_in_late_until_the_audit_starts(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    office = {"Authorization": f"Bearer {await gateway.token('office')}"}
    unit_a = {"Authorization": f"Bearer {await gateway.token('nominator')}"}
    unit_b = {"Authorization": f"Bearer {await gateway.token('nominator_b')}"}
    async with gateway.client() as client:
        early = await client.post(
            "/api/v1/nominations",
            json=nomination_body("E200", category="dedication"),
            headers=unit_b,
        )
        assert early.status_code == 201, early.text
        first = early.json()["nomination_id"]
        closed = await client.post(f"/api/v1/rounds/{ROUND}/close", headers=office)
        assert closed.status_code == 200, closed.text

        async def review_heard_the_close() -> bool:
            return [c["status"] for c in await candidates(gateway)] == ["closed"]

        await eventually(review_heard_the_close, what="the review to hear the close")
        assert await decision_refusal(gateway, first) != "nominations_open"

        late_until = (NOW + timedelta(days=3)).isoformat()
        extend = await client.post(
            f"/api/v1/rounds/{ROUND}/extend",
            json={"unit_code": UNIT_A, "new_deadline": late_until, "reason": REASON},
            headers=office,
        )
        assert extend.status_code == 409
        assert extend.json()["code"] == "round_closed"  # extend serves an open round only
        no_reason = await client.post(
            f"/api/v1/rounds/{ROUND}/reopen",
            json={"unit_code": UNIT_A, "new_deadline": late_until, "reason": " "},
            headers=office,
        )
        assert no_reason.status_code == 422
        reopened = await client.post(
            f"/api/v1/rounds/{ROUND}/reopen",
            json={"unit_code": UNIT_A, "new_deadline": late_until, "reason": REASON},
            headers=office,
        )
        assert reopened.status_code == 200, reopened.text
        assert reopened.json()["events"] == ["RoundReopenedForUnit"]

        async def review_waits_for_the_unit() -> bool:
            return await decision_refusal(gateway, first) == "nominations_open"

        await eventually(review_waits_for_the_unit, what="the review to wait for the unit")

        late = await client.post(
            "/api/v1/nominations", json=nomination_body("E100"), headers=unit_a
        )
        assert late.status_code == 201, late.text
        other = await client.post(
            "/api/v1/nominations", json=nomination_body("E201"), headers=unit_b
        )
        assert other.status_code == 409
        assert other.json()["message_zh"] == "2026年第四季度的提名已截止"
        [round_] = (await client.get("/api/v1/rounds", headers=office)).json()
        assert round_["status"] == "closed"
        assert list(round_["reopened"]) == [UNIT_A]
        assert round_["reopened_seconds_left"][UNIT_A] == 3 * 86400

    # The unit's nominator sees the round open to it, with its own deadline.
    nominator = await gateway.signed_in("nominator")
    home = await nominator.get("/")
    assert "2026年第四季度" in home.text
    assert "2026年11月5日 10:00" in home.text
    assert (await nominator.get("/nominations/new")).status_code == 200
    clerk = await gateway.signed_in("office")
    assert (
        '物业服务中心 补报中，截止 <span class="nowrap">2026年11月5日 10:00'
        in (await clerk.get("/")).text
    )
    office_page = await clerk.get("/office/rounds")
    assert "物业服务中心 补报至" in office_page.text
    assert "为单位重新开放提名" in office_page.text

    async with gateway.client() as client:
        shut = await client.post(f"/api/v1/rounds/{ROUND}/close", headers=office)
        assert shut.status_code == 200, shut.text
        assert shut.json()["events"] == ["UnitNominationsClosed"]

        async def the_late_nomination_reached_the_review() -> bool:
            return (
                sorted(c["status"] for c in await candidates(gateway))
                == [
                    "closed",
                    "closed",
                ]
                and await decision_refusal(gateway, first) != "nominations_open"
            )

        await eventually(
            the_late_nomination_reached_the_review, what="the unit's nominations in the review"
        )

        # The audit starts: from now on no unit is let in again.
        await gateway.rpc.command(
            "review",
            "accept",
            {"actor": "office-1", "roles": ["office"], "round_id": ROUND, "nomination_id": first},
        )

        async def nomination_heard_the_audit_start() -> bool:
            [round_] = (await client.get("/api/v1/rounds", headers=office)).json()
            return bool(round_["audit_started"])

        await eventually(
            nomination_heard_the_audit_start, what="the nomination service to hear the audit"
        )
        too_late = await client.post(
            f"/api/v1/rounds/{ROUND}/reopen",
            json={
                "unit_code": UNIT_A,
                "new_deadline": (NOW + timedelta(days=5)).isoformat(),
                "reason": REASON,
            },
            headers=office,
        )
        assert too_late.status_code == 409
        assert too_late.json()["code"] == "audit_started"
        assert too_late.json()["message_zh"] == (
            "2026年第四季度的审核已经开始，不能再为单位重新开放提名"
        )
    refused = await (await gateway.signed_in("office")).get("/office/rounds")
    assert "为单位重新开放提名" not in refused.text


async def test_the_office_reopens_a_unit_through_its_rounds_page(gateway: Harness) -> None:
    await gateway.role_accounts()
    await gateway.rpc.command(
        "nomination",
        "close_round",
        {"actor": "office-1", "roles": ["office"], "round_id": ROUND},
    )
    client = await gateway.signed_in("office")
    page = await client.get("/office/rounds")
    token = csrf_in(page.text)
    missing = await client.post(
        f"/office/rounds/{ROUND}/reopen",
        data={"csrf_token": token, "unit_code": UNIT_A, "new_deadline": "2026-11-05T18:00"},
    )
    assert missing.status_code == 422
    assert "请填写重新开放的原因" in missing.text
    done = await client.post(
        f"/office/rounds/{ROUND}/reopen",
        data={
            "csrf_token": token,
            "unit_code": UNIT_A,
            "new_deadline": "2026-11-05T18:00",
            "reason": REASON,
        },
    )
    assert done.status_code == 303
    shown = await client.get(done.headers["location"])
    assert "已为该单位重新开放提名" in shown.text
    assert "物业服务中心 补报至" in shown.text
    assert "2026年11月5日 18:00" in shown.text
