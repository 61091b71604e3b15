"""Garbage published straight onto the bus ends in the dead-letter stream, and the service
keeps going.

The review service runs in-process with its durable consumer `review-nomination` (which reads
`flowers.evt.nomination.>`). Onto stream FLOWERS go, as a broken or hostile publisher would
put them: bytes that are not JSON, not UTF-8, JSON that is no event envelope, an event type
nobody knows, a `NominationSubmitted` of a schema version newer than the code knows (and one
older than any upcaster), one whose data does not fit the event, and one that fits but that
the database can never store (a NUL in a name), which is retried and dead-lettered past
`max_deliver`. Then a good nomination goes through the nomination service's own log and relay.

Each bad message is in `FLOWERS_DLQ` (`flowers.dlq.review-nomination`) exactly once with a
reason naming what was wrong and the original payload; nothing of them reached review's
tables or log; the good one reached the candidates; and the service still answers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.nomination.app import build_runtime as build_nomination
from services.review.app import build_runtime as build_review
from shared.bus import (
    DLQ_STREAM,
    EVENTS_STREAM,
    HDR_CONSUMER,
    HDR_ERROR,
    HDR_MSG_ID,
    HDR_ORIGINAL_SUBJECT,
)
from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import NominationSubmitted
from shared.events import EventMetadata, NewEvent, RecordedEvent
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support import eventually, rpc_client

pytestmark = pytest.mark.integration

CONSUMER = "review-nomination"
SUBJECT = "flowers.evt.nomination.NominationSubmitted"


@dataclass
class Running:
    nomination: ServiceRuntime
    review: ServiceRuntime
    hands: NatsClient  # the hostile publisher's (and the test's reads): the NATS admin

    @property
    def js(self) -> JetStreamContext:
        return self.hands.jetstream()


@pytest.fixture
async def running(settings: Settings, nc: NatsClient) -> AsyncIterator[Running]:
    settings = settings.model_copy(update={"consumer_max_deliver": 3})
    nomination, review = build_nomination(settings), build_review(settings)
    await nomination.start()
    await review.start()
    try:
        yield Running(nomination, review, nc)
    finally:
        await review.stop()
        await nomination.stop()


def submitted(name: str = "张伟") -> NominationSubmitted:
    return NominationSubmitted(
        nomination_id=uuid.uuid4(),
        round_id="2026-Q4",
        category=Category.STRIVING,
        nominee=NomineeSnapshot(
            employee_no="E0001",
            name=name,
            unit_code="WY",
            unit_name="物业服务中心",
            position="维修工",
        ),
        deeds="带领班组连续三个月零投诉，" * 5,
        results=(),
        evidence_links=(),
        recommendation="同意推荐",
        submitted_by="nominator-wy",
        submitted_at=datetime.now(UTC),
    )


def envelope(event: NominationSubmitted, **changes: Any) -> dict[str, Any]:
    """The event as the nomination relay would publish it, with `changes` applied."""
    new = NewEvent.of(event, EventMetadata(actor="nominator-wy", correlation_id="bad-input"))
    recorded = RecordedEvent(
        position=1,
        stream_id=f"round-2026-Q4-{event.nomination_id}",
        version=1,
        event_id=new.event_id,
        type=new.type,
        schema_version=new.schema_version,
        data=new.data,
        metadata=new.metadata,
        recorded_at=datetime.now(UTC),
        prev_hash="0" * 64,
        hash="0" * 64,
    )
    return {**recorded.model_dump(mode="json"), **changes}


def encoded(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def bad_messages() -> list[tuple[str, str, bytes, str]]:
    """(what, subject, payload, the reason the dead letter must give)."""
    fine = envelope(submitted())
    data_without_nominee = {k: v for k, v in fine["data"].items() if k != "nominee"}
    return [
        ("not JSON", SUBJECT, b"{not json", "not an event envelope"),
        ("not UTF-8", SUBJECT, b"\xff\xfe\x00garbage", "not an event envelope"),
        ("no envelope", SUBJECT, b'{"hello": "world"}', "not an event envelope"),
        (
            "unknown type",
            "flowers.evt.nomination.NominationTeleported",
            encoded({**envelope(submitted()), "type": "NominationTeleported"}),
            "unknown event type or version",
        ),
        (
            "newer version",
            SUBJECT,
            encoded(envelope(submitted(), schema_version=99)),
            "v99 is newer than this code knows",
        ),
        (
            "older than any upcaster",
            SUBJECT,
            encoded(envelope(submitted(), schema_version=0)),
            "no upcaster",
        ),
        (
            "data does not fit",
            SUBJECT,
            encoded({**envelope(submitted()), "data": data_without_nominee}),
            "event data does not match NominationSubmitted",
        ),
        (
            "unstorable text",
            SUBJECT,
            encoded(envelope(submitted(name="张\x00伟"))),
            "CharacterNotInRepertoireError",
        ),
    ]


async def dead_letters(js: JetStreamContext) -> list[Any]:
    try:
        info = await js.stream_info(DLQ_STREAM)
    except NotFoundError:
        return []
    if not info.state.messages:
        return []
    return [
        await js.get_msg(DLQ_STREAM, seq)
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]


async def test_bad_messages_are_dead_lettered_with_a_reason_and_the_next_good_one_is_handled(
    running: Running,
) -> None:
    js, review, nomination = running.js, running.review, running.nomination
    [consumer] = [c for c in review.consumers if c.name == CONSUMER]
    bad = bad_messages()
    for n, (what, subject, payload, _) in enumerate(bad):
        await js.publish(
            subject, payload, stream=EVENTS_STREAM, headers={HDR_MSG_ID: f"bad-{n}-{what}"}
        )

    good = submitted(name="李娜")
    await nomination.store.append(
        f"round-2026-Q4-{good.nomination_id}",
        [NewEvent.of(good, EventMetadata(actor="nominator-wy", correlation_id="good"))],
    )
    assert review.pool is not None
    pool = review.pool

    async def settled() -> bool:
        letters = [m for m in await dead_letters(js) if m.headers[HDR_CONSUMER] == CONSUMER]
        candidates = await pool.fetchval("SELECT count(*) FROM candidates")
        return len(letters) == len(bad) and candidates == 1

    await eventually(settled, timeout=30, what="every bad message dead-lettered, the good handled")

    letters = [m for m in await dead_letters(js) if m.headers[HDR_CONSUMER] == CONSUMER]
    by_payload = {json.loads(m.data)["payload"]: m for m in letters}
    for what, subject, payload, reason in bad:
        letter = by_payload[payload.decode("utf-8", errors="replace")]
        assert letter.subject == f"flowers.dlq.{CONSUMER}", what
        assert reason in letter.headers[HDR_ERROR], (what, letter.headers[HDR_ERROR])
        assert letter.headers[HDR_ORIGINAL_SUBJECT] == subject, what
        body = json.loads(letter.data)
        assert body["consumer"] == CONSUMER
        assert reason in body["error"], what
    unstorable = by_payload[bad[-1][2].decode()]
    assert json.loads(unstorable.data)["deliveries"] == 3  # retried up to max_deliver
    assert all(json.loads(m.data)["deliveries"] == 1 for m in letters if m is not unstorable)

    # Only the good nomination reached review, its table and its log.
    rows = await pool.fetch("SELECT nomination_id, name FROM candidates")
    assert [(r["nomination_id"], r["name"]) for r in rows] == [(good.nomination_id, "李娜")]
    recorded = await review.store.read_all(limit=100)
    assert [e.type for e in recorded] == ["CandidateRecorded"]
    assert consumer.stats.dead_lettered == len(bad)
    assert consumer.stats.handled == 1

    # Nothing is left pending or unacknowledged: the bad ones were terminated, not redelivered.
    async def drained() -> bool:
        info = await js.consumer_info(EVENTS_STREAM, CONSUMER)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await eventually(drained, timeout=10, what="the consumer to have nothing pending")

    # The service still answers, and keeps consuming.
    health = await rpc_client(running.hands, timeout=5).query("review", "health", {})
    assert health
    later = submitted(name="王芳")
    await nomination.store.append(
        f"round-2026-Q4-{later.nomination_id}",
        [NewEvent.of(later, EventMetadata(actor="nominator-wy"))],
    )

    async def handled_later() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM candidates") == 2)

    await eventually(handled_later, timeout=15, what="the next good message")
