"""Winners' personal data in rewards' log and in PAYROLL: sealed, opened by payroll, shredded.

Real NATS and PostgreSQL: review's result reaches the rewards service, which stores its
awards and adjustments with the winners' employee numbers and names sealed and publishes
each adjustment to PAYROLL as stored. The payroll system pulls its durable consumer as the
NATS user `payroll` and opens the lines with the key store's read-only payroll role; once a
winner's key is destroyed their lines read 已删除, also in messages already delivered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from services.rewards.app import RewardsRuntime, build_runtime
from shared.bus import PAYROLL_CONSUMER, PAYROLL_STREAM
from shared.clock import FixedClock
from shared.database_roles import KEYS, PAYROLL_KEYS
from shared.payroll_reader import payroll_reader
from shared.personal_data import ERASED, KEYRING, MARKER
from shared.settings import Settings
from tests.rewards.support import deliver, envelope, event_counts, payroll_messages, result
from tests.rewards.support import revoked as revocation
from tests.support import connect_as, eventually

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")
PUBLISHED = datetime(2026, 11, 10, 10, 0, tzinfo=SH)
NOW = datetime(2026, 11, 10, 10, 0, 5, tzinfo=SH)
ADJUSTMENT_TYPES = ("AwardGranted", "PayrollAdjustmentIssued", "AwardRevoked")


@pytest.fixture
async def rewards(settings: Settings) -> AsyncIterator[RewardsRuntime]:
    runtime = build_runtime(settings, clock=FixedClock(NOW))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def pulled_as_payroll(nats_url: str, count: int) -> list[bytes]:
    """What the payroll system receives: `count` messages of its durable consumer, raw."""
    payroll = await connect_as("payroll", nats_url)
    try:
        js = payroll.jetstream()
        subscription = await js.pull_subscribe_bind(PAYROLL_CONSUMER, stream=PAYROLL_STREAM)
        messages = await subscription.fetch(count, timeout=10)
        for message in messages:
            await message.ack_sync()
        return [message.data or b"" for message in messages]
    finally:
        await payroll.close()


async def test_payroll_lines_carry_winners_sealed_payroll_opens_them_and_an_erased_one_reads_erased(
    rewards: RewardsRuntime, settings: Settings, nc: NatsClient
) -> None:
    published = result(3, PUBLISHED)
    await deliver(nc.jetstream(), envelope(published))

    async def three_in_payroll() -> bool:
        return await payroll_messages(nc.jetstream()) == 3

    await eventually(three_in_payroll, timeout=20, what="three adjustments in PAYROLL")
    raw = await pulled_as_payroll(settings.nats_url, 3)

    # No winner's employee number or name in clear: neither in PAYROLL nor in the log.
    winners = {w.employee_no: w for w in published.winners}
    clear = [s for w in winners.values() for s in (w.employee_no, w.name, w.deeds)]
    log = [
        json.dumps(r["data"], ensure_ascii=False).encode()
        for r in await rewards.store.pool.fetch(
            "SELECT data FROM events WHERE type = ANY($1::text[])", list(ADJUSTMENT_TYPES)
        )
    ]
    assert len(log) == 6
    for blob in [*raw, *log]:
        assert MARKER.encode() in blob
        assert [s for s in clear if s.encode() in blob] == []
    message = json.loads(raw[0])
    assert set(message["employee_no"]) >= {MARKER, "ct", "key"}
    assert message["amount"] == "500.00"  # money, flower, unit, period stay readable
    assert message["unit_name"] == "物业服务中心"

    # The payroll system opens them with its read-only role of the key store.
    async with payroll_reader(settings) as reader:
        lines = await reader.open(raw)
    assert {line.employee_no: line.name for line in lines} == {
        no: w.name for no, w in winners.items()
    }
    # The read models (the pull feed, the pages) still read clear values, from decoded events.
    feed = await rewards.store.pool.fetch("SELECT employee_no, name FROM adjustments")
    assert {r["employee_no"]: r["name"] for r in feed} == {no: w.name for no, w in winners.items()}

    # One winner's key destroyed (an erasure, or the retention job once the hold is over).
    erased = lines[0]
    keys = rewards.keys
    assert keys is not None
    subject = await keys.subject_of(erased.employee_no)
    assert subject is not None
    assert await keys.shred(subject, NOW)
    KEYRING.forget(subject)
    async with payroll_reader(settings) as reader:
        after = await reader.open(raw)
    assert after[0].name == ERASED
    assert after[0].employee_no == f"{ERASED}·{subject.hex[:8]}"
    assert after[0].amount == erased.amount
    assert after[0].period == erased.period
    assert [(line.employee_no, line.name) for line in after[1:]] == [
        (line.employee_no, line.name) for line in lines[1:]
    ]


async def test_a_reversal_line_is_sealed_too(
    rewards: RewardsRuntime, settings: Settings, nc: NatsClient
) -> None:
    published = result(1, PUBLISHED)
    js = nc.jetstream()
    await deliver(js, envelope(published))
    (winner,) = published.winners
    await deliver(js, envelope(revocation(winner, NOW), position=2))

    async def both_in_payroll() -> bool:
        return await payroll_messages(js) == 2

    await eventually(both_in_payroll, timeout=20, what="the award and its reversal in PAYROLL")
    assert (await event_counts(rewards))["PayrollAdjustmentReversed"] == 1
    raw = await pulled_as_payroll(settings.nats_url, 2)
    for blob in raw:
        assert winner.employee_no.encode() not in blob
        assert winner.name.encode() not in blob
    reason = await rewards.store.pool.fetchval(
        "SELECT data->'reason' FROM events WHERE type = 'AwardRevoked'"
    )
    assert MARKER in reason  # the revocation's reason is the winner's too
    async with payroll_reader(settings) as reader:
        award, reversal = await reader.open(raw)
    assert (award.kind, reversal.kind) == ("award", "reversal")
    assert reversal.reverses_adjustment_id == award.adjustment_id
    assert reversal.employee_no == award.employee_no == winner.employee_no
    assert reversal.name == winner.name
    assert str(reversal.amount) == "-500.00"


async def test_the_payroll_role_reads_keys_and_nothing_else_of_the_key_store(
    rewards: RewardsRuntime, settings: Settings
) -> None:
    keys = rewards.keys
    assert keys is not None
    await keys.subjects_for(["E99999"])
    conn = await asyncpg.connect(settings.database_url_for(KEYS, login=PAYROLL_KEYS))
    try:
        assert await conn.fetchval("SELECT count(key) FROM data_subjects") >= 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT employee_no FROM data_subjects")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE data_subjects SET key = NULL")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO data_subjects (subject_id, employee_no, key) VALUES ($1, 'X', NULL)",
                uuid.uuid4(),
            )
    finally:
        await conn.close()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # no service's database
        await asyncpg.connect(settings.database_url_for("rewards", login=PAYROLL_KEYS))
