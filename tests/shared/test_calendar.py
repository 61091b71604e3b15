"""Working days on the Chinese calendar and when a public notice ends."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from shared.calendar import (
    WorkingCalendar,
    add_working_days,
    calendar_knows,
    end_of_day,
    is_working_day,
    notice_end,
    notice_window,
)
from shared.clock import SHANGHAI


def at(d: date, hour: int = 10) -> datetime:
    return datetime.combine(d, time(hour), tzinfo=SHANGHAI)


def test_a_notice_announced_before_national_day_ends_after_the_holiday() -> None:
    window = notice_window(at(date(2025, 9, 29)), 5)
    # 09-29 itself is not counted; 09-30, 10-09, 10-10, 10-11 (make-up Saturday), 10-13.
    assert window.first_day == date(2025, 9, 30)
    assert window.last_day == date(2025, 10, 13)
    assert window.ends_at == datetime(2025, 10, 13, 23, 59, 59, 999999, tzinfo=SHANGHAI)
    assert window.starts_at == at(date(2025, 9, 29))
    assert not window.used_fallback


def test_five_working_days_after_the_29th_of_september_2025_is_the_13th_of_october() -> None:
    assert add_working_days(date(2025, 9, 29), 5) == date(2025, 10, 13)


def test_a_make_up_working_saturday_counts() -> None:
    saturday = date(2025, 10, 11)
    assert saturday.weekday() == 5
    assert is_working_day(saturday)
    # From Friday 10-10, one working day later is that Saturday, not Monday.
    assert add_working_days(date(2025, 10, 10), 1) == saturday


def test_a_statutory_holiday_on_a_weekday_is_not_a_working_day() -> None:
    assert not is_working_day(date(2025, 10, 1))
    assert not is_working_day(date(2025, 10, 8))


def test_the_notice_runs_from_the_announcement_to_the_end_of_its_last_working_day() -> None:
    window = notice_window(at(date(2025, 9, 29), 17), 5)
    assert not window.is_running(at(date(2025, 9, 29), 16))
    assert window.is_running(at(date(2025, 9, 29), 17))
    assert window.is_running(datetime(2025, 10, 13, 23, 59, 59, tzinfo=SHANGHAI))
    assert window.has_ended(datetime(2025, 10, 14, 0, 0, tzinfo=SHANGHAI))


def test_the_announcement_day_is_read_in_shanghai_time() -> None:
    # 2025-09-29 17:00 UTC is already 09-30 01:00 in Shanghai: counting starts on 10-09.
    utc_evening = datetime.fromisoformat("2025-09-29T17:00:00+00:00")
    assert notice_window(utc_evening, 1).last_day == date(2025, 10, 9)


def test_the_official_calendar_is_known_up_to_2026_only() -> None:
    assert calendar_knows(2026)
    assert not calendar_knows(2027)


def test_2027_falls_back_to_weekends_and_configured_holidays_and_reports_it() -> None:
    spring_festival = {date(2027, 2, d) for d in range(5, 12)}  # configured: Fri 02-05..Thu 02-11
    make_up = {date(2027, 2, 13)}  # configured make-up Saturday
    calendar = WorkingCalendar.of(spring_festival, make_up)
    reported: list[int] = []

    window = calendar.notice_window(at(date(2027, 2, 3)), 5, on_fallback=reported.append)

    # Counted: Thu 02-04, Fri 02-12, Sat 02-13 (make-up), Mon 02-15, Tue 02-16.
    assert window.first_day == date(2027, 2, 4)
    assert window.last_day == date(2027, 2, 16)
    assert window.fallback_years == frozenset({2027})
    assert window.used_fallback
    assert reported == [2027]


def test_the_fallback_treats_weekends_as_rest_days() -> None:
    reported: list[int] = []
    assert is_working_day(date(2027, 3, 1), on_fallback=reported.append)  # Monday
    assert not is_working_day(date(2027, 3, 6), on_fallback=reported.append)  # Saturday
    assert reported == [2027, 2027]


def test_a_notice_crossing_into_an_unknown_year_reports_only_that_year() -> None:
    reported: list[int] = []
    end = notice_end(at(date(2026, 12, 29)), 5, on_fallback=reported.append)
    # 12-30, 12-31 (2026, official), then 2027-01-01 (configured holiday in real life, but
    # not configured here: a Friday counts), 01-04, 01-05.
    assert end == end_of_day(date(2027, 1, 5))
    assert reported == [2027]


def test_configured_dates_override_the_official_calendar() -> None:
    local_holiday = date(2025, 10, 13)
    assert not is_working_day(local_holiday, extra_holidays={local_holiday})
    assert add_working_days(date(2025, 9, 29), 5, extra_holidays={local_holiday}) == date(
        2025, 10, 14
    )


def test_a_date_configured_both_ways_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        WorkingCalendar.of({date(2027, 1, 1)}, {date(2027, 1, 1)})


def test_a_notice_needs_a_timezone_aware_start_and_at_least_one_day() -> None:
    with pytest.raises(ValueError, match="aware"):
        notice_window(datetime(2025, 9, 29, 10), 5)
    with pytest.raises(ValueError, match="at least one"):
        notice_window(at(date(2025, 9, 29)), 0)
