"""Who is asking: sessions (cookie), bearer API tokens, CSRF tokens, sign-in throttling.

- A session id is 256 random bits in an HttpOnly, SameSite=Lax cookie (Secure over HTTPS);
  the database keeps only its SHA-256. Signing in always issues a new id and deletes the old
  session (no fixation); signing out or a password change deletes it.
- CSRF: every form carries `csrf_token` = HMAC(installation key, binding), where the binding
  is the session id once signed in and a random pre-session cookie before (the sign-in form).
  The API accepts the same token in the `X-CSRF-Token` header from a cookie-authenticated
  browser; a request with a bearer token carries no ambient authority and needs none.
- The client address is the connection's peer, unless the peer is a proxy named in
  `trusted_proxies`: then X-Forwarded-For is read from the right, past the trusted proxies,
  and the first address not trusted is the client's (anything further left is the client's
  own say-so). Nothing else may rewrite the peer: uvicorn runs with --no-proxy-headers.
- Sign-in failures are counted per (username, client address), per username over every
  address (addresses rotated) and per address over every username (one password sprayed
  over many accounts); past a limit the key is locked for a while, whatever the password.
  The current-password check of a password change is counted per user the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg
from fastapi import Request

from services.gateway.accounts import NOMINATOR, AccountStore, User, digest
from services.gateway.config import GatewaySettings, IpNetwork
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
            employee_no=self.user.employee_no,
        )


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from a forwarded hop (a bare IP; "[v6]:port" and "v4:port" tolerated)."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str, proxies: Sequence[IpNetwork]) -> bool:
    found = _address(address)
    return found is not None and any(found in network for network in proxies)


def forwarded_client(peer: str, forwarded_for: Iterable[str], proxies: Sequence[IpNetwork]) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the rightmost
    X-Forwarded-For hop that is not itself a trusted proxy. A hop that is no address stops the
    walk at the last proxy that was believed."""
    if not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return client
        client = str(address)
        if not _trusted(client, proxies):
            return client
    return client  # every hop a trusted proxy: the leftmost is as far as we can see


def _peer(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def client_ip(request: Request, settings: GatewaySettings) -> str:
    return forwarded_client(
        _peer(request),
        request.headers.getlist("x-forwarded-for"),
        settings.trusted_proxy_networks,
    )


def is_https(request: Request, settings: GatewaySettings) -> bool:
    if settings.cookie_secure == "always":
        return True
    if settings.cookie_secure == "never":
        return False
    if _trusted(_peer(request), settings.trusted_proxy_networks):
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if proto:
            return proto == "https"
    return request.url.scheme == "https"


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


@dataclass(frozen=True)
class Counter:
    """One thing failures are counted against: `scope` names the kind, `key` the instance."""

    scope: str
    key: str
    max_failures: int


class SigninThrottle:
    """Failures counted per key within a window; a key past its limit is locked for a while.

    A sign-in is counted against three keys at once (see `signin_counters`); it is refused
    while any of them is locked. The rows live in `throttle_failures`.
    """

    def __init__(
        self, pool: asyncpg.Pool, settings: GatewaySettings, clock: Clock | None = None
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.clock: Clock = clock or SystemClock()

    def signin_counters(self, username: str, ip: str) -> list[Counter]:
        s = self.settings
        return [
            # An address never holds a space, so "address username" names one pair.
            Counter("signin_pair", f"{ip} {username}", s.signin_max_failures),
            Counter("signin_user", username, s.signin_max_failures_per_user),
            Counter("signin_address", ip, s.signin_max_failures_per_address),
        ]

    def password_check_counters(self, user_id: str) -> list[Counter]:
        return [Counter("password_check", user_id, self.settings.signin_max_failures)]

    async def locked_until(self, username: str, ip: str) -> datetime | None:
        return await self.locked(self.signin_counters(username, ip))

    async def failed(self, username: str, ip: str) -> datetime | None:
        """Count a failure; return when the lock ends if this failure locked a key."""
        return await self.count_failure(self.signin_counters(username, ip))

    async def succeeded(self, username: str, ip: str) -> None:
        # Only the pair is forgiven: a sprayer who knows one password, or an attacker racing
        # the real user, must not reset the counts over every address or every username.
        await self.forgive(self.signin_counters(username, ip)[:1])

    async def locked(self, counters: Sequence[Counter]) -> datetime | None:
        """The latest end of a lock on any of these keys, if one is locked now."""
        until: datetime | None = await self.pool.fetchval(
            "SELECT max(locked_until) FROM throttle_failures "
            "WHERE (scope, key) IN (SELECT * FROM unnest($1::text[], $2::text[])) "
            "AND locked_until > $3",
            [c.scope for c in counters],
            [c.key for c in counters],
            self.clock.now(),
        )
        return until

    async def count_failure(self, counters: Sequence[Counter]) -> datetime | None:
        """Count one failure against every key; return when the lock ends if one was locked."""
        now = self.clock.now()
        window_start = now - timedelta(seconds=self.settings.signin_window_s)
        until = now + timedelta(seconds=self.settings.signin_lockout_s)
        locked = False
        async with self.pool.acquire() as conn, conn.transaction():
            for counter in counters:
                # A count older than the window, or one whose lock has ended, starts again.
                failures: int = await conn.fetchval(
                    """
                    INSERT INTO throttle_failures (scope, key, failures, first_failed_at)
                    VALUES ($1, $2, 1, $3)
                    ON CONFLICT (scope, key) DO UPDATE SET
                        failures = CASE WHEN throttle_failures.first_failed_at < $4
                                          OR throttle_failures.locked_until <= $3
                                        THEN 1 ELSE throttle_failures.failures + 1 END,
                        first_failed_at = CASE WHEN throttle_failures.first_failed_at < $4
                                                 OR throttle_failures.locked_until <= $3
                                               THEN $3 ELSE throttle_failures.first_failed_at END,
                        locked_until = CASE WHEN throttle_failures.locked_until <= $3 THEN NULL
                                            ELSE throttle_failures.locked_until END
                    RETURNING failures
                    """,
                    counter.scope,
                    counter.key,
                    now,
                    window_start,
                )
                if failures >= counter.max_failures:
                    locked = True
                    await conn.execute(
                        "UPDATE throttle_failures SET locked_until = $3 "
                        "WHERE scope = $1 AND key = $2",
                        counter.scope,
                        counter.key,
                        until,
                    )
        return until if locked else None

    async def forgive(self, counters: Sequence[Counter]) -> None:
        await self.pool.execute(
            "DELETE FROM throttle_failures "
            "WHERE (scope, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            [c.scope for c in counters],
            [c.key for c in counters],
        )

    async def purge_stale(self) -> None:
        """Forget failures that no longer count (outside the window and not locked)."""
        now = self.clock.now()
        await self.pool.execute(
            "DELETE FROM throttle_failures WHERE first_failed_at < $1 "
            "AND (locked_until IS NULL OR locked_until <= $2)",
            now - timedelta(seconds=self.settings.signin_window_s),
            now,
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
