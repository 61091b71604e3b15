"""`flowers notify test --channel …` against the servers the tests start."""

from __future__ import annotations

import email
import json
from email.message import EmailMessage
from email.policy import default

import pytest
from typer.testing import CliRunner

from deploy.cli import app
from tests.notification.servers import DING_SECRET, DING_TOKEN, WECOM_KEY, Inbox, Robots


def run(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str) -> tuple[int, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["notify", "test", *args])
    return result.exit_code, result.output


def test_a_test_mail_reaches_the_smtp_server(
    monkeypatch: pytest.MonkeyPatch, smtp_server: tuple[int, Inbox]
) -> None:
    port, inbox = smtp_server
    env = {"FLOWERS_NOTIFY_SMTP_HOST": "127.0.0.1", "FLOWERS_NOTIFY_SMTP_PORT": str(port)}
    code, output = run(monkeypatch, env, "--channel", "email", "--to", "ops@example.cn")
    assert code == 0, output
    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["ops@example.cn"]
    assert isinstance(envelope.content, bytes)
    parsed = email.message_from_bytes(envelope.content, policy=default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "【测试】红花献给你通知渠道测试"


def test_the_robots_accept_a_test_message_and_a_bad_secret_fails(
    monkeypatch: pytest.MonkeyPatch, robots: str
) -> None:
    env = {
        "FLOWERS_NOTIFY_WECOM_WEBHOOK": f"{robots}/cgi-bin/webhook/send?key={WECOM_KEY}",
        "FLOWERS_NOTIFY_DINGTALK_WEBHOOK": f"{robots}/robot/send?access_token={DING_TOKEN}",
        "FLOWERS_NOTIFY_DINGTALK_SECRET": DING_SECRET,
    }
    assert run(monkeypatch, env, "--channel", "wecom")[0] == 0
    assert run(monkeypatch, env, "--channel", "dingtalk")[0] == 0
    assert len(Robots.received) == 2
    code, output = run(
        monkeypatch, {"FLOWERS_NOTIFY_DINGTALK_SECRET": "SECwrong"}, "--channel", "dingtalk"
    )
    assert code == 1
    assert "sign not match" in output


def test_an_unconfigured_channel_says_which_setting_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLOWERS_NOTIFY_WECOM_WEBHOOK", raising=False)
    code, output = run(monkeypatch, {}, "--channel", "wecom")
    assert code == 1
    assert "FLOWERS_NOTIFY_WECOM_WEBHOOK is not set" in output


def test_a_units_robot_is_tested_with_unit_and_an_unknown_unit_is_named(
    monkeypatch: pytest.MonkeyPatch, robots: str
) -> None:
    hooks = json.dumps({"WY": f"{robots}/cgi-bin/webhook/send?key={WECOM_KEY}"})
    env = {"FLOWERS_NOTIFY_WECOM_UNIT_WEBHOOKS": hooks}
    code, output = run(monkeypatch, env, "--channel", "wecom", "--unit", "WY")
    assert code == 0, output
    assert "of unit WY" in output
    assert len(Robots.received) == 1
    code, output = run(monkeypatch, env, "--channel", "wecom", "--unit", "CY")
    assert code == 1
    assert "FLOWERS_NOTIFY_WECOM_UNIT_WEBHOOKS has no 'CY'" in output
