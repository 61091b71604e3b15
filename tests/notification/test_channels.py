"""The channels against real servers started here: an aiosmtpd SMTP server, and an HTTP
server checking each robot request as 企业微信's and 钉钉's documentation specifies and
answering with their documented success and error bodies."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from services.notification.channels import (
    DeliveryError,
    SmtpSettings,
    compose_email,
    dingtalk_payload,
    dingtalk_url,
    post_robot,
    send_email,
    wecom_payload,
)
from services.notification.domain import Notification, notification_id
from tests.notification.servers import (
    DING_SECRET,
    DING_TOKEN,
    SMTP_PASSWORD,
    SMTP_USER,
    WECOM_KEY,
    Inbox,
    Logins,
    Robots,
    free_port,
)

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
async def test_an_error_body_is_a_delivery_error_with_the_robots_words(
    robots: str, webhook: str, secret: str | None, error: str
) -> None:
    """(The delivery task records it, retries with back-off, then dead-letters it:
    test_delivery.py and test_domain.py.)"""
    async with httpx.AsyncClient() as client:
        url = dingtalk_url(robots + webhook, secret, datetime.now(UTC))
        payload = dingtalk_payload(NOTE, BASE) if "robot" in webhook else wecom_payload(NOTE, BASE)
        with pytest.raises(DeliveryError) as failed:
            await post_robot(client, url, payload)
    assert error in str(failed.value)
    assert len(Robots.received) == 1


def test_the_message_id_derives_from_the_notification_and_its_recipients() -> None:
    at = datetime.now(UTC)
    first = compose_email(NOTE, ["a@example.cn"], "flowers@example.cn", BASE, at)
    again = compose_email(NOTE, ["a@example.cn"], "flowers@example.cn", BASE, at)
    other = compose_email(NOTE, ["b@example.cn"], "flowers@example.cn", BASE, at)
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert first["Message-ID"].endswith("@example.cn>")


async def test_starttls_verifies_the_server_and_logs_in_before_sending(
    tls_smtp_server: tuple[int, Inbox, Logins, Path],
) -> None:
    port, inbox, logins, cert_file = tls_smtp_server
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=port,
        starttls=True,
        sender=SMTP_USER,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        ca_file=str(cert_file),
    )
    msg = compose_email(NOTE, ["lisi@example.cn"], smtp.sender, BASE, datetime.now(UTC))
    await send_email(smtp, msg)
    assert logins.logins == [SMTP_USER]
    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["lisi@example.cn"]
    # a server whose certificate is not trusted is not sent to
    untrusted = SmtpSettings(**{**smtp.__dict__, "ca_file": ""})
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        await send_email(untrusted, msg)
    # without STARTTLS the server refuses the mail
    plain = SmtpSettings(host="127.0.0.1", port=port, sender=SMTP_USER)
    with pytest.raises(DeliveryError, match="STARTTLS"):
        await send_email(plain, msg)
    assert len(inbox.envelopes) == 1


async def test_a_body_too_long_for_the_wecom_robot_is_cut_and_keeps_its_link(robots: str) -> None:
    long = replace(NOTE, body="公示对象：" + "张三（奋斗之花）、" * 400)
    async with httpx.AsyncClient() as client:
        await post_robot(
            client, f"{robots}/cgi-bin/webhook/send?key={WECOM_KEY}", wecom_payload(long, BASE)
        )
    [request] = Robots.received
    content = request["body"]["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert content.endswith(f"…\n[点击办理]({BASE}/gongshi/2026-Q4)")
