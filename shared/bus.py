"""The bus: NATS connection, JetStream streams, durable event consumers with inbox and dead letters.

Why our own consumer loop rather than FastStream's pull subscriber: the guarantee we need
sits between two steps — commit the database transaction, *then* acknowledge
synchronously — with a back-off we choose and a dead letter that carries the error. A
short loop over nats-py (the client FastStream itself wraps) makes each step visible.
FastStream runs each service process and its request/reply handlers (see shared/rpc.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError

from shared.context import (
    TransactionScope,
    causation_id_var,
    correlation_id_var,
    transaction_scope_var,
)
from shared.events import DomainEvent, EventRegistry, RecordedEvent, UnknownEventType
from shared.logging import get_logger
from shared.outage import OutageLog, is_outage
from shared.personal_data import MARKER, load_keys
from shared.postgres import claim_inbox
from shared.settings import Settings

EVENTS_STREAM = "FLOWERS"
DLQ_STREAM = "FLOWERS_DLQ"
PAYROLL_STREAM = "PAYROLL"
# The payroll system's durable consumer of PAYROLL (created by the admin with the streams).
PAYROLL_CONSUMER = "payroll"

HDR_MSG_ID = "Nats-Msg-Id"
HDR_POSITION = "Flowers-Position"  # on PAYROLL messages (services/rewards/payroll_feed.py)
HDR_ERROR = "Flowers-Error"
HDR_CONSUMER = "Flowers-Consumer"
HDR_ORIGINAL_SUBJECT = "Flowers-Original-Subject"
HDR_ORIGINAL_SEQUENCE = "Flowers-Original-Sequence"
HDR_DELIVERIES = "Flowers-Deliveries"

log = get_logger(__name__)


def event_subject(service: str, event_type: str) -> str:
    return f"flowers.evt.{service}.{event_type}"


def event_headers(event_id: uuid.UUID) -> dict[str, str]:
    """A published event's one header: its id, by which JetStream drops a re-published copy.

    Everything else about the event (type, schema version, stream, position, correlation
    and cause) is in the body, the envelope, which every consumer decodes anyway; a header
    each would cost every delivery its parsing (nats-py parses headers line by line in
    Python: with seven of them, more CPU than decoding the body's envelope).
    """
    return {HDR_MSG_ID: str(event_id)}


def nats_servers(url: str) -> list[str]:
    """The servers of a NATS URL: one, or a cluster's nodes separated by commas."""
    return [server.strip() for server in url.split(",") if server.strip()]


async def _reachable(url: str) -> None:
    """Open and close a TCP connection to any server of `url` (raises OSError if none answers)."""
    failure: BaseException = OSError(f"no server in {url!r}")
    for server in nats_servers(url):
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 4222), 2.0
            )
        except (OSError, TimeoutError) as exc:
            failure = exc
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise failure


async def _log_nats_error(exc: Exception) -> None:
    log.warning("nats_error", error=str(exc) or type(exc).__name__)


async def _log_disconnected() -> None:
    log.warning("nats_disconnected")


async def _log_reconnected() -> None:
    log.info("nats_reconnected")


NATS_CALLBACKS: dict[str, Any] = {
    "error_cb": _log_nats_error,
    "disconnected_cb": _log_disconnected,
    "reconnected_cb": _log_reconnected,
}


