"""The one outcome a unit sees of its nomination, from the nomination's status and the review."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.outcome import OUTCOME_LABELS, nomination_outcome, with_outcomes


def review(audit: str = "accepted", **flags: bool) -> dict[str, Any]:
    return {"audit": audit, "rejection_reason": None, **flags}


@pytest.mark.parametrize(
    ("status", "candidate", "outcome"),
    [
        ("withdrawn", None, "withdrawn"),
        ("withdrawn", review("rejected"), "withdrawn"),
        ("submitted", None, "pending"),
        ("closed", review("pending"), "pending"),
        ("closed", review("rejected"), "rejected"),
        ("closed", review(), "in_review"),
        ("closed", review(decided=True), "in_review"),  # decided, not yet announced
        ("closed", review(decided=True, winner=True), "in_review"),
        ("closed", review(decided=True, announced=True), "not_selected"),
        ("closed", review(decided=True, winner=True, announced=True), "on_notice"),
        ("closed", review(decided=True, winner=True, announced=True, published=True), "awarded"),
        ("closed", review(decided=True, announced=True, published=True), "not_selected"),
        ("closed", review(published=True), "not_selected"),  # its category was never decided
        (
            "closed",
            review(decided=True, winner=True, announced=True, published=True, revoked=True),
            "revoked",
        ),
    ],
)
def test_a_unit_sees_one_outcome_of_its_nomination(
    status: str, candidate: dict[str, Any] | None, outcome: str
) -> None:
    assert nomination_outcome(status, candidate) == outcome


def test_every_outcome_has_plain_chinese() -> None:
    assert {zh for zh, _ in OUTCOME_LABELS.values()} == {
        "已撤回",
        "待审核",
        "已驳回",
        "评审中",
        "未入选",
        "拟表彰（公示中）",
        "已表彰",
        "已撤销",
    }


def test_only_a_rejection_carries_the_offices_reason() -> None:
    nominations: list[dict[str, Any]] = [
        {"nomination_id": "a", "status": "closed"},
        {"nomination_id": "b", "status": "closed"},
    ]
    candidates: list[dict[str, Any]] = [
        {"nomination_id": "a", "audit": "rejected", "rejection_reason": "事迹不实"},
        {"nomination_id": "b", "audit": "accepted", "rejection_reason": None},
    ]
    a, b = with_outcomes(nominations, candidates)
    assert (a["outcome"], a["rejection_reason"]) == ("rejected", "事迹不实")
    assert (b["outcome"], b["rejection_reason"]) == ("in_review", None)
