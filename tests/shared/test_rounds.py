"""Round periods: ids, months, labels, deadlines in Shanghai time, neighbours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError

from shared.rounds import (
    Cadence,
    InvalidRoundId,
    RoundId,
    RoundPeriod,
    default_deadline,
    is_round_id,
    parse_deadline_time,
    parse_round_id,
    round_containing,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("round_id", "months", "first_day", "last_day", "label_zh", "label_en"),
    [
        ("2026-Q1", (1, 2, 3), date(2026, 1, 1), date(2026, 3, 31), "2026年第一季度", "Q1 2026"),
        ("2026-Q2", (4, 5, 6), date(2026, 4, 1), date(2026, 6, 30), "2026年第二季度", "Q2 2026"),
        ("2026-Q3", (7, 8, 9), date(2026, 7, 1), date(2026, 9, 30), "2026年第三季度", "Q3 2026"),
        (
            "2026-Q4",
            (10, 11, 12),
            date(2026, 10, 1),
            date(2026, 12, 31),
            "2026年第四季度",
            "Q4 2026",
        ),
        ("2026-11", (11,), date(2026, 11, 1), date(2026, 11, 30), "2026年11月", "November 2026"),
        ("2028-02", (2,), date(2028, 2, 1), date(2028, 2, 29), "2028年2月", "February 2028"),
        ("2027-02", (2,), date(2027, 2, 1), date(2027, 2, 28), "2027年2月", "February 2027"),
    ],
)
def test_a_round_knows_its_months_days_and_labels(
    round_id, months, first_day, last_day, label_zh, label_en
):
    period = parse_round_id(round_id)
    assert period.id == str(period) == round_id
    assert period.months == months
    assert period.first_day == first_day
    assert period.last_day == last_day
    assert period.label_zh == label_zh
    assert period.label_en == label_en


@pytest.mark.parametrize(
    ("round_id", "cadence"), [("2026-Q4", Cadence.QUARTERLY), ("2026-11", Cadence.MONTHLY)]
)
def test_the_id_tells_the_cadence(round_id, cadence):
    assert parse_round_id(round_id).cadence is cadence


@pytest.mark.parametrize(
    "bad", ["2026-Q5", "2026-Q0", "2026-13", "2026-00", "2026-1", "26-Q4", "2026Q4", "", "2026-q4"]
)
def test_anything_else_is_not_a_round_id(bad):
    assert not is_round_id(bad)
    with pytest.raises(InvalidRoundId):
        RoundPeriod.parse(bad)


def test_a_round_id_field_refuses_a_malformed_id():
    class Holder(BaseModel):
        round_id: RoundId

    assert Holder(round_id="2026-Q4").round_id == "2026-Q4"
    with pytest.raises(ValidationError):
        Holder(round_id="2026-Q9")


@pytest.mark.parametrize(
    ("round_id", "deadline"),
    [
        ("2026-Q1", datetime(2026, 3, 25, 23, 59, 59, tzinfo=SHANGHAI)),
        ("2026-Q2", datetime(2026, 6, 25, 23, 59, 59, tzinfo=SHANGHAI)),
        ("2026-Q3", datetime(2026, 9, 25, 23, 59, 59, tzinfo=SHANGHAI)),
        ("2026-Q4", datetime(2026, 12, 25, 23, 59, 59, tzinfo=SHANGHAI)),
        ("2026-11", datetime(2026, 11, 25, 23, 59, 59, tzinfo=SHANGHAI)),
        ("2027-02", datetime(2027, 2, 25, 23, 59, 59, tzinfo=SHANGHAI)),
    ],
)
def test_the_default_deadline_is_the_25th_of_the_last_month_at_235959_in_shanghai(
    round_id, deadline
):
    got = default_deadline(round_id)
    assert got == deadline
    assert got.tzinfo is not None
    assert got.utcoffset() == deadline.utcoffset()
    assert got.astimezone(UTC) == datetime(
        deadline.year, deadline.month, 25, 15, 59, 59, tzinfo=UTC
    )


def test_the_deadline_day_and_time_are_settings():
    period = parse_round_id("2026-Q4")
    assert period.deadline(20, "18:00") == datetime(2026, 12, 20, 18, 0, tzinfo=SHANGHAI)
    assert period.deadline(28, time(12, 30)) == datetime(2026, 12, 28, 12, 30, tzinfo=SHANGHAI)


def test_a_deadline_day_outside_the_month_is_refused():
    with pytest.raises(ValueError, match="not a day"):
        parse_round_id("2027-02").deadline(30)


@pytest.mark.parametrize("bad", ["25:00", "noon", "23:59:59+08:00"])
def test_a_deadline_time_must_be_a_plain_wall_clock_time(bad):
    with pytest.raises(ValueError, match="deadline time"):
        parse_deadline_time(bad)


@pytest.mark.parametrize(
    ("round_id", "previous", "following"),
    [
        ("2026-Q1", "2025-Q4", "2026-Q2"),
        ("2026-Q4", "2026-Q3", "2027-Q1"),
        ("2026-01", "2025-12", "2026-02"),
        ("2026-12", "2026-11", "2027-01"),
    ],
)
def test_rounds_follow_each_other_across_the_year_end(round_id, previous, following):
    period = parse_round_id(round_id)
    assert period.previous().id == previous
    assert period.next().id == following
    assert period.next().previous() == period


def test_the_rounds_before_one_come_nearest_first():
    assert [p.id for p in parse_round_id("2026-Q2").previous_rounds(3)] == [
        "2026-Q1",
        "2025-Q4",
        "2025-Q3",
    ]
    assert parse_round_id("2026-Q2").previous_rounds(0) == ()


@pytest.mark.parametrize(
    ("day", "cadence", "round_id"),
    [
        (date(2026, 1, 1), "quarterly", "2026-Q1"),
        (date(2026, 3, 31), "quarterly", "2026-Q1"),
        (date(2026, 4, 1), "quarterly", "2026-Q2"),
        (date(2026, 12, 31), "quarterly", "2026-Q4"),
        (date(2026, 11, 15), "monthly", "2026-11"),
        (date(2026, 12, 31), Cadence.MONTHLY, "2026-12"),
    ],
)
def test_the_round_containing_a_day(day, cadence, round_id):
    period = round_containing(day, cadence)
    assert period.id == round_id
    assert period.contains(day)


def test_the_round_containing_a_moment_is_read_in_shanghai_time():
    # 2026-12-31 16:30 UTC is already 2027-01-01 00:30 in Shanghai.
    moment = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    assert round_containing(moment, "quarterly").id == "2027-Q1"
    assert round_containing(moment, "monthly").id == "2027-01"


def test_a_naive_moment_has_no_round():
    with pytest.raises(ValueError, match="timezone-aware"):
        round_containing(datetime(2026, 12, 31, 16, 30), "quarterly")
