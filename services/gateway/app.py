"""The gateway's composition root: FastAPI app, NATS connection, its database, routes.

`create_app(settings, gateway_settings, clock)` builds an app (tests pass their own); the
module-level `app` is what `uvicorn services.gateway.app:app` serves. Nothing connects at
import time: the lifespan connects to NATS, creates the gateway's own database
(`<prefix>gateway`) and applies schema.sql.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway import drafts
from services.gateway import evidence as ev
from services.gateway.accounts import AccountStore
from services.gateway.auth import CsrfSigner, SessionStore, SigninThrottle, installation_key
from services.gateway.config import GatewaySettings
from services.gateway.database import SERVICE, open_database
from services.gateway.employees import sync_loop
from services.gateway.evidence_sweep import EvidenceSweep
from services.gateway.i18n import locale_of
from services.gateway.limits import InputLimits
from services.gateway.metrics import HTTP_LATENCY, HTTP_REQUESTS
from services.gateway.notice import PublicRateLimit
from services.gateway.problems import (
    FILES_UNAVAILABLE,
    INTERNAL,
    NOT_FOUND,
    UNAVAILABLE,
    Problem,
    problem_response,
)
from services.gateway.routes import ROUTERS
from services.gateway.state import GatewayState, request_id
from services.gateway.web import render
from shared.bus import connect_nats
from shared.clock import Clock, SystemClock
from shared.credentials import identity_signer, nats_seed
from shared.filestore import FileStoreError
from shared.logging import configure_logging, get_logger
from shared.outage import OUTAGE_TYPES, OutageLog, is_outage
from shared.rpc import RemoteError, RpcClient
from shared.service import load_settings, resolve_urls
from shared.settings import SERVICES, Settings

STATIC = Path(__file__).parent / "static"
log = get_logger(__name__)
_outage = OutageLog(log, "gateway database")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'self'"
    ),
}


def create_app(
    settings: Settings | None = None,
    gateway_settings: GatewaySettings | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings or resolve_urls(load_settings())
        gs = gateway_settings or GatewaySettings()
        c = clock or SystemClock()
        configure_logging(SERVICE, s.log_level, s.log_json)
        signer = identity_signer(s, SERVICE)
        if signer is None:
            raise RuntimeError(
                "the gateway has no identity signing key: set "
                "FLOWERS_IDENTITY_SIGNING_KEY_FILE or FLOWERS_SECRETS_DIR"
            )
        nc = await connect_nats(
            s.nats_url,
            name=SERVICE,
            attempts=s.connect_attempts,
            seed=nats_seed(s, SERVICE),
            user=SERVICE,
        )
        try:
            pool = await open_database(s, attempts=s.connect_attempts)
        except BaseException:
            await nc.close()
            raise
        sessions = SessionStore(pool, gs, c)
        app.state.gw = GatewayState(
            settings=s,
            gateway=gs,
            clock=c,
            nc=nc,
            rpc=RpcClient(nc, timeout=s.request_timeout_s, signer=signer),
            pool=pool,
            accounts=AccountStore(pool, gs, c),
            sessions=sessions,
            throttle=SigninThrottle(pool, gs, c),
            csrf=CsrfSigner(await installation_key(pool)),
        )
        await app.state.gw.accounts.tokens.listen()
        app.state.public_rate_limit = PublicRateLimit(pool, gs.public_requests_per_minute, c)
        await drafts.follow_retention(nc, pool)  # drafts go with expired data (drafts.py)
        purge = asyncio.create_task(
            _purge(sessions, app.state.gw.throttle, app.state.public_rate_limit),
            name="purge-sessions",
        )
        sweep = EvidenceSweep(
            app.state.gw.rpc,
            pool,
            ev.store_for(s, gs),
            c,
            grace=timedelta(seconds=gs.evidence_sweep_grace_s),
            interval_s=gs.evidence_sweep_interval_s,
            retry_s=gs.evidence_sweep_retry_s,
        )
        app.state.evidence_sweep = sweep
        await sweep.follow(nc)  # evidence files go with shredded data (evidence_sweep.py)
        tasks = [purge, asyncio.create_task(sweep.run(), name="evidence-sweep")]
        if gs.employee_sync_interval_s > 0:
            gw = app.state.gw
            tasks.append(
                asyncio.create_task(
                    sync_loop(gw.rpc, gw.accounts, gs.employee_sync_interval_s),
                    name="employee-sync",
                )
            )
        log.info("gateway_started", nats=s.nats_url)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await nc.drain()
            await app.state.gw.accounts.tokens.close()  # its connection back before closing
            await pool.close()

    app = FastAPI(
        title="Five Golden Flowers (红花献给你) API",
        version="1.0.0",
        description=(
            "The gateway's JSON API. Authenticate with `Authorization: Bearer <token>` (tokens "
            "are issued by an administrator) or, from the browser, the session cookie plus the "
            "`X-CSRF-Token` header on changes. Errors are `application/problem+json` with a "
            "stable `code`, `message_zh` and `message_en`."
        ),
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # the interactive docs load assets from a CDN: not served
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    _add_operational_routes(app)
    _add_error_handlers(app)
    app.add_middleware(InputLimits)  # inside Observe: its refusals get headers and metrics
    app.add_middleware(Observe)
    return app


async def _purge(sessions: SessionStore, throttle: SigninThrottle, public: PublicRateLimit) -> None:
    """Hourly: drop ended sessions, stale sign-in failures and ended public request counts."""
    while True:
        try:
            await sessions.purge_expired()
            await throttle.purge_stale()
            await public.purge_stale()
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("session_purge_failed", error=str(exc))
        await asyncio.sleep(3600)


def route_template(request: Request) -> str:
    """What a log line names of a request: its route's template
    (`/api/v1/employees/{employee_no}/erasure`), never the path as sent, which may carry an
    employee number (issue 18: no log line in clear)."""
    return str(getattr(request.scope.get("route"), "path", "(no route)"))


class Observe:
    """Request id, security headers and metrics (labelled by route template, not raw path).

    A plain ASGI middleware: Starlette's `BaseHTTPMiddleware` (`app.middleware("http")`) runs
    every request through anyio task groups and memory streams, the largest share of the
    gateway's CPU on the deadline day (docs/performance.md, Session 6)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(Request(scope))
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers["X-Request-Id"] = rid
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, observed)
        if status < 500:
            _outage.succeeded()
        template = getattr(scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(template, scope["method"], str(status)).inc()
        HTTP_LATENCY.labels(template).observe(time.perf_counter() - started)


def _add_operational_routes(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        """Every service's health; 503 when any does not answer."""
        rpc: RpcClient = request.app.state.gw.rpc

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

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _problem_reply(request: Request, problem: Problem) -> Response:
    if _is_api(request):
        return problem_response(problem, locale_of(request), instance=request.url.path)
    if problem.status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    return render(request, "error.html", {"problem": problem}, status_code=problem.status)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> Response:
        return _problem_reply(request, exc)

    @app.exception_handler(RemoteError)
    async def on_remote(request: Request, exc: RemoteError) -> Response:
        return _problem_reply(request, Problem.from_remote(exc))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "body"),
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors()
        ]
        problem = Problem(
            422,
            "invalid_input",
            ("输入有误，请检查标出的字段。", "The input is invalid; see the fields listed."),
            fields=fields,
        )
        return _problem_reply(request, problem)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            problem = Problem(404, "not_found", NOT_FOUND)
        elif exc.status_code == 405:
            problem = Problem(
                405, "method_not_allowed", ("不支持该请求方法。", "Method not allowed.")
            )
        else:
            problem = Problem(exc.status_code, "http_error", (str(exc.detail), str(exc.detail)))
        return _problem_reply(request, problem)

    async def on_outage(request: Request, exc: Exception) -> Response:
        """The gateway's database (or NATS) is down: 503, and one log line per outage.

        A handler per class, not inside on_crash: Starlette re-raises what reaches the
        catch-all handler after answering, and uvicorn logs each such traceback.
        """
        if not is_outage(exc):
            raise exc  # a fault after all: on_crash answers it
        _outage.failed(exc)
        return _problem_reply(request, Problem(503, "service_unavailable", UNAVAILABLE))

    for outage in OUTAGE_TYPES:
        app.add_exception_handler(outage, on_outage)

    @app.exception_handler(FileStoreError)
    async def on_file_store(request: Request, exc: FileStoreError) -> Response:
        """The file store (S3) is unreachable or refuses the gateway's key: 503, logged."""
        log.error("file_store_failed", path=route_template(request), error=str(exc))
        return _problem_reply(request, Problem(503, "file_store_unavailable", FILES_UNAVAILABLE))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("request_crashed", path=route_template(request), error=repr(exc), exc_info=exc)
        problem = Problem(500, "internal_error", INTERNAL, request_id=request_id(request))
        if _is_api(request):
            return problem_response(problem, locale_of(request))
        try:
            return render(request, "error.html", {"problem": problem}, status_code=500)
        except Exception:
            return Response("Internal error", status_code=500, media_type="text/plain")


app = create_app()
