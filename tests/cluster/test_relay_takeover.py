"""The active relay's process is killed (-9): the other instance's relay takes over within
10 s, and FLOWERS holds every event of the log exactly once (the duplicate window drops
what the new relay publishes again), nothing skipped."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared import audit
from shared.bus import EVENTS_STREAM
from shared.keystore import keys_installed
from shared.settings import SERVICES
from tests.cluster.harness import LoopbackCluster
from tests.faults.harness import POLL_S, STEP_S, Round
from tests.support import eventually

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

TAKEOVER_S = 10.0  # the bound for another instance to take over


@pytest.fixture
async def cluster(session_dir: Path) -> AsyncIterator[LoopbackCluster]:
    cluster = LoopbackCluster(
        session_dir / f"cluster-{uuid.uuid4().hex[:8]}", services=("nomination",)
    )
    await cluster.start()
    try:
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        await cluster.stop()


async def relayed_ids(cluster: LoopbackCluster) -> list[str]:
    """The Nats-Msg-Id of every message nomination's relay put into FLOWERS, in order."""
    assert cluster.nc is not None
    js = cluster.nc.jetstream()
    sub = await js.subscribe(
        "flowers.evt.nomination.>", stream=EVENTS_STREAM, ordered_consumer=True
    )
    pending = (await js.stream_info(EVENTS_STREAM)).state.messages
    ids: list[str] = []
    try:
        while len(ids) < pending:
            try:
                msg = await sub.next_msg(timeout=5)
            except TimeoutError:
                break
            ids.append((msg.headers or {})["Nats-Msg-Id"])
    finally:
        await sub.unsubscribe()
    return ids


async def test_the_active_relay_killed_the_other_takes_over_and_nothing_doubles(
    cluster: LoopbackCluster,
) -> None:
    round_ = Round(cluster)
    await round_.open()
    first = await cluster.leader_of("nomination", "relay:nomination")
    assert first is not None, "no relay leads"
    assert cluster.nc is not None
    js = cluster.nc.jetstream()
    before = (await js.stream_info(EVENTS_STREAM)).state.messages
    # Nominators submit (spread over both instances) while the active relay publishes...
    submitting = asyncio.create_task(round_.submit())

    async def relaying() -> bool:
        return (await js.stream_info(EVENTS_STREAM)).state.messages >= before + 50

    await eventually(
        relaying, what="the relay to publish the first submissions", timeout=STEP_S, interval=POLL_S
    )
    cluster.kill(first)  # ...and it is killed mid-stream (maybe between publish and checkpoint)
    killed_at = time.monotonic()

    async def taken_over() -> bool:
        holder = await cluster.leader_of("nomination", "relay:nomination")
        return holder is not None and holder != first

    await eventually(
        taken_over, what="the other relay to take over", timeout=TAKEOVER_S, interval=POLL_S
    )
    print(f"relay take-over after {time.monotonic() - killed_at:.2f} s")
    await submitting  # a submission cut off with its process is retried (same id: once)
    await round_.close()

    conn = await asyncpg.connect(cluster.settings.database_url_for("nomination"))
    try:
        logged = [
            str(r["event_id"])
            for r in await conn.fetch("SELECT event_id FROM events ORDER BY position")
        ]
    finally:
        await conn.close()

    async def all_relayed() -> bool:
        health = await cluster.rpc.query("nomination", "health", {}, timeout=2)
        return health["relay_lag"] == 0

    await eventually(all_relayed, what="the relay to catch up", timeout=STEP_S, interval=POLL_S)
    ids = await relayed_ids(cluster)
    assert ids == logged  # each once, in log order, nothing skipped

    assert cluster.nc is not None
    urls = {s: cluster.settings.database_url_for(s, login="auditor") for s in SERVICES}
    async with keys_installed(cluster.settings):  # the logs' personal values open (auditor)
        report = await audit.verify(urls, cluster.nc.jetstream())
    assert report.ok, audit.render(report)
