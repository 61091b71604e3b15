"""`flowers users create-admin`: the first administrator of a new installation."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.gateway.accounts import AccountStore
from services.gateway.database import open_database
from shared.settings import PROJECT_ROOT, Settings
from tests.gateway.harness import FAST_HASHING

pytestmark = pytest.mark.integration


def flowers(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FLOWERS_NATS_URL": settings.nats_url,
        "FLOWERS_DATABASE_URL": settings.database_url,
        "FLOWERS_DATABASE_PREFIX": settings.database_prefix,
        "FLOWERS_GATEWAY_ARGON2_TIME_COST": "1",
        "FLOWERS_GATEWAY_ARGON2_MEMORY_KIB": "8192",
    }
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", "users", *args],
        input=stdin,
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_create_admin_makes_an_administrator_who_can_sign_in(settings: Settings) -> None:
    # The gateway's roles and database exist before any command runs (`flowers up` or
    # `flowers db migrate` made them): here the in-process open does, with the admin URL.
    await (await open_database(settings)).close()
    result = flowers(
        settings, "create-admin", "--username", "root", "--password-stdin", stdin="a-long-secret\n"
    )
    assert result.returncode == 0, result.stderr
    assert "Administrator root created" in result.stdout
    weak = flowers(settings, "create-admin", "--username", "x2", "--password-stdin", stdin="123\n")
    assert weak.returncode == 1
    assert "password" in weak.stderr
    common = flowers(
        settings, "create-admin", "--username", "x3", "--password-stdin", stdin="qwertyuiop\n"
    )
    assert common.returncode == 1
    assert "too common or easy to guess" in common.stderr
    listed = flowers(settings, "list")
    assert "root" in listed.stdout
    assert "admin" in listed.stdout
    token = flowers(settings, "create-token", "root", "--name", "ci")
    assert token.returncode == 0
    assert token.stdout.startswith("flw_")
    pool = await open_database(settings)
    try:
        accounts = AccountStore(pool, FAST_HASHING)
        user = await accounts.authenticate("root", "a-long-secret")
        assert user is not None
        assert user.roles == {"admin"}
        assert await accounts.user_for_token(token.stdout.strip()) == user
    finally:
        await pool.close()
