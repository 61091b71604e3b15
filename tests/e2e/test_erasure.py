"""Crypto-shredding after a whole round: one nominee erased, every proof of the audit intact.

The demo's past round is played through the real commands (deploy/demo_round.py: 24
nominations, audit, scoring, decision, notice, objection, results, awards, payroll,
publicity), then the office erases one nominee who did not win (a winner's erasure is
refused: a legal hold), and every service scrubs its projections on the fact by itself
(shared/scrub.py). Afterwards their name and employee number are in no table of any
database (searched byte-wise in `pg_dump`), in no message of FLOWERS or PAYROLL (raw bytes;
PAYROLL holds no winner's either, the payroll reader opens them), the chains verify, every
projection rebuilt equals the live one, and the round's statistics are what they were.
Nor are they in any file the system makes from the round (tests/e2e/exports.py), in any log
line a service wrote meanwhile (tests/service_logs.py), or in the servers' logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import asyncpg
import pytest

from deploy import audit_asof
from deploy.demo import current_round, demo_directory
from deploy.demo_round import play_demo
from deploy.embedded import _pg_bin_dir
from services.gateway.demo import DEMO_ACCOUNTS
from services.nomination.app import build_runtime as nomination_runtime
from services.publicity.app import build_runtime as publicity_runtime
from services.review.app import build_runtime as review_runtime
from services.rewards.app import RewardsRuntime
from services.rewards.app import build_runtime as rewards_runtime
from shared import audit
from shared.bus import EVENTS_STREAM, PAYROLL_STREAM
from shared.database_roles import AUDITOR, KEYS
from shared.keystore import open_keystore
from shared.payroll_reader import payroll_reader
from shared.personal_data import ERASED, KEYRING
from shared.rounds import Cadence
from shared.rpc import RemoteError
from shared.settings import Settings, with_database
from tests.e2e.exports import audit_events, round_exports
from tests.service_logs import ServiceLogs
from tests.support import admin_connect, connect_as, eventually, rpc_client, until_scrubbed

ROUND_SERVICES = ("nomination", "review", "rewards", "publicity")  # what the demo round runs
RUNTIMES = (nomination_runtime, review_runtime, rewards_runtime, publicity_runtime)

STATISTICS = {
    "nomination": [
        "SELECT count(*) FROM nominations",
        "SELECT string_agg(unit_code || ':' || category || ':' || status, ',' ORDER BY "
        "unit_code, category, status) FROM nominations",
    ],
    "review": [
        "SELECT count(*) FROM candidates",
        "SELECT count(*) FROM scores",
        "SELECT count(*) FROM winners",
        "SELECT count(*) FROM objections",
    ],
    "rewards": [
        "SELECT count(*) FROM awards",
        "SELECT sum(amount)::text FROM adjustments",
    ],
    "publicity": ["SELECT count(*) FROM materials", "SELECT count(*) FROM stat_nominations"],
}


async def statistics(settings: Settings) -> dict[str, list[object]]:
    """The round's non-personal facts: counts, flowers, units, amounts."""
    found: dict[str, list[object]] = {}
    for service, queries in STATISTICS.items():
        conn = await asyncpg.connect(settings.database_url_for(service, login=AUDITOR))
        try:
            found[service] = [await conn.fetchval(q) for q in queries]
        finally:
            await conn.close()
    return found


def dump(pg_url: str, database: str) -> bytes:
    """The whole database as `pg_dump` writes it (schema and every row)."""
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run(
        [str(_pg_bin_dir() / "pg_dump"), "--no-owner", with_database(pg_url, database)],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    ).stdout


async def flowers_messages(nats_url: str) -> list[bytes]:
    """Every message of FLOWERS as stored: its raw bytes."""
    return await stream_messages(nats_url, EVENTS_STREAM)


async def stream_messages(nats_url: str, stream: str) -> list[bytes]:
    """Every message of `stream` as stored: its raw bytes."""
    nc = await admin_connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        return [
            (await js.get_msg(stream, seq)).data or b""
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
        ]
    finally:
        await nc.close()


def holding(blobs: Iterable[bytes], needles: Iterable[str]) -> list[str]:
    return [n for n in needles for b in blobs if n.encode() in b]


