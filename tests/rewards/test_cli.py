"""`flowers payroll export|reconcile` against a running rewards service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from nats.aio.client import Client as NatsClient
from typer.testing import CliRunner, Result

from deploy.cli import app
from services.rewards.app import RewardsRuntime, build_runtime
from services.rewards.payroll import CSV_HEADER, parse_csv
from shared.clock import FixedClock
from shared.settings import Settings
from tests.rewards.support import NAMES, deliver, envelope, result
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")
PUBLISHED = datetime(2026, 12, 10, 10, 0, tzinfo=SH)  # before the cut-off: December
PERIOD = "2026-12"


@pytest.fixture
async def rewards(settings: Settings, nc: NatsClient) -> AsyncIterator[RewardsRuntime]:
    runtime = build_runtime(settings, clock=FixedClock(PUBLISHED))
    await runtime.start()
    try:
        await deliver(nc.jetstream(), envelope(result(8, PUBLISHED)))

        async def issued() -> bool:
            assert runtime.pool is not None
            return await runtime.pool.fetchval("SELECT count(*) FROM adjustments") == 8

        await eventually(issued, what="eight adjustments")
        yield runtime
    finally:
        await runtime.stop()


async def flowers(settings: Settings, *args: str) -> Result:
    """Run the CLI in a thread (it runs its own event loop), pointed at the test servers."""
    env = {"FLOWERS_NATS_URL": settings.nats_url, "FLOWERS_DATABASE_URL": settings.database_url}
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
async def test_the_exported_period_reads_back_in_chinese_in_either_encoding(
    rewards: RewardsRuntime, settings: Settings, tmp_path: Path, encoding: str
) -> None:
    target = tmp_path / f"payroll-{encoding}.csv"
    outcome = await flowers(
        settings, "payroll", "export", "--period", PERIOD, "--encoding", encoding, "-o", str(target)
    )
    assert outcome.exit_code == 0, outcome.output
    assert "8 adjustment(s)" in outcome.output
    assert "4000.00 CNY" in outcome.output
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    rows = parse_csv(data, encoding)  # type: ignore[arg-type]
    assert tuple(rows[0]) == CSV_HEADER
    assert [r[4] for r in rows[1:]] == list(NAMES)
    assert {r[11] for r in rows[1:]} >= {"2026年第四季度 拼搏之花 特殊贡献奖"}
    assert {r[6] for r in rows[1:]} == {"物业服务中心"}
    assert {r[8] for r in rows[1:]} == {"500.00"}


async def test_reconcile_exits_non_zero_until_payroll_acknowledged_everything(
    rewards: RewardsRuntime, settings: Settings, nc: NatsClient
) -> None:
    outcome = await flowers(settings, "payroll", "reconcile", "--period", PERIOD)
    assert outcome.exit_code == 1
    assert outcome.output.count("MISMATCH missing_acknowledgement") == 8
    assert "NOT balanced: 8 mismatch(es)" in outcome.output

    rpc = rpc_client(nc)
    items = (await rpc.query("rewards", "adjustments", {"period": PERIOD}))["items"]
    for item in items:
        await rpc.command(
            "rewards",
            "acknowledge",
            {"actor": "payroll-1", "roles": ["payroll"], "adjustment_id": item["adjustment_id"]},
        )
    outcome = await flowers(settings, "payroll", "reconcile", "--period", PERIOD)
    assert outcome.exit_code == 0, outcome.output
    assert "balanced" in outcome.output
    assert "2026年12月" in outcome.output


async def test_a_bad_period_is_refused_before_anything_is_asked(settings: Settings) -> None:
    outcome = await flowers(settings, "payroll", "export", "--period", "2026-13")
    assert outcome.exit_code == 2
    assert "2026-13" in outcome.output
