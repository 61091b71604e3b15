"""Fault tests: real processes killed and servers stopped in the middle of a 200-winner round.

Each test ends with the same checks (tests/faults/checks.py): every expected event once in
each store and in FLOWERS, every award with exactly one payroll adjustment (also in the
PAYROLL stream), and `flowers audit verify` passing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.checks import assert_round_complete_and_exactly_once
from tests.faults.harness import Cluster, Round

pytestmark = pytest.mark.integration

OUTAGE_S = 10.0  # how long NATS stays down: the fault itself, not a wait for a condition


@pytest.fixture
async def cluster(session_dir: Path) -> AsyncIterator[Cluster]:
    cluster = Cluster(session_dir / f"faults-{uuid.uuid4().hex[:8]}")
    await cluster.start()
    try:
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        await cluster.stop()


@pytest.mark.parametrize("victim", ["nomination", "review", "rewards", "publicity"])
async def test_a_service_killed_mid_round_loses_nothing_and_doubles_nothing(
    cluster: Cluster, victim: str
) -> None:
    round_ = Round(cluster)
    await round_.open()
    await round_.submit(0, 100)
    if victim == "nomination":  # killed between two submissions; nominators retry
        cluster.kill("nomination")
        await cluster.restart("nomination")
    await round_.submit(100)
    await round_.close()
    if victim == "review":  # killed while it takes in the 200 nominations
        cluster.kill("review")
        await cluster.restart("review")
    await round_.wait_candidates()
    await round_.review()
    await round_.decide_and_publish()
    if victim in ("rewards", "publicity"):  # killed while it handles the published result
        cluster.kill(victim)
        await cluster.restart(victim)
    await assert_round_complete_and_exactly_once(cluster, round_)


async def test_nats_stopped_mid_stream_then_started_again(cluster: Cluster) -> None:
    round_ = Round(cluster)
    await round_.open()
    await round_.submit()
    await round_.close()
    cluster.nats_server.stop()  # while review takes in the closed round
    await asyncio.sleep(OUTAGE_S)
    cluster.nats_server.start()
    await round_.wait_candidates()
    await round_.review()
    await round_.decide_and_publish()
    await assert_round_complete_and_exactly_once(cluster, round_)


async def test_postgresql_stopped_and_restarted_mid_stream(cluster: Cluster) -> None:
    round_ = Round(cluster)
    await round_.open()
    await round_.submit()
    await round_.close()
    cluster.pg.stop()  # every service loses its database while events are in flight
    cluster.pg.start()
    await round_.wait_candidates()
    await round_.review()
    await round_.decide_and_publish()
    await assert_round_complete_and_exactly_once(cluster, round_)
