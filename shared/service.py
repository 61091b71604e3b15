"""What every service process shares: start-up, the command loop, the relay, consumers, health.

A service's `app.py` (its composition root) builds one ServiceRuntime, registers its
command/query handlers and consumers on it, and exposes `runtime.app` to `faststream run`.
Nothing connects at import time: connections are made in the start-up hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from faststream import FastStream
from faststream.nats import NatsBroker
from faststream.nats.security import NatsNKey
from faststream.specification import AsyncAPI
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from pydantic import BaseModel, ValidationError

from shared import database_roles, leader
from shared.apidocs import document_consumer, document_events
from shared.bus import (
    DLQ_STREAM,
    EVENTS_STREAM,
    NATS_CALLBACKS,
    EventConsumer,
    Handler,
    StreamsMissing,
    check_streams,
    connect_nats,
    inbox_prefix,
    nats_servers,
)
from shared.clock import Clock, FileClock, SystemClock
from shared.context import causation_id_var, correlation_id_var
from shared.credentials import CredentialsError, nats_seed, trusted_key_pems
from shared.errors import NotFound
from shared.events import DomainEvent, EventMetadata, EventRegistry, NewEvent, RecordedEvent
from shared.eventstore import ConcurrencyError, fold
from shared.idempotency import CommandReplies
from shared.identity import IdentityVerifier
from shared.keystore import PostgresKeyStore, open_keystore
from shared.logging import configure_logging, get_logger
from shared.metrics import ServiceMetrics
from shared.personal_data import KEYRING
from shared.postgres import DatabaseUnavailable, PostgresEventStore, create_pool, redact
from shared.projection import OwnLog, Projector
from shared.reaction import Reaction, Reactor, StateCache, current_state
from shared.relay import Relay
from shared.rpc import RpcServer
from shared.settings import Settings

log = get_logger(__name__)

YOUNG_GC_THRESHOLD = 10_000  # allocations between young collections (CPython: 700)

S = TypeVar("S")


class StartupError(Exception):
    """A reason the service cannot start, fit for one log line."""


def load_settings(**overrides: Any) -> Settings:
    """Settings, or one clear line per bad value and exit code 2 (never a traceback)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = "FLOWERS_" + "_".join(str(p) for p in error["loc"]).upper()
            print(f"flowers: invalid setting {name}: {error['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def stack_file(settings: Settings) -> Path:
    return settings.data_dir / "stack.json"


def resolve_urls(settings: Settings) -> Settings:
    """Fill empty NATS/PostgreSQL URLs (and the secrets directory, for the operator
    commands' credentials) from the embedded stack's `.data/stack.json`."""
    if settings.nats_url and settings.database_url:
        return settings
    path = stack_file(settings)
    if not path.exists():
        missing = [
            n
            for n, v in (
                ("FLOWERS_NATS_URL", settings.nats_url),
                ("FLOWERS_DATABASE_URL", settings.database_url),
            )
            if not v
        ]
        raise StartupError(
            f"{' and '.join(missing)} not set and no embedded stack found at {path} "
            "(start one with `flowers up`)"
        )
    stack = json.loads(path.read_text())
    secrets_dir = settings.secrets_dir
    if secrets_dir is None and stack.get("secrets_dir"):
        secrets_dir = Path(stack["secrets_dir"])
    return settings.model_copy(
        update={
            "nats_url": settings.nats_url or stack["nats_url"],
            "database_url": settings.database_url or stack["database_url"],
            "secrets_dir": secrets_dir,
        }
    )


def metadata(actor: str, causation_id: str | None = None) -> EventMetadata:
    """Event metadata for the current request: the correlation id travels from the caller."""
    return EventMetadata(
        actor=actor,
        correlation_id=correlation_id_var.get(),
        causation_id=causation_id or causation_id_var.get(),
    )


@dataclass
class _Job:
    decide: Callable[[Any], Sequence[DomainEvent]]
    meta: EventMetadata
    future: asyncio.Future[list[RecordedEvent]]
    events: list[DomainEvent] = field(default_factory=list)
    error: BaseException | None = None


class StreamWriter:
    """Commands to one stream, committed together (group commit).

    While a transaction for a stream is in flight, the next commands for it queue here;
    the drainer then decides them one after another on the evolving state (a refused one
    gets its own error, the others go on) and appends all their events in one transaction.
    On deadline day a round's stream takes every nomination: one commit serves many.
    Another instance writing the same stream meets a ConcurrencyError; the batch is then
    decided again on the newer state.
    """

    def __init__(
        self,
        registry: EventRegistry,
        cache: StateCache,
        *,
        project: Projector | None = None,
        max_batch: int = 200,
        retries: int = 10,
    ) -> None:
        self.registry = registry
        self.cache = cache
        self.project = project  # the service's own projection, in each append's transaction
        self.store: PostgresEventStore | None = None  # set when the service starts
        self.max_batch = max_batch
        self.retries = retries
        self._queues: dict[tuple[str, object], list[_Job]] = {}
        self._drainers: set[asyncio.Task[None]] = set()

    async def submit(
        self,
        stream_id: str,
        evolve: Callable[[S, DomainEvent], S],
        initial: S,
        decide: Callable[[S], Sequence[DomainEvent]],
        meta: EventMetadata,
        *,
        fold_all: Callable[[Iterable[DomainEvent]], S] | None = None,
    ) -> list[RecordedEvent]:
        job = _Job(decide, meta, asyncio.get_running_loop().create_future())
        key = (stream_id, evolve)
        queue = self._queues.get(key)
        if queue is None:  # nobody drains this stream: start, and keep the task referenced
            queue = self._queues[key] = []
            queue.append(job)
            self._drainers.add(
                task := asyncio.create_task(self._drain(key, evolve, initial, fold_all))
            )
            task.add_done_callback(self._drainers.discard)
        else:
            queue.append(job)
        return await job.future

    async def _drain(
        self,
        key: tuple[str, object],
        evolve: Callable[[Any, DomainEvent], Any],
        initial: Any,
        fold_all: Callable[[Iterable[DomainEvent]], Any] | None,
    ) -> None:
        queue = self._queues[key]
        try:
            while queue:
                batch = queue[: self.max_batch]
                del queue[: self.max_batch]
                try:
                    await self._commit(key[0], batch, evolve, initial, fold_all)
                except BaseException as exc:
                    for job in batch:
                        if not job.future.done():
                            job.future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            del self._queues[key]  # no await since the last check: nothing was added
            for job in queue:
                if not job.future.done():
                    job.future.set_exception(RuntimeError("the stream writer stopped"))

    async def _commit(
        self,
        stream_id: str,
        batch: list[_Job],
        evolve: Callable[[Any, DomainEvent], Any],
        initial: Any,
        fold_all: Callable[[Iterable[DomainEvent]], Any] | None,
    ) -> None:
        store, cache = self.store, self.cache
        if store is None:
            raise RuntimeError("the service has not started")
        for attempt in range(1, self.retries + 1):
            version, state = await current_state(
                store, self.registry, stream_id, evolve, initial, fold_all=fold_all, cache=cache
            )
            for job in batch:
                job.events, job.error = [], None
                try:
                    job.events = list(job.decide(state))
                except Exception as exc:  # this command is refused; the others go on
                    job.error = exc
                    continue
                state = fold(evolve, state, job.events)
            new = [NewEvent.of(e, job.meta) for job in batch for e in job.events]
            recorded: list[RecordedEvent] = []
            if new:
                try:
                    async with store.transaction() as conn:
                        recorded = await store.append(
                            stream_id, new, expected_version=version, conn=conn
                        )
                        if self.project is not None:
                            events = [e for job in batch for e in job.events]
                            await self.project(conn, list(zip(recorded, events, strict=True)))
                except ConcurrencyError:
                    if attempt == self.retries:
                        raise
                    continue
                version = recorded[-1].version
            cache.put(stream_id, evolve, version, state)
            offset = 0
            for job in batch:
                mine = recorded[offset : offset + len(job.events)]
                offset += len(job.events)
                if job.future.done():  # the caller gave up waiting; its events stand
                    continue
                if job.error is not None:
                    job.future.set_exception(job.error)
                else:
                    job.future.set_result(mine)
            return


@dataclass
class ConsumerSpec:
    name: str
    subjects: list[str]
    registry: EventRegistry
    handler: Handler


class ServiceRuntime:
    """One service process: settings, pool, store, broker, relay, consumers and health."""

    def __init__(
        self,
        service: str,
        registry: EventRegistry,
        *,
        schema_sql: Sequence[str] = (),
        settings: Settings | None = None,
        clock: Clock | None = None,
        version: str = "0.1.0",
    ) -> None:
        self.service = service
        self.registry = registry
        self.schema_sql = list(schema_sql)
        self.settings = settings or load_settings()
        self._config_error: StartupError | None = None
        self.nats_seed: str | None = None
        try:  # reads .data/stack.json and the credentials; connects to nothing
            self.settings = resolve_urls(self.settings)
            self.nats_seed = nats_seed(self.settings, service)
        except StartupError as exc:
            self._config_error = exc  # reported by the start-up hook, in one line
        except CredentialsError as exc:
            self._config_error = StartupError(str(exc))
        self.clock: Clock = clock or (
            FileClock(self.settings.clock_file) if self.settings.clock_file else SystemClock()
        )
        self.broker = NatsBroker(
            nats_servers(self.settings.nats_url or "nats://127.0.0.1:4222"),
            logger=None,
            max_reconnect_attempts=-1,
            inbox_prefix=inbox_prefix(service),
            security=NatsNKey.from_seed(self.nats_seed) if self.nats_seed else None,
            **NATS_CALLBACKS,
        )
        # Documentation only, never connected: what the relay publishes, the consumers
        # read and the RPC server answers, so that the AsyncAPI document names every
        # subject (shared/apidocs.py).
        self.docs_broker = NatsBroker(self.settings.nats_url or "nats://127.0.0.1:4222")
        document_events(self.docs_broker, service, registry)
        self.rpc = RpcServer(self.docs_broker, service, workers=self.settings.rpc_workers)
        self.app = FastStream(
            self.broker,
            specification=AsyncAPI(
                self.broker,
                self.docs_broker,
                title=f"flowers-{service}",
                version=version,
                description=f"The {service} service of Five Golden Flowers",
            ),
        )
        self.app.on_startup(self._on_startup)
        self.app.after_startup(self._after_startup)
        self.app.on_shutdown(self._on_shutdown)
        self.consumer_specs: list[ConsumerSpec] = []
        # The streams this service uses: checked at start-up, never created (only the NATS
        # admin may); rewards adds PAYROLL.
        self.streams: list[str] = [EVENTS_STREAM, DLQ_STREAM]
        self.background: list[Callable[[asyncio.Event], Awaitable[None]]] = []
        self.states = StateCache()
        self.writer = StreamWriter(registry, self.states, max_batch=self.settings.group_commit_max)
        self.reactor = Reactor(registry, self.states)
        self._own: OwnLog | None = None
        self.pool: asyncpg.Pool | None = None
        self.keys: PostgresKeyStore | None = None  # personal data's keys (shared/keystore.py)
        self._store: PostgresEventStore | None = None
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None
        self.relay: Relay | None = None
        self.consumers: list[EventConsumer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.metrics = ServiceMetrics(
            service, consumers=lambda: self.consumers, relay=lambda: self.relay
        )
        self.rpc.observe = self.metrics.observe_request
        self.rpc.query("health", _HealthRequest, public=True)(self.health)
        self.rpc.command("redrive", _RedriveRequest)(self.redrive)

    @property
    def own(self) -> OwnLog | None:
        """The service's own projection: run in the transaction of every append."""
        return self._own

    @own.setter
    def own(self, own: OwnLog | None) -> None:
        self._own = own
        self.writer.project = self.reactor.project = own.project if own is not None else None

    @property
    def store(self) -> PostgresEventStore:
        if self._store is None:
            raise RuntimeError("the service has not started")
        return self._store

    def consumer(
        self, name: str, subjects: list[str], registry: EventRegistry
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.consumer_specs.append(ConsumerSpec(name, subjects, registry, handler))
            document_consumer(self.docs_broker, name, subjects, registry)
            return handler

        return register

    def react(
        self, name: str, subjects: list[str], registry: EventRegistry, reaction: Reaction[Any, Any]
    ) -> None:
        """A consumer whose events become events of this service's streams (shared.reaction)."""
        self.consumer(name, subjects, registry)(self.reactor.handler(name, reaction))

    def background_task(
        self, fn: Callable[[asyncio.Event], Awaitable[None]]
    ) -> Callable[[asyncio.Event], Awaitable[None]]:
        self.background.append(fn)
        return fn

    async def execute(
        self,
        stream_id: str,
        evolve: Callable[[S, DomainEvent], S],
        initial: S,
        decide: Callable[[S], Sequence[DomainEvent]],
        actor: str,
        *,
        fold_all: Callable[[Iterable[DomainEvent]], S] | None = None,
    ) -> list[RecordedEvent]:
        recorded = await self.writer.submit(
            stream_id, evolve, initial, decide, metadata(actor), fold_all=fold_all
        )
        if recorded and self.relay is not None:
            self.relay.wake()
        return recorded

    # Lifecycle -----------------------------------------------------------------------

    async def _on_startup(self) -> None:
        try:
            await self._startup()
        except StartupError as exc:
            # Inside `faststream run` a raised SystemExit surfaces as an exception-group
            # traceback; the reason is already on stderr in one line, so leave quietly.
            print(f"flowers-{self.service}: cannot start: {exc}", file=sys.stderr, flush=True)
            os._exit(2)

    async def _startup(self) -> None:
        settings = self.settings
        configure_logging(self.service, settings.log_level, settings.log_json)
        try:
            if self._config_error is not None:
                raise self._config_error
            self.rpc.verifier = self._identity_verifier()
            self.nc = await connect_nats(
                settings.nats_url,
                name=self.service,
                attempts=settings.connect_attempts,
                seed=self.nats_seed,
                user=self.service,
            )
            self.js = self.nc.jetstream()
            try:
                await check_streams(self.js, self.streams)
            except StreamsMissing as exc:
                raise StartupError(str(exc)) from exc
            # Only the test suite's settings carry an admin URL: then the database, its
            # roles and schema are made here first. A service itself logs in as its own role.
            try:
                await database_roles.prepare(settings, self.service, *self.schema_sql)
            except (OSError, asyncpg.PostgresError) as exc:
                raise DatabaseUnavailable(
                    f"PostgreSQL at {redact(settings.database_url)} refused: {exc}"
                ) from exc
            self.pool = await create_pool(
                settings.database_url_for(self.service),
                attempts=settings.connect_attempts,
                lock_timeout_ms=settings.lock_timeout_ms,
                on_retry=lambda attempt, delay, exc: log.warning(
                    "postgres_unreachable_retrying",
                    attempt=attempt,
                    retry_in_s=delay,
                    error=str(exc),
                ),
            )
            await database_roles.require_schema(self.pool, "events", settings, self.service)
            self.keys = await open_keystore(settings)
            KEYRING.install(self.keys)
        except (StartupError, DatabaseUnavailable, ConnectionError, CredentialsError) as exc:
            log.error("startup_failed", reason=str(exc))
            await self._close_connections()
            raise StartupError(str(exc)) from exc
        self._store = self.writer.store = self.reactor.store = PostgresEventStore(self.pool)
        self.rpc.replies = CommandReplies(self.pool)
        self.relay = Relay(
            self.service,
            self.store,
            self.js,
            batch_size=settings.relay_batch_size,
            poll_interval_s=settings.relay_poll_interval_s,
        )
        self.consumers = [
            EventConsumer(
                name=spec.name,
                filter_subjects=spec.subjects,
                registry=spec.registry,
                handler=self.metrics.timed(spec.name, spec.handler),
                pool=self.pool,
                js=self.js,
                settings=settings,
            )
            for spec in self.consumer_specs
        ]

    async def _after_startup(self) -> None:
        relay = self.relay
        assert relay is not None
        self._stopping.clear()
        self._spawn("relay", lambda: relay.run(self._stopping))
        for consumer in self.consumers:
            self._spawn(f"consumer:{consumer.name}", functools.partial(self._consume, consumer))
        for task in self.background:
            self._spawn(f"task:{task.__name__}", functools.partial(task, self._stopping))
        self._serve_metrics()
        # Requests arrive on the broker's connection, apart from the relay's and the
        # consumers' (self.nc). Its SUBs are buffered; a round trip makes sure the server
        # holds them before anyone is told the service is up (else a first request meets
        # no responder).
        await self.rpc.start(self.broker.connection)
        await self.broker.connection.flush(timeout=10)
        # What exists once the service is up (modules, pydantic's schemas, the pools) lives
        # as long as the process: out of the cycle collector's way, so that its full
        # collections scan only what the work since made (docs/performance.md: they were
        # ~100 µs of a consumed event's ~300). Undone at shutdown, for processes that stop
        # a service and go on (tests, the bench). And the young generation is collected
        # every 10,000 allocations, not 700: a fetched batch makes tens of thousands of
        # short-lived objects, and each collection of them costs little more when larger.
        gc.freeze()
        gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
        log.info("service_started", nats=self.settings.nats_url)

    async def lead(
        self,
        name: str,
        work: Callable[[asyncio.Event], Awaitable[None]],
        stopping: asyncio.Event,
        handover: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Run `work` in one instance of this service at a time (shared/leader.py)."""
        assert self.pool is not None
        await leader.lead(self.pool, name, work, stopping, handover=handover)

    async def _consume(self, consumer: EventConsumer) -> None:
        """One instance at a time pulls a durable consumer, so a stream's events are applied
        in order; another takes over when it dies (README "Running several instances")."""

        async def work(resign: asyncio.Event) -> None:
            assert self.js is not None
            if not await leader.await_predecessors_messages(
                self.js, EVENTS_STREAM, consumer.name, self.settings.consumer_ack_wait_s, resign
            ):
                return
            await leader.while_leading(consumer.run, consumer.stop, resign)
            consumer._stopping.clear()  # ready to run again when this instance leads again

        async def handover() -> None:
            assert self.nc is not None
            await leader.hand_back_messages(self.nc, EVENTS_STREAM, consumer.name)

        await self.lead(f"consumer:{consumer.name}", work, self._stopping, handover)

    def _identity_verifier(self) -> IdentityVerifier:
        """The issuers whose identity assertions this service believes (none: cannot start)."""
        try:
            trusted = trusted_key_pems(self.settings)
        except CredentialsError as exc:
            raise StartupError(str(exc)) from exc
        if not trusted:
            raise StartupError(
                "no trusted identity keys: set FLOWERS_IDENTITY_TRUSTED_KEYS "
                "(issuer → public key file) or FLOWERS_SECRETS_DIR"
            )
        try:
            return IdentityVerifier(trusted)
        except ValueError as exc:
            raise StartupError(str(exc)) from exc

    def _spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run a long-lived loop; if it crashes, log it and start it again after a pause."""

        async def guarded() -> None:
            while not self._stopping.is_set():
                try:
                    await factory()
                    return
                except Exception:
                    log.exception("background_task_crashed", task=name)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), 1.0)

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    def _serve_metrics(self) -> None:
        """The Prometheus exporter, when FLOWERS_METRICS_PORT_<SERVICE> names a port."""
        port = int(getattr(self.settings, f"metrics_port_{self.service}", 0) or 0)
        if not port or self.metrics.url is not None:
            return
        try:
            self.metrics.serve(port, self.settings.metrics_host)
        except OSError as exc:  # the service still works; say why there are no metrics
            log.error("metrics_port_unavailable", port=port, error=str(exc))
            return

        async def refresh_metrics() -> None:
            while not self._stopping.is_set():
                with contextlib.suppress(Exception):
                    await self.metrics.refresh(self.store, self.relay, self.js, self.consumers)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.metrics_refresh_s)

        self._spawn("metrics", refresh_metrics)

    async def _on_shutdown(self) -> None:
        gc.unfreeze()
        await self.rpc.stop()  # the requests in hand are answered before the pool closes
        self._stopping.set()
        for consumer in self.consumers:
            consumer.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()
        self.metrics.close()
        await self._close_connections()
        log.info("service_stopped")

    async def _close_connections(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await self.pool.close()
        if self.keys is not None:
            KEYRING.uninstall(self.keys)
            with contextlib.suppress(Exception):
                await self.keys.pool.close()

    async def start(self) -> None:
        """Run in-process (tests): the same hooks `faststream run` calls."""
        await self._startup()
        await self.broker.start()
        await self._after_startup()

    async def stop(self) -> None:
        await self._on_shutdown()
        await self.broker.stop()

    # Health --------------------------------------------------------------------------

    async def health(self, _: _HealthRequest) -> dict[str, Any]:
        """Is the service up: its database, its relay's and consumers' lag, its key figures."""
        await self.metrics.refresh(self.store, self.relay, self.js, self.consumers)
        return {"service": self.service, "status": "ok", **self.metrics.figures()}

    async def redrive(self, request: _RedriveRequest) -> dict[str, Any]:
        """Handle a dead letter's payload again through its consumer (operators' command)."""
        for consumer in self.consumers:
            if consumer.name == request.consumer:
                handled = await consumer.redrive(request.payload.encode())
                log.info(
                    "dead_letter_redriven",
                    consumer=consumer.name,
                    actor=request.actor,
                    handled=handled,
                )
                return {"consumer": consumer.name, "handled": handled}
        raise NotFound(
            f"本服务没有名为 {request.consumer} 的消费者。",
            f"This service has no consumer named {request.consumer}.",
        )


class _HealthRequest(BaseModel):
    pass


class _RedriveRequest(BaseModel):
    actor: str
    consumer: str
    payload: str
