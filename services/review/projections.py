"""Review's read models: its projection of nominations, and of its own events (PROJECTIONS).

`candidates` mirrors the nomination service's view of each nomination (fed by the
`review-nomination` consumer, one transaction with the inbox row). Every other table is fed
by `project`, in the transaction of the append that recorded the events.
"""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from shared.contracts import nomination as nomination_contract
from shared.contracts.common import NomineeSnapshot
from shared.contracts.nomination import (
    MeasurableResult,
    NominationAmended,
    NominationsClosed,
    NominationSubmitted,
    NominationWithdrawn,
    UnitNominationsClosed,
)
from shared.contracts.review import (
    Candidate,
    NominationAccepted,
    NominationRejected,
    NominationVetoed,
    ObjectionNoteRecorded,
    ObjectionRaised,
    ObjectionResolved,
    PanelistAssigned,
    PanelistReminded,
    PanelistRemoved,
    PublicNoticeStarted,
    ReplacementNamed,
    ResultPublished,
    ScoreSubmitted,
    WinnerRemoved,
    WinnerRevoked,
    WinnersDecided,
    registry,
)
from shared.events import DomainEvent, RecordedEvent
from shared.projection import ConsumedFeed, Projection

SCHEMA_SQL = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")

# --- Nominations, as the nomination service publishes them -------------------------------------


class EventOutOfOrder(Exception):
    """A nomination event arrived before an earlier one of its stream: retried later."""


async def apply_nomination_feed(
    conn: asyncpg.Connection, envelope: RecordedEvent, event: DomainEvent
) -> list[asyncpg.Record]:
    """The projection effects of one nomination event (consumer `review-nomination`): the
    stream's order kept, `candidates` updated. Appends nothing; returns the rows changed."""
    if isinstance(event, NominationSubmitted | NominationAmended) and envelope.version > 1:
        # The usual case, one statement: the stream moves on by one and the candidate is
        # written. No row back means the event is not the next one: the guard below says
        # whether it was applied before or came after a gap.
        advanced = await _upsert_candidate(conn, event, after=envelope)
        if advanced:
            return advanced
    if not await next_in_stream(conn, envelope):
        return []
    return await project_nomination_event(conn, envelope, event)


# A submission or amendment as a `candidates` row; {advance} and {guard} make it conditional.
_CANDIDATE_UPSERT = """
    {advance}
    INSERT INTO candidates (nomination_id, round_id, category, employee_no, name,
        unit_code, unit_name, position, deeds, results, evidence_links,
        recommendation, submitted_by, submitted_at, status, updated_at)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12, $13,
        $14::timestamptz, 'submitted', $14::timestamptz {guard}
    ON CONFLICT (nomination_id) DO UPDATE SET
        category = excluded.category, employee_no = excluded.employee_no,
        name = excluded.name, unit_code = excluded.unit_code,
        unit_name = excluded.unit_name, position = excluded.position,
        deeds = excluded.deeds, results = excluded.results,
        evidence_links = excluded.evidence_links,
        recommendation = excluded.recommendation, updated_at = excluded.updated_at
    RETURNING *
"""
_UPSERT_ALWAYS = _CANDIDATE_UPSERT.format(advance="", guard="")
_UPSERT_IF_NEXT = _CANDIDATE_UPSERT.format(
    advance="WITH advanced AS (UPDATE nomination_streams SET version = $16 "
    "WHERE stream_id = $15 AND version = $16 - 1 RETURNING version)",
    guard="WHERE EXISTS (SELECT FROM advanced)",
)


