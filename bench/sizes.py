"""How much work each figure does: the default run and `--quick`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    runs: int = 3  # each figure is the median of this many runs
    appends: int = 1000  # single-event appends per run (raw store path), per client count
    commands: int = 300  # nomination commands per run, per figure
    gcs: int = 500  # get-change-save iterations per run
    gcs_streams: int = 50  # the aggregates those iterations cycle through
    e2e_events: int = 2000  # events pushed through append → relay → NATS → projection
    latency_samples: int = 100  # one-event round trips for the end-to-end latency
    backlog: int = 20_000  # events behind which a consumer starts (catch-up)
    audit_events: int = 200_000  # the log the audit verifies
    gateway_requests: int = 300  # nominations through the gateway per run (8 clients; 1: ÷4)
    clients: int = 8  # the concurrent clients of the "8 clients" figures
    nominators: int = 300  # deadline day: unit nominators submitting and amending at once


DEFAULT = Sizes()
QUICK = Sizes(
    appends=300,
    commands=150,
    gcs=200,
    gcs_streams=20,
    e2e_events=600,
    latency_samples=40,
    backlog=2_000,
    audit_events=20_000,
    gateway_requests=120,
    nominators=100,
)


# The peer, installed into the venv by `python -m bench` when missing (never a dependency of
# the project). psycopg's binary wheel brings its own libpq.
PEER_VERSION = "9.5.6"
PEER_REQUIREMENTS = [f"eventsourcing[postgres]=={PEER_VERSION}", "psycopg[binary]==3.3.9"]
