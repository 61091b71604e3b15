"""/api/v1/review: audit, panel, scores, veto, ranking, decisions, notice, objections, results."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.gateway import review as rv
from services.gateway.auth import Principal
from services.gateway.commands import body
from services.gateway.deps import allow, api_csrf
from services.gateway.state import gw_state, services
from shared.contracts import review_commands as rc
from shared.contracts.common import Category

router = APIRouter(prefix="/api/v1/review", tags=["review"], dependencies=[Depends(api_csrf)])

# What the path names, left out of the request bodies.
ON_ROUND = ("round_id",)
ON_NOMINATION = ("round_id", "nomination_id")
ON_OBJECTION = ("round_id", "objection_no")


class Out(BaseModel):
    """The service's answer, passed through (fields beyond those listed may appear)."""

    model_config = ConfigDict(extra="allow")


class ReviewRoundOut(Out):
    round_id: str
    candidates: int
    published: bool


class SummaryOut(Out):
    round_id: str
    candidates: dict[str, int]
    panel: dict[str, Any]
    categories: list[dict[str, Any]]
    open_objections: int
    published: bool
    publishable: bool
    publish_blocker: dict[str, Any] | None


class CandidateOut(Out):
    nomination_id: uuid.UUID
    round_id: str
    category: Category
    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    status: str
    audit: str
    rejection_reason: str | None
    veto_reason: str | None


class PanelistOut(Out):
    panelist_id: str
    employee_no: str
    name: str
    department: str
    unit_code: str | None
    active: bool


class PanelistProgressOut(PanelistOut):
    scored: int
    waiting: int
    reminded_at: str | None = None
    reminded_by: str | None = None
    reminders: int = 0


class PanelistAccountOut(BaseModel):
    user_id: uuid.UUID
    display_name: str
    department: str | None
    unit_code: str | None
    employee_no: str | None


class ScoringSheetOut(Out):
    panelist_id: str
    rubric: dict[str, str]
    rubrics: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Each flower's rubric (its own where set, else the shared one); every "
        "entry also carries its `rubric`, `evidence` and the unit's `recommendation`",
    )
    pending: list[dict[str, Any]]
    scored: list[dict[str, Any]]


class ScoresOut(Out):
    round_id: str
    nomination_id: uuid.UUID
    visible: bool
    hidden_reason: str | None
    scores: list[dict[str, Any]]


class CategoryRankingOut(Out):
    category: Category
    frozen: bool
    hidden_reason: str | None
    method: dict[str, Any]
    entries: list[dict[str, Any]]
    decision: dict[str, Any] | None
    winners: list[str]
    removed: list[str]


class NoticeOut(Out):
    round_id: str
    notice_no: int
    categories: list[dict[str, Any]]
    winners: list[dict[str, Any]]
    starts_at: str
    ends_at: str
    status: str
    seconds_left: int


class ObjectionOut(Out):
    """`raiser_name` and `raised_by` are shown to the office only."""

    round_id: str
    objection_no: int
    nomination_id: uuid.UUID
    category: Category
    text: str
    status: str
    notes: list[dict[str, Any]]
    resolution: str | None
    mine: bool


class ResultOut(Out):
    round_id: str
    published: bool


class CommandOut(Out):
    round_id: str
    events: list[str]
    position: int | None


Office = Annotated[Principal, Depends(allow(*rv.AUDITORS))]
Leader = Annotated[Principal, Depends(allow(*rv.DECIDERS))]
Reader = Annotated[Principal, Depends(allow(*rv.REVIEW_READERS))]
Anyone = Annotated[Principal, Depends(allow(*rv.EVERYONE))]


@router.get("/rounds", response_model=list[ReviewRoundOut])
async def list_rounds(request: Request, principal: Anyone) -> Any:
    """The rounds under review, newest first, with their candidate count and whether published."""
    return await rv.rounds(services(request, principal))


@router.get("/rounds/{round_id}/summary", response_model=SummaryOut)
async def get_summary(request: Request, round_id: str, principal: Reader) -> Any:
    """Where the round's review stands per category, and what (if anything) blocks publishing."""
    return await rv.summary(services(request, principal), round_id)


