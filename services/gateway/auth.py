"""Who is asking: sessions (cookie), bearer API tokens, CSRF tokens, sign-in throttling.

- A session id is 256 random bits in an HttpOnly, SameSite=Lax cookie (Secure over HTTPS);
  the database keeps only its SHA-256. Signing in always issues a new id and deletes the old
  session (no fixation); signing out or a password change deletes it.
- CSRF: every form carries `csrf_token` = HMAC(installation key, binding), where the binding
  is the session id once signed in and a random pre-session cookie before (the sign-in form).
  The API accepts the same token in the `X-CSRF-Token` header from a cookie-authenticated
  browser; a request with a bearer token carries no ambient authority and needs none.
- Sign-in failures are counted per (username, client address); past the limit the pair is
  locked for a while, whatever the password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg
from fastapi import Request

from services.gateway.accounts import NOMINATOR, AccountStore, User, digest
from services.gateway.config import GatewaySettings
from shared.clock import Clock, SystemClock
from shared.identity import Identity

SESSION_COOKIE = "flowers_session"
PRE_COOKIE = "flowers_pre"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """The signed-in user of one request, and how they proved it."""

    user: User
    via: Literal["session", "token"]
    session_id: str | None = None  # the raw cookie value: the CSRF binding (never stored)

    @property
    def user_id(self) -> str:
        return str(self.user.user_id)

    @property
    def roles(self) -> frozenset[str]:
        return self.user.roles

    @property
    def unit_code(self) -> str | None:
        return self.user.unit_code

    def has(self, *roles: str) -> bool:
        return bool(self.user.roles.intersection(roles))

    def identity(self) -> Identity:
        """What the gateway signs for the services: who acts, their roles, unit and department."""
        return Identity(
            subject=self.user_id,
            roles=self.user.roles,
            unit_code=self.user.unit_code if NOMINATOR in self.roles else None,
            department=self.user.department,
        )

    def command_fields(self, *, unit: bool = False) -> dict[str, Any]:
        """The actor and roles every command carries; a nominator's also carry the unit."""
        fields: dict[str, Any] = {"actor": self.user_id, "roles": sorted(self.user.roles)}
        if unit:
            fields["actor_unit_code"] = self.user.unit_code if NOMINATOR in self.roles else None
        return fields


