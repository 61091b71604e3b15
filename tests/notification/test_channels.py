"""The channels against real servers started here: an aiosmtpd SMTP server, and an HTTP
server checking each robot request as 企业微信's and 钉钉's documentation specifies and
answering with their documented success and error bodies."""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from uuid import UUID

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from services.notification.channels import (
    Attempt,
    DeliveryError,
    SmtpSettings,
    compose_email,
    deliver,
    dingtalk_payload,
    dingtalk_url,
    post_robot,
    send_email,
    wecom_payload,
)
from services.notification.domain import Notification, RetryPolicy, notification_id
from shared.clock import SystemClock

BASE = "https://flowers.example.cn"
CAUSE = UUID(int=1)
NOTE = Notification(
    notification_id=notification_id(CAUSE, "everyone", "notice_started"),
    rule="notice_started",
    recipient="everyone",
    round_id="2026-Q4",
    subject="【公示】2026-Q4轮五朵金花评选结果公示",
    body="公示对象：张三（奋斗之花）。如有异议，请于2026年12月31日 24:00前通过公示页面实名提出。",
    link="/gongshi/2026-Q4",
    cause_id=CAUSE,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


async def test_an_email_arrives_with_its_subject_recipients_chinese_body_and_link(
    smtp_server: tuple[int, Inbox],
) -> None:
    port, inbox = smtp_server
    smtp = SmtpSettings(host="127.0.0.1", port=port, sender="flowers@example.cn")
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    to = ["zhangsan@example.cn", "lisi@example.cn"]
    await send_email(smtp, compose_email(NOTE, to, smtp.sender, BASE, now))
    [envelope] = inbox.envelopes
    assert envelope.mail_from == "flowers@example.cn"
    assert envelope.rcpt_tos == to
    assert isinstance(envelope.content, bytes)
    parsed = email.message_from_bytes(envelope.content, policy=default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == NOTE.subject
    assert parsed["To"] == "zhangsan@example.cn, lisi@example.cn"
    part = parsed.get_body(("plain",))
    assert part is not None
    body = part.get_content()
    assert NOTE.body in body
    assert f"请点击办理：{BASE}/gongshi/2026-Q4" in body


async def test_an_unreachable_smtp_server_is_a_delivery_error() -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=free_port())
    msg = compose_email(NOTE, ["a@example.cn"], smtp.sender, BASE, datetime.now(UTC))
    with pytest.raises(DeliveryError, match=r"SMTP 127\.0\.0\.1"):
        await send_email(smtp, msg)


WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN = "abc123token"
DING_SECRET = "SECtest-secret-0123456789"
OK = {"errcode": 0, "errmsg": "ok"}


class Robots(BaseHTTPRequestHandler):
    """企业微信 at /cgi-bin/webhook/send?key=…, 钉钉 at /robot/send?access_token=…"""

    received: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(self.headers["Content-Length"])
        raw = self.rfile.read(length)
        if not self.headers["Content-Type"].startswith("application/json"):
            return self._answer({"errcode": 40008, "errmsg": "invalid message type"})
        body = json.loads(raw.decode("utf-8"))
        self.received.append({"path": url.path, "query": query, "body": body})
        if url.path == "/cgi-bin/webhook/send":
            return self._answer(self._wecom(query, body))
        if url.path == "/robot/send":
            return self._answer(self._dingtalk(query, body))
        self.send_response(404)
        self.end_headers()

    def _wecom(self, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        if query.get("key") != [WECOM_KEY]:
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        content = body.get("markdown", {}).get("content")
        if body.get("msgtype") != "markdown" or not isinstance(content, str):
            return {"errcode": 40008, "errmsg": "invalid message type"}
        if len(content.encode("utf-8")) > 4096:
            return {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        return OK

    def _dingtalk(self, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        if query.get("access_token") != [DING_TOKEN]:
            return {"errcode": 300001, "errmsg": "token is not exist"}
        [timestamp] = query.get("timestamp", [""])
        [sign] = query.get("sign", [""])  # parse_qs has URL-decoded it
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3600_000:
            return {"errcode": 310000, "errmsg": "sign not match, more: [timestamp expired]"}
        expected = base64.b64encode(
            hmac.new(
                DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256
            ).digest()
        ).decode()
        if sign != expected:
            return {"errcode": 310000, "errmsg": "sign not match"}
        markdown = body.get("markdown", {})
        if (
            body.get("msgtype") != "markdown"
            or not markdown.get("title")
            or not markdown.get("text")
        ):
            return {"errcode": 40035, "errmsg": "缺少参数 json"}
        return OK

    def _answer(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def robots() -> Iterator[str]:
    Robots.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Robots)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_the_wecom_robot_accepts_the_documented_markdown_message(robots: str) -> None:
    async with httpx.AsyncClient() as client:
        await post_robot(
            client, f"{robots}/cgi-bin/webhook/send?key={WECOM_KEY}", wecom_payload(NOTE, BASE)
        )
    [request] = Robots.received
    content = request["body"]["markdown"]["content"]
    assert NOTE.subject in content
    assert f"[点击办理]({BASE}/gongshi/2026-Q4)" in content


async def test_the_dingtalk_robot_accepts_a_signed_request(robots: str) -> None:
    webhook = f"{robots}/robot/send?access_token={DING_TOKEN}"
    async with httpx.AsyncClient() as client:
        url = dingtalk_url(webhook, DING_SECRET, datetime.now(UTC))
        await post_robot(client, url, dingtalk_payload(NOTE, BASE))
    [request] = Robots.received
    assert request["body"]["markdown"]["title"] == NOTE.subject
    assert "公示对象：张三" in request["body"]["markdown"]["text"]


@pytest.mark.parametrize(
    ("webhook", "secret", "error"),
    [
        ("/robot/send?access_token=" + DING_TOKEN, "SECwrong", "errcode 310000: sign not match"),
        ("/robot/send?access_token=nope", DING_SECRET, "errcode 300001"),
        ("/cgi-bin/webhook/send?key=wrong", None, "errcode 93000: invalid webhook url"),
    ],
)
async def test_an_error_body_is_retried_with_back_off_then_dead_lettered(
    robots: str, webhook: str, secret: str | None, error: str
) -> None:
    policy = RetryPolicy(attempts=3, first_delay=timedelta(seconds=30))
    waited: list[float] = []
    recorded: list[Attempt] = []

    async def no_wait(seconds: float) -> None:  # the back-off asked for, not waited
        waited.append(seconds)

    async def record(attempt: Attempt) -> None:
        recorded.append(attempt)

    async with httpx.AsyncClient() as client:

        async def send() -> None:
            url = dingtalk_url(robots + webhook, secret, datetime.now(UTC))
            payload = (
                dingtalk_payload(NOTE, BASE) if "robot" in webhook else wecom_payload(NOTE, BASE)
            )
            await post_robot(client, url, payload)

        outcome = await deliver(NOTE, "dingtalk", send, policy, SystemClock(), record, no_wait)
    assert outcome.status == "dead_lettered"
    assert outcome.error is not None
    assert error in outcome.error
    assert [a.number for a in recorded] == [1, 2, 3]
    assert not any(a.ok for a in recorded)
    assert len(Robots.received) == 3
    assert [round(w) for w in waited] == [30, 60]


async def test_a_delivery_that_fails_once_is_delivered_on_the_retry(robots: str) -> None:
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        key = "wrong" if calls == 1 else WECOM_KEY
        async with httpx.AsyncClient() as client:
            url = f"{robots}/cgi-bin/webhook/send?key={key}"
            await post_robot(client, url, wecom_payload(NOTE, BASE))

    async def no_wait(seconds: float) -> None:
        return None

    outcome = await deliver(NOTE, "wecom", flaky, RetryPolicy(), SystemClock(), None, no_wait)
    assert outcome.status == "delivered"
    assert [(a.number, a.ok) for a in outcome.attempts] == [(1, False), (2, True)]
