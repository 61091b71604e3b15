"""The read side of the review: plain JSON for the gateway.

Lists come from the projection tables; answers that apply a review rule (who may see which
score, what a panelist may still score, the ranking, what blocks publication) are computed
from the round's folded state with the domain's own functions, so no rule is written twice.
Times are ISO 8601 in Asia/Shanghai; scores are decimal strings; ids are strings.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict

from services.review import domain
from services.review.domain import (
    OVERSEERS,
    ReviewPolicy,
    ReviewState,
    conflict_of_interest,
    current_ranking,
    visible_scores,
)
from services.review.errors import NotPermitted, ReviewError
from shared.clock import SHANGHAI
from shared.contracts.common import Category
from shared.contracts.review import registry, review_stream_id
from shared.contracts.review_commands import PublishResult
from shared.contracts.subject_access import EmployeeData, Rows, check_office, plain_rows
from shared.postgres import PostgresEventStore
from shared.reaction import StateCache, current_state
from shared.rounds import RoundId, RoundPeriod


class Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ListRounds(Query):
    pass


class ListCandidates(Query):
    round_id: RoundId
    category: Category | None = None
    unit_code: str | None = None  # a unit's own view: its nominations and their audit
    audit: Literal["pending", "accepted", "rejected"] | None = None


class PendingAudits(Query):
    round_id: RoundId | None = None  # None: every round


class PendingScores(Query):
    panelist_id: str
    round_id: RoundId | None = None  # None: every round the panelist sits on
    viewer: str = ""  # filled from the verified identity: the panelist or an overseer
    viewer_roles: frozenset[str] = frozenset()


class VisibleScores(Query):
    round_id: RoundId
    nomination_id: uuid.UUID
    viewer: str
    viewer_roles: frozenset[str] = frozenset()


class GetRanking(Query):
    round_id: RoundId
    category: Category | None = None  # None: all five
    viewer: str
    viewer_roles: frozenset[str] = frozenset()


class GetPanel(Query):
    round_id: RoundId


class ListNotices(Query):
    round_id: RoundId


class ListObjections(Query):
    round_id: RoundId
    status: Literal["open", "dismissed", "upheld"] | None = None
    nomination_id: uuid.UUID | None = None


class GetResult(Query):
    round_id: RoundId


class GetSummary(Query):
    round_id: RoundId


# --- JSON -----------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A value as JSON: times in Asia/Shanghai, decimals and ids as strings."""
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Category):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def row_json(row: asyncpg.Record) -> dict[str, Any]:
    return {k: plain(v) for k, v in dict(row).items()}


def category_json(category: Category | str) -> dict[str, str]:
    c = Category(category)
    return {"category": c.value, "label_zh": c.label_zh, "label_en": c.label_en}


def round_label(round_id: str) -> str | None:
    try:
        return RoundPeriod.parse(round_id).label_zh
    except ValueError:
        return None


def nominee_json(state: ReviewState, nomination_id: uuid.UUID) -> dict[str, Any]:
    c = state.candidates.get(nomination_id)
    if c is None:
        return {}
    return {**c.candidate.nominee.model_dump(mode="json"), "category": c.category.value}


def score_json(s: domain.Score, panel: Mapping[str, domain.Panelist]) -> dict[str, Any]:
    panelist = panel.get(s.panelist_id)
    return {
        "panelist_id": s.panelist_id,
        "panelist_name": panelist.name if panelist else None,
        "department": s.department,
        "criteria": plain(dict(s.criteria)),
        "total": str(s.total),
        "revision": s.revision,
        "comment": s.comment,
        "submitted_at": plain(s.submitted_at),
    }


def awaits_score(state: ReviewState, category: Category, viewer: str) -> bool:
    """Whether `viewer`, an active panelist, has yet to score a nomination of `category`."""
    panelist = state.panel.get(viewer)
    if panelist is None or not panelist.active:
        return False
    return any(
        c.in_review
        and c.category == category
        and (c.nomination_id, viewer) not in state.scores
        and conflict_of_interest(panelist, c.candidate) is None
        for c in state.candidates.values()
    )


