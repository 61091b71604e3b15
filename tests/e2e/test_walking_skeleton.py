"""One event really flows: nomination's log → relay → NATS → review's projection."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.nomination.app import build_runtime as build_nomination
from services.review.app import build_runtime as build_review
from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import NominationSubmitted
from shared.events import EventMetadata, NewEvent
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[tuple[ServiceRuntime, ServiceRuntime]]:
    nomination, review = build_nomination(settings), build_review(settings)
    await nomination.start()
    await review.start()
    try:
        yield nomination, review
    finally:
        await review.stop()
        await nomination.stop()


def submitted(n: int) -> NominationSubmitted:
    return NominationSubmitted(
        nomination_id=uuid.uuid4(),
        round_id="2026-Q4",
        category=Category.STRIVING,
        nominee=NomineeSnapshot(
            employee_no=f"E{n:04d}",
            name="张伟",
            unit_code="PS",
            unit_name="物业服务中心",
            position="维修工",
        ),
        deeds="带领班组连续三个月零投诉，" * 5,
        results=(),
        evidence_links=(),
        recommendation="同意推荐",
        submitted_by="nominator-ps",
        submitted_at=datetime.now(UTC),
    )


async def test_a_submitted_nomination_reaches_reviews_projection(
    services: tuple[ServiceRuntime, ServiceRuntime],
) -> None:
    nomination, review = services
    events = [submitted(n) for n in range(3)]
    for event in events:
        await nomination.store.append(
            f"round-2026-Q4-{event.nomination_id}",
            [NewEvent.of(event, EventMetadata(actor="nominator-ps", correlation_id="c-1"))],
        )
    assert review.pool is not None
    pool = review.pool

    async def projected() -> bool:
        return await pool.fetchval("SELECT count(*) FROM candidates") == 3

    await eventually(projected, timeout=15, what="review's candidates projection")
    rows = await pool.fetch("SELECT nomination_id, name, status FROM candidates")
    assert {r["nomination_id"] for r in rows} == {e.nomination_id for e in events}
    assert {r["name"] for r in rows} == {"张伟"}


async def test_every_service_answers_its_health_request(
    services: tuple[ServiceRuntime, ServiceRuntime], nc: Any
) -> None:
    rpc = rpc_client(nc)
    for service in ("nomination", "review"):
        health = await rpc.query(service, "health", {})
        assert health["service"] == service
        assert health["status"] == "ok"
    assert "review-nomination" in (await rpc.query("review", "health", {}))["consumers"]
