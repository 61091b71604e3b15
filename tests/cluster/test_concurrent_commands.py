"""Two instances of a service deciding on the same stream at once stay correct: each
appends with the version it decided on (optimistic concurrency), and a writer that meets
the other's append decides its batch again on the newer state (StreamWriter)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from services.nomination.app import build_runtime
from shared import leader
from shared.clock import SHANGHAI, FixedClock
from shared.rpc import RemoteError
from shared.settings import Settings
from tests.support import rpc_client

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

ROUND = "2026-Q4"
UNITS = ("WY", "CY")
PER_UNIT = 16
QUOTA = 3
OFFICE = {"actor": "office-1", "roles": ["office"]}
DEEDS = "连续三年承担锅炉房改造任务，带领班组攻坚克难，节约成本十二万元，获得职工一致好评。" * 2


def submission(unit: str, i: int) -> dict[str, Any]:
    return {
        "actor": f"nominator-{unit}",
        "roles": ["nominator"],
        "actor_unit_code": unit,
        "nomination_id": str(uuid.uuid4()),
        "round_id": ROUND,
        "unit_code": unit,
        "employee_no": f"E{unit}{i}",
        "category": "striving",
        "deeds": DEEDS,
        "results": [],
        "evidence_links": [],
        "recommendation": "同意推荐",
    }


async def test_two_instances_submitting_to_one_round_keep_its_quota(
    settings: Settings, nc: Any
) -> None:
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    service_settings = settings.model_copy(update={"quota_per_unit_category": QUOTA})
    first = build_runtime(service_settings, clock=clock)
    await first.start()
    second = build_runtime(service_settings, clock=clock)
    await second.start()
    try:
        rpc = rpc_client(nc, timeout=20)
        directory = [
            {
                "employee_no": f"E{unit}{i}",
                "name": f"职工{unit}{i}",
                "unit_code": unit,
                "unit_name": f"单位{unit}",
                "position": "职工",
                "active": True,
            }
            for unit in UNITS
            for i in range(PER_UNIT)
        ]
        await rpc.command("nomination", "import_directory", {**OFFICE, "rows": directory})
        await rpc.command("nomination", "open_round", {**OFFICE, "round_id": ROUND})

        async def submit(payload: dict[str, Any]) -> str:
            try:
                await rpc.command("nomination", "submit", payload)
                return "ok"
            except RemoteError as exc:
                return exc.error.code

        # Every nominator of both units at once: the requests are spread over both instances
        # (one queue group), and all of them decide on the round's one stream.
        outcomes = await asyncio.gather(
            *(submit(submission(unit, i)) for i in range(PER_UNIT) for unit in UNITS)
        )
        assert Counter(outcomes) == {
            "ok": QUOTA * len(UNITS),
            "quota_exceeded": (PER_UNIT - QUOTA) * len(UNITS),
        }
        served = [sum(r.metrics.figures()["commands"].values()) for r in (first, second)]
        assert all(n > 0 for n in served), f"one instance served nothing: {served}"

        listed = await rpc.query("nomination", "nominations", {"round_id": ROUND})
        assert Counter(n["unit_code"] for n in listed) == dict.fromkeys(UNITS, QUOTA)
        conn = await asyncpg.connect(settings.database_url_for("nomination"))
        try:
            versions = await conn.fetch(
                "SELECT stream_id, array_agg(version ORDER BY position) AS versions "
                "FROM events GROUP BY stream_id"
            )
        finally:
            await conn.close()
        for row in versions:  # every stream's versions 1..n, in log order: no lost update
            assert list(row["versions"]) == list(range(1, len(row["versions"]) + 1))

        # Meanwhile the single-active work ran in one of the two instances each.
        roles = ("relay:nomination", "scheduler:close-due-rounds", "consumer:nomination-review")
        for role in roles:
            holders = await first.store.pool.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND (classid::bigint << 32 | objid::bigint) = $1",
                leader.lock_key(role),
            )
            assert holders == 1, role
    finally:
        await second.stop()
        await first.stop()