def _evidence(row: Any) -> list[str]:
    """A candidate row's evidence links (jsonb, decoded or not), none without a row."""
    if row is None:
        return []
    links = row["evidence_links"]
    return list(json.loads(links) if isinstance(links, str) else links)


def refusal(error: ReviewError) -> dict[str, Any]:
    return {"code": error.code, "message_zh": error.message_zh, "message_en": error.message_en}


# --- Queries --------------------------------------------------------------------------------------

_CANDIDATES = """
    SELECT c.nomination_id, c.round_id, c.category, c.employee_no, c.name, c.unit_code,
        c.unit_name, c.position, c.deeds, c.results, c.evidence_links, c.recommendation,
        c.submitted_by, c.submitted_at, c.status, c.updated_at,
        coalesce(a.status, 'pending') AS audit, a.reason AS rejection_reason,
        a.audited_by, a.audited_at, v.reason AS veto_reason, v.vetoed_by,
        EXISTS (SELECT 1 FROM decisions d
                WHERE d.round_id = c.round_id AND d.category = c.category) AS decided,
        EXISTS (SELECT 1 FROM winners w WHERE w.nomination_id = c.nomination_id
                AND w.round_id = c.round_id AND NOT w.removed) AS winner,
        EXISTS (SELECT 1 FROM notices n WHERE n.round_id = c.round_id
                AND n.categories ? c.category) AS announced,
        EXISTS (SELECT 1 FROM results p WHERE p.round_id = c.round_id) AS published,
        EXISTS (SELECT 1 FROM revocations r WHERE r.nomination_id = c.nomination_id) AS revoked
    FROM candidates c
    LEFT JOIN audits a ON a.nomination_id = c.nomination_id
    LEFT JOIN vetoes v ON v.nomination_id = c.nomination_id
"""


