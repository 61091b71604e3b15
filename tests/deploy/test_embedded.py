"""The embedded NATS and PostgreSQL servers: real processes, real data on disk.

Data goes under the repository's .data/ (not pytest's tmp_path: /tmp/pytest-of-root is
0700, which the unprivileged PostgreSQL user could not traverse when we run as root).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
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

pytestmark = pytest.mark.integration  # every test here starts or probes a real server

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
    assert server.server_url == f"postgresql://127.0.0.1:{server.port}/postgres"
    password = server.password()
    assert server.url == f"postgresql://postgres:{password}@127.0.0.1:{server.port}/postgres"
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
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
    # The client sees the loss as whichever error its protocol state meets first (asyncpg
    # may still be reading the dying backend's last reply: InternalClientError).
    lost = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
    with pytest.raises(lost):
        await conn.fetchval("SELECT 1")
    conn.terminate()

    server.start()  # crash recovery from WAL
    conn = await asyncpg.connect(server.url)
    try:
        assert await conn.fetchval("SELECT v FROM crash") == 1
    finally:
        await conn.close()


async def test_postgres_restarts_on_its_port_after_its_postmaster_is_killed(
    data_dir: Path, servers: list[Server]
) -> None:
    server = PostgresServer(data_dir / "pg")
    servers.append(server)
    server.start()
    port, pid = server.port, server.pid
    assert pid is not None
    conn = await asyncpg.connect(server.url)  # a backend that outlives its postmaster
    await conn.execute("CREATE TABLE crash (v int); INSERT INTO crash VALUES (1)")
    os.kill(pid, signal.SIGKILL)  # the postmaster alone, as `kill -9` does
    wait_until(lambda: not server.running, 5, what="the postmaster to die")
    # The killed postmaster's pid file stays, naming a PID that a live process now has.
    pid_file = server.pgdata / "postmaster.pid"
    assert pid_file.exists()
    lines = pid_file.read_text().splitlines()
    pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")
    server.restart()
    assert server.running
    assert (server.port, server.pid != pid) == (port, True)
    conn.terminate()
    conn = await asyncpg.connect(server.url)
    try:
        assert await conn.fetchval("SELECT v FROM crash") == 1
    finally:
        await conn.close()


def test_nats_restarts_on_its_port_after_a_kill(data_dir: Path, servers: list[Server]) -> None:
    server = NatsServer(data_dir / "nats")
    servers.append(server)
    server.start()
    port, pid = server.port, server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not server.running, 5, what="nats-server to die")
    server.restart()
    assert server.running
    assert (server.port, server.pid != pid) == (port, True)


async def _login(url: str) -> None:
    conn = await asyncpg.connect(url)
    await conn.close()


async def _refused(url: str) -> None:
    with pytest.raises(asyncpg.InvalidPasswordError):
        await _login(url)


async def test_postgres_asks_every_login_for_its_password(
    data_dir: Path, servers: list[Server]
) -> None:
    server = PostgresServer(data_dir / "pg", password_file=data_dir / "secrets" / "pg.password")
    servers.append(server)
    server.start()
    hba = (server.pgdata / "pg_hba.conf").read_text()
    assert "trust" not in hba.replace("no trust", "")
    assert "scram-sha-256" in hba
    conn = await asyncpg.connect(server.url)  # the superuser, with the password
    try:
        assert await conn.fetchval("SELECT current_setting('password_encryption')") == (
            "scram-sha-256"
        )
    finally:
        await conn.close()
    await _refused(f"postgresql://postgres@127.0.0.1:{server.port}/postgres")  # none
    await _refused(f"postgresql://postgres:wrong@127.0.0.1:{server.port}/postgres")
    # The socket asks too (psql over the socket in pgdata, without a password).
    result = server._psql(f"postgresql:///postgres?host={server.pgdata}&port={server.port}", "")
    assert result.returncode != 0, result.stdout
    assert "password" in result.stderr


async def test_a_cluster_made_with_trust_is_converted_on_its_next_start(
    data_dir: Path, servers: list[Server], caplog: pytest.LogCaptureFixture
) -> None:
    """An older `make run` made .data/pg with --auth=trust and no superuser password."""
    server = PostgresServer(data_dir / "pg")
    servers.append(server)
    server.start()
    conn = await asyncpg.connect(server.url)
    await conn.execute("CREATE TABLE kept (v int)")
    await conn.execute("INSERT INTO kept VALUES (7)")
    await conn.execute("ALTER ROLE postgres PASSWORD NULL")
    await conn.close()
    server.stop()
    (server.pgdata / "pg_hba.conf").write_text(
        "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
    )
    server.password_file.unlink()  # and no password was ever made

    with caplog.at_level(logging.WARNING, logger="deploy.embedded"):
        server.start()
    assert "made with trust authentication" in caplog.text
    assert "trust" not in (server.pgdata / "pg_hba.conf").read_text().replace("no trust", "")
    conn = await asyncpg.connect(server.url)
    try:
        assert await conn.fetchval("SELECT v FROM kept") == 7
    finally:
        await conn.close()
    await _refused(f"postgresql://postgres@127.0.0.1:{server.port}/postgres")


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
