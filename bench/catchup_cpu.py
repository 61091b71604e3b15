"""CPU per event of catch-up, process by process: review (this process), PostgreSQL, NATS.

    python -m bench.catchup_cpu [--events N] [--runs R]

Fills a backlog of N nomination events once (as `python -m bench --only catchup` does),
then starts R cold review consumers one after another. Around each it reads the CPU time
of this process (`getrusage`), of every PostgreSQL process (the postmaster and its
backends, from `/proc`) and of the NATS server, and prints each as microseconds per
event beside the rate. CPU time is what a busy shared machine disturbs least, so this
says where an event's cost goes when the wall-clock rate is noisy (docs/performance.md).
Linux only (it reads `/proc`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from pathlib import Path

from bench import ours
from bench.stack import BenchStack

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: str | int) -> list[str]:
    # Fields after the command name (which may hold spaces): state is index 0.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float:
    """CPU seconds of a process, with those of its children it has reaped."""
    f = _stat(pid)
    return sum(int(x) for x in f[11:15]) / TICKS


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and its living children (PostgreSQL's backends)."""
    total = process_cpu(root)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            f = _stat(entry)
        except OSError:  # gone meanwhile
            continue
        if int(f[1]) == root:
            total += (int(f[11]) + int(f[12])) / TICKS
    return total


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(events: int, runs: int) -> list[dict[str, float]]:
    stack = BenchStack()
    await stack.start()
    results: list[dict[str, float]] = []
    try:
        async with stack.nats("catchup-cpu") as url:
            catch_up = ours.CatchUp(stack, url)
            await catch_up.fill(events)
            pids = stack.server_pids()

            def sample() -> tuple[float, float, float, float]:
                return (
                    own_cpu(),
                    tree_cpu(pids["postgres"]),
                    process_cpu(pids["nats"]),
                    time.perf_counter(),
                )

            for _ in range(runs):
                before = sample()
                rate = await catch_up.run()
                after = sample()
                per_event = [1e6 * (b - a) / events for a, b in zip(before, after, strict=True)]
                results.append(
                    {
                        "events/s": rate,
                        "wall µs/event (with start and stop)": per_event[3],
                        "review (Python) CPU µs/event": per_event[0],
                        "PostgreSQL CPU µs/event": per_event[1],
                        "NATS CPU µs/event": per_event[2],
                    }
                )
    finally:
        await stack.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for run, figures in enumerate(asyncio.run(measure(args.events, args.runs)), start=1):
        print(f"run {run}: " + ", ".join(f"{k} {v:,.0f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
