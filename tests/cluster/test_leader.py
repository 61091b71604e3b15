"""One active instance per role (shared/leader.py) on a real PostgreSQL: the lock's holder
works, the others wait; when the holder's connection ends, another takes over."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from shared import leader
from shared.postgres import create_pool
from tests.support import eventually

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


class Instance:
    """A stand-in for one process of a service: it records when it works."""

    def __init__(self, name: str, log: list[str], active: set[str]) -> None:
        self.name, self.log, self.active = name, log, active
        self.stopping = asyncio.Event()
        self.overlaps = 0  # times it began while another instance was still working

    async def work(self, resign: asyncio.Event) -> None:
        self.overlaps += bool(self.active)
        self.active.add(self.name)
        self.log.append(self.name)
        try:
            await resign.wait()
        finally:
            self.active.discard(self.name)


async def holder_backend(pool: asyncpg.Pool, name: str) -> int | None:
    pid: int | None = await pool.fetchval(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND (classid::bigint << 32 | objid::bigint) = $1",
        leader.lock_key(name),
    )
    return pid


async def test_another_instance_takes_over_when_the_leaders_connection_dies(
    pool: asyncpg.Pool, db_url: str
) -> None:
    log: list[str] = []
    active: set[str] = set()
    a, b = Instance("a", log, active), Instance("b", log, active)
    pool_a = await create_pool(db_url)  # a's own process: its own connections
    run_a = asyncio.create_task(leader.lead(pool_a, "relay:test", a.work, a.stopping))
    await eventually(lambda: log == ["a"], what="a to lead")
    run_b = asyncio.create_task(leader.lead(pool, "relay:test", b.work, b.stopping, retry_s=0.1))
    try:
        backend = await holder_backend(pool, "relay:test")
        assert backend is not None
        # a's process dies: its tasks never run again and PostgreSQL ends its sessions.
        run_a.cancel()
        pool_a.terminate()
        await eventually(lambda: log == ["a", "b"] and active == {"b"}, what="b to take over")
        assert await holder_backend(pool, "relay:test") not in (None, backend)
    finally:
        b.stopping.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(run_b, 10)
        with contextlib.suppress(BaseException):
            await run_a


async def test_a_leader_whose_session_is_ended_stops_its_work(pool: asyncpg.Pool) -> None:
    log: list[str] = []
    active: set[str] = set()
    a = Instance("a", log, active)
    run_a = asyncio.create_task(leader.lead(pool, "feed:test", a.work, a.stopping, retry_s=0.1))
    try:
        await eventually(lambda: log == ["a"], what="a to lead")
        backend = await holder_backend(pool, "feed:test")
        await pool.execute("SELECT pg_terminate_backend($1)", backend)
        # Its lock went with the session: it resigns, and leads again on a new connection.
        await eventually(lambda: log == ["a", "a"], what="a to lead again")
        assert await holder_backend(pool, "feed:test") not in (None, backend)
    finally:
        a.stopping.set()
        await asyncio.wait_for(run_a, 10)
    assert not active


async def test_a_stopping_leader_hands_over_at_once(pool: asyncpg.Pool) -> None:
    log: list[str] = []
    active: set[str] = set()
    a, b = Instance("a", log, active), Instance("b", log, active)
    run_a = asyncio.create_task(leader.lead(pool, "scheduler:test", a.work, a.stopping))
    await eventually(lambda: log == ["a"], what="a to lead")
    run_b = asyncio.create_task(
        leader.lead(pool, "scheduler:test", b.work, b.stopping, retry_s=0.1)
    )
    a.stopping.set()
    await asyncio.wait_for(run_a, 10)
    await eventually(lambda: log == ["a", "b"], what="b to take over")
    b.stopping.set()
    await asyncio.wait_for(run_b, 10)
    # The lock is released only once the leader's work has stopped: never two at once.
    assert a.overlaps == b.overlaps == 0
