"""Commands and queries over core NATS request/reply: one reply shape, errors with codes.

Every reply is `{"ok": true, "data": ...}` or `{"ok": false, "error": {code, message_zh,
message_en, details}}`; a domain refusal travels as data, never as a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import nats.errors
import structlog
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from shared.context import correlation_id_var
from shared.errors import DomainError
from shared.eventstore import ConcurrencyError
from shared.idempotency import MAX_KEY_LENGTH, CommandReplies
from shared.identity import (
    HDR_IDENTITY,
    Identity,
    IdentityRefused,
    IdentitySigner,
    IdentityVerifier,
    identity_from_fields,
    with_identity,
)
from shared.logging import get_logger
from shared.outage import OutageLog, is_outage

HDR_CORRELATION = "Flowers-Correlation-Id"
HDR_IDEMPOTENCY = "Flowers-Idempotency-Key"  # a command's key (shared/idempotency.py)

log = get_logger(__name__)
_outage = OutageLog(log, "database")


class ErrorBody(BaseModel):
    code: str
    message_zh: str
    message_en: str
    details: dict[str, Any] = {}
    status: int = 409


class Reply(BaseModel):
    ok: bool
    data: Any = None
    error: ErrorBody | None = None


def ok(data: Any) -> dict[str, Any]:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
    return {"ok": True, "data": data}


def refused(error: ErrorBody) -> dict[str, Any]:
    return {"ok": False, "error": error.model_dump(mode="json")}


def invalid_input(exc: ValidationError) -> ErrorBody:
    fields = [
        {
            "field": ".".join(str(p) for p in e["loc"]),
            "message": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return ErrorBody(
        code="invalid_input",
        message_zh="输入有误，请检查标出的字段。",
        message_en="The input is invalid; see the fields listed.",
        details={"fields": fields},
        status=422,
    )


M = TypeVar("M", bound=BaseModel)

CONCURRENT_UPDATE = ErrorBody(
    code="concurrent_update",
    message_zh="有人同时修改了同一记录，请重试。",
    message_en="Someone changed the same record at the same moment; please try again.",
    status=409,
)
NUL_REFUSED = ErrorBody(
    code="invalid_text",
    message_zh="文本中含有不允许的空字符（NUL）。",
    message_en="The text contains a NUL character, which is not allowed.",
    status=422,
)


def _contains_nul(value: Any) -> bool:
    """PostgreSQL text and jsonb cannot hold U+0000: refuse it at the door, with a reason."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(v) for v in value)
    return False


COMMAND_IN_PROGRESS = ErrorBody(
    code="command_in_progress",
    message_zh="这份提交正在处理中，请勿重复提交；请稍后刷新页面查看结果。",
    message_en="This submission is still being processed; please do not send it again, "
    "reload the page shortly to see the outcome.",
    status=409,
)
INVALID_IDEMPOTENCY_KEY = ErrorBody(
    code="invalid_idempotency_key",
    message_zh=f"幂等键（Idempotency-Key）须为 1 至 {MAX_KEY_LENGTH} 个可见字符。",
    message_en=f"The Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible characters.",
    status=422,
)


def identity_refused(exc: IdentityRefused) -> ErrorBody:
    return ErrorBody(
        code=exc.code, message_zh=exc.message_zh, message_en=exc.message_en, status=401
    )


async def answer(
    model: type[M],
    body: Any,
    handler: Callable[[M], Awaitable[Any]],
    identity: Identity | None = None,
) -> dict[str, Any]:
    """Validate the request, run the handler, and turn any outcome into a reply.

    `identity`, verified by the caller, replaces the identity fields the body carries.
    """
    try:
        if isinstance(body, bytes | bytearray):
            body = json.loads(body or b"{}")
        if _contains_nul(body):
            return refused(NUL_REFUSED)
        if identity is not None:
            body = with_identity(model, body, identity)
        request = model.model_validate(body)
    except ValidationError as exc:
        return refused(invalid_input(exc))
    except ValueError:
        return refused(
            ErrorBody(
                code="invalid_json",
                message_zh="请求不是有效的 JSON。",
                message_en="The request is not valid JSON.",
                status=400,
            )
        )
    try:
        reply = ok(await handler(request))
        _outage.succeeded()
        return reply
    except DomainError as exc:
        return refused(
            ErrorBody(
                code=exc.code,
                message_zh=exc.message_zh,
                message_en=exc.message_en,
                details=exc.details,
                status=exc.status,
            )
        )
    except ValidationError as exc:
        return refused(invalid_input(exc))
    except ConcurrencyError:
        return refused(CONCURRENT_UPDATE)
    except Exception as exc:
        if is_outage(exc):  # PostgreSQL is down or restarting: one log line per outage
            _outage.failed(exc)
            return refused(BACKEND_UNAVAILABLE)
        log.exception("request_failed", model=model.__name__)
        return refused(
            ErrorBody(
                code="internal_error",
                message_zh="服务内部错误，已记录，请稍后再试。",
                message_en="Internal error; it has been logged. Please try again later.",
                status=500,
            )
        )


