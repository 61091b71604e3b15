"""Each service's Prometheus metrics and the key figures of its health query."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from prometheus_client.parser import text_string_to_metric_families

from deploy.embedded import free_port
from services.nomination.app import build_runtime as build_nomination
from services.review.app import build_runtime as build_review
from shared.bus import EVENTS_STREAM, EventConsumer, ensure_streams
from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import NominationSubmitted
from shared.events import DomainEvent, EventMetadata, EventRegistry, NewEvent, RecordedEvent
from shared.metrics import ServiceMetrics
from shared.postgres import PostgresEventStore
from shared.relay import Relay
from shared.rpc import RemoteError
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support import eventually, per_event, rpc_client

pytestmark = pytest.mark.integration


class Watered(DomainEvent):
    service = "garden"
    n: int


registry = EventRegistry([Watered])


def value(metrics: ServiceMetrics, metric: str, /, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(metric, labels)


# --- Command outcomes, no servers -----------------------------------------------------------


def test_replies_are_counted_by_outcome_code_and_timed() -> None:
    metrics = ServiceMetrics("garden")
    metrics.observe_request("flowers.cmd.garden.plant", 0.004, {"ok": True, "data": {}})
    metrics.observe_request("flowers.cmd.garden.plant", 0.002, {"ok": True, "data": {}})
    refused = {"ok": False, "error": {"code": "bed_full", "message_en": "full"}}
    metrics.observe_request("flowers.cmd.garden.plant", 0.001, refused)
    metrics.observe_request("flowers.qry.garden.beds", 0.003, {"ok": True, "data": []})

    outcome = "flowers_command_outcomes_total"
    assert value(metrics, outcome, service="garden", command="plant", code="ok") == 2
    assert value(metrics, outcome, service="garden", command="plant", code="bed_full") == 1
    assert value(metrics, "flowers_query_outcomes_total", service="garden", query="beds", code="ok")
    latency = "flowers_rpc_handler_seconds_count"
    assert value(metrics, latency, service="garden", kind="command", name="plant") == 3
    assert value(metrics, latency, service="garden", kind="query", name="beds") == 1
    figures = metrics.figures()
    assert figures["commands"] == {"bed_full": 1, "ok": 2}
    assert figures["queries"] == {"ok": 1}


# --- Relay and consumer lag, redeliveries, handler latency ------------------------------------


@pytest.fixture
async def js(nc: Any, settings: Settings) -> JetStreamContext:
    js = nc.jetstream()
    await ensure_streams(js, settings)
    return js  # type: ignore[no-any-return]


async def test_relay_lag_consumer_lag_redeliveries_and_latency_are_measured(
    pg_store: PostgresEventStore, js: JetStreamContext, settings: Settings
) -> None:
    for n in range(3):
        await pg_store.append(f"bed-{n}", [NewEvent.of(Watered(n=n), EventMetadata())])
    relay = Relay("garden", pg_store, js)
    attempts: dict[int, int] = {}

    async def handler(_: asyncpg.Connection, __: RecordedEvent, event: DomainEvent) -> None:
        assert isinstance(event, Watered)
        attempts[event.n] = attempts.get(event.n, 0) + 1
        if event.n == 1 and attempts[1] <= 2:  # in the batch, then alone: then redelivered
            raise RuntimeError("the hose came loose")

    consumers: list[EventConsumer] = []
    metrics = ServiceMetrics("garden", consumers=lambda: consumers, relay=lambda: relay)
    consumer = EventConsumer(
        name="garden-beds",
        filter_subjects=["flowers.evt.garden.>"],
        registry=registry,
        handler=metrics.timed("garden-beds", per_event(handler)),
        pool=pg_store.pool,
        js=js,
        settings=settings,
    )
    consumers.append(consumer)

    await metrics.refresh(pg_store, relay, js, consumers)
    assert value(metrics, "flowers_relay_lag_positions", service="garden") == 3
    assert value(metrics, "flowers_log_head_position", service="garden") == 3
    assert metrics.figures()["consumers"]["garden-beds"]["pending"] is None  # not created yet

    await relay.drain()
    await consumer.ensure()
    await metrics.refresh(pg_store, relay, js, consumers)
    assert value(metrics, "flowers_relay_lag_positions", service="garden") == 0
    assert value(metrics, "flowers_relay_published_total", service="garden") == 3
    labels = {"service": "garden", "consumer": "garden-beds"}
    assert value(metrics, "flowers_consumer_pending_messages", **labels) == 3

    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: consumer.stats.handled == 3, timeout=15, what="all handled")
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 10)

    async def caught_up() -> bool:
        await metrics.refresh(pg_store, relay, js, consumers)
        return value(metrics, "flowers_consumer_ack_pending_messages", **labels) == 0

    await eventually(caught_up, timeout=10, what="the last ack to reach the server")
    assert value(metrics, "flowers_consumer_pending_messages", **labels) == 0
    assert value(metrics, "flowers_consumer_handled_total", **labels) == 3
    assert value(metrics, "flowers_consumer_failures_total", **labels) == 2
    assert value(metrics, "flowers_consumer_redeliveries_total", **labels) == 1
    assert value(metrics, "flowers_dead_letters_total", **labels) == 0
    # Handler runs (one per batch): the batch of three failed (bed 1) and was rolled back;
    # alone, bed 0 and bed 2 succeeded and bed 1 failed; redelivered, bed 1 succeeded.
    timed = "flowers_consumer_handler_seconds_count"
    assert value(metrics, timed, **labels, outcome="ok") == 3
    assert value(metrics, timed, **labels, outcome="error") == 2
    figures = metrics.figures()["consumers"]["garden-beds"]
    assert figures["redeliveries"] == 1
    assert figures["handler_mean_ms"] is not None


# --- A running service: /metrics over HTTP and the health query -----------------------------


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[tuple[ServiceRuntime, ServiceRuntime]]:
    settings = settings.model_copy(
        update={"metrics_port_nomination": free_port(), "metrics_port_review": free_port()}
    )
    nomination, review = build_nomination(settings), build_review(settings)
    await nomination.start()
    await review.start()
    try:
        yield nomination, review
    finally:
        await review.stop()
        await nomination.stop()


def submitted() -> NominationSubmitted:
    return NominationSubmitted(
        nomination_id=uuid.uuid4(),
        round_id="2026-Q4",
        category=Category.STRIVING,
        nominee=NomineeSnapshot(
            employee_no="E0001",
            name="张伟",
            unit_code="PS",
            unit_name="物业服务中心",
            position="维修工",
        ),
        deeds="带领班组连续三个月零投诉，" * 5,
        results=(),
        evidence_links=(),
        recommendation="同意推荐",
        submitted_by="nominator-ps",
        submitted_at=datetime.now(UTC),
    )


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(url)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_a_service_exposes_its_metrics_over_http_and_in_its_health(
    services: tuple[ServiceRuntime, ServiceRuntime], nc: NatsClient
) -> None:
    nomination, review = services
    rpc = rpc_client(nc)
    await nomination.store.append(
        "round-2026-Q4-x", [NewEvent.of(submitted(), EventMetadata(actor="nominator-ps"))]
    )
    # A message no one can read: dead-lettered at once by review's consumer.
    await nc.jetstream().publish(
        "flowers.evt.nomination.Bogus", b"not an envelope", stream=EVENTS_STREAM
    )
    with pytest.raises(RemoteError) as refused:
        await rpc.command("nomination", "open_round", {"round_id": "not a round"})
    assert refused.value.error.code == "invalid_input"

    async def review_caught_up() -> bool:
        health = await rpc.query("review", "health", {})
        consumer = health["consumers"]["review-nomination"]
        return bool(consumer["handled"] == 1 and consumer["dead_lettered"] == 1)

    await eventually(review_caught_up, timeout=20, what="review to handle both messages")

    await rpc.query("nomination", "health", {})
    health = await rpc.query("nomination", "health", {})  # counts the one before it
    assert health["log_head"] == 1
    assert health["relay_lag"] == 0
    assert health["commands"] == {"invalid_input": 1}
    assert health["queries"] == {"ok": 1}
    assert health["metrics_url"] == nomination.metrics.url
    health = await rpc.query("review", "health", {})
    assert health["dead_letters"] == 1
    assert health["consumers"]["review-nomination"]["pending"] == 0

    assert nomination.metrics.url is not None
    assert review.metrics.url is not None
    scraped = await scrape(nomination.metrics.url)
    service = (("service", "nomination"),)
    assert scraped[("flowers_relay_lag_positions", service)] == 0
    assert scraped[("flowers_relay_published_total", service)] == 1
    outcome = (("code", "invalid_input"), ("command", "open_round"), ("service", "nomination"))
    assert scraped[("flowers_command_outcomes_total", outcome)] == 1
    assert any(name == "flowers_rpc_handler_seconds_bucket" for name, _ in scraped)

    scraped = await scrape(review.metrics.url)
    consumer = (("consumer", "review-nomination"), ("service", "review"))
    assert scraped[("flowers_dead_letters_total", consumer)] == 1
    assert scraped[("flowers_consumer_handled_total", consumer)] == 1
    assert scraped[("flowers_consumer_pending_messages", consumer)] == 0
    ok = (("consumer", "review-nomination"), ("outcome", "ok"), ("service", "review"))
    assert scraped[("flowers_consumer_handler_seconds_count", ok)] == 1


async def test_metrics_are_off_unless_a_port_is_set(settings: Settings, nc: NatsClient) -> None:
    runtime = build_nomination(settings)
    await runtime.start()
    try:
        assert runtime.metrics.url is None
        health = await rpc_client(nc).query("nomination", "health", {})
        assert health["metrics_url"] is None
    finally:
        await runtime.stop()
