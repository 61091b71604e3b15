"""`flowers up` heals itself: killed servers come back, a hung service is restarted.

One stack run (the embedded servers, the four services and the gateway as processes):
kill -9 the postmaster, then the NATS server, then SIGSTOP a service; after each the
system carries on by itself, nothing acknowledged is lost and `flowers audit verify`
passes. Also: the gateway answers 503 in Chinese while PostgreSQL is down, and a taken
gateway port stops `flowers up` with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from deploy.embedded import free_port, wait_until
from shared.clock import SHANGHAI
from shared.rpc import RemoteError
from shared.settings import PROJECT_ROOT
from tests.support import admin_connect, eventually, rpc_client

pytestmark = pytest.mark.integration

BACK_WITHIN_S = 30.0  # each fault: the system answers commands again within this
HEALTH_TIMEOUT_S = 5  # the supervisor's patience with a silent service, for this test
OFFICE = {"actor": "office", "roles": ["office", "admin"]}
ROUND = "2026-Q3"
UNIT = "WY"
DEEDS = "坚守一线，攻坚克难，带领班组完成年度降本增效任务，节约成本十余万元，职工群众交口称赞。" * 2
RETRY_PAUSE_S = 0.1
RETRYABLE = {"service_unavailable", "service_timeout"}


def up_env(data_dir: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "FLOWERS_NATS_URL": "",  # the stack's own embedded servers, which the test kills
        "FLOWERS_DATABASE_URL": "",
        "FLOWERS_DATA_DIR": str(data_dir),
        "FLOWERS_GATEWAY_PORT": str(port),
        "FLOWERS_HEALTH_TIMEOUT_S": str(HEALTH_TIMEOUT_S),
        "FLOWERS_CLOCK_FILE": str(data_dir / "now"),
        "FLOWERS_QUOTA_PER_UNIT_CATEGORY": "10",
        # As in the fault harness: a message delivered to a pull cut off by the NATS kill
        # comes back after the ack wait, before the ones behind it run out of attempts.
        "FLOWERS_CONSUMER_ACK_WAIT_S": "3",
        "FLOWERS_CONSUMER_BACKOFF_S": "[0.2, 0.5, 1, 2]",
        "FLOWERS_CONSUMER_MAX_DELIVER": "50",
        "FLOWERS_RELAY_POLL_INTERVAL_S": "0.2",
        "PYTHONUNBUFFERED": "1",
    }


def set_time(data_dir: Path, at: datetime) -> None:
    tmp = data_dir / "now.tmp"
    tmp.write_text(at.isoformat())
    tmp.replace(data_dir / "now")


def dump(data_dir: Path) -> None:
    """What flowers up said and each log's end (a failing test's story)."""
    print((data_dir / "up.out").read_text())
    for log in sorted((data_dir / "logs").glob("*.log")):
        print(f"--- {log.name}", *log.read_text().splitlines()[-15:], sep="\n")


def read_stack(data_dir: Path) -> dict[str, Any]:
    try:
        body: dict[str, Any] = json.loads((data_dir / "stack.json").read_text())
    except (OSError, ValueError):
        return {}
    return body


@pytest.fixture
def data_dir(session_dir: Path) -> Path:
    path = session_dir / f"heal-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    set_time(path, datetime(2026, 9, 10, 9, tzinfo=SHANGHAI))
    return path


@pytest.fixture
def stack(data_dir: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`flowers up --no-demo` running; yields the process and the gateway's URL."""
    port = free_port()
    out = (data_dir / "up.out").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "up", "--no-demo"],
        env=up_env(data_dir, port),
        cwd=PROJECT_ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def healthy() -> bool:
            assert process.poll() is None, (data_dir / "up.out").read_text()
            return bool(read_stack(data_dir).get("pids"))

        wait_until(healthy, 90, what="flowers up to become healthy")
        yield process, f"http://127.0.0.1:{port}"
    except BaseException:
        dump(data_dir)
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        out.close()


