"""Where one event's end-to-end latency goes, hop by hop (the bench's one-event path).

    python -m bench.e2e_hops [--samples N]

The same path as `python -m bench --only e2e`'s one-event latency: a NominationSubmitted
appended to the nomination store (with its projection, one transaction), the relay woken
by the commit's NOTIFY publishing it to JetStream, the review's consumer handling it in
its transaction. Nomination and review run in this process, so each hop's start and end
are read on one clock: the relay's publish and the consumer's batch handler are wrapped
with a timestamp (on the instances only; nothing else changes). Prints each hop's median
and p90 in milliseconds (docs/performance.md, Session 6).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import data, ours
from bench.stack import BenchStack
from shared.contracts.nomination import round_stream_id

HOPS = (
    ("append + projection + commit", "start", "committed"),
    ("commit -> relay publishes (NOTIFY, wake, read)", "committed", "publish"),
    ("relay publish -> PubAck (JetStream fsync)", "publish", "acked"),
    ("relay publish -> consumer has the message", "publish", "delivered"),
    ("consumer: decode, transaction, commit", "delivered", "done"),
    ("total", "start", "done"),
)


def _stamped(
    fn: Callable[..., Awaitable[Any]], before: Callable[[], None], after: Callable[[], None]
) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        before()
        try:
            return await fn(*args, **kwargs)
        finally:
            after()

    return wrapper


async def measure(samples: int) -> dict[str, list[float]]:
    stack = BenchStack()
    await stack.start()
    hops: dict[str, list[float]] = {name: [] for name, _, _ in HOPS}
    try:
        async with (
            stack.nats("e2e-hops") as url,
            ours.services(stack, url) as (nomination, reviewer, _),
        ):
            assert reviewer is not None
            assert nomination.relay is not None
            relay, consumer = nomination.relay, ours.review_consumer(reviewer)
            hook = ours.ProjectedHook(consumer)
            marks: dict[str, float] = {}

            def note(name: str) -> Callable[[], None]:
                def mark() -> None:
                    marks.setdefault(name, time.perf_counter())

                return mark

            # Instance attributes shadow the methods: the relay and the consumer call these.
            relay._publish = _stamped(relay._publish, note("publish"), note("acked"))  # type: ignore[method-assign,assignment]
            consumer.handle_batch = _stamped(  # type: ignore[method-assign,assignment]
                consumer.handle_batch, note("delivered"), lambda: None
            )
            next_round, version, round_ = 0, 0, ""
            for i in range(samples + 5):  # the first 5 warm up
                if i % (data.SLOTS_PER_ROUND - 1) == 0:  # a new round first (not timed)
                    round_ = data.round_id(next_round)
                    next_round += 1
                    opened = await ours.append_round(
                        nomination, round_, [data.round_opened(round_)]
                    )
                    await hook.waiter(opened[0].event_id)
                    await asyncio.sleep(0.05)  # the relay's checkpoint written, all quiet
                    version = 1
                new = data.new_event(data.nomination_submitted(round_, version - 1))
                waiter = hook.waiter(new.event_id)
                marks.clear()
                marks["start"] = time.perf_counter()
                async with nomination.store.transaction() as conn:
                    recorded = await nomination.store.append(
                        round_stream_id(round_), [new], version, conn=conn
                    )
                    assert nomination.own is not None
                    await nomination.own.project_recorded(conn, recorded)
                marks["committed"] = time.perf_counter()
                marks["done"] = await asyncio.wait_for(waiter, 30)
                await asyncio.sleep(0.02)  # the relay's checkpoint and the ack settle
                version += 1
                if i >= 5 and all(k in marks for _, k, _ in HOPS):
                    for name, begin, end in HOPS:
                        hops[name].append(marks[end] - marks[begin])
    finally:
        await stack.stop()
    return hops


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    hops = asyncio.run(measure(args.samples))
    for name, values in hops.items():
        if not values:
            continue
        p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
        print(
            f"{name:48} p50 {1e3 * statistics.median(values):6.2f} ms   p90 {1e3 * p90:6.2f} ms"
            f"   (n={len(values)})"
        )


if __name__ == "__main__":
    main()
