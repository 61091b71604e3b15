"""Identity a service can verify: a short-lived, signed assertion bound to one request.

The gateway (issuer `gateway`) has authenticated the user; the `flowers` operator
commands (issuer `operator`) act for the operator. Each signs, with its own Ed25519 key,
who is acting (id, roles, unit, department), for which subject, over which request body,
until when. A service verifies the assertion with the issuers' public keys before it
validates the request, and the verified identity replaces whatever identity fields the
body carries (`actor`, `roles`, `actor_unit_code`, `actor_department`, `viewer`,
`viewer_roles`): no service decides on a role because a message says so.

Format: `v1.<base64url(JSON claims)>.<base64url(Ed25519 signature of "v1.<claims>")>`,
travelling in the request header `Flowers-Identity`. Times are wall-clock seconds (the
services' domain clock may be set elsewhere: an assertion's lifetime is transport, not
domain time).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from pydantic import BaseModel, ConfigDict, ValidationError

HDR_IDENTITY = "Flowers-Identity"
VERSION = "v1"
CLOCK_SKEW_S = 5.0  # how far apart the signer's and the verifier's clocks may be


class Identity(BaseModel):
    """Who acts: the user (or operator) id, their roles, and the unit/department they act for."""

    model_config = ConfigDict(frozen=True)

    subject: str
    roles: frozenset[str] = frozenset()
    unit_code: str | None = None  # only for a nominator: the unit they act for
    department: str | None = None
    employee_no: str | None = None  # the user's own entry in the directory, when known
    issuer: str = ""  # filled in on verification: which key signed it


class _Claims(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iss: str
    sub: str
    roles: list[str]
    unit: str | None = None
    dept: str | None = None
    emp: str | None = None
    aud: str  # the NATS subject of the request
    body: str  # SHA-256 (hex) of the request body
    iat: float
    exp: float


class IdentityRefused(Exception):
    """The assertion is missing, forged, expired or not for this request."""

    def __init__(self, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class IdentitySigner:
    """Signs assertions with one issuer's private key (the gateway's, the operator's)."""

    def __init__(
        self,
        issuer: str,
        private_key_pem: bytes,
        ttl_s: float = 60.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the identity signing key must be an Ed25519 key")
        self.issuer = issuer
        self._key = key
        self.ttl_s = ttl_s
        self._now = now

    def sign(self, identity: Identity, subject: str, body: bytes) -> str:
        issued = self._now()
        claims = _Claims(
            iss=self.issuer,
            sub=identity.subject,
            roles=sorted(identity.roles),
            unit=identity.unit_code,
            dept=identity.department,
            emp=identity.employee_no,
            aud=subject,
            body=body_digest(body),
            iat=issued,
            exp=issued + self.ttl_s,
        )
        signed = f"{VERSION}.{_b64(claims.model_dump_json().encode())}"
        return f"{signed}.{_b64(self._key.sign(signed.encode()))}"


MISSING = IdentityRefused(
    "identity_missing",
    "请求未附带经签名的身份，已拒绝。",
    "The request carries no signed identity; refused.",
)
INVALID = IdentityRefused(
    "identity_invalid",
    "请求的身份签名无效，已拒绝。",
    "The request's identity signature is not valid; refused.",
)
EXPIRED = IdentityRefused(
    "identity_expired",
    "请求的身份凭据已过期，请重新登录后再试。",
    "The request's identity assertion has expired; sign in again.",
)
MISMATCH = IdentityRefused(
    "identity_mismatch",
    "请求的身份凭据不属于这次请求，已拒绝。",
    "The identity assertion was made for another request; refused.",
)


class IdentityVerifier:
    """Checks assertions against the public keys of the issuers this service trusts."""

    def __init__(self, trusted: Mapping[str, bytes], now: Callable[[], float] = time.time) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for issuer, pem in trusted.items():
            key = serialization.load_pem_public_key(pem)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"the trusted key of {issuer} is not an Ed25519 key")
            self._keys[issuer] = key
        self._now = now

    @property
    def issuers(self) -> list[str]:
        return sorted(self._keys)

    def verify(self, token: str | None, subject: str, body: bytes) -> Identity:
        if not token:
            raise MISSING
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise INVALID
        try:
            claims = _Claims.model_validate_json(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (ValueError, ValidationError):
            raise INVALID from None
        key = self._keys.get(claims.iss)
        if key is None:
            raise INVALID
        try:
            key.verify(signature, f"{parts[0]}.{parts[1]}".encode())
        except InvalidSignature:
            raise INVALID from None
        now = self._now()
        if claims.exp < now or claims.iat > now + CLOCK_SKEW_S:
            raise EXPIRED
        if claims.aud != subject or claims.body != body_digest(body):
            raise MISMATCH
        return Identity(
            subject=claims.sub,
            roles=frozenset(claims.roles),
            unit_code=claims.unit,
            department=claims.dept,
            employee_no=claims.emp,
            issuer=claims.iss,
        )


# The request fields that name who acts, and where their verified value comes from.
IDENTITY_FIELDS: dict[str, Callable[[Identity], Any]] = {
    "actor": lambda i: i.subject,
    "roles": lambda i: sorted(i.roles),
    "actor_unit_code": lambda i: i.unit_code,
    "actor_department": lambda i: i.department,
    "actor_employee_no": lambda i: i.employee_no,
    "viewer": lambda i: i.subject,
    "viewer_roles": lambda i: sorted(i.roles),
}


def with_identity(model: type[BaseModel], body: Any, identity: Identity) -> dict[str, Any] | Any:
    """The request body with every identity field the model has set from the verified one."""
    if not isinstance(body, dict):
        return body
    fields = model.model_fields
    return {
        **body,
        **{name: value(identity) for name, value in IDENTITY_FIELDS.items() if name in fields},
    }


def identity_from_fields(body: Mapping[str, Any]) -> Identity:
    """The identity a request body claims (for trusted callers that build requests in code:
    the demo, tests); a service never believes it, it is only what gets signed. Values
    that are not text (or lists of text) are left out."""

    def text(*names: str) -> str | None:
        for name in names:
            value = body.get(name)
            if isinstance(value, str) and value:
                return value
        return None

    roles: set[str] = set()
    for name in ("roles", "viewer_roles"):
        value = body.get(name)
        if isinstance(value, list | tuple | set | frozenset):
            roles |= {r for r in value if isinstance(r, str)}
    return Identity(
        subject=text("actor", "viewer") or "anonymous",
        roles=frozenset(roles),
        unit_code=text("actor_unit_code"),
        department=text("actor_department"),
        employee_no=text("actor_employee_no"),
    )
