"""The gateway's own settings (prefix FLOWERS_GATEWAY_): sessions, sign-in throttling, hashing,
the proxies whose forwarded headers count, the password policy, the public notice."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.filestore import file_store

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FLOWERS_GATEWAY_", env_file=".env", extra="ignore"
    )

    # A session ends after this long without a request, and in any case after the absolute limit.
    session_idle_s: int = Field(default=8 * 3600, ge=60)
    session_absolute_s: int = Field(default=24 * 3600, ge=60)
    # A bearer token's user is held this long by the process that looked it up (0: never),
    # while it hears every change of a user or a token (services/gateway/accounts.py).
    token_cache_s: float = Field(default=5.0, ge=0, le=60)
    # "auto": the cookie is Secure when the request came over HTTPS (as the peer saw it, or as a
    # trusted proxy says in X-Forwarded-Proto); "always" / "never" force it.
    cookie_secure: Literal["auto", "always", "never"] = "auto"

    # Proxies (addresses or CIDR networks, comma-separated or a JSON list) whose
    # X-Forwarded-For / X-Forwarded-Proto are believed. Default: none, so the client address is
    # the connection's peer. The gateway reads these headers itself (services/gateway/auth.py):
    # uvicorn runs with --no-proxy-headers, else it would rewrite the peer before we see it.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()

    # Sign-in throttling. Failures within `signin_window_s` are counted per (username, client
    # address), per username over every address and per address over every username; past a
    # limit that key is refused for `signin_lockout_s`, even with the right password. The
    # current-password check of a password change counts per user with `signin_max_failures`.
    signin_max_failures: int = Field(default=5, ge=1)
    signin_max_failures_per_user: int = Field(default=10, ge=1)
    signin_max_failures_per_address: int = Field(default=20, ge=1)
    signin_window_s: int = Field(default=15 * 60, ge=1)
    signin_lockout_s: int = Field(default=15 * 60, ge=1)

    # argon2id parameters (the library's defaults; tests lower them to stay fast).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    # A new password needs this many characters and a zxcvbn score (0–4) of at least this.
    password_min_length: int = Field(default=10, ge=10)
    password_min_score: int = Field(default=3, ge=0, le=4)
    directory_upload_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # Evidence files on the nomination form (services/gateway/evidence.py): each at most this
    # big, at most this many per nomination, of these kinds (by extension and by content); kept
    # in the content-addressed file store (shared/filestore.py): empty = <data_dir>/files,
    # file:///path (a directory every gateway instance shares) or s3://bucket/prefix (an
    # S3-compatible bucket, located by FLOWERS_S3_*: shared.filestore.S3Settings).
    evidence_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    evidence_max_files: int = Field(default=5, ge=1, le=20)
    evidence_types: tuple[str, ...] = ("pdf", "jpg", "jpeg", "png", "docx", "xlsx")
    file_store_url: str = ""
    # The evidence sweep (services/gateway/evidence_sweep.py) deletes a file no nomination and
    # no draft names once it was last sent or kept this long ago (a file is uploaded before
    # its nomination is submitted); it runs at start, on each privacy fact and every
    # interval, and every retry while the nomination service still scrubs a fact.
    evidence_sweep_grace_s: int = Field(default=7 * 24 * 3600, ge=0)
    evidence_sweep_interval_s: float = Field(default=3600, gt=0)
    evidence_sweep_retry_s: float = Field(default=5, gt=0)
    # Any other request body larger than this is refused with 413 (services/gateway/limits.py).
    request_body_max_bytes: int = Field(default=1024 * 1024, ge=1024)

    # The public notice (公示, services/gateway/notice.py): who issues it, how and to whom an
    # objection is made, and the address the printed notice's QR code leads to.
    notice_issuer: str = "“红花献给你”评选活动领导小组办公室"
    notice_office_phone: str = "（电话未设置）"
    notice_office_email: str = "（邮箱未设置）"
    notice_office_address: str = "（地址未设置）"
    # The site's address as people reach it (e.g. https://flowers.example.com); empty: the
    # address the request came to.
    public_url: str = ""
    # A TrueType font with Chinese glyphs for the printed notice; empty: the first found of
    # services.gateway.notice_pdf.FONT_CANDIDATES, else reportlab's built-in STSong-Light.
    notice_font_file: str = ""
    # Pages anyone may open without signing in: at most this many requests per client address
    # per minute (then 429).
    public_requests_per_minute: int = Field(default=60, ge=1)

    # Employees' accounts (services/gateway/employees.py): an activation code lasts this long.
    activation_code_ttl_days: int = Field(default=14, ge=1, le=90)
    # Every this many seconds the gateway brings the employees' accounts in line with the
    # directory (a leaver is deactivated); 0: only on demand (sheet, admin, CLI).
    employee_sync_interval_s: float = Field(default=300, ge=0)

    # OpenID Connect sign-in (services/gateway/oidc.py), on when an issuer is set: 企业微信, 钉钉
    # or the company's own provider. The claim named by `oidc_employee_claim` is matched to an
    # account's employee number.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_employee_claim: str = "employee_no"
    oidc_scopes: str = "openid profile"
    oidc_label: str = "企业统一身份登录"

    @field_validator("file_store_url")
    @classmethod
    def _known_file_store(cls, value: str) -> str:
        file_store(value, Path("."))  # refused at start, not at the first upload
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return tuple(json.loads(text))
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[IpNetwork, ...]:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in self.trusted_proxies)