class ReviewQueries:
    def __init__(
        self, pool: asyncpg.Pool, policy: ReviewPolicy, states: StateCache | None = None
    ) -> None:
        self.pool = pool
        self.states = states  # the service's cache of folded states (None: fold afresh)
        self.policy = policy

    async def _state(self, round_id: str) -> ReviewState:
        _, state = await current_state(
            PostgresEventStore(self.pool),
            registry,
            review_stream_id(round_id),
            domain.evolve,
            domain.initial_state(round_id),
            cache=self.states,
        )
        return state

    async def rounds(self, _: ListRounds) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            """
            SELECT r.round_id,
                (SELECT count(*) FROM candidates c WHERE c.round_id = r.round_id) AS candidates,
                EXISTS (SELECT 1 FROM results p WHERE p.round_id = r.round_id) AS published
            FROM (SELECT round_id FROM candidates UNION SELECT round_id FROM panelists) r
            ORDER BY r.round_id DESC
            """
        )
        return [{**row_json(r), "label_zh": round_label(r["round_id"])} for r in rows]

    async def candidates(self, q: ListCandidates) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            _CANDIDATES
            + """
            WHERE c.round_id = $1 AND ($2::text IS NULL OR c.category = $2)
              AND ($3::text IS NULL OR coalesce(a.status, 'pending') = $3)
              AND ($4::text IS NULL OR c.unit_code = $4)
            ORDER BY c.category, c.submitted_at, c.nomination_id
            """,
            q.round_id,
            q.category.value if q.category else None,
            q.audit,
            q.unit_code,
        )
        return [row_json(r) for r in rows]

    async def pending_audits(self, q: PendingAudits) -> list[dict[str, Any]]:
        """Nominations the office has still to accept or reject (withdrawn ones need none)."""
        rows = await self.pool.fetch(
            _CANDIDATES
            + """
            WHERE ($1::text IS NULL OR c.round_id = $1) AND a.status IS NULL
              AND c.status <> 'withdrawn'
              AND NOT EXISTS (SELECT 1 FROM results p WHERE p.round_id = c.round_id)
            ORDER BY c.round_id, c.category, c.submitted_at, c.nomination_id
            """,
            q.round_id,
        )
        return [row_json(r) for r in rows]

    async def pending_scores(self, q: PendingScores) -> dict[str, Any]:
        """What a panelist may still score, and their own sheets (revisable until frozen).

        Never a nomination the panelist has a conflict of interest with; not a vetoed one
        (it cannot win), nor one whose category's ranking is frozen. A panelist sees only
        their own sheets; those who oversee the review see anyone's.
        """
        if q.viewer != q.panelist_id and not OVERSEERS & set(q.viewer_roles):
            raise NotPermitted(
                action="see another panelist's sheets",
                action_zh="查看其他评委的评分表",
                roles=sorted(OVERSEERS),
            )
        if q.round_id is not None:
            round_ids = [q.round_id]
        else:
            rows = await self.pool.fetch(
                "SELECT round_id FROM panelists WHERE panelist_id = $1 AND active "
                "ORDER BY round_id",
                q.panelist_id,
            )
            round_ids = [r["round_id"] for r in rows]
        pending: list[dict[str, Any]] = []
        scored: list[dict[str, Any]] = []
        for round_id in round_ids:
            state = await self._state(round_id)
            panelist = state.panel.get(q.panelist_id)
            if panelist is None or not panelist.active or state.published:
                continue
            # What the unit sent beyond the review's own candidate: evidence and its opinion.
            sent = {
                r["nomination_id"]: r
                for r in await self.pool.fetch(
                    "SELECT nomination_id, evidence_links, recommendation FROM candidates "
                    "WHERE round_id = $1",
                    round_id,
                )
            }
            for c in sorted(
                state.candidates.values(),
                key=lambda c: (
                    c.category.value,
                    c.candidate.nominee.unit_code,
                    str(c.nomination_id),
                ),
            ):
                if not c.in_review or conflict_of_interest(panelist, c.candidate) is not None:
                    continue
                frozen = c.category in state.decisions
                own = state.scores.get((c.nomination_id, q.panelist_id))
                item = {
                    "round_id": round_id,
                    "nomination_id": str(c.nomination_id),
                    **category_json(c.category),
                    "nominee": c.candidate.nominee.model_dump(mode="json"),
                    "deeds": c.candidate.deeds,
                    "results": [r.model_dump(mode="json") for r in c.candidate.results],
                    "evidence": _evidence(sent.get(c.nomination_id)),
                    "recommendation": (sent.get(c.nomination_id) or {}).get("recommendation"),
                    "rubric": plain(dict(self.policy.rubric_for(c.category).weights)),
                }
                if own is not None:
                    scored.append(
                        {**item, "score": score_json(own, state.panel), "revisable": not frozen}
                    )
                elif not frozen and not c.vetoed:
                    pending.append(item)
        return {
            "panelist_id": q.panelist_id,
            "rubric": plain(dict(self.policy.rubric.weights)),
            "rubrics": {c.value: plain(dict(self.policy.rubric_for(c).weights)) for c in Category},
            "pending": pending,
            "scored": scored,
        }

    async def visible_scores(self, q: VisibleScores) -> dict[str, Any]:
        """The scores of a nomination the viewer may see: none before their own (no anchoring)."""
        state = await self._state(q.round_id)
        scores = visible_scores(state, q.nomination_id, q.viewer, q.viewer_roles)
        if q.viewer in state.panel:
            hidden = None if (q.nomination_id, q.viewer) in state.scores else "score_first"
        else:
            hidden = None if OVERSEERS & set(q.viewer_roles) else "not_permitted"
        return {
            "round_id": q.round_id,
            "nomination_id": str(q.nomination_id),
            "visible": hidden is None,
            "hidden_reason": hidden,
            "scores": [score_json(s, state.panel) for s in scores],
        }

    async def ranking(self, q: GetRanking) -> list[dict[str, Any]]:
        """Per category: the ranking (frozen by the decision, else as it stands), raw scores,
        the method, and the decision. Only those who oversee the review may see it, and one
        who also sits on the panel sees a category not yet decided only once no nomination
        in it waits for their own score (no anchoring)."""
        if not OVERSEERS & set(q.viewer_roles):
            raise NotPermitted(
                action="see the ranking", action_zh="查看评审排名", roles=sorted(OVERSEERS)
            )
        state = await self._state(q.round_id)
        categories = [q.category] if q.category else list(Category)
        return [self._category_ranking(state, c, q.viewer) for c in categories]

    def _category_ranking(
        self, state: ReviewState, category: Category, viewer: str
    ) -> dict[str, Any]:
        decision = state.decisions.get(category)
        hidden = decision is None and awaits_score(state, category, viewer)
        entries: list[Any]
        if decision is not None:
            entries = list(decision.ranking)
            method = decision.method.model_dump(mode="json")
        else:
            ranking = current_ranking(state, category, self.policy)
            entries = list(ranking.entries)
            method = {
                "rubric": plain(dict(self.policy.rubric_for(category).weights)),
                "zscore": ranking.method.zscore,
                "min_scores": ranking.method.min_scores,
                "trim_from": ranking.method.trim_from,
                "tie_break_order": list(ranking.method.tie_break_order),
            }
        counted = {(s.nomination_id, s.panelist_id) for s in state.active_scores()}
        lines = []
        for e in [] if hidden else entries:
            nid = uuid.UUID(str(e.nomination_id))
            c = state.candidates.get(nid)
            raw = sorted(
                (s for s in state.scores.values() if s.nomination_id == nid),
                key=lambda s: s.panelist_id,
            )
            lines.append(
                {
                    "nomination_id": str(nid),
                    "rank": e.rank,
                    "score": plain(e.score),
                    "aggregation": e.aggregation,
                    "plain_mean": plain(e.plain_mean),
                    "raw_mean": plain(e.raw_mean),
                    "score_count": e.score_count,
                    "department_count": e.department_count,
                    "excluded": e.excluded,
                    "tie_break": e.tie_break,
                    "nominee": nominee_json(state, nid),
                    "veto_reason": c.veto_reason if c else None,
                    "raw_scores": [
                        {**score_json(s, state.panel), "counted": (nid, s.panelist_id) in counted}
                        for s in raw
                    ],
                }
            )
        notice = state.latest_notice(category)
        return {
            **category_json(category),
            "frozen": decision is not None,
            "hidden_reason": "score_first" if hidden else None,
            "method": method,
            "entries": lines,
            "decision": None
            if decision is None
            else {
                "winners": [str(w) for w in decision.winners],
                "off_ranking_reason": decision.off_ranking_reason,
                "decided_by": decision.decided_by,
                "decided_at": plain(decision.decided_at),
            },
            "winners": [str(w) for w in state.winners.get(category, ())],
            "removed": [str(w) for w in state.vacancies.get(category, ())],
            "notice_no": notice.notice_no if notice else None,
        }

    async def panel(self, q: GetPanel) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM panelists WHERE round_id = $1 ORDER BY department, panelist_id",
            q.round_id,
        )
        return [row_json(r) for r in rows]

    async def notices(self, q: ListNotices, now: datetime) -> list[dict[str, Any]]:
        """Each notice with its end; objections are taken while starts_at <= now <= ends_at."""
        rows = await self.pool.fetch(
            "SELECT * FROM notices WHERE round_id = $1 ORDER BY notice_no", q.round_id
        )
        # Each winner's deeds as nominated, for the public notice's summary.
        deeds = {
            str(r["nomination_id"]): r["deeds"]
            for r in await self.pool.fetch(
                "SELECT nomination_id, deeds FROM candidates WHERE round_id = $1", q.round_id
            )
        }
        return [
            {
                **row_json(r),
                "winners": [
                    {**w, "deeds": deeds.get(str(w["nomination_id"]), "")} for w in r["winners"]
                ],
                "categories": [category_json(c) for c in r["categories"]],
                "status": "running"
                if r["starts_at"] <= now <= r["ends_at"]
                else ("ended" if now > r["ends_at"] else "scheduled"),
                "seconds_left": max(0, int((r["ends_at"] - now).total_seconds())),
            }
            for r in rows
        ]

    async def objections(self, q: ListObjections) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            """
            SELECT o.*, c.name AS nominee_name, c.unit_name AS nominee_unit_name
            FROM objections o LEFT JOIN candidates c ON c.nomination_id = o.nomination_id
            WHERE o.round_id = $1 AND ($2::text IS NULL OR o.status = $2)
              AND ($3::uuid IS NULL OR o.nomination_id = $3)
            ORDER BY o.objection_no
            """,
            q.round_id,
            q.status,
            q.nomination_id,
        )
        return [row_json(r) for r in rows]

    async def result(self, q: GetResult) -> dict[str, Any]:
        """The published result (as ResultPublished carried it) and any later revocations."""
        row = await self.pool.fetchrow("SELECT * FROM results WHERE round_id = $1", q.round_id)
        if row is None:
            return {"round_id": q.round_id, "label_zh": round_label(q.round_id), "published": False}
        revoked = await self.pool.fetch(
            "SELECT * FROM revocations WHERE round_id = $1 ORDER BY revoked_at", q.round_id
        )
        revoked_ids = {str(r["nomination_id"]) for r in revoked}
        return {
            "round_id": q.round_id,
            "label_zh": round_label(q.round_id),
            "published": True,
            "published_by": row["published_by"],
            "published_at": plain(row["published_at"]),
            "categories": [category_json(c) for c in row["categories"]],
            "winners": [
                {
                    **w,
                    **category_json(w["category"]),
                    "revoked": w["nomination_id"] in revoked_ids,
                }
                for w in row["winners"]
            ],
            "revocations": [row_json(r) for r in revoked],
        }

    async def summary(self, q: GetSummary, now: datetime) -> dict[str, Any]:
        """Where a round's review stands, per category, and what (if anything) blocks publishing."""
        state = await self._state(q.round_id)
        candidates = list(state.candidates.values())
        per_category = []
        for category in Category:
            mine = [c for c in candidates if c.category == category]
            decision = state.decisions.get(category)
            if decision is not None:
                rankable = sum(1 for e in decision.ranking if e.rank is not None)
            else:
                rankable = len(current_ranking(state, category, self.policy).eligible)
            notice = state.latest_notice(category)
            per_category.append(
                {
                    **category_json(category),
                    "candidates": len(mine),
                    "in_review": sum(1 for c in mine if c.in_review),
                    "rankable": rankable,
                    "decided": decision is not None,
                    "winners": [
                        {"nomination_id": str(w), **nominee_json(state, w)}
                        for w in state.winners.get(category, ())
                    ],
                    "vacancies": len(state.vacancies.get(category, ())),
                    "notice": None
                    if notice is None
                    else {
                        "notice_no": notice.notice_no,
                        "starts_at": plain(notice.starts_at),
                        "ends_at": plain(notice.ends_at),
                        "running": notice.is_running(now),
                    },
                    "open_objections": sum(
                        1 for o in state.open_objections() if o.category == category
                    ),
                }
            )
        blocker = None
        try:
            domain.decide(
                state,
                PublishResult(round_id=q.round_id, actor="summary", roles=frozenset({"office"})),
                now,
                self.policy,
            )
        except ReviewError as e:
            blocker = refusal(e)
        return {
            "round_id": q.round_id,
            "label_zh": round_label(q.round_id),
            "nominations_closed": state.nominations_closed,  # decisions wait for the close
            "candidates": {
                "total": len(candidates),
                "pending": sum(1 for c in candidates if c.audit == "pending" and not c.withdrawn),
                "accepted": sum(1 for c in candidates if c.audit == "accepted"),
                "rejected": sum(1 for c in candidates if c.audit == "rejected"),
                "withdrawn": sum(1 for c in candidates if c.withdrawn),
                "vetoed": sum(1 for c in candidates if c.vetoed),
            },
            "panel": {
                "active": sum(1 for p in state.panel.values() if p.active),
                "departments": sorted({p.department for p in state.panel.values() if p.active}),
            },
            "categories": per_category,
            "notices": len(state.notices),
            "open_objections": len(state.open_objections()),
            "published": state.published,
            "published_at": plain(state.result.published_at) if state.result else None,
            "publishable": blocker is None,
            "publish_blocker": None if state.published else blocker,
        }


