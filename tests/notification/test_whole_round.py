"""A whole round end to end: every role's inbox (read through the gateway's API) holds what
the notification rules promise, once; the winner, who chose e-mail on the settings API,
receives their mails at a real aiosmtpd server; nothing twice after a fact is delivered
again or after the notification service is killed with SIGKILL in the middle of the round.

The gateway and the other services run in-process on one fixed clock; the notification
service runs as its own process (so it can be killed), its clock the same instant through
FLOWERS_CLOCK_FILE. The steps are played through the gateway's API where they are what the
test is about (settings, notice, objection, resolution, publication, inboxes) and through
NATS as the gateway would send them for the setup (nominations, audit, panel, scores).
"""

from __future__ import annotations

import email
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from nats.aio.client import Client as NatsClient

from deploy.stack import ServiceProcess, service_command, service_schema
from services.gateway.accounts import UserFields
from services.gateway.app import create_app
from services.nomination.app import build_runtime as build_nomination
from services.publicity.app import build_runtime as build_publicity
from services.review.app import build_runtime as build_review
from services.rewards.app import build_runtime as build_rewards
from shared import database_roles
from shared.bus import EVENTS_STREAM
from shared.clock import FixedClock
from shared.postgres import create_pool
from shared.rpc import RemoteError
from shared.settings import Settings
from tests.gateway.harness import (
    FAST_HASHING,
    NOW,
    PASSWORD,
    ROUND,
    Harness,
    seed_directory_and_round,
)
from tests.gateway.review_setup import SHEET_HIGH, SHEET_LOW, ReviewRound, review_round
from tests.notification.servers import Inbox
from tests.support import admin_connect, eventually

pytestmark = pytest.mark.integration

API = f"/api/v1/review/rounds/{ROUND}"
WINNER_MAIL = "zhangwei@example.cn"


