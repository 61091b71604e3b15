"""`flowers notify test --channel …`: a test message through one configured channel.

It reads the same settings the notification channels use (FLOWERS_NOTIFY_*, README
"Notifications"), sends once (no retries: the operator sees the error at once) and exits 1
with the channel's error when the message was not accepted.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from enum import StrEnum

import typer

notify_app = typer.Typer(help="Notifications: send a test message through a channel.")


class ChannelName(StrEnum):
    email = "email"
    wecom = "wecom"
    dingtalk = "dingtalk"


@notify_app.command("test")
def send_test(
    channel: ChannelName = typer.Option(..., "--channel", help="email, wecom or dingtalk."),
    to: list[str] = typer.Option(
        [], "--to", help="E-mail recipient (repeat for more); --channel email only."
    ),
) -> None:
    """Send one test message through CHANNEL with the configured settings."""
    import httpx

    from services.notification.channels import (
        DeliveryError,
        compose_email,
        dingtalk_payload,
        dingtalk_url,
        post_robot,
        send_email,
        smtp_from_settings,
        wecom_payload,
    )
    from services.notification.domain import Notification, notification_id
    from shared.clock import SystemClock, format_zh
    from shared.service import load_settings

    settings = load_settings()
    now = SystemClock().now()
    cause = uuid.uuid4()
    note = Notification(
        notification_id=notification_id(cause, f"test:{channel}", "drafts_ready"),
        rule="drafts_ready",
        recipient=f"test:{channel}",
        round_id="",
        subject="【测试】红花献给你通知渠道测试",
        body=f"这是一条测试消息，发送于{format_zh(now)}（北京时间）。收到即表示该通知渠道配置正确。",
        link="/",
        cause_id=cause,
    )

    async def send(at: datetime) -> str:
        if channel is ChannelName.email:
            smtp = smtp_from_settings(settings)
            if smtp is None:
                raise DeliveryError("FLOWERS_NOTIFY_SMTP_HOST is not set")
            if not to:
                raise DeliveryError("give at least one --to address")
            msg = compose_email(note, to, smtp.sender, settings.notify_base_url, at)
            await send_email(smtp, msg)
            return f"sent to {', '.join(to)} via {smtp.host}:{smtp.port}"
        async with httpx.AsyncClient() as client:
            if channel is ChannelName.wecom:
                if not settings.notify_wecom_webhook:
                    raise DeliveryError("FLOWERS_NOTIFY_WECOM_WEBHOOK is not set")
                payload = wecom_payload(note, settings.notify_base_url)
                await post_robot(client, settings.notify_wecom_webhook, payload)
                return "accepted by the 企业微信 robot"
            if not settings.notify_dingtalk_webhook:
                raise DeliveryError("FLOWERS_NOTIFY_DINGTALK_WEBHOOK is not set")
            secret = settings.notify_dingtalk_secret
            url = dingtalk_url(
                settings.notify_dingtalk_webhook,
                secret.get_secret_value() if secret is not None else None,
                at,
            )
            await post_robot(client, url, dingtalk_payload(note, settings.notify_base_url))
            return "accepted by the 钉钉 robot"

    try:
        typer.echo(f"{channel}: {asyncio.run(send(now))}")
    except DeliveryError as exc:
        typer.echo(f"flowers: {channel} failed: {exc}", err=True)
        raise typer.Exit(1) from None
