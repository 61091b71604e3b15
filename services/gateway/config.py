"""The gateway's own settings (prefix FLOWERS_GATEWAY_): sessions, sign-in throttling, hashing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FLOWERS_GATEWAY_", env_file=".env", extra="ignore"
    )

    # A session ends after this long without a request, and in any case after the absolute limit.
    session_idle_s: int = Field(default=8 * 3600, ge=60)
    session_absolute_s: int = Field(default=24 * 3600, ge=60)
    # "auto": the cookie is Secure when the request came over HTTPS (behind a proxy, run
    # uvicorn with --proxy-headers so X-Forwarded-Proto counts); "always" / "never" force it.
    cookie_secure: Literal["auto", "always", "never"] = "auto"

    # Sign-in throttling, per (username, client address): after `signin_max_failures` failures
    # within `signin_window_s`, further attempts are refused for `signin_lockout_s`.
    signin_max_failures: int = Field(default=5, ge=1)
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
    # Any other request body larger than this is refused with 413 (services/gateway/limits.py).
    request_body_max_bytes: int = Field(default=1024 * 1024, ge=1024)
