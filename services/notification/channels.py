"""Delivery channels: e-mail over SMTP, the 企业微信 and 钉钉 group robots by webhook.

Each channel turns a `Notification` into the message its receiver documents and sends it;
a failed send raises DeliveryError, whose text the delivery task records
(services/notification/delivery.py: retries with back-off, then a dead letter).

- 企业微信 group robot: POST the webhook URL (…/cgi-bin/webhook/send?key=…) with
  ``{"msgtype": "markdown", "markdown": {"content": …}}``; it answers
  ``{"errcode": 0, "errmsg": "ok"}``, any other errcode is an error.
- 钉钉 custom robot: POST the webhook URL (…/robot/send?access_token=…) with
  ``{"msgtype": "markdown", "markdown": {"title": …, "text": …}}``; with 加签 (a secret),
  ``&timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256 of "timestamp\\nsecret" keyed by the
  secret>`` is added. Same answer format as 企业微信.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import smtplib
import ssl
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import httpx
from pydantic import SecretStr

from services.notification.domain import (
    OFFICE_ROBOT,
    Channel,
    Notification,
    QuietHours,
    RetryPolicy,
    Robots,
    unit_robot,
)
from shared.settings import Settings


class DeliveryError(Exception):
    """A send failed; the text is what the attempt records."""


def absolute(base_url: str, link: str) -> str:
    return base_url.rstrip("/") + link


# --- e-mail ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    starttls: bool = False
    sender: str = "flowers@localhost"
    username: str = ""
    password: str = ""
    ca_file: str = ""  # certificates to trust for STARTTLS besides the system's


def message_id(notification: Notification, to: Sequence[str], sender: str) -> str:
    """Derived from the notification id and the recipients: a mail sent again after a crash
    (SMTP is at-least-once at the wire) carries the same Message-ID, and mail systems that
    deduplicate on it show it once."""
    domain = sender.rpartition("@")[2] or "localhost"
    key = uuid.uuid5(notification.notification_id, ",".join(sorted(to)))
    return f"<{key}@{domain}>"


def compose_email(
    notification: Notification, to: Sequence[str], sender: str, base_url: str, now: datetime
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = notification.subject
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(notification, to, sender)
    link = absolute(base_url, notification.link)
    msg.set_content(
        f"{notification.body}\n\n请点击办理：{link}\n\n——红花献给你（五朵金花评选系统）\n"
    )
    return msg


def _send_smtp(smtp: SmtpSettings, msg: EmailMessage) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as client:
        if smtp.starttls:  # the server's certificate and name are verified
            context = ssl.create_default_context()
            if smtp.ca_file:
                context.load_verify_locations(cafile=smtp.ca_file)
            client.starttls(context=context)
        if smtp.username:
            client.login(smtp.username, smtp.password)
        client.send_message(msg)


async def send_email(smtp: SmtpSettings, msg: EmailMessage) -> None:
    try:
        await asyncio.to_thread(_send_smtp, smtp, msg)
    # ssl.SSLError is an OSError; smtplib sends a non-ASCII login as UnicodeEncodeError
    except (OSError, smtplib.SMTPException, UnicodeEncodeError) as exc:
        raise DeliveryError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from exc


# --- group robots ------------------------------------------------------------------------


WECOM_MARKDOWN_MAX_BYTES = 4096  # 企业微信: markdown.content, UTF-8


def _clip(text: str, max_bytes: int) -> str:
    """`text` cut to `max_bytes` of UTF-8 (on a character boundary), marked with "…"."""
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    cut = text.encode("utf-8")[: max_bytes - len("…".encode())]
    return cut.decode("utf-8", errors="ignore") + "…"


def wecom_payload(notification: Notification, base_url: str) -> dict[str, Any]:
    """The markdown message; a body too long for the robot is cut, the link always kept."""
    link = absolute(base_url, notification.link)
    head, tail = f"**{notification.subject}**\n", f"\n[点击办理]({link})"
    room = WECOM_MARKDOWN_MAX_BYTES - len((head + tail).encode("utf-8"))
    content = head + _clip(notification.body, room) + tail
    return {"msgtype": "markdown", "markdown": {"content": content}}


def dingtalk_payload(notification: Notification, base_url: str) -> dict[str, Any]:
    link = absolute(base_url, notification.link)
    text = f"#### {notification.subject}\n\n{notification.body}\n\n[点击办理]({link})"
    return {"msgtype": "markdown", "markdown": {"title": notification.subject, "text": text}}


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """钉钉's 加签: base64(HMAC-SHA256(key=secret, "timestamp\\nsecret")), URL-encoded."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def dingtalk_url(webhook: str, secret: str | None, now: datetime) -> str:
    if not secret:
        return webhook
    timestamp = int(now.timestamp() * 1000)
    return f"{webhook}&timestamp={timestamp}&sign={dingtalk_sign(timestamp, secret)}"


