"""Review's projections of the nomination service's events (one transaction with the inbox)."""

from __future__ import annotations

import json

import asyncpg

from shared.contracts.nomination import (
    NominationAmended,
    NominationsClosed,
    NominationSubmitted,
    NominationWithdrawn,
)
from shared.events import DomainEvent, RecordedEvent


async def project_nomination_event(
    conn: asyncpg.Connection, envelope: RecordedEvent, event: DomainEvent
) -> None:
    """Keep `candidates` equal to the nomination service's view of each nomination."""
    match event:
        case NominationSubmitted() | NominationAmended():
            at = event.submitted_at if isinstance(event, NominationSubmitted) else event.amended_at
            await conn.execute(
                """
                INSERT INTO candidates (nomination_id, round_id, category, employee_no, name,
                    unit_code, unit_name, position, deeds, results, evidence_links,
                    recommendation, submitted_by, submitted_at, status, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                        'submitted', $14)
                ON CONFLICT (nomination_id) DO UPDATE SET
                    category = excluded.category, employee_no = excluded.employee_no,
                    name = excluded.name, unit_code = excluded.unit_code,
                    unit_name = excluded.unit_name, position = excluded.position,
                    deeds = excluded.deeds, results = excluded.results,
                    evidence_links = excluded.evidence_links,
                    recommendation = excluded.recommendation, updated_at = excluded.updated_at
                """,
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
                event.submitted_by if isinstance(event, NominationSubmitted) else event.amended_by,
                at,
            )
        case NominationWithdrawn():
            await conn.execute(
                "UPDATE candidates SET status = 'withdrawn', updated_at = $2 "
                "WHERE nomination_id = $1",
                event.nomination_id,
                event.withdrawn_at,
            )
        case NominationsClosed():
            await conn.execute(
                "UPDATE candidates SET status = 'closed', updated_at = $2 "
                "WHERE round_id = $1 AND status = 'submitted'",
                event.round_id,
                event.closed_at,
            )
        case _:
            pass  # directory and round events: the inbox row alone records them
