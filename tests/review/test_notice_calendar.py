"""A notice in a year the official holiday schedule does not know: settings fill in, a warning.

Round 2027-Q1, announced on Monday 2027-03-01. `chinese-calendar` 1.11 knows 2004–2026 only,
so weekends count as rest days and the configured extra holiday (Wednesday 03-03) too:
the five working days are 03-02, 03-04, 03-05, 03-08 and 03-09.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest
from structlog.testing import capture_logs

from shared.clock import SHANGHAI
from shared.contracts.common import Category
from shared.settings import Settings
from tests.review.conftest import Stack, append_nominations, close_nominations, submitted
from tests.support import eventually

pytestmark = pytest.mark.integration

ROUND = "2027-Q1"
OFFICE: dict[str, Any] = {"actor": "office-1", "roles": ["office"]}


@pytest.fixture
def review_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"calendar_extra_holidays": ["2027-03-03"]})


async def test_a_notice_beyond_the_known_calendar_uses_configured_holidays_and_warns(
    stack: Stack,
) -> None:
    stack.clock.set(datetime(2027, 3, 1, 10, tzinfo=SHANGHAI))
    nomination = submitted(ROUND, Category.DEDICATION, "E100", "U07", nomination_id=uuid4())
    await append_nominations(stack.nomination, [nomination])

    async def arrived() -> bool:
        return len(await stack.query("pending_audits", round_id=ROUND)) == 1

    await eventually(arrived, timeout=15, what="the candidate")
    target = str(nomination.nomination_id)
    await stack.command("accept", round_id=ROUND, **OFFICE, nomination_id=target)
    for n, department in enumerate(("finance", "union", "party_mass")):
        await stack.command(
            "assign_panelist",
            round_id=ROUND,
            **OFFICE,
            panelist_id=f"p-{n}",
            employee_no=f"E90{n}",
            name=f"评委{n}",
            department=department,
        )
        await stack.command(
            "submit_score",
            round_id=ROUND,
            actor=f"p-{n}",
            nomination_id=target,
            criteria={
                "achievements": "88",
                "exemplary_role": "80",
                "innovation": "70",
                "recognition": "90.5",
            },
        )
    await close_nominations(stack, ROUND)
    await stack.command(
        "decide_winners",
        round_id=ROUND,
        actor="leader-1",
        roles=["leader"],
        category="dedication",
        winners=[target],
    )
    with capture_logs() as logs:
        reply = await stack.command("start_notice", round_id=ROUND, **OFFICE)

    assert reply["notice"]["calendar_fallback_years"] == [2027]
    assert reply["notice"]["ends_at"] == "2027-03-09T23:59:59.999999+08:00"
    warnings = [e for e in logs if e["event"] == "notice_calendar_fallback"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["years"] == [2027]
    [notice] = await stack.query("notices", round_id=ROUND)
    assert notice["calendar_fallback_years"] == [2027]
    assert notice["last_day"] == "2027-03-09"