async def connect_nats(
    url: str,
    *,
    name: str,
    attempts: int = 30,
    seed: str | None = None,
    user: str | None = None,
) -> NatsClient:
    """Wait for the server with back-off (one log line per try), then connect for good.

    Once connected, the client reconnects forever by itself (nats-py), logging one line
    per disconnect instead of a traceback. `user` (the NATS user the seed belongs to)
    chooses the reply inboxes that user alone may read (`inbox_prefix`).
    """
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            await _reachable(url)
            break
        except (OSError, TimeoutError) as exc:
            if attempt == attempts:
                raise ConnectionError(
                    f"NATS at {url} unreachable after {attempts} attempt(s): "
                    f"{exc.strerror if isinstance(exc, OSError) and exc.strerror else exc!r}"
                ) from exc
            log.warning(
                "nats_unreachable_retrying",
                url=url,
                attempt=attempt,
                retry_in_s=round(delay, 2),
                error=str(exc) or type(exc).__name__,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    await _check_credentials(url, name, seed, user)
    client: NatsClient = await nats.connect(
        nats_servers(url),
        name=name,
        connect_timeout=2,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        allow_reconnect=True,
        **nats_auth(seed, user),
        **NATS_CALLBACKS,
    )
    return client


async def _quiet(_: Exception) -> None:
    pass


async def _check_credentials(url: str, name: str, seed: str | None, user: str | None) -> None:
    """One connection that does not retry: a server refusing these credentials says so at
    once (the lasting connection below would retry for ever)."""
    try:
        probe = await nats.connect(
            nats_servers(url),
            name=name,
            connect_timeout=2,
            allow_reconnect=False,
            error_cb=_quiet,
            **nats_auth(seed, user),
        )
    except nats.errors.Error as exc:
        if "authorization" in str(exc).lower():
            raise ConnectionError(
                f"NATS at {url} refused {name}: authorization violation "
                f"({'its nkey is not known to the server' if seed else 'no NATS credentials'}: "
                "FLOWERS_NATS_SEED_FILE, FLOWERS_NATS_SEED or FLOWERS_SECRETS_DIR)"
            ) from exc
        return  # anything else: the lasting connection retries and reports it
    except (OSError, TimeoutError):
        return
    await probe.close()


def inbox_prefix(user: str) -> str:
    """Where `user`'s replies (and JetStream deliveries and acks) come: `_INBOX_<user>.…`.

    Each user may subscribe only to its own (deploy/nats_permissions.py), so no process can
    read the replies meant for another (`_INBOX.>` would show it every answer on the bus)."""
    return f"_INBOX_{user}"


def nats_auth(seed: str | None, user: str | None = None) -> dict[str, Any]:
    """The connect options that authenticate with an nkey seed (none: no credentials) as
    `user`, with that user's own reply inboxes."""
    options: dict[str, Any] = {"nkeys_seed_str": seed} if seed else {}
    if user is not None:
        options["inbox_prefix"] = inbox_prefix(user)
    return options


async def ensure_streams(js: JetStreamContext, settings: Settings) -> None:
    """Create or update the three streams (and payroll's consumer of PAYROLL); their
    guarantees are set here, once. Only the NATS user `admin` may (deploy/nats_permissions.py):
    the stack, the test fixtures and `flowers nats-streams` call it; services only check."""
    configs = [
        js_api.StreamConfig(
            name=EVENTS_STREAM,
            subjects=["flowers.evt.>"],
            storage=js_api.StorageType.FILE,
            retention=js_api.RetentionPolicy.LIMITS,
            max_age=0,
            duplicate_window=settings.stream_duplicate_window_s,
            num_replicas=settings.stream_replicas,
            deny_delete=True,
            deny_purge=True,
        ),
        js_api.StreamConfig(
            name=DLQ_STREAM,
            subjects=["flowers.dlq.>"],
            storage=js_api.StorageType.FILE,
            retention=js_api.RetentionPolicy.LIMITS,
            duplicate_window=settings.stream_duplicate_window_s,
            num_replicas=settings.stream_replicas,
        ),
        js_api.StreamConfig(
            name=PAYROLL_STREAM,
            subjects=["flowers.payroll.adjustment.*"],
            storage=js_api.StorageType.FILE,
            retention=js_api.RetentionPolicy.LIMITS,
            max_msgs_per_subject=1,
            discard=js_api.DiscardPolicy.NEW,
            discard_new_per_subject=True,
            num_replicas=settings.stream_replicas,
            deny_delete=True,
            deny_purge=True,
        ),
    ]
    for config in configs:
        try:
            await js.stream_info(config.name or "")
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)
    await js.add_consumer(
        PAYROLL_STREAM,
        js_api.ConsumerConfig(
            name=PAYROLL_CONSUMER,
            durable_name=PAYROLL_CONSUMER,
            deliver_policy=js_api.DeliverPolicy.ALL,
            ack_policy=js_api.AckPolicy.EXPLICIT,
        ),
    )


