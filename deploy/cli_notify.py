"""`flowers notify test --channel … [--unit CODE]`: a test message through one configured
channel (a unit's group robot with --unit).

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
    unit: str = typer.Option(
        "",
        "--unit",
        help="A unit's group robot (FLOWERS_NOTIFY_*_UNIT_WEBHOOKS) instead of the office's.",
    ),
) -> None:
    """Send one test message through CHANNEL with the configured settings."""
    import httpx

    from services.notification.channels import (
        DeliveryError,
        compose_email,
        robot_hooks,
        send_email,
        send_robot,
        smtp_from_settings,
    )
    from services.notification.domain import (
        OFFICE_ROBOT,
        Channel,
        Notification,
        notification_id,
        unit_robot,
    )
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
        target = unit_robot(unit) if unit else OFFICE_ROBOT
        robot: Channel = "wecom" if channel is ChannelName.wecom else "dingtalk"
        hook = robot_hooks(settings).get((target, robot))
        if hook is None:
            raise DeliveryError(
                f"no {channel} robot for unit {unit}: FLOWERS_NOTIFY_{channel.upper()}"
                f"_UNIT_WEBHOOKS has no {unit!r}"
                if unit
                else f"FLOWERS_NOTIFY_{channel.upper()}_WEBHOOK is not set"
            )
        async with httpx.AsyncClient() as client:
            await send_robot(client, robot, hook, note, settings.notify_base_url, at)
        name = "企业微信" if channel is ChannelName.wecom else "钉钉"
        return f"accepted by the {name} robot" + (f" of unit {unit}" if unit else "")

    try:
        typer.echo(f"{channel}: {asyncio.run(send(now))}")
    except DeliveryError as exc:
        typer.echo(f"flowers: {channel} failed: {exc}", err=True)
        raise typer.Exit(1) from None
