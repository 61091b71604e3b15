"""Evidence files go when their nominee's data is shredded, however it was shredded
(services/gateway/evidence_sweep.py): after a retention run on the test clock, and after an
erasure sent straight on NATS (not through the gateway, which would delete the files itself).
A winner's file, another nominee's and a fresh upload not yet in a nomination stay. Real NATS,
PostgreSQL and services; the file store on disk."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from services.gateway import evidence as ev
from services.gateway.evidence_sweep import EvidenceSweep, delete_file
from services.nomination.retention_job import RetentionJob
from shared import scrub
from shared.contracts.common import Category
from shared.contracts.review import PublishedWinner, ResultPublished
from shared.settings import Settings
from tests.gateway.harness import (
    DEEDS,
    FAST_HASHING,
    NOW,
    ROUND,
    UNIT_A,
    Harness,
    nomination_body,
    running_gateway,
)
from tests.nomination.test_retention import publish
from tests.support import eventually

pytestmark = pytest.mark.integration

GRACE = timedelta(days=7)
SWEEPING = FAST_HASHING.model_copy(
    update={"evidence_sweep_grace_s": int(GRACE.total_seconds()), "evidence_sweep_retry_s": 0.2}
)


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Harness]:
    async with running_gateway(settings, SWEEPING) as harness:
        yield harness


def pdf(tag: str) -> bytes:
    """A small PDF of its own bytes (the file store is shared by the session's tests)."""
    return f"%PDF-1.4\n% {tag} {uuid.uuid4()}\n%%EOF\n".encode()


def stored(settings: Settings, data: bytes) -> bool:
    digest = hashlib.sha256(data).hexdigest()
    return (Path(settings.data_dir) / "files" / digest[:2] / digest).exists()


async def upload(gateway: Harness, data: bytes, name: str) -> str:
    async with gateway.client() as client:
        kept = await client.post(
            "/api/v1/evidence",
            files={"file": (name, data)},
            headers={"Authorization": f"Bearer {await gateway.token('wy')}"},
        )
    assert kept.status_code == 201, kept.text
    link: str = kept.json()["link"]
    return link


async def nominate(gateway: Harness, employee_no: str, category: str, link: str) -> str:
    async with gateway.client() as client:
        sent = await client.post(
            "/api/v1/nominations",
            json=nomination_body(employee_no, category=category, evidence_links=[link]),
            headers={"Authorization": f"Bearer {await gateway.token('wy')}"},
        )
    assert sent.status_code == 201, sent.text
    nomination_id: str = sent.json()["nomination_id"]
    return nomination_id


async def scrubbed_by_nomination(gateway: Harness, fact_type: str) -> None:
    pool = gateway.nomination.store.pool

    async def scrubbed() -> bool:
        return bool(
            await pool.fetchval(
                "SELECT count(*) FROM events e JOIN inbox i ON i.event_id = e.event_id"
                " WHERE e.type = $1 AND i.consumer = $2",
                fact_type,
                scrub.consumer_name("nomination"),
            )
        )

    await eventually(scrubbed, timeout=30, what="the nomination service to scrub")


def sweep_of(gateway: Harness) -> EvidenceSweep:
    sweep: EvidenceSweep = gateway.app.state.evidence_sweep
    return sweep


async def test_a_retention_run_loses_the_expired_nominees_files_and_keeps_the_rest(
    gateway: Harness, settings: Settings
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    his, winners = pdf("his"), pdf("winner")
    await nominate(gateway, "E100", "striving", await upload(gateway, his, "台账.pdf"))
    winner_id = await nominate(
        gateway, "E101", "dedication", await upload(gateway, winners, "证书.pdf")
    )
    result_at = NOW + timedelta(days=20)
    assert gateway.review is not None
    await publish(
        gateway.review,
        ResultPublished(
            round_id=ROUND,
            categories=tuple(Category),
            winners=(
                PublishedWinner(
                    category=Category.DEDICATION,
                    nomination_id=uuid.UUID(winner_id),
                    employee_no="E101",
                    name="李娜",
                    unit_code=UNIT_A,
                    unit_name="物业服务中心",
                    position="客服专员",
                    deeds=DEEDS,
                    results=(),
                    score=Decimal("91.00"),
                ),
            ),
            published_by="office-1",
            published_at=result_at,
        ),
    )

    async def heard() -> bool:
        pool = gateway.nomination.store.pool
        return bool(await pool.fetchval("SELECT count(*) = 1 FROM past_wins"))

    await eventually(heard, timeout=20, what="the nomination service to hear the result")

    # Three years on: a nominator uploads a file for a nomination not yet submitted.
    gateway.clock.set(result_at.replace(year=result_at.year + 3) + timedelta(days=1))
    fresh = pdf("fresh")
    await upload(gateway, fresh, "新材料.pdf")
    before = sweep_of(gateway).sweeps

    report = await RetentionJob(gateway.nomination).run()
    assert report.recorded
    assert report.keys_destroyed == 1
    await scrubbed_by_nomination(gateway, "ExpiredPersonalDataShredded")

    async def his_file_gone() -> bool:
        return not stored(settings, his)

    await eventually(his_file_gone, timeout=30, what="the sweep to delete the expired file")
    assert sweep_of(gateway).sweeps > before
    assert stored(settings, winners)  # the winner's nomination still names it
    assert stored(settings, fresh)  # within the grace period
    recorded = await gateway.state.pool.fetch("SELECT digest FROM evidence_uploads")
    assert {r["digest"] for r in recorded} == {
        hashlib.sha256(d).hexdigest() for d in (winners, fresh)
    }
    # The expired nomination's links read 已删除: nothing names the file any more.
    named = await gateway.rpc.query("nomination", "evidence_files", {})
    assert named["digests"] == [hashlib.sha256(winners).hexdigest()]
    assert named["nominations"] == 2
    assert named["scrubs_pending"] == 0


async def test_an_erasure_sent_on_nats_loses_its_files_at_the_next_sweep(
    gateway: Harness, settings: Settings
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    his, hers = pdf("his"), pdf("hers")
    await nominate(gateway, "E100", "striving", await upload(gateway, his, "台账.pdf"))
    await nominate(gateway, "E101", "dedication", await upload(gateway, hers, "l.pdf"))
    gateway.clock.advance(GRACE + timedelta(days=1))

    # Straight on NATS, as the office (not the gateway's page, API or `flowers privacy erase`).
    reply = await gateway.rpc.command(
        "nomination",
        "erase_personal_data",
        {"actor": "office-1", "roles": ["office"], "employee_no": "E100", "reason": "本人申请"},
    )
    assert reply["evidence_files"] == [hashlib.sha256(his).hexdigest()]  # nobody acted on it
    await scrubbed_by_nomination(gateway, "PersonalDataErased")

    async def his_file_gone() -> bool:
        return not stored(settings, his)

    await eventually(his_file_gone, timeout=30, what="the sweep to delete the erased file")
    assert stored(settings, hers)  # past the grace period too, but her nomination names it


async def test_the_sweep_deletes_nothing_while_the_nomination_service_holds_no_nomination(
    gateway: Harness, settings: Settings
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    lone = pdf("lone")
    await upload(gateway, lone, "未提交.pdf")
    gateway.clock.advance(GRACE + timedelta(days=1))
    report = await sweep_of(gateway).sweep()
    assert report.skipped == "no_nominations"
    assert report.deleted == []
    assert stored(settings, lone)
    # Once the service holds a nomination, the upload never submitted goes.
    await nominate(gateway, "E101", "dedication", "https://example.cn/a")
    report = await sweep_of(gateway).sweep()
    assert report.deleted == [hashlib.sha256(lone).hexdigest()]
    assert not stored(settings, lone)


async def test_a_file_sent_again_or_drafted_after_the_sweep_read_it_is_not_deleted(
    gateway: Harness, settings: Settings
) -> None:
    """The sweep deletes holding the file's row and checks its age and the drafts again: an
    upload of the same bytes in between (recorded before its bytes are put) keeps it."""
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    again = pdf("again")
    await upload(gateway, again, "a.pdf")
    read_at = gateway.clock.now()  # when the sweep read the file's age
    gateway.clock.advance(timedelta(minutes=1))
    await upload(gateway, again, "a.pdf")  # another nominator sends the same bytes
    store = ev.store_for(settings, gateway.state.gateway)
    digest = hashlib.sha256(again).hexdigest()
    assert not await delete_file(
        gateway.state.pool, store, digest, reason="sweep", last_before=read_at
    )
    assert stored(settings, again)
    # A draft naming the file keeps it whatever its age.
    await gateway.state.pool.execute(
        "INSERT INTO nomination_drafts (user_id, round_id, form, saved_at) VALUES ($1, $2, $3, $4)",
        gateway.users["wy"].user_id,
        ROUND,
        {"evidence_files": [{"link": f"/files/{digest}/a.pdf", "name": "a.pdf"}]},
        gateway.clock.now(),
    )
    assert not await delete_file(gateway.state.pool, store, digest, reason="erasure")
    assert stored(settings, again)
    await gateway.state.pool.execute("DELETE FROM nomination_drafts")
    assert await delete_file(
        gateway.state.pool, store, digest, reason="sweep", last_before=gateway.clock.now()
    )
    assert not stored(settings, again)
    assert await gateway.state.pool.fetchval("SELECT count(*) FROM evidence_uploads") == 0
