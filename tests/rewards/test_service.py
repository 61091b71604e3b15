"""The rewards service against real NATS and PostgreSQL: exactly once, whatever happens.

Review's events are put on the bus the way review's relay would; the rewards runtime runs
in-process (its consumer, relay and PAYROLL feed included) and is stopped and replaced to
play a process that dies.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from services.rewards import projections
from services.rewards.app import CONSUMER, RewardsRuntime, build_runtime
from shared.bus import HDR_MSG_ID, PAYROLL_STREAM
from shared.clock import FixedClock
from shared.contracts.rewards import payroll_subject
from shared.payroll_reader import payroll_reader
from shared.rpc import RemoteError, RpcClient
from shared.settings import Settings
from tests.rewards.support import (
    deliver,
    envelope,
    event_counts,
    export_rows,
    payroll_messages,
    payroll_subjects,
    result,
    revoked,
)
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")
PUBLISHED = datetime(2026, 12, 28, 10, 0, tzinfo=SH)  # after the December cut-off: January
NOW = datetime(2026, 12, 28, 10, 0, 5, tzinfo=SH)
PERIOD = "2027-01"
ROUND_OF = 200


async def start(settings: Settings) -> RewardsRuntime:
    runtime = build_runtime(settings, clock=FixedClock(NOW))
    await runtime.start()
    return runtime


@pytest.fixture
async def rewards(settings: Settings) -> AsyncIterator[RewardsRuntime]:
    runtime = await start(settings)
    try:
        yield runtime
    finally:
        await runtime.stop()


# The tests' own hands on the bus: a client as the NATS admin (a rewards process may publish
# neither review's events nor commands), set for each test by the fixture below.
_BUS: list[NatsClient] = []


@pytest.fixture(autouse=True)
def bus(nc: NatsClient) -> Iterator[None]:
    _BUS.append(nc)
    yield
    _BUS.remove(nc)


def js_of(_: RewardsRuntime) -> JetStreamContext:
    """What the test publishes (review's events) and reads (PAYROLL) beside `runtime`."""
    return _BUS[-1].jetstream()


def rpc_of(_: RewardsRuntime) -> RpcClient:
    return rpc_client(_BUS[-1])


async def all_paid_once(runtime: RewardsRuntime, count: int) -> None:
    """`count` awards and adjustments: in the log, in PAYROLL (one per subject), in the export."""

    async def in_log() -> bool:
        return (await event_counts(runtime)).get("PayrollAdjustmentIssued", 0) >= count

    await eventually(in_log, timeout=20, what="the adjustments in the log")
    js = js_of(runtime)

    async def in_stream() -> bool:
        return await payroll_messages(js) >= count

    await eventually(in_stream, timeout=20, what="the adjustments in stream PAYROLL")
    counts = await event_counts(runtime)
    assert counts["AwardGranted"] == counts["PayrollAdjustmentIssued"] == count
    issued = {
        str(r["adjustment_id"])
        for r in await runtime.store.pool.fetch("SELECT adjustment_id FROM adjustments")
    }
    assert len(issued) == count
    subjects = await payroll_subjects(js)
    assert await payroll_messages(js) == count
    assert set(subjects) == {payroll_subject(uuid.UUID(a)) for a in issued}
    assert set(subjects.values()) == {1}
    rows = await export_rows(rpc_of(runtime), PERIOD)
    assert len(rows) == count + 1  # and the header
    assert {r[1] for r in rows[1:]} == issued


async def test_a_result_delivered_twice_pays_each_of_200_winners_once(
    rewards: RewardsRuntime,
) -> None:
    js = js_of(rewards)
    published = envelope(result(ROUND_OF, PUBLISHED))
    await deliver(js, published)
    await deliver(js, published, msg_id="redelivered-after-the-window")  # the inbox's case
    # The same result under another event id (re-published by a confused relay): the
    # derived award ids are the guard here.
    await deliver(js, envelope(result(ROUND_OF, PUBLISHED)))
    await all_paid_once(rewards, ROUND_OF)

    async def all_three_seen() -> bool:
        stats = rewards.consumers[0].stats
        return stats.handled + stats.duplicates == 3

    await eventually(all_three_seen, what="the three deliveries")
    assert rewards.consumers[0].stats.duplicates == 1
    assert await rewards.store.pool.fetchval("SELECT count(*) FROM inbox") == 2
    assert (await rewards.store.verify_chain()).ok


async def test_a_rewards_process_killed_mid_round_and_restarted_pays_each_winner_once(
    settings: Settings,
) -> None:
    # First life: dies inside the result's transaction, after 100 of the 200 awards.
    first = await start(settings)
    died = asyncio.Event()

    async def die_mid_round(done: int) -> None:
        if done >= 100:
            died.set()
            raise asyncio.CancelledError  # the process is gone: no commit, no ack

    first.handlers.after_chunk = die_mid_round
    await deliver(js_of(first), envelope(result(ROUND_OF, PUBLISHED)))
    await eventually(died.is_set, what="the first process to die mid-round")
    await first.stop()
    assert (await event_counts_of(settings)).get("AwardGranted", 0) == 0

    # Second life: takes the result again (redelivered after ack_wait) and commits it,
    # then dies while publishing to PAYROLL, after a batch went out but before its checkpoint.
    second = build_runtime(settings, clock=FixedClock(NOW))
    second.payroll_feed.batch_size = 50
    checkpoints = 0
    died_publishing = asyncio.Event()

    async def die_before_third_checkpoint(position: int) -> None:
        nonlocal checkpoints
        checkpoints += 1
        if checkpoints == 3:
            died_publishing.set()
            raise asyncio.CancelledError

    second.payroll_feed.before_checkpoint = die_before_third_checkpoint
    await second.start()
    await eventually(died_publishing.is_set, timeout=20, what="the second process to die")
    assert await payroll_messages(js_of(second)) == 150
    await second.stop()

    # Third life: publishes again from the checkpoint; the server already holds 50 of them.
    third = build_runtime(settings, clock=FixedClock(NOW))
    third.payroll_feed.batch_size = 50
    await third.start()
    try:
        await all_paid_once(third, ROUND_OF)

        async def caught_up() -> bool:
            return await third.payroll_feed.checkpoint() == await third.store.head()

        await eventually(caught_up, what="the feed's checkpoint")
        stats = third.payroll_feed.stats
        assert (stats.published, stats.already_there) == (50, 50)
        assert (
            await third.store.pool.fetchval(
                "SELECT count(*) FROM inbox WHERE consumer = $1", CONSUMER
            )
            == 1
        )
    finally:
        await third.stop()


async def event_counts_of(settings: Settings) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(settings.database_url_for("rewards"))
    try:
        rows = await conn.fetch("SELECT type, count(*) AS n FROM events GROUP BY type")
        return {r["type"]: r["n"] for r in rows}
    finally:
        await conn.close()


async def test_an_adjustment_already_in_the_payroll_stream_counts_as_published(
    settings: Settings,
) -> None:
    """After the duplicate window only the one-message-per-subject rule stops a re-publish."""
    runtime = build_runtime(settings, clock=FixedClock(NOW))
    runtime.payroll_feed.poll_interval_s = 60.0  # moved by hand below
    await runtime.start()
    try:
        js = js_of(runtime)
        await deliver(js, envelope(result(3, PUBLISHED)))

        async def three_issued() -> bool:
            return (await event_counts(runtime)).get("PayrollAdjustmentIssued", 0) == 3

        await eventually(three_issued, what="three adjustments")

        async def all_three() -> bool:
            return await payroll_messages(js) == 3

        await eventually(all_three, what="three adjustments in PAYROLL")
        # A publisher that lost its checkpoint publishes everything again, without the
        # message id that would let the duplicate window catch it.
        line = (await rpc_of(runtime).query("rewards", "adjustments", {}))["items"][0]
        with pytest.raises(Exception, match="10077") as refused:
            await js.publish(
                payroll_subject(uuid.UUID(line["adjustment_id"])),
                b"{}",
                stream=PAYROLL_STREAM,
                headers={HDR_MSG_ID: "another-id"},
            )
        assert "maximum messages per subject" in str(refused.value)
        await runtime.store.pool.execute("DELETE FROM checkpoints WHERE name = 'payroll-feed'")
        runtime.payroll_feed.stats.already_there = 0
        await runtime.payroll_feed.pump_once()
        assert runtime.payroll_feed.stats.already_there == 3
        assert await payroll_messages(js) == 3
        assert await runtime.payroll_feed.checkpoint() == await runtime.store.head()
        stored = await js.get_msg(
            PAYROLL_STREAM, subject=payroll_subject(uuid.UUID(line["adjustment_id"]))
        )
        # The message carries the name sealed; the payroll system's reader opens it.
        assert line["name"].encode() not in (stored.data or b"")
        async with payroll_reader(settings) as reader:
            (opened,) = await reader.open([stored.data or b""])
        assert opened.name == line["name"]
        assert opened.employee_no == line["employee_no"]
    finally:
        await runtime.stop()


async def test_payroll_pulls_acknowledges_and_reconciles_a_period(
    rewards: RewardsRuntime,
) -> None:
    js, rpc = js_of(rewards), rpc_of(rewards)
    await deliver(js, envelope(result(5, PUBLISHED)))

    async def five() -> bool:
        return len((await rpc.query("rewards", "adjustments", {}))["items"]) == 5

    await eventually(five, what="five adjustments in the feed")
    # Pull by position, two at a time.
    after, pulled = 0, []
    while True:
        page = await rpc.query("rewards", "adjustments", {"after": after, "limit": 2})
        if not page["items"]:
            break
        pulled += page["items"]
        after = page["next_after"]
    assert len(pulled) == 5
    assert after == page["latest_position"]
    assert [p["position"] for p in pulled] == sorted(p["position"] for p in pulled)
    first = pulled[0]
    assert (first["amount"], first["currency"], first["period"]) == ("500.00", "CNY", PERIOD)
    assert first["tax_treatment"] == "taxable_earning"
    assert first["description_zh"] == f"2026年第四季度 {first['category_zh']} 特殊贡献奖"

    # Nothing acknowledged yet: five missing acknowledgements.
    report = await rpc.query("rewards", "reconcile", {"period": PERIOD})
    assert not report["balanced"]
    assert report["status"] == "open"
    assert [m["kind"] for m in report["mismatches"]] == ["missing_acknowledgement"] * 5

    payroll = {"actor": "payroll-1", "roles": ["payroll"]}
    for line in pulled[:4]:
        reply = await rpc.command(
            "rewards", "acknowledge", {**payroll, "adjustment_id": line["adjustment_id"]}
        )
        assert reply["status"] == "acknowledged"
    again = await rpc.command(
        "rewards", "acknowledge", {**payroll, "adjustment_id": pulled[0]["adjustment_id"]}
    )
    assert again["status"] == "already_acknowledged"
    with pytest.raises(RemoteError) as conflict:
        await rpc.command(
            "rewards",
            "acknowledge",
            {**payroll, "adjustment_id": pulled[0]["adjustment_id"], "amount": "400.00"},
        )
    assert conflict.value.error.code == "acknowledgement_conflict"
    with pytest.raises(RemoteError) as forbidden:
        await rpc.command(
            "rewards",
            "acknowledge",
            {"actor": "u", "roles": ["staff"], "adjustment_id": pulled[4]["adjustment_id"]},
        )
    assert forbidden.value.error.status == 403
    unknown = str(uuid.uuid4())
    reply = await rpc.command(
        "rewards",
        "acknowledge",
        {**payroll, "adjustment_id": unknown, "period": PERIOD, "amount": "500.00"},
    )
    assert (reply["status"], reply["known"]) == ("acknowledged", False)

    report = await rpc.query("rewards", "reconcile", {"period": PERIOD})
    assert report["status"] == "closed"
    assert sorted((m["kind"], m["adjustment_id"]) for m in report["mismatches"]) == sorted(
        [
            ("missing_acknowledgement", pulled[4]["adjustment_id"]),
            ("unknown_acknowledgement", unknown),
        ]
    )
    assert report["acknowledged"] == 5
    assert report["awards"] == 5

    await rpc.command(
        "rewards", "acknowledge", {**payroll, "adjustment_id": pulled[4]["adjustment_id"]}
    )
    report = await rpc.query("rewards", "reconcile", {"period": PERIOD})
    assert [m["kind"] for m in report["mismatches"]] == ["unknown_acknowledgement"]

    periods = await rpc.query("rewards", "periods", {})
    assert periods[0]["period"] == PERIOD
    assert periods[0]["status"] == "closed"
    assert periods[0]["adjustments"] == 5
    assert periods[0]["acknowledged"] == 6


async def test_a_revocation_before_and_after_payroll_acknowledged_the_period(
    rewards: RewardsRuntime,
) -> None:
    js, rpc = js_of(rewards), rpc_of(rewards)
    published = result(3, PUBLISHED)
    await deliver(js, envelope(published))

    async def three() -> bool:
        return (await event_counts(rewards)).get("PayrollAdjustmentIssued", 0) == 3

    await eventually(three, what="three awards")
    # Revoked before payroll touched January: reversed in January, netting to zero there.
    await deliver(js, envelope(revoked(published.winners[0], datetime(2027, 1, 5, tzinfo=SH))))

    async def reversals(n: int) -> bool:
        return (await event_counts(rewards)).get("PayrollAdjustmentReversed", 0) == n

    await eventually(lambda: reversals(1), what="the first reversal")
    awards = {a["employee_no"]: a for a in await rpc.query("rewards", "awards", {})}
    first = awards[published.winners[0].employee_no]
    assert (first["status"], first["reversal_period"]) == ("revoked", PERIOD)

    # Payroll runs January (acknowledges everything in it); a later revocation goes to February.
    items = (await rpc.query("rewards", "adjustments", {"period": PERIOD}))["items"]
    assert sorted(i["amount"] for i in items) == ["-500.00", "500.00", "500.00", "500.00"]
    for item in items:
        await rpc.command(
            "rewards",
            "acknowledge",
            {"actor": "payroll-1", "roles": ["payroll"], "adjustment_id": item["adjustment_id"]},
        )
    assert (await rpc.query("rewards", "reconcile", {"period": PERIOD}))["balanced"]
    await deliver(js, envelope(revoked(published.winners[1], datetime(2027, 1, 8, tzinfo=SH))))
    await eventually(lambda: reversals(2), what="the second reversal")
    second = (
        await rpc.query("rewards", "awards", {"employee_no": published.winners[1].employee_no})
    )[0]
    assert second["reversal_period"] == "2027-02"
    february = await rpc.query("rewards", "reconcile", {"period": "2027-02"})
    assert february["reversals"] == 1
    assert february["net_amount"] == "-500.00"
    assert [m["kind"] for m in february["mismatches"]] == ["missing_acknowledgement"]
    # The January lines were never edited.
    assert (await rpc.query("rewards", "reconcile", {"period": PERIOD}))["balanced"]

    ledger = await rpc.query("rewards", "ledger", {})
    assert ledger["by_round"] == [
        {
            "round_id": "2026-Q4",
            "currency": "CNY",
            "awards": 3,
            "reversals": 2,
            "issued": "1500.00",
            "reversed": "-1000.00",
            "net": "500.00",
        }
    ]
    assert [(p["period"], p["net"]) for p in ledger["by_period"]] == [
        ("2027-01", "1000.00"),
        ("2027-02", "-500.00"),
    ]
    assert [(y["year"], y["net"]) for y in ledger["by_year"]] == [(2027, "500.00")]
    assert sum(int(u["awards"]) for u in ledger["by_unit"]) == 3
    assert ledger["total"][0]["net"] == "500.00"

    standings = await rpc.query("rewards", "standings", {"year": 2026})
    assert [e["employee_no"] for e in standings["entries"]] == [published.winners[2].employee_no]
    assert (
        standings["entries"][0]["categories"][0]["label_zh"]
        == published.winners[2].category.label_zh
    )

    # Every read model is a function of the log: rebuilt from it, it equals the live one.
    async with rewards.store.pool.acquire() as conn:

        async def tables() -> dict[str, list[tuple[object, ...]]]:
            return {
                t: [tuple(r) for r in await conn.fetch(f"SELECT * FROM {t} ORDER BY 1")]
                for t in projections.TABLES
            }

        live = await tables()
        assert await projections.rebuild(conn) == 14  # 6 granted, 4 revoked, 4 acks
        assert await tables() == live


async def test_forty_payroll_acknowledgements_of_one_adjustment_at_once_record_it_once(
    settings: Settings,
) -> None:
    """Each time against a freshly started rewards (a fresh pool): every request answered,
    the acknowledgement recorded once, no connection left in an aborted transaction."""
    runtime = await start(settings)
    try:
        await deliver(js_of(runtime), envelope(result(3, PUBLISHED)))
        rpc = rpc_of(runtime)

        async def three() -> bool:
            return len((await rpc.query("rewards", "adjustments", {}))["items"]) == 3

        await eventually(three, what="three adjustments in the feed")
        items = (await rpc.query("rewards", "adjustments", {}))["items"]
        for number, item in enumerate(items, start=1):
            if number > 1:  # the process died: a fresh runtime, a fresh pool
                await runtime.stop()
                runtime = await start(settings)
                rpc = rpc_of(runtime)
            body = {
                "actor": "payroll-1",
                "roles": ["payroll"],
                "adjustment_id": item["adjustment_id"],
            }
            replies = await asyncio.gather(
                *(rpc.command("rewards", "acknowledge", body, timeout=10) for _ in range(40)),
                return_exceptions=True,
            )
            statuses: list[str] = []
            for reply in replies:
                if isinstance(reply, RemoteError):  # a clear refusal is an answer too
                    statuses.append(reply.error.code)
                else:
                    assert isinstance(reply, dict), reply  # no time-out, no other failure
                    statuses.append(reply["status"])
            assert statuses.count("acknowledged") == 1, statuses
            assert set(statuses) <= {"acknowledged", "already_acknowledged", "concurrent_update"}
            pool = runtime.store.pool
            recorded = await pool.fetchval(
                "SELECT count(*) FROM events WHERE type = 'PayrollAdjustmentAcknowledged' "
                "AND data->>'adjustment_id' = $1",
                item["adjustment_id"],
            )
            assert recorded == 1
            aborted = await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = $1 AND state = 'idle in transaction (aborted)'",
                settings.database_name("rewards"),
            )
            assert aborted == 0
    finally:
        await runtime.stop()
