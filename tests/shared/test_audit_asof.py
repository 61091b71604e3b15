"""`audit as-of`: a scripted round, its queries' answers recorded at three moments, and the
same answers rebuilt later from the logs alone."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from deploy import audit_asof
from services.nomination.app import build_runtime as build_nomination
from services.review.app import build_runtime as build_review
from services.rewards.app import build_runtime as build_rewards
from shared.audit_projections import merged_logs
from shared.clock import SHANGHAI, FixedClock
from shared.events import DomainEvent, EventMetadata, NewEvent
from shared.postgres import PostgresEventStore, apply_schema, create_pool, ensure_database
from shared.rpc import RpcClient
from shared.service import ServiceRuntime
from shared.settings import Settings, with_database
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

ROUND = "2025-Q4"
NEXT_ROUND = "2026-Q1"
OFFICE = {"actor": "office-1", "roles": ["office", "admin"]}
LEADER = {"actor": "leader-1", "roles": ["leader"]}
VIEWER = {"viewer": audit_asof.AUDITOR, "viewer_roles": sorted(audit_asof.AUDITOR_ROLES)}
UNITS = {"WY": "物业服务中心", "CY": "餐饮服务中心", "WX": "维修中心"}
DIRECTORY = [
    {
        "employee_no": f"E{u}{i}",
        "name": f"职工{u}{i}",
        "unit_code": u,
        "unit_name": name,
        "position": "班组长",
        "active": True,
    }
    for u, name in UNITS.items()
    for i in range(3)
]
DEEDS = "连续三年承担锅炉房改造任务，带领班组攻坚克难，节约成本十二万元，获得职工一致好评。" * 2
PANEL = {"p-go": "general_office", "p-fin": "finance", "p-pm": "party_mass"}
# Time-relative fields are computed against the moment asked about, not the service clock.
NOW_RELATIVE = {"round": {"seconds_left"}, "notices": {"status", "seconds_left"}}


@dataclass
class Round:
    nomination: ServiceRuntime
    review: ServiceRuntime
    rewards: ServiceRuntime
    rpc: RpcClient
    clock: FixedClock
    settings: Settings

    async def now_in_the_database(self) -> datetime:
        moment: datetime = await self.nomination.store.pool.fetchval("SELECT clock_timestamp()")
        return moment

    async def answers(self) -> dict[str, Any]:
        """What the services' queries say now (the same queries as-of asks)."""
        rpc = self.rpc
        rounds = await rpc.query("nomination", "rounds", {})
        return {
            "round": next((r for r in rounds if r["round_id"] == ROUND), None),
            "nominations": await rpc.query("nomination", "nominations", {"round_id": ROUND}),
            "candidates": await rpc.query("review", "candidates", {"round_id": ROUND}),
            "ranking": await rpc.query("review", "ranking", {"round_id": ROUND, **VIEWER}),
            "notices": await rpc.query("review", "notices", {"round_id": ROUND}),
            "result": await rpc.query("review", "result", {"round_id": ROUND}),
            "awards": await rpc.query("rewards", "awards", {"round_id": ROUND}),
        }


def plain(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def comparable(key: str, value: Any) -> Any:
    """JSON as the bus carries it, without the fields relative to 'now'."""
    plain = json.loads(json.dumps(value, ensure_ascii=False, default=str))
    relative = NOW_RELATIVE.get(key, set())

    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in relative}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return strip(plain)


@pytest.fixture
async def scripted(settings: Settings, nc: NatsClient) -> AsyncIterator[Round]:
    clock = FixedClock(datetime(2025, 12, 1, 9, 0, tzinfo=SHANGHAI))
    runtimes = [
        build_nomination(settings, clock=clock),
        build_review(settings, clock=clock),
        build_rewards(settings, clock=clock),
    ]
    for runtime in runtimes:
        await runtime.start()
    try:
        nomination, review, rewards = runtimes
        yield Round(nomination, review, rewards, rpc_client(nc), clock, settings)
    finally:
        for runtime in reversed(runtimes):
            await runtime.stop()


async def submit(r: Round, unit: str, employee: int, category: str, round_id: str = ROUND) -> str:
    nomination_id = str(uuid.uuid4())
    await r.rpc.command(
        "nomination",
        "submit",
        {
            "actor": f"nominator-{unit}",
            "roles": ["nominator"],
            "actor_unit_code": unit,
            "nomination_id": nomination_id,
            "round_id": round_id,
            "unit_code": unit,
            "employee_no": f"E{unit}{employee}",
            "category": category,
            "deeds": DEEDS,
            "recommendation": "同意推荐",
        },
    )
    return nomination_id


