"""How values read on a page: dates, scores, and no line break inside a date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from markupsafe import Markup

from services.gateway.display import date_text, datetime_text, nowrap, score_text
from services.gateway.web import env


@pytest.mark.parametrize(
    ("value", "locale", "expected"),
    [
        ("2026-12-10T23:59:59.999999+08:00", "zh-CN", "2026年12月10日 24:00"),
        ("2026-12-10T23:59:59.999999+08:00", "en", "2026-12-10 24:00"),
        (datetime(2026, 12, 10, 1, 2, tzinfo=UTC), "zh-CN", "2026年12月10日 09:02"),
        (datetime(2026, 12, 10, 1, 2, tzinfo=UTC), "en", "2026-12-10 09:02"),
        (None, "zh-CN", ""),
        ("", "en", ""),
    ],
)
def test_datetime_text(value: object, locale: str, expected: str) -> None:
    assert datetime_text(value, locale) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "locale", "expected"),
    [
        (date(2026, 12, 10), "zh-CN", "2026年12月10日"),
        ("2026-12-10", "en", "2026-12-10"),
        (datetime(2026, 12, 10, 16, 0, tzinfo=UTC), "en", "2026-12-11"),
        (None, "zh-CN", ""),
    ],
)
def test_date_text(value: object, locale: str, expected: str) -> None:
    assert date_text(value, locale) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("88.7000", "88.70"),
        (Decimal("88.7"), "88.70"),
        (88.705, "88.71"),
        ("88.705", "88.71"),
        (90, "90.00"),
        ("0", "0.00"),
        (None, ""),
        ("", ""),
        ("—", "—"),
    ],
)
def test_score_text_has_two_decimals(value: object, expected: str) -> None:
    assert score_text(value) == expected  # type: ignore[arg-type]


def test_nowrap_escapes_then_marks_safe() -> None:
    assert nowrap("2026年12月10日 24:00") == Markup(
        '<span class="nowrap">2026年12月10日 24:00</span>'
    )
    assert nowrap("<b>") == Markup('<span class="nowrap">&lt;b&gt;</span>')
    assert nowrap("") == Markup("")


def test_the_filters_are_registered_in_the_page_environment() -> None:
    page = env.from_string("{{ at|zh_datetime }} {{ day|zh_date }} {{ total|score }}")
    assert page.render(at="2026-12-10T23:59:59+08:00", day="2026-12-10", total="88.7000") == (
        '<span class="nowrap">2026年12月10日 23:59</span> '
        '<span class="nowrap">2026年12月10日</span> 88.70'
    )
