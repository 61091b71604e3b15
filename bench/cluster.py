"""The cluster figure: end to end on three NATS nodes (streams with 3 replicas) with two
instances of each service, beside the single-node figure of the same run.

Same work as the `e2e` section (bench/ours.py `end_to_end`): NominationSubmitted events
appended to the nomination store → its relay → `FLOWERS` → review's `review-nomination`
consumer and `candidates`. Here two nomination runtimes and two review runtimes run
in-process on one database each (one relay and one consumer active, the others standing
by: shared/leader.py), on a fresh `deploy.embedded.NatsCluster` whose routes authenticate
and whose JetStream writes with `sync_interval: always` on every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bench import data
from bench.ours import (
    ProjectedHook,
    _check_candidates,
    append_round,
    end_to_end,
    fill_rounds,
    review_consumer,
)
from bench.stack import BenchStack
from bench.table import Measure, Row, percentile, progress
from deploy.embedded import NatsCluster
from deploy.nats_permissions import secrets_authorization
from services.nomination import app as nomination_app
from services.review import app as review_app
from shared.bus import ensure_streams, nats_auth, nats_servers
from shared.contracts.nomination import round_stream_id
from shared.service import ServiceRuntime

if TYPE_CHECKING:
    from bench.__main__ import Bench

INSTANCES = 2


@contextlib.asynccontextmanager
async def nats_cluster(stack: BenchStack) -> AsyncIterator[str]:
    """A fresh 3-node cluster with the streams (replicas 3); yields its URL list."""
    import nats

    directory = stack.data_dir / "nats-cluster"
    shutil.rmtree(directory, ignore_errors=True)
    stack.secrets.ensure()
    cluster = NatsCluster(
        directory,
        route_password=stack.secrets.nats_route_password(),
        authorization=secrets_authorization(stack.secrets.root),
    )
    await asyncio.to_thread(cluster.start)
    try:
        nc = await nats.connect(
            nats_servers(cluster.url), **nats_auth(stack.secrets.nats_seed("admin"), "admin")
        )
        try:
            settings = stack.settings(cluster.url, "bench_", stream_replicas=3)
            for attempt in range(60):  # a cluster that has just formed may not place R3 yet
                try:
                    await ensure_streams(nc.jetstream(), settings)
                    break
                except Exception:
                    if attempt == 59:
                        raise
                    await asyncio.sleep(0.5)
        finally:
            await nc.close()
        yield cluster.url
    finally:
        await asyncio.to_thread(cluster.stop)
        shutil.rmtree(directory, ignore_errors=True)


async def cluster_end_to_end(
    stack: BenchStack, nats_url: str, total: int, samples: int
) -> tuple[float, list[float]]:
    """`end_to_end` with INSTANCES runtimes of nomination and of review."""
    prefix = stack.new_prefix()
    settings = stack.settings(nats_url, prefix, stream_replicas=3)
    runtimes: list[ServiceRuntime] = []
    try:
        for build in (nomination_app.build_runtime, review_app.build_runtime):
            for _ in range(INSTANCES):
                runtime = build(settings)
                await runtime.start()
                runtimes.append(runtime)
        nomination, reviewers = runtimes[0], runtimes[INSTANCES:]
        hook = ProjectedHook(review_consumer(reviewers[0]))
        for other in reviewers[1:]:  # whichever instance leads the consumer
            review_consumer(other).on_committed = review_consumer(reviewers[0]).on_committed
        hook.expect(total)
        started = time.perf_counter()
        next_round = await fill_rounds(nomination, total, 0)
        await asyncio.wait_for(hook.reached.wait(), 600)
        rate = total / (max(hook.done.values()) - started)
        leading = [r for r in reviewers if review_consumer(r).stats.handled]
        await _check_candidates(leading[0], total - math.ceil(total / data.SLOTS_PER_ROUND))

        latencies: list[float] = []
        version = 0
        round_ = ""
        for i in range(samples):
            if i % (data.SLOTS_PER_ROUND - 1) == 0:  # a new round first (not timed)
                round_ = data.round_id(next_round)
                next_round += 1
                opened = await append_round(nomination, round_, [data.round_opened(round_)])
                await hook.waiter(opened[0].event_id)
                version = 1
            new = data.new_event(data.nomination_submitted(round_, version - 1))
            waiter = hook.waiter(new.event_id)
            started = time.perf_counter()
            # Appended by the other nomination instance: its relay may not be the active one.
            writer = runtimes[i % INSTANCES]
            async with writer.store.transaction() as conn:
                recorded = await writer.store.append(
                    round_stream_id(round_), [new], version, conn=conn
                )
                assert writer.own is not None
                await writer.own.project_recorded(conn, recorded)
            latencies.append(await asyncio.wait_for(waiter, 30) - started)
            version += 1
        return rate, latencies
    finally:
        for runtime in reversed(runtimes):
            await runtime.stop()
        await stack.drop_prefix(prefix)


async def cluster_section(b: Bench) -> None:
    """`make bench` section `cluster`: the cluster's figure (ours) beside one node's (peer
    column), both measured in this section, run after run."""
    section = "Cluster: end to end on 3 NATS nodes (R3, sync always), 2 instances of each service"
    sizes = b.sizes
    rate, p50, p99 = Measure("ev/s"), Measure("ms"), Measure("ms")
    one_rate, one_p50, one_p99 = Measure("ev/s"), Measure("ms"), Measure("ms")
    for run in b.runs():
        async with b.stack.nats(f"cluster-single-{run}") as url:
            r, lat = await end_to_end(b.stack, url, sizes.e2e_events, sizes.latency_samples)
        one_rate.add(r)
        one_p50.add(percentile(lat, 50) * 1000)
        one_p99.add(percentile(lat, 99) * 1000)
        async with nats_cluster(b.stack) as url:
            r, lat = await cluster_end_to_end(b.stack, url, sizes.e2e_events, sizes.latency_samples)
        rate.add(r)
        p50.add(percentile(lat, 50) * 1000)
        p99.add(percentile(lat, 99) * 1000)
        progress(
            f"cluster run {run}: {r:,.0f} ev/s, one event p50 {p50.runs[-1]:.1f} ms "
            f"(one node: {one_rate.runs[-1]:,.0f} ev/s, p50 {one_p50.runs[-1]:.1f} ms)"
        )
    label = "one node, one instance each (same run)"
    b.rows.append(
        Row(section, f"throughput ({sizes.e2e_events:,} events)", [rate], [one_rate], label)
    )
    b.rows.append(
        Row(section, "one event: latency p50 / p99", [p50, p99], [one_p50, one_p99], label)
    )
