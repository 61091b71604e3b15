"""Read models: the service's own drafts (fed with each append) and the statistics (fed by
the consumers of nomination's and review's events, each in the consumer's transaction).

The statistics rows are upserts that every event completes, so they come out the same
whichever of a nomination's events arrives first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

from shared.contracts import nomination as nom
from shared.contracts import review as rev
from shared.contracts import rewards as rew
from shared.contracts.publicity import (
    CorrectionDrafted,
    CorrectionNoteDrafted,
    HonorRollUpdated,
    MaterialApproved,
    MaterialEdited,
    MaterialPublished,
    MaterialRevised,
    MaterialsDrafted,
    WinnerPhotoAttached,
    WinnerRevocationRecorded,
    registry,
)
from shared.events import DomainEvent
from shared.projection import (
    ConsumedFeed,
    Items,
    OwnLog,
    Projection,
    Statement,
    replay_own,
    run_statements,
    statement,
)

SCHEMA_SQL = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")

OWN_TABLES = ("publicity_rounds", "materials", "honor_roll")


async def project(conn: asyncpg.Connection, items: Items) -> None:
    """The drafts' read models, a batch at a time (consecutive like writes in one trip)."""
    await run_statements(conn, (w for _, event in items for w in writes(event)))


def _content(event: Any) -> dict[str, Any]:
    content: dict[str, Any] = event.content.model_dump(mode="json")
    return content


def writes(event: DomainEvent) -> Iterator[Statement]:
    match event:
        case MaterialsDrafted():
            yield statement(
                "INSERT INTO publicity_rounds (round_id, result_published_at, meeting_date, "
                "categories, winners, drafted_at) VALUES ($1, $2, $3, $4, $5, $6)",
                event.round_id,
                event.result_published_at,
                event.meeting_date,
                [c.value for c in event.categories],
                [w.model_dump(mode="json") for w in event.winners],
                event.drafted_at,
            )
            for m in event.materials:
                yield statement(
                    "INSERT INTO materials (material_id, round_id, kind, status, revision, "
                    "channels, title, content, created_at, updated_at) "
                    "VALUES ($1, $2, $3, 'draft', 1, $4, $5, $6, $7, $7)",
                    m.material_id,
                    event.round_id,
                    m.kind,
                    list(m.channels),
                    m.content.title,
                    m.content.model_dump(mode="json"),
                    event.drafted_at,
                )
            featured = {
                s.nomination_id
                for m in event.materials
                if m.kind == "honor_roll"
                for s in m.content.sections
            }
            for w in event.winners:
                yield statement(
                    "INSERT INTO honor_roll (round_id, nomination_id, category, employee_no, "
                    "name, unit_code, unit_name, position, revoked) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    event.round_id,
                    w.nomination_id,
                    w.category.value,
                    w.employee_no,
                    w.name,
                    w.unit_code,
                    w.unit_name,
                    w.position,
                    w.nomination_id not in featured,
                )
        case (
            MaterialEdited(edited_at=at)
            | MaterialRevised(revised_at=at)
            | HonorRollUpdated(updated_at=at)
        ):
            yield statement(
                "UPDATE materials SET content = $2, title = $3, revision = $4, status = 'draft', "
                "updated_at = $5 WHERE material_id = $1",
                event.material_id,
                _content(event),
                event.content.title,
                event.revision,
                at,
            )
        case MaterialApproved():
            yield statement(
                "UPDATE materials SET status = 'approved', updated_at = $2 WHERE material_id = $1",
                event.material_id,
                event.approved_at,
            )
        case MaterialPublished():
            publication = {
                "channel": event.channel,
                "revision": event.revision,
                "published_by": event.published_by,
                "published_at": event.published_at.isoformat(),
            }
            yield statement(
                "UPDATE materials SET status = 'published', updated_at = $2, "
                "publications = publications || jsonb_build_array($3::jsonb) "
                "WHERE material_id = $1",
                event.material_id,
                event.published_at,
                publication,
            )
        case WinnerRevocationRecorded():
            yield statement(
                "UPDATE honor_roll SET revoked = true, revoked_reason = $3 "
                "WHERE round_id = $1 AND nomination_id = $2",
                event.round_id,
                event.nomination_id,
                event.reason,
            )
        case WinnerPhotoAttached():
            yield statement(
                "UPDATE honor_roll SET photo_sha256 = $3, photo_by = $4, photo_at = $5 "
                "WHERE round_id = $1 AND nomination_id = $2",
                event.round_id,
                event.nomination_id,
                event.sha256,
                event.attached_by,
                event.attached_at,
            )
        case CorrectionDrafted():
            yield statement(
                "INSERT INTO materials (material_id, round_id, kind, status, revision, "
                "channels, title, content, nomination_id, created_at, updated_at) "
                "VALUES ($1, $2, 'correction', 'draft', 1, $3, $4, $5, $6, $7, $7)",
                event.material_id,
                event.round_id,
                list(event.channels),
                event.content.title,
                _content(event),
                event.nomination_id,
                event.drafted_at,
            )
        case CorrectionNoteDrafted():
            yield statement(
                "INSERT INTO materials (material_id, round_id, kind, status, revision, "
                "channels, title, content, created_at, updated_at) "
                "VALUES ($1, $2, 'correction', 'draft', 1, $3, $4, $5, $6, $6)",
                event.material_id,
                event.round_id,
                list(event.channels),
                event.content.title,
                _content(event),
                event.drafted_at,
            )
        case _:
            pass


