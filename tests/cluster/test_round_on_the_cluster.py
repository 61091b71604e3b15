"""A whole round on the loopback cluster (three NATS nodes, two processes of every service):
a NATS node stopped while review takes in the round and started again, and the instances
doing the work killed (-9) — review's consumer while it takes in the nominations, rewards'
consumer while it pays the winners. Every award and payroll adjustment exactly once (also
in PAYROLL), every projection equal to its rebuild, `flowers audit verify` passing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cluster.harness import LoopbackCluster
from tests.faults.checks import assert_round_complete_and_exactly_once
from tests.faults.harness import POLL_S, Round
from tests.support import eventually

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


@pytest.fixture
async def cluster(session_dir: Path) -> AsyncIterator[LoopbackCluster]:
    cluster = LoopbackCluster(session_dir / f"cluster-{uuid.uuid4().hex[:8]}")
    await cluster.start()
    try:
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        await cluster.stop()


async def kill_the_worker(cluster: LoopbackCluster, service: str, role: str) -> str:
    """SIGKILL the process leading `role`; wait until the other instance leads it."""
    victim = await cluster.leader_of(service, role)
    assert victim is not None, f"no instance of {service} leads {role}"
    cluster.kill(victim)
    killed_at = time.monotonic()

    async def taken_over() -> bool:
        holder = await cluster.leader_of(service, role)
        return holder is not None and holder != victim

    await eventually(
        taken_over, what=f"another instance to lead {role}", timeout=10, interval=POLL_S
    )
    print(f"{role}: {victim} killed, taken over after {time.monotonic() - killed_at:.2f} s")
    return victim


async def test_a_round_survives_a_lost_nats_node_and_killed_instances(
    cluster: LoopbackCluster,
) -> None:
    round_ = Round(cluster)
    await round_.open()
    await round_.submit()
    await round_.close()
    # While review takes in the 200 closed nominations: one NATS node goes away...
    node = cluster.nats_cluster.nodes[0]
    node.stop()
    # ...and the review instance consuming them is killed.
    victim = await kill_the_worker(cluster, "review", "consumer:review-nomination")
    await round_.wait_candidates()
    node.start()
    await asyncio.to_thread(cluster.nats_cluster.wait_formed)
    await cluster.restart_instance(victim)
    await round_.review()
    await round_.decide_and_publish()
    # While rewards pays the 200 winners, the rewards instance doing it is killed.
    await kill_the_worker(cluster, "rewards", "consumer:rewards-review")
    await assert_round_complete_and_exactly_once(cluster, round_)
