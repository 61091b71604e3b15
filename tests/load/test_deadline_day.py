"""Deadline day, under load: 300 nominators submit and amend at once through the gateway's
API while panelists score and staff read. Bounded in count and time, in-process (no network
beyond loopback). It reports throughput and p50/p95/p99 per request type (printed and
written to test-artifacts/load/deadline-day.txt) and asserts no 5xx and no event lost or
duplicated. A report, not a speed assertion: the figures depend on the machine.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable
from datetime import datetime

import httpx
import pytest

from shared.clock import SHANGHAI
from shared.settings import PROJECT_ROOT, Settings
from tests.gateway.harness import DEEDS, Harness, running_gateway
from tests.support import eventually

pytestmark = pytest.mark.integration

UNITS = [f"U{u:02d}" for u in range(20)]
NOMINATORS_PER_UNIT = 15  # 20 units x 15 = 300 nominators, each nominating one employee
CATEGORIES = ["striving", "value_creation", "dedication", "reform", "hard_work"]
PAST_ROUND = "2026-Q3"
PANELISTS = (("general_office", "P1"), ("finance", "P2"), ("enterprise_management", "P3"))
READS_PER_STAFF = 10
STAFF = 30
CONCURRENCY = 300


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, list[int]] = defaultdict(list)
        self.errors: list[str] = []

    async def timed(self, kind: str, request: Awaitable[httpx.Response]) -> httpx.Response:
        started = time.perf_counter()
        response = await request
        self.latencies[kind].append(time.perf_counter() - started)
        self.statuses[kind].append(response.status_code)
        if response.status_code >= 400:
            self.errors.append(f"{kind} {response.status_code} {response.text[:200]}")
        return response

    def report(self, wall_s: float) -> str:
        lines = [
            f"deadline day: {sum(len(v) for v in self.latencies.values())} requests "
            f"in {wall_s:.1f} s",
            f"{'request':<16}{'count':>7}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
        ]
        for kind, values in sorted(self.latencies.items()):
            ms = sorted(v * 1000 for v in values)
            q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
            lines.append(
                f"{kind:<16}{len(ms):>7}{len(ms) / wall_s:>9.1f}"
                f"{q[49]:>9.1f}{q[94]:>9.1f}{q[98]:>9.1f}"
            )
        return "\n".join(lines)


async def prepare(h: Harness) -> tuple[list[str], list[str], list[str], list[str]]:
    """Directory, the past round ready to score, 300 nominator / 3 panelist / staff tokens."""
    office = {"actor": "load-office", "roles": ["office", "admin"]}
    rows = [
        {
            "unit_code": u,
            "unit_name": f"单位{u}",
            "employee_no": f"{u}-{i:03d}",
            "name": f"职工{u}{i}",
            "position": "职工",
        }
        for u in UNITS
        for i in range(NOMINATORS_PER_UNIT + 5)
    ]
    await h.rpc.command("nomination", "import_directory", {**office, "rows": rows})

    # The previous quarter, closed and accepted, for the panelists to score under load.
    now = h.clock.now()
    h.clock.set(datetime(2026, 8, 1, 9, tzinfo=SHANGHAI))
    await h.rpc.command("nomination", "open_round", {**office, "round_id": PAST_ROUND})
    past: list[str] = []
    for i, unit in enumerate(UNITS):
        nomination_id = str(uuid.uuid4())
        past.append(nomination_id)
        await h.rpc.command(
            "nomination",
            "submit",
            {
                "actor": "x",
                "roles": ["nominator"],
                "actor_unit_code": unit,
                "nomination_id": nomination_id,
                "round_id": PAST_ROUND,
                "unit_code": unit,
                "employee_no": f"{unit}-{NOMINATORS_PER_UNIT + 1:03d}",
                "category": CATEGORIES[i % 5],
                "deeds": DEEDS,
                "recommendation": "同意推荐",
            },
        )
    h.clock.set(datetime(2026, 9, 26, 9, tzinfo=SHANGHAI))
    await h.rpc.command("nomination", "close_round", {**office, "round_id": PAST_ROUND})

    async def arrived() -> bool:
        rows = await h.rpc.query("review", "candidates", {"round_id": PAST_ROUND})
        return len(rows) == len(past) and all(r["status"] == "closed" for r in rows)

    await eventually(arrived, timeout=60, what="review to receive the past round")
    review = {"round_id": PAST_ROUND, **office}
    for nomination_id in past:
        await h.rpc.command("review", "accept", {**review, "nomination_id": nomination_id})
    panel_tokens = []
    for department, employee_no in PANELISTS:
        user = await h.account(f"panel-{department}", {"panelist"}, department=department)
        await h.rpc.command(
            "review",
            "assign_panelist",
            {
                **review,
                "panelist_id": str(user.user_id),
                "employee_no": employee_no,
                "name": department,
                "department": department,
            },
        )
        panel_tokens.append(await h.token(f"panel-{department}"))
    h.clock.set(now)

    nominator_tokens = []
    for unit in UNITS:
        for k in range(NOMINATORS_PER_UNIT):
            name = f"nom-{unit}-{k}"
            await h.account(name, {"nominator"}, unit_code=unit)
            nominator_tokens.append(await h.token(name))
    staff_tokens = []
    for s in range(STAFF):
        await h.account(f"staff-{s}", {"staff"})
        staff_tokens.append(await h.token(f"staff-{s}"))
    return nominator_tokens, panel_tokens, staff_tokens, past


async def test_deadline_day_under_load_loses_nothing_and_never_fails(settings: Settings) -> None:
    # Everything here shares one process and one core (gateway, four services, the load):
    # the worst case. The gateway waits up to 30 s, as a deadline-day deployment would be
    # configured; the latencies it took are what the report shows.
    settings = settings.model_copy(update={"quota_per_unit_category": 3, "request_timeout_s": 30.0})
    async with running_gateway(settings) as h:
        nominators, panel, staff, past = await prepare(h)
        recorder = Recorder()
        gate = asyncio.Semaphore(CONCURRENCY)
        client = h.client()

        def auth(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        async def nominator(n: int, token: str) -> None:
            unit, k = UNITS[n // NOMINATORS_PER_UNIT], n % NOMINATORS_PER_UNIT
            body = {
                "round_id": "2026-Q4",
                "employee_no": f"{unit}-{k:03d}",
                "category": CATEGORIES[k % 5],
                "deeds": DEEDS,
                "results": [{"metric": "节约成本", "value": str(1000 + n), "unit": "元"}],
                "evidence_links": [],
                "recommendation": "经单位研究，同意推荐。",
            }
            async with gate:
                submitted = await recorder.timed(
                    "submit",
                    client.post("/api/v1/nominations", json=body, headers=auth(token)),
                )
            if submitted.status_code != 201:
                return
            nomination_id = submitted.json()["nomination_id"]
            amended = {k: v for k, v in body.items() if k not in ("round_id", "employee_no")}
            amended["recommendation"] = "经单位党政联席会研究，一致同意推荐。"
            async with gate:
                await recorder.timed(
                    "amend",
                    client.put(
                        f"/api/v1/nominations/{nomination_id}", json=amended, headers=auth(token)
                    ),
                )

        async def panelist(p: int, token: str) -> None:
            for i, nomination_id in enumerate(past):
                value = str(70 + (p * 7 + i * 3) % 30)
                criteria = {
                    c: value
                    for c in ("achievements", "exemplary_role", "innovation", "recognition")
                }
                async with gate:
                    await recorder.timed(
                        "score",
                        client.put(
                            f"/api/v1/review/rounds/{PAST_ROUND}/nominations/{nomination_id}/score",
                            json={"criteria": criteria},
                            headers=auth(token),
                        ),
                    )

        async def reader(token: str) -> None:
            for r in range(READS_PER_STAFF):
                path = "/api/v1/rounds" if r % 2 else f"/api/v1/review/rounds/{PAST_ROUND}/notices"
                async with gate:
                    await recorder.timed("read", client.get(path, headers=auth(token)))

        started = time.perf_counter()
        await asyncio.gather(
            *(nominator(n, t) for n, t in enumerate(nominators)),
            *(panelist(p, t) for p, t in enumerate(panel)),
            *(reader(t) for t in staff),
        )
        wall = time.perf_counter() - started
        report = recorder.report(wall)
        print("\n" + report)
        artefact = PROJECT_ROOT / "test-artifacts" / "load" / "deadline-day.txt"
        artefact.parent.mkdir(parents=True, exist_ok=True)
        artefact.write_text(report + "\n", encoding="utf-8")

        assert not any(s >= 500 for v in recorder.statuses.values() for s in v), recorder.errors
        assert recorder.errors == []
        assert len(recorder.statuses["submit"]) == 300
        assert len(recorder.statuses["amend"]) == 300
        assert len(recorder.statuses["score"]) == len(past) * len(panel)

        # Nothing lost, nothing twice: in the log, in the projections, downstream.
        store = h.nomination.store
        counts = dict(
            await store.pool.fetch(
                "SELECT type, count(*) FROM events WHERE stream_id = 'round-2026-Q4' GROUP BY type"
            )
        )
        assert counts == {"RoundOpened": 1, "NominationSubmitted": 300, "NominationAmended": 300}
        listed = await h.rpc.query(
            "nomination", "nominations", {"round_id": "2026-Q4", "limit": 1000}
        )
        assert len(listed) == 300
        assert all(n["recommendation"].startswith("经单位党政联席会") for n in listed)
        assert len({(n["unit_code"], n["employee_no"]) for n in listed}) == 300

        async def reviewed() -> bool:
            rows = await h.rpc.query("review", "candidates", {"round_id": "2026-Q4"})
            return len(rows) == 300 and all(
                r["recommendation"].startswith("经单位党政联席会") for r in rows
            )

        await eventually(reviewed, timeout=60, what="review's candidates to match")
        assert h.review is not None
        scores = await h.review.store.pool.fetchval(
            "SELECT count(*) FROM events WHERE type = 'ScoreSubmitted'"
        )
        assert scores == len(past) * len(panel)
        await client.aclose()
