"""The run command's processes, started for real: healthy, and clear when they cannot start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.embedded import free_port
from shared.settings import PROJECT_ROOT, with_login

pytestmark = pytest.mark.integration


def run(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# The demo's dates follow its notice, whatever its length (1 working day broke it once).
@pytest.mark.parametrize("notice_days", ["5", "1"])
def test_flowers_up_brings_every_service_to_health(
    nats_url: str, pg_url: str, db_prefix: str, session_dir: Path, notice_days: str
) -> None:
    data_dir = session_dir / f"stack-{db_prefix}"
    result = run(
        [sys.executable, "-m", "deploy.cli", "up", "--check"],
        {
            "FLOWERS_NATS_URL": nats_url,
            "FLOWERS_DATABASE_URL": with_login(pg_url, None),
            "FLOWERS_DATABASE_ADMIN_URL": pg_url,  # the stack makes the roles
            "FLOWERS_DATABASE_PREFIX": db_prefix,
            "FLOWERS_DATA_DIR": str(data_dir),
            "FLOWERS_GATEWAY_PORT": str(free_port()),
            "FLOWERS_NOTICE_WORKING_DAYS": notice_days,
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The demo's past round went through every service, by the real commands.
    for step in (
        "directory: 160 employees imported",
        "24 nominations from 8 units",
        "every accepted nomination scored by panelists of 3-4 departments",
        "5 winners decided, public notice started",
        "objection dismissed, result published",
        "5 awards paid and acknowledged by payroll",
        "publicity drafts approved and published",
        "round opened for nominations",
    ):
        assert step in result.stdout, result.stdout
    assert "All 6 services healthy" in result.stdout
    assert "Five Golden Flowers is running: http://127.0.0.1:" in result.stdout
    assert "Stopped." in result.stdout
    for service in ("nomination", "review", "rewards", "publicity", "notification", "gateway"):
        assert (data_dir / "logs" / f"{service}.log").exists()


def service_env(**env: str) -> dict[str, str]:
    return {"FLOWERS_CONNECT_ATTEMPTS": "2", "FLOWERS_DATA_DIR": "/nonexistent", **env}


def start_service(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(
        [sys.executable, "-m", "faststream", "run", "services.review.app:app"], env, timeout=60
    )


def test_unreachable_nats_is_retried_then_reported_in_one_line(pg_url: str) -> None:
    port = free_port()
    result = start_service(
        service_env(FLOWERS_NATS_URL=f"nats://127.0.0.1:{port}", FLOWERS_DATABASE_URL=pg_url)
    )
    assert result.returncode == 2
    assert "nats_unreachable_retrying" in result.stderr
    assert (
        f"flowers-review: cannot start: NATS at nats://127.0.0.1:{port} unreachable "
        "after 2 attempt(s)" in result.stderr
    )
    assert "Traceback" not in result.stderr + result.stdout


def test_postgresql_refusing_exits_with_the_reason(nats_url: str, pg_url: str) -> None:
    result = start_service(
        service_env(
            FLOWERS_NATS_URL=nats_url,
            FLOWERS_DATABASE_URL=with_login(pg_url, None),
            FLOWERS_DATABASE_PREFIX="no_such_role_",  # the service logs in as no_such_role_review
        )
    )
    assert result.returncode == 2
    assert "flowers-review: cannot start: PostgreSQL" in result.stderr
    assert "no_such_role" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_bad_setting_is_named_in_one_line() -> None:
    result = start_service(service_env(FLOWERS_CADENCE="weekly"))
    assert result.returncode == 2
    assert "flowers: invalid setting FLOWERS_CADENCE:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_no_stack_and_no_urls_says_how_to_start_one(tmp_path: Path) -> None:
    result = start_service(
        {"FLOWERS_DATA_DIR": str(tmp_path), "FLOWERS_NATS_URL": "", "FLOWERS_DATABASE_URL": ""}
    )
    assert result.returncode == 2
    assert "flowers up" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