async def _upsert_candidate(
    conn: asyncpg.Connection,
    event: NominationSubmitted | NominationAmended,
    *,
    after: RecordedEvent | None = None,
) -> list[asyncpg.Record]:
    """Write a submission or amendment to `candidates`; with `after`, only if that envelope
    is the next event of its stream (the stream's applied version then moves on too)."""
    if isinstance(event, NominationSubmitted):
        by, at = event.submitted_by, event.submitted_at
    else:
        by, at = event.amended_by, event.amended_at
    args: list[object] = [
        event.nomination_id,
        event.round_id,
        event.category.value,
        event.nominee.employee_no,
        event.nominee.name,
        event.nominee.unit_code,
        event.nominee.unit_name,
        event.nominee.position,
        event.deeds,
        json.loads(json.dumps([r.model_dump(mode="json") for r in event.results])),
        list(event.evidence_links),
        event.recommendation,
        by,
        at,
    ]
    if after is None:
        return list(await conn.fetch(_UPSERT_ALWAYS, *args))
    return list(await conn.fetch(_UPSERT_IF_NEXT, *args, after.stream_id, after.version))


async def next_in_stream(conn: asyncpg.Connection, envelope: RecordedEvent) -> bool:
    """Keep each nomination stream's order (a round's nominations are one stream).

    The consumer retries a failed message with back-off while later ones flow on, so
    an amendment or a withdrawal could overtake its submission, or a close the
    nominations it closes. Each stream's applied version is kept: an event already
    applied is skipped (a replay changes nothing), one after a gap is refused until
    the gap fills.
    """
    # The usual case in one statement: the first event creates the row, each next one
    # moves it on by one (the row lock orders two instances racing on one stream).
    if envelope.version == 1:
        advanced = await conn.fetchval(
            "INSERT INTO nomination_streams (stream_id, version) VALUES ($1, 1) "
            "ON CONFLICT (stream_id) DO NOTHING RETURNING true",
            envelope.stream_id,
        )
    else:
        advanced = await conn.fetchval(
            "UPDATE nomination_streams SET version = $2 "
            "WHERE stream_id = $1 AND version = $2 - 1 RETURNING true",
            envelope.stream_id,
            envelope.version,
        )
    if advanced:
        return True
    applied = await conn.fetchval(
        "SELECT version FROM nomination_streams WHERE stream_id = $1", envelope.stream_id
    )
    if applied is not None and envelope.version <= applied:
        return False
    raise EventOutOfOrder(
        f"{envelope.stream_id} v{envelope.version} arrived before v{(applied or 0) + 1}"
    )


async def project_nomination_event(
    conn: asyncpg.Connection, envelope: RecordedEvent, event: DomainEvent
) -> list[asyncpg.Record]:
    """Keep `candidates` equal to the nomination service's view; return the rows it changed."""
    changed: list[asyncpg.Record] = []
    match event:
        case NominationSubmitted() | NominationAmended():
            changed = await _upsert_candidate(conn, event)
        case NominationWithdrawn():
            changed = await conn.fetch(
                "UPDATE candidates SET status = 'withdrawn', updated_at = $2 "
                "WHERE nomination_id = $1 RETURNING *",
                event.nomination_id,
                event.withdrawn_at,
            )
        case NominationsClosed():
            changed = await conn.fetch(
                "UPDATE candidates SET status = 'closed', updated_at = $2 "
                "WHERE round_id = $1 AND status = 'submitted' "
                "RETURNING *",
                event.round_id,
                event.closed_at,
            )
        case UnitNominationsClosed():
            changed = await conn.fetch(
                "UPDATE candidates SET status = 'closed', updated_at = $3 "
                "WHERE round_id = $1 AND unit_code = $2 AND status = 'submitted' "
                "RETURNING *",
                event.round_id,
                event.unit_code,
                event.closed_at,
            )
        case _:
            pass  # directory and round events: the inbox row alone records them
    return changed


def candidate_from_row(row: asyncpg.Record) -> Candidate:
    """A `candidates` row as the review's domain knows a nomination."""
    return Candidate(
        nomination_id=row["nomination_id"],
        round_id=row["round_id"],
        category=row["category"],
        nominee=NomineeSnapshot(
            employee_no=row["employee_no"],
            name=row["name"],
            unit_code=row["unit_code"],
            unit_name=row["unit_name"],
            position=row["position"],
        ),
        deeds=row["deeds"],
        results=tuple(MeasurableResult.model_validate(r) for r in row["results"]),
        submitted_by=row["submitted_by"],
        status=row["status"],
    )


