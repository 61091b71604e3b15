"""The rewards service's own read models, fed in the transaction of each append (PROJECTIONS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg

from shared.contracts.rewards import (
    AwardGranted,
    AwardRevoked,
    PayrollAdjustmentAcknowledged,
    PayrollAdjustmentIssued,
    PayrollAdjustmentReversed,
    registry,
)
from shared.events import DomainEvent
from shared.projection import (
    Items,
    OwnLog,
    Projection,
    Statement,
    replay_own,
    run_statements,
    statement,
)
from shared.rounds import RoundPeriod

SCHEMA_SQL = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")

TABLES = ("awards", "adjustments", "acknowledgements", "payroll_periods")


async def project(conn: asyncpg.Connection, items: Items) -> None:
    """The read models, a batch at a time (consecutive like writes in one round trip)."""
    await run_statements(conn, (w for e, event in items for w in writes(e.position, event)))


def writes(position: int, event: DomainEvent) -> Iterator[Statement]:
    match event:
        case AwardGranted():
            yield statement(
                """
                INSERT INTO awards (award_id, round_id, round_year, category, nomination_id,
                    employee_no, name, unit_code, unit_name, position, deeds, score, amount,
                    currency, adjustment_id, period, published_at, granted_at, status,
                    log_position)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                        $17, $18, 'granted', $19)
                """,
                event.award_id,
                event.round_id,
                RoundPeriod.parse(event.round_id).year,
                event.category.value,
                event.nomination_id,
                event.employee_no,
                event.name,
                event.unit_code,
                event.unit_name,
                event.position,
                event.deeds,
                event.score,
                event.amount,
                event.currency,
                event.adjustment_id,
                event.period,
                event.published_at,
                event.granted_at,
                position,
            )
        case PayrollAdjustmentIssued() | PayrollAdjustmentReversed():
            reversal = isinstance(event, PayrollAdjustmentReversed)
            yield statement(
                """
                INSERT INTO adjustments (adjustment_id, position, kind, award_id,
                    reverses_adjustment_id, round_id, category, employee_no, name, unit_code,
                    unit_name, amount, currency, period, reason_code, description_zh,
                    tax_treatment, issued_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                        $17, $18)
                """,
                event.adjustment_id,
                position,
                "reversal" if reversal else "award",
                event.award_id,
                event.reverses_adjustment_id
                if isinstance(event, PayrollAdjustmentReversed)
                else None,
                event.round_id,
                event.category.value,
                event.employee_no,
                event.name,
                event.unit_code,
                event.unit_name,
                event.amount,
                event.currency,
                event.period,
                event.reason_code,
                event.description_zh,
                event.tax_treatment,
                event.issued_at,
            )
        case AwardRevoked():
            yield statement(
                """
                UPDATE awards SET status = 'revoked', revoked_at = $2, revoked_by = $3,
                    revoke_reason = $4, reversal_adjustment_id = $5, reversal_period = $6
                WHERE award_id = $1
                """,
                event.award_id,
                event.revoked_at,
                event.revoked_by,
                event.reason,
                event.reversal_adjustment_id,
                event.reversal_period,
            )
        case PayrollAdjustmentAcknowledged():
            yield statement(
                """
                INSERT INTO acknowledgements (adjustment_id, period, amount, currency, known,
                    payroll_reference, acknowledged_by, acknowledged_at, position)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                """,
                event.adjustment_id,
                event.period,
                event.amount,
                event.currency,
                event.known,
                event.payroll_reference,
                event.acknowledged_by,
                event.acknowledged_at,
                position,
            )
            yield statement(
                """
                INSERT INTO payroll_periods (period, closed_at, closed_by, acknowledgements)
                VALUES ($1, $2, $3, 1)
                ON CONFLICT (period) DO UPDATE
                    SET acknowledgements = payroll_periods.acknowledgements + 1
                """,
                event.period,
                event.acknowledged_at,
                event.acknowledged_by,
            )
        case _:
            pass


async def rebuild(conn: asyncpg.Connection) -> int:
    """Empty the read models and replay the whole log into them (one transaction)."""
    async with conn.transaction():
        return await replay_own(conn, OWN, TABLES)


# Every read model of the service, and how each is fed (the audit rebuilds them from this).
# The consumer `rewards-review` only appends the service's own events (awards,
# adjustments): what it does reaches the read models through the own log.
OWN = OwnLog(registry, project)

PROJECTIONS = [
    Projection("awards", ("awards", "adjustments"), own=OWN),
    Projection("payroll", ("acknowledgements", "payroll_periods"), own=OWN),
]
