"""The gateway's side of the review service: request shapes, who may do what, and the checks
made here before a command leaves the gateway.

Pages and the API both call these functions. The route checks the role (`allow(...)`); the
functions below add what only the gateway knows — the signed-in user as the viewer of every
query that trusts its viewer, the panelist's own sheet before a score is sent, the objector's
real name from the account, the raisers' identities kept to the office — and the review
service checks every rule again. Commands are the contract's
(shared/contracts/review_commands.py), built by the routes.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.gateway import nomination as nom
from services.gateway.accounts import (
    AUDITOR,
    DISCIPLINE,
    LEADER,
    NOMINATOR,
    OFFICE,
    PANELIST,
    AccountStore,
    User,
)
from services.gateway.auth import Principal
from services.gateway.problems import Problem
from services.gateway.state import Services

SERVICE = "review"

# Who may do what (the review service checks its own rules again).
AUDITORS = (OFFICE,)  # eligibility audit, the panel, the notice, objections, publishing
SCORERS = (PANELIST,)
VETOERS = (DISCIPLINE,)
DECIDERS = (LEADER,)  # decisions, replacements, revocations
OVERSEERS = (OFFICE, LEADER, DISCIPLINE)  # the ranking and everyone's scores
REVIEW_READERS = (OFFICE, LEADER, DISCIPLINE, AUDITOR)  # summary, panel, all objections
CANDIDATE_READERS = (*REVIEW_READERS, NOMINATOR)  # a nominator: their own unit's only
SCORE_READERS = (*OVERSEERS, PANELIST)  # a panelist: only after their own score
EVERYONE = ("*",)  # the public notice, objections (real name), the published results
IDENTITY_READERS = frozenset({OFFICE})  # who raised an objection: the office only
OBJECTOR_FIELDS = ("raised_by", "raiser_subject", "raiser_name")  # objection and event

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class AssignPanelistIn(BaseModel):
    """The API's body for putting an account on the panel (the command is built from it)."""

    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID = Field(description="A gateway account holding the panelist role")
    employee_no: Code | None = Field(
        default=None,
        description="The panelist's employee number, when the account has none recorded "
        "(it keeps them from scoring their own nomination)",
    )


def not_scorable(nomination_id: uuid.UUID | str) -> Problem:
    return Problem(
        403,
        "not_scorable",
        (
            "该推荐不在您的待评分范围内：存在利益冲突、未通过资格审核、已被否决、"
            "排名已冻结，或您不是本轮评审组成员。",
            "This nomination is not yours to score: a conflict of interest, not accepted in "
            "the audit, vetoed, its ranking frozen, or you are not on this round's panel.",
        ),
        nomination_id=str(nomination_id),
    )


# --- Queries ----------------------------------------------------------------------------------


async def rounds(svc: Services) -> list[dict[str, Any]]:
    """The rounds the review knows, newest first, with whether each is published."""
    result: list[dict[str, Any]] = await svc.query(SERVICE, "rounds", {})
    return result


def pick_round(known: list[dict[str, Any]], requested: str | None) -> str | None:
    """The round a page shows: the one asked for, else the newest not yet published."""
    ids = [r["round_id"] for r in known]
    if requested:
        return requested if requested in ids else None
    unpublished = [r["round_id"] for r in known if not r.get("published")]
    return unpublished[0] if unpublished else (ids[0] if ids else None)


