"""The nomination service through real NATS and PostgreSQL: a unit's part of a round."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.nomination.app import build_runtime
from shared.clock import SHANGHAI, FixedClock
from shared.rpc import RemoteError, RpcClient
from shared.service import ServiceRuntime
from shared.settings import PROJECT_ROOT, Settings
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

OFFICE = {"actor": "office-1", "roles": ["office"]}
DEADLINE = datetime(2026, 12, 25, 23, 59, 59, tzinfo=SHANGHAI)


def nominator(unit: str) -> dict[str, Any]:
    return {"actor": f"nominator-{unit}", "roles": ["nominator"], "actor_unit_code": unit}


DIRECTORY = [
    {
        "employee_no": f"E{u}{i}",
        "name": name,
        "unit_code": u,
        "unit_name": unit_name,
        "position": "维修工",
        "active": True,
    }
    for u, unit_name in (("WY", "物业服务中心"), ("CY", "餐饮服务中心"))
    for i, name in enumerate(("张伟", "李娜", "王强"))
]
DEEDS = "连续三年承担锅炉房改造任务，带领班组攻坚克难，节约成本十二万元，获得职工一致好评。" * 2


def submission(unit: str, employee_no: str, category: str = "striving") -> dict[str, Any]:
    return {
        **nominator(unit),
        "nomination_id": str(uuid.uuid4()),
        "round_id": "2026-Q4",
        "unit_code": unit,
        "employee_no": employee_no,
        "category": category,
        "deeds": DEEDS,
        "results": [{"metric": "节约成本", "value": "120000", "unit": "元"}],
        "evidence_links": ["https://example.com/report"],
        "recommendation": "同意推荐",
    }


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))


@pytest.fixture
def service_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"scheduler_interval_s": 0.05})


async def started(settings: Settings, clock: FixedClock) -> ServiceRuntime:
    runtime = build_runtime(settings, clock=clock)
    await runtime.start()
    return runtime


@pytest.fixture
async def service(
    service_settings: Settings, clock: FixedClock, nc: Any
) -> AsyncIterator[tuple[ServiceRuntime, RpcClient]]:
    runtime = await started(service_settings, clock)
    rpc = rpc_client(nc)
    await rpc.command("nomination", "import_directory", {**OFFICE, "rows": DIRECTORY})
    await rpc.command("nomination", "open_round", {**OFFICE, "round_id": "2026-Q4"})
    try:
        yield runtime, rpc
    finally:
        await runtime.stop()


async def refused(rpc: RpcClient, name: str, payload: dict[str, Any]) -> str:
    with pytest.raises(RemoteError) as caught:
        await rpc.command("nomination", name, payload)
    assert caught.value.error.message_zh
    assert caught.value.error.message_en
    return caught.value.error.code


async def test_a_unit_runs_its_part_of_a_round_over_nats(
    service: tuple[ServiceRuntime, RpcClient],
) -> None:
    _, rpc = service
    first = submission("WY", "EWY0")
    await rpc.command("nomination", "submit", first)
    await rpc.command(
        "nomination",
        "amend",
        {
            **{k: v for k, v in first.items() if k not in ("unit_code", "employee_no", "round_id")},
            "category": "reform",
            "recommendation": "单位党支部一致同意推荐",
        },
    )
    second = submission("WY", "EWY1", "dedication")
    await rpc.command("nomination", "submit", second)
    await rpc.command(
        "nomination",
        "withdraw",
        {
            **nominator("WY"),
            "nomination_id": second["nomination_id"],
            "reason": "本人婉拒",
        },
    )

    listed = await rpc.query(
        "nomination", "nominations", {"round_id": "2026-Q4", "unit_code": "WY"}
    )
    assert {(n["employee_no"], n["category"], n["status"]) for n in listed} == {
        ("EWY0", "reform", "submitted"),
        ("EWY1", "dedication", "withdrawn"),
    }
    detail = await rpc.query("nomination", "nomination", {"nomination_id": first["nomination_id"]})
    assert [h["type"] for h in detail["history"]] == ["NominationSubmitted", "NominationAmended"]
    assert detail["name"] == "张伟"
    quota = await rpc.query("nomination", "quota", {"round_id": "2026-Q4", "unit_code": "WY"})
    used = {c["category"]: c["used"] for c in quota["categories"]}
    assert used == {
        "striving": 0,
        "value_creation": 0,
        "dedication": 0,
        "reform": 1,
        "hard_work": 0,
    }
    [round_] = await rpc.query("nomination", "rounds", {})
    assert round_["status"] == "open"
    assert round_["seconds_left"] > 0


async def test_every_refusal_has_a_code_and_a_sentence(
    service: tuple[ServiceRuntime, RpcClient],
) -> None:
    _, rpc = service
    await rpc.command("nomination", "submit", submission("WY", "EWY0"))
    assert await refused(rpc, "submit", {**submission("WY", "EWY1"), **nominator("CY")}) == (
        "not_own_unit"
    )
    assert await refused(rpc, "submit", submission("WY", "ECY0")) == "employee_not_in_unit"
    assert await refused(rpc, "submit", submission("WY", "EWY1")) == "quota_exceeded"
    assert await refused(rpc, "submit", submission("WY", "EWY0", "reform")) == "already_nominated"
    assert await refused(
        rpc, "submit", {**submission("WY", "EWY2", "reform"), "deeds": "太短"}
    ) == ("deeds_length")
    assert await refused(rpc, "submit", {"actor": "x"}) == "invalid_input"


async def test_the_deadline_locks_nominations_and_a_unit_extension_lets_only_that_unit_in(
    service: tuple[ServiceRuntime, RpcClient], clock: FixedClock
) -> None:
    _runtime, rpc = service
    await rpc.command(
        "nomination",
        "extend_deadline",
        {
            **OFFICE,
            "round_id": "2026-Q4",
            "unit_code": "CY",
            "new_deadline": (DEADLINE + timedelta(days=2)).isoformat(),
            "reason": "系统故障补报",
        },
    )
    clock.set(DEADLINE)  # 23:59:59 on the 25th: still accepted
    await rpc.command("nomination", "submit", submission("WY", "EWY0"))
    clock.set(DEADLINE + timedelta(seconds=1))  # 00:00:00 on the 26th
    assert await refused(rpc, "submit", submission("WY", "EWY1", "reform")) == "deadline_passed"
    await rpc.command("nomination", "submit", submission("CY", "ECY0"))


async def test_a_restart_in_the_middle_of_a_round_loses_nothing(
    service: tuple[ServiceRuntime, RpcClient], service_settings: Settings, clock: FixedClock
) -> None:
    runtime, rpc = service
    await rpc.command("nomination", "submit", submission("WY", "EWY0"))
    await runtime.stop()
    restarted = await started(service_settings, clock)
    try:
        await rpc.command("nomination", "submit", submission("CY", "ECY0"))
        listed = await rpc.query("nomination", "nominations", {"round_id": "2026-Q4"})
        assert {n["employee_no"] for n in listed} == {"EWY0", "ECY0"}
        assert (await restarted.store.verify_chain()).ok
    finally:
        await restarted.stop()
        await runtime.start()  # the fixture stops it again


async def closed_events(runtime: ServiceRuntime) -> int:
    rows = await runtime.store.pool.fetchval(
        "SELECT count(*) FROM events WHERE type = 'NominationsClosed'"
    )
    return int(rows)


async def test_the_scheduler_closes_a_round_exactly_once_across_a_restart(
    service: tuple[ServiceRuntime, RpcClient], service_settings: Settings, clock: FixedClock
) -> None:
    runtime, rpc = service
    await rpc.command("nomination", "submit", submission("WY", "EWY0"))
    await runtime.stop()  # down across the deadline
    clock.set(DEADLINE + timedelta(minutes=5))
    first = await started(service_settings, clock)
    second = await started(service_settings, clock)  # a second instance races the first
    try:

        async def closed_once() -> bool:
            return await closed_events(first) == 1

        await eventually(closed_once, what="the scheduler to close the round")
        await first.stop()
        third = await started(service_settings, clock)
        [round_] = await rpc.query("nomination", "rounds", {})
        await third.stop()
        assert round_["status"] == "closed"
        assert round_["closed_how"] == "deadline"
        assert await closed_events(second) == 1
    finally:
        await second.stop()
        await runtime.start()


async def test_the_directory_import_command_reports_bad_rows_and_applies_nothing(
    service: tuple[ServiceRuntime, RpcClient], service_settings: Settings, tmp_path: Path
) -> None:
    good = "employee_no,name,unit_code,unit_name,position,active\nN1,陈静,WY,物业服务中心,客服,1\n"
    bad = good + ",缺工号,WY,物业服务中心,客服,1\n"
    env = {
        **os.environ,
        "FLOWERS_NATS_URL": service_settings.nats_url,
        "FLOWERS_DATABASE_URL": service_settings.database_url,
    }
    (tmp_path / "bad.csv").write_bytes(bad.encode("gbk"))
    (tmp_path / "good.csv").write_bytes(good.encode("utf-8-sig"))

    async def run(path: Path) -> tuple[int, str, str]:
        """The CLI in its own process; this loop keeps serving the in-process service."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "deploy.cli",
            "directory",
            "import",
            str(path),
            env=env,
            cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode or 0, out.decode(), err.decode()

    code, _, err = await run(tmp_path / "bad.csv")
    assert code == 1
    assert "bad.csv:3:" in err
    assert "nothing imported" in err
    code, out, err = await run(tmp_path / "good.csv")
    assert code == 0, err
    assert "1 employee(s) added" in out
    assert "新增职工 1 名" in out
    _, out, _ = await run(tmp_path / "good.csv")
    assert "No changes" in out
    assert "名册已与文件一致" in out


