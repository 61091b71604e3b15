"""An injectable clock: domain code takes `now` as an argument, adapters ask a Clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FileClock:
    """Reads "now" from a file: how fault tests move time for several service processes.

    Set only by tests (FLOWERS_CLOCK_FILE); a service started with it logs a warning. The
    file holds one ISO 8601 timestamp with its offset; it is re-read when it changes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime_ns = -1
        self._at = datetime.now(UTC)

    def now(self) -> datetime:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return datetime.now(UTC)
        if mtime != self._mtime_ns:
            at = datetime.fromisoformat(self.path.read_text().strip())
            if at.tzinfo is None:
                raise ValueError(f"{self.path}: the time needs an offset")
            self._at, self._mtime_ns = at, mtime
        return self._at


class FixedClock:
    """A clock for tests: it moves only when told to."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set(self, at: datetime) -> None:
        self._at = at
