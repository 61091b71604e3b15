"""Our figures: the store, the nomination service's commands, the pipeline, catch-up, audit.

Everything runs in this one Python process on one event loop (the services in-process, as
the integration tests run them); PostgreSQL and NATS are their own processes. Each
function does one run of one figure and returns what it measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from bench import data
from bench.stack import BenchStack
from services.nomination import app as nomination_app
from services.nomination.handlers import NominationHandlers
from services.review import app as review_app
from shared import audit
from shared.bus import EVENTS_STREAM, EventConsumer, ensure_streams
from shared.contracts.nomination import round_stream_id
from shared.contracts.nomination_commands import ImportDirectory, OpenRound, SubmitNomination
from shared.credentials import identity_signer
from shared.events import DomainEvent, EventMetadata, EventRegistry, NewEvent, RecordedEvent
from shared.eventstore import AppendRequest
from shared.postgres import PostgresEventStore, apply_schema, create_pool, ensure_database
from shared.reaction import StateCache
from shared.relay import Relay
from shared.rpc import SelfSigningRpcClient
from shared.service import ServiceRuntime, StreamWriter

REVIEW_CONSUMER = "review-nomination"


@dataclass
class Timing:
    """One run of a throughput figure: the rate, and each operation's latency (seconds)."""

    rate: float
    latencies: list[float] = field(default_factory=list)


