"""What a unit is told of its nomination: one outcome, from the nomination and the review."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from services.gateway.i18n import Text

Outcome = Literal[
    "withdrawn",
    "pending",
    "rejected",
    "in_review",
    "not_selected",
    "on_notice",
    "awarded",
    "revoked",
]

OUTCOME_LABELS: dict[str, Text] = {
    "withdrawn": ("已撤回", "Withdrawn"),
    "pending": ("待审核", "Awaiting audit"),
    "rejected": ("已驳回", "Rejected"),
    "in_review": ("评审中", "Under evaluation"),
    "not_selected": ("未入选", "Not selected"),
    "on_notice": ("拟表彰（公示中）", "Proposed (public notice)"),
    "awarded": ("已表彰", "Awarded"),
    "revoked": ("已撤销", "Revoked"),
}


def nomination_outcome(status: str, candidate: Mapping[str, Any] | None) -> Outcome:
    """The one outcome a unit sees: `status` is the nomination service's, `candidate` the
    review's row for it (None until the review has heard of it).

    A decision is shown only once its category's notice has started, and a veto only as
    "not selected" once the category is decided: the unit learns results, not deliberations.
    """
    if status == "withdrawn":
        return "withdrawn"
    if candidate is None or candidate.get("audit", "pending") == "pending":
        return "pending"
    if candidate["audit"] == "rejected":
        return "rejected"
    if candidate.get("revoked"):
        return "revoked"
    if candidate.get("winner") and candidate.get("published"):
        return "awarded"
    if candidate.get("winner") and candidate.get("announced"):
        return "on_notice"
    if candidate.get("published") or (candidate.get("decided") and candidate.get("announced")):
        return "not_selected"
    return "in_review"


def with_outcomes(
    nominations: list[dict[str, Any]], candidates: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each nomination with its `outcome` and, when rejected, the office's `rejection_reason`."""
    by_id = {str(c["nomination_id"]): c for c in candidates}
    result = []
    for n in nominations:
        c = by_id.get(str(n["nomination_id"]))
        outcome = nomination_outcome(n["status"], c)
        reason = c.get("rejection_reason") if c is not None and outcome == "rejected" else None
        result.append({**n, "outcome": outcome, "rejection_reason": reason})
    return result