class StreamsMissing(Exception):
    """The streams a service needs are not there (or this user may not see them)."""


async def check_streams(js: JetStreamContext, streams: Sequence[str], timeout: float = 5.0) -> None:
    """Raise StreamsMissing naming what is missing and what to run; services never create
    streams (only the admin may)."""
    missing: list[str] = []
    for name in streams:
        try:
            await asyncio.wait_for(js.stream_info(name), timeout)
        except NotFoundError:
            missing.append(name)
        except TimeoutError as exc:
            raise StreamsMissing(
                f"no answer about stream {name} within {timeout:g} s: is JetStream enabled, "
                "and may this NATS user read it (deploy/nats_permissions.py)?"
            ) from exc
    if missing:
        raise StreamsMissing(
            f"stream(s) {', '.join(missing)} missing on NATS: they are created by the NATS "
            "admin user — `flowers up` does it; against other servers run "
            "`flowers nats-streams` with FLOWERS_NATS_SEED_FILE naming the admin's seed"
        )


# A consumer's handler gets the new events of a batch at once, in stream order, inside the
# batch's transaction (after the inbox insert): the one projector signature (shared.projection).
Handler = Callable[
    [asyncpg.Connection, Sequence[tuple[RecordedEvent, DomainEvent]]], Awaitable[None]
]


class PermanentFailure(Exception):
    """A message no retry can mend (unparseable, unknown type): dead-lettered at once."""


def check_authentic(subject: str, envelope: RecordedEvent, event: DomainEvent) -> None:
    """An event counts only on the subject of the service that owns its type.

    The server lets a service publish only on `flowers.evt.<itself>.>`
    (deploy/nats_permissions.py), so the subject names who published; an envelope that
    claims another service's type (or another type than its subject) is a forgery:
    PermanentFailure, dead-lettered at once with the reason.
    """
    owner = type(event).service
    expected = event_subject(owner, envelope.type)
    if subject != expected:
        raise PermanentFailure(
            f"not authentic: a {envelope.type} event belongs to {owner} ({expected}), "
            f"yet it came on {subject}"
        )


@contextlib.contextmanager
def event_context(consumer: str, envelope: RecordedEvent) -> Iterator[None]:
    """While an event is handled, new events and log lines name it as their cause."""
    correlation = envelope.metadata.correlation_id or str(envelope.event_id)
    tokens = (
        correlation_id_var.set(correlation),
        causation_id_var.set(str(envelope.event_id)),
    )
    try:
        with structlog.contextvars.bound_contextvars(
            event_id=str(envelope.event_id), correlation_id=correlation, consumer=consumer
        ):
            yield
    finally:
        correlation_id_var.reset(tokens[0])
        causation_id_var.reset(tokens[1])


_SEALED = json.dumps(MARKER).encode()  # in a payload's bytes only if a value in it is sealed


async def _load_keys(messages: Sequence[Msg], envelopes: Sequence[RecordedEvent]) -> None:
    """The keys the deliveries' sealed values need, in one call (none looked for where the
    payload holds no sealed value)."""
    await load_keys(e for m, e in zip(messages, envelopes, strict=True) if _SEALED in m.data)


@dataclass
class ConsumerStats:
    handled: int = 0
    duplicates: int = 0
    failures: int = 0
    dead_lettered: int = 0
    redeliveries: int = 0
    held: int = 0  # deliveries put back to keep an aggregate's order


