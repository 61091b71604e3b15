"""Working days on the Chinese calendar, and when a public notice (公示) of N working days ends.

`chinese_calendar` knows the State Council's holiday schedule for 2004–2026 only. For any
other year this module falls back to: Monday–Friday are working days, Saturday and Sunday
are not, corrected by the holidays and make-up working days configured in settings. Dates
configured in settings take precedence in every year, so the union can also correct a
known year (a local holiday, a late change to the schedule).

No logging here: every function that may fall back accepts `on_fallback(year)`, called once
per unknown year per call, and `notice_window` also returns the years in its result, so an
adapter can log a warning and an event can keep the fact.

When a notice ends. A notice announced at instant T (any time of day, any day):
- it runs from T itself: objections are accepted from the moment it is announced;
- its working days are counted from the day after T's date in Asia/Shanghai, as the Civil
  Code counts periods in days (第二百零一条: 开始的当日不计入, 自下一日开始计算), so an
  announcement made late on a working day does not lose that day;
- it ends at the end of its N-th working day: 23:59:59.999999 Asia/Shanghai, the last
  instant of that date (第二百零三条: 期间的最后一日的截止时间为二十四时). A holiday at the
  end pushes the end past the holiday, because only working days are counted.
So a 5-working-day notice announced on Monday 2025-09-29 counts 09-30, 10-09, 10-10,
10-11 (a make-up working Saturday) and 10-13, and ends at 2025-10-13 23:59:59.999999 +08:00,
after the National Day holiday.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import chinese_calendar

from shared.clock import SHANGHAI

OnFallback = Callable[[int], None]

# A run of this many days without one working day means the configuration is wrong
# (e.g. a whole year configured as holidays); stop instead of looping for ever.
_MAX_GAP_DAYS = 366


def calendar_knows(year: int) -> bool:
    """Whether `chinese_calendar` has the official schedule for `year`."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@dataclass(frozen=True)
class WorkingCalendar:
    """The Chinese working-day calendar, corrected by configured holidays and make-up days."""

    extra_holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        both = self.extra_holidays & self.extra_workdays
        if both:
            days = ", ".join(sorted(d.isoformat() for d in both))
            raise ValueError(f"configured both as holiday and as working day: {days}")

    @classmethod
    def of(
        cls, extra_holidays: Collection[date] = (), extra_workdays: Collection[date] = ()
    ) -> WorkingCalendar:
        return cls(frozenset(extra_holidays), frozenset(extra_workdays))

    def is_working_day(self, d: date, on_fallback: OnFallback | None = None) -> bool:
        if d in self.extra_workdays:
            return True
        if d in self.extra_holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            if on_fallback is not None:
                on_fallback(d.year)
            return d.weekday() < 5

    def add_working_days(self, start: date, n: int, on_fallback: OnFallback | None = None) -> date:
        """The n-th working day after `start` (`start` itself is not counted; n=0 gives it)."""
        if n < 0:
            raise ValueError("n must be zero or more")
        reported: set[int] = set()

        def report_once(year: int) -> None:
            if year not in reported:
                reported.add(year)
                if on_fallback is not None:
                    on_fallback(year)

        day = start
        counted = 0
        gap = 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_working_day(day, report_once):
                counted += 1
                gap = 0
            else:
                gap += 1
                if gap > _MAX_GAP_DAYS:
                    raise ValueError(f"no working day in the {_MAX_GAP_DAYS} days after {day}")
        return day

    def notice_window(
        self, starts_at: datetime, working_days: int, on_fallback: OnFallback | None = None
    ) -> NoticeWindow:
        """The notice announced at `starts_at` lasting `working_days` (see the module docstring)."""
        if starts_at.tzinfo is None:
            raise ValueError("starts_at must be timezone-aware")
        if working_days < 1:
            raise ValueError("a notice lasts at least one working day")
        fallback_years: set[int] = set()

        def collect(year: int) -> None:
            if year not in fallback_years:
                fallback_years.add(year)
                if on_fallback is not None:
                    on_fallback(year)

        announced_on = starts_at.astimezone(SHANGHAI).date()
        first_day = self.add_working_days(announced_on, 1, collect)
        last_day = self.add_working_days(first_day, working_days - 1, collect)
        return NoticeWindow(
            starts_at=starts_at,
            ends_at=end_of_day(last_day),
            working_days=working_days,
            first_day=first_day,
            last_day=last_day,
            fallback_years=frozenset(fallback_years),
        )


@dataclass(frozen=True)
class NoticeWindow:
    """A notice's span: running while starts_at <= now <= ends_at (both inclusive)."""

    starts_at: datetime
    ends_at: datetime
    working_days: int
    first_day: date  # the first working day counted
    last_day: date  # the N-th working day, whose end is ends_at
    fallback_years: frozenset[int]  # years computed without the official schedule

    @property
    def used_fallback(self) -> bool:
        return bool(self.fallback_years)

    def is_running(self, now: datetime) -> bool:
        return self.starts_at <= now <= self.ends_at

    def has_ended(self, now: datetime) -> bool:
        return now > self.ends_at


def end_of_day(d: date) -> datetime:
    """The last instant of date `d` in Asia/Shanghai (timezone-aware)."""
    return datetime.combine(d, time.max, tzinfo=SHANGHAI)


def is_working_day(
    d: date,
    extra_holidays: Collection[date] = (),
    extra_workdays: Collection[date] = (),
    on_fallback: OnFallback | None = None,
) -> bool:
    return WorkingCalendar.of(extra_holidays, extra_workdays).is_working_day(d, on_fallback)


def add_working_days(
    start: date,
    n: int,
    extra_holidays: Collection[date] = (),
    extra_workdays: Collection[date] = (),
    on_fallback: OnFallback | None = None,
) -> date:
    """The n-th working day after `start`, which itself is not counted."""
    return WorkingCalendar.of(extra_holidays, extra_workdays).add_working_days(
        start, n, on_fallback
    )


def notice_window(
    starts_at: datetime,
    working_days: int,
    extra_holidays: Collection[date] = (),
    extra_workdays: Collection[date] = (),
    on_fallback: OnFallback | None = None,
) -> NoticeWindow:
    return WorkingCalendar.of(extra_holidays, extra_workdays).notice_window(
        starts_at, working_days, on_fallback
    )


def notice_end(
    starts_at: datetime,
    working_days: int,
    extra_holidays: Collection[date] = (),
    extra_workdays: Collection[date] = (),
    on_fallback: OnFallback | None = None,
) -> datetime:
    """The last instant of a notice announced at `starts_at` (aware, Asia/Shanghai)."""
    return notice_window(
        starts_at, working_days, extra_holidays, extra_workdays, on_fallback
    ).ends_at