def document_request(docs: NatsBroker, subject: str, service: str, doc: str | None) -> None:
    """Describe a request subject on the documentation broker (never connected)."""

    async def request(body: Any) -> dict[str, Any]:
        raise NotImplementedError  # documentation only: requests are served by RpcServer

    request.__name__ = subject.replace(".", "_")
    docs.subscriber(subject, queue=service, title=subject, description=(doc or "").strip() or None)(
        request
    )


@dataclass(frozen=True)
class _Route:
    subject: str
    model: type[BaseModel]
    handler: Callable[[Any], Awaitable[Any]]
    public: bool
    command: bool


class RpcServer:
    """Answers `flowers.cmd.<service>.<name>` and `flowers.qry.<service>.<name>` requests.

    Every request but a public one (health) must carry a signed identity that `verifier`
    accepts; without a verifier nothing but the public requests is answered.

    The subjects are plain nats-py queue subscriptions on the service's connection
    (`start`), one task per request, at most `workers` at once per subject: FastStream's
    per-message machinery (its subscriber, middlewares and fast_depends) cost more CPU
    per command than the command's own decision (docs/performance.md, Session 7). Each
    route is also described on `docs`, a broker never connected, for the AsyncAPI document.
    """

    def __init__(
        self,
        docs: NatsBroker,
        service: str,
        workers: int = 16,
        verifier: IdentityVerifier | None = None,
    ) -> None:
        self.docs = docs
        self.service = service
        self.verifier = verifier
        self.workers = workers  # requests handled at once per subject (commands to one
        # stream still queue, and are committed together: see shared.service.StreamWriter)
        self.subjects: list[str] = []
        # Told of every reply (subject, seconds, reply): the service's metrics.
        self.observe: Callable[[str, float, dict[str, Any]], None] | None = None
        # Where commands sent with an idempotency key keep their answers (set at start-up).
        self.replies: CommandReplies | None = None
        self._routes: list[_Route] = []
        self._nc: NatsClient | None = None
        self._subscriptions: list[Subscription] = []
        self._running: set[asyncio.Task[None]] = set()

    def command(
        self, name: str, model: type[M]
    ) -> Callable[[Callable[[M], Awaitable[Any]]], Callable[[M], Awaitable[Any]]]:
        return self._register(f"flowers.cmd.{self.service}.{name}", model)

    def query(
        self, name: str, model: type[M], *, public: bool = False
    ) -> Callable[[Callable[[M], Awaitable[Any]]], Callable[[M], Awaitable[Any]]]:
        """`public`: answered without an identity (health, nothing personal)."""
        return self._register(f"flowers.qry.{self.service}.{name}", model, public=public)

    async def start(self, nc: NatsClient) -> None:
        """Subscribe every registered subject (queue group: the service's name)."""
        self._nc = nc
        for route in self._routes:
            slots = asyncio.Semaphore(self.workers)

            async def receive(
                msg: Msg, route: _Route = route, slots: asyncio.Semaphore = slots
            ) -> None:
                # Waiting here holds the subscription's next message back: at most
                # `workers` requests of one subject are in hand, the rest wait in NATS's
                # pending buffer, as they did under FastStream's `max_workers`.
                await slots.acquire()
                task = asyncio.create_task(self._serve(route, msg, slots))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

            self._subscriptions.append(
                await nc.subscribe(route.subject, queue=self.service, cb=receive)
            )

    async def stop(self, timeout: float = 5.0) -> None:
        """No new requests; those in hand are answered (for up to `timeout` seconds)."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)

    def _verified(self, headers: Mapping[str, str], subject: str, body: bytes) -> Identity:
        if self.verifier is None:
            raise IdentityRefused(
                "identity_unverifiable",
                "服务未配置可信的身份签名密钥，无法处理请求。",
                "The service has no trusted identity keys configured; it cannot answer.",
            )
        return self.verifier.verify(headers.get(HDR_IDENTITY), subject, body)

    async def _once(
        self,
        route: _Route,
        body: bytes,
        identity: Identity,
        key: str,
    ) -> dict[str, Any]:
        """A command with an idempotency key: the first answer if it was carried out."""
        if self.replies is None:  # a service without a database: nothing to remember in
            return await answer(route.model, body, route.handler, identity)
        if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            return refused(INVALID_IDEMPOTENCY_KEY)
        try:
            return await self.replies.once(
                identity.subject,
                route.subject,
                key,
                body,
                lambda: answer(route.model, body, route.handler, identity),
                refused(COMMAND_IN_PROGRESS),
            )
        except Exception as exc:
            if not is_outage(exc):
                raise
            _outage.failed(exc)
            return refused(BACKEND_UNAVAILABLE)

    async def _serve(self, route: _Route, msg: Msg, slots: asyncio.Semaphore) -> None:
        """One request, in a task of its own (so the context variables set are its own)."""
        try:
            reply = await self._reply(route, msg.headers or {}, msg.data)
        except Exception:
            # Unanswered, as before: the caller's time-out says "still being processed"
            # for a command with a key, whose outcome is unknown here.
            log.exception("request_failed_unanswered", subject=route.subject)
            return
        finally:
            slots.release()
        if msg.reply and self._nc is not None:
            try:
                await self._nc.publish(msg.reply, to_json(reply))
            except Exception as exc:  # the connection is closing or reconnecting
                log.warning("reply_not_sent", subject=route.subject, error=str(exc))

    async def _reply(
        self, route: _Route, headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        correlation_id = headers.get(HDR_CORRELATION) or str(uuid.uuid4())
        correlation_id_var.set(correlation_id)
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id, subject=route.subject)
        started = time.perf_counter()
        try:
            identity: Identity | None = None
            if not route.public:
                identity = self._verified(headers, route.subject, body)
            key = headers.get(HDR_IDEMPOTENCY)
            if key is not None and identity is not None and route.command:
                reply = await self._once(route, body, identity, key)
            else:
                reply = await answer(route.model, body, route.handler, identity)
        except IdentityRefused as exc:
            log.warning("request_identity_refused", code=exc.code)
            reply = refused(identity_refused(exc))
        if self.observe is not None:
            self.observe(route.subject, time.perf_counter() - started, reply)
        return reply

    def _register(
        self, subject: str, model: type[M], *, public: bool = False
    ) -> Callable[[Callable[[M], Awaitable[Any]]], Callable[[M], Awaitable[Any]]]:
        def decorate(fn: Callable[[M], Awaitable[Any]]) -> Callable[[M], Awaitable[Any]]:
            self._routes.append(
                _Route(subject, model, fn, public, subject.startswith("flowers.cmd."))
            )
            self.subjects.append(subject)
            document_request(self.docs, subject, self.service, fn.__doc__)
            return fn

        return decorate


class RemoteError(Exception):
    """A service answered with a refusal (or could not be reached): `error` says which."""

    def __init__(self, error: ErrorBody) -> None:
        super().__init__(f"{error.code}: {error.message_en}")
        self.error = error


SERVICE_UNAVAILABLE = ErrorBody(
    code="service_unavailable",
    message_zh="服务暂时不可用，请稍后再试。",
    message_en="The service is unavailable; please try again shortly.",
    status=503,
)
BACKEND_UNAVAILABLE = ErrorBody(
    code="service_unavailable",
    message_zh="系统正在恢复（数据库或消息服务暂时不可用），请稍后再试。",
    message_en="A database or the message bus is unavailable for a moment; please try again.",
    status=503,
)
SERVICE_TIMEOUT = ErrorBody(
    code="service_timeout",
    message_zh="服务响应超时，请稍后再试。",
    message_en="The service did not answer in time; please try again.",
    status=504,
)
COMMAND_PENDING = ErrorBody(
    code="command_pending",
    message_zh="您的提交已送达，系统仍在处理中，请勿重复提交。请稍后刷新本页或到“我的提名”等"
    "相应页面查看结果；如需重试，请原样再次提交本表单，系统不会重复记录。",
    message_en="Your submission arrived and is still being processed; please do not send it "
    "again. Reload this page (or the list it belongs to) shortly to see the outcome; sending "
    "the same form again is safe, it will not be recorded twice.",
    status=504,
)


class RpcClient:
    """Sends commands and queries; returns the reply's data or raises RemoteError.

    With a signer, every request carries a signed assertion of `identity` (the gateway's
    signed-in user, the operator); without one, only public requests get an answer.
    """

    def __init__(
        self,
        nc: NatsClient,
        timeout: float = 5.0,
        signer: IdentitySigner | None = None,
        identity: Identity | None = None,
    ) -> None:
        self.nc = nc
        self.timeout = timeout
        self.signer = signer
        self.identity = identity  # who acts when a call names nobody (the operator)

    def identity_for(self, payload: BaseModel | dict[str, Any]) -> Identity | None:
        """Who a call without an explicit identity acts as."""
        return self.identity

    async def call(
        self,
        subject: str,
        payload: BaseModel | dict[str, Any],
        *,
        correlation_id: str | None = None,
        timeout: float | None = None,
        identity: Identity | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """`idempotency_key` (commands): sent again with the same key and body, the command
        is answered with its first outcome instead of acting twice (shared/idempotency.py);
        a time-out then means "still being processed" (COMMAND_PENDING)."""
        body = (
            payload.model_dump_json().encode()
            if isinstance(payload, BaseModel)
            else json.dumps(payload, ensure_ascii=False, default=str).encode()
        )
        headers = {HDR_CORRELATION: correlation_id or str(uuid.uuid4())}
        if idempotency_key is not None:
            headers[HDR_IDEMPOTENCY] = idempotency_key
        if not self.nc.is_connected:  # NATS is down: say so now, not after the time-out
            raise RemoteError(SERVICE_UNAVAILABLE)
        acting = identity or self.identity_for(payload)
        if self.signer is not None and acting is not None:
            headers[HDR_IDENTITY] = self.signer.sign(acting, subject, body)
        try:
            msg = await self.nc.request(
                subject, body, timeout=timeout or self.timeout, headers=headers
            )
        except nats.errors.NoRespondersError as exc:
            raise RemoteError(SERVICE_UNAVAILABLE) from exc
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError) as exc:
            raise RemoteError(SERVICE_UNAVAILABLE) from exc
        except nats.errors.TimeoutError as exc:
            raise RemoteError(
                SERVICE_TIMEOUT if idempotency_key is None else COMMAND_PENDING
            ) from exc
        reply = Reply.model_validate_json(msg.data)
        if not reply.ok:
            raise RemoteError(reply.error or SERVICE_UNAVAILABLE)
        return reply.data

    async def command(
        self, service: str, name: str, payload: BaseModel | dict[str, Any], **kwargs: Any
    ) -> Any:
        return await self.call(f"flowers.cmd.{service}.{name}", payload, **kwargs)

    async def query(
        self, service: str, name: str, payload: BaseModel | dict[str, Any], **kwargs: Any
    ) -> Any:
        return await self.call(f"flowers.qry.{service}.{name}", payload, **kwargs)


class SelfSigningRpcClient(RpcClient):
    """For trusted callers that hold a signing key and build requests in code (the demo,
    the tests): a call acts as the identity its body names (`actor`/`roles`, `viewer`…).
    The service still verifies the signature; it never believes an unsigned claim."""

    def identity_for(self, payload: BaseModel | dict[str, Any]) -> Identity | None:
        fields = payload.model_dump() if isinstance(payload, BaseModel) else payload
        if any(k in fields for k in ("actor", "viewer")):
            return identity_from_fields(fields)
        return self.identity
