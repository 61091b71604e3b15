"""Prometheus metrics of the gateway (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "flowers_gateway_http_requests_total",
    "HTTP requests handled, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "flowers_gateway_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SERVICE_CALLS = Counter(
    "flowers_gateway_service_calls_total",
    "Commands and queries sent to services, by subject and outcome (ok or the error code).",
    ["subject", "outcome"],
)
SERVICE_LATENCY = Histogram(
    "flowers_gateway_service_call_duration_seconds",
    "Round-trip time of a command or query to a service.",
    ["subject"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SIGNINS = Counter(
    "flowers_gateway_signins_total",
    "Sign-in attempts by outcome (ok, failed, locked).",
    ["outcome"],
)
EVIDENCE_FILES_DELETED = Counter(
    "flowers_gateway_evidence_files_deleted_total",
    "Evidence files deleted from the file store, by reason (erasure, sweep).",
    ["reason"],
)