@router.get("/rounds/{round_id}/candidates", response_model=list[CandidateOut])
async def list_candidates(
    request: Request,
    round_id: str,
    principal: Annotated[Principal, Depends(allow(*rv.CANDIDATE_READERS))],
    category: Category | None = None,
    audit: Annotated[str | None, Query(pattern="^(pending|accepted|rejected)$")] = None,
    unit_code: str | None = None,
) -> Any:
    """The round's nominations with their audit and veto (a nominator: their own unit's only)."""
    return await rv.candidates(
        services(request, principal),
        principal,
        round_id,
        category=category.value if category else None,
        audit=audit,
        unit_code=unit_code,
    )


@router.get("/audits/pending", response_model=list[CandidateOut])
async def list_pending_audits(
    request: Request, principal: Office, round_id: str | None = None
) -> Any:
    """Nominations waiting for the eligibility audit (every round, or one)."""
    return await rv.pending_audits(services(request, principal), round_id)


@router.post("/rounds/{round_id}/nominations/{nomination_id}/accept", response_model=CommandOut)
async def accept_nomination(
    request: Request, round_id: str, nomination_id: uuid.UUID, principal: Office
) -> Any:
    """Accept a nomination in the eligibility audit."""
    return await services(request, principal).command(
        rv.SERVICE, "accept", rc.AcceptNomination, round_id=round_id, nomination_id=nomination_id
    )


@router.post("/rounds/{round_id}/nominations/{nomination_id}/reject", response_model=CommandOut)
async def reject_nomination(
    request: Request,
    round_id: str,
    nomination_id: uuid.UUID,
    fields: Annotated[dict[str, Any], Depends(body(rc.RejectNomination, omit=ON_NOMINATION))],
    principal: Office,
) -> Any:
    """Reject a nomination, with a reason the unit sees."""
    return await services(request, principal).command(
        rv.SERVICE,
        "reject",
        rc.RejectNomination,
        round_id=round_id,
        nomination_id=nomination_id,
        **fields,
    )


@router.get("/rounds/{round_id}/panel", response_model=list[PanelistOut])
async def get_panel(request: Request, round_id: str, principal: Reader) -> Any:
    """The round's panelists with their departments (removed ones marked inactive)."""
    return await rv.panel(services(request, principal), round_id)


@router.get("/panelist-accounts", response_model=list[PanelistAccountOut])
async def list_panelist_accounts(request: Request, principal: Office) -> Any:
    """Accounts holding the panelist role: whom the office may put on a panel."""
    return [
        PanelistAccountOut(
            user_id=u.user_id,
            display_name=u.display_name,
            department=u.department,
            unit_code=u.unit_code,
            employee_no=u.employee_no,
        )
        for u in await rv.eligible_panelists(gw_state(request).accounts)
    ]


@router.post("/rounds/{round_id}/panel", response_model=CommandOut, status_code=201)
async def assign_panelist(
    request: Request, round_id: str, body: rv.AssignPanelistIn, principal: Office
) -> Any:
    """Put a panelist account on the round's panel (department and unit from the account)."""
    panelist = await rv.panelist_fields(gw_state(request).accounts, body.user_id, body.employee_no)
    return await services(request, principal).command(
        rv.SERVICE, "assign_panelist", rc.AssignPanelist, round_id=round_id, **panelist
    )


@router.get("/rounds/{round_id}/panel/progress", response_model=list[PanelistProgressOut])
async def panel_progress(request: Request, round_id: str, principal: Office) -> Any:
    """Each active panelist's scoring: how many scored, how many still wait, the last reminder."""
    svc = services(request, principal)
    progress = []
    for m in await rv.panel(svc, round_id):
        if not m["active"]:
            continue
        sheet = await svc.query(
            rv.SERVICE, "pending_scores", {"panelist_id": m["panelist_id"], "round_id": round_id}
        )
        progress.append(
            {
                **m,
                "scored": len(sheet["scored"]),
                "waiting": len(sheet["pending"]),
            }
        )
    return progress


@router.post("/rounds/{round_id}/panel/{panelist_id}/remind", response_model=CommandOut)
async def remind_panelist(
    request: Request, round_id: str, panelist_id: str, principal: Office
) -> Any:
    """Remind a panelist of what still waits for their score (recorded: PanelistReminded)."""
    return await services(request, principal).command(
        rv.SERVICE, "remind_panelist", rc.RemindPanelist, round_id=round_id, panelist_id=panelist_id
    )


