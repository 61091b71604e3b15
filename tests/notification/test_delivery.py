"""The delivery task against real servers: facts in through JetStream, e-mail out to a real
aiosmtpd server, robot messages to the test robot server; every try an event, retries with
back-off then a dead letter; nothing sent twice after a redelivery or a restart."""

from __future__ import annotations

import email
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.policy import default

import asyncpg
import httpx
import pytest
from nats.aio.client import Client as NatsClient
from pydantic import SecretStr

from deploy.stack import service_schema
from services.notification import projections
from services.notification.app import build_runtime
from services.notification.delivery import STALE_AFTER, Deliverer
from shared import database_roles
from shared.clock import FixedClock
from shared.contracts.common import Category
from shared.contracts.review import PublishedWinner, ResultPublished
from shared.leader import lock_key
from shared.rpc import RemoteError
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.notification.servers import DING_TOKEN, WECOM_KEY, Inbox, Robots
from tests.notification.test_service import NOW, OBJECTION, ROUND, publish, seen
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

OFFICE = {"actor": "office-1", "roles": ["office"]}
WINNER = {"actor": "w-1", "roles": ["staff"], "actor_employee_no": "E001"}
RESULT = ResultPublished(
    round_id=ROUND,
    categories=(Category.STRIVING,),
    winners=(
        PublishedWinner(
            category=Category.STRIVING,
            nomination_id=uuid.UUID(int=1),
            employee_no="E001",
            name="张三",
            unit_code="U1",
            unit_name="一分厂",
            position="工程师",
            deeds="事迹",
            results=(),
            score=Decimal("88.5"),
        ),
    ),
    published_by="office-1",
    published_at=NOW,
)


