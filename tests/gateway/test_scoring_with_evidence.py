"""Scoring with the evidence: the panelist's form shows the deeds, results, evidence and the
unit's opinion, each criterion with its score bands, a live total's inputs, and "next"; a flower
with its own rubric (a setting) is scored on it."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from shared.settings import Settings
from tests.gateway.harness import (
    DEEDS,
    ROUND,
    UNIT_A,
    UNIT_B,
    Harness,
    csrf_in,
    nomination_body,
    running_gateway,
)
from tests.gateway.review_setup import ReviewRound, review_accounts
from tests.support import eventually

pytestmark = pytest.mark.integration

EVIDENCE = "https://intranet.example.com/evidence/zhangwei-2026q3.pdf"
OPINION = "经物业服务中心党支部研究，一致同意推荐张伟同志。"
REFORM_RUBRIC = {"innovation": Decimal(60), "achievements": Decimal(40)}


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Harness]:
    per_flower = settings.model_copy(
        update={"review_rubric_by_category": {"reform": REFORM_RUBRIC}}
    )
    async with running_gateway(per_flower) as harness:
        yield harness


async def nominated_and_on_the_panel(harness: Harness) -> ReviewRound:
    rr = await review_accounts(harness)
    for nominator, unit, employee_no, category, links, opinion in (
        ("wy", UNIT_A, "E100", "striving", [EVIDENCE], OPINION),
        ("wy", UNIT_A, "E101", "reform", [], "同意推荐。"),
        ("cy", UNIT_B, "E200", "striving", [], "同意推荐。"),
    ):
        nomination_id = str(uuid.uuid4())
        body = nomination_body(
            employee_no,
            category=category,
            deeds=DEEDS,
            evidence_links=links,
            recommendation=opinion,
        )
        await harness.rpc.command(
            "nomination",
            "submit",
            {
                **body,
                "actor": rr.id(nominator),
                "roles": ["nominator"],
                "actor_unit_code": unit,
                "unit_code": unit,
                "nomination_id": nomination_id,
            },
        )
        rr.nominations[employee_no] = nomination_id

    async def all_in_review() -> bool:
        return len(await rr.query("candidates", round_id=ROUND)) == 3

    await eventually(all_in_review, timeout=15, what="the nominations to reach the review")
    await rr.accept_all()
    await rr.assign_panel()
    return rr


async def test_a_panelist_scores_with_the_evidence_and_goes_on_to_the_next(
    gateway: Harness,
) -> None:
    rr = await nominated_and_on_the_panel(gateway)
    n = rr.nominations
    panelist = await gateway.signed_in("p_go")
    page = await panelist.get(f"/review/scoring/{ROUND}/{n['E100']}")
    assert page.status_code == 200
    html = page.text
    assert DEEDS in html
    assert "节约成本：120000 元" in html
    assert "证明材料" in html
    assert f'href="{EVIDENCE}"' in html
    assert "单位推荐意见" in html
    assert OPINION in html
    # Every criterion with its bands, and the weights the live total reads.
    for band in ("90–100 分", "业绩突出", "认可度低"):
        assert band in html
    for key, weight in (("achievements", 40), ("exemplary_role", 30), ("recognition", 10)):
        assert re.search(rf'id="criterion_{key}"[^>]*data-weight="{weight}"', html)
    assert "data-live-total" in html
    assert "提交后显示加权总分" in html  # without JavaScript
    # Next: the other nominations waiting for this panelist.
    assert f"/review/scoring/{ROUND}/{n['E101']}" in html

    sent = await panelist.post(
        f"/review/scoring/{ROUND}/{n['E100']}",
        data={
            "csrf_token": csrf_in(html),
            **{f"criterion_{k}": "90" for k in ("achievements", "exemplary_role")},
            "criterion_innovation": "80",
            "criterion_recognition": "70",
        },
    )
    assert sent.status_code == 303
    after = await panelist.get(sent.headers["location"])
    assert "评分已提交" in after.text
    assert "86.00" in after.text  # (90*40 + 90*30 + 80*20 + 70*10) / 100
    assert re.search(r'class="button next" href="/review/scoring/[^"]+/' + n["E101"], after.text)
    assert "下一份：李娜" in after.text


async def test_a_flower_with_its_own_rubric_is_scored_on_it(gateway: Harness) -> None:
    rr = await nominated_and_on_the_panel(gateway)
    n = rr.nominations
    panelist = await gateway.signed_in("p_go")
    page = await panelist.get(f"/review/scoring/{ROUND}/{n['E101']}")
    assert 'id="criterion_innovation"' in page.text
    assert 'data-weight="60"' in page.text
    assert 'id="criterion_recognition"' not in page.text  # not in the reform rubric
    sent = await panelist.post(
        f"/review/scoring/{ROUND}/{n['E101']}",
        data={
            "csrf_token": csrf_in(page.text),
            "criterion_innovation": "90",
            "criterion_achievements": "70",
        },
    )
    assert sent.status_code == 303
    sheet = await rr.query(
        "pending_scores",
        panelist_id=rr.id("p_go"),
        viewer=rr.id("p_go"),
        viewer_roles=["panelist"],
        round_id=ROUND,
    )
    (scored,) = [s for s in sheet["scored"] if s["nomination_id"] == n["E101"]]
    assert Decimal(scored["score"]["total"]) == Decimal("82")
    assert sheet["rubrics"]["reform"] == {"innovation": "60", "achievements": "40"}
    assert sheet["rubrics"]["striving"] == sheet["rubric"]

    # The API's sheet says which rubric each nomination is scored on, with its evidence.
    api = gateway.client()
    token = await gateway.token("p_go")
    answer = await api.get("/api/v1/review/scoring", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["rubrics"]["reform"] == {"innovation": "60", "achievements": "40"}
    (zhang,) = [p for p in body["pending"] if p["nomination_id"] == n["E100"]]
    assert zhang["evidence"] == [EVIDENCE]
    assert zhang["recommendation"] == OPINION
    assert zhang["rubric"] == body["rubric"]
