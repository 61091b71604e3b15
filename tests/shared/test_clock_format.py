"""One Chinese date and time format: Beijing time, to the minute, 24:00 at a day's end."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from shared.clock import SHANGHAI, format_zh, format_zh_date


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 12, 10, 23, 59, 59, tzinfo=SHANGHAI), "2026年12月10日 23:59"),
        (datetime.combine(date(2026, 12, 10), time.max, SHANGHAI), "2026年12月10日 24:00"),
        ("2026-12-10T23:59:59.999999+08:00", "2026年12月10日 24:00"),
        ("2026-12-10T15:59:59.999999+00:00", "2026年12月10日 24:00"),
        (datetime(2026, 12, 10, 16, 0, tzinfo=UTC), "2026年12月11日 00:00"),
        (datetime(2026, 1, 5, 8, 7, 59, 999999, tzinfo=SHANGHAI), "2026年1月5日 08:07"),
        ("2026-03-01T00:30:00-05:00", "2026年3月1日 13:30"),
        (datetime(2026, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=9))), "2026年6月1日 08:00"),
    ],
)
def test_an_instant_reads_in_beijing_time_to_the_minute(value: object, expected: str) -> None:
    assert format_zh(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2026, 12, 10), "2026年12月10日"),
        ("2026-01-05", "2026年1月5日"),
        (datetime(2026, 12, 10, 16, 0, tzinfo=UTC), "2026年12月11日"),
        ("2026-12-10T23:59:59.999999+08:00", "2026年12月10日"),
    ],
)
def test_a_day_reads_year_month_day(value: object, expected: str) -> None:
    assert format_zh_date(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [datetime(2026, 12, 10, 12, 0), "2026-12-10T12:00:00"])
def test_a_time_without_an_offset_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="offset"):
        format_zh(value)  # type: ignore[arg-type]