# --- Statistics from the nomination and review services ------------------------------------

_UPSERT_NOMINEE = """
    INSERT INTO stat_nominations (nomination_id, round_id, category, unit_code, unit_name,
                                  employee_no, name)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (nomination_id) DO UPDATE SET round_id = excluded.round_id,
        category = excluded.category, unit_code = excluded.unit_code,
        unit_name = excluded.unit_name, employee_no = excluded.employee_no, name = excluded.name
"""
# Review's copy of a nomination fills gaps only: the nomination service's events lead.
_FILL_NOMINEE = """
    INSERT INTO stat_nominations (nomination_id, round_id, category, unit_code, unit_name,
                                  employee_no, name)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (nomination_id) DO UPDATE SET
        unit_code = coalesce(stat_nominations.unit_code, excluded.unit_code),
        unit_name = coalesce(stat_nominations.unit_name, excluded.unit_name),
        employee_no = coalesce(stat_nominations.employee_no, excluded.employee_no),
        name = coalesce(stat_nominations.name, excluded.name)
"""
_ENSURE = """
    INSERT INTO stat_nominations (nomination_id, round_id, category) VALUES ($1, $2, $3)
    ON CONFLICT (nomination_id) DO NOTHING
"""


def _nominee(
    sql: str,
    nomination_id: Any,
    round_id: str,
    category: str,
    nominee: Any,
) -> Statement:
    return statement(
        sql,
        nomination_id,
        round_id,
        category,
        nominee.unit_code,
        nominee.unit_name,
        nominee.employee_no,
        nominee.name,
    )


async def project_stats(conn: asyncpg.Connection, items: Items) -> None:
    """The consumer's handler for the statistics (runs in the inbox's transaction)."""
    await run_statements(conn, (w for _, event in items for w in _stat_writes(event)))


