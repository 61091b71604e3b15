"""`flowers audit verify`: the stores' chains and the FLOWERS stream, against tampering."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from services.nomination.app import build_runtime as build_nomination
from services.review.app import build_runtime as build_review
from shared import audit
from shared.bus import EVENTS_STREAM
from shared.service import ServiceRuntime
from shared.settings import Settings
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
    for i in range(5)
]


@pytest.fixture
async def system(
    settings: Settings, nc: NatsClient
) -> AsyncIterator[tuple[ServiceRuntime, ServiceRuntime]]:
    nomination, review = build_nomination(settings), build_review(settings)
    await nomination.start()
    await review.start()
    await rpc_client(nc).command("nomination", "import_directory", {**OFFICE, "rows": ROWS})
    try:
        yield nomination, review
    finally:
        await review.stop()
        await nomination.stop()


def urls(settings: Settings) -> dict[str, str]:
    return {s: settings.database_url_for(s, login="auditor") for s in ("nomination", "review")}


async def relayed(runtime: ServiceRuntime) -> bool:
    assert runtime.relay is not None
    return await runtime.relay.checkpoint() == await runtime.store.head()


async def test_an_intact_log_verifies_and_tampering_is_named(
    system: tuple[ServiceRuntime, ServiceRuntime], settings: Settings, nc: NatsClient
) -> None:
    nomination, _ = system
    js: JetStreamContext = nc.jetstream()
    await eventually(lambda: relayed(nomination), what="the relay to catch up")

    report = await audit.verify(urls(settings), js)
    assert report.ok, audit.render(report)
    assert report.services[0].chain.checked == 6  # a unit and five employees
    assert report.stream_messages == 6
    assert "verified" in audit.render(report)

    # The service's own role may not change its log: tampering takes the owner's login.
    tamper = await asyncpg.connect(
        settings.database_url_for("nomination", login="nomination_owner")
    )
    await tamper.execute(
        "UPDATE events SET data = jsonb_set(data, '{name}', '\"篡改\"') WHERE position = 3"
    )
    await tamper.close()
    await js.publish(
        "flowers.evt.nomination.Forged",
        b"{}",
        stream=EVENTS_STREAM,
        headers={"Nats-Msg-Id": "forged-1"},
    )
    report = await audit.verify(urls(settings), js)
    assert not report.ok
    broken = report.services[0].chain.first_break
    assert broken is not None
    assert broken.position == 3
    assert report.unknown_in_stream == ["forged-1"]
    # The command checks the chains in a process of its own: the same finding.
    elsewhere = await audit.verify(urls(settings), js, chain_process=True)
    assert elsewhere.services[0].chain == report.services[0].chain
    assert audit.render(elsewhere) == audit.render(report)
    assert "BROKEN at position 3" in audit.render(report)
    assert audit.as_json(report).count('"ok": false') >= 2
    assert "forged-1: seq 7 (flowers.evt.nomination.Forged)" in audit.render(report)


async def test_a_republished_copy_of_a_known_event_is_named_with_both_sequences(
    system: tuple[ServiceRuntime, ServiceRuntime], settings: Settings, nc: NatsClient
) -> None:
    """A copy of a relayed event put on FLOWERS again without its Nats-Msg-Id (so the
    duplicate window lets it in): the same event twice, not an event no store has."""
    nomination, _ = system
    js: JetStreamContext = nc.jetstream()
    await eventually(lambda: relayed(nomination), what="the relay to catch up")
    original = await js.get_msg(EVENTS_STREAM, 2)
    event_id = (original.headers or {})["Nats-Msg-Id"]
    copy = await js.publish(original.subject or "", original.data or b"", stream=EVENTS_STREAM)

    report = await audit.verify(urls(settings), js, projections=False)
    assert not report.ok
    assert report.unknown_in_stream == []
    [service] = [s for s in report.services if s.service == "nomination"]
    assert service.duplicated_in_stream == [event_id]
    rendered = audit.render(report)
    assert f"event {event_id} appears twice in FLOWERS, at seq 2 and {copy.seq}" in rendered
    assert "no store has" not in rendered
