"""The nomination service's read models: its own, fed in the transaction of each append, and
`past_wins` and `rejections`, fed by the consumer `nomination-review` of review's audit and
results (PROJECTIONS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg

from shared.contracts import review as review_contract
from shared.contracts.nomination import (
    DeadlineExtended,
    EmployeeLeft,
    EmployeeRegistered,
    EmployeeRejoined,
    EmployeeTransferred,
    EmployeeUpdated,
    NominationAmended,
    NominationsClosed,
    NominationSubmitted,
    NominationWithdrawn,
    NomineeCorrected,
    PublicityConsentRecorded,
    RoundOpened,
    RoundReopenedForUnit,
    UnitNominationsClosed,
    UnitRegistered,
    UnitRenamed,
    registry,
)
from shared.events import DomainEvent
from shared.projection import (
    ConsumedFeed,
    Items,
    OwnLog,
    Projection,
    Statement,
    run_by_table,
    run_statements,
    statement,
)

SCHEMA_SQL = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")

UPSERT_EMPLOYEE = """
    INSERT INTO employees (employee_no, name, unit_code, position, active)
    VALUES ($1, $2, $3, $4, true)
    ON CONFLICT (employee_no) DO UPDATE SET name = excluded.name,
        unit_code = excluded.unit_code, position = excluded.position, active = true