class Driver:
    """Commands over NATS, retried while the system is down (each carries its own id)."""

    def __init__(self, nc: NatsClient) -> None:
        self.rpc = rpc_client(nc, timeout=3)

    async def call(self, kind: str, service: str, name: str, payload: dict[str, Any]) -> Any:
        deadline = time.monotonic() + BACK_WITHIN_S
        while True:
            try:
                return await self.rpc.call(f"flowers.{kind}.{service}.{name}", payload)
            except RemoteError as exc:
                if exc.error.code not in RETRYABLE or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(RETRY_PAUSE_S)  # a back-off between retries

    async def nominate(self, n: int) -> None:
        await self.call(
            "cmd",
            "nomination",
            "submit",
            {
                "actor": f"nominator-{UNIT}",
                "roles": ["nominator"],
                "actor_unit_code": UNIT,
                "nomination_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"heal/{n}")),
                "round_id": ROUND,
                "unit_code": UNIT,
                "employee_no": f"{UNIT}{n:03d}",
                "category": ["striving", "value_creation", "dedication"][n % 3],
                "deeds": DEEDS,
                "results": [],
                "evidence_links": [],
                "recommendation": "同意推荐",
            },
        )


async def _quiet(_: Exception) -> None:
    pass


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pg" / "pgdata" / "postmaster.pid").read_text().split()[0])


def live_postmaster_pid(data_dir: Path) -> int | None:
    """The postmaster's pid, or None while its pid file is being written anew."""
    try:
        return postmaster_pid(data_dir)
    except (OSError, ValueError, IndexError):
        return None


def nats_pid(data_dir: Path) -> int:
    [ports] = (data_dir / "nats").glob("nats-server_*.ports")
    return int(ports.stem.rpartition("_")[2])


async def watch_gateway(
    url: str, until: asyncio.Event, seen: list[tuple[int, str]]
) -> list[tuple[int, str]]:
    """Ask the gateway (which needs its database for a bearer token) until told to stop."""
    async with httpx.AsyncClient(timeout=10) as http:
        while not until.is_set():
            response = await http.get(
                f"{url}/api/v1/rounds", headers={"Authorization": "Bearer flw_no-such-token"}
            )
            seen.append((response.status_code, response.json().get("message_zh", "")))
            with contextlib.suppress(TimeoutError):  # the next question, unless told to stop
                await asyncio.wait_for(until.wait(), 0.05)
    return seen


async def test_a_killed_postgresql_and_nats_and_a_hung_service_are_brought_back(
    stack: tuple[subprocess.Popen[bytes], str], data_dir: Path
) -> None:
    up, gateway = stack
    nc = await admin_connect(  # the tests' hands on the bus; requests signed as the gateway
        read_stack(data_dir)["nats_url"],
        connect_timeout=5,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        error_cb=_quiet,  # its reconnect attempts while NATS is down are expected
    )
    figures: dict[str, float] = {}
    try:
        await _heal(Driver(nc), data_dir, gateway, figures)
    except BaseException:
        dump(data_dir)
        raise
    finally:
        await nc.close()
    print("recovery figures:", {k: round(v, 1) for k, v in figures.items()})

    verify = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "deploy.cli", "audit", "verify"),
        env={**os.environ, "FLOWERS_DATA_DIR": str(data_dir), "FLOWERS_NATS_URL": ""},
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    said_by_verify = (await asyncio.wait_for(verify.communicate(), 120))[0].decode()
    assert verify.returncode == 0, said_by_verify
    said = (data_dir / "up.out").read_text()
    assert "PostgreSQL stopped unexpectedly" in said
    assert "NATS stopped unexpectedly" in said
    assert "review has not answered its health request" in said
    gateway_log = (data_dir / "logs" / "gateway.log").read_text()
    assert "Traceback" not in gateway_log
    assert 1 <= gateway_log.count("backend_unavailable") <= 2  # a line per outage
    assert up.poll() is None


