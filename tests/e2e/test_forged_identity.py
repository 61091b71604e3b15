"""A service decides on a verified identity only: forged, missing, expired or replayed
assertions are refused with their own code, and a role the body claims is never believed.

The attack of issue 12, step by step, against real services on real NATS and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NatsClient

from services.nomination.app import build_runtime as build_nomination
from services.review.app import build_runtime as build_review
from shared.clock import SHANGHAI, FixedClock
from shared.credentials import identity_signer, signing_key_pem
from shared.identity import HDR_IDENTITY, Identity, IdentitySigner
from shared.rpc import RpcClient
from shared.settings import Settings
from tests.support import connect_as, rpc_client

pytestmark = pytest.mark.integration

OFFICE = Identity(subject="office-1", roles=frozenset({"office"}))
NOMINATOR = Identity(subject="nominator-WY", roles=frozenset({"nominator"}), unit_code="WY")
STAFF = Identity(subject="staff-1", roles=frozenset({"staff"}))
EXTEND = "flowers.cmd.nomination.extend_deadline"
NEW_DEADLINE = "2027-01-05T23:59:59+08:00"


def extension(actor: str = "forged-actor", roles: tuple[str, ...] = ("office",)) -> bytes:
    return json.dumps(
        {
            "actor": actor,
            "roles": list(roles),
            "round_id": "2026-Q4",
            "new_deadline": NEW_DEADLINE,
            "reason": "系统维护",
        }
    ).encode()


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[tuple[NatsClient, RpcClient]]:
    """Both services running; the client is the gateway's NATS user, which may send
    commands and queries: what it may not do is decide who acts."""
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
    nomination = build_nomination(settings, clock=clock)
    review = build_review(settings, clock=clock)
    await nomination.start()
    await review.start()
    gateway_nc = await connect_as("gateway", settings.nats_url)
    rpc = rpc_client(gateway_nc)
    await rpc.command(
        "nomination",
        "open_round",
        {"actor": "office-1", "roles": ["office"], "round_id": "2026-Q4"},
    )
    try:
        yield gateway_nc, rpc
    finally:
        await gateway_nc.close()
        await review.stop()
        await nomination.stop()


async def deadline(rpc: RpcClient) -> str:
    [round_] = await rpc.query("nomination", "rounds", {})
    return str(round_["deadline"])


async def raw_request(
    nc: NatsClient, subject: str, body: bytes, token: str | None
) -> dict[str, Any]:
    headers = {HDR_IDENTITY: token} if token is not None else None
    reply = await nc.request(subject, body, timeout=5, headers=headers)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


def untrusted_signer() -> IdentitySigner:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return IdentitySigner("gateway", pem)


async def test_a_command_without_a_valid_assertion_changes_nothing(
    services: tuple[NatsClient, RpcClient], settings: Settings
) -> None:
    nomination, rpc = services
    before = await deadline(rpc)
    gateway = identity_signer(settings, "gateway")
    assert gateway is not None
    body = extension()
    gateway_key = signing_key_pem(settings, "gateway")
    assert gateway_key is not None
    expired = IdentitySigner("gateway", gateway_key, ttl_s=1, now=lambda: time.time() - 120)
    attempts = {
        "identity_missing": None,
        "identity_invalid": untrusted_signer().sign(OFFICE, EXTEND, body),
        "identity_expired": expired.sign(OFFICE, EXTEND, body),
        # a genuine assertion of the office, made for another request, replayed on this one
        "identity_mismatch": gateway.sign(OFFICE, EXTEND, extension(actor="office-1") + b" "),
    }
    for code, token in attempts.items():
        reply = await raw_request(nomination, EXTEND, body, token)
        assert reply["ok"] is False
        assert reply["error"]["code"] == code
        assert reply["error"]["status"] == 401
        assert reply["error"]["message_zh"]
    assert await deadline(rpc) == before


async def test_roles_the_body_claims_are_not_believed(
    services: tuple[NatsClient, RpcClient], settings: Settings
) -> None:
    nomination, rpc = services
    before = await deadline(rpc)
    gateway = identity_signer(settings, "gateway")
    assert gateway is not None
    body = extension(actor="office-1", roles=("office", "admin"))
    reply = await raw_request(nomination, EXTEND, body, gateway.sign(NOMINATOR, EXTEND, body))
    assert reply["ok"] is False
    assert reply["error"]["status"] == 403
    assert await deadline(rpc) == before

    # The same body signed for the office is obeyed: the identity decides, not the body.
    reply = await raw_request(nomination, EXTEND, body, gateway.sign(OFFICE, EXTEND, body))
    assert reply["ok"] is True, reply
    assert await deadline(rpc) != before


async def test_a_query_answers_only_what_the_verified_viewer_may_see(
    services: tuple[NatsClient, RpcClient], settings: Settings
) -> None:
    nomination, _ = services
    gateway = identity_signer(settings, "gateway")
    assert gateway is not None
    subject = "flowers.qry.review.ranking"
    body = json.dumps(
        {"round_id": "2026-Q4", "viewer": "leader-1", "viewer_roles": ["leader"]}
    ).encode()
    reply = await raw_request(nomination, subject, body, gateway.sign(STAFF, subject, body))
    assert reply["ok"] is False
    assert reply["error"]["code"] == "not_permitted"
    leader = Identity(subject="leader-1", roles=frozenset({"leader"}))
    reply = await raw_request(nomination, subject, body, gateway.sign(leader, subject, body))
    assert reply["ok"] is True, reply

    subject = "flowers.qry.review.pending_scores"
    body = json.dumps({"panelist_id": "panelist-2"}).encode()
    reply = await raw_request(nomination, subject, body, gateway.sign(STAFF, subject, body))
    assert reply["error"]["code"] == "not_permitted"


async def test_health_needs_no_identity(services: tuple[NatsClient, RpcClient]) -> None:
    nomination, _ = services
    reply = await raw_request(nomination, "flowers.qry.nomination.health", b"{}", None)
    assert reply["ok"] is True