class Notifier:
    """The notification service as a process on the test's servers and clock."""

    def __init__(self, settings: Settings, root: Path, smtp_port: int) -> None:
        self.settings = settings
        root.mkdir(parents=True, exist_ok=True)
        self.clock_file = root / "now"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWERS_NOTIFY_")}
        env.update(
            {
                "FLOWERS_NATS_URL": settings.nats_url,
                "FLOWERS_DATABASE_URL": settings.database_url,
                "FLOWERS_DATABASE_PREFIX": settings.database_prefix,
                "FLOWERS_DATA_DIR": str(root),
                "FLOWERS_CLOCK_FILE": str(self.clock_file),
                "FLOWERS_CONSUMER_ACK_WAIT_S": "2",
                "FLOWERS_CONSUMER_BACKOFF_S": "[0.1, 0.3, 1]",
                "FLOWERS_RELAY_POLL_INTERVAL_S": "0.2",
                "FLOWERS_LOG_LEVEL": "WARNING",
                "FLOWERS_NOTIFY_SMTP_HOST": "127.0.0.1",
                "FLOWERS_NOTIFY_SMTP_PORT": str(smtp_port),
                "FLOWERS_NOTIFY_SMTP_SENDER": "flowers@example.cn",
                "FLOWERS_NOTIFY_BASE_URL": "https://flowers.example.cn",
                "FLOWERS_NOTIFY_QUIET_HOURS": "",
                "FLOWERS_NOTIFY_DELIVERY_INTERVAL_S": "0.1",
                # a send the kill cut off is tried again soon (the back-off has its own test)
                "FLOWERS_NOTIFY_RETRY_FIRST_DELAY_S": "1",
                "FLOWERS_NOTIFY_DAILY_AT": "23:59",  # the daily rules have tests of their own
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.process = ServiceProcess(
            "notification",
            service_command("notification", settings),
            env,
            root / "logs" / "notification.log",
        )

    def set_time(self, at: datetime) -> None:
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(at.isoformat())
        tmp.replace(self.clock_file)

    async def start(self, harness: Harness | None = None) -> None:
        self.process.start()
        if harness is not None:
            await self.wait_healthy(harness)

    async def wait_healthy(self, harness: Harness) -> None:
        async def healthy() -> bool:
            try:
                await harness.rpc.query("notification", "health", {}, timeout=1)
                return True
            except RemoteError:
                return False

        await eventually(healthy, timeout=60, what="the notification service to answer")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, whatever was in flight is cut off."""
        self.process.kill()


@asynccontextmanager
async def round_with_a_notifier(
    settings: Settings, root: Path, smtp_port: int
) -> AsyncIterator[tuple[Harness, Notifier]]:
    clock = FixedClock(NOW)
    await database_roles.prepare(settings, "notification", *service_schema("notification"))
    notifier = Notifier(settings, root, smtp_port)
    notifier.set_time(NOW)
    await notifier.start()
    runtimes = [
        build(settings, clock=clock)
        for build in (build_nomination, build_review, build_rewards, build_publicity)
    ]
    try:
        for runtime in runtimes:
            await runtime.start()
        app = create_app(settings, FAST_HASHING, clock)
        async with app.router.lifespan_context(app):
            nomination, review, rewards, publicity = runtimes
            harness = Harness(
                app, nomination, clock, review=review, rewards=rewards, publicity=publicity
            )
            await notifier.wait_healthy(harness)
            await seed_directory_and_round(harness.rpc)
            yield harness, notifier
    finally:
        notifier.process.stop()
        for runtime in reversed(runtimes):
            if runtime.pool is not None:
                await runtime.stop()


class As:
    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str) -> Any:
        response = await self.client.get(path, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def send(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.client.request(method, path, json=body, headers=self.headers)
        assert response.status_code in (200, 201), response.text
        return response.json()


def mails(inbox: Inbox) -> dict[tuple[tuple[str, ...], str], set[str]]:
    """(recipients, subject) -> the Message-IDs it arrived with."""
    out: dict[tuple[tuple[str, ...], str], set[str]] = {}
    for envelope in inbox.envelopes:
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(parsed, EmailMessage)
        key = (tuple(envelope.rcpt_tos), str(parsed["Subject"]))
        out.setdefault(key, set()).add(str(parsed["Message-ID"]))
    return out


async def redeliver(nc: NatsClient, subject: str) -> None:
    """Publish the last fact on `subject` again under another message id (past the
    duplicate window, as a relay re-publishing after a long outage would)."""
    js = nc.jetstream()
    last = await js.get_last_msg(EVENTS_STREAM, subject)
    await js.publish(subject, last.data or b"", headers={"Nats-Msg-Id": f"again-{uuid.uuid4()}"})


async def test_every_role_hears_what_the_rules_promise_once_through_a_kill_and_a_redelivery(
    settings: Settings, session_dir: Path, smtp_server: tuple[int, Inbox]
) -> None:
    port, smtp = smtp_server
    root = session_dir / f"notify-{uuid.uuid4().hex[:8]}"
    async with round_with_a_notifier(settings, root, port) as (gateway, notifier):
        rr = await review_round(gateway)
        winner = await gateway.state.accounts.create_user(
            "zhangwei",
            PASSWORD,
            UserFields("张伟", frozenset({"staff"}), None, None, "E100"),
            actor="test",
        )
        gateway.users["zhangwei"] = rr.users["zhangwei"] = winner
        for role in ("payroll", "publicity"):
            gateway.users[role] = await gateway.state.accounts.create_user(
                role, PASSWORD, UserFields(f"测试 {role}", frozenset({role})), actor="test"
            )
        async with gateway.client() as client:
            who = {u: As(client, await gateway.token(u)) for u in gateway.users}
            # The winner-to-be chooses e-mail (through the gateway's settings API).
            await who["zhangwei"].send(
                "PUT",
                "/api/v1/notification-settings",
                {"email": WINNER_MAIL, "channels": ["inbox", "email"]},
            )

            await rr.accept_all(reject="E201")  # 刘洋 (CY) rejected: CY hears of it
            await rr.assign_panel()
            # SIGKILL mid-round, while the panel's facts are being taken in; started again.
            notifier.kill()
            await notifier.start(gateway)
            # The office reminds one panelist (提醒评分): that panelist is told.
            await who["office"].send("POST", f"{API}/panel/{rr.id('p_fin')}/remind")
            await score_until_complete(rr)
            await rr.close_nominations()
            await who["leader"].send(
                "POST",
                f"{API}/decisions",
                {"category": "striving", "winners": [rr.nominations["E100"]]},
            )
            await who["office"].send("POST", f"{API}/notices")
            # Its mail goes out before the test's clock leaps past the notice: a notification
            # first planned days after it was issued stays in the inbox (delivery.STALE_AFTER).
            await eventually(
                lambda: any("公示" in subject for _, subject in mails(smtp)),
                timeout=60,
                what="the notice's mail",
            )
            raised = await who["staff"].send(
                "POST",
                f"{API}/objections",
                {"nomination_id": rr.nominations["E100"], "text": "数据与台账不符。"},
            )
            await who["office"].send(
                "POST",
                f"{API}/objections/{raised['objection_no']}/resolve",
                {"outcome": "dismissed", "resolution": "经核实数据无误。"},
            )
            notices = await gateway.rpc.query("review", "notices", {"round_id": ROUND})
            end = max(datetime.fromisoformat(n["ends_at"]) for n in notices)
            after = end + timedelta(minutes=1)
            gateway.clock.set(after)
            notifier.set_time(after)
            await who["office"].send("POST", f"{API}/publish")
            # SIGKILL again while the result flows out (awards, payroll, drafts).
            notifier.kill()
            await notifier.start(gateway)

            expected: dict[str, list[str]] = {
                "office": ["objection_raised", "scores_complete"],
                "leader": ["ranking_complete"],
                "p_go": ["panelist_assigned"],
                "p_fin": ["panelist_assigned", "panelist_reminded"],
                "p_em": ["panelist_assigned"],
                "p_wy": ["panelist_assigned"],
                "wy": ["nomination_won"],
                "cy": ["nomination_rejected"],
                "staff": ["objection_resolved"],
                "zhangwei": ["award_on_payroll", "winner_published"],
                "payroll": ["payroll_period_pending"],
                "publicity": ["drafts_ready"],
            }

            async def inbox(user: str) -> list[str]:
                box = await who[user].get("/api/v1/inbox?limit=100")
                return sorted(i["rule"] for i in box["items"])

            async def everyone_told() -> bool:
                for user, rules in expected.items():
                    if await inbox(user) != sorted([*rules, "notice_started"]):
                        return False
                return True

            await eventually(everyone_told, timeout=60, what="every role's notifications")
            # Each note says what it should and links to the page that needs action.
            office = (await who["office"].get("/api/v1/inbox"))["items"]
            assert {i["rule"]: i["link"] for i in office}["objection_raised"] == (
                f"/review/objections?round_id={ROUND}"
            )
            mine = {i["rule"]: i for i in (await who["zhangwei"].get("/api/v1/inbox"))["items"]}
            assert "恭喜您荣获" in mine["winner_published"]["title"]
            assert "500" in mine["award_on_payroll"]["body"]
            staff = {i["rule"]: i for i in (await who["staff"].get("/api/v1/inbox"))["items"]}
            assert "异议不成立" in staff["objection_resolved"]["title"]

            # The winner's mails: the public notice, the result, the award.
            try:
                await eventually(lambda: len(mails(smtp)) >= 3, timeout=90, what="three mails")
            except AssertionError as missing:
                arrived = sorted(subject for _, subject in mails(smtp))
                raise AssertionError(f"{missing}; arrived: {arrived}") from None

            # A fact delivered again tells nobody anything new.
            nc = await admin_connect(settings.nats_url)
            pool = await create_pool(settings.database_url_for("notification"), max_size=2)
            try:
                for subject in (
                    "flowers.evt.review.ResultPublished",
                    "flowers.evt.review.PublicNoticeStarted",
                    "flowers.evt.rewards.AwardGranted",
                ):
                    await redeliver(nc, subject)
                await eventually(
                    lambda: settled(nc, pool), timeout=30, what="the copies handled, all sent"
                )
                deliveries = await pool.fetch(
                    "SELECT channel, target, status, attempts FROM deliveries"
                )
                issued = await pool.fetchval(
                    "SELECT count(*) FROM events WHERE type = 'NotificationIssued'"
                )
                distinct = await pool.fetchval(
                    "SELECT count(DISTINCT data->>'notification_id') FROM events"
                    " WHERE type = 'NotificationIssued'"
                )
            finally:
                await pool.close()
                await nc.close()
            assert await everyone_told()
            assert issued == distinct
            assert [tuple(r) for r in deliveries] == [
                ("email", f"user:{winner.user_id}", "delivered", 1)
            ] * 3
            # Each mail once in effect: a mail the kill cut off between the server's "250 OK"
            # and the recorded delivery may have been sent again (SMTP is at-least-once at the
            # wire), always with its one Message-ID, so a mailbox shows it once.
            received = mails(smtp)
            assert sorted(received) == sorted(
                [
                    ((WINNER_MAIL,), f"【公示】{ROUND}轮五朵金花评选结果公示"),
                    ((WINNER_MAIL,), "【喜报】恭喜您荣获拼搏之花"),
                    ((WINNER_MAIL,), mine["award_on_payroll"]["title"]),
                ]
            )
            assert all(len(ids) == 1 for ids in received.values()), received
            assert len(smtp.envelopes) <= len(received) + 2  # at most one resend per kill


async def settled(nc: NatsClient, pool: asyncpg.Pool) -> bool:
    """The facts consumer has nothing pending or unacknowledged, every notification is
    planned and every delivery done."""
    info = await nc.jetstream().consumer_info(EVENTS_STREAM, "notification-facts")
    if info.num_pending or info.num_ack_pending:
        return False
    behind = await pool.fetchval(
        "SELECT coalesce((SELECT max(position) FROM notifications), 0)"
        " > coalesce((SELECT position FROM delivery_planned), 0)"
    )
    pending = await pool.fetchval("SELECT count(*) FROM delivery_queue WHERE NOT done")
    return not behind and pending == 0


async def score_until_complete(rr: ReviewRound) -> None:
    """Every panelist scores every accepted nomination not of their own unit."""
    await rr.score_everything()
    for username in ("p_go", "p_fin", "p_em"):
        await rr.score(username, "E101", SHEET_LOW)
    await rr.score("p_wy", "E200", SHEET_HIGH)