async def review(r: Round, command: str, **payload: Any) -> Any:
    return await r.rpc.command("review", command, {"round_id": ROUND, **payload})


async def test_as_of_answers_what_the_queries_answered_at_that_moment(scripted: Round) -> None:
    r = scripted
    before = await r.now_in_the_database()
    await r.rpc.command("nomination", "import_directory", {**OFFICE, "rows": DIRECTORY})
    await r.rpc.command("nomination", "open_round", {**OFFICE, "round_id": ROUND})
    a = await submit(r, "WY", 0, "striving")
    b = await submit(r, "CY", 0, "striving")
    c = await submit(r, "WX", 0, "reform")

    async def candidates_arrived() -> bool:
        return len(await r.rpc.query("review", "candidates", {"round_id": ROUND})) == 3

    await eventually(candidates_arrived, timeout=15, what="the review's candidates")
    t1 = await r.now_in_the_database()
    at_t1 = await r.answers()

    # Review in January: audit, panel, scores.
    r.clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI))
    await r.rpc.command("nomination", "close_round", {**OFFICE, "round_id": ROUND})

    async def closed_in_review() -> bool:
        listed = await r.rpc.query("review", "candidates", {"round_id": ROUND})
        return {c["status"] for c in listed} == {"closed"}

    # Settle before the next moment is taken: a consumer applies an event a little after its
    # publisher recorded it (README, "Audit": as-of reads consumer-fed tables from the logs).
    await eventually(closed_in_review, timeout=15, what="the close to reach the review")
    for n in (a, b, c):
        await review(r, "accept", **OFFICE, nomination_id=n)
    for pid, department in PANEL.items():
        await review(
            r,
            "assign_panelist",
            **OFFICE,
            panelist_id=pid,
            employee_no=f"P{pid}",
            name=f"评委{pid}",
            department=department,
            unit_code="HQ",
        )
    for pid in PANEL:
        for n, value in ((a, 90), (b, 80), (c, 85)):
            criteria = {
                k: str(value)
                for k in ("achievements", "exemplary_role", "innovation", "recognition")
            }
            await review(
                r, "submit_score", actor=pid, roles=["panelist"], nomination_id=n, criteria=criteria
            )
    t2 = await r.now_in_the_database()
    at_t2 = await r.answers()

    # Decision, notice, publication; the awards follow.
    await review(r, "decide_winners", **LEADER, category="striving", winners=[a])
    await review(r, "decide_winners", **LEADER, category="reform", winners=[c])
    await review(r, "start_notice", **OFFICE)
    r.clock.set(datetime(2026, 1, 13, 9, 0, tzinfo=SHANGHAI))
    await review(r, "publish_result", **OFFICE)

    async def awarded() -> bool:
        return len(await r.rpc.query("rewards", "awards", {"round_id": ROUND})) == 2

    await eventually(awarded, timeout=15, what="the awards")
    t3 = await r.now_in_the_database()
    at_t3 = await r.answers()
    # Later changes must not leak into the past: a winner revoked after T3.
    await review(r, "revoke_winner", **LEADER, nomination_id=c, reason="事后查实材料造假。")

    services = ("nomination", "review", "rewards")
    urls = {s: r.settings.database_url_for(s, login="auditor") for s in services}
    assert await audit_asof.as_of(urls, before, r.settings) == []
    for moment, recorded in ((t1, at_t1), (t2, at_t2), (t3, at_t3)):
        [state] = await audit_asof.as_of(urls, moment, r.settings, ROUND)
        for key, answer in recorded.items():
            assert comparable(key, state[key]) == comparable(key, answer), (moment, key)
        assert audit_asof.render([state]).startswith(f"{ROUND} 2025年第四季度 as of")

    # What each moment knew, in the domain's words.
    assert at_t1["candidates"][0]["audit"] == "pending"
    assert {e["score_count"] for cat in at_t2["ranking"] for e in cat["entries"]} == {3}
    assert at_t2["result"]["published"] is False
    assert at_t3["result"]["published"] is True
    assert [w["revoked"] for w in at_t3["result"]["winners"]] == [False, False]
    assert {w["status"] for w in at_t3["awards"]} == {"granted"}

    # A second round beside the first (its nominations recorded among the first's
    # revocation and a directory change): each round read alone answers exactly what the
    # whole log answers for it, at every moment.
    r.clock.set(datetime(2026, 1, 20, 9, 0, tzinfo=SHANGHAI))
    await r.rpc.command("nomination", "open_round", {**OFFICE, "round_id": NEXT_ROUND})
    d = await submit(r, "WY", 1, "striving", NEXT_ROUND)
    moved = [
        {**row, "position": "主管"} if row["employee_no"] == "ECY2" else row for row in DIRECTORY
    ]
    await r.rpc.command("nomination", "import_directory", {**OFFICE, "rows": moved})
    await submit(r, "CY", 1, "reform", NEXT_ROUND)

    async def next_candidates_arrived() -> bool:
        listed = await r.rpc.query("review", "candidates", {"round_id": NEXT_ROUND})
        return len(listed) == 2

    await eventually(next_candidates_arrived, timeout=15, what="the next round's candidates")
    t4 = await r.now_in_the_database()
    for moment in (t1, t2, t3, t4):
        whole = await audit_asof.as_of(urls, moment, r.settings)
        assert [s["round_id"] for s in whole] == ([NEXT_ROUND] if moment == t4 else []) + [ROUND]
        for state in whole:
            [alone] = await audit_asof.as_of(urls, moment, r.settings, state["round_id"])
            assert plain(alone) == plain(state), (moment, state["round_id"])
    [now] = await audit_asof.as_of(urls, t4, r.settings, NEXT_ROUND)
    assert d in {n["nomination_id"] for n in now["nominations"]}
    assert len(now["nominations"]) == 2
    assert [c["status"] for c in now["candidates"]] == ["submitted", "submitted"]
    [then] = await audit_asof.as_of(urls, t4, r.settings, ROUND)
    assert sorted(w["revoked"] for w in then["result"]["winners"]) == [False, True]

    # Read alone, a round's copies hold its events and those of no round, nothing else.
    async with audit_asof.AsOf(urls, t4, NEXT_ROUND) as copy:
        held = {
            service: {
                x["r"]: x["n"]
                for x in await copy.pools[service].fetch(
                    "SELECT data->>'round_id' AS r, count(*) AS n FROM events GROUP BY 1"
                )
            }
            for service in services
        }
    assert set(held["nomination"]) == {NEXT_ROUND, None}  # the directory's events stay
    assert set(held["review"]) == {NEXT_ROUND}  # its candidates' events
    assert held["rewards"] == {}  # no award in that round

    # The schemas made for the copies are gone.
    leftover = await r.review.store.pool.fetchval(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'audit_%'"
    )
    assert leftover == 0


