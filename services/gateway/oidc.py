"""OpenID Connect sign-in (企业微信, 钉钉 or the company's own provider): the authorization code
flow with PKCE (S256), a state and a nonce, through authlib's OAuth 2.0 pieces; the ID token
is verified with joserfc (authlib's JOSE library) against the provider's published keys.

On when `oidc_issuer` is set. The provider's metadata comes from its discovery document
(`<issuer>/.well-known/openid-configuration`). The claim `oidc_employee_claim` (from the ID
token, else from the userinfo endpoint for the same subject) names the employee number; the
person signs in as the active account bound to it (made from the directory or by hand). The
state, nonce and PKCE verifier live in the gateway's database for minutes, the state also in a
cookie of the browser that began (so a sign-in cannot be finished in another browser).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from services.gateway.accounts import User, digest
from services.gateway.config import GatewaySettings
from services.gateway.i18n import Text
from shared.clock import Clock

STATE_COOKIE = "flowers_oidc"
CALLBACK_PATH = "/login/oidc/callback"
FLOW_TTL = timedelta(minutes=10)
ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
HTTP_TIMEOUT_S = 10.0
METADATA_TTL_S = 3600.0


class OidcError(Exception):
    """A sign-in that cannot finish; `message` is what the person reads."""

    def __init__(self, message: Text, detail: str = "") -> None:
        super().__init__(detail or message[1])
        self.message = message


FAILED: Text = (
    "统一身份登录未能完成，请重新登录。",
    "The single sign-on did not complete; please sign in again.",
)
NO_ACCOUNT: Text = (
    "统一身份认证已通过，但本系统没有与您的工号对应的有效账户，请联系本单位或系统管理员。",
    "You were authenticated, but no active account here has your employee number; ask your "
    "unit or the administrator.",
)
UNAVAILABLE: Text = (
    "统一身份认证服务暂时无法访问，请稍后再试或使用工号和密码登录。",
    "The identity provider cannot be reached; try again later or use your password.",
)


@dataclass(frozen=True)
class Flow:
    state: str
    authorization_url: str


class OidcClient:
    """One provider, as the gateway settings name it."""

    def __init__(self, settings: GatewaySettings, pool: asyncpg.Pool, clock: Clock) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.issuer = settings.oidc_issuer.rstrip("/")
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    async def _get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
                response = await client.get(url, **kwargs)
                response.raise_for_status()
                body: dict[str, Any] = response.json()
                return body
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(UNAVAILABLE, f"{url}: {exc}") from exc

    async def metadata(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._metadata is None or now - self._metadata_at > METADATA_TTL_S:
            found = await self._get_json(self.issuer + "/.well-known/openid-configuration")
            if found.get("issuer", "").rstrip("/") != self.issuer:
                raise OidcError(FAILED, f"the discovery document names {found.get('issuer')}")
            self._metadata, self._metadata_at = found, now
        return self._metadata

    async def begin(self, redirect_uri: str, next_path: str) -> Flow:
        """A new flow: its state (for the cookie) and the provider's authorization URL."""
        meta = await self.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        await self.pool.execute(
            "DELETE FROM oidc_logins WHERE created_at < $1", self.clock.now() - FLOW_TTL
        )
        await self.pool.execute(
            "INSERT INTO oidc_logins (state_hash, nonce, verifier, next_path, created_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            digest(state),
            nonce,
            verifier,
            next_path,
            self.clock.now(),
        )
        url = prepare_grant_uri(
            meta["authorization_endpoint"],
            self.settings.oidc_client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=self.settings.oidc_scopes,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return Flow(state, url)

    async def finish(
        self, redirect_uri: str, code: str, state: str, cookie_state: str | None
    ) -> tuple[str, str]:
        """The employee number the provider vouches for, and where to go next."""
        if not cookie_state or cookie_state != state:
            raise OidcError(FAILED, "the state does not match this browser's")
        row = await self.pool.fetchrow(
            "DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING *", digest(state)
        )
        if row is None or self.clock.now() - row["created_at"] > FLOW_TTL:
            raise OidcError(FAILED, "unknown or expired state")
        meta = await self.metadata()
        tokens = await self._exchange(meta["token_endpoint"], code, redirect_uri, row["verifier"])
        claims = await self._verified_claims(meta, tokens, row["nonce"])
        employee_no = claims.get(self.settings.oidc_employee_claim)
        if not isinstance(employee_no, str) or not employee_no:
            raise OidcError(NO_ACCOUNT, f"no claim {self.settings.oidc_employee_claim}")
        return employee_no, str(row["next_path"])

    async def _exchange(
        self, endpoint: str, code: str, redirect_uri: str, verifier: str
    ) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
                response = await client.post(
                    endpoint,
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": redirect_uri,
                        "code_verifier": verifier,
                    },
                    auth=(self.settings.oidc_client_id, self.settings.oidc_client_secret),
                    headers={"Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise OidcError(UNAVAILABLE, f"token endpoint: {exc}") from exc
        if response.status_code != 200:
            raise OidcError(FAILED, f"token endpoint answered {response.status_code}")
        body: dict[str, Any] = response.json()
        if "id_token" not in body:
            raise OidcError(FAILED, "no ID token in the token response")
        return body

    async def _verified_claims(
        self, meta: dict[str, Any], tokens: dict[str, Any], nonce: str
    ) -> dict[str, Any]:
        keys = KeySet.import_key_set(await self._get_json(meta["jwks_uri"]))  # type: ignore[arg-type]
        try:
            token = jwt.decode(tokens["id_token"], keys, algorithms=list(ALGORITHMS))
            jwt.JWTClaimsRegistry(
                now=int(time.time()),  # the provider's clock is the wall clock, not the app's
                leeway=60,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.settings.oidc_client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError(FAILED, f"ID token refused: {exc}") from exc
        claims: dict[str, Any] = dict(token.claims)
        wanted = self.settings.oidc_employee_claim
        if wanted not in claims and meta.get("userinfo_endpoint") and tokens.get("access_token"):
            info = await self._get_json(
                meta["userinfo_endpoint"],
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
            )
            if info.get("sub") != claims["sub"]:
                raise OidcError(FAILED, "userinfo is about another subject")
            claims = {**info, **claims}
        return claims


async def account_for(pool: asyncpg.Pool, employee_no: str) -> User:
    """The one active account bound to this employee number (OidcError if none or several)."""
    rows = await pool.fetch(
        "SELECT * FROM users WHERE employee_no = $1 AND active LIMIT 2", employee_no
    )
    if len(rows) != 1:
        raise OidcError(NO_ACCOUNT, f"{len(rows)} active accounts for the employee number")
    return User.from_row(rows[0])