def is_https(request: Request, setting: str) -> bool:
    if setting == "always":
        return True
    if setting == "never":
        return False
    return request.url.scheme == "https"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class CsrfSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def token(self, binding: str) -> str:
        return hmac.new(self._key, b"csrf\x00" + binding.encode(), hashlib.sha256).hexdigest()

    def verify(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        return hmac.compare_digest(self.token(binding), token)


async def installation_key(pool: asyncpg.Pool) -> bytes:
    """The CSRF signing key: made once, kept in the database, shared by every instance."""
    await pool.execute(
        "INSERT INTO gateway_secret (singleton, secret) VALUES (true, $1) ON CONFLICT DO NOTHING",
        secrets.token_hex(32),
    )
    secret: str = await pool.fetchval("SELECT secret FROM gateway_secret")
    return bytes.fromhex(secret)


class SessionStore:
    def __init__(
        self, pool: asyncpg.Pool, settings: GatewaySettings, clock: Clock | None = None
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.clock: Clock = clock or SystemClock()

    async def create(self, user_id: Any, ip: str, user_agent: str) -> str:
        raw = secrets.token_urlsafe(32)
        now = self.clock.now()
        await self.pool.execute(
            "INSERT INTO sessions (session_hash, user_id, created_at, last_seen_at, expires_at, "
            "client_ip, user_agent) VALUES ($1, $2, $3, $3, $4, $5, $6)",
            digest(raw),
            user_id,
            now,
            now + timedelta(seconds=self.settings.session_absolute_s),
            ip,
            user_agent[:300],
        )
        return raw

    async def user(self, raw: str) -> User | None:
        """The session's user while the session lives (idle and absolute limits), else None."""
        now = self.clock.now()
        row = await self.pool.fetchrow(
            """
            SELECT u.*, s.last_seen_at AS s_last_seen FROM sessions s JOIN users u USING (user_id)
            WHERE s.session_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND u.active
            """,
            digest(raw),
            now,
            now - timedelta(seconds=self.settings.session_idle_s),
        )
        if row is None:
            return None
        if now - row["s_last_seen"] > TOUCH_EVERY:
            await self.pool.execute(
                "UPDATE sessions SET last_seen_at = $2 WHERE session_hash = $1", digest(raw), now
            )
        return User.from_row(row)

    async def delete(self, raw: str) -> None:
        await self.pool.execute("DELETE FROM sessions WHERE session_hash = $1", digest(raw))

    async def purge_expired(self) -> int:
        now = self.clock.now()
        result: str = await self.pool.execute(
            "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2",
            now,
            now - timedelta(seconds=self.settings.session_idle_s),
        )
        return int(result.split()[-1])


class SigninThrottle:
    def __init__(
        self, pool: asyncpg.Pool, settings: GatewaySettings, clock: Clock | None = None
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.clock: Clock = clock or SystemClock()

    async def locked_until(self, username: str, ip: str) -> datetime | None:
        until: datetime | None = await self.pool.fetchval(
            "SELECT locked_until FROM signin_failures WHERE username = $1 AND client_ip = $2",
            username,
            ip,
        )
        return until if until is not None and until > self.clock.now() else None

    async def failed(self, username: str, ip: str) -> datetime | None:
        """Count a failure; return when the lock ends if this failure locked the pair."""
        now = self.clock.now()
        window_start = now - timedelta(seconds=self.settings.signin_window_s)
        row = await self.pool.fetchrow(
            """
            INSERT INTO signin_failures (username, client_ip, failures, first_failed_at)
            VALUES ($1, $2, 1, $3)
            ON CONFLICT (username, client_ip) DO UPDATE SET
                failures = CASE WHEN signin_failures.first_failed_at < $4
                                  OR signin_failures.locked_until <= $3
                                THEN 1 ELSE signin_failures.failures + 1 END,
                first_failed_at = CASE WHEN signin_failures.first_failed_at < $4
                                         OR signin_failures.locked_until <= $3
                                       THEN $3 ELSE signin_failures.first_failed_at END,
                locked_until = CASE WHEN signin_failures.locked_until <= $3 THEN NULL
                                    ELSE signin_failures.locked_until END
            RETURNING failures
            """,
            username,
            ip,
            now,
            window_start,
        )
        assert row is not None
        if row["failures"] < self.settings.signin_max_failures:
            return None
        until = now + timedelta(seconds=self.settings.signin_lockout_s)
        await self.pool.execute(
            "UPDATE signin_failures SET locked_until = $3 WHERE username = $1 AND client_ip = $2",
            username,
            ip,
            until,
        )
        return until

    async def purge_stale(self) -> None:
        """Forget failures that no longer count (outside the window and not locked)."""
        now = self.clock.now()
        await self.pool.execute(
            "DELETE FROM signin_failures WHERE first_failed_at < $1 "
            "AND (locked_until IS NULL OR locked_until <= $2)",
            now - timedelta(seconds=self.settings.signin_window_s),
            now,
        )

    async def succeeded(self, username: str, ip: str) -> None:
        await self.pool.execute(
            "DELETE FROM signin_failures WHERE username = $1 AND client_ip = $2", username, ip
        )


async def resolve_principal(
    request: Request, accounts: AccountStore, sessions: SessionStore
) -> Principal | None:
    """The request's user from a bearer token or the session cookie (cached per request)."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    principal: Principal | None = None
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            user = await accounts.user_for_token(value.strip())
            if user is not None:
                principal = Principal(user, "token")
    else:
        raw = request.cookies.get(SESSION_COOKIE)
        if raw:
            user = await sessions.user(raw)
            if user is not None:
                principal = Principal(user, "session", session_id=raw)
    request.state.principal = principal
    return principal
