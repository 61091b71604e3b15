"""The embedded NATS and PostgreSQL servers: real processes, real data on disk.

Data goes under the repository's .data/ (not pytest's tmp_path: /tmp/pytest-of-root is
0700, which the unprivileged PostgreSQL user could not traverse when we run as root).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from deploy.embedded import (
    EmbeddedServerError,
    NatsServer,
    PostgresServer,
    free_port,
    wait_until,
)
from tests.support import admin_connect, secured_nats_server

TEST_ROOT = Path(__file__).resolve().parents[2] / ".data" / "test-embedded"
IS_ROOT = os.geteuid() == 0

Server = NatsServer | PostgresServer


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh directory under .data/test-embedded, removed afterwards."""
    path = TEST_ROOT / str(uuid.uuid4())
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        TEST_ROOT.rmdir()  # only if no other run is using it


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test registers here are stopped even if the test fails."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()
        assert not server.running


def _uids(pid: int) -> list[int]:
    """Real, effective, saved and filesystem UIDs of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no Uid line for pid {pid}")


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_wait_until_times_out_with_a_readable_message() -> None:
    with pytest.raises(EmbeddedServerError, match=r"timed out after 0\.1 s waiting for Godot"):
        wait_until(lambda: False, 0.1, interval=0.01, what="Godot")
    wait_until(lambda: True, 0.1)


async def test_nats_jetstream_works_and_survives_restart(
    data_dir: Path, servers: list[Server]
) -> None:
    server = secured_nats_server(data_dir / "nats")
    servers.append(server)
    server.start()
    assert server.running
    assert server.pid is not None
    assert server.url == f"nats://127.0.0.1:{server.port}"
    conf_path = data_dir / "nats" / "nats.conf"
    conf = conf_path.read_text()
    assert "sync_interval: always" in conf
    assert f'http: "127.0.0.1:{server.monitor_port}"' in conf  # monitoring on loopback only
    assert "authorization {" in conf
    assert stat.S_IMODE(conf_path.stat().st_mode) == 0o600

    nc = await admin_connect(server.url)
    js = nc.jetstream()
    await js.add_stream(name="EMBEDDED", subjects=["embedded.>"])
    ack = await js.publish("embedded.one", b"hello", headers={"Nats-Msg-Id": "m-1"})
    assert (ack.stream, ack.seq, ack.duplicate) == ("EMBEDDED", 1, None)
    await nc.close()

    url, first_pid = server.url, server.pid
    server.stop()
    assert not server.running
    assert server.pid is None
    server.stop()  # idempotent

    server.start()
    assert server.url == url
    assert server.pid not in (None, first_pid)
    nc = await admin_connect(server.url)
    try:
        msg = await nc.jetstream().get_msg("EMBEDDED", 1)
        assert (msg.subject, msg.data) == ("embedded.one", b"hello")
    finally:
        await nc.close()


def test_nats_kill_then_restart(data_dir: Path, servers: list[Server]) -> None:
    server = NatsServer(data_dir / "nats")
    servers.append(server)
    server.start()
    pid = server.pid
    assert pid is not None
    server.kill()
    assert not server.running
    assert server.pid is None
    server.start()  # the stale ports file of the killed process is no obstacle
    assert server.running


def test_nats_on_a_taken_port_fails_readably(data_dir: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = NatsServer(data_dir / "nats", port=port)
        with pytest.raises(EmbeddedServerError, match="address already in use") as info:
            server.start()
    message = str(info.value)
    assert "nats-server exited with code" in message
    assert f"127.0.0.1:{port}" in message
    assert not server.running


async def test_postgres_databases_queries_and_restart(
    data_dir: Path, servers: list[Server]
) -> None:
    server = PostgresServer(data_dir / "pg")
    servers.append(server)
    server.start()
    assert server.pid is not None
    assert server.url == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    if IS_ROOT:
        assert 0 not in _uids(server.pid), "PostgreSQL must not run as root"
        assert (data_dir / "pg" / "pgdata").stat().st_uid == _uids(server.pid)[0]

    assert server.create_database("flowers_test") is True
    assert server.create_database("flowers_test") is False
    assert server.create_database('odd "name"; DROP') is True  # quoted by the server

    conn = await asyncpg.connect(server.url_for("flowers_test"))
    try:
        await conn.execute("CREATE TABLE kept (v text NOT NULL)")
        await conn.execute("INSERT INTO kept VALUES ('before restart')")
        assert await conn.fetchval("SELECT current_setting('max_connections')") == "200"
    finally:
        await conn.close()

    port, first_pid = server.port, server.pid
    server.stop()
    assert not server.running
    assert server.pid is None
    server.stop()  # idempotent

    server.start()  # no second initdb: the cluster is reused
    assert server.port == port
    assert server.pid not in (None, first_pid)
    conn = await asyncpg.connect(server.url_for("flowers_test"))
    try:
        assert await conn.fetchval("SELECT v FROM kept") == "before restart"
    finally:
        await conn.close()
    assert server.create_database("flowers_test") is False


async def test_postgres_kill_keeps_committed_data(data_dir: Path, servers: list[Server]) -> None:
    server = PostgresServer(data_dir / "pg")
    servers.append(server)
    server.start()
    conn = await asyncpg.connect(server.url)
    await conn.execute("CREATE TABLE crash (v int)")
    await conn.execute("INSERT INTO crash VALUES (1)")
    server.kill()  # the postmaster and all its backends, at once
    assert not server.running
    with pytest.raises((OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
        await conn.fetchval("SELECT 1")
    conn.terminate()

    server.start()  # crash recovery from WAL
    conn = await asyncpg.connect(server.url)
    try:
        assert await conn.fetchval("SELECT v FROM crash") == 1
    finally:
        await conn.close()


@pytest.mark.skipif(not IS_ROOT, reason="only root hands PostgreSQL to another user")
def test_postgres_as_root_grants_traverse_only_and_logs_it(
    data_dir: Path, servers: list[Server], caplog: pytest.LogCaptureFixture
) -> None:
    locked = data_dir / "locked"
    locked.mkdir()
    locked.chmod(0o700)
    server = PostgresServer(locked / "pg")
    servers.append(server)
    with caplog.at_level(logging.WARNING, logger="deploy.embedded"):
        server.start()
    assert stat.S_IMODE(locked.stat().st_mode) == 0o701  # o+x only
    assert f"chmod o+x {locked}:" in caplog.text
    pgdata = locked / "pg" / "pgdata"
    assert stat.S_IMODE(pgdata.stat().st_mode) == 0o700
    assert pgdata.stat().st_uid != 0
    assert (locked / "pg").stat().st_uid == 0  # only pgdata is handed over
