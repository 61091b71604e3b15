"""SQL statements (each one round trip) of the nomination service's `submit` command.

    python -m bench.round_trips [--commands N]

The bench's command path (`python -m bench --only commands`, the in-process handler, one
client): the service started in this process, `N` submits counted after a warm-up, each
statement counted by the database it goes to and by the task that sent it: the command's
own (its reads, in series before the append) or another (the store's group committer,
which appends for it, the relay, the consumers). asyncpg's connection methods are wrapped
in this process only (bench.e2e_hops). Statements in series are what a command's latency
is made of on a machine whose CPU is shared; their count does not vary with the load, so
two commits compare here exactly (docs/performance.md, Session 6, round trips).
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter

from bench import data
from bench.e2e_hops import count_statements
from bench.ours import CommandBench
from bench.stack import BenchStack
from shared.contracts.nomination_commands import SubmitNomination


async def measure(commands: int) -> Counter[tuple[str, str]]:
    stack = BenchStack()
    await stack.start()
    counts: Counter[tuple[str, str]] = Counter()
    try:
        async with stack.nats("round-trips") as url:
            bench = CommandBench(stack, url)
            await bench.start()
            try:
                rounds = await bench.open_rounds(commands // data.SLOTS_PER_ROUND + 2)
                command = asyncio.current_task()

                def whose() -> str:  # the command's own statements, or the relay's and others'
                    return "command" if asyncio.current_task() is command else "background"

                count_statements(whose, counts)
                per_round = data.SLOTS_PER_ROUND
                for i in range(commands + 5):
                    if i == 5:  # the first 5 warm up
                        counts.clear()
                    body = data.submit_payload(rounds[i // per_round], i % per_round)
                    await bench.handlers.round_command(SubmitNomination.model_validate(body))
            finally:
                await bench.stop()
    finally:
        await stack.stop()
    by_database: Counter[tuple[str, str]] = Counter()
    for (sender, database), n in counts.items():
        by_database[(sender, database.rpartition("_")[2])] += n
    return by_database


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    args = parser.parse_args()
    counts = asyncio.run(measure(args.commands))
    print(f"SQL statements per submit (each a round trip), {args.commands} submits:")
    for (sender, database), n in sorted(counts.items()):
        print(f"  {sender:12} {database:16} {n / args.commands:6.2f}")
    own = sum(n for (sender, _), n in counts.items() if sender == "command")
    print(f"  {'command':12} {'in all':16} {own / args.commands:6.2f}")


if __name__ == "__main__":
    main()
