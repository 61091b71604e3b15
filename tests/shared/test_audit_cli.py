"""`flowers audit verify|rebuild|as-of|events|anchor` against the four running services."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from typer.testing import CliRunner, Result

from deploy.cli import app
from services.nomination.app import build_runtime as build_nomination
from services.notification.app import build_runtime as build_notification
from services.publicity.app import build_runtime as build_publicity
from services.review.app import build_runtime as build_review
from services.rewards.app import build_runtime as build_rewards
from shared.clock import SHANGHAI, FixedClock
from shared.service import ServiceRuntime
from shared.settings import PROJECT_ROOT, Settings
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

OFFICE = {"actor": "office-1", "roles": ["office", "admin"]}
ROWS = [
    {
        "employee_no": f"A{i}",
        "name": f"职工{i}",
        "unit_code": "WY",
        "unit_name": "物业服务中心",
        "position": "水电工",
        "active": True,
    }
    for i in range(3)
]


@pytest.fixture
async def running(settings: Settings, nc: NatsClient) -> AsyncIterator[list[ServiceRuntime]]:
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    runtimes = [
        build(settings, clock=clock)
        for build in (
            build_nomination,
            build_review,
            build_rewards,
            build_publicity,
            build_notification,
        )
    ]
    for runtime in runtimes:
        await runtime.start()
    rpc = rpc_client(nc)
    await rpc.command("nomination", "import_directory", {**OFFICE, "rows": ROWS})
    await rpc.command(
        "nomination", "open_round", {**OFFICE, "round_id": "2026-Q4"}, correlation_id="corr-open"
    )

    async def settled() -> bool:
        for runtime in runtimes:
            assert runtime.relay is not None
            if await runtime.relay.checkpoint() != await runtime.store.head():
                return False
        seen = await runtimes[3].store.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = 'publicity-stats'"
        )
        noted = await runtimes[4].store.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = 'notification-facts'"
        )
        return bool(seen == 2 and noted == 2)  # the unit and the round, to both

    await eventually(settled, timeout=15, what="everything relayed and consumed")
    try:
        yield runtimes
    finally:
        for runtime in reversed(runtimes):
            await runtime.stop()


async def flowers(settings: Settings, *args: str) -> Result:
    """Run the CLI in a thread (it runs its own event loop), pointed at the test servers."""
    env = {
        "FLOWERS_NATS_URL": settings.nats_url,
        "FLOWERS_DATABASE_URL": settings.database_url,
        "FLOWERS_DATABASE_PREFIX": settings.database_prefix,
    }
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def test_an_auditor_verifies_anchors_rebuilds_browses_and_looks_back_from_the_command_line(
    running: list[ServiceRuntime], settings: Settings, tmp_path: Path
) -> None:
    verified = await flowers(settings, "audit", "verify", "--json")
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.output)
    assert report["ok"] is True
    assert [s["service"] for s in report["services"]] == [
        "nomination",
        "review",
        "rewards",
        "publicity",
        "notification",
    ]
    projections = {
        (s["service"], p["projection"]) for s in report["services"] for p in s["projections"]
    }
    assert ("publicity", "statistics") in projections
    assert ("rewards", "awards") in projections

    anchors = tmp_path / "anchors.json"
    anchored = await flowers(settings, "audit", "anchor", "--output", str(anchors))
    assert anchored.exit_code == 0, anchored.output
    assert json.loads(anchors.read_text())["stores"]["nomination"]["position"] == 5
    text = await flowers(settings, "audit", "verify", "--anchors", str(anchors))
    assert text.exit_code == 0, text.output
    assert "anchor at position 5: unchanged since anchored" in text.output
    assert text.output.rstrip().endswith("verified: the log is intact.")

    await running[3].store.pool.execute("UPDATE stat_units SET name = '改过的名字'")
    broken = await flowers(settings, "audit", "verify")
    assert broken.exit_code == 1
    assert "stat_units[unit_code=WY]: name is '改过的名字' in the live table" in broken.output
    rebuilt = await flowers(settings, "audit", "rebuild", "publicity", "--projection", "statistics")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "publicity: rebuilt statistics" in rebuilt.output
    assert (await flowers(settings, "audit", "verify")).exit_code == 0

    path = await flowers(settings, "audit", "events", "--correlation", "corr-open", "--json")
    assert path.exit_code == 0, path.output
    # The round opened, and the notification service took note of it (same correlation).
    assert [json.loads(line)["type"] for line in path.output.splitlines()] == [
        "RoundOpened",
        "RoundFactNoted",
    ]
    table = await flowers(
        settings, "audit", "events", "--service", "nomination", "--type", "UnitRegistered"
    )
    assert "UnitRegistered" in table.output
    assert "office-1" in table.output

    now = datetime.now(SHANGHAI).isoformat()
    looked_back = await flowers(settings, "audit", "as-of", now, "--round", "2026-Q4", "--json")
    assert looked_back.exit_code == 0, looked_back.output
    [state] = json.loads(looked_back.output)
    assert state["round"]["status"] == "open"
    assert state["nominations"] == []
    assert (await flowers(settings, "audit", "as-of", "2026-12-01T09:00")).exit_code == 2
    unknown = await flowers(settings, "audit", "rebuild", "review", "--projection", "nope")
    assert unknown.exit_code == 2


async def test_every_json_output_is_json_alone_on_stdout(
    running: list[ServiceRuntime], settings: Settings
) -> None:
    """The real process (logging configured as `flowers` runs it): `--json | jq` works."""
    env = {
        **os.environ,
        "FLOWERS_NATS_URL": settings.nats_url,
        "FLOWERS_DATABASE_URL": settings.database_url,
        "FLOWERS_DATABASE_PREFIX": settings.database_prefix,
    }
    for args in (
        ("audit", "verify", "--json"),
        ("payroll", "reconcile", "--period", "2026-12", "--json"),
    ):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "deploy.cli",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=PROJECT_ROOT,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, (args, out, err)
        assert isinstance(json.loads(out), dict), (args, out)


async def test_verify_walks_the_access_record_and_names_a_record_changed_in_postgresql(
    running: list[ServiceRuntime], settings: Settings
) -> None:
    """`flowers audit verify` checks the gateway's access record of personal data too: its
    chain passes as the gateway wrote it, and a row the owner changed (its trigger switched
    off) in the real database fails the verification, named by position."""
    import uuid

    import asyncpg

    from services.gateway import access_log
    from services.gateway.accounts import User
    from services.gateway.auth import Principal
    from services.gateway.database import open_database

    pool = await open_database(settings)
    auditor = User(
        user_id=uuid.uuid4(),
        username="auditor",
        display_name="审计员",
        roles=frozenset({"auditor"}),
        unit_code=None,
        department=None,
        employee_no=None,
        active=True,
        created_at=datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI),
    )
    try:
        for i in range(3):
            await access_log.append(
                pool,
                at=datetime(2026, 12, 1, 9, i, tzinfo=SHANGHAI),
                viewer=Principal(auditor, via="session"),
                address="10.0.0.9",
                what="audit_event_opened",
                subjects=[f"A{i}"],
                detail={"positions": [f"nomination:{i + 1}"]},
            )
    finally:
        await pool.close()

    verified = await flowers(settings, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "OK   access log  chain intact (3 records)" in verified.output

    owner = await asyncpg.connect(settings.database_url_for("gateway", login="gateway_owner"))
    try:
        await owner.execute("ALTER TABLE personal_data_access DISABLE TRIGGER USER")
        await owner.execute("UPDATE personal_data_access SET subjects = '{}' WHERE position = 2")
    finally:
        await owner.close()
    broken = await flowers(settings, "audit", "verify")
    assert broken.exit_code == 1, broken.output
    assert "FAIL access log  chain BROKEN at record 2" in broken.output
    assert broken.output.rstrip().endswith("NOT verified.")
    as_json = await flowers(settings, "audit", "verify", "--json")
    report = json.loads(as_json.output)
    assert report["ok"] is False
    assert report["access_log"]["first_break"] == 2
    assert report["access_log"]["records"] == 1
    assert all(s["ok"] for s in report["services"])  # the stores themselves are intact