async def post_robot(client: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> None:
    """POST a robot message; anything but HTTP 200 with errcode 0 is a DeliveryError."""
    try:
        response = await client.post(url, json=payload, timeout=10)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")
    try:
        answer = response.json()
    except ValueError as exc:
        raise DeliveryError(f"not JSON: {response.text[:200]}") from exc
    if answer.get("errcode") != 0:
        raise DeliveryError(f"errcode {answer.get('errcode')}: {answer.get('errmsg')}")


# --- the robots and quiet hours configured ----------------------------------------------


@dataclass(frozen=True)
class RobotHook:
    webhook: str
    secret: str | None = None  # 钉钉's 加签 secret


def robot_hooks(settings: Settings) -> dict[tuple[str, Channel], RobotHook]:
    """Every group robot configured, by (target, channel): the office's and each unit's."""
    hooks: dict[tuple[str, Channel], RobotHook] = {}

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    if settings.notify_wecom_webhook:
        hooks[(OFFICE_ROBOT, "wecom")] = RobotHook(settings.notify_wecom_webhook)
    if settings.notify_dingtalk_webhook:
        hooks[(OFFICE_ROBOT, "dingtalk")] = RobotHook(
            settings.notify_dingtalk_webhook, secret(settings.notify_dingtalk_secret)
        )
    for code, hook in settings.notify_wecom_unit_webhooks.items():
        hooks[(unit_robot(code), "wecom")] = RobotHook(hook)
    for code, hook in settings.notify_dingtalk_unit_webhooks.items():
        hooks[(unit_robot(code), "dingtalk")] = RobotHook(
            hook, secret(settings.notify_dingtalk_unit_secrets.get(code))
        )
    return hooks


def robots_of(hooks: dict[tuple[str, Channel], RobotHook]) -> Robots:
    """The robots as the rules see them: which channels the office and each unit have."""
    office = frozenset(c for (t, c) in hooks if t == OFFICE_ROBOT)
    units: dict[str, frozenset[Channel]] = {}
    for t, c in hooks:
        if t.startswith("robot:unit:"):
            code = t.removeprefix("robot:unit:")
            units[code] = units.get(code, frozenset()) | {c}
    return Robots(office, units)


async def send_robot(
    client: httpx.AsyncClient,
    channel: Channel,
    hook: RobotHook,
    notification: Notification,
    base_url: str,
    now: datetime,
) -> None:
    if channel == "wecom":
        await post_robot(client, hook.webhook, wecom_payload(notification, base_url))
    else:
        url = dingtalk_url(hook.webhook, hook.secret, now)
        await post_robot(client, url, dingtalk_payload(notification, base_url))


def quiet_hours(text: str) -> QuietHours | None:
    """`"22:00-08:00"` as quiet hours; empty: none."""
    if not text.strip():
        return None
    start, _, end = text.partition("-")
    return QuietHours(time.fromisoformat(start.strip()), time.fromisoformat(end.strip()))


def policy_from_settings(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        attempts=settings.notify_retry_attempts,
        first_delay=timedelta(seconds=settings.notify_retry_first_delay_s),
    )


def smtp_from_settings(settings: Settings) -> SmtpSettings | None:
    if not settings.notify_smtp_host:
        return None
    password = settings.notify_smtp_password
    return SmtpSettings(
        host=settings.notify_smtp_host,
        port=settings.notify_smtp_port,
        starttls=settings.notify_smtp_starttls,
        sender=settings.notify_smtp_sender,
        username=settings.notify_smtp_username,
        password=password.get_secret_value() if password is not None else "",
        ca_file=str(settings.notify_smtp_ca_file or ""),
    )