async def run_clients(
    clients: int, total: int, op: Callable[[int, int], Awaitable[object]]
) -> Timing:
    """`total` operations split over `clients` concurrent loops; op(client, i) is one."""
    latencies: list[float] = []
    share = [total // clients + (1 if c < total % clients else 0) for c in range(clients)]

    async def client(c: int) -> None:
        for i in range(share[c]):
            started = time.perf_counter()
            await op(c, i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return Timing(total / (time.perf_counter() - started), latencies)


# --------------------------------------------------------------------------- the store


class Noted(DomainEvent):
    """The bench aggregate's one event (get-change-save), as small as the peer's."""

    service: ClassVar[str] = "bench"
    note: str


NOTED = EventRegistry([Noted])


class StoreBench:
    """A bare event store on a database of its own: no relay, no projections."""

    def __init__(self, stack: BenchStack) -> None:
        self.stack = stack
        self.prefix = stack.new_prefix()
        self.pool: asyncpg.Pool | None = None
        self.data = data.nomination_submitted(data.round_id(0), 0).to_data()

    @property
    def store(self) -> PostgresEventStore:
        assert self.pool is not None
        return PostgresEventStore(self.pool)

    async def start(self, clients: int) -> None:
        name = f"{self.prefix}store"
        await ensure_database(self.stack.pg_url, name)
        self.pool = await create_pool(self.stack.database_url(name), max_size=clients + 2)
        async with self.pool.acquire() as conn:
            await apply_schema(conn)

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        await self.stack.drop_prefix(self.prefix)

    async def create(self, clients: int, total: int) -> Timing:
        """Append one NominationSubmitted-sized event to a new stream, per operation."""
        store = self.store

        async def op(_: int, __: int) -> None:
            event = NewEvent(
                type="NominationSubmitted",
                schema_version=1,
                data=self.data,
                metadata=EventMetadata(actor="bench"),
            )
            await store.append(f"bench-{uuid.uuid4()}", [event], expected_version=0)

        return await run_clients(clients, total, op)

    async def get_change_save(self, total: int, streams: int) -> Timing:
        """load → fold → decide → append (expected version), cycling through `streams`."""
        store = self.store
        ids = [f"gcs-{uuid.uuid4()}" for _ in range(streams)]
        meta = EventMetadata(actor="bench")
        for stream_id in ids:
            await store.append(stream_id, [NewEvent.of(Noted(note="created"), meta)], 0)

        def evolve(count: int, _: DomainEvent) -> int:
            return count + 1

        def decide(count: int) -> list[DomainEvent]:
            return [Noted(note=f"change {count}")]

        # The services' command path (StreamWriter), on this bare store.
        writer = StreamWriter(NOTED, StateCache())
        writer.store = store

        async def op(_: int, i: int) -> None:
            await writer.submit(ids[i % streams], evolve, 0, decide, meta)

        return await run_clients(1, total, op)


# --------------------------------------------------------------------------- commands


class CommandBench:
    """The nomination service in-process; its `submit` command in-process and over NATS."""

    def __init__(self, stack: BenchStack, nats_url: str) -> None:
        self.stack = stack
        self.prefix = stack.new_prefix()
        self.settings = stack.settings(nats_url, self.prefix)
        self.runtime = nomination_app.build_runtime(self.settings)
        self.handlers = NominationHandlers(self.runtime)
        self.nc: NatsClient | None = None
        self._rounds = 0
        self._started = False

    async def start(self) -> None:
        self._started = True
        await self.runtime.start()
        # Commands over NATS come as the gateway's would: its NATS user, its signing key.
        self.nc = await self.stack.connect(self.settings.nats_url, "gateway")
        rows = data.directory_rows()
        await self.handlers.import_directory(
            ImportDirectory(actor="admin-1", roles=frozenset({"admin"}), rows=rows)
        )

    async def stop(self) -> None:
        if self.nc is not None:
            await self.nc.close()
        if self._started:
            await self.runtime.stop()
        await self.stack.drop_prefix(self.prefix)

    async def open_rounds(self, count: int) -> list[str]:
        """Open `count` new rounds through the real command (not timed)."""
        ids = []
        for _ in range(count):
            round_ = data.round_id(self._rounds)
            self._rounds += 1
            await self.handlers.round_command(
                OpenRound.model_validate(data.open_round_payload(round_))
            )
            ids.append(round_)
        return ids

    async def submit(self, clients: int, total: int, *, over_nats: bool, shared: bool) -> Timing:
        """`total` nominations by `clients` nominators.

        Each client fills rounds of its own (`shared` False), or all fill one round at a
        time together (`shared` True: a round is one stream, so they contend on it).
        """
        per_round = data.SLOTS_PER_ROUND
        if shared:  # the n-th submission overall goes to round n // per_round
            rounds = [await self.open_rounds(math.ceil(total / per_round))]
            counter = iter(range(total))
        else:  # client c's i-th submission goes to its own round i // per_round
            share = math.ceil(total / clients)
            rounds = [await self.open_rounds(math.ceil(share / per_round)) for _ in range(clients)]

        def payload(c: int, i: int) -> dict[str, Any]:
            if shared:
                n = next(counter)
                return data.submit_payload(rounds[0][n // per_round], n % per_round)
            return data.submit_payload(rounds[c][i // per_round], i % per_round)

        signer = identity_signer(self.settings, "gateway")
        rpc = (
            SelfSigningRpcClient(self.nc, timeout=30.0, signer=signer)
            if self.nc is not None
            else None
        )

        async def op(c: int, i: int) -> None:
            body = payload(c, i)
            if over_nats:
                assert rpc is not None
                await rpc.command("nomination", "submit", body)
            else:
                await self.handlers.round_command(SubmitNomination.model_validate(body))

        return await run_clients(clients, total, op)


# --------------------------------------------------------------------------- pipeline


class ProjectedHook:
    """Notes when the review's consumer has committed each event (in-process, exact)."""

    def __init__(self, consumer: EventConsumer) -> None:
        self.done: dict[uuid.UUID, float] = {}
        self.waiters: dict[uuid.UUID, asyncio.Future[float]] = {}
        self.count = 0
        self.target = 0
        self.reached = asyncio.Event()

        def committed(envelope: RecordedEvent) -> None:
            now = time.perf_counter()
            self.count += 1
            self.done[envelope.event_id] = now
            waiter = self.waiters.pop(envelope.event_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)
            if self.target and self.count >= self.target:
                self.reached.set()

        consumer.on_committed = committed

    def expect(self, total: int) -> None:
        self.target = total
        if self.count >= total:
            self.reached.set()

    def waiter(self, event_id: uuid.UUID) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if event_id in self.done:
            future.set_result(self.done[event_id])
        else:
            self.waiters[event_id] = future
        return future


def review_consumer(runtime: ServiceRuntime) -> EventConsumer:
    return next(c for c in runtime.consumers if c.name == REVIEW_CONSUMER)


async def append_round(
    runtime: ServiceRuntime, round_: str, events: list[DomainEvent], version: int = 0
) -> list[RecordedEvent]:
    """Append to a round's stream with the nomination service's projection, one transaction."""
    store = runtime.store
    async with store.transaction() as conn:
        recorded = await store.append(
            round_stream_id(round_), [data.new_event(e) for e in events], version, conn=conn
        )
        if runtime.own is not None:
            await runtime.own.project_recorded(conn, recorded)
    return recorded


async def fill_rounds(runtime: ServiceRuntime, total: int, first_round: int) -> int:
    """`total` events as rounds of RoundOpened + 49 nominations, one transaction a round."""
    per_round = data.SLOTS_PER_ROUND
    k = first_round
    left = total
    while left > 0:
        size = min(per_round, left)
        await append_round(runtime, data.round_id(k), data.round_events(data.round_id(k), size - 1))
        left -= size
        k += 1
    return k


@contextlib.asynccontextmanager
async def services(
    stack: BenchStack, nats_url: str, *, review: bool = True
) -> AsyncIterator[tuple[ServiceRuntime, ServiceRuntime | None, str]]:
    prefix = stack.new_prefix()
    settings = stack.settings(nats_url, prefix)
    nomination = nomination_app.build_runtime(settings)
    await nomination.start()
    reviewer = review_app.build_runtime(settings) if review else None
    try:
        if reviewer is not None:
            await reviewer.start()
        yield nomination, reviewer, prefix
    finally:
        if reviewer is not None:
            await reviewer.stop()
        await nomination.stop()
        await stack.drop_prefix(prefix)


async def end_to_end(
    stack: BenchStack, nats_url: str, total: int, samples: int
) -> tuple[float, list[float]]:
    """Events/s from the nomination store through relay and NATS into the review's
    `candidates`, then one-event latencies (s) on the same path."""
    async with services(stack, nats_url) as (nomination, reviewer, _):
        assert reviewer is not None
        hook = ProjectedHook(review_consumer(reviewer))
        hook.expect(total)
        started = time.perf_counter()
        next_round = await fill_rounds(nomination, total, 0)
        await asyncio.wait_for(hook.reached.wait(), 600)
        rate = total / (max(hook.done.values()) - started)
        await _check_candidates(reviewer, total - math.ceil(total / data.SLOTS_PER_ROUND))

        latencies: list[float] = []
        version = 0
        round_ = ""
        for i in range(samples):
            if i % (data.SLOTS_PER_ROUND - 1) == 0:  # a new round first (not timed)
                round_ = data.round_id(next_round)
                next_round += 1
                opened = await append_round(nomination, round_, [data.round_opened(round_)])
                await hook.waiter(opened[0].event_id)
                version = 1
            event = data.nomination_submitted(round_, version - 1)
            new = data.new_event(event)
            waiter = hook.waiter(new.event_id)
            started = time.perf_counter()
            async with nomination.store.transaction() as conn:
                recorded = await nomination.store.append(
                    round_stream_id(round_), [new], version, conn=conn
                )
                assert nomination.own is not None
                await nomination.own.project_recorded(conn, recorded)
            done = await asyncio.wait_for(waiter, 30)
            latencies.append(done - started)
            version += 1
        return rate, latencies


async def _check_candidates(reviewer: ServiceRuntime, expected: int) -> None:
    assert reviewer.pool is not None
    got = await reviewer.pool.fetchval("SELECT count(*) FROM candidates")
    if got != expected:
        raise RuntimeError(f"the review projected {got} candidates, expected {expected}")


class CatchUp:
    """A backlog in FLOWERS (from the nomination relay), then review consumers that start cold."""

    def __init__(self, stack: BenchStack, nats_url: str) -> None:
        self.stack = stack
        self.nats_url = nats_url
        self.total = 0

    async def fill(self, total: int) -> float:
        """Append `total` events and wait until the relay has published them; events/s."""
        self.total = total
        async with services(self.stack, self.nats_url, review=False) as (nomination, _, __):
            relay = nomination.relay
            assert relay is not None
            started = time.perf_counter()
            await fill_rounds(nomination, total, 0)
            head = await nomination.store.head()
            while True:  # the relay has no "caught up" signal to wait on
                if await relay.checkpoint() >= head:
                    break
                await asyncio.sleep(0.01)
            return total / (time.perf_counter() - started)

    async def run(self) -> float:
        """A fresh review (its own database) consumes the backlog; events/s until caught up."""
        prefix = self.stack.new_prefix()
        reviewer = review_app.build_runtime(self.stack.settings(self.nats_url, prefix))
        try:
            await reviewer.start()
            hook = ProjectedHook(review_consumer(reviewer))
            hook.expect(self.total)
            started = time.perf_counter()
            await asyncio.wait_for(hook.reached.wait(), 900)
            rate = self.total / (max(hook.done.values()) - started)
            rounds = math.ceil(self.total / data.SLOTS_PER_ROUND)
            await _check_candidates(reviewer, self.total - rounds)
            return rate
        finally:
            await reviewer.stop()
            await self._forget_consumer()
            await self.stack.drop_prefix(prefix)

    async def _forget_consumer(self) -> None:
        """The next run's consumer must start from the stream's beginning again."""
        nc = await self.stack.connect(self.nats_url)
        try:
            with contextlib.suppress(NotFoundError):
                await nc.jetstream().delete_consumer(EVENTS_STREAM, REVIEW_CONSUMER)
        finally:
            await nc.close()


# --------------------------------------------------------------------------- audit


class AuditBench:
    """A log of many events in one store, relayed to FLOWERS; then verified."""

    def __init__(self, stack: BenchStack, nats_url: str) -> None:
        self.stack = stack
        self.nats_url = nats_url
        self.prefix = stack.new_prefix()
        self.database = f"{self.prefix}nomination"
        self.pool: asyncpg.Pool | None = None
        self.nc: NatsClient | None = None
        self.total = 0

    @property
    def store(self) -> PostgresEventStore:
        assert self.pool is not None
        return PostgresEventStore(self.pool)

    async def start(self) -> None:
        await ensure_database(self.stack.pg_url, self.database)
        self.pool = await create_pool(self.stack.database_url(self.database), max_size=4)
        async with self.pool.acquire() as conn:
            await apply_schema(conn)
        self.nc = await self.stack.connect(self.nats_url)
        await ensure_streams(self.nc.jetstream(), self.stack.settings(self.nats_url, self.prefix))

    async def stop(self) -> None:
        if self.nc is not None:
            await self.nc.close()
        if self.pool is not None:
            await self.pool.close()
        await self.stack.drop_prefix(self.prefix)

    async def fill(self, total: int, batch: int = 1000) -> float:
        """`total` events through `append_batch`, `batch` events (20 rounds) a transaction."""
        self.total = total
        per_round = data.SLOTS_PER_ROUND
        templates = [
            (e.event_type, e.schema_version, e.to_data())
            for e in data.round_events(data.round_id(0), per_round - 1)
        ]
        meta = EventMetadata(actor="bench")
        store = self.store
        k = 0
        done = 0
        started = time.perf_counter()
        while done < total:
            requests = []
            in_batch = 0
            while in_batch < batch and done + in_batch < total:
                round_ = data.round_id(k)
                k += 1
                size = min(per_round, total - done - in_batch)
                events = []
                for n, (type_, version, template) in enumerate(templates[:size]):
                    payload = {**template, "round_id": round_}
                    if n:
                        payload["nomination_id"] = str(uuid.uuid4())
                    events.append(
                        NewEvent(type=type_, schema_version=version, data=payload, metadata=meta)
                    )
                requests.append(AppendRequest(round_stream_id(round_), events, 0))
                in_batch += size
            await store.append_batch(requests)
            done += in_batch
        return total / (time.perf_counter() - started)

    async def relay(self) -> float:
        """Publish the whole log to FLOWERS with the real relay; events/s."""
        assert self.nc is not None
        settings = self.stack.settings(self.nats_url, self.prefix)
        relay = Relay(
            "nomination", self.store, self.nc.jetstream(), batch_size=settings.relay_batch_size
        )
        started = time.perf_counter()
        published = await relay.drain()
        return published / (time.perf_counter() - started)

    async def verify_chain(self) -> float:
        started = time.perf_counter()
        report = await self.store.verify_chain()
        elapsed = time.perf_counter() - started
        if not report.ok or report.checked != self.total:
            raise RuntimeError(f"verify_chain: {report}")
        return report.checked / elapsed

    async def verify_all(self) -> float:
        """`shared.audit.verify` without projections: the chain, and every event in FLOWERS
        exactly once (the log has no projections to rebuild: it was filled by the store API)."""
        assert self.nc is not None
        started = time.perf_counter()
        report = await audit.verify(
            {"nomination": self.stack.database_url(self.database)},
            self.nc.jetstream(),
            projections=False,
        )
        elapsed = time.perf_counter() - started
        if not report.ok:
            raise RuntimeError(f"audit.verify failed: {audit.render(report)}")
        return self.total / elapsed


# --------------------------------------------------------------------------- gateway


class GatewayUnavailable(Exception):
    """The gateway's submit endpoint cannot be benchmarked (not built, or it refused)."""


class GatewayBench:
    """The real gateway app under uvicorn on loopback, the nomination service behind it.

    One nominator account (bearer token) per unit; the clients submit into the same rounds
    together, each for its own unit, as units do on the deadline day.
    """

    def __init__(self, stack: BenchStack, nats_url: str) -> None:
        self.commands = CommandBench(stack, nats_url)
        self.server: Any = None
        self.task: asyncio.Task[None] | None = None
        self.client: Any = None
        self.tokens: list[str] = []

    async def start(self, clients: int) -> None:
        try:
            import httpx
            import uvicorn

            from deploy.embedded import free_port
            from services.gateway.accounts import UserFields
            from services.gateway.app import create_app
            from services.gateway.config import GatewaySettings
        except ImportError as exc:
            raise GatewayUnavailable(f"cannot import the gateway: {exc}") from exc
        await self.commands.start()
        gateway_settings = GatewaySettings(
            argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1
        )
        app = create_app(self.commands.settings, gateway_settings)
        port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="error", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 30
        while not self.server.started:
            if self.task.done() or time.monotonic() > deadline:
                raise GatewayUnavailable("the gateway did not start")
            await asyncio.sleep(0.02)
        accounts = app.state.gw.accounts
        for u in range(clients):
            user = await accounts.create_user(
                f"bench-nominator-{u}",
                "bench-password-1",
                UserFields(f"提名人{u}", frozenset({"nominator"}), data.unit_code(u)),
                actor="bench",
            )
            _, token = await accounts.create_token(user.user_id, "bench", actor="bench")
            self.tokens.append(token)
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            timeout=60.0,
            limits=httpx.Limits(max_connections=clients, max_keepalive_connections=clients),
        )

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self.server is not None:
            self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 10)
        await self.commands.stop()

    async def submit(self, clients: int, total: int) -> Timing:
        flowers = len(data.CATEGORIES)
        rounds = await self.commands.open_rounds(math.ceil(math.ceil(total / clients) / flowers))

        async def op(c: int, i: int) -> None:
            command = data.submit_payload(rounds[i // flowers], c * flowers + i % flowers)
            body = {
                k: command[k]
                for k in (
                    "round_id",
                    "employee_no",
                    "category",
                    "deeds",
                    "results",
                    "evidence_links",
                    "recommendation",
                )
            }
            response = await self.client.post(
                "/api/v1/nominations",
                json=body,
                headers={"Authorization": f"Bearer {self.tokens[c]}"},
            )
            if response.status_code != 201:
                raise GatewayUnavailable(
                    f"POST /api/v1/nominations answered {response.status_code}: "
                    f"{response.text[:300]}"
                )

        return await run_clients(clients, total, op)
