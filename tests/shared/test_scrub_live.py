"""A scrub re-derives a running service's projections in place (shared/scrub.py): while
nominations are submitted and review's consumer records them, repeated scrubs of both
services lose nothing and add nothing — afterwards every projection equals its rebuild."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NatsClient

from services.nomination.app import build_runtime as build_nomination
from services.review.app import build_runtime as build_review
from shared import audit, scrub
from shared.projection import declared
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.nomination.test_service import DIRECTORY, OFFICE, submission
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

CATEGORIES = ("striving", "dedication", "reform")


async def relayed(runtime: ServiceRuntime) -> bool:
    assert runtime.relay is not None
    return await runtime.relay.checkpoint() == await runtime.store.head()


async def test_scrubs_while_the_services_work_keep_every_projection_equal_to_its_rebuild(
    settings: Settings, nc: NatsClient
) -> None:
    nomination, review = build_nomination(settings), build_review(settings)
    await nomination.start()
    await review.start()
    try:
        rpc = rpc_client(nc)
        await rpc.command("nomination", "import_directory", {**OFFICE, "rows": DIRECTORY})
        await rpc.command("nomination", "open_round", {**OFFICE, "round_id": "2026-Q4"})
        wanted = [  # one flower per nominee: a unit's quota is one per flower
            submission(str(d["unit_code"]), str(d["employee_no"]), CATEGORIES[i % 3])
            for i, d in enumerate(DIRECTORY)
        ]

        async def submit_all() -> None:
            for cmd in wanted:
                await rpc.command("nomination", "submit", cmd)

        scrubs: list[scrub.ScrubReport] = []
        submitted = asyncio.Event()

        async def submit_everything() -> None:
            await submit_all()
            submitted.set()

        async def scrub_repeatedly(runtime: ServiceRuntime) -> None:
            for _ in range(4):
                since = await runtime.store.head()
                async with runtime.store.pool.acquire() as conn, conn.transaction():
                    scrubs.append(await scrub.rederive(conn, declared(runtime.service), runtime.js))

                async def moved_on(since: int = since) -> bool:  # the next scrub: between appends
                    return submitted.is_set() or await runtime.store.head() > since

                await eventually(moved_on, timeout=20, what=f"{runtime.service} to append more")

        await asyncio.gather(
            submit_everything(), scrub_repeatedly(nomination), scrub_repeatedly(review)
        )
        assert len(scrubs) == 8

        async def recorded() -> bool:
            rows = await rpc.query("review", "candidates", {"round_id": "2026-Q4"})
            return len(rows) == len(wanted)

        await eventually(recorded, timeout=20, what="review to record every nomination")
        for runtime in (nomination, review):
            await eventually(lambda r=runtime: relayed(r), what=f"{runtime.service}'s relay")
        # One more scrub of each now that all is quiet, then the audit's comparison.
        for runtime in (nomination, review):
            async with runtime.store.pool.acquire() as conn, conn.transaction():
                last = await scrub.rederive(conn, declared(runtime.service), runtime.js)
            assert last.rows  # every table named, with its row count
        urls = {s: settings.database_url_for(s, login="auditor") for s in ("nomination", "review")}
        report = await audit.verify(urls, nc.jetstream())
        assert report.ok, audit.render(report)
        nominations = await nomination.store.pool.fetchval("SELECT count(*) FROM nominations")
        assert nominations == len(wanted)
    finally:
        await review.stop()
        await nomination.stop()