# --- The review's own events ---------------------------------------------------------------------


async def project(conn: asyncpg.Connection, recorded: list[RecordedEvent]) -> None:
    for envelope in recorded:
        await apply(conn, envelope, registry.decode_recorded(envelope))


async def apply(conn: asyncpg.Connection, envelope: RecordedEvent, event: DomainEvent) -> None:
    at = envelope.metadata.occurred_at
    match event:
        case NominationAccepted() | NominationRejected():
            accepted = isinstance(event, NominationAccepted)
            await conn.execute(
                """
                INSERT INTO audits (nomination_id, round_id, category, status, reason,
                    audited_by, audited_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (nomination_id) DO UPDATE SET status = excluded.status,
                    reason = excluded.reason, audited_by = excluded.audited_by,
                    audited_at = excluded.audited_at
                """,
                event.nomination_id,
                event.round_id,
                event.category.value,
                "accepted" if accepted else "rejected",
                None if isinstance(event, NominationAccepted) else event.reason,
                event.accepted_by if isinstance(event, NominationAccepted) else event.rejected_by,
                at,
            )
        case PanelistAssigned():
            await conn.execute(
                """
                INSERT INTO panelists (round_id, panelist_id, employee_no, name, department,
                    unit_code, active, assigned_by, assigned_at)
                VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8)
                ON CONFLICT (round_id, panelist_id) DO UPDATE SET
                    employee_no = excluded.employee_no, name = excluded.name,
                    department = excluded.department, unit_code = excluded.unit_code,
                    active = true, assigned_by = excluded.assigned_by,
                    assigned_at = excluded.assigned_at, removed_reason = NULL
                """,
                event.round_id,
                event.panelist_id,
                event.employee_no,
                event.name,
                event.department,
                event.unit_code,
                event.assigned_by,
                at,
            )
        case PanelistRemoved():
            await conn.execute(
                "UPDATE panelists SET active = false, removed_reason = $3 "
                "WHERE round_id = $1 AND panelist_id = $2",
                event.round_id,
                event.panelist_id,
                event.reason,
            )
        case PanelistReminded():
            await conn.execute(
                "UPDATE panelists SET reminded_at = $3, reminded_by = $4, "
                "reminders = reminders + 1 WHERE round_id = $1 AND panelist_id = $2",
                event.round_id,
                event.panelist_id,
                event.reminded_at,
                event.reminded_by,
            )
        case ScoreSubmitted():
            await conn.execute(
                """
                INSERT INTO scores (round_id, nomination_id, panelist_id, category, department,
                    criteria, total, revision, comment, submitted_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (nomination_id, panelist_id) DO UPDATE SET
                    criteria = excluded.criteria, total = excluded.total,
                    revision = excluded.revision, comment = excluded.comment,
                    submitted_at = excluded.submitted_at
                """,
                event.round_id,
                event.nomination_id,
                event.panelist_id,
                event.category.value,
                event.department,
                {k: str(v) for k, v in event.criteria.items()},
                event.total,
                event.revision,
                event.comment,
                event.submitted_at,
            )
        case NominationVetoed():
            await conn.execute(
                "INSERT INTO vetoes (nomination_id, round_id, category, reason, vetoed_by, "
                "vetoed_at) VALUES ($1, $2, $3, $4, $5, $6)",
                event.nomination_id,
                event.round_id,
                event.category.value,
                event.reason,
                event.vetoed_by,
                at,
            )
        case WinnersDecided():
            await conn.execute(
                """
                INSERT INTO decisions (round_id, category, winners, ranking, method,
                    off_ranking_reason, decided_by, decided_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """,
                event.round_id,
                event.category.value,
                [str(w) for w in event.winners],
                [e.model_dump(mode="json") for e in event.ranking],
                event.method.model_dump(mode="json"),
                event.off_ranking_reason,
                event.decided_by,
                event.decided_at,
            )
            await conn.executemany(
                "INSERT INTO winners (round_id, category, nomination_id, source, "
                "off_ranking_reason) VALUES ($1, $2, $3, 'decision', $4)",
                [
                    (event.round_id, event.category.value, w, event.off_ranking_reason)
                    for w in event.winners
                ],
            )
        case ReplacementNamed():
            await conn.execute(
                "INSERT INTO winners (round_id, category, nomination_id, source, replaces, "
                "off_ranking_reason) VALUES ($1, $2, $3, 'replacement', $4, $5)",
                event.round_id,
                event.category.value,
                event.nomination_id,
                event.replaces,
                event.off_ranking_reason,
            )
        case WinnerRemoved():
            await conn.execute(
                "UPDATE winners SET removed = true, removed_reason = $3, "
                "removed_by_objection = $4 WHERE round_id = $1 AND nomination_id = $2",
                event.round_id,
                event.nomination_id,
                event.reason,
                event.objection_no,
            )
        case PublicNoticeStarted():
            await conn.execute(
                """
                INSERT INTO notices (round_id, notice_no, occasion, categories, winners,
                    starts_at, ends_at, working_days, first_day, last_day,
                    calendar_fallback_years, started_by)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                """,
                event.round_id,
                event.notice_no,
                event.occasion,
                [c.value for c in event.categories],
                [w.model_dump(mode="json") for w in event.winners],
                event.starts_at,
                event.ends_at,
                event.working_days,
                event.first_day,
                event.last_day,
                list(event.calendar_fallback_years),
                event.started_by,
            )
        case ObjectionRaised():
            await conn.execute(
                """
                INSERT INTO objections (round_id, objection_no, nomination_id, category,
                    raised_by, raiser_name, text, raised_at, status)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open')
                """,
                event.round_id,
                event.objection_no,
                event.nomination_id,
                event.category.value,
                event.raised_by,
                event.raiser_name,
                event.text,
                event.raised_at,
            )
        case ObjectionNoteRecorded():
            note = {
                "note": event.note,
                "recorded_by": event.recorded_by,
                "recorded_at": event.recorded_at.isoformat(),
            }
            await conn.execute(
                "UPDATE objections SET notes = notes || jsonb_build_array($3::jsonb) "
                "WHERE round_id = $1 AND objection_no = $2",
                event.round_id,
                event.objection_no,
                note,
            )
        case ObjectionResolved():
            await conn.execute(
                "UPDATE objections SET status = $3, resolution = $4, resolved_by = $5, "
                "resolved_at = $6 WHERE round_id = $1 AND objection_no = $2",
                event.round_id,
                event.objection_no,
                event.outcome,
                event.resolution,
                event.resolved_by,
                event.resolved_at,
            )
        case ResultPublished():
            await conn.execute(
                "INSERT INTO results (round_id, categories, winners, published_by, "
                "published_at) VALUES ($1, $2, $3, $4, $5)",
                event.round_id,
                [c.value for c in event.categories],
                [w.model_dump(mode="json") for w in event.winners],
                event.published_by,
                event.published_at,
            )
        case WinnerRevoked():
            await conn.execute(
                """
                INSERT INTO revocations (nomination_id, round_id, category, employee_no, name,
                    reason, revoked_by, revoked_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """,
                event.nomination_id,
                event.round_id,
                event.category.value,
                event.employee_no,
                event.name,
                event.reason,
                event.revoked_by,
                event.revoked_at,
            )
        case _:
            pass  # CandidateRecorded: `candidates` is fed from the nomination events themselves


NOMINATION_FEED = ConsumedFeed(
    consumer="review-nomination",
    subjects=("flowers.evt.nomination.>",),
    registry=nomination_contract.registry,
    apply=apply_nomination_feed,
)

# Every read model of the service, and how each is fed (the audit rebuilds them from this).
PROJECTIONS = [
    Projection("candidates", ("candidates", "nomination_streams"), feeds=(NOMINATION_FEED,)),
    Projection(
        "review",
        (
            "audits",
            "panelists",
            "scores",
            "vetoes",
            "decisions",
            "winners",
            "notices",
            "objections",
            "results",
            "revocations",
        ),
        own=project,
    ),
]
