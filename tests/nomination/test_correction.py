"""A nominee's name corrected on their request, through real NATS and PostgreSQL.

The office corrects a misspelt name after the close: the nomination service's log keeps the
original and adds the correcting event (who, why); the nomination's projection and query,
and the review's candidates and its own log (CandidateRecorded), read the corrected value;
`audit verify` (chains, FLOWERS, every projection rebuilt ≡ live) still passes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from services.nomination.app import build_runtime
from services.review.app import build_runtime as review_runtime
from shared import audit, audit_projections
from shared.clock import SHANGHAI, FixedClock
from shared.contracts.nomination import NominationSubmitted, NomineeCorrected, round_stream_id
from shared.contracts.review import CandidateRecorded, review_stream_id
from shared.database_roles import AUDITOR, owner_login
from shared.keystore import open_keystore
from shared.personal_data import KEYRING
from shared.postgres import create_pool
from shared.projection import declared
from shared.rpc import RemoteError
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.nomination.test_service import DIRECTORY, OFFICE, submission
from tests.support import admin_connect, eventually, rpc_client

pytestmark = pytest.mark.integration

MISSPELT = "张伟"  # the directory's (and the nomination's) spelling of EWY0
RIGHT = "张玮"


async def round_log(runtime: ServiceRuntime, stream: str) -> list[Any]:
    return [runtime.registry.decode_recorded(e) for e in (await runtime.store.load(stream)).events]


async def test_the_office_corrects_a_name_everywhere_and_every_proof_holds(
    settings: Settings, nc: Any, nats_url: str
) -> None:
    assert next(d["name"] for d in DIRECTORY if d["employee_no"] == "EWY0") == MISSPELT
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    quick = settings.model_copy(update={"scheduler_interval_s": 0.05})
    nomination = build_runtime(quick, clock=clock)
    review = review_runtime(quick)
    await nomination.start()
    await review.start()
    rpc = rpc_client(nc)
    try:
        await rpc.command("nomination", "import_directory", {**OFFICE, "rows": DIRECTORY})
        await rpc.command("nomination", "open_round", {**OFFICE, "round_id": "2026-Q4"})
        cmd = submission("WY", "EWY0")
        nomination_id = cmd["nomination_id"]
        await rpc.command("nomination", "submit", cmd)
        await rpc.command("nomination", "submit", submission("WY", "EWY1", "dedication"))
        clock.set(datetime(2026, 12, 26, 9, 0, tzinfo=SHANGHAI))  # the scheduler closes it

        async def closed() -> bool:
            rounds = await rpc.query("nomination", "rounds", {})
            return any(r["round_id"] == "2026-Q4" and r["status"] == "closed" for r in rounds)

        await eventually(closed, timeout=20, what="the round to close at its deadline")

        correction = {
            "nomination_id": nomination_id,
            "field": "name",
            "value": RIGHT,
            "reason": "本人书面申请更正姓名（个保法第四十六条），附身份证复印件",
        }
        with pytest.raises(RemoteError) as refused:  # only the office corrects
            await rpc.command(
                "nomination",
                "correct_nominee",
                {"actor": "nominator-WY", "roles": ["nominator"], **correction},
            )
        assert refused.value.error.code == "not_office"
        result = await rpc.command("nomination", "correct_nominee", {**OFFICE, **correction})
        assert result["events"] == ["NomineeCorrected"]
        again = await rpc.command("nomination", "correct_nominee", {**OFFICE, **correction})
        assert again["events"] == []  # the same request again: nothing new

        # The nomination's readers show the corrected name; the other nominee is untouched.
        detail = await rpc.query("nomination", "nomination", {"nomination_id": nomination_id})
        assert detail["name"] == RIGHT
        assert [h["type"] for h in detail["history"]][-1] == "NomineeCorrected"
        listed = await rpc.query("nomination", "nominations", {"round_id": "2026-Q4"})
        assert {n["employee_no"]: n["name"] for n in listed} == {"EWY0": RIGHT, "EWY1": "李娜"}
        # The log keeps the original, and says who corrected what, and why.
        log = await round_log(nomination, round_stream_id("2026-Q4"))
        submitted = next(e for e in log if isinstance(e, NominationSubmitted))
        assert submitted.nominee.name == MISSPELT
        corrected = [e for e in log if isinstance(e, NomineeCorrected)]
        assert [(e.value, e.corrected_by, e.reason) for e in corrected] == [
            (RIGHT, OFFICE["actor"], correction["reason"])
        ]

        # The review hears it: its candidates and its own log carry the corrected name.
        async def reviewed() -> bool:
            rows = await rpc.query("review", "candidates", {"round_id": "2026-Q4"})
            return {r["employee_no"]: r["name"] for r in rows}.get("EWY0") == RIGHT

        await eventually(reviewed, timeout=20, what="the review to take the correction")
        recorded = [
            e.candidate.nominee.name
            for e in await round_log(review, review_stream_id("2026-Q4"))
            if isinstance(e, CandidateRecorded) and str(e.candidate.nomination_id) == nomination_id
        ]
        assert recorded[-1] == RIGHT

        for runtime in (nomination, review):
            assert runtime.relay is not None
            relay = runtime.relay

            async def relayed(relay: Any = relay, runtime: ServiceRuntime = runtime) -> bool:
                return bool(await relay.checkpoint() == await runtime.store.head())

            await eventually(relayed, timeout=20, what="the relays to publish everything")
    finally:
        await review.stop()
        await nomination.stop()

    # Audit: chains, FLOWERS exactly once, and every projection rebuilt ≡ live.
    keys = await open_keystore(settings, login=AUDITOR)
    KEYRING.install(keys)
    admin = await admin_connect(nats_url)
    try:
        js = admin.jetstream()
        for service in ("nomination", "review"):
            pool = await create_pool(settings.database_url_for(service, login=owner_login(service)))
            try:
                await audit_projections.rebuild(pool, declared(service), js)
            finally:
                await pool.close()
        urls = {s: settings.database_url_for(s, login=AUDITOR) for s in ("nomination", "review")}
        report = await audit.verify(urls, js)
        assert report.ok, audit.render(report)
        conn = await create_pool(settings.database_url_for("nomination", login=AUDITOR))
        try:
            name = await conn.fetchval("SELECT name FROM nominations WHERE employee_no = 'EWY0'")
        finally:
            await conn.close()
        assert name == RIGHT  # the rebuilt projection too
    finally:
        await admin.close()
        KEYRING.uninstall(keys)
        await keys.pool.close()