async def summary(svc: Services, round_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await svc.query(SERVICE, "summary", {"round_id": round_id})
    return result


async def candidates(
    svc: Services,
    principal: Principal,
    round_id: str,
    *,
    category: str | None = None,
    audit: str | None = None,
    unit_code: str | None = None,
) -> list[dict[str, Any]]:
    """A round's nominations with their audit; a nominator sees their own unit's only."""
    result: list[dict[str, Any]] = await svc.query(
        SERVICE,
        "candidates",
        {
            "round_id": round_id,
            "category": category,
            "audit": audit,
            "unit_code": nom.unit_scope(principal, unit_code),
        },
    )
    return result


async def pending_audits(svc: Services, round_id: str | None = None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.query(
        SERVICE, "pending_audits", {"round_id": round_id}
    )
    return result


async def panel(svc: Services, round_id: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.query(SERVICE, "panel", {"round_id": round_id})
    return result


async def eligible_panelists(accounts: AccountStore) -> list[User]:
    """Active accounts holding the panelist role (the office chooses the panel from these)."""
    return [u for u in await accounts.list_users() if u.active and PANELIST in u.roles]


async def scoring_sheet(
    svc: Services, principal: Principal, round_id: str | None = None
) -> dict[str, Any]:
    """What the signed-in panelist may still score, and their own sheets (never anyone else's)."""
    result: dict[str, Any] = await svc.query(
        SERVICE, "pending_scores", {"panelist_id": principal.user_id, "round_id": round_id}
    )
    return result


def scorable_item(sheet: dict[str, Any], nomination_id: uuid.UUID | str) -> dict[str, Any] | None:
    """The sheet's entry for a nomination the panelist may score or still revise, else None."""
    wanted = str(nomination_id)
    for item in sheet.get("pending", []):
        if item["nomination_id"] == wanted:
            return dict(item)
    for item in sheet.get("scored", []):
        if item["nomination_id"] == wanted and item.get("revisable"):
            return dict(item)
    return None


def own_sheet(sheet: dict[str, Any], nomination_id: uuid.UUID | str) -> dict[str, Any] | None:
    """The panelist's own scored entry for a nomination (revisable or frozen), else None."""
    wanted = str(nomination_id)
    return next((dict(i) for i in sheet.get("scored", []) if i["nomination_id"] == wanted), None)


async def visible_scores(
    svc: Services, principal: Principal, round_id: str, nomination_id: uuid.UUID
) -> dict[str, Any]:
    """The scores the signed-in user may see: the viewer is always the user, never the request."""
    result: dict[str, Any] = await svc.query(
        SERVICE,
        "scores",
        {
            "round_id": round_id,
            "nomination_id": str(nomination_id),
            "viewer": principal.user_id,
            "viewer_roles": sorted(principal.roles),
        },
    )
    return result


async def ranking(
    svc: Services, principal: Principal, round_id: str, category: str | None = None
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.query(
        SERVICE,
        "ranking",
        {
            "round_id": round_id,
            "category": category,
            "viewer": principal.user_id,
            "viewer_roles": sorted(principal.roles),
        },
    )
    return result


async def notices(svc: Services, round_id: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.query(SERVICE, "notices", {"round_id": round_id})
    return result


async def running_notices(svc: Services) -> list[dict[str, Any]]:
    """Every public notice running now, in every round not yet published (newest first)."""
    running: list[dict[str, Any]] = []
    for round_ in await rounds(svc):
        if round_.get("published"):
            continue
        found = [n for n in await notices(svc, round_["round_id"]) if n["status"] == "running"]
        if not found:
            continue
        # A winner removed after an upheld objection stays in the notice as it was announced,
        # marked: only those still on the list can be objected to.
        current = {
            w["nomination_id"]
            for c in (await summary(svc, round_["round_id"]))["categories"]
            for w in c["winners"]
        }
        running += [
            {
                **n,
                "winners": [
                    {**w, "removed": w["nomination_id"] not in current} for w in n["winners"]
                ],
            }
            for n in found
        ]
    return running


def sees_objectors(principal: Principal) -> bool:
    """Whether this user may know who raised an objection (here and in the audit's log)."""
    return bool(principal.roles & IDENTITY_READERS)


def without_objector(item: dict[str, Any]) -> dict[str, Any]:
    """An objection (or ObjectionRaised's data) without who raised it."""
    return {k: v for k, v in item.items() if k not in OBJECTOR_FIELDS}


def objection_view(principal: Principal, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objections as this user may see them.

    The office sees everything. The leader, discipline inspection and the auditor see every
    objection without who raised it. Anyone else sees only their own.
    """
    me = principal.user_id
    if sees_objectors(principal):
        return [{**o, "mine": o.get("raised_by") == me} for o in items]
    if principal.has(*REVIEW_READERS):
        return [{**without_objector(o), "mine": o.get("raised_by") == me} for o in items]
    return [{**o, "mine": True} for o in items if o.get("raised_by") == me]


async def objections(
    svc: Services,
    principal: Principal,
    round_id: str,
    *,
    status: str | None = None,
    nomination_id: uuid.UUID | None = None,
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = await svc.query(
        SERVICE,
        "objections",
        {
            "round_id": round_id,
            "status": status,
            "nomination_id": str(nomination_id) if nomination_id else None,
        },
    )
    return objection_view(principal, items)


async def result(svc: Services, round_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await svc.query(SERVICE, "result", {"round_id": round_id})
    return found


async def published_results(svc: Services) -> list[dict[str, Any]]:
    """Every published result (the honor roll of the review), newest round first."""
    return [await result(svc, r["round_id"]) for r in await rounds(svc) if r.get("published")]


# --- Checks made here before a command leaves -------------------------------------------------


async def panelist_fields(
    accounts: AccountStore, user_id: uuid.UUID | str, employee_no: str | None
) -> dict[str, Any]:
    """The fields of AssignPanelist for a panelist account: department and unit from it."""
    user = await accounts.get(uuid.UUID(str(user_id)))
    if user is None or not user.active or PANELIST not in user.roles:
        raise Problem(
            422,
            "not_a_panelist_account",
            (
                "只能指定持有“评审专家”角色的有效账户。",
                "Only an active account holding the panelist role can be put on the panel.",
            ),
            user_id=str(user_id),
        )
    if not user.department:
        raise Problem(
            422,
            "department_required",
            (
                "该评审专家账户未登记所在部门，请系统管理员补充后再指定。",
                "The panelist's account has no department; an administrator must set it first.",
            ),
            user_id=str(user.user_id),
        )
    if user.employee_no and employee_no and employee_no != user.employee_no:
        raise Problem(
            422,
            "employee_no_mismatch",
            (
                f"工号与该账户登记的工号（{user.employee_no}）不一致。",
                f"The employee number differs from the account's ({user.employee_no}).",
            ),
        )
    employee_no = user.employee_no or employee_no
    if not employee_no:
        raise Problem(
            422,
            "employee_no_required",
            (
                "该账户未登记工号，请填写评委的工号（用于回避评审本人）。",
                "The account has no employee number; enter the panelist's (it keeps them "
                "from scoring themselves).",
            ),
        )
    return {
        "panelist_id": str(user.user_id),
        "employee_no": employee_no,
        "name": user.display_name,
        "department": user.department,
        "unit_code": user.unit_code,
    }


async def require_scorable(
    svc: Services, principal: Principal, round_id: str, nomination_id: uuid.UUID
) -> None:
    """A score is sent only for a nomination on the panelist's own sheet.

    The gateway asks the review what this panelist may score and refuses anything else — a
    conflicted nomination is never on that list — before the service checks again.
    """
    sheet = await scoring_sheet(svc, principal, round_id)
    if scorable_item(sheet, nomination_id) is None:
        raise not_scorable(nomination_id)
