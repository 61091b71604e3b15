"""The whole system as `flowers up` runs it (deploy/stack.py's Stack), on the bench's servers.

Each service and the gateway are their own processes (`faststream run` / uvicorn) with
their own credentials, started by the same `Stack` that `make run` uses; only NATS and
PostgreSQL are the bench's (the Stack's "existing servers" mode), and the databases get a
prefix of their own so nothing carries over between figures.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bench.stack import BenchStack
from deploy.embedded import free_port
from deploy.stack import GATEWAY, Stack
from shared.settings import SERVICES


@contextlib.asynccontextmanager
async def system(
    bench: BenchStack,
    nats_url: str,
    *,
    say: Any = None,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    """A Stack whose servers are running, streams and databases (roles, schemas) prepared,
    and no process started yet: start them with `start(stack)`. Everything it started is
    stopped and its databases dropped on exit."""
    prefix = bench.new_prefix()
    settings = bench.settings(nats_url, prefix, gateway_port=free_port(), **overrides)
    stack = Stack(settings, say=say or (lambda _: None))
    try:
        stack.start_servers()  # the given servers: nothing is started here
        await stack.prepare_streams()
        await stack.prepare_databases()
        yield stack
    finally:
        stack.stop()
        await bench.drop_prefix(prefix)


async def start(stack: Stack, services: Sequence[str] = (*SERVICES, GATEWAY)) -> None:
    """Start these processes as `flowers up` does and wait until each answers its health
    request."""
    stack.services = tuple(services)
    stack.start_services()
    await stack.wait_healthy()


def cli_env(stack: Stack) -> dict[str, str]:
    """The environment in which an operator command (`flowers audit …`) reaches this stack."""
    settings = stack.settings
    assert settings.secrets_dir is not None
    return {
        **os.environ,
        "FLOWERS_NATS_URL": settings.nats_url,
        "FLOWERS_DATABASE_URL": settings.database_url,
        "FLOWERS_DATABASE_PREFIX": settings.database_prefix,
        "FLOWERS_SECRETS_DIR": str(settings.secrets_dir),
        "FLOWERS_DATA_DIR": str(settings.data_dir),
    }
