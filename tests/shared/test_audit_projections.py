"""Projections rebuilt from the log: a hand-made difference is found, and mended while the
service runs (reads go on; nothing appended meanwhile is lost)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared import audit, audit_projections
from shared.projection import declared
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.shared.two_services import ROUND, System, two_services
from tests.support import eventually

pytestmark = pytest.mark.integration

UNITS = (("WY", "物业服务中心"), ("CY", "餐饮服务中心"), ("WX", "维修中心"))
DIRECTORY = [
    {
        "employee_no": f"E{u}{i}",
        "name": f"职工{u}{i}",
        "unit_code": u,
        "unit_name": unit_name,
        "position": "维修工",
        "active": True,
    }
    for u, unit_name in UNITS
    for i in range(8)
]
DEEDS = "连续三年承担锅炉房改造任务，带领班组攻坚克难，节约成本十二万元，获得职工一致好评。" * 2
CATEGORIES = ("striving", "value_creation", "dedication", "reform", "hard_work")


def submission(unit: str, employee: int, category: str) -> dict[str, Any]:
    return {
        "actor": f"nominator-{unit}",
        "roles": ["nominator"],
        "actor_unit_code": unit,
        "nomination_id": str(uuid.uuid4()),
        "round_id": ROUND,
        "unit_code": unit,
        "employee_no": f"E{unit}{employee}",
        "category": category,
        "deeds": DEEDS,
        "results": [{"metric": "节约成本", "value": "120000", "unit": "元"}],
        "recommendation": "同意推荐",
    }


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    async with two_services(settings, DIRECTORY) as running:
        yield running


async def submit(system: System, unit: str, employee: int, category: str) -> str:
    payload = submission(unit, employee, category)
    await system.rpc.command("nomination", "submit", payload)
    return str(payload["nomination_id"])


async def test_a_projection_corrupted_by_hand_is_named_by_verify_and_mended_by_rebuild(
    system: System,
) -> None:
    ids = [await submit(system, u, 0, "striving") for u, _ in UNITS]
    await system.settled()
    report = await audit.verify(system.urls(), system.js)
    assert report.ok, audit.render(report)
    review = report.services[1]
    assert {p.projection for p in review.projections} == {"candidates", "review"}
    [candidates] = [p for p in review.projections if p.projection == "candidates"]
    assert candidates.consumed == {"review-nomination": 24 + 3 + 3 + 1}

    # By hand, behind the log's back: one nomination "withdrawn", one candidate gone.
    await system.nomination.store.pool.execute(
        "UPDATE nominations SET status = 'withdrawn' WHERE nomination_id = $1", uuid.UUID(ids[0])
    )
    await system.review.store.pool.execute(
        "DELETE FROM candidates WHERE nomination_id = $1", uuid.UUID(ids[1])
    )
    report = await audit.verify(system.urls(), system.js)
    assert not report.ok
    text = audit.render(report)
    assert "FAIL projection nominations" in text
    assert (
        f"nominations[nomination_id={ids[0]}]: status is 'withdrawn' in the live table, "
        "'submitted' by the log" in text
    )
    assert f"candidates[nomination_id={ids[1]}]: in the log, missing from the live table" in text
    nominations = report.to_json()["services"][0]["projections"]
    [broken] = [p for p in nominations if not p["ok"]]
    [table] = [t for t in broken["tables"] if not t["ok"]]
    assert (broken["projection"], table["table"], table["only_live"], table["only_rebuilt"]) == (
        "nominations",
        "nominations",
        1,
        1,
    )

    mended = await audit_projections.rebuild(
        await system.pool_as("nomination", "nomination_owner"),
        declared("nomination"),
        system.js,
        ["nominations"],
    )
    assert mended.tables == ["rounds", "nominations"]
    await audit_projections.rebuild(
        await system.pool_as("review", "review_owner"), declared("review"), system.js
    )
    report = await audit.verify(system.urls(), system.js)
    assert report.ok, audit.render(report)
    rows = await system.rpc.query("nomination", "nominations", {"round_id": ROUND})
    assert {r["status"] for r in rows} == {"submitted"}


async def test_reads_go_on_and_appends_during_a_rebuild_are_kept(system: System) -> None:
    await system.settled()
    reads: list[int] = []
    failures: list[BaseException] = []
    stop = asyncio.Event()

    async def reader() -> None:
        """The service's own query, over NATS, in a loop: never an error, never a part."""
        while not stop.is_set():
            try:
                rows = await system.rpc.query("nomination", "employees", {})
                reads.append(len(rows))
            except Exception as exc:
                failures.append(exc)

    submitted: list[str] = []

    async def writer() -> None:
        """Nominations keep coming in while the rebuild runs."""
        for n in range(10):  # a unit may nominate once per flower
            unit, category = ("WY", "CY")[n % 2], CATEGORIES[n // 2]
            submitted.append(await submit(system, unit, n // 2, category))

    async def before_swap() -> None:
        # The tables are built; more events arrive and reads are served before the swap.
        seen = len(reads)
        submitted.append(await submit(system, "WX", 7, "striving"))
        await eventually(lambda: len(reads) > seen + 3, what="reads while rebuilding")

    tasks = [asyncio.create_task(reader()), asyncio.create_task(writer())]
    await eventually(lambda: len(submitted) >= 3, what="the writer to start")
    try:
        report = await audit_projections.rebuild(
            await system.pool_as("nomination", "nomination_owner"),
            declared("nomination"),
            system.js,
            before_swap=before_swap,
        )
        after = len(reads)
        await eventually(lambda: len(reads) > after + 3, what="reads after the swap")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert failures == []
    assert set(reads) == {len(DIRECTORY)}
    assert sorted(report.tables) == [
        "audits_started",
        "employees",
        "nominations",
        "objections_held",
        "past_wins",
        "rejections",
        "results_published",
        "rounds",
        "units",
    ]
    assert report.applied_under_lock >= 1  # at least the one submitted just before the swap
    assert report.swap_ms < 1000

    await system.settled()
    pool = await system.pool_as("nomination", "auditor")
    logged = await pool.fetchval("SELECT count(*) FROM events WHERE type = 'NominationSubmitted'")
    projected = await pool.fetch("SELECT nomination_id::text AS id FROM nominations")
    assert logged == len(submitted) == len(projected)
    assert {r["id"] for r in projected} == set(submitted)
    checks = await audit_projections.check(pool, declared("nomination"), system.js)
    assert all(c.ok for c in checks), [t.summary() for c in checks for t in c.tables]


async def waiting_on_a_lock(runtime: ServiceRuntime) -> bool:
    waiting = await runtime.store.pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool(waiting)


async def test_writes_held_up_by_the_swap_land_in_the_new_tables(system: System) -> None:
    await submit(system, "WY", 0, "striving")
    await system.settled()
    held: list[asyncio.Task[str]] = []

    async def append_meanwhile() -> None:
        # Inside the swap: a command's append waits for the log head, review's consumer for
        # the candidates tables; both must write to the tables swapped in, once committed.
        held.append(asyncio.create_task(submit(system, "CY", 1, "striving")))
        await eventually(lambda: waiting_on_a_lock(system.nomination), what="a held append")

    nomination = await audit_projections.rebuild(
        await system.pool_as("nomination", "nomination_owner"),
        declared("nomination"),
        system.js,
        during_swap=append_meanwhile,
    )
    assert nomination.swap_attempts == 1
    first = await held[0]

    async def consumer_waits() -> None:
        held.append(asyncio.create_task(submit(system, "WX", 2, "striving")))
        await eventually(lambda: waiting_on_a_lock(system.review), what="a held consumer")

    await system.settled()
    review = await audit_projections.rebuild(
        await system.pool_as("review", "review_owner"),
        declared("review"),
        system.js,
        ["candidates"],
        during_swap=consumer_waits,
    )
    assert review.swap_attempts == 1
    second = await held[1]
    await system.settled()

    report = await audit.verify(system.urls(), system.js)
    assert report.ok, audit.render(report)
    listed = await system.rpc.query("nomination", "nominations", {"round_id": ROUND})
    assert {first, second} <= {n["nomination_id"] for n in listed}
    candidates = await system.review.store.pool.fetch(
        "SELECT nomination_id::text AS id FROM candidates"
    )
    assert {first, second} <= {r["id"] for r in candidates}
