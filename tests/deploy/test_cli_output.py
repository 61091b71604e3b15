"""The command line's stdout carries its output alone: logs go to stderr (`--json | jq`)."""

from __future__ import annotations

import json

import pytest
import structlog

from deploy import cli
from shared.logging import get_logger


def test_the_command_line_logs_to_stderr_and_prints_only_its_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = structlog.get_config()
    structlog.reset_defaults()  # unconfigured, structlog would print to stdout

    def a_command(prog_name: str) -> None:
        get_logger("deploy.cli_payroll").info("nats_connected", servers=["nats://x"])
        print(json.dumps({"period": "2026-12", "ok": True}))

    monkeypatch.setattr(cli, "app", a_command)
    try:
        cli.main()
    finally:
        structlog.configure(**saved)
    out, err = capsys.readouterr()
    assert json.loads(out) == {"period": "2026-12", "ok": True}
    assert "nats_connected" in err
