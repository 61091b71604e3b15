"""The office's erasure API refuses a winner under the legal hold of payroll facts (409)."""

from __future__ import annotations

import pytest

from tests.gateway.harness import Harness
from tests.gateway.published import WINNERS, publish_past_result
from tests.support import eventually

pytestmark = pytest.mark.integration


async def test_the_api_refuses_to_erase_a_winner_whose_payroll_facts_are_kept(
    gateway: Harness,
) -> None:
    await gateway.role_accounts()
    await publish_past_result(gateway)  # October 2026: paid in 2026, kept to the end of 2056
    pool = gateway.nomination.store.pool

    async def heard() -> bool:
        return bool(await pool.fetchval("SELECT count(*) = $1 FROM past_wins", len(WINNERS)))

    await eventually(heard, timeout=20, what="the nomination service to hear the winners")
    employee_no = WINNERS[2][1]
    api = {"Authorization": f"Bearer {await gateway.token('office')}"}
    async with gateway.client() as http:
        refused = await http.post(
            f"/api/v1/employees/{employee_no}/erasure",
            headers=api,
            json={"reason": "本人书面申请删除"},
        )
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["code"] == "legal_hold"
    assert "会计档案管理办法" in body["message_zh"]
    assert "至 2056 年 12 月 31 日止" in body["message_zh"]
    assert body["details"]["hold_ends_year"] == 2056
    # The key is still there: the winner's data reads as before.
    keys = gateway.nomination.keys
    assert keys is not None
    assert await keys.subject_of(employee_no) is not None