async def employee_data(pool: asyncpg.Pool, q: EmployeeData) -> dict[str, Rows]:
    """What the review holds about one employee (PIPL access request): the audit, scores,
    vetoes, decisions and objections concerning their nominations, and what they did as a
    panelist or objector. Who scored or objected is not named (theirs is the panelists' and
    objectors' data); the objector's own objections are theirs to see."""
    check_office(q)
    own = await pool.fetch(
        "SELECT nomination_id, round_id, category FROM candidates WHERE employee_no = $1",
        q.employee_no,
    )
    ids = [r["nomination_id"] for r in own]
    audits = await pool.fetch(
        "SELECT nomination_id, round_id, category, status, reason, audited_at FROM audits "
        "WHERE nomination_id = ANY($1::uuid[]) ORDER BY audited_at",
        ids,
    )
    scores = await pool.fetch(
        "SELECT nomination_id, round_id, category, department, criteria, total, comment, "
        "submitted_at FROM scores WHERE nomination_id = ANY($1::uuid[]) "
        "ORDER BY round_id, submitted_at",
        ids,
    )
    vetoes = await pool.fetch(
        "SELECT nomination_id, round_id, category, reason, vetoed_at FROM vetoes "
        "WHERE nomination_id = ANY($1::uuid[])",
        ids,
    )
    winners = await pool.fetch(
        "SELECT nomination_id, round_id, category, source, removed, removed_reason FROM winners "
        "WHERE nomination_id = ANY($1::uuid[])",
        ids,
    )
    objections = await pool.fetch(
        "SELECT round_id, objection_no, nomination_id, category, text, raised_at, status, "
        "resolution, resolved_at FROM objections WHERE nomination_id = ANY($1::uuid[]) "
        "ORDER BY round_id, objection_no",
        ids,
    )
    raised = await pool.fetch(
        "SELECT round_id, objection_no, category, text, raised_at, status, resolution, "
        "resolved_at FROM objections WHERE raised_by = ANY($1::text[]) "
        "ORDER BY round_id, objection_no",
        list(q.user_ids),
    )
    panel = await pool.fetch(
        "SELECT round_id, panelist_id, employee_no, name, department, active, assigned_at, "
        "removed_reason FROM panelists WHERE employee_no = $1 OR panelist_id = ANY($2::text[]) "
        "ORDER BY round_id",
        q.employee_no,
        list(q.user_ids),
    )
    given = await pool.fetch(
        "SELECT round_id, nomination_id, category, total, comment, submitted_at FROM scores "
        "WHERE panelist_id = ANY($1::text[]) ORDER BY round_id, submitted_at",
        sorted({r["panelist_id"] for r in panel}),
    )
    revocations = await pool.fetch(
        "SELECT nomination_id, round_id, category, employee_no, name, reason, revoked_at "
        "FROM revocations WHERE employee_no = $1",
        q.employee_no,
    )
    return {
        "audits": plain_rows(audits),
        "scores": plain_rows(scores),
        "vetoes": plain_rows(vetoes),
        "winners": plain_rows(winners),
        "objections": plain_rows(objections),
        "objections_raised": plain_rows(raised),
        "panelist": plain_rows(
            {k: v for k, v in dict(r).items() if k != "panelist_id"} for r in panel
        ),
        "scores_given": plain_rows(given),
        "revocations": plain_rows(revocations),
    }
