"""What the gateway holds while it runs (on `app.state.gw`), and per-request service calls."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import Request
from nats.aio.client import Client as NatsClient
from pydantic import BaseModel

from services.gateway.accounts import AccountStore
from services.gateway.auth import CsrfSigner, Principal, SessionStore, SigninThrottle
from services.gateway.commands import command
from services.gateway.config import GatewaySettings
from services.gateway.metrics import SERVICE_CALLS, SERVICE_LATENCY
from shared.clock import Clock
from shared.identity import Identity
from shared.rpc import RemoteError, RpcClient
from shared.settings import Settings


@dataclass
class GatewayState:
    settings: Settings
    gateway: GatewaySettings
    clock: Clock
    nc: NatsClient
    rpc: RpcClient
    pool: asyncpg.Pool
    accounts: AccountStore
    sessions: SessionStore
    throttle: SigninThrottle
    csrf: CsrfSigner


def gw_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gw
    return state


def request_id(request: Request) -> str:
    rid: str | None = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.headers.get("x-request-id") or str(uuid.uuid4())
        request.state.request_id = rid
    return rid


ANONYMOUS = Identity(subject="anonymous")
COMMANDS = "flowers.cmd."


class Services:
    """Commands and queries on behalf of one request's user: the actor travels in each command.

    The correlation id is the request's id, so a service's events can be traced to the request.
    """

    def __init__(
        self,
        rpc: RpcClient,
        principal: Principal | None,
        correlation_id: str,
        keys: CommandKeys | None = None,
    ) -> None:
        self.rpc = rpc
        self.principal = principal
        self.correlation_id = correlation_id
        self.keys = keys

    async def query(self, service: str, name: str, payload: BaseModel | dict[str, Any]) -> Any:
        return await self._call(f"flowers.qry.{service}.{name}", payload)

    async def command(
        self, service: str, name: str, model: type[BaseModel], /, **fields: Any
    ) -> Any:
        """Send the contract's command `model`, built from `fields` for the signed-in user."""
        if self.principal is None:
            raise RuntimeError("a command needs a signed-in user")
        return await self._call(
            f"flowers.cmd.{service}.{name}", command(model, self.principal, **fields)
        )

    def identity(self) -> Identity:
        """Who the services are told acts, signed: the signed-in user, or an anonymous visitor."""
        return ANONYMOUS if self.principal is None else self.principal.identity()

    async def _call(self, subject: str, payload: BaseModel | dict[str, Any]) -> Any:
        started = time.perf_counter()
        outcome = "ok"
        keyed = self.keys is not None and subject.startswith(COMMANDS)
        try:
            answer = await self.rpc.call(
                subject,
                payload,
                correlation_id=self.correlation_id,
                identity=self.identity(),
                idempotency_key=self.keys.next(subject) if self.keys and keyed else None,
            )
            if self.keys and keyed:
                self.keys.carried_out = True
            return answer
        except RemoteError as exc:
            outcome = exc.error.code
            raise
        finally:
            SERVICE_CALLS.labels(subject, outcome).inc()
            SERVICE_LATENCY.labels(subject).observe(time.perf_counter() - started)


IDEMPOTENCY_FIELD = "idempotency_key"  # the hidden field every form carries (macros.html)
IDEMPOTENCY_HEADER = "Idempotency-Key"  # what an API client may send


class CommandKeys:
    """A request's idempotency key (a form's hidden field, an API's Idempotency-Key), one per
    command it sends: the request sent again sends the same commands in the same order, so
    the n-th command to a subject gets the same key again, and its first answer
    (shared/idempotency.py)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._sent: dict[str, int] = {}
        # Set once a command sent with this key has been carried out: a page shown after
        # it offers its form with a new key, so the next post is a new command.
        self.carried_out = False

    def next(self, subject: str) -> str:
        n = self._sent.get(subject, 0)
        self._sent[subject] = n + 1
        return self.key if n == 0 else f"{self.key}#{n}"


def command_keys(request: Request) -> CommandKeys | None:
    """The request's command keys, if a form posted one (read with its CSRF token) or an API
    client sent one; the same object for every Services of the request."""
    keys: CommandKeys | None = getattr(request.state, "command_keys", None)
    if keys is None:
        posted: str | None = getattr(request.state, "idempotency_key", None)
        key = posted or request.headers.get(IDEMPOTENCY_HEADER)
        if not key:
            return None
        keys = request.state.command_keys = CommandKeys(key)
    return keys


def services(request: Request, principal: Principal | None) -> Services:
    return Services(gw_state(request).rpc, principal, request_id(request), command_keys(request))
