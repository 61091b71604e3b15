"""CPU per request of the services' request/reply path (shared/rpc.py) over a real NATS.

    python -m bench.rpc_cpu [--requests N] [--repeats R]

One `RpcServer` with one public query that echoes a number, served on a FastStream
broker's connection as a service serves its requests, and an `RpcClient` sending it with
8 requests in flight, both in this process: the process's CPU time per request (client
and server together; the client's part is the same code on every commit, so two commits
compare by their difference). CPU time, not wall-clock: it does not change with the
machine's load (docs/performance.md, Session 7).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
from faststream.nats import NatsBroker
from pydantic import BaseModel

from deploy.embedded import NatsServer
from shared.rpc import RpcClient, RpcServer

IN_FLIGHT = 8


class Ping(BaseModel):
    n: int = 0


async def measure(requests: int, repeats: int) -> list[float]:
    """Microseconds of CPU per request, one figure per repeat."""
    with tempfile.TemporaryDirectory() as directory:
        server = NatsServer(Path(directory))
        await asyncio.to_thread(server.start)
        broker = NatsBroker(server.url, logger=None)
        rpc = RpcServer(NatsBroker(server.url), "bench", workers=16)

        @rpc.query("ping", Ping, public=True)
        async def ping(request: Ping) -> dict[str, Any]:
            return {"n": request.n}

        nc = None
        try:
            await broker.start()
            await rpc.start(broker.connection)
            await broker.connection.flush()
            nc = await nats.connect(server.url)
            client = RpcClient(nc, timeout=5)

            async def send(count: int) -> None:
                for i in range(count):
                    await client.query("bench", "ping", {"n": i})

            await send(300)  # warm-up
            figures = []
            for _ in range(repeats):
                started = time.process_time()
                await asyncio.gather(*(send(requests // IN_FLIGHT) for _ in range(IN_FLIGHT)))
                used = time.process_time() - started
                figures.append(used / (requests // IN_FLIGHT * IN_FLIGHT) * 1e6)
            return figures
        finally:
            if nc is not None:
                await nc.close()
            await rpc.stop()
            await broker.stop()
            await asyncio.to_thread(server.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.requests, args.repeats))
    runs = ", ".join(f"{f:.0f}" for f in figures)
    print(
        f"request/reply over NATS, {IN_FLIGHT} in flight: CPU per request (client and "
        f"server, one process) median {statistics.median(figures):.0f} µs (runs: {runs})"
    )


if __name__ == "__main__":
    main()
