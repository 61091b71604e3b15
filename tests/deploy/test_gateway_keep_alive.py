"""The gateway keeps idle connections open longer than its clients do (deadline-day ReadError).

At equal keep-alive timeouts (uvicorn's and httpx's defaults are both 5 s) a client may send
a request on a connection in the very moment the server closes it: the request is lost
(`httpx.ReadError`), as the deadline-day bench saw once in 1,980 requests.
"""

from __future__ import annotations

import httpx
from uvicorn.main import main as uvicorn_cli

from deploy.stack import GATEWAY, service_command
from shared.settings import Settings


def test_the_gateway_keeps_an_idle_connection_longer_than_its_clients() -> None:
    assert Settings().gateway_keep_alive_s > httpx.Limits().keepalive_expiry  # type: ignore[operator]


def test_the_stack_starts_uvicorn_with_the_gateways_keep_alive() -> None:
    command = service_command(GATEWAY, Settings(gateway_keep_alive_s=42))
    args = command[command.index("uvicorn") + 1 :]
    context = uvicorn_cli.make_context("uvicorn", args)  # uvicorn's own parser
    assert context.params["timeout_keep_alive"] == 42
    assert context.params["app"] == "services.gateway.app:app"