@pytest.fixture
def notify_settings(settings: Settings, smtp_server: tuple[int, Inbox], robots: str) -> Settings:
    port, _ = smtp_server
    return settings.model_copy(
        update={
            "notify_smtp_host": "127.0.0.1",
            "notify_smtp_port": port,
            "notify_smtp_sender": "flowers@example.cn",
            "notify_base_url": "https://flowers.example.cn",
            # unit U1's group: a 企业微信 robot that works and a 钉钉 one whose secret is wrong
            "notify_wecom_unit_webhooks": {"U1": f"{robots}/cgi-bin/webhook/send?key={WECOM_KEY}"},
            "notify_dingtalk_unit_webhooks": {
                "U1": f"{robots}/robot/send?access_token={DING_TOKEN}"
            },
            "notify_dingtalk_unit_secrets": {"U1": SecretStr("SECwrong")},
            "notify_retry_attempts": 3,
            "notify_retry_first_delay_s": 30.0,
            "notify_delivery_interval_s": 0.05,
            "notify_quiet_hours": "",
        }
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
async def service(notify_settings: Settings, clock: FixedClock) -> AsyncIterator[ServiceRuntime]:
    runtime = build_runtime(notify_settings, clock=clock)
    await runtime.start()
    try:
        yield runtime
    finally:
        if runtime.pool is not None and not runtime.pool.is_closing():
            await runtime.stop()


def mails(inbox: Inbox) -> list[tuple[list[str], str, str]]:
    out = []
    for envelope in inbox.envelopes:
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(parsed, EmailMessage)
        out.append((list(envelope.rcpt_tos), str(parsed["Subject"]), str(parsed["Message-ID"])))
    return sorted(out)


async def attempts(runtime: ServiceRuntime) -> list[tuple[str, str, str, int, bool]]:
    rows = await runtime.store.pool.fetch(
        "SELECT data->>'channel' AS channel, data->>'target' AS target, type,"
        " (data->>'attempt')::int AS attempt, (data->>'ok')::boolean AS ok"
        " FROM events WHERE type = 'DeliveryAttempted' ORDER BY position"
    )
    return [(r["channel"], r["target"], r["type"], r["attempt"], r["ok"]) for r in rows]


async def test_each_person_gets_their_mail_the_unit_robot_its_notice_and_nothing_twice(
    service: ServiceRuntime,
    nc: NatsClient,
    clock: FixedClock,
    smtp_server: tuple[int, Inbox],
    notify_settings: Settings,
) -> None:
    _, smtp = smtp_server
    rpc = rpc_client(nc, timeout=10)
    # The office user and the winner choose e-mail; a second office user does not.
    for who, address in ((OFFICE, "office1@example.cn"), (WINNER, "zhangsan@example.cn")):
        saved = await rpc.command(
            "notification",
            "save_preferences",
            {**who, "email": address, "channels": ["inbox", "email"]},
        )
        assert saved["channels"] == ["email", "inbox"]
    await rpc.command(
        "notification", "save_preferences", {"actor": "office-2", "roles": ["office"]}
    )
    with pytest.raises(RemoteError) as refused:
        await rpc.command(
            "notification",
            "save_preferences",
            {**OFFICE, "email": "不是邮箱", "channels": ["email"]},
        )
    assert refused.value.error.message_zh == "通知设置有误：电子邮箱地址格式不正确"

    objection, result = uuid.uuid4(), uuid.uuid4()
    await publish(nc, OBJECTION, objection, str(objection))
    await publish(nc, RESULT, result, str(result))

    # The objection names the objector: e-mail to the office user who chose it, no robot.
    # The result: the winner (employee E001 = user w-1) by e-mail, unit U1's group robots.
    await eventually(lambda: len(smtp.envelopes) == 2, what="two mails")
    [(to1, subject1, mid1), (to2, subject2, _)] = mails(smtp)
    assert (to1, subject1) == (["office1@example.cn"], f"【异议】{ROUND}轮收到第1号异议")
    assert (to2, subject2) == (["zhangsan@example.cn"], "【喜报】恭喜您荣获拼搏之花")
    assert mid1.endswith("@example.cn>")
    await eventually(lambda: len(Robots.received) == 2, what="two robot requests")
    wecom = next(r for r in Robots.received if r["path"] == "/cgi-bin/webhook/send")
    assert "【喜报】张三荣获拼搏之花" in wecom["body"]["markdown"]["content"]

    # The winner's inbox holds what was addressed to their employee number.
    box = await rpc.query("notification", "inbox", WINNER)
    assert [i["rule"] for i in box["items"]] == ["winner_published"]

    # 钉钉 refused (sign not match): retried after 30 s, then 60 s, then dead-lettered.
    async def tried(n: int) -> bool:
        return [a for a in await attempts(service) if a[0] == "dingtalk"] == [
            ("dingtalk", "robot:unit:U1", "DeliveryAttempted", i, False) for i in range(1, n + 1)
        ]

    await eventually(lambda: tried(1), what="the first 钉钉 try")
    clock.advance(timedelta(seconds=29))
    clock.advance(timedelta(seconds=1))
    await eventually(lambda: tried(2), what="the second 钉钉 try")
    clock.advance(timedelta(seconds=60))
    await eventually(lambda: tried(3), what="the third 钉钉 try")
    pool = service.store.pool
    await eventually(
        lambda: pool.fetchval("SELECT count(*) = 4 FROM deliveries WHERE status <> 'trying'"),
        what="every delivery settled",
    )
    rows = await pool.fetch(
        "SELECT channel, target, status, attempts, last_error FROM deliveries"
        " ORDER BY channel, target"
    )
    assert [tuple(r) for r in rows] == [
        ("dingtalk", "robot:unit:U1", "dead_lettered", 3, "errcode 310000: sign not match"),
        ("email", "user:office-1", "delivered", 1, None),
        ("email", "user:w-1", "delivered", 1, None),
        ("wecom", "robot:unit:U1", "delivered", 1, None),
    ]
    dead = await pool.fetchval("SELECT count(*) FROM events WHERE type = 'DeliveryDeadLettered'")
    assert dead == 1
    sample = service.metrics.registry.get_sample_value
    metric = "flowers_notification_delivery_tries_total"
    assert sample(metric, {"channel": "dingtalk", "outcome": "retrying"}) == 2
    assert sample(metric, {"channel": "dingtalk", "outcome": "dead_lettered"}) == 1
    assert sample(metric, {"channel": "email", "outcome": "delivered"}) == 2

    # The same facts again (another message id), and much later: nobody is told twice.
    await publish(nc, OBJECTION, objection, f"{objection}-again")
    await publish(nc, RESULT, result, f"{result}-again")
    clock.advance(timedelta(days=1))
    await eventually(lambda: seen(service) == 4, what="the redeliveries handled")
    await eventually(lambda: service_idle(service), what="a pass of the delivery task")
    await service.stop()
    # A restarted service (its queue says undone: as after a crash before the row's update)
    # reads the log and sends nothing again.
    await pool_reset_queue(notify_settings)
    again = build_runtime(notify_settings, clock=clock)
    await again.start()
    try:
        await eventually(
            lambda: again.store.pool.fetchval("SELECT bool_and(done) FROM delivery_queue"),
            what="the queue settled from the log",
        )
    finally:
        await again.stop()
    assert len(smtp.envelopes) == 2
    assert len(Robots.received) == 4  # 1 企业微信 + 3 钉钉 tries


async def pool_reset_queue(settings: Settings) -> None:
    from shared.postgres import create_pool

    pool = await create_pool(settings.database_url_for("notification"), max_size=1)
    try:
        await pool.execute("UPDATE delivery_queue SET done = false")
    finally:
        await pool.close()


async def service_idle(runtime: ServiceRuntime) -> bool:
    """Every notification planned (the redelivered facts issued none)."""
    return bool(
        await runtime.store.pool.fetchval(
            "SELECT coalesce((SELECT position FROM delivery_planned), 0)"
            " >= coalesce((SELECT max(position) FROM notifications), 0)"
        )
    )


async def test_a_notification_days_old_when_first_planned_stays_in_the_inbox_only(
    notify_settings: Settings,
    clock: FixedClock,
    nc: NatsClient,
    smtp_server: tuple[int, Inbox],
) -> None:
    # The test holds the delivery task's leader lock: the service's own task stands by, and
    # the test plans by hand.
    slow = notify_settings
    await database_roles.prepare(slow, "notification", *service_schema("notification"))
    holder = await asyncpg.connect(slow.database_url_for("notification"))
    await holder.execute("SELECT pg_advisory_lock($1)", lock_key("delivery:notification"))
    runtime = build_runtime(slow, clock=clock)
    await runtime.start()
    try:
        rpc = rpc_client(nc, timeout=10)
        await rpc.command(
            "notification",
            "save_preferences",
            {**OFFICE, "email": "office1@example.cn", "channels": ["inbox", "email"]},
        )
        objection = uuid.uuid4()
        await publish(nc, OBJECTION, objection, str(objection))
        await eventually(lambda: seen(runtime) == 1, what="the objection noted")
        deliverer = Deliverer(slow, clock, lambda: runtime.store, projections.OWN, lambda: None)
        clock.advance(STALE_AFTER + timedelta(minutes=1))  # down for days, say
        async with httpx.AsyncClient() as client:
            assert await deliverer.step(client) == (1, 0)  # planned: nothing to send
        _, smtp = smtp_server
        assert smtp.envelopes == []
        box = await rpc.query("notification", "inbox", OFFICE)
        assert [i["rule"] for i in box["items"]] == ["objection_raised"]
    finally:
        await runtime.stop()
        await holder.close()
