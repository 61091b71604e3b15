"""Where a process finds its own credentials: its NATS seed, its signing key, the trusted keys.

Two ways, one result. The embedded stack and the test session name a secrets directory
(`FLOWERS_SECRETS_DIR`, laid out by `deploy/secrets.py`) and each process takes the files
named after it; a production deployment names each file (or passes the NATS seed in the
environment). Nothing here generates a secret, and no secret is ever in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.identity import IdentitySigner
from shared.settings import Settings


@dataclass(frozen=True)
class SecretsLayout:
    """The files of a secrets directory (see deploy/secrets.py for how they are made)."""

    root: Path

    def nats_seed_file(self, user: str) -> Path:
        return self.root / "nats" / f"{user}.nk"

    def nats_public_key_file(self, user: str) -> Path:
        return self.root / "nats" / f"{user}.pub"

    def signing_key_file(self, issuer: str) -> Path:
        return self.root / "identity" / f"{issuer}.key"

    def public_key_file(self, issuer: str) -> Path:
        return self.root / "identity" / f"{issuer}.pub"

    def password_file(self, role: str) -> Path:
        return self.root / "postgres" / f"{role}.password"

    def trusted_keys(self) -> dict[str, Path]:
        folder = self.root / "identity"
        return {p.stem: p for p in sorted(folder.glob("*.pub"))} if folder.is_dir() else {}


class CredentialsError(Exception):
    """A credential is named but cannot be read: one line for the operator."""


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialsError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def nats_seed(settings: Settings, user: str) -> str | None:
    """The NATS nkey seed of `user`: FLOWERS_NATS_SEED, FLOWERS_NATS_SEED_FILE or the secrets
    directory's `nats/<user>.nk`. None: connect without credentials (a server without auth)."""
    if settings.nats_seed is not None:
        return settings.nats_seed.get_secret_value().strip()
    if settings.nats_seed_file is not None:
        return _read(settings.nats_seed_file, "the NATS seed")
    if settings.secrets_dir is not None:
        path = SecretsLayout(settings.secrets_dir).nats_seed_file(user)
        if path.exists():
            return _read(path, "the NATS seed")
    return None


def signing_key_pem(settings: Settings, issuer: str) -> bytes | None:
    """The Ed25519 private key (PEM) with which `issuer` signs identity assertions."""
    if settings.identity_signing_key_file is not None:
        return _read(settings.identity_signing_key_file, "the signing key").encode()
    if settings.secrets_dir is not None:
        path = SecretsLayout(settings.secrets_dir).signing_key_file(issuer)
        if path.exists():
            return _read(path, "the signing key").encode()
    return None


def trusted_key_pems(settings: Settings) -> dict[str, bytes]:
    """Issuer → Ed25519 public key (PEM) whose assertions a service believes."""
    files = dict(settings.identity_trusted_keys)
    if not files and settings.secrets_dir is not None:
        files = SecretsLayout(settings.secrets_dir).trusted_keys()
    return {issuer: _read(path, "a trusted key").encode() for issuer, path in files.items()}


def identity_signer(settings: Settings, issuer: str) -> IdentitySigner | None:
    """`issuer`'s signer, when this process holds its key (the gateway, the operator)."""
    pem = signing_key_pem(settings, issuer)
    if pem is None:
        return None
    try:
        return IdentitySigner(issuer, pem, ttl_s=settings.identity_ttl_s)
    except ValueError as exc:
        raise CredentialsError(f"the signing key of {issuer}: {exc}") from exc