@dataclass
class EventConsumer:
    """A durable pull consumer on FLOWERS feeding one service's handler, exactly once in effect.

    Per fetched batch: one transaction inserts the inbox rows (a duplicate stops there) and
    runs the handler once on the batch's new events, in order; only after commit are the messages
    acknowledged, the last one synchronously. If the batch fails it is rolled back and its
    messages are handled one transaction each, so a failure is pinned to its message: it
    is retried with back-off (`nak(delay)`); after `max_deliver` attempts, or at once for
    a message nothing can mend, it is copied with its error to FLOWERS_DLQ and then
    terminated, so the messages behind it keep flowing. The server's own max_deliver stays
    unlimited on purpose: a process killed on the last attempt must not lose the message.
    """

    name: str
    filter_subjects: list[str]
    registry: EventRegistry
    handler: Handler
    pool: asyncpg.Pool
    js: JetStreamContext
    settings: Settings
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _blocked: dict[str, int] = field(default_factory=dict)  # stream id -> failing sequence
    _holds: dict[int, int] = field(default_factory=dict)  # sequence -> deliveries held
    # Told of each event once its transaction has committed (benchmarks, tests).
    on_committed: Callable[[RecordedEvent], None] | None = None
    _outage: OutageLog = field(default_factory=lambda: OutageLog(log, "database"))

    async def ensure(self) -> None:
        """Create or update the durable consumer; a changed config is applied, not ignored."""
        config = js_api.ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            deliver_policy=js_api.DeliverPolicy.ALL,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=self.settings.consumer_ack_wait_s,
            max_deliver=-1,
            max_ack_pending=max(1000, self.settings.consumer_batch_size * 4),
            filter_subjects=self.filter_subjects if len(self.filter_subjects) > 1 else None,
            filter_subject=self.filter_subjects[0] if len(self.filter_subjects) == 1 else None,
        )
        await self.js.add_consumer(EVENTS_STREAM, config)

    async def run(self) -> None:
        await self.ensure()
        subscription = await self.js.pull_subscribe_bind(self.name, stream=EVENTS_STREAM)
        log.info("consumer_started", consumer=self.name, subjects=self.filter_subjects)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                # An idle pull waits up to a second; stopping need not wait for it.
                fetch = asyncio.ensure_future(
                    subscription.fetch(self.settings.consumer_batch_size, timeout=1.0)
                )
                await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    with contextlib.suppress(BaseException):
                        await fetch
                    break
                try:
                    messages = fetch.result()
                except TimeoutError:
                    continue
                except nats.errors.ConnectionClosedError:
                    break
                except Exception as exc:  # a broker hiccup: wait, then pull again
                    log.warning("consumer_fetch_failed", consumer=self.name, error=repr(exc))
                    await asyncio.sleep(1.0)
                    continue
                await self.handle_batch(messages)
        finally:
            stopping.cancel()
            with contextlib.suppress(Exception):  # the connection may already be gone
                await subscription.unsubscribe()

    def stop(self) -> None:
        self._stopping.set()

    async def handle_batch(self, messages: list[Msg]) -> None:
        """A fetched batch in one transaction: one inbox insert, one commit, one acknowledgement
        round trip. If anything in it fails, the transaction rolls back and the messages are
        handled one at a time, where retries, holds and dead letters are decided per message.
        """
        if len(messages) < 2:
            await self._one_by_one(messages)
            return
        try:
            # Each delivery is parsed once: the envelope, then (its keys fetched for the
            # whole batch in one call) the event's model from the envelope's data.
            envelopes = [self._envelope(message) for message in messages]
            await _load_keys(messages, envelopes)  # shared/personal_data.py
            decoded = [
                (envelope, self._event(message, envelope))
                for message, envelope in zip(messages, envelopes, strict=True)
            ]
        except PermanentFailure:  # dead-lettered on the way one by one
            decoded = []
        except Exception as exc:  # the key store is out of reach: retried one by one
            log.info("consumer_keys_unavailable", consumer=self.name, error=repr(exc))
            decoded = []
        if decoded and self._blocked:
            # Streams waiting behind a failed message go one by one (held in order, or
            # released when their failed message succeeds); the others stay a batch.
            waits = [envelope.stream_id in self._blocked for envelope, _ in decoded]
            await self._one_by_one([m for m, wait in zip(messages, waits, strict=True) if wait])
            messages = [m for m, wait in zip(messages, waits, strict=True) if not wait]
            decoded = [d for d, wait in zip(decoded, waits, strict=True) if not wait]
        if len(decoded) < 2:
            await self._one_by_one(messages)
            return
        try:
            await self.apply_all(decoded)
        except Exception as exc:
            self.stats.failures += 1
            log.info(
                "consumer_batch_one_by_one", consumer=self.name, size=len(messages), error=repr(exc)
            )
            await self._one_by_one(messages)
            return
        for message in messages:
            self._holds.pop(message.metadata.sequence.stream, None)
            if message.metadata.num_delivered > 1:
                self.stats.redeliveries += 1
        # Acks travel in order on one connection: confirming the last confirms them all.
        for message in messages[:-1]:
            await self._settle(message.ack(), "ack")
        await self._settle(messages[-1].ack_sync(), "ack")

    async def _one_by_one(self, messages: list[Msg]) -> None:
        for message in messages:
            await self.handle(message)

    async def handle(self, message: Msg) -> None:
        deliveries = message.metadata.num_delivered
        if deliveries > 1:
            self.stats.redeliveries += 1
        try:
            envelope = self._envelope(message)
        except PermanentFailure as exc:
            await self._dead_letter(message, str(exc))
            return
        try:
            await _load_keys([message], [envelope])
        except Exception as exc:  # the key store is out of reach: no fault of the message
            log.warning("consumer_keys_unavailable", consumer=self.name, error=repr(exc))
            await self._settle(message.nak(delay=self._backoff(2)), "nak")
            return
        try:
            event = self._event(message, envelope)
        except PermanentFailure as exc:
            await self._dead_letter(message, str(exc))
            return
        with event_context(self.name, envelope):
            await self._handle_decoded(message, envelope, event, deliveries)

    async def _handle_decoded(
        self, message: Msg, envelope: RecordedEvent, event: DomainEvent, deliveries: int
    ) -> None:
        # Order per aggregate: while a message of a stream waits to be retried, the later
        # messages of that stream wait behind it (other streams flow on). Held deliveries do
        # not count as attempts. The hold is this process's memory: after a restart the
        # redeliveries come in whatever order the server sends them.
        seq = message.metadata.sequence.stream
        blocker = self._blocked.get(envelope.stream_id)
        if blocker is not None and seq > blocker:
            self._holds[seq] = self._holds.get(seq, 0) + 1
            self.stats.held += 1
            await self._settle(message.nak(delay=self._backoff(1)), "nak")
            return
        attempts = deliveries - self._holds.get(seq, 0)
        try:
            await self.apply(envelope, event)
        except Exception as exc:
            self.stats.failures += 1
            error = f"{type(exc).__name__}: {exc}"
            if is_outage(exc):
                # The database is down or restarting: no fault of the message, so no
                # attempt counted towards the dead letter, and one log line per outage.
                self._holds[seq] = self._holds.get(seq, 0) + 1
                self._outage.failed(exc)
                if blocker is None or seq < blocker:
                    self._blocked[envelope.stream_id] = seq
                await self._settle(message.nak(delay=self._backoff(2)), "nak")
                return
            if attempts >= self.settings.consumer_max_deliver:
                self._release(envelope.stream_id, seq)
                await self._dead_letter(message, error, traceback.format_exc())
                return
            if blocker is None or seq < blocker:
                self._blocked[envelope.stream_id] = seq
            delay = self._backoff(attempts)
            log.warning(
                "consumer_handler_failed",
                consumer=self.name,
                event_id=str(envelope.event_id),
                type=envelope.type,
                delivery=deliveries,
                retry_in_s=delay,
                error=error,
            )
            await self._settle(message.nak(delay=delay), "nak")
            return
        self._outage.succeeded()
        self._release(envelope.stream_id, seq)
        await self._settle(message.ack_sync(), "ack")

    def _release(self, stream_id: str, seq: int) -> None:
        if self._blocked.get(stream_id) == seq:
            del self._blocked[stream_id]
        self._holds.pop(seq, None)

    async def apply(self, envelope: RecordedEvent, event: DomainEvent) -> bool:
        """One transaction: the inbox row, then the handler's effects. False if seen before."""
        return await self.apply_all([(envelope, event)]) == 1

    async def apply_all(self, items: list[tuple[RecordedEvent, DomainEvent]]) -> int:
        """One transaction: the inbox rows, then each new event's handler, in order.

        Returns how many were new (the others had been handled before)."""
        scope = TransactionScope()
        token = transaction_scope_var.set(scope)
        handled = 0
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                fresh = await claim_inbox(conn, self.name, [e.event_id for e, _ in items])
                new: list[tuple[RecordedEvent, DomainEvent]] = []
                for envelope, event in items:
                    if envelope.event_id not in fresh:
                        continue
                    fresh.discard(envelope.event_id)  # twice in one batch: the first counts
                    new.append((envelope, event))
                if new:
                    await self.handler(conn, new)
                handled = len(new)
                await scope.finish()
        finally:
            transaction_scope_var.reset(token)
        scope.committed()
        self.stats.handled += handled
        self.stats.duplicates += len(items) - handled
        if self.on_committed is not None:
            for envelope, _ in items:
                self.on_committed(envelope)
        return handled

    async def redrive(self, payload: bytes) -> bool:
        """Handle a dead letter's payload again (after the fault was fixed); once in effect."""
        envelope = RecordedEvent.model_validate_json(payload)
        await load_keys([envelope])
        return await self.apply(envelope, self.registry.decode_recorded(envelope))

    async def _settle(self, step: Awaitable[Any], what: str) -> None:
        """An ack or nak lost to a broker outage is harmless: the inbox absorbs the redelivery."""
        try:
            await step
        except Exception as exc:
            log.warning(f"consumer_{what}_failed", consumer=self.name, error=repr(exc))

    def _backoff(self, deliveries: int) -> float:
        steps = self.settings.consumer_backoff_s or [1.0]
        return steps[min(deliveries - 1, len(steps) - 1)]

    def _envelope(self, message: Msg) -> RecordedEvent:
        try:
            return RecordedEvent.model_validate_json(message.data)
        except ValueError as exc:
            raise PermanentFailure(f"not an event envelope: {exc}") from exc

    def _event(self, message: Msg, envelope: RecordedEvent) -> DomainEvent:
        """The envelope's event as its model (keys loaded) if it came on its owner's subject."""
        try:
            event = self.registry.decode_recorded(envelope)
        except UnknownEventType as exc:
            raise PermanentFailure(f"unknown event type or version: {exc}") from exc
        except ValueError as exc:
            raise PermanentFailure(f"event data does not match {envelope.type}: {exc}") from exc
        check_authentic(message.subject, envelope, event)
        return event

    async def _dead_letter(self, message: Msg, error: str, trace: str = "") -> None:
        meta = message.metadata
        headers = dict(message.headers or {})
        headers.update(
            {
                HDR_MSG_ID: f"{self.name}:{meta.sequence.stream}",
                HDR_ERROR: error[:2000],
                HDR_CONSUMER: self.name,
                HDR_ORIGINAL_SUBJECT: message.subject,
                HDR_ORIGINAL_SEQUENCE: str(meta.sequence.stream),
                HDR_DELIVERIES: str(meta.num_delivered),
            }
        )
        body = {
            "consumer": self.name,
            "subject": message.subject,
            "stream_sequence": meta.sequence.stream,
            "deliveries": meta.num_delivered,
            "error": error,
            "traceback": trace[-4000:],
            "dead_lettered_at": datetime.now(UTC).isoformat(),
            "payload": message.data.decode("utf-8", errors="replace"),
        }
        await self.js.publish(
            f"flowers.dlq.{self.name}",
            json.dumps(body, ensure_ascii=False).encode(),
            stream=DLQ_STREAM,
            headers=headers,
        )
        await self._settle(message.term(), "term")
        self.stats.dead_lettered += 1
        log.error(
            "dead_lettered",
            consumer=self.name,
            subject=message.subject,
            stream_sequence=meta.sequence.stream,
            error=error,
        )
