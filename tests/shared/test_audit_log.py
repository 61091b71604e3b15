"""Tampering named by position, anchors that outlive a rewritten chain, and browsing the log."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared import audit, audit_log
from shared.audit import Anchor
from shared.events import GENESIS_HASH, chain_hash
from shared.settings import Settings
from tests.shared.two_services import ROUND, System, two_services

pytestmark = pytest.mark.integration

DIRECTORY = [
    {
        "employee_no": f"EWY{i}",
        "name": f"职工{i}",
        "unit_code": "WY",
        "unit_name": "物业服务中心",
        "position": "水电工",
        "active": True,
    }
    for i in range(5)
]
DEEDS = "连续三年承担锅炉房改造任务，带领班组攻坚克难，节约成本十二万元，获得职工一致好评。" * 2


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    async with two_services(settings, DIRECTORY) as running:
        yield running


async def submit(system: System, employee: int, category: str, correlation: str) -> str:
    nomination_id = str(uuid.uuid4())
    await system.rpc.command(
        "nomination",
        "submit",
        {
            "actor": "nominator-WY",
            "roles": ["nominator"],
            "actor_unit_code": "WY",
            "nomination_id": nomination_id,
            "round_id": ROUND,
            "unit_code": "WY",
            "employee_no": f"EWY{employee}",
            "category": category,
            "deeds": DEEDS,
            "recommendation": "同意推荐",
        },
        correlation_id=correlation,
    )
    return nomination_id


TAMPERINGS = {
    "an UPDATE": [
        "UPDATE events SET data = jsonb_set(data, '{name}', '\"篡改\"') WHERE position = 3"
    ],
    "a DELETE": ["DELETE FROM events WHERE position = 3"],
    "a reordering": [
        "UPDATE events SET position = -1 WHERE position = 3",
        "UPDATE events SET position = 3 WHERE position = 4",
        "UPDATE events SET position = 4 WHERE position = -1",
    ],
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
async def test_tampering_with_past_rows_is_named_by_position(
    system: System, tampering: str
) -> None:
    await system.settled()
    async with system.as_owner("nomination") as conn, conn.transaction():
        for sql in TAMPERINGS[tampering]:
            await conn.execute(sql)
    report = await audit.verify(system.urls(), system.js, services=["nomination"])
    assert not report.ok
    broken = report.services[0].chain.first_break
    assert broken is not None, tampering
    assert broken.position == 3, tampering
    assert "chain BROKEN at position 3" in audit.render(report)
    assert report.to_json()["services"][0]["chain"]["first_break"]["position"] == 3


async def rechain(conn: asyncpg.Connection, start: int) -> None:
    """What a careful forger does after editing a row: recompute every hash from there on."""
    prev = await conn.fetchval("SELECT hash FROM events WHERE position = $1", start - 1)
    prev = prev or GENESIS_HASH
    rows = await conn.fetch("SELECT * FROM events WHERE position >= $1 ORDER BY position", start)
    for row in rows:
        digest = chain_hash(
            prev,
            row["position"],
            row["stream_id"],
            row["version"],
            row["event_id"],
            row["type"],
            row["schema_version"],
            row["data"],
            row["metadata"],
        )
        await conn.execute(
            "UPDATE events SET prev_hash = $2, hash = $3 WHERE position = $1",
            row["position"],
            prev,
            digest,
        )
        prev = digest
    await conn.execute("UPDATE event_log_head SET hash = $1", prev)


async def test_an_anchor_proves_the_log_up_to_it_even_against_a_rewritten_chain(
    system: System,
) -> None:
    await system.settled()
    anchors = await audit.take_anchors(system.urls())
    assert anchors["stores"]["nomination"]["position"] == 7  # a unit, five employees, a round
    anchored = {s: Anchor(a["position"], a["hash"]) for s, a in anchors["stores"].items()}

    # Life goes on after the anchor: the anchor still holds.
    await submit(system, 0, "striving", "corr-after-anchor")
    await system.settled()
    report = await audit.verify(system.urls(), system.js, anchors=anchored, projections=False)
    assert report.ok, audit.render(report)
    assert all(s.anchor is not None and s.anchor.ok for s in report.services)

    # A row before the anchor rewritten, and every later hash recomputed to match.
    async with system.as_owner("nomination") as conn, conn.transaction():
        await conn.execute(
            "UPDATE events SET data = jsonb_set(data, '{name}', '\"篡改\"') WHERE position = 2"
        )
        await rechain(conn, 2)
    report = await audit.verify(system.urls(), system.js, anchors=anchored, projections=False)
    nomination = report.services[0]
    assert nomination.chain.ok  # the chain alone can no longer tell
    assert nomination.anchor is not None
    assert not nomination.anchor.ok
    assert "position 7 now ends in hash" in nomination.anchor.reason
    assert not report.ok
    assert "FAIL anchor at position 7" in audit.render(report)

    # A plain edit before the anchor breaks the chain there, and so fails the anchor too.
    async with system.as_owner("nomination") as conn:
        await conn.execute(
            "UPDATE events SET data = jsonb_set(data, '{name}', '\"再改\"') WHERE position = 4"
        )
    report = await audit.verify(system.urls(), system.js, anchors=anchored, projections=False)
    assert report.services[0].anchor is not None
    assert "breaks at position 4, before the anchor at 7" in report.services[0].anchor.reason


async def test_the_log_is_browsed_by_filter_and_a_correlation_followed_across_services(
    system: System,
) -> None:
    first = await submit(system, 0, "striving", "corr-1")
    await submit(system, 1, "dedication", "corr-2")
    await system.settled()
    pools = system.pools()

    path = await audit_log.find_events(pools, audit_log.EventFilter(correlation="corr-1"))
    assert [(e.service, e.type) for e in path] == [
        ("nomination", "NominationSubmitted"),
        ("review", "CandidateRecorded"),
    ]
    assert path[0].recorded_at <= path[1].recorded_at
    assert path[1].metadata["causation_id"] == path[0].event_id

    mentioning = await audit_log.find_events(pools, audit_log.EventFilter(nomination=first))
    assert {e.type for e in mentioning} == {"NominationSubmitted", "CandidateRecorded"}

    registered = await audit_log.find_events(
        pools, audit_log.EventFilter(types=("EmployeeRegistered",), actor="office-1")
    )
    # The log holds employee numbers sealed (README "Privacy"): one data subject each.
    sealed = [e.data["employee_no"] for e in registered]
    assert len(sealed) == 5
    assert all(isinstance(v, dict) and {"$pii", "ct"} <= set(v) for v in sealed)
    assert len({v["$pii"] for v in sealed}) == 5
    assert "EWY" not in audit_log.render_json_lines(registered)
    assert {e.service for e in registered} == {"nomination"}

    review_round = await audit_log.find_events(
        {"review": pools["review"]}, audit_log.EventFilter(stream="review-*")
    )
    assert len(review_round) == 2
    cut = path[0].recorded_at
    later = await audit_log.find_events(pools, audit_log.EventFilter(since=cut, limit=3))
    assert later[0].event_id == path[0].event_id
    assert len(later) == 3
    earlier = await audit_log.find_events(pools, audit_log.EventFilter(until=cut))
    assert earlier[-1].event_id == path[0].event_id

    table = audit_log.render_table(path)
    assert "NominationSubmitted" in table
    assert "corr-1" in table
    lines = audit_log.render_json_lines(path).splitlines()
    assert '"deeds"' in lines[0]
    assert '"correlation_id": "corr-1"' in lines[1]