@router.post("/rounds/{round_id}/panel/{panelist_id}/remove", response_model=CommandOut)
async def remove_panelist(
    request: Request,
    round_id: str,
    panelist_id: str,
    fields: Annotated[
        dict[str, Any], Depends(body(rc.RemovePanelist, omit=("round_id", "panelist_id")))
    ],
    principal: Office,
) -> Any:
    """Take a panelist off the round's panel, with a reason (their scores stop counting)."""
    return await services(request, principal).command(
        rv.SERVICE,
        "remove_panelist",
        rc.RemovePanelist,
        round_id=round_id,
        panelist_id=panelist_id,
        **fields,
    )


@router.get("/scoring", response_model=ScoringSheetOut)
async def my_scoring_sheet(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*rv.SCORERS))],
    round_id: str | None = None,
) -> Any:
    """The signed-in panelist's nominations to score (never a conflicted one) and own sheets."""
    return await rv.scoring_sheet(services(request, principal), principal, round_id)


@router.put("/rounds/{round_id}/nominations/{nomination_id}/score", response_model=CommandOut)
async def submit_score(
    request: Request,
    round_id: str,
    nomination_id: uuid.UUID,
    fields: Annotated[dict[str, Any], Depends(body(rc.SubmitScore, omit=ON_NOMINATION))],
    principal: Annotated[Principal, Depends(allow(*rv.SCORERS))],
) -> Any:
    """Submit or revise the signed-in panelist's score sheet (until the category is decided)."""
    svc = services(request, principal)
    await rv.require_scorable(svc, principal, round_id, nomination_id)
    return await svc.command(
        rv.SERVICE,
        "submit_score",
        rc.SubmitScore,
        round_id=round_id,
        nomination_id=nomination_id,
        **fields,
    )


@router.get("/rounds/{round_id}/nominations/{nomination_id}/scores", response_model=ScoresOut)
async def get_scores(
    request: Request,
    round_id: str,
    nomination_id: uuid.UUID,
    principal: Annotated[Principal, Depends(allow(*rv.SCORE_READERS))],
) -> Any:
    """A nomination's scores: a panelist sees them only after scoring it themselves."""
    return await rv.visible_scores(services(request, principal), principal, round_id, nomination_id)


@router.post("/rounds/{round_id}/nominations/{nomination_id}/veto", response_model=CommandOut)
async def veto_nomination(
    request: Request,
    round_id: str,
    nomination_id: uuid.UUID,
    fields: Annotated[dict[str, Any], Depends(body(rc.VetoNomination, omit=ON_NOMINATION))],
    principal: Annotated[Principal, Depends(allow(*rv.VETOERS))],
) -> Any:
    """Discipline inspection's veto (一票否决), with a reason: the nomination cannot win."""
    return await services(request, principal).command(
        rv.SERVICE,
        "veto",
        rc.VetoNomination,
        round_id=round_id,
        nomination_id=nomination_id,
        **fields,
    )


@router.get("/rounds/{round_id}/ranking", response_model=list[CategoryRankingOut])
async def get_ranking(
    request: Request,
    round_id: str,
    principal: Annotated[Principal, Depends(allow(*rv.OVERSEERS))],
    category: Category | None = None,
) -> Any:
    """Per category: the ranking, every raw score, the method, and the decision."""
    return await rv.ranking(
        services(request, principal), principal, round_id, category.value if category else None
    )


@router.post("/rounds/{round_id}/decisions", response_model=CommandOut, status_code=201)
async def decide_winners(
    request: Request,
    round_id: str,
    fields: Annotated[dict[str, Any], Depends(body(rc.DecideWinners, omit=ON_ROUND))],
    principal: Leader,
) -> Any:
    """Decide a category's winners; a choice off the ranking's order needs a reason."""
    return await services(request, principal).command(
        rv.SERVICE, "decide_winners", rc.DecideWinners, round_id=round_id, **fields
    )


@router.post("/rounds/{round_id}/replacements", response_model=CommandOut, status_code=201)
async def name_replacement(
    request: Request,
    round_id: str,
    fields: Annotated[dict[str, Any], Depends(body(rc.NameReplacement, omit=ON_ROUND))],
    principal: Leader,
) -> Any:
    """Fill a place left by an upheld objection; a new notice starts for that category."""
    return await services(request, principal).command(
        rv.SERVICE, "name_replacement", rc.NameReplacement, round_id=round_id, **fields
    )


