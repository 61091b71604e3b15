"""`python -m bench --full`: the figures over a large log (1,000,000 events by default).

On a system prepared by deploy/stack.py's `Stack` (every database, role and schema as
`flowers up` makes them, on the bench's servers), in this order, each timed once:

1. write: the nomination log made by bench/biglog.py (hash-chained with the project's
   formula) and written with COPY, the log head moved to its end;
2. rebuild: the nomination service's projections rebuilt from that log and swapped in
   (`shared.audit_projections.rebuild`, what `flowers audit rebuild nomination` runs);
3. relay: the whole log published to FLOWERS by the nomination relay (`Relay.drain`);
4. catch-up: the review service started as its own process (`faststream run`, as
   `flowers up` starts it), cold, until its consumer's ack floor reaches the end of the
   stream (the time includes the process's start);
5. verify: `flowers audit verify --json` as a command (chains, FLOWERS exactly once,
   every projection of every service rebuilt and compared), which must pass;
6. as-of: one round as it stood at the end of the log, over every store: `flowers audit
   as-of --round … --json` as a command, with its peak memory (RSS).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

import asyncpg
from nats.js.errors import NotFoundError

from bench import biglog, data
from bench.stack import BenchStack
from bench.system import cli_env, start, system
from bench.table import progress
from deploy.stack import Stack
from shared import audit_projections
from shared.bus import EVENTS_STREAM
from shared.database_roles import owner_login
from shared.postgres import PostgresEventStore, create_pool
from shared.projection import declared
from shared.relay import Relay
from shared.settings import PROJECT_ROOT

REVIEW_CONSUMER = "review-nomination"
COPY_CHUNK = 50_000


@dataclass
class FullFigures:
    """What one `--full` run measured: events/s per step, and some steps' seconds."""

    events: int
    rate: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    verified_events: int = 0
    peak_mb: dict[str, float] = field(default_factory=dict)  # a command's peak RSS

    def note(self, step: str, events: int, seconds: float) -> None:
        self.seconds[step] = seconds
        self.rate[step] = events / seconds if seconds > 0 else 0.0
        progress(
            f"full: {step}: {events:,} events in {seconds:.1f} s ({self.rate[step]:,.0f} ev/s)"
        )


def chunks(rows: Iterator[biglog.Row], size: int) -> Iterator[list[biglog.Row]]:
    while chunk := list(islice(rows, size)):
        yield chunk


