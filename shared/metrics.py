"""Prometheus metrics of one service process, and the key figures its health query returns.

Each ServiceRuntime owns one `ServiceMetrics` with its own registry (several runtimes share
a process in tests). What is measured:

- the relay: how many positions the log's head is ahead of the relay's checkpoint (lag),
  the log head, and what it published;
- each durable consumer: its lag (`num_pending` and `num_ack_pending` from the server's
  consumer info), redeliveries, handled messages, duplicates absorbed by the inbox,
  failures, dead letters, and its handler's latency (a histogram, by outcome);
- each request/reply handler: its latency (a histogram) and every reply by outcome code
  (`ok`, or the error code such as `not_found`, `invalid_input`, `internal_error`).

Counters are read from the relay's and consumers' own stats when scraped; the lag gauges
need the database and the server, so they are refreshed by `refresh()`, which the
runtime calls every `FLOWERS_METRICS_REFRESH_S` while the exporter runs and on every
health query. The exporter (`serve`) is plain HTTP on 127.0.0.1:
`FLOWERS_METRICS_PORT_<SERVICE>` (0, the default, is off).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from threading import Thread
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.bus import EVENTS_STREAM
from shared.logging import get_logger

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from shared.bus import EventConsumer, Handler
    from shared.postgres import PostgresEventStore
    from shared.relay import Relay

log = get_logger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class ConsumerLag:
    pending: int | None = None  # messages in the stream the consumer has not been given
    ack_pending: int | None = None  # given, not yet acknowledged
    redelivered: int | None = None  # given more than once, not yet acknowledged


class _StatsCollector(Collector):
    """Counters read from the relay's and the consumers' own stats at scrape time."""

    def __init__(
        self,
        service: str,
        consumers: Callable[[], Sequence[EventConsumer]],
        relay: Callable[[], Relay | None],
    ) -> None:
        self.service = service
        self.consumers = consumers
        self.relay = relay

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        yield from self._families(with_samples=True)

    def _families(self, with_samples: bool = False) -> Iterator[Metric]:
        per_consumer = {
            "flowers_consumer_handled": ("handled", "Messages handled (their effects committed)"),
            "flowers_consumer_duplicates": (
                "duplicates",
                "Messages seen before, absorbed by the inbox",
            ),
            "flowers_consumer_failures": ("failures", "Handler attempts that failed"),
            "flowers_consumer_redeliveries": (
                "redeliveries",
                "Deliveries of a message that had been delivered before",
            ),
            "flowers_dead_letters": ("dead_lettered", "Messages dead-lettered to FLOWERS_DLQ"),
        }
        consumers = list(self.consumers()) if with_samples else []
        for name, (attribute, documentation) in per_consumer.items():
            family = CounterMetricFamily(name, documentation, labels=["service", "consumer"])
            for consumer in consumers:
                family.add_metric([self.service, consumer.name], getattr(consumer.stats, attribute))
            yield family
        relay = self.relay() if with_samples else None
        for name, attribute, documentation in (
            ("flowers_relay_published", "published", "Events the relay published (acknowledged)"),
            ("flowers_relay_duplicates", "duplicates", "Re-published events the stream dropped"),
            ("flowers_relay_errors", "errors", "Relay rounds that failed and were retried"),
        ):
            family = CounterMetricFamily(name, documentation, labels=["service"])
            if relay is not None:
                family.add_metric([self.service], getattr(relay.stats, attribute))
            yield family


class ServiceMetrics:
    """One service process's metrics; `figures()` is what the health query shows."""

    def __init__(
        self,
        service: str,
        *,
        consumers: Callable[[], Sequence[EventConsumer]] = lambda: [],
        relay: Callable[[], Relay | None] = lambda: None,
    ) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self._consumers = consumers
        self._relay = relay
        self.registry.register(_StatsCollector(service, consumers, relay))
        r = self.registry
        self.log_head = Gauge(
            "flowers_log_head_position",
            "Position of the last event in the log",
            ["service"],
            registry=r,
        )
        self.relay_lag = Gauge(
            "flowers_relay_lag_positions",
            "Positions the log's head is ahead of the relay's checkpoint",
            ["service"],
            registry=r,
        )
        self.consumer_pending = Gauge(
            "flowers_consumer_pending_messages",
            "Messages in FLOWERS the consumer has not yet been given (num_pending)",
            ["service", "consumer"],
            registry=r,
        )
        self.consumer_ack_pending = Gauge(
            "flowers_consumer_ack_pending_messages",
            "Messages given to the consumer and not yet acknowledged (num_ack_pending)",
            ["service", "consumer"],
            registry=r,
        )
        self.consumer_redelivered = Gauge(
            "flowers_consumer_redelivered_messages",
            "Unacknowledged messages that were delivered more than once (num_redelivered)",
            ["service", "consumer"],
            registry=r,
        )
        self.handler_seconds = Histogram(
            "flowers_consumer_handler_seconds",
            "Consumer handler latency per batch, inside the inbox transaction, "
            "by outcome (ok/error)",
            ["service", "consumer", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.request_seconds = Histogram(
            "flowers_rpc_handler_seconds",
            "Command and query handler latency, from request to reply",
            ["service", "kind", "name"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.command_outcomes = Counter(
            "flowers_command_outcomes",
            "Command replies by outcome code: ok, or the error's code",
            ["service", "command", "code"],
            registry=r,
        )
        self.query_outcomes = Counter(
            "flowers_query_outcomes",
            "Query replies by outcome code: ok, or the error's code",
            ["service", "query", "code"],
            registry=r,
        )
        self._lag: dict[str, ConsumerLag] = {}
        self._head = 0
        self._relay_lag = 0
        self._outcomes: dict[str, dict[str, dict[str, int]]] = {"command": {}, "query": {}}
        self._handler_totals: dict[str, list[float]] = {}
        self._server: WSGIServer | None = None
        self._thread: Thread | None = None
        self.url: str | None = None

    # Observations --------------------------------------------------------------------

    def timed(self, consumer: str, handler: Handler) -> Handler:
        """The consumer's handler, its latency recorded by outcome."""

        async def timed_handler(conn: Any, items: Any) -> None:
            started = time.perf_counter()
            outcome = "error"
            try:
                await handler(conn, items)
                outcome = "ok"
            finally:
                elapsed = time.perf_counter() - started
                self.handler_seconds.labels(self.service, consumer, outcome).observe(elapsed)
                totals = self._handler_totals.setdefault(consumer, [0.0, 0.0])
                totals[0] += 1
                totals[1] += elapsed

        timed_handler.__name__ = getattr(handler, "__name__", "handler")
        return timed_handler

    def observe_request(self, subject: str, seconds: float, reply: dict[str, Any]) -> None:
        """One request/reply: `flowers.<cmd|qry>.<service>.<name>` and its reply."""
        parts = subject.split(".")
        kind = "command" if parts[1:2] == ["cmd"] else "query"
        name = parts[-1]
        error = reply.get("error") or {}
        code = "ok" if reply.get("ok") else str(error.get("code", "unknown"))
        self.request_seconds.labels(self.service, kind, name).observe(seconds)
        counter = self.command_outcomes if kind == "command" else self.query_outcomes
        counter.labels(self.service, name, code).inc()
        by_code = self._outcomes[kind].setdefault(code, {})
        by_code[name] = by_code.get(name, 0) + 1

    # Lag -----------------------------------------------------------------------------

    async def refresh(
        self,
        store: PostgresEventStore,
        relay: Relay | None,
        js: JetStreamContext | None,
        consumers: Sequence[EventConsumer],
    ) -> None:
        """Read the relay's and the consumers' lag from the database and the server."""
        head = await store.head()
        checkpoint = await relay.checkpoint() if relay is not None else 0
        self._head, self._relay_lag = head, head - checkpoint
        self.log_head.labels(self.service).set(head)
        self.relay_lag.labels(self.service).set(self._relay_lag)
        lags = await asyncio.gather(*(self._consumer_lag(js, c.name) for c in consumers))
        for consumer, lag in zip(consumers, lags, strict=True):
            self._lag[consumer.name] = lag
            for gauge, value in (
                (self.consumer_pending, lag.pending),
                (self.consumer_ack_pending, lag.ack_pending),
                (self.consumer_redelivered, lag.redelivered),
            ):
                if value is not None:
                    gauge.labels(self.service, consumer.name).set(value)

    async def _consumer_lag(self, js: JetStreamContext | None, name: str) -> ConsumerLag:
        if js is None:
            return ConsumerLag()
        try:
            info = await asyncio.wait_for(js.consumer_info(EVENTS_STREAM, name), 0.5)
        except Exception as exc:  # not created yet, or the server is away: unknown
            log.debug("consumer_info_unavailable", consumer=name, error=repr(exc))
            return ConsumerLag()
        return ConsumerLag(info.num_pending, info.num_ack_pending, info.num_redelivered)

    # Health figures ------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        """The key figures for the health query (as of the last `refresh()`)."""
        consumers: dict[str, Any] = {}
        for consumer in self._consumers():
            stats, lag = consumer.stats, self._lag.get(consumer.name, ConsumerLag())
            count, total = self._handler_totals.get(consumer.name, [0.0, 0.0])
            consumers[consumer.name] = {
                "handled": stats.handled,
                "duplicates": stats.duplicates,
                "failures": stats.failures,
                "redeliveries": stats.redeliveries,
                "dead_lettered": stats.dead_lettered,
                "pending": lag.pending,
                "ack_pending": lag.ack_pending,
                "handler_mean_ms": round(total / count * 1000, 3) if count else None,
            }
        return {
            "log_head": self._head,
            "relay_lag": self._relay_lag,
            "consumers": consumers,
            "dead_letters": sum(c["dead_lettered"] for c in consumers.values()),
            "commands": _totals(self._outcomes["command"]),
            "queries": _totals(self._outcomes["query"]),
            "metrics_url": self.url,
        }

    # Exporter ------------------------------------------------------------------------

    def serve(self, port: int, host: str = "127.0.0.1") -> str:
        """Expose /metrics over HTTP (a daemon thread); returns the URL."""
        self._server, self._thread = start_http_server(port, host, registry=self.registry)
        bound = self._server.server_address[1]
        self.url = f"http://{host}:{bound}/metrics"
        log.info("metrics_serving", url=self.url)
        return self.url

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(5.0)
        self._server = self._thread = None
        self.url = None


def _totals(by_code: dict[str, dict[str, int]]) -> dict[str, int]:
    """Replies per outcome code, summed over the handlers."""
    return {code: sum(names.values()) for code, names in sorted(by_code.items())}
