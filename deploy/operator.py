"""How the `flowers` operator commands reach the running system: as the NATS user
`operator`, signing their requests with the operator's identity key."""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from nats.aio.client import Client as NatsClient

from shared.bus import connect_nats
from shared.credentials import CredentialsError, identity_signer, nats_seed
from shared.identity import Identity
from shared.rpc import RpcClient
from shared.settings import Settings

OPERATOR = "operator"
# What an operator may do through the services: import the directory (admin), read
# payroll exports and reconciliations, hand dead letters back.
OPERATOR_ROLES = frozenset({"operator", "admin", "auditor", "payroll"})


def operator_identity() -> Identity:
    return Identity(subject=f"cli:{getpass.getuser()}", roles=OPERATOR_ROLES)


@asynccontextmanager
async def operator_session(
    settings: Settings, *, timeout: float = 30.0, name: str = "flowers-cli"
) -> AsyncIterator[tuple[NatsClient, RpcClient]]:
    """A NATS connection as the operator and an RPC client that signs as the operator.

    Raises ConnectionError (NATS unreachable) or CredentialsError (a key cannot be read).
    """
    try:
        seed = nats_seed(settings, OPERATOR)
        signer = identity_signer(settings, OPERATOR)
    except CredentialsError as exc:
        raise ConnectionError(str(exc)) from exc
    nc = await connect_nats(settings.nats_url, name=name, attempts=3, seed=seed, user=OPERATOR)
    try:
        yield nc, RpcClient(nc, timeout=timeout, signer=signer, identity=operator_identity())
    finally:
        await nc.close()