async def test_two_hundred_nominators_submitting_at_once_all_get_through(
    service_settings: Settings, clock: FixedClock, nc: Any
) -> None:
    """On deadline day every nomination goes to one round's stream: none may be refused
    for having raced another."""
    settings = service_settings.model_copy(update={"quota_per_unit_category": 40})
    runtime = await started(settings, clock)
    try:
        rpc = rpc_client(nc, timeout=30)
        staff = [
            {
                "employee_no": f"W{i:03d}",
                "name": f"职工{i}",
                "unit_code": "WY",
                "unit_name": "物业服务中心",
                "position": "维修工",
                "active": True,
            }
            for i in range(200)
        ]
        await rpc.command("nomination", "import_directory", {**OFFICE, "rows": staff})
        await rpc.command("nomination", "open_round", {**OFFICE, "round_id": "2026-Q4"})
        categories = ["striving", "value_creation", "dedication", "reform", "hard_work"]
        submissions = [submission("WY", f"W{i:03d}", categories[i % 5]) for i in range(200)]
        await asyncio.gather(*(rpc.command("nomination", "submit", s) for s in submissions))
        listed = await rpc.query("nomination", "nominations", {"round_id": "2026-Q4"})
        assert len(listed) == 200
        assert (await runtime.store.load("round-2026-Q4")).version == 201
    finally:
        await runtime.stop()


