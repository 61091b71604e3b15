"""Round periods: `2026-Q4` (quarterly) or `2026-11` (monthly), their labels and deadlines.

Every deadline is a wall-clock time in Asia/Shanghai (DOMAIN.md "Rounds"); the default is
23:59:59 on the 25th of the round's last month, the usual reading of 25日前.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator

from shared.clock import SHANGHAI

DEFAULT_DEADLINE_DAY = 25
DEFAULT_DEADLINE_TIME = time(23, 59, 59)

_QUARTERLY = re.compile(r"(?P<year>\d{4})-Q(?P<index>[1-4])")
_MONTHLY = re.compile(r"(?P<year>\d{4})-(?P<index>0[1-9]|1[0-2])")
_QUARTER_ZH = ("一", "二", "三", "四")
_MONTH_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class Cadence(StrEnum):
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"

    @property
    def rounds_per_year(self) -> int:
        return 4 if self is Cadence.QUARTERLY else 12


class InvalidRoundId(ValueError):
    """Not a round id: expected `YYYY-Qn` (n = 1..4) or `YYYY-MM`."""


@dataclass(frozen=True)
class RoundPeriod:
    """One round: a quarter or a month of a year. `index` is the quarter (1–4) or month (1–12)."""

    year: int
    cadence: Cadence
    index: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.cadence.rounds_per_year:
            raise InvalidRoundId(f"{self.cadence} round index {self.index} out of range")
        if not 1000 <= self.year <= 9999:
            raise InvalidRoundId(f"year {self.year} out of range")

    @classmethod
    def parse(cls, round_id: str) -> RoundPeriod:
        if match := _QUARTERLY.fullmatch(round_id):
            return cls(int(match["year"]), Cadence.QUARTERLY, int(match["index"]))
        if match := _MONTHLY.fullmatch(round_id):
            return cls(int(match["year"]), Cadence.MONTHLY, int(match["index"]))
        raise InvalidRoundId(f"{round_id!r} is not a round id (expected e.g. 2026-Q4 or 2026-11)")

    @classmethod
    def containing(cls, day: date | datetime, cadence: Cadence | str) -> RoundPeriod:
        """The round of `cadence` that holds `day`; an aware datetime is read in Shanghai time."""
        if isinstance(day, datetime):
            if day.tzinfo is None:
                raise ValueError("round_containing needs a timezone-aware datetime")
            day = day.astimezone(SHANGHAI).date()
        kind = Cadence(cadence)
        if kind is Cadence.QUARTERLY:
            return cls(day.year, kind, (day.month - 1) // 3 + 1)
        return cls(day.year, kind, day.month)

    @property
    def id(self) -> str:
        if self.cadence is Cadence.QUARTERLY:
            return f"{self.year:04d}-Q{self.index}"
        return f"{self.year:04d}-{self.index:02d}"

    def __str__(self) -> str:
        return self.id

    @property
    def months(self) -> tuple[int, ...]:
        if self.cadence is Cadence.QUARTERLY:
            first = (self.index - 1) * 3 + 1
            return (first, first + 1, first + 2)
        return (self.index,)

    @property
    def last_month(self) -> int:
        return self.months[-1]

    @property
    def first_day(self) -> date:
        return date(self.year, self.months[0], 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.last_month, calendar.monthrange(self.year, self.last_month)[1])

    def contains(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    @property
    def label_zh(self) -> str:
        if self.cadence is Cadence.QUARTERLY:
            return f"{self.year}年第{_QUARTER_ZH[self.index - 1]}季度"
        return f"{self.year}年{self.index}月"

    @property
    def label_en(self) -> str:
        if self.cadence is Cadence.QUARTERLY:
            return f"Q{self.index} {self.year}"
        return f"{_MONTH_EN[self.index - 1]} {self.year}"

    def deadline(
        self,
        deadline_day: int = DEFAULT_DEADLINE_DAY,
        deadline_time: time | str = DEFAULT_DEADLINE_TIME,
    ) -> datetime:
        """The default nomination deadline: `deadline_day` of the last month, Shanghai time."""
        days_in_month = calendar.monthrange(self.year, self.last_month)[1]
        if not 1 <= deadline_day <= days_in_month:
            raise ValueError(f"deadline day {deadline_day} is not a day of {self.last_month:02d}")
        at = parse_deadline_time(deadline_time)
        return datetime.combine(date(self.year, self.last_month, deadline_day), at, SHANGHAI)

    def next(self) -> RoundPeriod:
        if self.index == self.cadence.rounds_per_year:
            return RoundPeriod(self.year + 1, self.cadence, 1)
        return RoundPeriod(self.year, self.cadence, self.index + 1)

    def previous(self) -> RoundPeriod:
        if self.index == 1:
            return RoundPeriod(self.year - 1, self.cadence, self.cadence.rounds_per_year)
        return RoundPeriod(self.year, self.cadence, self.index - 1)

    def previous_rounds(self, count: int) -> tuple[RoundPeriod, ...]:
        """The `count` rounds before this one, nearest first."""
        rounds: list[RoundPeriod] = []
        current = self
        for _ in range(count):
            current = current.previous()
            rounds.append(current)
        return tuple(rounds)


def parse_round_id(round_id: str) -> RoundPeriod:
    return RoundPeriod.parse(round_id)


def is_round_id(value: str) -> bool:
    try:
        RoundPeriod.parse(value)
    except InvalidRoundId:
        return False
    return True


def round_containing(day: date | datetime, cadence: Cadence | str) -> RoundPeriod:
    return RoundPeriod.containing(day, cadence)


def default_deadline(
    round_id: str,
    deadline_day: int = DEFAULT_DEADLINE_DAY,
    deadline_time: time | str = DEFAULT_DEADLINE_TIME,
) -> datetime:
    return RoundPeriod.parse(round_id).deadline(deadline_day, deadline_time)


def parse_deadline_time(value: time | str) -> time:
    """`"23:59:59"` or `"23:59"` (settings spell it as text) or a `time` without a zone."""
    if isinstance(value, time):
        at = value
    else:
        try:
            at = time.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"deadline time {value!r} is not HH:MM[:SS]") from exc
    if at.tzinfo is not None:
        raise ValueError("deadline time is a Shanghai wall-clock time: give it without a zone")
    return at


@functools.lru_cache(maxsize=4096)
def _validated_round_id(value: str) -> str:
    """Every event names its round: remembered, the few ids in use are parsed once each
    (a wrong one raises, and exceptions are not cached)."""
    RoundPeriod.parse(value)
    return value


RoundId = Annotated[str, AfterValidator(_validated_round_id)]
"""A pydantic field type: a string that must parse as a round id."""
