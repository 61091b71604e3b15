"""A whole round through NATS: audit, scoring, the decision, the notice, an objection, the result.

Round 2025-Q4, reviewed in January 2026. Striving Flower: A (unit U01), B (U02), C (U03,
rejected in the audit); Reform Flower: R (U04). Four panelists of four departments; the one
from Enterprise Management belongs to U01, so may not score A. The notice announced on
Monday 2026-01-05 runs five working days, until 2026-01-12 23:59:59.999999 +08:00.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest

from shared.bus import EVENTS_STREAM, HDR_MSG_ID
from shared.clock import SHANGHAI
from shared.contracts.common import Category
from shared.contracts.nomination import MeasurableResult
from shared.contracts.review import ObjectionRaised, ResultPublished, registry, review_stream_id
from shared.events import RecordedEvent
from shared.personal_data import is_sealed
from shared.rpc import RemoteError
from tests.review.conftest import (
    DEEDS,
    Stack,
    append_nominations,
    close_nominations,
    submitted,
)
from tests.support import eventually

pytestmark = pytest.mark.integration

ROUND = "2025-Q4"
STRIVING, REFORM = Category.STRIVING, Category.REFORM
OFFICE: dict[str, Any] = {"actor": "office-1", "roles": ["office"]}
LEADER: dict[str, Any] = {"actor": "leader-1", "roles": ["leader"]}
STAFF: dict[str, Any] = {"actor": "staff-7", "roles": ["staff"], "actor_employee_no": "E777"}
PANEL = {
    "p-go": ("E901", "general_office", "HQ"),
    "p-fin": ("E902", "finance", "HQ"),
    "p-pm": ("E903", "party_mass", "HQ"),
    "p-em": ("E904", "enterprise_management", "U01"),
}
NOTICE_ENDS = "2026-01-12T23:59:59.999999+08:00"


def nid(name: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"review-service/{name}")


A, B, C, R = (nid(x) for x in "ABCR")
NOMINATIONS = [
    submitted(ROUND, STRIVING, "E001", "U01", nomination_id=A),
    submitted(ROUND, STRIVING, "E002", "U02", nomination_id=B),
    submitted(ROUND, STRIVING, "E003", "U03", nomination_id=C),
    submitted(ROUND, REFORM, "E010", "U04", nomination_id=R),
]


def sheet(value: int) -> dict[str, str]:
    return {k: str(value) for k in ("achievements", "exemplary_role", "innovation", "recognition")}


async def score(stack: Stack, panelist: str, nomination_id: UUID, value: int) -> Any:
    return await stack.command(
        "submit_score",
        round_id=ROUND,
        actor=panelist,
        roles=["panelist"],
        nomination_id=str(nomination_id),
        criteria=sheet(value),
    )


async def refused(stack: Stack, command: str, /, **payload: Any) -> dict[str, Any]:
    with pytest.raises(RemoteError) as caught:
        await stack.command(command, **payload)
    return caught.value.error.model_dump()


async def objector_and_text_are_sealed(stack: Stack, name: str, text: str) -> None:
    """ObjectionRaised's stored row and its FLOWERS message hold neither the objector's name,
    their employee number nor the text in clear; the review reads them opened."""
    row = await stack.review.store.pool.fetchrow(
        "SELECT event_id, data::text AS data FROM events WHERE type = 'ObjectionRaised'"
    )
    assert row is not None
    for clear in (name, text, "E777"):
        assert clear not in row["data"]
    stored = json.loads(row["data"])
    assert {f for f, v in stored.items() if is_sealed(v)} == {
        "raiser_subject",
        "raiser_name",
        "text",
    }
    subject = "flowers.evt.review.ObjectionRaised"

    async def relayed() -> bool:
        try:
            await stack.js.get_last_msg(EVENTS_STREAM, subject)
        except Exception:
            return False
        return True

    await eventually(relayed, timeout=10, what="ObjectionRaised on FLOWERS")
    message = (await stack.js.get_last_msg(EVENTS_STREAM, subject)).data or b""
    for clear in (name, text, "E777"):
        assert clear.encode() not in message
    envelope = RecordedEvent.model_validate_json(message)
    assert envelope.event_id == row["event_id"]
    event = registry.decode_recorded(envelope)
    assert isinstance(event, ObjectionRaised)
    assert (event.raiser_subject, event.raiser_name, event.text) == ("E777", name, text)
    [seen] = await stack.query("objections", round_id=ROUND)
    assert (seen["raiser_name"], seen["text"]) == (name, text)


async def test_a_whole_round_is_reviewed_decided_noticed_objected_to_and_published(
    stack: Stack,
) -> None:
    await append_nominations(stack.nomination, NOMINATIONS)

    async def all_candidates_arrived() -> bool:
        return len(await stack.query("candidates", round_id=ROUND)) == len(NOMINATIONS)

    await eventually(all_candidates_arrived, timeout=15, what="the review's candidates")

    # Eligibility audit by the office.
    pending = await stack.query("pending_audits", round_id=ROUND)
    assert {p["nomination_id"] for p in pending} == {str(n) for n in (A, B, C, R)}
    for n in (A, B, R):
        await stack.command("accept", round_id=ROUND, **OFFICE, nomination_id=str(n))
    await stack.command(
        "reject", round_id=ROUND, **OFFICE, nomination_id=str(C), reason="事迹材料缺少单位盖章。"
    )
    assert await stack.query("pending_audits", round_id=ROUND) == []
    audits = {
        c["nomination_id"]: (c["audit"], c["rejection_reason"])
        for c in await stack.query("candidates", round_id=ROUND)
    }
    assert audits[str(C)] == ("rejected", "事迹材料缺少单位盖章。")
    assert audits[str(A)] == ("accepted", None)
    [seen_by_unit] = await stack.query("candidates", round_id=ROUND, unit_code="U03")
    assert seen_by_unit["rejection_reason"] == "事迹材料缺少单位盖章。"

    # The nomination service hears of the rejection: U03's striving place is free again.
    async def place_freed() -> bool:
        use = await stack.rpc.query("nomination", "quota", {"round_id": ROUND, "unit_code": "U03"})
        return {c["category"]: c["used"] for c in use["categories"]}["striving"] == 0

    await eventually(place_freed, timeout=15, what="nomination to hear of the rejection")

    # The panel: four departments.
    for pid, (employee_no, department, unit) in PANEL.items():
        await stack.command(
            "assign_panelist",
            round_id=ROUND,
            **OFFICE,
            panelist_id=pid,
            employee_no=employee_no,
            name=f"评委{pid}",
            department=department,
            unit_code=unit,
        )
    assert len(await stack.query("panel", round_id=ROUND)) == 4

    # A panelist never scores a nominee of their own unit: not offered, and refused.
    mine = await stack.query("pending_scores", panelist_id="p-em", viewer="p-em")
    assert {p["nomination_id"] for p in mine["pending"]} == {str(B), str(R)}
    conflict = await refused(
        stack,
        "submit_score",
        round_id=ROUND,
        actor="p-em",
        nomination_id=str(A),
        criteria=sheet(99),
    )
    assert conflict["code"] == "conflict_of_interest"
    assert conflict["status"] == 403
    assert conflict["details"]["conflict"] == "own_unit"

    # Scores stay hidden from a panelist until they have scored.
    first = await score(stack, "p-go", A, 90)
    assert first["total"] == "90.0000"
    assert first["revision"] == 1
    before = await stack.query(
        "scores", round_id=ROUND, nomination_id=str(A), viewer="p-fin", viewer_roles=["panelist"]
    )
    assert before == {
        "round_id": ROUND,
        "nomination_id": str(A),
        "visible": False,
        "hidden_reason": "score_first",
        "scores": [],
    }
    for pid in ("p-fin", "p-pm"):
        await score(stack, pid, A, 90)
    # Even a panelist who also oversees the review sees no ranking while B awaits their score.
    early = await stack.query("ranking", round_id=ROUND, viewer="p-go", viewer_roles=["office"])
    assert [(r["category"], r["entries"]) for r in early if r["hidden_reason"]] == [
        ("striving", []),
        ("reform", []),
    ]
    after = await stack.query(
        "scores", round_id=ROUND, nomination_id=str(A), viewer="p-fin", viewer_roles=["panelist"]
    )
    assert after["visible"] is True
    assert [s["panelist_id"] for s in after["scores"]] == ["p-fin", "p-go", "p-pm"]
    for pid in ("p-go", "p-fin", "p-em"):
        await score(stack, pid, B, 80)
        await score(stack, pid, R, 85)
    assert (await stack.query("pending_scores", panelist_id="p-em", viewer="p-em"))["pending"] == []

    # The ranking: raw scores, method, result; only for those who oversee the review.
    ranking = await stack.query(
        "ranking", round_id=ROUND, viewer="leader-1", viewer_roles=["leader"]
    )
    striving = next(r for r in ranking if r["category"] == "striving")
    ranked = [e for e in striving["entries"] if e["rank"] is not None]
    assert [(e["nomination_id"], e["score"]) for e in ranked] == [
        (str(A), "90.0000"),
        (str(B), "80.0000"),
    ]
    assert len(ranked[0]["raw_scores"]) == 3
    assert striving["method"]["min_scores"] == 3
    assert striving["method"]["rubric"]["achievements"] == "40"
    assert striving["frozen"] is False
    with pytest.raises(RemoteError) as not_overseer:
        await stack.query("ranking", round_id=ROUND, viewer="p-fin", viewer_roles=["panelist"])
    assert not_overseer.value.error.code == "not_permitted"

    # Nothing is decided while a unit may still nominate; then the round closes.
    too_early = await refused(
        stack, "decide_winners", round_id=ROUND, **LEADER, category="striving", winners=[str(A)]
    )
    assert too_early["code"] == "nominations_open"
    await close_nominations(stack, ROUND)
    # The leader decides; the office announces.
    decided = await stack.command(
        "decide_winners", round_id=ROUND, **LEADER, category="striving", winners=[str(A)]
    )
    assert decided["winners"] == [str(A)]
    await stack.command(
        "decide_winners", round_id=ROUND, **LEADER, category="reform", winners=[str(R)]
    )
    announced = await stack.command("start_notice", round_id=ROUND, **OFFICE)
    assert announced["notice"]["ends_at"] == NOTICE_ENDS
    assert announced["notice"]["calendar_fallback_years"] == []
    [notice] = await stack.query("notices", round_id=ROUND)
    assert notice["ends_at"] == NOTICE_ENDS
    assert notice["status"] == "running"
    assert (await refused(stack, "publish_result", round_id=ROUND, **OFFICE))[
        "code"
    ] == "notice_running"

    # A real-name objection during the notice, investigated.
    stack.clock.set(datetime(2026, 1, 8, 10, tzinfo=SHANGHAI))
    raised = await stack.command(
        "raise_objection",
        round_id=ROUND,
        **STAFF,
        nomination_id=str(A),
        raiser_name="李四",
        text="该同事的节约成本数据与班组台账不符。",
    )
    assert raised["objection_no"] == 1
    await objector_and_text_are_sealed(stack, "李四", "该同事的节约成本数据与班组台账不符。")
    await stack.command(
        "record_objection_note", round_id=ROUND, **OFFICE, objection_no=1, note="已调阅班组台账。"
    )
    [open_objection] = await stack.query("objections", round_id=ROUND)
    assert open_objection["status"] == "open"
    assert [n["note"] for n in open_objection["notes"]] == ["已调阅班组台账。"]

    # The notice is over, but an open objection still holds the result back.
    stack.clock.set(datetime(2026, 1, 13, 9, tzinfo=SHANGHAI))
    assert (await stack.query("notices", round_id=ROUND))[0]["status"] == "ended"
    assert (await refused(stack, "publish_result", round_id=ROUND, **OFFICE))[
        "code"
    ] == "objection_open"
    summary = await stack.query("summary", round_id=ROUND)
    assert summary["publish_blocker"]["code"] == "objection_open"
    await stack.command(
        "resolve_objection",
        round_id=ROUND,
        **OFFICE,
        objection_no=1,
        outcome="dismissed",
        resolution="经核查台账，数据无误，异议不成立。",
    )
    [dismissed] = await stack.query("objections", round_id=ROUND, status="dismissed")
    assert dismissed["resolution"] == "经核查台账，数据无误，异议不成立。"
    assert (await stack.query("summary", round_id=ROUND))["publishable"] is True

    published = await stack.command("publish_result", round_id=ROUND, **OFFICE)
    assert published["events"] == ["ResultPublished"]

    # ResultPublished: in the review's log, and on the FLOWERS stream, with all it needs.
    stream = await stack.review.store.load(review_stream_id(ROUND))
    in_log = registry.decode_recorded(stream.events[-1])
    assert isinstance(in_log, ResultPublished)
    carries_everything_downstream_needs(in_log, published_at=stack.clock.now())
    js = stack.js
    subject = "flowers.evt.review.ResultPublished"

    async def relayed() -> bool:
        try:
            await js.get_last_msg(EVENTS_STREAM, subject)
        except Exception:
            return False
        return True

    await eventually(relayed, timeout=10, what="ResultPublished on FLOWERS")
    message = await js.get_last_msg(EVENTS_STREAM, subject)
    envelope = RecordedEvent.model_validate_json(message.data or b"")
    assert (message.headers or {})[HDR_MSG_ID] == str(envelope.event_id)
    assert envelope.event_id == stream.events[-1].event_id
    assert registry.decode_recorded(envelope) == in_log

    result = await stack.query("result", round_id=ROUND)
    assert result["published"] is True
    assert result["label_zh"] == "2025年第四季度"
    assert {(w["category"], w["nomination_id"], w["score"]) for w in result["winners"]} == {
        ("striving", str(A), "90.0000"),
        ("reform", str(R), "85.0000"),
    }

    # Misconduct found later: the award is revoked, with a reason.
    await stack.command(
        "revoke_winner", round_id=ROUND, **LEADER, nomination_id=str(R), reason="事后查实材料造假。"
    )
    revoked = {
        w["nomination_id"]: w["revoked"]
        for w in (await stack.query("result", round_id=ROUND))["winners"]
    }
    assert revoked == {str(A): False, str(R): True}


def carries_everything_downstream_needs(event: ResultPublished, published_at: datetime) -> None:
    assert event.round_id == ROUND
    assert event.categories == (STRIVING, REFORM)
    assert event.published_by == "office-1"
    assert event.published_at == published_at
    winners = {w.nomination_id: w for w in event.winners}
    assert set(winners) == {A, R}
    a = winners[A]
    assert (a.category, a.employee_no, a.name, a.unit_code, a.unit_name, a.position) == (
        STRIVING,
        "E001",
        "员工E001",
        "U01",
        "单位U01",
        "班组长",
    )
    assert a.deeds == DEEDS
    assert a.results == (
        MeasurableResult(metric="节约成本", value=Decimal("120000.50"), unit="元"),
    )
    assert a.score == Decimal("90.0000")
    assert winners[R].category == REFORM
    assert winners[R].score == Decimal("85.0000")


async def test_the_office_and_the_leader_are_refused_what_is_not_theirs(stack: Stack) -> None:
    await append_nominations(stack.nomination, NOMINATIONS[:1])

    async def arrived() -> bool:
        return len(await stack.query("pending_audits", round_id=ROUND)) == 1

    await eventually(arrived, timeout=15, what="the candidate")
    by_leader = await refused(stack, "accept", round_id=ROUND, **LEADER, nomination_id=str(A))
    assert (by_leader["code"], by_leader["status"]) == ("not_permitted", 403)
    unknown = await refused(stack, "accept", round_id=ROUND, **OFFICE, nomination_id=str(B))
    assert unknown["code"] == "unknown_nomination"
    blank = await refused(
        stack, "reject", round_id=ROUND, **OFFICE, nomination_id=str(A), reason=" "
    )
    assert blank["code"] == "invalid_input"
    assert (await stack.query("summary", round_id=ROUND))["candidates"]["pending"] == 1
