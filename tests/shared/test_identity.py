"""Identity assertions (shared/identity.py), pure: what a service accepts and what it refuses."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel

from shared.identity import (
    Identity,
    IdentityRefused,
    IdentitySigner,
    IdentityVerifier,
    identity_from_fields,
    with_identity,
)

SUBJECT = "flowers.cmd.nomination.extend_deadline"
BODY = b'{"round_id": "2026-Q4"}'
NOMINATOR = Identity(subject="u-1", roles=frozenset({"nominator"}), unit_code="WY")


def key_pair() -> tuple[bytes, bytes]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def keys() -> tuple[bytes, bytes]:
    return key_pair()


def refusal(verifier: IdentityVerifier, token: str | None, subject: str, body: bytes) -> str:
    with pytest.raises(IdentityRefused) as caught:
        verifier.verify(token, subject, body)
    return caught.value.code


def test_a_signed_assertion_is_verified_with_every_claim(keys: tuple[bytes, bytes]) -> None:
    private, public = keys
    token = IdentitySigner("gateway", private).sign(NOMINATOR, SUBJECT, BODY)
    verified = IdentityVerifier({"gateway": public}).verify(token, SUBJECT, BODY)
    assert verified == NOMINATOR.model_copy(update={"issuer": "gateway"})


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("missing", "identity_missing"),
        ("garbage", "identity_invalid"),
        ("untrusted key", "identity_invalid"),
        ("unknown issuer", "identity_invalid"),
        ("claims changed", "identity_invalid"),
        ("expired", "identity_expired"),
        ("issued in the future", "identity_expired"),
        ("other subject", "identity_mismatch"),
        ("other body", "identity_mismatch"),
    ],
)
def test_what_a_service_refuses(keys: tuple[bytes, bytes], case: str, code: str) -> None:
    private, public = keys
    now = Clock(1_000_000.0)
    verifier = IdentityVerifier({"gateway": public}, now=now)
    signer = IdentitySigner("gateway", private, ttl_s=60, now=now)
    subject, body = SUBJECT, BODY
    token: str | None = signer.sign(NOMINATOR, SUBJECT, BODY)
    assert token is not None
    if case == "missing":
        token = None
    elif case == "garbage":
        token = "v1.not-base64!.x"
    elif case == "untrusted key":
        token = IdentitySigner("gateway", key_pair()[0]).sign(NOMINATOR, SUBJECT, BODY)
    elif case == "unknown issuer":
        token = IdentitySigner("intruder", private).sign(NOMINATOR, SUBJECT, BODY)
    elif case == "claims changed":  # an office role spliced into a nominator's assertion
        forged = IdentitySigner("gateway", key_pair()[0]).sign(
            NOMINATOR.model_copy(update={"roles": frozenset({"office"})}), SUBJECT, BODY
        )
        version, _, signature = token.split(".")
        token = f"{version}.{forged.split('.')[1]}.{signature}"
    elif case == "expired":
        now.t += 61
    elif case == "issued in the future":
        now.t -= 30
    elif case == "other subject":
        subject = "flowers.cmd.nomination.close_round"
    elif case == "other body":
        body = b'{"round_id": "2026-Q3"}'
    assert refusal(verifier, token, subject, body) == code


class Ranking(BaseModel):
    round_id: str
    viewer: str
    viewer_roles: frozenset[str] = frozenset()


class Submit(BaseModel):
    actor: str
    roles: frozenset[str] = frozenset()
    actor_unit_code: str | None = None


def test_the_verified_identity_replaces_what_the_body_claims() -> None:
    claimed = {"round_id": "2026-Q4", "viewer": "forged", "viewer_roles": ["leader"]}
    assert Ranking.model_validate(with_identity(Ranking, claimed, NOMINATOR)) == Ranking(
        round_id="2026-Q4", viewer="u-1", viewer_roles=frozenset({"nominator"})
    )
    submit = with_identity(Submit, {"actor": "x", "roles": ["office"]}, NOMINATOR)
    assert Submit.model_validate(submit) == Submit(
        actor="u-1", roles=frozenset({"nominator"}), actor_unit_code="WY"
    )
    assert "viewer" not in with_identity(Submit, {"actor": "x"}, NOMINATOR)


def test_what_a_body_claims_is_read_as_text_only() -> None:
    claimed = identity_from_fields({"actor": 7, "viewer": "v", "roles": ["office", 3, None]})
    assert claimed == Identity(subject="v", roles=frozenset({"office"}))
    assert identity_from_fields({}).subject == "anonymous"
