"""`python -m bench` (`make bench`): run every figure, then print the table.

    python -m bench                  # the default run (3 runs of each figure)
    python -m bench --quick          # smaller work, same figures (a couple of minutes)
    python -m bench --only e2e,catchup --runs 5 --json .data/bench/result.json

Progress goes to stderr, the table (Markdown) to stdout. Nothing here asserts anything
about speed; a section that fails is reported in the table and makes the exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cluster, data, ours
from bench.deadline import DeadlineDay
from bench.full import FullLog
from bench.sizes import DEFAULT, PEER_REQUIREMENTS, PEER_VERSION, QUICK, Sizes
from bench.stack import BenchStack
from bench.table import Measure, Row, Timed, elapsed, fmt, percentile, progress, render
from shared.postgres import ensure_database

SECTIONS = ("store", "commands", "gateway", "e2e", "catchup", "audit", "cluster", "deadline")
FULL = "full"  # only with --full (or --only full): the figures over a large log
FULL_EVENTS = 1_000_000


@dataclass
class Bench:
    stack: BenchStack
    sizes: Sizes
    peer: Any  # the bench.peer module, or None with --no-peer
    rows: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    events: int = FULL_EVENTS  # the `--full` log's size

    async def peer_database(self) -> str:
        """A fresh database for the peer on the same server; its URL."""
        name = f"{self.stack.new_prefix()}peer"
        await ensure_database(self.stack.pg_url, name)
        return self.stack.database_url(name)

    def runs(self) -> range:
        return range(1, self.sizes.runs + 1)


def rate_row(
    section: str, label: str, ours: Measure, peer: Measure | None = None, peer_label: str = ""
) -> Row:
    return Row(section, label, [ours], [peer] if peer else [], peer_label)


def timed_rows(
    section: str, label: str, ours: Timed, peer: Timed | None = None, peer_label: str = ""
) -> list[Row]:
    return [
        Row(section, label, [ours.rate], [peer.rate] if peer else [], peer_label),
        Row(
            section,
            f"{label}: latency p50 / p99",
            ours.latency,
            peer.latency if peer else [],
            peer_label,
        ),
    ]


# --------------------------------------------------------------------------- sections


async def store_section(b: Bench) -> None:
    section = "Appends: the event store alone (one event per transaction, no relay)"
    sizes = b.sizes
    create1, create8, gcs = Timed("ev/s"), Timed("ev/s"), Timed("ev/s")
    peer1, peer8, peer_gcs = Timed("ev/s"), Timed("ev/s"), Timed("ev/s")
    store = ours.StoreBench(b.stack)
    await store.start(sizes.clients)
    peer_store = None
    try:
        if b.peer is not None:
            peer_store = await asyncio.to_thread(b.peer.PeerStore, await b.peer_database())
        for run in b.runs():
            t = await store.create(1, sizes.appends)
            progress(f"store run {run}: create, 1 client: {create1.add(t.rate, t.latencies)}")
            if peer_store is not None:
                rate, lat = await asyncio.to_thread(peer_store.create, 1, sizes.appends)
                progress(
                    f"store run {run}: peer aggregate creation, 1 client: {peer1.add(rate, lat)}"
                )
            t = await store.create(sizes.clients, sizes.appends)
            line = create8.add(t.rate, t.latencies)
            progress(f"store run {run}: create, {sizes.clients} clients: {line}")
            if peer_store is not None:
                rate, lat = await asyncio.to_thread(peer_store.create, sizes.clients, sizes.appends)
                progress(
                    f"store run {run}: peer aggregate creation, {sizes.clients} threads: "
                    f"{peer8.add(rate, lat)}"
                )
            t = await store.get_change_save(sizes.gcs, sizes.gcs_streams)
            progress(f"store run {run}: get-change-save: {gcs.add(t.rate, t.latencies)}")
            if peer_store is not None:
                rate, lat = await asyncio.to_thread(
                    peer_store.get_change_save, sizes.gcs, sizes.gcs_streams
                )
                progress(f"store run {run}: peer get-change-save: {peer_gcs.add(rate, lat)}")
    finally:
        await store.stop()
        if peer_store is not None:
            await asyncio.to_thread(peer_store.close)
    has_peer = peer_store is not None
    b.rows += timed_rows(
        section,
        "create: 1 event to a new stream, 1 client",
        create1,
        peer1 if has_peer else None,
        "aggregate creation",
    )
    b.rows += timed_rows(
        section,
        f"create: 1 event to a new stream, {sizes.clients} clients",
        create8,
        peer8 if has_peer else None,
        f"aggregate creation, {sizes.clients} threads",
    )
    b.rows += timed_rows(
        section,
        f"get-change-save (load, fold, decide, append) over {sizes.gcs_streams} streams",
        gcs,
        peer_gcs if has_peer else None,
        "get-change-save",
    )


async def commands_section(b: Bench) -> None:
    section = "Commands: the nomination service's `submit` (service in-process)"
    sizes = b.sizes
    n = sizes.clients
    figures = [
        ("in-process handler, 1 client", 1, False, False),
        ("over NATS request/reply, 1 client", 1, True, False),
        (f"over NATS, {n} clients, each its own rounds", n, True, False),
        (f"over NATS, {n} clients, all in one round at a time (one stream)", n, True, True),
    ]
    timings = {label: Timed("cmd/s") for label, *_ in figures}
    async with b.stack.nats("commands") as url:
        bench = ours.CommandBench(b.stack, url)
        await bench.start()
        try:
            for run in b.runs():
                for label, clients, over_nats, shared in figures:
                    t = await bench.submit(
                        clients, sizes.commands, over_nats=over_nats, shared=shared
                    )
                    progress(
                        f"commands run {run}: {label}: {timings[label].add(t.rate, t.latencies)}"
                    )
        finally:
            await bench.stop()
    for label, *_ in figures:
        b.rows += timed_rows(section, label, timings[label])


async def gateway_section(b: Bench) -> None:
    section = "Gateway: POST /api/v1/nominations over HTTP (uvicorn, loopback), end to end"
    sizes = b.sizes
    n = sizes.clients
    one, many = Timed("req/s"), Timed("req/s")
    async with b.stack.nats("gateway") as url:
        bench = ours.GatewayBench(b.stack, url)
        try:
            await bench.start(n)
            for run in b.runs():
                t = await bench.submit(1, max(1, sizes.gateway_requests // 4))
                progress(f"gateway run {run}: 1 client: {one.add(t.rate, t.latencies)}")
                t = await bench.submit(n, sizes.gateway_requests)
                progress(f"gateway run {run}: {n} clients: {many.add(t.rate, t.latencies)}")
        except Exception as exc:  # not built yet, or not working: the row says n/a
            if not isinstance(exc, ours.GatewayUnavailable):
                traceback.print_exc()
            progress(f"gateway: not available: {exc!r}")
            b.rows.append(
                Row(section, "submit a nomination", [], note="n/a (gateway endpoint not available)")
            )
            return
        finally:
            await bench.stop()
    b.rows += timed_rows(section, "submit, 1 client", one)
    b.rows += timed_rows(section, f"submit, {n} clients (units), same rounds", many)


async def e2e_section(b: Bench) -> None:
    section = "End to end: nomination append → relay → NATS (sync always) → review `candidates`"
    sizes = b.sizes
    rate, latency = Measure("ev/s"), [Measure("ms"), Measure("ms")]
    peer_rate, peer_latency = Measure("ev/s"), [Measure("ms"), Measure("ms")]
    for run in b.runs():
        async with b.stack.nats(f"e2e-{run}") as url:
            r, lat = await ours.end_to_end(b.stack, url, sizes.e2e_events, sizes.latency_samples)
        _add(rate, latency, r, lat)
        progress(f"e2e run {run}: {_line(rate, latency)}")
        if b.peer is not None:
            database = await b.peer_database()
            r, lat = await asyncio.to_thread(
                b.peer.end_to_end, database, sizes.e2e_events, sizes.latency_samples
            )
            _add(peer_rate, peer_latency, r, lat)
            progress(f"e2e run {run}: peer follower: {_line(peer_rate, peer_latency)}")
    has_peer = b.peer is not None
    label = "follower process application"
    b.rows.append(
        Row(
            section,
            f"throughput ({sizes.e2e_events:,} events)",
            [rate],
            [peer_rate] if has_peer else [],
            label,
        )
    )
    b.rows.append(
        Row(
            section,
            "one event: latency p50 / p99",
            latency,
            peer_latency if has_peer else [],
            label,
        )
    )


def _add(rate: Measure, latency: list[Measure], value: float, latencies: list[float]) -> None:

    rate.add(value)
    latency[0].add(percentile(latencies, 50) * 1000)
    latency[1].add(percentile(latencies, 99) * 1000)


def _line(rate: Measure, latency: list[Measure]) -> str:
    return (
        f"{fmt(rate.runs[-1], 'ev/s')} ev/s, one event p50 {fmt(latency[0].runs[-1], 'ms')} ms, "
        f"p99 {fmt(latency[1].runs[-1], 'ms')} ms"
    )


async def catchup_section(b: Bench) -> None:
    section = f"Catch-up: a consumer started behind {b.sizes.backlog:,} events"
    sizes = b.sizes
    rate, peer_rate = Measure("ev/s"), Measure("ev/s")
    async with b.stack.nats("catchup") as url:
        catch_up = ours.CatchUp(b.stack, url)
        filled = await catch_up.fill(sizes.backlog)
        progress(
            f"catch-up: backlog of {sizes.backlog:,} appended and relayed "
            f"({fmt(filled, 'ev/s')} ev/s)"
        )
        peer = None
        try:
            if b.peer is not None:
                peer = await asyncio.to_thread(b.peer.PeerCatchUp, await b.peer_database())
                peer_filled = await asyncio.to_thread(peer.fill, sizes.backlog)
                progress(f"catch-up: peer leader filled ({fmt(peer_filled, 'ev/s')} ev/s)")
            for run in b.runs():
                rate.add(await catch_up.run())
                progress(f"catch-up run {run}: review consumer: {fmt(rate.runs[-1], 'ev/s')} ev/s")
                if peer is not None:
                    peer_rate.add(await asyncio.to_thread(peer.run))
                    progress(
                        f"catch-up run {run}: peer follower: {fmt(peer_rate.runs[-1], 'ev/s')} ev/s"
                    )
        finally:
            if peer is not None:
                await asyncio.to_thread(peer.close)
    b.rows.append(
        Row(
            section,
            "review consumer until caught up",
            [rate],
            [peer_rate] if peer is not None else [],
            "follower catch-up",
        )
    )


async def audit_section(b: Bench) -> None:
    sizes = b.sizes
    section = f"Audit: a log of {sizes.audit_events:,} events"
    fill, relay, chain, verify = (Measure("ev/s") for _ in range(4))
    async with b.stack.nats("audit") as url:
        audit = ours.AuditBench(b.stack, url)
        await audit.start()
        try:
            fill.add(await audit.fill(sizes.audit_events))
            progress(
                f"audit: {sizes.audit_events:,} events appended ({fmt(fill.runs[-1], 'ev/s')} ev/s)"
            )
            relay.add(await audit.relay())
            progress(f"audit: relayed to FLOWERS ({fmt(relay.runs[-1], 'ev/s')} ev/s)")
            for run in b.runs():
                chain.add(await audit.verify_chain())
                progress(f"audit run {run}: verify_chain: {fmt(chain.runs[-1], 'ev/s')} ev/s")
                verify.add(await audit.verify_all())
                progress(f"audit run {run}: audit.verify: {fmt(verify.runs[-1], 'ev/s')} ev/s")
        finally:
            await audit.stop()
    b.rows += [
        Row(section, "fill: append_batch, 1,000 events a transaction (1 run)", [fill]),
        Row(section, "relay: the whole log to JetStream (1 run)", [relay]),
        Row(section, "PostgresEventStore.verify_chain()", [chain]),
        Row(section, "shared.audit.verify (chain + FLOWERS exactly once)", [verify]),
    ]


async def deadline_section(b: Bench) -> None:
    n = b.sizes.nominators
    section = (
        f"New — deadline day, services as processes (`flowers up`'s Stack): {n} unit "
        "nominators submit + amend over the gateway's HTTP API while 3 panelists score"
    )
    async with b.stack.nats("deadline") as url:
        results = await DeadlineDay(b.stack, url, n, b.sizes.runs).run()
    latency = {kind: [Measure("ms"), Measure("ms")] for kind in ("submit", "amend", "score")}
    rate, errors = Measure("req/s"), Measure("errors")
    for result in results:
        for kind, (p50, p99) in latency.items():
            values = result.latencies.get(kind)
            if values:
                p50.add(percentile(values, 50) * 1000)
                p99.add(percentile(values, 99) * 1000)
        rate.add(result.requests / result.wall_s)
        errors.add(len(result.errors))
    errors.runs = [sum(errors.runs)]  # every error counts: the sum, not a median
    b.rows += [
        Row(section, f"submit ({n} at once): latency p50 / p99", latency["submit"]),
        Row(section, "amend (right after each submit): latency p50 / p99", latency["amend"]),
        Row(section, "score (3 panelists, meanwhile): latency p50 / p99", latency["score"]),
        Row(section, "all requests: throughput", [rate]),
        Row(
            section,
            f"errors, all {len(results)} runs together (a status not the expected one, or none)",
            [errors],
        ),
    ]


async def full_section(b: Bench) -> None:
    total = b.events
    section = (
        f"New — `--full`: a log of {total:,} nomination events (RoundOpened + 49 "
        "nominations a round), services as `flowers up` prepares them (1 run)"
    )
    async with b.stack.nats("full") as url:
        figures = await FullLog(b.stack, url, total).run()

    def rate(step: str) -> list[Measure]:
        return [Measure("ev/s", [figures.rate[step]])]

    def seconds(step: str) -> list[Measure]:
        return [Measure("s", [figures.seconds[step]])]

    both = f"{figures.verified_events:,} events: nomination + review's"
    b.rows += [
        Row(section, "write: hash-chained rows made in Python, COPY", rate("write")),
        Row(section, "projection rebuild (`flowers audit rebuild nomination`)", rate("rebuild")),
        Row(section, "projection rebuild: time", seconds("rebuild")),
        Row(section, "relay: the whole log to JetStream (Relay.drain)", rate("relay")),
        Row(
            section,
            "catch-up: review as its own process, cold, until its ack floor reaches the end "
            "(its start included)",
            rate("catch-up"),
        ),
        Row(
            section,
            f"`flowers audit verify` (chains, FLOWERS, every projection rebuilt), {both}",
            rate("verify"),
        ),
        Row(section, "`flowers audit verify`: time", seconds("verify")),
        Row(
            section,
            f"as-of: one round at the log's end over every store ({both}; the command)",
            seconds("as-of"),
        ),
        Row(
            section,
            "as-of: the command's peak memory (RSS)",
            [Measure("MB", [figures.peak_mb["as-of"]])],
        ),
    ]


RUNNERS: dict[str, Callable[[Bench], Awaitable[None]]] = {
    "store": store_section,
    "commands": commands_section,
    "gateway": gateway_section,
    "e2e": e2e_section,
    "catchup": catchup_section,
    "audit": audit_section,
    "cluster": cluster.cluster_section,
    "deadline": deadline_section,
    FULL: full_section,
}


# --------------------------------------------------------------------------- main


def ensure_peer() -> Any:
    """Import the peer, installing the pinned `eventsourcing` into this venv if missing."""
    try:
        installed = importlib.metadata.version("eventsourcing")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != PEER_VERSION:
        progress(f"installing the peer for the benchmark only: {' '.join(PEER_REQUIREMENTS)}")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS], check=True
        )
        importlib.invalidate_caches()
    return importlib.import_module("bench.peer")


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores{f' ({cpu})' if cpu else ''}, Python {platform.python_version()}"


async def run(args: argparse.Namespace, sizes: Sizes, peer: Any) -> Bench:
    stack = BenchStack()
    await stack.start()
    bench = Bench(stack, sizes, peer, events=args.events)
    progress(f"{stack.describe()}; PostgreSQL {stack.pg_version}")
    try:
        for name in args.only:
            progress(f"— {name} —")
            try:
                await RUNNERS[name](bench)
            except Exception as exc:
                traceback.print_exc()
                bench.failures.append(f"{name}: {exc!r}")
                bench.rows.append(Row(name, "(section failed)", [], note=f"failed: {exc!r}"[:120]))
    finally:
        await stack.stop()
    return bench


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller work (same figures)")
    parser.add_argument("--runs", type=int, help="runs per figure (median; at least 3)")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections: {','.join(SECTIONS)} (and {FULL})",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"also the figures over a large log ({FULL_EVENTS:,} events; see --events)",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=FULL_EVENTS,
        help="the --full log's size (e.g. 20000 for a quick trial)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the eventsourcing peer")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    if args.full and FULL not in args.only:
        args.only.append(FULL)
    if args.events < 1:
        parser.error("--events must be positive")
    unknown = [s for s in args.only if s not in RUNNERS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    if args.runs is not None and args.runs < 3:
        parser.error("--runs must be at least 3 (each figure is a median)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = QUICK if args.quick else DEFAULT
    if args.runs:
        sizes = dataclasses.replace(sizes, runs=args.runs)
    peer = None if args.no_peer else ensure_peer()
    bench = asyncio.run(run(args, sizes, peer))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    full = f"(--full, {args.events:,} events) " if FULL in args.only else ""
    print()
    print(
        f"Benchmark {'(--quick) ' if args.quick else ''}{full}{when}: median of {sizes.runs} "
        f"runs per figure; {machine()}; PostgreSQL {bench.stack.pg_version}; "
        f"peer: eventsourcing {PEER_VERSION if peer else '(skipped)'}; "
        f"total {elapsed() / 60:.1f} min."
    )
    print()
    print(render(bench.rows))
    print()
    print(
        "ours vs peer: how many times better ours is (rates ours÷peer, latencies peer÷ours); "
        "below 1× the peer is faster."
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "when": when,
                    "sizes": dataclasses.asdict(sizes),
                    "machine": machine(),
                    "postgres": bench.stack.pg_version,
                    "rows": [r.to_json() for r in bench.rows],
                    "failures": bench.failures,
                    "workload": {"slots_per_round": data.SLOTS_PER_ROUND},
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    if bench.failures:
        print(f"\nfailed: {'; '.join(bench.failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
