"""`flowers serve SERVICE`: run one service process (a container's command), with its probes.

`flowers up` starts every process itself; a container (deploy/compose/, deploy/kubernetes/)
runs one: the five services exactly as `faststream run services.<name>.app:app` would, the
gateway as the stack's uvicorn does (FLOWERS_GATEWAY_HOST / _PORT, no proxy headers: the
gateway believes X-Forwarded-* from FLOWERS_GATEWAY_TRUSTED_PROXIES only).

Beside it, on the same event loop, a tiny HTTP server on FLOWERS_HEALTH_PORT (0: none)
answers the orchestrator's probes, without credentials and without details:

- `GET /livez`: 200 while the event loop answers (a hung process stops answering);
- `GET /readyz`: 200 when the process can work. A service: both its NATS connections are
  up (the broker's, for commands and queries, and its own) and its health check (the one
  behind `flowers.qry.<service>.health`: log head and relay checkpoint from PostgreSQL,
  consumer lag from JetStream) completes; the gateway: its NATS connection is up. 503
  otherwise.

Why not the health query over NATS: only the gateway and the operator may send queries,
and a container must not hold their credentials to probe itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from typing import Any

import typer

from shared.settings import SERVICES

GATEWAY = "gateway"
READY_TIMEOUT_S = 3.0


async def _ready(name: str, target: Any) -> bool:
    """Can this process work? `target`: the service's runtime, or the gateway's FastAPI app."""
    if name == GATEWAY:
        gw = getattr(target.state, "gw", None)  # set once the lifespan has connected
        return gw is not None and bool(gw.nc.is_connected)
    # Its own NATS connection (relay, consumers) and the broker's (commands and queries).
    if target.nc is None or not target.nc.is_connected:
        return False
    if not await target.broker.ping(timeout=1.0):
        return False
    try:
        await asyncio.wait_for(
            target.metrics.refresh(target.store, target.relay, target.js, target.consumers),
            READY_TIMEOUT_S,
        )
    except Exception:  # not started yet, PostgreSQL or NATS away: not ready
        return False
    return True


async def _answer(
    name: str, target: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        request_line = await asyncio.wait_for(reader.readline(), READY_TIMEOUT_S)
        parts = request_line.decode("latin-1").split()
        path = parts[1] if len(parts) >= 2 else ""
        if path == "/livez":
            status = 200
        elif path == "/readyz":
            status = 200 if await _ready(name, target) else 503
        else:
            status = 404
        reason = {200: "OK", 503: "Service Unavailable", 404: "Not Found"}[status]
        body = b"ok\n" if status == 200 else reason.lower().encode() + b"\n"
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _serve(name: str, health_host: str, health_port: int) -> None:
    from shared.service import load_settings

    target: Any
    if name == GATEWAY:
        import uvicorn

        from services.gateway.app import app as gateway_app

        settings = load_settings()
        target = gateway_app
        server = uvicorn.Server(
            uvicorn.Config(
                gateway_app,
                host=settings.gateway_host,
                port=settings.gateway_port,
                access_log=False,
                proxy_headers=False,
                timeout_keep_alive=settings.gateway_keep_alive_s,
            )
        )
        run = server.serve()
    else:
        module = importlib.import_module(f"services.{name}.app")
        target = module.runtime
        run = module.app.run()
    probes = None
    if health_port:
        probes = await asyncio.start_server(
            lambda r, w: _answer(name, target, r, w), health_host, health_port
        )
    try:
        await run
    finally:
        if probes is not None:
            probes.close()


def serve(
    name: str = typer.Argument(
        ..., help=f"The process to run: one of {', '.join((*SERVICES, GATEWAY))}."
    ),
    health_port: int = typer.Option(
        8081,
        "--health-port",
        envvar="FLOWERS_HEALTH_PORT",
        help="Answer GET /livez and /readyz on this port (0: no probes).",
    ),
    health_host: str = typer.Option(
        "127.0.0.1",
        "--health-host",
        envvar="FLOWERS_HEALTH_HOST",
        help="The probes' address (0.0.0.0 in a container, for the orchestrator).",
    ),
) -> None:
    """Run one service (or the gateway) in the foreground: a container's command."""
    if name not in (*SERVICES, GATEWAY):
        raise typer.BadParameter(
            f"{name!r}: expected one of {', '.join((*SERVICES, GATEWAY))}", param_hint="NAME"
        )
    asyncio.run(_serve(name, health_host, health_port))
