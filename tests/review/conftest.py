"""The review service with the nomination service beside it, in-process, on real servers.

Nominations reach the review the way they do in production: appended to the nomination
service's store (with its own projection, in one transaction), relayed to NATS, consumed by
`review-nomination`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from nats.js import JetStreamContext

from services.nomination.app import build_runtime as build_nomination
from services.review.app import build_runtime as build_review
from shared.clock import SHANGHAI, FixedClock
from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import (
    DIRECTORY_STREAM,
    MeasurableResult,
    NominationEvent,
    NominationsClosed,
    NominationSubmitted,
    round_stream_id,
)
from shared.events import EventMetadata, NewEvent, RecordedEvent
from shared.eventstore import AppendRequest
from shared.rpc import RpcClient
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support import eventually, rpc_client

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI)  # a working day; 2026 is a known year
DEEDS = "带领班组攻坚克难，全年节约成本十二万元，职工群众一致好评。" * 3


@dataclass
class Stack:
    nomination: ServiceRuntime
    review: ServiceRuntime
    rpc: RpcClient
    clock: FixedClock
    js: JetStreamContext  # the tests' own reads of the streams (as the NATS admin)

    async def command(self, command: str, /, **payload: Any) -> Any:
        return await self.rpc.command("review", command, payload)

    async def query(self, query: str, /, **payload: Any) -> Any:
        return await self.rpc.query("review", query, payload)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


@pytest.fixture
def review_settings(settings: Settings) -> Settings:
    """The settings both services run with (a module overrides this to change a policy)."""
    return settings


@pytest.fixture
async def stack(review_settings: Settings, clock: FixedClock, nc: Any) -> AsyncIterator[Stack]:
    nomination = build_nomination(review_settings)
    review = build_review(review_settings, clock=clock)
    await nomination.start()
    await review.start()
    try:
        yield Stack(nomination, review, rpc_client(nc), clock, nc.jetstream())
    finally:
        await review.stop()
        await nomination.stop()


def submitted(
    round_id: str,
    category: Category,
    employee_no: str,
    unit_code: str,
    *,
    nomination_id: uuid.UUID | None = None,
    submitted_by: str | None = None,
    at: datetime | None = None,
) -> NominationSubmitted:
    return NominationSubmitted(
        nomination_id=nomination_id or uuid.uuid4(),
        round_id=round_id,
        category=category,
        nominee=NomineeSnapshot(
            employee_no=employee_no,
            name=f"员工{employee_no}",
            unit_code=unit_code,
            unit_name=f"单位{unit_code}",
            position="班组长",
        ),
        deeds=DEEDS,
        results=(MeasurableResult(metric="节约成本", value=Decimal("120000.50"), unit="元"),),
        evidence_links=("https://example.com/evidence",),
        recommendation="同意推荐",
        submitted_by=submitted_by or f"nominator-{unit_code}",
        submitted_at=at or datetime.now(UTC),
    )


def stream_of(event: NominationEvent) -> str:
    """Where the nomination service keeps an event: its round's stream, or the directory."""
    round_id: str | None = getattr(event, "round_id", None)
    return round_stream_id(round_id) if round_id else DIRECTORY_STREAM


async def append_nominations(
    nomination: ServiceRuntime, events: Sequence[NominationEvent]
) -> list[RecordedEvent]:
    """Append to each event's stream in the nomination store, projected in one transaction."""
    meta = EventMetadata(actor="nominator", correlation_id="test")
    requests = [AppendRequest(stream_of(e), [NewEvent.of(e, meta)]) for e in events]
    async with nomination.store.transaction() as conn:
        recorded = await nomination.store.append_batch(requests, conn=conn)
        assert nomination.own is not None
        await nomination.own.project_recorded(conn, recorded)
    return recorded


async def close_nominations(stack: Stack, round_id: str) -> None:
    """The nomination service closes the round (the review decides nothing before), and the
    review hears of it."""
    now = stack.clock.now()
    closing = NominationsClosed(
        round_id=round_id,
        closed_at=now,
        how="early",
        closed_by="office-1",
        deadline=now,
        nominations=(),
    )
    await append_nominations(stack.nomination, [closing])

    async def closed() -> bool:
        candidates = await stack.query("candidates", round_id=round_id)
        return all(c["status"] != "submitted" for c in candidates)

    await eventually(closed, timeout=15, what="the review to hear the round closed")
