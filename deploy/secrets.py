"""Every credential of the embedded stack, generated once into `.data/secrets/`.

Layout (shared.credentials.SecretsLayout; directories 0700, files 0600, never committed):

    secrets/nats/<user>.nk            NATS nkey seed of a user (its process's NATS secret)
    secrets/nats/<user>.pub           its public key (goes into the server configuration)
    secrets/identity/<issuer>.key     Ed25519 private key (PEM, PKCS#8) signing identity
                                      assertions: `gateway` for signed-in users, `operator`
                                      for the `flowers` operator commands
    secrets/identity/<issuer>.pub     its public key (PEM), trusted by every service
    secrets/postgres/<role>.password  the password of a PostgreSQL login role

A second call generates only what is missing, so a restart keeps every credential.
Rotation: delete a file and start again (README, "Security model").
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import nkeys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.credentials import SecretsLayout
from shared.settings import SERVICES

# The NATS users: one per service, the gateway, the operator commands, the payroll
# system's reader, and the administrator that alone manages streams.
NATS_USERS: tuple[str, ...] = (*SERVICES, "gateway", "operator", "payroll", "admin")
IDENTITY_ISSUERS: tuple[str, ...] = ("gateway", "operator")


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _write_secret(path: Path, content: bytes) -> None:
    """Create `path` with mode 0600 from the start (never readable by others, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)


class Secrets(SecretsLayout):
    """A secrets directory that makes what is missing."""

    def ensure(self, *, database_roles: Iterable[str] = ()) -> Secrets:
        _private_dir(self.root)
        for sub in ("nats", "identity", "postgres"):
            _private_dir(self.root / sub)
        for user in NATS_USERS:
            self.ensure_nats_user(user)
        for issuer in IDENTITY_ISSUERS:
            self.ensure_signing_key(issuer)
        for role in database_roles:
            self.ensure_password(role)
        return self

    def nats_public_key(self, user: str) -> str:
        return self.nats_public_key_file(user).read_text().strip()

    def nats_seed(self, user: str) -> str:
        return self.nats_seed_file(user).read_text().strip()

    def password(self, role: str) -> str:
        return self.password_file(role).read_text().strip()

    def ensure_nats_user(self, user: str) -> None:
        if self.nats_seed_file(user).exists():
            return
        seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        public = nkeys.from_seed(seed).public_key
        _write_secret(self.nats_seed_file(user), seed + b"\n")
        self.nats_public_key_file(user).write_bytes(public + b"\n")

    def ensure_signing_key(self, issuer: str) -> None:
        if self.signing_key_file(issuer).exists():
            return
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_secret(self.signing_key_file(issuer), pem)
        self.public_key_file(issuer).write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def ensure_password(self, role: str) -> str:
        path = self.password_file(role)
        if not path.exists():
            _private_dir(path.parent)
            _write_secret(path, secrets.token_urlsafe(32).encode() + b"\n")
        return self.password(role)

    def nats_route_password(self) -> str:
        """The password a NATS cluster's routes authenticate with (`flowers up --cluster`),
        made once in `nats/route.password`."""
        path = self.root / "nats" / "route.password"
        if not path.exists():
            _private_dir(path.parent)
            _write_secret(path, secrets.token_urlsafe(32).encode() + b"\n")
        return path.read_text().strip()
