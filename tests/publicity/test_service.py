"""The publicity service in process against real NATS and PostgreSQL: review's events arrive
through JetStream (published here as review's relay would), commands and queries go over
NATS request/reply."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from services.publicity import projections
from services.publicity.app import DRAFTS_CONSUMER, STATS_CONSUMER, build_runtime
from services.publicity.rendering import docx_text
from shared.clock import FixedClock
from shared.contracts import nomination as nom
from shared.contracts import review as rev
from shared.contracts import rewards as rew
from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.publicity import material_id_for
from shared.events import GENESIS_HASH, DomainEvent, EventMetadata, RecordedEvent
from shared.rpc import RemoteError, RpcClient
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.publicity.fixtures import N_REFORM, RESULT, ROUND, SH, WINNERS, revocation
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

NOW = datetime(2026, 10, 9, 9, 0, tzinfo=SH)
EDITOR = {"actor": "pm-1", "roles": ["publicity"]}


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    runtime = build_runtime(settings, clock=FixedClock(NOW))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
def rpc(nc: NatsClient) -> RpcClient:
    return rpc_client(nc, timeout=10)


_positions = iter(range(1, 1_000_000))
# The tests' own hands on the bus (the NATS admin): publicity may not publish review's events.
_BUS: list[NatsClient] = []


@pytest.fixture(autouse=True)
def bus(nc: NatsClient) -> Iterator[None]:
    _BUS.append(nc)
    yield
    _BUS.remove(nc)


async def deliver(
    runtime: ServiceRuntime,
    event: DomainEvent,
    *,
    event_id: uuid.UUID | None = None,
    msg_id: str | None = None,
) -> uuid.UUID:
    """Publish an event of another service to JetStream, as that service's relay does
    (`runtime`, the consuming service, is where it goes)."""
    envelope = RecordedEvent(
        position=next(_positions),
        stream_id=f"{event.service}-test",
        version=1,
        event_id=event_id or uuid.uuid4(),
        type=event.event_type,
        schema_version=event.schema_version,
        data=event.to_data(),
        metadata=EventMetadata(actor="someone", correlation_id="corr-1"),
        recorded_at=datetime.now(UTC),
        prev_hash=GENESIS_HASH,
        hash="0" * 64,
    )
    await (
        _BUS[-1]
        .jetstream()
        .publish(
            event.subject(),
            envelope.model_dump_json().encode(),
            headers={"Nats-Msg-Id": msg_id or str(envelope.event_id)},
        )
    )
    return envelope.event_id


async def deliver_consents(runtime: ServiceRuntime, winners: Any = WINNERS) -> None:
    """Every winner consented to every public use, as nomination would have said (publicity
    drafts a winner without consent only as far as the union's rules allow)."""
    for w in winners:
        await deliver(
            runtime,
            nom.PublicityConsentRecorded(
                nomination_id=w.nomination_id,
                round_id=ROUND,
                employee_no=w.employee_no,
                consent=nom.PublicityConsent.to_all(),
                recorded_by="nominator",
                recorded_at=datetime(2026, 9, 1, tzinfo=SH),
            ),
        )

    async def heard() -> bool:
        count: int = await runtime.store.pool.fetchval(
            "SELECT count(*) FROM publicity_consents WHERE nomination_id = ANY($1::uuid[])",
            [w.nomination_id for w in winners],
        )
        return count == len(winners)

    await eventually(heard, what="publicity to hear the winners' consent")


def seen(runtime: ServiceRuntime, consumer: str) -> int:
    c = next(c for c in runtime.consumers if c.name == consumer)
    return c.stats.handled + c.stats.duplicates


async def drafts_of(rpc: RpcClient, round_id: str = ROUND) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await rpc.query("publicity", "drafts", {"round_id": round_id})
    return result


async def test_drafts_for_the_same_result_delivered_twice_exist_once(
    service: ServiceRuntime, rpc: RpcClient
) -> None:
    first = uuid.uuid4()
    await deliver(service, RESULT, event_id=first)
    # The same message again after the duplicate window (another Nats-Msg-Id) …
    await deliver(service, RESULT, event_id=first, msg_id=f"{first}-again")
    # … and another copy of the same result under a new event id.
    await deliver_consents(service)
    await deliver(service, RESULT)
    await eventually(lambda: seen(service, DRAFTS_CONSUMER) == 3, what="three deliveries")

    drafts = await drafts_of(rpc)
    assert sorted(d["kind"] for d in drafts) == sorted(
        ["honor_roll", "bulletin", "official_account", "storyboard"]
    )
    assert all(d["status"] == "draft" and d["revision"] == 1 for d in drafts)
    pool = service.store.pool
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'MaterialsDrafted'") == 1
    assert await pool.fetchval("SELECT count(*) FROM materials") == 4
    consumer = next(c for c in service.consumers if c.name == DRAFTS_CONSUMER)
    assert (consumer.stats.handled, consumer.stats.duplicates) == (2, 1)

    # The drafts are published facts too: the relay puts them on the bus.
    js = _BUS[-1].jetstream()

    async def on_the_bus() -> bool:
        try:
            await js.get_last_msg("FLOWERS", "flowers.evt.publicity.MaterialsDrafted")
        except Exception:
            return False
        return True

    await eventually(on_the_bus, what="MaterialsDrafted relayed to JetStream")


async def test_the_department_edits_approves_publishes_and_a_revocation_corrects(
    service: ServiceRuntime, rpc: RpcClient
) -> None:
    await deliver_consents(service)
    await deliver(service, RESULT)
    await eventually(lambda: seen(service, DRAFTS_CONSUMER) == 1, what="the result")
    honor_roll = str(material_id_for(ROUND, "honor_roll"))
    bulletin = str(material_id_for(ROUND, "bulletin"))
    storyboard = str(material_id_for(ROUND, "storyboard"))

    with pytest.raises(RemoteError) as refused:
        await rpc.command(
            "publicity", "approve", {"actor": "u1", "roles": ["staff"], "material_id": bulletin}
        )
    assert (refused.value.error.code, refused.value.error.status) == ("not_publicity", 403)

    edited = await rpc.command(
        "publicity",
        "edit",
        {
            **EDITOR,
            "material_id": storyboard,
            "expected_revision": 1,
            "sections": [
                {"nomination_id": str(WINNERS[0].nomination_id), "caption": "拼搏之花·张伟"}
            ],
        },
    )
    assert edited["events"] == ["MaterialEdited"]
    assert edited["revision"] == 2
    for material_id in (honor_roll, bulletin):
        await rpc.command("publicity", "approve", {**EDITOR, "material_id": material_id})
        result = await rpc.command(
            "publicity", "publish", {**EDITOR, "material_id": material_id, "channel": "bulletin"}
        )
        assert result["status"] == "published"

    draft = await rpc.query("publicity", "draft", {"material_id": storyboard})
    assert "拼搏之花·张伟" in draft["html"]
    assert [(h["type"], h["actor"]) for h in draft["history"]] == [
        ("MaterialsDrafted", "system:publicity"),
        ("MaterialEdited", "pm-1"),
    ]
    assert draft["history"][1]["summary_zh"] == "编辑第2版：张伟·字幕"
    assert draft["history"][1]["summary_en"] == "Revision 2 edited: caption of 张伟"

    docx = await rpc.query("publicity", "artefact", {"material_id": bulletin, "format": "docx"})
    assert docx["encoding"] == "base64"
    text = "\n".join(docx_text(base64.b64decode(docx["content"])))
    assert all(w.name in text for w in WINNERS)
    srt = await rpc.query("publicity", "artefact", {"material_id": storyboard, "format": "srt"})
    assert srt["encoding"] == "utf-8"
    assert srt["content"].startswith("1\n00:00:00,000 --> 00:00:04,000\n")  # the opening title
    assert "\n00:00:04,000 --> 00:00:08,000\n拼搏之花·张伟\n" in srt["content"]
    with pytest.raises(RemoteError) as no_form:
        await rpc.query("publicity", "artefact", {"material_id": bulletin, "format": "srt"})
    assert no_form.value.error.code == "invalid_input"

    # 赵强's flower is revoked after the honor roll and the bulletin were published.
    await deliver(service, revocation(N_REFORM))
    await eventually(lambda: seen(service, DRAFTS_CONSUMER) == 2, what="the revocation")
    roll = await rpc.query("publicity", "honor_roll", {"round_id": ROUND})
    assert [w["name"] for w in roll["winners"]] == ["张伟", "李娜", "王芳", "刘洋"]
    assert roll["revoked"] == [{"nomination_id": str(N_REFORM), "name": "赵强"}]
    assert (roll["status"], roll["revision"]) == ("draft", 2)
    drafts = {d["kind"]: d for d in await drafts_of(rpc)}
    correction = drafts["correction"]
    assert correction["material_id"] == str(material_id_for(ROUND, "correction", N_REFORM))
    assert drafts["bulletin"]["status"] == "published"  # what was published stays as it was
    assert drafts["official_account"]["revision"] == 2  # unpublished: redrafted without him
    page = await rpc.query("publicity", "draft", {"material_id": correction["material_id"]})
    assert "赵强" in page["html"]
    assert "2026年10月9日" in page["html"]  # the correction's own date

    # The own read models are rebuilt from the log into exactly what they are now.
    pool = service.store.pool
    tables = projections.OWN_TABLES
    before = {t: await pool.fetch(f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}
    async with pool.acquire() as conn, conn.transaction():
        await projections.rebuild(conn)
    after = {t: await pool.fetch(f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}
    assert after == before


def nominee(n: int, unit: str) -> NomineeSnapshot:
    names = {"PS": "物业服务中心", "CY": "餐饮服务中心", "JX": "机修厂"}
    return NomineeSnapshot(
        employee_no=f"E{n:04d}",
        name=f"职工{n}",
        unit_code=unit,
        unit_name=names[unit],
        position="职员",
    )


async def test_report_figures_follow_the_events_of_a_round_with_known_counts(
    service: ServiceRuntime, rpc: RpcClient
) -> None:
    round_id = "2026-Q4"
    at = datetime(2026, 12, 1, 9, 0, tzinfo=SH)
    events: list[DomainEvent] = [
        nom.UnitRegistered(unit_code="PS", name="物业服务中心"),
        nom.UnitRegistered(unit_code="CY", name="餐饮服务中心"),
        nom.UnitRegistered(unit_code="JX", name="机修厂"),
        nom.RoundOpened(
            round_id=round_id, cadence="quarterly", deadline=at, opened_by="office", opened_at=at
        ),
    ]
    plan = [  # (n, unit, category, audit)
        (1, "PS", Category.STRIVING, "accepted"),
        (2, "PS", Category.REFORM, "rejected"),
        (3, "CY", Category.STRIVING, "accepted"),
        (4, "CY", Category.DEDICATION, "rejected"),
        (5, "CY", Category.HARD_WORK, None),  # withdrawn below
    ]
    ids = {n: uuid.UUID(int=1000 + n) for n, *_ in plan}
    for n, unit, category, _ in plan:
        events.append(
            nom.NominationSubmitted(
                nomination_id=ids[n],
                round_id=round_id,
                category=category,
                nominee=nominee(n, unit),
                deeds="事迹" * 30,
                results=(),
                evidence_links=(),
                recommendation="同意",
                submitted_by=f"nominator-{unit}",
                submitted_at=at,
            )
        )
    events.append(
        nom.NominationWithdrawn(
            nomination_id=ids[5],
            round_id=round_id,
            category=Category.HARD_WORK,
            nominee=nominee(5, "CY"),
            reason="本人申请",
            withdrawn_by="nominator-CY",
            withdrawn_at=at,
        )
    )
    for n, _, category, audit in plan:
        if audit == "accepted":
            events.append(
                rev.NominationAccepted(
                    round_id=round_id, nomination_id=ids[n], category=category, accepted_by="o"
                )
            )
        elif audit == "rejected":
            events.append(
                rev.NominationRejected(
                    round_id=round_id,
                    nomination_id=ids[n],
                    category=category,
                    reason="不符合推荐条件",
                    rejected_by="o",
                )
            )
    for n, totals in ((1, ("90", "80")), (3, ("70", "72"))):
        for i, total in enumerate(totals):
            for revision, value in ((1, "10"), (2, total)):  # a revised sheet replaces the first
                events.append(
                    rev.ScoreSubmitted(
                        round_id=round_id,
                        nomination_id=ids[n],
                        category=Category.STRIVING,
                        panelist_id=f"p{i}",
                        department="综合办公室",
                        criteria={},
                        total=Decimal(value),
                        revision=revision,
                        comment=None,
                        submitted_at=at,
                    )
                )
    events.append(
        rev.ResultPublished(
            round_id=round_id,
            categories=(Category.STRIVING,),
            winners=(
                rev.PublishedWinner(
                    category=Category.STRIVING,
                    nomination_id=ids[1],
                    employee_no="E0001",
                    name="职工1",
                    unit_code="PS",
                    unit_name="物业服务中心",
                    position="职员",
                    deeds="事迹" * 30,
                    results=(),
                    score=Decimal("85.00"),
                ),
            ),
            published_by="office",
            published_at=at,
        )
    )
    for event in events:
        await deliver(service, event)
    await eventually(lambda: seen(service, STATS_CONSUMER) == len(events), what="statistics")

    report = await rpc.query("publicity", "report", {"scope": "round", "round_id": round_id})
    totals = report["totals"]
    assert (totals["nominations"], totals["withdrawn"]) == (4, 1)
    assert (totals["accepted"], totals["rejected"], totals["acceptance_rate"]) == (2, 2, "0.5000")
    assert (totals["winners"], totals["units_nominating"], totals["units_total"]) == (1, 2, 3)
    assert totals["award_total"] == {"amount": "500.00", "currency": "CNY", "source": "expected"}
    assert report["rejection_reasons"] == [{"reason": "不符合推荐条件", "count": 2}]
    assert (report["scores"]["mean"], report["scores"]["panel_spread_max"]) == ("78.00", "10.00")
    by_unit = {u["unit_code"]: u["nominations"] for u in report["by_unit"]}
    assert by_unit == {"CY": 2, "JX": 0, "PS": 2}

    # Once rewards has granted the award, the report counts what was granted.
    award_id = uuid.uuid4()
    granted = rew.AwardGranted(
        award_id=award_id,
        round_id=round_id,
        category=Category.STRIVING,
        nomination_id=ids[1],
        employee_no="E0001",
        name="职工1",
        unit_code="PS",
        unit_name="物业服务中心",
        position="职员",
        deeds="事迹" * 30,
        score=Decimal("85.00"),
        amount=Decimal("450.00"),
        currency="CNY",
        adjustment_id=uuid.uuid4(),
        period="2026-10",
        published_at=at,
        granted_at=at,
        result_event_id=uuid.uuid4(),
    )
    await deliver(service, granted)
    await eventually(lambda: seen(service, STATS_CONSUMER) == len(events) + 1, what="the award")
    report = await rpc.query("publicity", "report", {"scope": "round", "round_id": round_id})
    assert report["totals"]["award_total"] == {
        "amount": "450.00",
        "currency": "CNY",
        "source": "granted",
    }
    assert [(w["name"], w["score"]) for w in report["winners"]] == [("职工1", "85.00")]

    csv_reply = await rpc.query(
        "publicity", "report", {"scope": "year", "year": 2026, "format": "csv"}
    )
    assert csv_reply["content"].splitlines()[1].startswith("单位代码,单位,提名数")
    chart = await rpc.query(
        "publicity",
        "report_chart",
        {"scope": "year", "year": 2026, "chart": "participation", "format": "png"},
    )
    assert base64.b64decode(chart["content"]).startswith(b"\x89PNG")
    with pytest.raises(RemoteError) as no_key:
        await rpc.query("publicity", "report", {"scope": "year"})
    assert no_key.value.error.code == "invalid_input"
