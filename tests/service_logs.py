"""Every log line the in-process services write during a test, as they would write it.

A service logs through structlog (shared/logging.py: JSON lines on `sys.stderr`, the
stream `configure_logging` finds when the service starts) and through the standard
library's `logging` (asyncpg, nats-py: `logging.basicConfig` to `sys.stderr` in
production). The fixture reads what reaches file descriptor 2 and `sys.stderr` during the
test (pytest's `capfd`: a service started in the test binds its structlog output there),
and adds the root handler `basicConfig` would add, at the services' level (under pytest its
own handlers keep `basicConfig` from adding one). What it reads is written back at the
end, so a failing test still shows it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog


class _ToStderr(logging.Handler):
    """`basicConfig`'s handler, writing to whatever `sys.stderr` is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


class ServiceLogs:
    """What the services wrote to stderr so far: one log line each (JSON for structlog's)."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self._capfd = capfd
        self._read = ""

    @property
    def lines(self) -> list[str]:
        self._read += self._capfd.readouterr().err
        return self._read.splitlines()

    def holding(self, needles: list[str]) -> list[str]:
        """The lines in which any of `needles` appears in clear."""
        return [line for line in self.lines if any(n in line for n in needles)]


@pytest.fixture
def service_logs(capfd: pytest.CaptureFixture[str]) -> Iterator[ServiceLogs]:
    handler = _ToStderr()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # the services' level (Settings.log_level)
    try:
        with structlog_restored():  # the services bind their lines to capfd's stream
            yield (logs := ServiceLogs(capfd))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        sys.stderr.write("\n".join(logs.lines))  # shown with the teardown if the test failed


@contextlib.contextmanager
def structlog_restored() -> Iterator[None]:
    """structlog's configuration put back afterwards: a test that calls `configure_logging`
    under `capsys` binds lines to a stream closed after it, which a later test would log to."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)