"""


async def project(conn: asyncpg.Connection, items: Items) -> None:
    """The own read models, a batch at a time (consecutive like writes as one round trip)."""
    await run_statements(conn, (w for _, event in items for w in writes(event)))


async def project_bulk(conn: asyncpg.Connection, items: Items) -> None:
    """`project` for a rebuild's long runs: every write here touches one table and reads
    no other, and no foreign key or trigger joins the tables, so the writes go grouped by
    table (a round's opening no longer splits the run of its nominations)."""
    await run_by_table(conn, (w for _, event in items for w in writes(event)))


def writes(event: DomainEvent) -> Iterator[Statement]:
    match event:
        case UnitRegistered() | UnitRenamed():
            yield statement(
                "INSERT INTO units (unit_code, name) VALUES ($1, $2) "
                "ON CONFLICT (unit_code) DO UPDATE SET name = excluded.name",
                event.unit_code,
                event.name,
            )
        case EmployeeRegistered() | EmployeeUpdated() | EmployeeRejoined():
            yield statement(
                UPSERT_EMPLOYEE, event.employee_no, event.name, event.unit_code, event.position
            )
        case EmployeeTransferred():
            yield statement(
                "UPDATE employees SET unit_code = $2 WHERE employee_no = $1",
                event.employee_no,
                event.to_unit_code,
            )
        case EmployeeLeft():
            yield statement(
                "UPDATE employees SET active = false WHERE employee_no = $1", event.employee_no
            )
        case RoundOpened():
            yield statement(
                "INSERT INTO rounds (round_id, cadence, deadline, status, opened_at) "
                "VALUES ($1, $2, $3, 'open', $4)",
                event.round_id,
                event.cadence.value,
                event.deadline,
                event.opened_at,
            )
        case DeadlineExtended() if event.unit_code is None:
            yield statement(
                "UPDATE rounds SET deadline = $2 WHERE round_id = $1",
                event.round_id,
                event.new_deadline,
            )
        case DeadlineExtended():
            yield statement(
                "UPDATE rounds SET unit_deadlines = "
                "unit_deadlines || jsonb_build_object($2::text, $3::text) WHERE round_id = $1",
                event.round_id,
                event.unit_code,
                event.new_deadline.isoformat(),
            )
        case NominationsClosed():
            yield statement(
                "UPDATE rounds SET status = 'closed', closed_at = $2, closed_how = $3 "
                "WHERE round_id = $1",
                event.round_id,
                event.closed_at,
                event.how,
            )
            yield statement(
                "UPDATE nominations SET status = 'closed', updated_at = $2 "
                "WHERE round_id = $1 AND status = 'submitted'",
                event.round_id,
                event.closed_at,
            )
        case RoundReopenedForUnit():
            yield statement(
                "UPDATE rounds SET reopened = "
                "reopened || jsonb_build_object($2::text, $3::text) WHERE round_id = $1",
                event.round_id,
                event.unit_code,
                event.new_deadline.isoformat(),
            )
        case UnitNominationsClosed():
            yield statement(
                "UPDATE rounds SET reopened = reopened - $2::text WHERE round_id = $1",
                event.round_id,
                event.unit_code,
            )
            yield statement(
                "UPDATE nominations SET status = 'closed', updated_at = $3 "
                "WHERE round_id = $1 AND unit_code = $2 AND status = 'submitted'",
                event.round_id,
                event.unit_code,
                event.closed_at,
            )
        case NominationSubmitted():
            yield statement(
                """
                INSERT INTO nominations (nomination_id, round_id, category, employee_no, name,
                    unit_code, unit_name, position, deeds, results, evidence_links,
                    recommendation, status, submitted_by, submitted_at, updated_at, consent)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'submitted',
                        $13, $14, $14, $15)
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
                [r.model_dump(mode="json") for r in event.results],
                list(event.evidence_links),
                event.recommendation,
                event.submitted_by,
                event.submitted_at,
                None if event.consent is None else event.consent.model_dump(mode="json"),
            )
        case PublicityConsentRecorded():
            yield statement(
                "UPDATE nominations SET consent = $2 WHERE nomination_id = $1",
                event.nomination_id,
                event.consent.model_dump(mode="json"),
            )
        case NominationAmended():
            yield statement(
                """
                UPDATE nominations SET category = $2, deeds = $3, results = $4,
                    evidence_links = $5, recommendation = $6, updated_at = $7
                WHERE nomination_id = $1
                """,
                event.nomination_id,
                event.category.value,
                event.deeds,
                [r.model_dump(mode="json") for r in event.results],
                list(event.evidence_links),
                event.recommendation,
                event.amended_at,
            )
        case NominationWithdrawn():
            yield statement(
                "UPDATE nominations SET status = 'withdrawn', withdraw_reason = $2, "
                "updated_at = $3 WHERE nomination_id = $1",
                event.nomination_id,
                event.reason,
                event.withdrawn_at,
            )
        case NomineeCorrected():
            # `field` is a Literal of the two column names ("name", "position"): safe to name.
            yield statement(
                f"UPDATE nominations SET {event.field} = $2, updated_at = $3 "
                "WHERE nomination_id = $1",
                event.nomination_id,
                event.value,
                event.corrected_at,
            )
        case _:
            pass


# --- Past winners, from review's events (consumer `nomination-review`) ---------------------------


_PAST_WIN = (
    "INSERT INTO past_wins (employee_no, category, round_id, revoked, revoked_at) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (employee_no, category, round_id) "
    "DO UPDATE SET revoked = excluded.revoked, revoked_at = excluded.revoked_at"
)


async def project_review_event(conn: asyncpg.Connection, items: Items) -> None:
    """Remember who won what, for the optional cooldown rule, and which nominations the
    office rejected, which free their place in the quota, which rounds' audit has begun
    (no unit is let in again after that), which rounds' result is published (consent to
    publicity no longer changes) and whose objections were resolved when (retention)."""
    await run_statements(conn, (w for _, event in items for w in _review_writes(event)))


def _review_writes(event: DomainEvent) -> Iterator[Statement]:
    if isinstance(event, review_contract.NominationAccepted | review_contract.NominationRejected):
        yield statement(
            "INSERT INTO audits_started (round_id) VALUES ($1) ON CONFLICT DO NOTHING",
            event.round_id,
        )
    if isinstance(event, review_contract.NominationRejected):
        yield statement(
            "INSERT INTO rejections (nomination_id, round_id) VALUES ($1, $2) "
            "ON CONFLICT (nomination_id) DO NOTHING",
            event.nomination_id,
            event.round_id,
        )
    elif isinstance(event, review_contract.ResultPublished):
        yield statement(
            "INSERT INTO results_published (round_id, published_at) VALUES ($1, $2) "
            "ON CONFLICT (round_id) DO UPDATE SET published_at = "
            "coalesce(results_published.published_at, excluded.published_at)",
            event.round_id,
            event.published_at,
        )
        for winner in event.winners:
            yield statement(
                _PAST_WIN, winner.employee_no, winner.category.value, event.round_id, False, None
            )
    elif isinstance(event, review_contract.WinnerRevoked):
        yield statement(
            _PAST_WIN,
            event.employee_no,
            event.category.value,
            event.round_id,
            True,
            event.revoked_at,
        )
    elif isinstance(event, review_contract.ObjectionRaised):
        yield statement(
            "INSERT INTO objections_held (round_id, objection_no, raiser_subject)"
            " VALUES ($1, $2, $3) ON CONFLICT (round_id, objection_no)"
            " DO UPDATE SET raiser_subject = excluded.raiser_subject",
            event.round_id,
            event.objection_no,
            event.raiser_subject,
        )
    elif isinstance(event, review_contract.ObjectionResolved):
        # Review records a resolution after its objection (one stream per round, in order).
        yield statement(
            "UPDATE objections_held SET resolved_at = $3 WHERE round_id = $1 AND objection_no = $2",
            event.round_id,
            event.objection_no,
            event.resolved_at,
        )


REVIEW_FEED = ConsumedFeed(
    consumer="nomination-review",
    subjects=(
        review_contract.NominationAccepted.subject(),
        review_contract.NominationRejected.subject(),
        review_contract.ResultPublished.subject(),
        review_contract.WinnerRevoked.subject(),
        review_contract.ObjectionRaised.subject(),
        review_contract.ObjectionResolved.subject(),
    ),
    registry=review_contract.registry,
    project=project_review_event,
)

# Every read model of the service, and how each is fed (the audit rebuilds them from this).
OWN = OwnLog(registry, project, bulk=project_bulk)

PROJECTIONS = [
    Projection("directory", ("units", "employees"), own=OWN),
    Projection("nominations", ("rounds", "nominations"), own=OWN),
    Projection(
        "past_wins",
        ("past_wins", "rejections", "audits_started", "results_published", "objections_held"),
        feeds=(REVIEW_FEED,),
    ),
]
