"""The nomination and review services running in-process over real servers, for the audit
tests: a directory imported, a round opened, and a way to wait until everything settled."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from services.nomination.app import build_runtime as build_nomination
from services.review.app import build_runtime as build_review
from shared.clock import SHANGHAI, FixedClock
from shared.postgres import create_pool
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
    logins: dict[tuple[str, str], asyncpg.Pool] = field(default_factory=dict)

    async def pool_as(self, service: str, login: str) -> asyncpg.Pool:
        """A pool on `service`'s database as another role: the audit's rebuild takes the
        owner's (`<service>_owner`), its checks the auditor's; closed with the services."""
        if (service, login) not in self.logins:
            url = self.settings.database_url_for(service, login=login)
            self.logins[service, login] = await create_pool(url, max_size=4)
        return self.logins[service, login]

    def urls(self) -> dict[str, str]:
        return {
            s: self.settings.database_url_for(s, login="auditor") for s in ("nomination", "review")
        }

    @contextlib.asynccontextmanager
    async def as_owner(self, service: str) -> AsyncIterator[asyncpg.Connection]:
        """A connection as the database's owner: a service's own role cannot change its log,
        so tampering takes the owner's login (or the superuser's)."""
        url = self.settings.database_url_for(service, login=f"{service}_owner")
        conn: asyncpg.Connection = await asyncpg.connect(url)
        for pg_type in ("json", "jsonb"):  # as the store's connections read them
            await conn.set_type_codec(
                pg_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
            )
        try:
            yield conn
        finally:
            await conn.close()

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
        system = System(nomination, review, rpc, nc.jetstream(), settings)
        try:
            yield system
        finally:
            for pool in system.logins.values():
                await pool.close()
    finally:
        await nc.close()
        await review.stop()
        await nomination.stop()
