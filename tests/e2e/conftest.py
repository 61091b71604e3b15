"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.embedded import NatsServer
from tests.service_logs import service_logs


@pytest.fixture
def server_logs(session_dir: Path, nats_server: NatsServer | None) -> Callable[[], bytes]:
    """What the embedded PostgreSQL and NATS servers log from now on (their log files, as
    `flowers up` keeps them beside their data; nothing when the suite uses existing servers).
    The session's PostgreSQL is this worker's alone, so what it logs meanwhile is this test's."""
    paths = [session_dir / "pg" / "postgres.log"]
    if nats_server is not None:
        paths.append(nats_server.log_path)
    start = {p: p.stat().st_size if p.exists() else 0 for p in paths}

    def written() -> bytes:
        out = b""
        for path, offset in start.items():
            if path.exists():
                with path.open("rb") as f:
                    f.seek(offset)
                    out += f.read()
        return out

    return written


__all__ = ["server_logs", "service_logs"]
