"""Chinese refusals name things as people do: a round's label, a time in Beijing time."""

from __future__ import annotations

import pytest

from services.nomination.errors import DeadlinePassed, RoundClosed, RoundExists, RoundNotOpen
from services.review.errors import NoticeRunning
from shared.errors import TemplatedError


@pytest.mark.parametrize(
    ("error", "zh", "en"),
    [
        (
            RoundClosed(round_id="2026-Q3"),
            "2026年第三季度的提名已截止",
            "Nominations for 2026-Q3 are closed",
        ),
        (
            RoundNotOpen(round_id="2026-11"),
            "2026年11月尚未开放提名",
            "Round 2026-11 is not open for nominations",
        ),
        (
            RoundExists(round_id="2027-Q1"),
            "2027年第一季度已开放过",
            "Round 2027-Q1 has already been opened",
        ),
        (
            RoundClosed(round_id="not-a-round"),
            "not-a-round的提名已截止",
            "Nominations for not-a-round are closed",
        ),
        (
            DeadlinePassed(round_id="2026-Q4", deadline_local="2026-12-25 23:59:59"),
            "2026年第四季度的提名截止时间（2026年12月25日 23:59）已过",
            "The nomination deadline of 2026-Q4 (2026-12-25 23:59:59) has passed",
        ),
        (
            NoticeRunning(ends_at="2026-12-10T23:59:59.999999+08:00"),
            "公示期尚未结束（至2026年12月10日 24:00）。",
            "The public notice is still running (until 2026-12-10T23:59:59.999999+08:00).",
        ),
    ],
)
def test_chinese_words_english_and_details_unchanged(
    error: TemplatedError, zh: str, en: str
) -> None:
    assert (error.message_zh, error.message_en) == (zh, en)
    assert "round_zh" not in error.details
    assert "ends_at_zh" not in error.details
    assert "deadline_zh" not in error.details
