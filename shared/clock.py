"""An injectable clock: domain code takes `now` as an argument, adapters ask a Clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def in_shanghai(value: datetime | str) -> datetime:
    """An aware instant (or its ISO 8601 text, with an offset) on Beijing's wall clock."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError(f"{value!r}: the time needs an offset")
    return moment.astimezone(SHANGHAI)


def format_zh_date(value: date | datetime | str) -> str:
    """A day as people read it: "2026年12月10日" (an instant: its day in Beijing)."""
    if isinstance(value, str):
        value = date.fromisoformat(value) if len(value) == 10 else in_shanghai(value)
    if isinstance(value, datetime):
        value = in_shanghai(value).date()
    return f"{value.year}年{value.month}月{value.day}日"


def format_zh(value: datetime | str) -> str:
    """An instant in Beijing time, to the minute, 24-hour: "2026年12月10日 23:59".

    The one rule: seconds are dropped (never rounded up), except that the very end of a
    day, 23:59:59.999999 (how a notice period ends, `shared.calendar`), reads "24:00" of
    that day, as in a Chinese notice: "2026年12月10日 24:00". A deadline at 23:59:59
    stays "23:59".
    """
    local = in_shanghai(value)
    if local.timetz().replace(tzinfo=None) == time.max:
        return f"{format_zh_date(local)} 24:00"
    return f"{format_zh_date(local)} {local:%H:%M}"


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
