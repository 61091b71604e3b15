"""The gateway's composition root: FastAPI app, NATS connection, routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared.bus import connect_nats
from shared.logging import configure_logging
from shared.rpc import RemoteError, RpcClient
from shared.service import load_settings, resolve_urls
from shared.settings import SERVICES


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = resolve_urls(load_settings())
    configure_logging("gateway", settings.log_level, settings.log_json)
    nc = await connect_nats(settings.nats_url, name="gateway", attempts=settings.connect_attempts)
    app.state.settings = settings
    app.state.rpc = RpcClient(nc, timeout=settings.request_timeout_s)
    try:
        yield
    finally:
        await nc.drain()


app = FastAPI(title="Five Golden Flowers gateway", version="0.1.0", lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> JSONResponse:
    """Every service's health; 503 when any does not answer."""
    rpc: RpcClient = app.state.rpc

    async def ask(service: str) -> tuple[str, dict[str, Any]]:
        try:
            data = await rpc.query(service, "health", {}, timeout=2.0)
            return service, {"status": "ok", **data}
        except RemoteError as exc:
            return service, {"status": "down", "error": exc.error.code}

    results = dict(await asyncio.gather(*(ask(s) for s in SERVICES)))
    healthy = all(r["status"] == "ok" for r in results.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "services": results},
        status_code=200 if healthy else 503,
    )
