"""The checks every fault test ends with: nothing lost, nothing twice, the audit passes."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

import asyncpg

from shared import audit
from shared.bus import PAYROLL_STREAM
from shared.keystore import keys_installed
from shared.settings import PROJECT_ROOT, SERVICES
from tests.faults.harness import POLL_S, STEP_S, Cluster, Round
from tests.support import eventually


async def type_counts(cluster: Cluster, service: str) -> Counter[str]:
    conn = await asyncpg.connect(cluster.settings.database_url_for(service))
    try:
        rows = await conn.fetch("SELECT type, count(*) AS n FROM events GROUP BY type")
    finally:
        await conn.close()
    return Counter({r["type"]: r["n"] for r in rows})


async def relays_caught_up(cluster: Cluster) -> None:
    async def caught_up() -> bool:
        for service in SERVICES:
            health = await cluster.rpc.query(service, "health", {}, timeout=2)
            if health["relay_lag"]:
                return False
        return True

    await eventually(caught_up, what="every relay to catch up", timeout=STEP_S, interval=POLL_S)


async def assert_round_complete_and_exactly_once(cluster: Cluster, round_: Round) -> None:
    await round_.wait_paid()
    await round_.wait_drafted()
    await relays_caught_up(cluster)
    winners = len(round_.nominations)

    nomination = await type_counts(cluster, "nomination")
    assert nomination["NominationSubmitted"] == winners
    assert nomination["NominationsClosed"] == 1
    review = await type_counts(cluster, "review")
    assert review["NominationAccepted"] == winners
    assert review["ScoreSubmitted"] == 3 * winners
    assert review["ResultPublished"] == 1
    rewards = await type_counts(cluster, "rewards")
    assert rewards["AwardGranted"] == winners
    assert rewards["PayrollAdjustmentIssued"] == winners
    publicity = await type_counts(cluster, "publicity")
    assert publicity["MaterialsDrafted"] == 1

    conn = await asyncpg.connect(cluster.settings.database_url_for("rewards"))
    try:
        per_award = await conn.fetch(
            "SELECT stream_id, count(*) FILTER (WHERE type = 'AwardGranted') AS awards, "
            "count(*) FILTER (WHERE type = 'PayrollAdjustmentIssued') AS adjustments "
            "FROM events WHERE stream_id LIKE 'award-%' GROUP BY stream_id"
        )
    finally:
        await conn.close()
    assert len(per_award) == winners
    assert all(r["awards"] == 1 and r["adjustments"] == 1 for r in per_award)

    assert cluster.nc is not None
    js = cluster.nc.jetstream()

    async def payroll_complete() -> bool:
        return (await js.stream_info(PAYROLL_STREAM)).state.messages == winners

    await eventually(
        payroll_complete,
        what="the PAYROLL stream to hold every adjustment",
        timeout=STEP_S,
        interval=POLL_S,
    )
    info = await js.stream_info(PAYROLL_STREAM, subjects_filter="flowers.payroll.adjustment.*")
    assert len(info.state.subjects or {}) == winners

    urls = {s: cluster.settings.database_url_for(s, login="auditor") for s in SERVICES}
    async with keys_installed(cluster.settings):  # the logs' personal values open (auditor)
        report = await audit.verify(urls, js)
    assert report.ok, audit.render(report)

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "deploy.cli",
        "audit",
        "verify",
        env=cluster.env(),
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, out.decode() + err.decode()
