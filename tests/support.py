"""Helpers the tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from shared.credentials import identity_signer
from shared.identity import Identity
from shared.rpc import SelfSigningRpcClient
from shared.settings import Settings


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> None:
    """Wait for a condition with a deadline (never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def rpc_client(nc: Any, timeout: float = 5.0) -> SelfSigningRpcClient:
    """An RPC client that signs as the gateway would, for the identity each request names
    (`actor`/`roles`, `viewer`…; requests that name nobody act as a test user)."""
    settings = Settings()
    return SelfSigningRpcClient(
        nc,
        timeout=timeout,
        signer=identity_signer(settings, "gateway"),
        identity=Identity(subject="tests"),
    )
