"""The notification service in process against real NATS and PostgreSQL: the other services'
facts arrive through JetStream (published here as their relays would), the inbox is read and
marked over NATS request/reply with a signed identity."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from services.notification.app import FACTS_CONSUMER, build_runtime
from shared import audit_projections
from shared.clock import SHANGHAI, FixedClock
from shared.contracts.common import Category
from shared.contracts.review import (
    ObjectionRaised,
    PanelistAssigned,
    PublishedWinner,
    ResultPublished,
)
from shared.events import GENESIS_HASH, DomainEvent, EventMetadata, RecordedEvent
from shared.personal_data import ERASED, KEYRING, marks, seal_data
from shared.postgres import create_pool
from shared.projection import declared
from shared.rpc import RemoteError, RpcClient
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

ROUND = "2026-Q4"
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
PANELIST = {"actor": "p-1", "roles": ["panelist"]}
OFFICE_A = {"actor": "office-1", "roles": ["office"]}
OFFICE_B = {"actor": "office-2", "roles": ["office"]}

ASSIGNED = PanelistAssigned(
    round_id=ROUND,
    panelist_id="p-1",
    employee_no="E001",
    name="张三",
    department="技术部",
    unit_code=None,
    assigned_by="office-1",
)
OBJECTION = ObjectionRaised(
    round_id=ROUND,
    objection_no=1,
    nomination_id=uuid.UUID(int=1),
    category=Category.STRIVING,
    raised_by="u-obj",
    raiser_subject="E900",
    raiser_name="王五",
    text="事迹不实",
    raised_at=NOW,
)

_positions = iter(range(1, 1_000_000))


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    runtime = build_runtime(settings, clock=FixedClock(NOW))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def publish(
    nc: NatsClient, event: DomainEvent, event_id: uuid.UUID, msg_id: str, *, sealed: bool = False
) -> None:
    """Publish another service's event to JetStream as its relay does (`sealed`: its personal
    values sealed, as its store writes them)."""
    data = event.to_data()
    if sealed:
        found = marks(event)
        subjects = await KEYRING.subjects_for(m.employee_no for m in found)
        data = seal_data(data, event_id, found, subjects)
    envelope = RecordedEvent(
        position=next(_positions),
        stream_id=f"{event.service}-test",
        version=1,
        event_id=event_id,
        type=event.event_type,
        schema_version=event.schema_version,
        data=data,
        metadata=EventMetadata(actor="someone", correlation_id="corr-1"),
        recorded_at=datetime.now(UTC),
        prev_hash=GENESIS_HASH,
        hash="0" * 64,
    )
    await nc.jetstream().publish(
        event.subject(), envelope.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id}
    )


def seen(runtime: ServiceRuntime) -> int:
    c = next(c for c in runtime.consumers if c.name == FACTS_CONSUMER)
    return c.stats.handled + c.stats.duplicates


async def inbox(rpc: RpcClient, who: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await rpc.query("notification", "inbox", who)
    return result


async def test_facts_in_inbox_rows_out_once_each_and_read_per_user(
    service: ServiceRuntime, nc: NatsClient
) -> None:
    rpc = rpc_client(nc, timeout=10)
    assigned, objection = uuid.uuid4(), uuid.uuid4()
    await publish(nc, ASSIGNED, assigned, str(assigned))
    await publish(nc, OBJECTION, objection, str(objection))
    # The same facts again after the duplicate window (another Nats-Msg-Id): nobody twice.
    await publish(nc, ASSIGNED, assigned, f"{assigned}-again")
    await publish(nc, OBJECTION, objection, f"{objection}-again")
    await eventually(lambda: seen(service) == 4, what="four deliveries")

    mine = await inbox(rpc, PANELIST)
    assert mine["unread"] == 1
    (item,) = mine["items"]
    assert item["rule"] == "panelist_assigned"
    assert item["link"] == "/review/scoring"
    assert "评审专家" in item["title"]
    assert item["read"] is False
    office = await inbox(rpc, OFFICE_A)
    assert [i["rule"] for i in office["items"]] == ["objection_raised"]
    assert office["unread"] == 1

    pool = service.store.pool
    types = await pool.fetch("SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type")
    assert {r["type"]: r["n"] for r in types} == {"NotificationIssued": 2, "RoundFactNoted": 2}
    issued = await pool.fetchval(
        "SELECT event_id FROM events WHERE type = 'NotificationIssued'"
        " AND data->>'rule' = 'panelist_assigned'"
    )
    assert str(issued) == item["notification_id"]  # the event id is the notification id

    # Marked read by one office user: read for that user only, and only once.
    office_item = office["items"][0]["notification_id"]
    first = await rpc.command(
        "notification", "mark_read", {**OFFICE_A, "notification_id": office_item}
    )
    again = await rpc.command(
        "notification", "mark_read", {**OFFICE_A, "notification_id": office_item}
    )
    assert (first["events"], again["events"]) == (["NotificationRead"], [])
    assert (await inbox(rpc, OFFICE_A))["unread"] == 0
    assert (await inbox(rpc, OFFICE_B))["unread"] == 1
    # Nobody marks what was not addressed to them.
    with pytest.raises(RemoteError) as refused:
        await rpc.command("notification", "mark_read", {**PANELIST, "notification_id": office_item})
    assert refused.value.error.code == "notification_not_found"

    # The inbox rebuilt from the log is the live one (the auditor's check).
    auditor = await create_pool(
        service.settings.database_url_for("notification", login="auditor"), max_size=2
    )
    try:
        checks = await audit_projections.check(auditor, declared("notification"), nc.jetstream())
    finally:
        await auditor.close()
    assert [(c.projection, c.own_events) for c in checks] == [("inbox", 5), ("nominating", 0)]
    assert all(c.ok for c in checks), [t.summary() for c in checks for t in c.tables]


WINNER = PublishedWinner(
    category=Category.STRIVING,
    nomination_id=uuid.UUID(int=7),
    employee_no="E0777",
    name="欧阳明珠",
    unit_code="U1",
    unit_name="物业服务中心",
    position="维修工",
    deeds="连续三年承担锅炉房改造任务。",
    results=(),
    score=Decimal("90.5"),
)
RESULT = ResultPublished(
    round_id=ROUND,
    categories=(Category.STRIVING,),
    winners=(WINNER,),
    published_by="office-1",
    published_at=NOW,
)


async def test_a_notification_about_a_person_is_stored_sealed_and_shown_while_their_key_lives(
    service: ServiceRuntime, nc: NatsClient
) -> None:
    rpc = rpc_client(nc, timeout=10)
    winner = {"actor": "w-1", "roles": ["staff"], "actor_employee_no": "E0777"}
    unit = {"actor": "n-1", "roles": ["nominator"], "actor_unit_code": "U1"}
    cause = uuid.uuid4()
    await publish(nc, RESULT, cause, str(cause), sealed=True)

    async def told() -> bool:
        return len((await inbox(rpc, winner))["items"]) == 1

    await eventually(told, what="the winner's notification")

    # The inbox shows the texts opened, to the unit and to the winner themselves.
    [to_winner] = (await inbox(rpc, winner))["items"]
    assert to_winner["rule"] == "winner_published"
    assert to_winner["body"].startswith("欧阳明珠，您好")
    [to_unit] = (await inbox(rpc, unit))["items"]
    assert "欧阳明珠" in to_unit["title"]

    # Neither the log nor any table of the service holds the name (nor the winner's number
    # in the log): every row read as text.
    pool = service.store.pool
    rows = await pool.fetch("SELECT type, data::text AS data FROM events")
    assert {r["type"] for r in rows} == {"RoundFactNoted", "NotificationIssued"}
    assert [r["type"] for r in rows if "欧阳明珠" in r["data"] or "E0777" in r["data"]] == []
    stored = await pool.fetch("SELECT n::text AS row FROM notifications n")
    assert len(stored) == 2
    assert [r["row"] for r in stored if "欧阳明珠" in r["row"]] == []

    # The winner's key destroyed: the inbox reads 已删除 at once, the rest of it stays.
    assert service.keys is not None
    subject = await service.keys.subject_of("E0777")
    assert subject is not None
    assert await service.keys.shred(subject, NOW)
    KEYRING.forget(subject)
    [gone] = (await inbox(rpc, unit))["items"]
    assert (gone["title"], gone["body"], gone["rule"]) == (ERASED, ERASED, "nomination_won")
