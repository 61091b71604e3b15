"""Which evidence files the sweep deletes (services/gateway/evidence_sweep.py
`files_to_delete`): a rule table, no servers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.gateway.config import GatewaySettings
from services.gateway.evidence_sweep import files_to_delete
from shared.clock import SHANGHAI

NOW = datetime(2029, 12, 29, 10, 0, tzinfo=SHANGHAI)
GRACE = timedelta(days=7)
A, B = "a" * 64, "b" * 64


@pytest.mark.parametrize(
    ("case", "last_sent", "named", "goes"),
    [
        (
            "a shredded nominee's file, named by nothing, years old",
            NOW - timedelta(days=1100),
            set(),
            True,
        ),
        (
            "a winner's file: their nomination still names it",
            NOW - timedelta(days=1100),
            {A},
            False,
        ),
        ("a file a nominator's draft names", NOW - timedelta(days=30), {A}, False),
        (
            "a fresh upload, its nomination not submitted yet",
            NOW - timedelta(minutes=1),
            set(),
            False,
        ),
        (
            "uploaded a moment before the grace period ends",
            NOW - GRACE + timedelta(seconds=1),
            set(),
            False,
        ),
        ("sent or kept exactly the grace period ago", NOW - GRACE, set(), True),
        (
            "an upload never submitted, past the grace period",
            NOW - GRACE - timedelta(days=1),
            set(),
            True,
        ),
        ("an old file sent again just now by another form", NOW, set(), False),
        ("named, and sent just now", NOW, {A}, False),
    ],
)
def test_which_files_go(case: str, last_sent: datetime, named: set[str], goes: bool) -> None:
    assert files_to_delete({A: last_sent}, named, NOW, GRACE) == ([A] if goes else []), case


def test_other_names_do_not_protect_a_file_and_the_answer_is_in_digest_order() -> None:
    old = NOW - timedelta(days=400)
    assert files_to_delete({B: old, A: old}, {"c" * 64}, NOW, GRACE) == [A, B]
    assert files_to_delete({B: old, A: old}, {B}, NOW, GRACE) == [A]


def test_with_no_grace_period_every_unnamed_file_goes() -> None:
    assert files_to_delete({A: NOW, B: NOW}, {B}, NOW, timedelta(0)) == [A]


def test_the_sweep_defaults_to_a_week_of_grace_and_an_hourly_sweep() -> None:
    defaults = GatewaySettings()
    assert defaults.evidence_sweep_grace_s == 7 * 24 * 3600
    assert defaults.evidence_sweep_interval_s == 3600
