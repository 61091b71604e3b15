"""The nomination and review services running in-process over real servers, for the audit
tests: a directory imported, a round opened, and a way to wait until everything settled."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from services.nomination.app import build_runtime as build_nomination
from services.review.app import build_runtime as build_review
from shared.clock import SHANGHAI, FixedClock
from shared.rpc import RpcClient
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support import admin_connect, eventually, rpc_client

ROUND = "2026-Q4"
OFFICE = {"actor": "office-1", "roles": ["office", "admin"]}


@dataclass
class System:
    nomination: ServiceRuntime
    review: ServiceRuntime
    rpc: RpcClient
    js: JetStreamContext
    settings: Settings

    def urls(self) -> dict[str, str]:
        return {s: self.settings.database_url_for(s) for s in ("nomination", "review")}

    def pools(self) -> dict[str, asyncpg.Pool]:
        return {"nomination": self.nomination.store.pool, "review": self.review.store.pool}

    async def settled(self) -> None:
        """Both relays caught up and review's consumer has handled every nomination event."""

        async def done() -> bool:
            # The consumer first: what it appends is then awaited from review's relay.
            handled = await self.review.store.pool.fetchval(
                "SELECT count(*) FROM inbox WHERE consumer = 'review-nomination'"
            )
            if handled != await self.nomination.store.head():
                return False
            for runtime in (self.nomination, self.review):
                assert runtime.relay is not None
                if await runtime.relay.checkpoint() != await runtime.store.head():
                    return False
            return True

        await eventually(done, timeout=15, what="relays and review's consumer to catch up")


@contextlib.asynccontextmanager
async def two_services(
    settings: Settings, directory: list[dict[str, Any]]
) -> AsyncIterator[System]:
    """Both services started, `directory` imported and round ROUND open; stopped after."""
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    nomination, review = build_nomination(settings, clock=clock), build_review(settings)
    await nomination.start()
    await review.start()
    nc = await admin_connect(settings.nats_url)  # the tests' hands (the auditor's reads too)
    try:
        rpc = rpc_client(nc)
        await rpc.command("nomination", "import_directory", {**OFFICE, "rows": directory})
        await rpc.command("nomination", "open_round", {**OFFICE, "round_id": ROUND})
        yield System(nomination, review, rpc, nc.jetstream(), settings)
    finally:
        await nc.close()
        await review.stop()
        await nomination.stop()
