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


class Services:
    """Commands and queries on behalf of one request's user: the actor travels in each command.

    The correlation id is the request's id, so a service's events can be traced to the request.
    """

    def __init__(self, rpc: RpcClient, principal: Principal | None, correlation_id: str) -> None:
        self.rpc = rpc
        self.principal = principal
        self.correlation_id = correlation_id

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
        try:
            return await self.rpc.call(
                subject, payload, correlation_id=self.correlation_id, identity=self.identity()
            )
        except RemoteError as exc:
            outcome = exc.error.code
            raise
        finally:
            SERVICE_CALLS.labels(subject, outcome).inc()
            SERVICE_LATENCY.labels(subject).observe(time.perf_counter() - started)


def services(request: Request, principal: Principal | None) -> Services:
    return Services(gw_state(request).rpc, principal, request_id(request))