def _stat_writes(event: DomainEvent) -> Iterator[Statement]:
    match event:
        case rew.AwardGranted():
            yield statement(
                "INSERT INTO stat_awards (award_id, nomination_id, round_id, amount, currency) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (award_id) DO NOTHING",
                event.award_id,
                event.nomination_id,
                event.round_id,
                event.amount,
                event.currency,
            )
        case rew.AwardRevoked():
            yield statement(
                "UPDATE stat_awards SET revoked = true WHERE award_id = $1", event.award_id
            )
        case nom.UnitRegistered() | nom.UnitRenamed():
            yield statement(
                "INSERT INTO stat_units (unit_code, name) VALUES ($1, $2) "
                "ON CONFLICT (unit_code) DO UPDATE SET name = excluded.name",
                event.unit_code,
                event.name,
            )
        case nom.RoundOpened():
            yield statement(
                "INSERT INTO stat_rounds (round_id, opened_at) VALUES ($1, $2) "
                "ON CONFLICT (round_id) DO UPDATE SET opened_at = excluded.opened_at",
                event.round_id,
                event.opened_at,
            )
        case nom.NominationsClosed():
            yield statement(
                "INSERT INTO stat_rounds (round_id, closed_at) VALUES ($1, $2) "
                "ON CONFLICT (round_id) DO UPDATE SET closed_at = excluded.closed_at",
                event.round_id,
                event.closed_at,
            )
            for n in event.nominations:
                yield _nominee(
                    _FILL_NOMINEE,
                    n.nomination_id,
                    event.round_id,
                    n.category.value,
                    n.nominee,
                )
        case nom.NominationSubmitted():
            yield _nominee(
                _UPSERT_NOMINEE,
                event.nomination_id,
                event.round_id,
                event.category.value,
                event.nominee,
            )
            yield statement(
                "INSERT INTO publicity_consents (nomination_id, consent) VALUES ($1, $2) "
                "ON CONFLICT (nomination_id) DO NOTHING",
                event.nomination_id,
                None if event.consent is None else event.consent.model_dump(mode="json"),
            )
        case nom.PublicityConsentRecorded():
            yield statement(
                "INSERT INTO publicity_consents (nomination_id, consent) VALUES ($1, $2) "
                "ON CONFLICT (nomination_id) DO UPDATE SET consent = excluded.consent",
                event.nomination_id,
                event.consent.model_dump(mode="json"),
            )
        case nom.NominationAmended():
            yield _nominee(
                _UPSERT_NOMINEE,
                event.nomination_id,
                event.round_id,
                event.category.value,
                event.nominee,
            )
        case nom.NominationWithdrawn():
            yield _nominee(
                _UPSERT_NOMINEE,
                event.nomination_id,
                event.round_id,
                event.category.value,
                event.nominee,
            )
            yield statement(
                "UPDATE stat_nominations SET withdrawn = true WHERE nomination_id = $1",
                event.nomination_id,
            )
        case rev.CandidateRecorded():
            c = event.candidate
            yield _nominee(_FILL_NOMINEE, c.nomination_id, c.round_id, c.category.value, c.nominee)
        case rev.NominationAccepted():
            yield statement(_ENSURE, event.nomination_id, event.round_id, event.category.value)
            yield statement(
                "UPDATE stat_nominations SET audit = 'accepted', reject_reason = NULL "
                "WHERE nomination_id = $1",
                event.nomination_id,
            )
        case rev.NominationRejected():
            yield statement(_ENSURE, event.nomination_id, event.round_id, event.category.value)
            yield statement(
                "UPDATE stat_nominations SET audit = 'rejected', reject_reason = $2 "
                "WHERE nomination_id = $1",
                event.nomination_id,
                event.reason,
            )
        case rev.ScoreSubmitted():
            yield statement(_ENSURE, event.nomination_id, event.round_id, event.category.value)
            yield statement(
                """
                INSERT INTO stat_scores (nomination_id, panelist_id, round_id, department, total,
                                         revision)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (nomination_id, panelist_id) DO UPDATE SET total = excluded.total,
                    revision = excluded.revision, department = excluded.department
                WHERE stat_scores.revision < excluded.revision
                """,
                event.nomination_id,
                event.panelist_id,
                event.round_id,
                event.department,
                event.total,
                event.revision,
            )
        case rev.PanelistRemoved():
            yield statement(
                "INSERT INTO stat_removed_panelists (round_id, panelist_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                event.round_id,
                event.panelist_id,
            )
        case rev.NominationVetoed():
            yield statement(_ENSURE, event.nomination_id, event.round_id, event.category.value)
            yield statement(
                "UPDATE stat_nominations SET vetoed = true WHERE nomination_id = $1",
                event.nomination_id,
            )
        case rev.ResultPublished():
            yield statement(
                "INSERT INTO stat_rounds (round_id, result_published_at) VALUES ($1, $2) "
                "ON CONFLICT (round_id) DO UPDATE SET "
                "result_published_at = excluded.result_published_at",
                event.round_id,
                event.published_at,
            )
            for w in event.winners:
                yield statement(
                    _FILL_NOMINEE,
                    w.nomination_id,
                    event.round_id,
                    w.category.value,
                    w.unit_code,
                    w.unit_name,
                    w.employee_no,
                    w.name,
                )
                yield statement(
                    "UPDATE stat_nominations SET winner = true, score = $2 "
                    "WHERE nomination_id = $1",
                    w.nomination_id,
                    w.score,
                )
        case rev.WinnerRevoked():
            yield statement(_ENSURE, event.nomination_id, event.round_id, event.category.value)
            yield statement(
                "UPDATE stat_nominations SET revoked = true WHERE nomination_id = $1",
                event.nomination_id,
            )
        case _:
            pass


STAT_NOMINATION_EVENTS = (
    nom.UnitRegistered,
    nom.UnitRenamed,
    nom.RoundOpened,
    nom.NominationsClosed,
    nom.NominationSubmitted,
    nom.NominationAmended,
    nom.NominationWithdrawn,
    nom.PublicityConsentRecorded,
)
STAT_REVIEW_EVENTS = (
    rev.CandidateRecorded,
    rev.NominationAccepted,
    rev.NominationRejected,
    rev.ScoreSubmitted,
    rev.PanelistRemoved,
    rev.NominationVetoed,
    rev.ResultPublished,
    rev.WinnerRevoked,
)


STAT_REWARDS_EVENTS = (rew.AwardGranted, rew.AwardRevoked)

STATS_FEED = ConsumedFeed(
    consumer="publicity-stats",
    subjects=tuple(
        e.subject() for e in STAT_NOMINATION_EVENTS + STAT_REVIEW_EVENTS + STAT_REWARDS_EVENTS
    ),
    registry=nom.registry.merged(rev.registry).merged(rew.registry),
    project=project_stats,
)

OWN = OwnLog(registry, project)


async def rebuild(conn: asyncpg.Connection) -> int:
    """Empty the own read models and replay the whole log into them (caller's transaction)."""
    return await replay_own(conn, OWN, OWN_TABLES)


# Every read model of the service, and how each is fed (the audit rebuilds them from this).
# The drafts consumer (`publicity-drafts`) only appends the service's own events: what it
# does reaches the read models through the own log.
PROJECTIONS = [
    Projection("drafts", OWN_TABLES, own=OWN),
    Projection(
        "statistics",
        (
            "stat_units",
            "stat_rounds",
            "stat_nominations",
            "stat_scores",
            "stat_removed_panelists",
            "stat_awards",
            "publicity_consents",
        ),
        feeds=(STATS_FEED,),
    ),
]