class FullLog:
    def __init__(self, bench: BenchStack, nats_url: str, events: int) -> None:
        self.bench = bench
        self.nats_url = nats_url
        self.events = events

    async def run(self) -> FullFigures:
        figures = FullFigures(self.events)
        async with system(self.bench, self.nats_url) as stack:
            end = datetime.now(UTC)
            await self._write(stack, figures, end)
            await self._rebuild(stack, figures)
            await self._relay(stack, figures)
            review_events = await self._catch_up(stack, figures)
            figures.verified_events = self.events + review_events
            await self._verify(stack, figures)
            await self._as_of(stack, figures)
        return figures

    def _admin_url(self, stack: Stack, service: str) -> str:
        return self.bench.database_url(stack.settings.database_name(service))

    async def _write(self, stack: Stack, figures: FullFigures, end: datetime) -> None:
        conn = await asyncpg.connect(self._admin_url(stack, "nomination"))
        try:
            started = time.perf_counter()
            last = None
            async with conn.transaction():
                for chunk in chunks(biglog.generate(self.events, end), COPY_CHUNK):
                    await conn.copy_records_to_table(
                        "events", records=chunk, columns=list(biglog.COLUMNS)
                    )
                    last = chunk[-1]
                assert last is not None
                await conn.execute(
                    "UPDATE event_log_head SET position = $1, hash = $2", last[0], last[-1]
                )
            await conn.execute("ANALYZE events")
            figures.note("write", self.events, time.perf_counter() - started)
        finally:
            await conn.close()

    async def _rebuild(self, stack: Stack, figures: FullFigures) -> None:
        settings = stack.settings
        pool = await create_pool(
            settings.database_url_for("nomination", login=owner_login("nomination")), max_size=2
        )
        nc = await self.bench.connect(self.nats_url, "operator")
        try:
            started = time.perf_counter()
            report = await audit_projections.rebuild(pool, declared("nomination"), nc.jetstream())
            figures.note("rebuild", report.own_events, time.perf_counter() - started)
        finally:
            await nc.close()
            await pool.close()

    async def _relay(self, stack: Stack, figures: FullFigures) -> None:
        settings = stack.settings
        pool = await create_pool(settings.database_url_for("nomination"), max_size=2)
        nc = await self.bench.connect(self.nats_url, "nomination")
        try:
            relay = Relay(
                "nomination",
                PostgresEventStore(pool),
                nc.jetstream(),
                batch_size=settings.relay_batch_size,
            )
            started = time.perf_counter()
            published = await relay.drain()
            figures.note("relay", published, time.perf_counter() - started)
        finally:
            await nc.close()
            await pool.close()

    async def _catch_up(self, stack: Stack, figures: FullFigures) -> int:
        """The review process consumes the whole stream; returns the events it wrote."""
        nc = await self.bench.connect(self.nats_url)
        try:
            js = nc.jetstream()
            last = (await js.stream_info(EVENTS_STREAM)).state.last_seq
            started = time.perf_counter()
            await start(stack, ["review"])
            while True:
                with contextlib.suppress(NotFoundError):
                    info = await js.consumer_info(EVENTS_STREAM, REVIEW_CONSUMER)
                    if info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= last:
                        break
                await asyncio.sleep(0.2)
            figures.note("catch-up", self.events, time.perf_counter() - started)
            # Before the audit: the review's own events relayed too, then the process stopped.
            review = await asyncpg.connect(self._admin_url(stack, "review"))
            try:
                while True:
                    head = int(await review.fetchval("SELECT position FROM event_log_head"))
                    state = (await js.stream_info(EVENTS_STREAM)).state
                    if state.messages >= last + head:
                        break
                    await asyncio.sleep(0.2)
            finally:
                await review.close()
            stack.processes["review"].stop()
            return head
        finally:
            await nc.close()

    async def _verify(self, stack: Stack, figures: FullFigures) -> None:
        command = [sys.executable, "-m", "deploy.cli", "audit", "verify", "--json"]
        started = time.perf_counter()
        done = await asyncio.to_thread(
            subprocess.run,
            command,
            env=cli_env(stack),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"flowers audit verify exited {done.returncode}: "
                f"{(done.stdout + done.stderr)[-1500:]}"
            )
        json.loads(done.stdout)  # the report is whole
        figures.note("verify", figures.verified_events, seconds)

    async def _as_of(self, stack: Stack, figures: FullFigures) -> None:
        """`flowers audit as-of --round` as a command, timed, with its peak memory (RSS)."""
        round_id = data.round_id(biglog.rounds_for(self.events) // 2)
        moment = datetime.now(UTC).isoformat()
        command = [sys.executable, "-m", "deploy.cli", "audit", "as-of", moment]
        command += ["--round", round_id, "--json"]
        started = time.perf_counter()
        code, output, peak_kb = await asyncio.to_thread(_run_measured, command, cli_env(stack))
        seconds = time.perf_counter() - started
        if code != 0:
            raise RuntimeError(f"flowers audit as-of exited {code}: {output[-1500:]}")
        [state] = json.loads(output)
        if not state or not state.get("nominations"):
            raise RuntimeError(f"as-of found nothing of round {round_id}")
        figures.note("as-of", figures.verified_events, seconds)
        figures.peak_mb["as-of"] = peak_kb / 1024
        progress(f"full: as-of: peak RSS {peak_kb / 1024:,.0f} MB")


# Runs argv[2:] and writes its peak RSS (kB, wait4's rusage) to the file argv[1]. Measured
# from this small interpreter, not from the bench: Linux keeps a process's high-water mark
# across exec, and subprocess starts a child with vfork, so a command started by the bench
# itself reports the bench's own resident memory when that is larger (300+ MB after --full's
# write step, whatever the command used).
_MEASURE = (
    "import os, subprocess, sys; child = subprocess.Popen(sys.argv[2:]); "
    "_, status, usage = os.wait4(child.pid, 0); "
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss)); "
    "sys.exit(os.waitstatus_to_exitcode(status))"
)


def _run_measured(command: list[str], env: dict[str, str]) -> tuple[int, str, int]:
    """Run a command to its end: exit code, output, and its own peak resident memory in kB
    (see _MEASURE)."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as peak:
        measured = [sys.executable, "-I", "-S", "-c", _MEASURE, peak.name, *command]
        done = subprocess.run(measured, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=out)
        out.seek(0)
        return done.returncode, out.read().decode("utf-8", "replace"), int(peak.read() or 0)