async def round_as_of(settings: Settings, round_id: str) -> dict[str, object]:
    """`flowers audit as-of` for the round, now (as the auditor, keys read as it may)."""
    urls = {s: settings.database_url_for(s, login=AUDITOR) for s in ROUND_SERVICES}
    keys = await open_keystore(settings, login=AUDITOR)
    KEYRING.install(keys)
    try:
        (state,) = await audit_asof.as_of(urls, datetime.now(UTC), settings, round_id)
    finally:
        KEYRING.uninstall(keys)
        await keys.pool.close()
    return state


def facts_of(state: dict[str, object]) -> list[list[tuple[str, ...]]]:
    """What an erasure must not change: per nomination its unit, flower and status; awards."""
    nominations = state["nominations"]
    awards = state["awards"]
    assert isinstance(nominations, list)
    assert isinstance(awards, list)
    return [
        sorted((n["unit_code"], n["category"], n["status"]) for n in nominations),
        sorted((a["category"], str(a["amount"])) for a in awards),
    ]


async def test_an_erased_nominee_is_nowhere_while_every_proof_holds(
    settings: Settings,
    pg_url: str,
    nats_url: str,
    service_logs: ServiceLogs,
    server_logs: Callable[[], bytes],
) -> None:
    users = {d.username: str(uuid.uuid5(uuid.NAMESPACE_URL, d.username)) for d in DEMO_ACCOUNTS}
    now = datetime.now(UTC)
    current = current_round(now, Cadence(settings.cadence), settings.deadline_day)
    await play_demo(
        settings, demo_directory(), current.previous(), current, now, users, lambda _: None
    )

    # Someone nominated who did not win (the one whose data no legal duty keeps).
    conn = await asyncpg.connect(settings.database_url_for("nomination", login=AUDITOR))
    try:
        rewards = await asyncpg.connect(settings.database_url_for("rewards", login=AUDITOR))
        try:
            awarded = await rewards.fetch("SELECT employee_no, name FROM awards")
            winners = {r["employee_no"] for r in awarded}
        finally:
            await rewards.close()
        nominees = await conn.fetch(
            "SELECT employee_no, name FROM nominations ORDER BY employee_no"
        )
        person = next(r for r in nominees if r["employee_no"] not in winners)
        other = next(r for r in nominees if r["employee_no"] != person["employee_no"])
    finally:
        await conn.close()
    employee_no, name = person["employee_no"], person["name"]
    # Before: the person is everywhere (so the search below can find them).
    assert holding([dump(pg_url, settings.database_name("nomination"))], [name, employee_no])
    before = await statistics(settings)
    as_of_before = await round_as_of(settings, current.previous().id)
    assert len(facts_of(as_of_before)[0]) == before["nomination"][0]  # every nomination

    # Every service of the round runs: each scrubs its projections on the fact by itself.
    runtimes = [build(settings) for build in RUNTIMES]
    for runtime in runtimes:
        await runtime.start()
    nomination = runtimes[0]
    gateway = await connect_as("gateway", nats_url)
    try:
        rpc = rpc_client(gateway, timeout=30)
        office = {"actor": users["office"], "roles": ["office"]}
        result = await rpc.command(
            "nomination",
            "erase_personal_data",
            {
                **office,
                "employee_no": employee_no,
                "reason": "本人书面申请删除（个保法第四十七条）",
            },
        )
        assert result["events"] == ["PersonalDataErased"]
        assert result["key_destroyed"] is True
        with pytest.raises(RemoteError) as again:  # nothing is held any more
            await rpc.command(
                "nomination",
                "erase_personal_data",
                {**office, "employee_no": employee_no, "reason": "再次申请"},
            )
        assert again.value.error.code == "no_personal_data"
        # A winner's payroll facts are kept 30 years (会计档案管理办法): a legal hold.
        with pytest.raises(RemoteError) as held:
            await rpc.command(
                "nomination",
                "erase_personal_data",
                {**office, "employee_no": sorted(winners)[0], "reason": "本人书面申请删除"},
            )
        assert held.value.error.code == "legal_hold"
        assert "会计档案管理办法" in held.value.error.message_zh
        erasure = await nomination.store.pool.fetchval(
            "SELECT event_id FROM events WHERE type = 'PersonalDataErased' "
            "ORDER BY position DESC LIMIT 1"
        )
        await until_scrubbed(runtimes, erasure)  # no one rebuilds by hand: each scrubs itself
        feed = next(r for r in runtimes if isinstance(r, RewardsRuntime)).payroll_feed

        async def fed() -> bool:
            return bool(await feed.checkpoint() == await feed.store_head())

        await eventually(fed, what="the payroll feed to catch up with the rewards log")
    finally:
        await gateway.close()
        for runtime in reversed(runtimes):
            await runtime.stop()

    # Every projection rebuilt from the log equals the live one (the scrub re-derived it),
    # while the keys are read as the auditor would.
    keys = await open_keystore(settings, login=AUDITOR)
    KEYRING.install(keys)
    nc = await admin_connect(nats_url)
    try:
        urls = {s: settings.database_url_for(s, login=AUDITOR) for s in ROUND_SERVICES}
        report = await audit.verify(urls, nc.jetstream())
        assert report.ok, audit.render(report)
    finally:
        await nc.close()
        KEYRING.uninstall(keys)
        await keys.pool.close()

    dumps = [dump(pg_url, settings.database_name(database)) for database in (*ROUND_SERVICES, KEYS)]
    assert holding(dumps, [name, employee_no]) == []
    assert holding(await flowers_messages(nats_url), [name, employee_no]) == []
    # PAYROLL: one line per award, each sealed as stored (no winner's name or employee
    # number in clear, the erased nominee in none); the payroll system's reader opens them.
    payroll = await stream_messages(nats_url, PAYROLL_STREAM)
    assert len(payroll) == before["rewards"][0]
    assert holding(payroll, [name, employee_no]) == []
    assert holding(payroll, [v for r in awarded for v in (r["employee_no"], r["name"])]) == []
    async with payroll_reader(settings) as reader:
        lines = await reader.open(payroll)
    assert sorted((x.employee_no, x.name) for x in lines) == sorted(map(tuple, awarded))
    # Someone else's data is still there, and the erased nominee reads 已删除.
    assert holding(dumps[:1], [other["name"], other["employee_no"]])
    assert ERASED.encode() in dumps[0]
    assert await statistics(settings) == before
    # As of now, from the logs alone: the same round, the person erased.
    as_of_after = await round_as_of(settings, current.previous().id)
    assert facts_of(as_of_after) == facts_of(as_of_before)
    seen = json.dumps(as_of_after, ensure_ascii=False, default=str)
    assert name not in seen
    assert employee_no not in seen
    assert ERASED in seen

    # No file the system makes from the round names them: the office's and the public's
    # downloads through the gateway, the auditor's event listing; another employee's own
    # export still holds that employee.
    files = await round_exports(settings, current.previous().id, other["employee_no"])
    files |= await audit_events(settings, ROUND_SERVICES)
    assert {f for f, content in files.items() if holding([content], [name, employee_no])} == set()
    # The search reads each kind: another nominee in the sheet and their own export, the
    # notice's winners in its PDF.
    assert holding([files["推荐汇总表.xlsx"]], [other["name"], other["employee_no"]])
    assert holding([files[f"个人信息导出-{other['employee_no']}.xlsx"]], [other["name"]])
    notices = json.loads(files["公示.json"])["notices"]
    assert holding([files["公示.pdf"]], [w["name"] for n in notices for w in n["winners"]])

    # No log line any service wrote during the round and the erasure names them. The capture
    # saw every service's lines, warnings too: the round's id, each service's scrub.
    logged = [json.loads(line) for line in service_logs.lines if line.startswith("{")]
    assert "warning" in {line["level"] for line in logged}
    scrubbing = {line["service"] for line in logged if line["event"] == "personal_data_scrubbed"}
    assert scrubbing >= set(ROUND_SERVICES)
    assert service_logs.holding([current.previous().id])
    assert service_logs.holding([name, employee_no]) == []
    # Nor what PostgreSQL and NATS logged meanwhile (an error's DETAIL would quote a key).
    assert holding([server_logs()], [name, employee_no]) == []
