"""The daily rules on the service's clock: quota reminders 3 and 1 working days before the
deadline to units with nomination places left, the panelists' digest until done; each tick
idempotent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from services.notification import handlers
from services.notification.app import build_runtime
from services.notification.daily import DailyTick
from shared import audit_projections
from shared.clock import SHANGHAI, FixedClock
from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import NominationSubmitted, RoundOpened, UnitRegistered
from shared.contracts.review import (
    Candidate,
    CandidateRecorded,
    NominationAccepted,
    PanelistAssigned,
    ScoreSubmitted,
)
from shared.events import DomainEvent
from shared.postgres import create_pool
from shared.projection import declared
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.notification.test_service import ROUND, publish, seen
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

DEADLINE = datetime(2026, 12, 25, 23, 59, 59, tzinfo=SHANGHAI)  # a Friday
TUESDAY_8 = datetime(2026, 12, 22, 8, 0, tzinfo=SHANGHAI)
N1 = uuid.UUID(int=11)
ZHANG = NomineeSnapshot(
    employee_no="E001", name="张三", unit_code="U1", unit_name="一分厂", position="工程师"
)
FACTS: list[DomainEvent] = [
    UnitRegistered(unit_code="U1", name="一分厂"),
    UnitRegistered(unit_code="U2", name="二分厂"),
    RoundOpened(
        round_id=ROUND,
        cadence="quarterly",
        deadline=DEADLINE,
        opened_by="o",
        opened_at=TUESDAY_8 - timedelta(days=20),
    ),
    NominationSubmitted(
        nomination_id=N1,
        round_id=ROUND,
        category=Category.STRIVING,
        nominee=ZHANG,
        deeds="事迹",
        results=(),
        evidence_links=(),
        recommendation="推荐",
        submitted_by="n-U1",
        submitted_at=TUESDAY_8 - timedelta(days=2),
    ),
    CandidateRecorded(
        round_id=ROUND,
        candidate=Candidate(
            nomination_id=N1,
            round_id=ROUND,
            category=Category.STRIVING,
            nominee=ZHANG,
            deeds="事迹",
            submitted_by="n-U1",
        ),
    ),
    NominationAccepted(
        round_id=ROUND, nomination_id=N1, category=Category.STRIVING, accepted_by="o"
    ),
    PanelistAssigned(
        round_id=ROUND,
        panelist_id="p-1",
        employee_no="E900",
        name="李评",
        department="技术部",
        unit_code=None,
        assigned_by="o",
    ),
]
NOMINATOR_U2 = {"actor": "n-U2", "roles": ["nominator"], "actor_unit_code": "U2"}
NOMINATOR_U1 = {"actor": "n-U1", "roles": ["nominator"], "actor_unit_code": "U1"}
PANELIST = {"actor": "p-1", "roles": ["panelist"]}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TUESDAY_8)


@pytest.fixture
async def service(settings: Settings, clock: FixedClock) -> AsyncIterator[ServiceRuntime]:
    runtime = build_runtime(settings, clock=clock)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def rules(rpc: Any, who: dict[str, Any]) -> list[tuple[str, str]]:
    box = await rpc.query("notification", "inbox", who)
    return [(i["rule"], i["title"]) for i in reversed(box["items"])]


async def bodies(rpc: Any, who: dict[str, Any]) -> list[str]:
    box = await rpc.query("notification", "inbox", who)
    return [i["body"] for i in reversed(box["items"])]


async def test_units_with_places_left_are_reminded_and_panelists_digested_once_a_day(
    service: ServiceRuntime, nc: NatsClient, clock: FixedClock, settings: Settings
) -> None:
    for fact in FACTS:
        event_id = uuid.uuid4()
        await publish(nc, fact, event_id, str(event_id))
    await eventually(lambda: seen(service) == len(FACTS), what="the facts noted")
    rpc = rpc_client(nc, timeout=10)
    tick = DailyTick(
        settings,
        clock,
        lambda: service.store.pool,
        lambda stream_id, decide, initial: service.execute(
            stream_id, handlers.evolve, initial, decide, "tests"
        ),
    )
    assert await tick.tick() == 0  # before 09:00 Beijing: nothing yet
    clock.set(TUESDAY_8 + timedelta(hours=1, minutes=30))
    await tick.tick()
    assert await tick.tick() == 0  # the same day again: nobody twice
    assert await rules(rpc, NOMINATOR_U2) == [
        ("quota_reminder", f"【提名提醒】距{ROUND}轮提名截止还有3个工作日")
    ]
    # U1 has used one of its five places (one per flower): reminded of the four left
    assert await rules(rpc, NOMINATOR_U1) == [
        ("quota_reminder", f"【提名提醒】距{ROUND}轮提名截止还有3个工作日")
    ]
    assert "尚有4个提名名额未使用" in (await bodies(rpc, NOMINATOR_U1))[0]
    assert "尚有5个提名名额未使用" in (await bodies(rpc, NOMINATOR_U2))[0]
    assert await rules(rpc, PANELIST) == [
        ("panelist_assigned", f"【评审】您已被聘为{ROUND}轮评审专家"),
        ("panel_digest", "【评审】您还有1份提名待评分"),
    ]

    clock.advance(timedelta(days=2))  # Thursday: 1 working day left; the panelist scores
    scored = ScoreSubmitted(
        round_id=ROUND,
        nomination_id=N1,
        category=Category.STRIVING,
        panelist_id="p-1",
        department="技术部",
        criteria={"a": Decimal("80")},
        total=Decimal("80"),
        revision=1,
        comment=None,
        submitted_at=clock.now(),
    )
    scored_id = uuid.uuid4()
    await publish(nc, scored, scored_id, str(scored_id))
    await eventually(lambda: seen(service) == len(FACTS) + 1, what="the score noted")
    await tick.tick()
    assert [r for r, _ in await rules(rpc, NOMINATOR_U2)] == ["quota_reminder"] * 2
    assert "还有1个工作日" in (await rules(rpc, NOMINATOR_U2))[-1][1]
    assert [r for r, _ in await rules(rpc, PANELIST)] == ["panelist_assigned", "panel_digest"]

    # The daily rules' read model rebuilt from the consumed feed is the live one.
    auditor = await create_pool(
        service.settings.database_url_for("notification", login="auditor"), max_size=2
    )
    try:
        checks = await audit_projections.check(auditor, declared("notification"), nc.jetstream())
    finally:
        await auditor.close()
    assert all(c.ok for c in checks), [(c.error, c.unmatched) for c in checks]
    units = await service.store.pool.fetch("SELECT unit_code FROM units ORDER BY unit_code")
    assert [r["unit_code"] for r in units] == ["U1", "U2"]
