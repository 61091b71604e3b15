"""The legal hold on erasure, through real NATS and PostgreSQL, on a test clock.

Review's result (two winners) and a later revocation reach the nomination service (its feed
of review's results: who won, when) and the rewards service (awards, adjustments, PAYROLL).
The office's erasure of either winner is refused with `legal_hold` while their payroll
facts are inside the 30 years of 会计档案管理办法; once the first winner's period is over,
their erasure goes through and their PAYROLL lines read 已删除 for the payroll system,
while the revoked winner's reversal still holds theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.nomination.app import build_runtime as nomination_runtime
from services.rewards.app import build_runtime as rewards_runtime
from shared.bus import PAYROLL_CONSUMER, PAYROLL_STREAM
from shared.clock import SHANGHAI, FixedClock
from shared.payroll_reader import payroll_reader
from shared.personal_data import ERASED
from shared.rpc import RemoteError, RpcClient
from shared.settings import Settings
from tests.rewards.support import deliver, envelope, payroll_messages, result, revoked
from tests.support import connect_as, eventually, rpc_client

pytestmark = pytest.mark.integration

PUBLISHED = datetime(2026, 11, 10, 10, 0, tzinfo=SHANGHAI)  # paid in 2026: kept to 2056
REVOKED = datetime(2027, 3, 1, 9, 0, tzinfo=SHANGHAI)  # reversed in 2027: kept to 2057
OFFICE = {"actor": "u-office", "roles": ["office"]}


async def erase(rpc: RpcClient, employee_no: str) -> Mapping[str, Any]:
    reply: Mapping[str, Any] = await rpc.command(
        "nomination",
        "erase_personal_data",
        {**OFFICE, "employee_no": employee_no, "reason": "本人书面申请删除（个保法第四十七条）"},
    )
    return reply


async def refused(rpc: RpcClient, employee_no: str) -> RemoteError:
    with pytest.raises(RemoteError) as refusal:
        await erase(rpc, employee_no)
    return refusal.value


async def test_a_winner_is_held_for_the_payroll_period_then_erased_everywhere_payroll_too(
    settings: Settings, nc: Any
) -> None:
    clock = FixedClock(PUBLISHED + timedelta(minutes=5))
    nomination = nomination_runtime(settings, clock=clock)
    rewards = rewards_runtime(settings, clock=clock)
    await nomination.start()
    await rewards.start()
    rpc = rpc_client(nc)
    try:
        published = result(2, PUBLISHED, round_id="2026-Q3")
        kept, revoked_winner = published.winners
        js = nc.jetstream()
        await deliver(js, envelope(published))
        await deliver(js, envelope(revoked(revoked_winner, REVOKED, "2026-Q3"), position=2))

        async def heard() -> bool:
            pool = nomination.store.pool
            return bool(
                await pool.fetchval("SELECT count(*) = 1 FROM past_wins WHERE revoked")
                and await payroll_messages(js) == 3
            )

        await eventually(heard, timeout=20, what="the result and revocation heard, paid")

        hold = await refused(rpc, kept.employee_no)
        assert hold.error.code == "legal_hold"
        assert hold.error.status == 409
        assert "会计档案管理办法" in hold.error.message_zh
        assert "2056 年 12 月 31 日" in hold.error.message_zh
        hold = await refused(rpc, revoked_winner.employee_no)
        assert hold.error.details["hold_ends_year"] == 2057  # the reversal's year counts

        # The first day after the first winner's period: their erasure goes through.
        clock.set(datetime(2057, 1, 1, 0, 1, tzinfo=SHANGHAI))
        done = await erase(rpc, kept.employee_no)
        assert done["events"] == ["PersonalDataErased"]
        assert done["key_destroyed"] is True
        hold = await refused(rpc, revoked_winner.employee_no)
        assert hold.error.details["hold_ends_year"] == 2057

        # What the payroll system holds: the erased winner's line reads 已删除.
        payroll = await connect_as("payroll", settings.nats_url)
        try:
            pulled = await payroll.jetstream().pull_subscribe_bind(
                PAYROLL_CONSUMER, stream=PAYROLL_STREAM
            )
            raw = [m.data or b"" for m in await pulled.fetch(3, timeout=10)]
        finally:
            await payroll.close()
        for blob in raw:
            for clear in (kept.employee_no, kept.name, revoked_winner.employee_no):
                assert clear.encode() not in blob
        async with payroll_reader(settings) as reader:
            lines = await reader.open(raw)
        names = sorted((line.kind, line.name) for line in lines)
        assert names == sorted(
            [("award", ERASED), ("award", revoked_winner.name), ("reversal", revoked_winner.name)]
        )
        (gone,) = [line for line in lines if line.name == ERASED]
        assert gone.employee_no.startswith(f"{ERASED}·")
        assert str(gone.amount) == "500.00"  # the payroll fact itself stays
    finally:
        await rewards.stop()
        await nomination.stop()