async def _heal(drive: Driver, data_dir: Path, gateway: str, figures: dict[str, float]) -> None:
    rows = [
        {
            "employee_no": f"{UNIT}{n:03d}",
            "name": f"职工{n}",
            "unit_code": UNIT,
            "unit_name": "物业服务中心",
            "position": "职工",
            "active": True,
        }
        for n in range(6)
    ]
    await drive.call("cmd", "nomination", "import_directory", {**OFFICE, "rows": rows})
    await drive.call("cmd", "nomination", "open_round", {**OFFICE, "round_id": ROUND})
    await drive.nominate(0)
    await drive.nominate(1)

    # PostgreSQL killed: back by itself; the gateway says 503 in Chinese meanwhile.
    recovered = asyncio.Event()
    seen: list[tuple[int, str]] = []
    watcher = asyncio.create_task(watch_gateway(gateway, recovered, seen))
    await eventually(lambda: bool(seen), what="the gateway's first answer")
    killed_pid, began = postmaster_pid(data_dir), time.monotonic()
    os.kill(killed_pid, signal.SIGKILL)
    await drive.nominate(2)
    figures["postgresql_command_again_s"] = time.monotonic() - began
    # A command may still be served by backends that outlive their postmaster for a moment:
    # the server is back when the supervisor has started a new postmaster.
    await eventually(
        lambda: live_postmaster_pid(data_dir) not in (None, killed_pid),
        timeout=60,
        what="a new postmaster",
    )
    recovered.set()
    answers = await watcher
    statuses = {status for status, _ in answers}
    assert 503 in statuses, answers
    assert statuses <= {401, 503}, answers  # no 500 while the database was away
    assert {m for s, m in answers if s == 503} == {
        "系统正在恢复（数据库或消息服务暂时不可用），请稍后再试。"
    }
    await drive.nominate(3)

    # NATS killed: back by itself on the same port; everyone reconnects.
    began = time.monotonic()
    os.kill(nats_pid(data_dir), signal.SIGKILL)
    await eventually(
        lambda: "NATS stopped unexpectedly" in (data_dir / "up.out").read_text(),
        timeout=BACK_WITHIN_S,
        what="the supervisor to notice the NATS server's death",
    )
    await drive.nominate(4)
    figures["nats_command_again_s"] = time.monotonic() - began

    # A service that hangs (SIGSTOP) is killed and restarted after the health timeout.
    stopped = read_stack(data_dir)["pids"]["review"]
    began = time.monotonic()
    os.kill(stopped, signal.SIGSTOP)
    await eventually(
        lambda: read_stack(data_dir).get("pids", {}).get("review") not in (stopped, None),
        timeout=HEALTH_TIMEOUT_S + BACK_WITHIN_S,
        what="the hung review to be replaced",
    )
    await drive.call("qry", "review", "health", {})
    figures["hung_service_restarted_s"] = time.monotonic() - began
    await drive.nominate(5)

    # Nothing acknowledged was lost: all six nominations reach review, closed.
    set_time(data_dir, datetime(2026, 9, 26, 9, tzinfo=SHANGHAI))
    await drive.call("cmd", "nomination", "close_round", {**OFFICE, "round_id": ROUND})

    async def all_six_closed() -> bool:
        rows = await drive.call("qry", "review", "candidates", {"round_id": ROUND})
        return len(rows) == 6 and all(r["status"] == "closed" for r in rows)

    await eventually(all_six_closed, timeout=BACK_WITHIN_S, what="six closed candidates")


def test_flowers_up_refuses_a_taken_gateway_port(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "deploy.cli", "up", "--check", "--no-demo"],
            env=up_env(data_dir, port),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert (
        f"flowers: cannot start: port {port} on 127.0.0.1 is taken by another process"
        in result.stdout
    )
    assert "NATS:" not in result.stdout  # nothing was started
    assert "Traceback" not in result.stdout + result.stderr