async def test_other_logs_reach_an_as_of_copy_merged_in_recorded_order_a_chunk_at_a_time(
    pg_url: str, db_prefix: str
) -> None:
    pools: dict[str, asyncpg.Pool] = {}
    try:
        for service in ("alpha", "beta"):
            name = f"{db_prefix}merge_{service}"
            await ensure_database(pg_url, name)
            pools[service] = await create_pool(with_database(pg_url, name), max_size=2)
            async with pools[service].acquire() as conn:
                await apply_schema(conn)
        stores = {s: PostgresEventStore(p) for s, p in pools.items()}
        for n in range(12):  # interleaved in time: alpha, alpha, beta, alpha, …
            service = "beta" if n % 3 == 2 else "alpha"
            await stores[service].append(f"{service}-{n % 4}", [_counted(n)])
        moment = datetime.now(UTC)
        await stores["alpha"].append("alpha-late", [_counted(99)])  # after the moment

        chunks = [list(c) async for c in merged_logs(pools, moment, chunk=5)]

        assert [len(c) for c in chunks] == [5, 5, 2]
        merged = [(s, e.position) for c in chunks for s, e in c]
        everything = [
            (s, e) for s, store in stores.items() for e in await store.read_all(limit=100)
        ]
        expected = sorted(
            (x for x in everything if x[1].recorded_at <= moment),
            key=lambda x: (x[1].recorded_at, x[0], x[1].position),
        )
        assert merged == [(s, e.position) for s, e in expected]
        assert [e.data["n"] for _, e in (x for c in chunks for x in c)] == list(range(12))

        # One round's events (and those of no round), still merged in recorded order.
        for n in range(12, 18):
            service = "beta" if n % 2 else "alpha"
            await stores[service].append(f"r-{n}", [_counted(n, f"2026-Q{n % 3 + 1}")])
        later = datetime.now(UTC)
        one = [
            (s, e.data["n"])
            async for c in merged_logs(pools, later, chunk=5, round_id="2026-Q1")
            for s, e in c
        ]
        assert one == [
            *((s, e.data["n"]) for s, e in expected),
            ("alpha", 99),
            ("alpha", 12),
            ("beta", 15),
        ]
    finally:
        for pool in pools.values():
            await pool.close()


class _Counted(DomainEvent):
    service = "test"
    n: int


class _CountedInRound(_Counted):
    round_id: str


def _counted(n: int, round_id: str | None = None) -> NewEvent:
    event = _Counted(n=n) if round_id is None else _CountedInRound(n=n, round_id=round_id)
    return NewEvent.of(event, EventMetadata(actor="test"))