@router.post("/rounds/{round_id}/nominations/{nomination_id}/revoke", response_model=CommandOut)
async def revoke_winner(
    request: Request,
    round_id: str,
    nomination_id: uuid.UUID,
    fields: Annotated[dict[str, Any], Depends(body(rc.RevokeWinner, omit=ON_NOMINATION))],
    principal: Leader,
) -> Any:
    """Revoke a published winner's award (misconduct found later), with a reason."""
    return await services(request, principal).command(
        rv.SERVICE,
        "revoke_winner",
        rc.RevokeWinner,
        round_id=round_id,
        nomination_id=nomination_id,
        **fields,
    )


@router.post("/rounds/{round_id}/notices", response_model=CommandOut, status_code=201)
async def start_notice(
    request: Request,
    round_id: str,
    principal: Office,
    fields: Annotated[dict[str, Any], Depends(body(rc.StartNotice, omit=ON_ROUND, required=False))],
) -> Any:
    """Start the public notice (公示) of the decided categories not yet announced."""
    return await services(request, principal).command(
        rv.SERVICE, "start_notice", rc.StartNotice, round_id=round_id, **fields
    )


@router.get("/rounds/{round_id}/notices", response_model=list[NoticeOut])
async def list_notices(request: Request, round_id: str, principal: Anyone) -> Any:
    """The round's public notices: winners, when each ends, whether it is running."""
    return await rv.notices(services(request, principal), round_id)


@router.get("/rounds/{round_id}/objections", response_model=list[ObjectionOut])
async def list_objections(
    request: Request,
    round_id: str,
    principal: Anyone,
    status: Annotated[str | None, Query(pattern="^(open|dismissed|upheld)$")] = None,
) -> Any:
    """Objections: the office sees all with who raised them; the leader, discipline inspection
    and the auditor all without; anyone else their own."""
    return await rv.objections(services(request, principal), principal, round_id, status=status)


@router.post("/rounds/{round_id}/objections", response_model=CommandOut, status_code=201)
async def raise_objection(
    request: Request,
    round_id: str,
    fields: Annotated[
        dict[str, Any], Depends(body(rc.RaiseObjection, omit=("round_id", "raiser_name")))
    ],
    principal: Anyone,
) -> Any:
    """Object to a winner during the notice, under the account's real name."""
    return await services(request, principal).command(
        rv.SERVICE,
        "raise_objection",
        rc.RaiseObjection,
        round_id=round_id,
        raiser_name=principal.user.display_name,
        **fields,
    )


@router.post("/rounds/{round_id}/objections/{objection_no}/notes", response_model=CommandOut)
async def record_objection_note(
    request: Request,
    round_id: str,
    objection_no: int,
    fields: Annotated[dict[str, Any], Depends(body(rc.RecordObjectionNote, omit=ON_OBJECTION))],
    principal: Office,
) -> Any:
    """Record an investigation note on an open objection."""
    return await services(request, principal).command(
        rv.SERVICE,
        "record_objection_note",
        rc.RecordObjectionNote,
        round_id=round_id,
        objection_no=objection_no,
        **fields,
    )


@router.post("/rounds/{round_id}/objections/{objection_no}/resolve", response_model=CommandOut)
async def resolve_objection(
    request: Request,
    round_id: str,
    objection_no: int,
    fields: Annotated[dict[str, Any], Depends(body(rc.ResolveObjection, omit=ON_OBJECTION))],
    principal: Office,
) -> Any:
    """Dismiss an objection, or uphold it (the winner comes off the list)."""
    return await services(request, principal).command(
        rv.SERVICE,
        "resolve_objection",
        rc.ResolveObjection,
        round_id=round_id,
        objection_no=objection_no,
        **fields,
    )


@router.post("/rounds/{round_id}/publish", response_model=CommandOut)
async def publish_result(request: Request, round_id: str, principal: Office) -> Any:
    """Publish the round's result: every notice ended, no objection open."""
    return await services(request, principal).command(
        rv.SERVICE, "publish_result", rc.PublishResult, round_id=round_id
    )


@router.get("/rounds/{round_id}/result", response_model=ResultOut)
async def get_result(request: Request, round_id: str, principal: Anyone) -> Any:
    """The round's published result (winners, scores) and later revocations."""
    return await rv.result(services(request, principal), round_id)


@router.get("/results", response_model=list[ResultOut])
async def list_results(request: Request, principal: Anyone) -> Any:
    """Every published result, newest round first: the review's honor roll."""
    return await rv.published_results(services(request, principal))