async def test_a_round_commands_reads_come_in_one_statement_with_every_part(
    service: tuple[ServiceRuntime, RpcClient],
) -> None:
    from services.nomination.handlers import NominationHandlers
    from shared.contracts.nomination_commands import (
        AmendNomination,
        RecordConsent,
        ReopenForUnit,
        SubmitNomination,
    )
    from shared.errors import NotFound

    runtime, rpc = service
    first = submission("WY", "EWY0")
    await rpc.command("nomination", "submit", first)
    pool = runtime.store.pool
    rejected, other_round = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        "INSERT INTO rejections (nomination_id, round_id) VALUES ($1, '2026-Q4'), ($2, 'X')",
        rejected,
        other_round,
    )
    await pool.execute(
        "INSERT INTO past_wins (employee_no, category, round_id, revoked) VALUES "
        "('EWY1', 'striving', '2026-Q3', false), ('EWY1', 'reform', '2026-Q2', true), "
        "('ECY0', 'striving', '2026-Q3', false)"
    )
    await pool.execute("INSERT INTO audits_started (round_id) VALUES ('2026-Q4')")
    handlers = NominationHandlers(runtime)
    runtime.settings = runtime.settings.model_copy(update={"cooldown_rounds": 2})

    submit = SubmitNomination.model_validate(submission("WY", "EWY1"))
    reads = await handlers._reads(submit)
    assert reads.round_id == "2026-Q4"
    assert set(reads.directory.employees) == {"EWY1"}
    assert reads.directory.employees["EWY1"].name == "李娜"
    assert {u.code: u.name for u in reads.directory.units.values()} == {"WY": "物业服务中心"}
    assert reads.rejected == frozenset({rejected})
    assert [(w[0], w[1].value, w[2]) for w in reads.winners] == [("EWY1", "striving", "2026-Q3")]
    assert (reads.audit_started, reads.result_published) == (False, False)

    # An amendment: the nomination's own round, no directory, every past win.
    amend = AmendNomination.model_validate(
        {k: v for k, v in first.items() if k not in ("unit_code", "employee_no", "round_id")}
    )
    reads = await handlers._reads(amend)
    assert reads.round_id == "2026-Q4"
    assert (reads.directory.employees, reads.directory.units) == ({}, {})
    assert reads.rejected == frozenset({rejected})
    assert len(reads.winners) == 2

    reopen = ReopenForUnit.model_validate(
        {
            **OFFICE,
            "round_id": "2026-Q4",
            "unit_code": "CY",
            "new_deadline": "2026-12-28T18:00:00+08:00",
            "reason": "系统故障",
        }
    )
    reads = await handlers._reads(reopen)
    assert reads.audit_started is True
    assert set(reads.directory.units) == {"CY"}
    assert (reads.rejected, reads.winners) == (frozenset(), [])

    await pool.execute("INSERT INTO results_published (round_id) VALUES ('2026-Q4')")
    consent = RecordConsent.model_validate(
        {**nominator("WY"), "nomination_id": first["nomination_id"], "consent": {"uses": []}}
    )
    assert (await handlers._reads(consent)).result_published is True
    with pytest.raises(NotFound):
        await handlers._reads(consent.model_copy(update={"nomination_id": uuid.uuid4()}))
