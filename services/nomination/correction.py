"""Correcting a nominee's personal data on the data subject's request (issue 18, item 4).
Pure: no I/O.

The office corrects the name or the position the nomination recorded (a misspelt name, a
wrong position): one `NomineeCorrected` in the round's stream, the earlier events kept as
they were. The round's state takes the corrected value (services/nomination/domain.py
`evolve_round`), so the close's snapshot, the projection and every later event carry it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.nomination.domain import RoundState
from services.nomination.errors import NominationNotFound, NotOffice
from shared.contracts.nomination import NomineeCorrected
from shared.contracts.nomination_commands import OFFICE, CorrectNominee
from shared.events import DomainEvent


def decide_correction(
    state: RoundState | None, cmd: CorrectNominee, now: datetime
) -> list[DomainEvent]:
    """Record the correction (nothing if the nomination already reads that value: the same
    request again records nothing)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the domain needs timezone-aware datetimes")
    if OFFICE not in cmd.roles:
        raise NotOffice()
    nomination = state.nominations.get(cmd.nomination_id) if state is not None else None
    if state is None or nomination is None:
        round_id = state.round_id if state is not None else "-"
        raise NominationNotFound(round_id=round_id, nomination_id=str(cmd.nomination_id))
    if getattr(nomination.nominee, cmd.field) == cmd.value:
        return []
    return [
        NomineeCorrected(
            nomination_id=nomination.nomination_id,
            round_id=state.round_id,
            employee_no=nomination.employee_no,
            field=cmd.field,
            value=cmd.value,
            reason=cmd.reason,
            corrected_by=cmd.actor,
            corrected_at=now.astimezone(UTC),
        )
    ]
