"""A backend outage (PostgreSQL or NATS down or restarting) told apart from a fault.

A request that fails because a server is gone is refused with 503 and a message that
asks to try again shortly; the log gets one line when the outage begins and one when it
ends, not a traceback per request.
"""

from __future__ import annotations

import errno
import time
from typing import Any

import asyncpg
import nats.errors

_OUTAGES: tuple[type[Exception], ...] = (
    ConnectionError,  # refused, reset, broken pipe: the server is not there
    asyncpg.PostgresConnectionError,  # the connection was lost mid-operation
    asyncpg.CannotConnectNowError,  # starting up, recovering after a crash
    asyncpg.AdminShutdownError,  # shutting down
    asyncpg.CrashShutdownError,  # another backend crashed: every session is reset
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
)
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ETIMEDOUT}
# asyncpg says these as an InterfaceError, which otherwise means a fault of ours.
_CLOSED = (
    "connection is closed",
    "connection was closed",
    "pool is closing",
    "released back to the pool",  # a lost connection, detached from its proxy
)


# Every class an outage may be raised as (the gateway registers a handler for each; the
# broad ones, InterfaceError and OSError, only count when is_outage says so).
OUTAGE_TYPES: tuple[type[Exception], ...] = (
    *_OUTAGES,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


def is_outage(exc: BaseException) -> bool:
    """Did this fail because PostgreSQL or NATS is unreachable (not because of the request)?"""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OUTAGES):
            return True
        if isinstance(current, asyncpg.InterfaceError) and any(
            text in str(current) for text in _CLOSED
        ):
            return True
        if isinstance(current, asyncpg.InternalClientError) and "cannot switch to state" in str(
            current
        ):
            # A pooled connection whose server process sent its FATAL goodbye (the postmaster
            # died) but whose socket has not been seen to close yet: gone with the next use.
            return True
        if isinstance(current, OSError) and current.errno in _UNREACHABLE:
            return True
        current = current.__cause__
    return False


class OutageLog:
    """One log line when an outage begins and one when requests succeed again."""

    def __init__(self, log: Any, what: str, *, name: str = "") -> None:
        self.log = log
        self.what = what
        self.name = name  # who saw it (a follower's name), if not the whole process
        self.since: float | None = None
        self.refused = 0

    def failed(self, exc: BaseException) -> None:
        self.refused += 1
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning(
                "backend_unavailable",
                what=self.what,
                **({"by": self.name} if self.name else {}),
                error=f"{type(exc).__name__}: {exc}",
            )

    def succeeded(self) -> None:
        if self.since is not None:
            self.log.info(
                "backend_available_again",
                what=self.what,
                down_s=round(time.monotonic() - self.since, 1),
                refused=self.refused,
            )
            self.since, self.refused = None, 0
