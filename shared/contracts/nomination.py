"""The nomination service's published events: the directory, rounds and nominations.

Subjects are `flowers.evt.nomination.<EventType>`. Datetimes are timezone-aware (UTC as
the service writes them); amounts and measured values are Decimal, serialised as strings.
Every event carries what its consumers need, so nobody calls back into this service.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.contracts.common import Category, NomineeSnapshot
from shared.events import DomainEvent, EventRegistry
from shared.rounds import Cadence, RoundId

DIRECTORY_STREAM = "directory"


def round_stream_id(round_id: str) -> str:
    """The event stream of one round, holding its window and all its nominations."""
    return f"round-{round_id}"


class NominationEvent(DomainEvent):
    service: ClassVar[str] = "nomination"


# --- The directory: units and employees (stream "directory") ---------------------------------


class UnitRegistered(NominationEvent):
    unit_code: str
    name: str


class UnitRenamed(NominationEvent):
    unit_code: str
    previous_name: str
    name: str


class EmployeeRegistered(NominationEvent):
    employee_no: str
    name: str
    unit_code: str
    position: str


class EmployeeUpdated(NominationEvent):
    """A name or position changed; both carry their new values."""

    employee_no: str
    unit_code: str
    name: str
    position: str


class EmployeeTransferred(NominationEvent):
    employee_no: str
    from_unit_code: str
    to_unit_code: str


class EmployeeLeft(NominationEvent):
    employee_no: str
    unit_code: str


class EmployeeRejoined(NominationEvent):
    """An employee who had left is active again, with their current unit, name and position."""

    employee_no: str
    name: str
    unit_code: str
    position: str


# --- Rounds and nominations (stream "round-<round_id>") ---------------------------------------


class MeasurableResult(BaseModel):
    """One measured result (业绩), e.g. cost saved / 120000 / CNY."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    value: Decimal
    unit: str


class RoundOpened(NominationEvent):
    round_id: RoundId
    cadence: Cadence
    deadline: AwareDatetime
    opened_by: str
    opened_at: AwareDatetime


class DeadlineExtended(NominationEvent):
    """The office moved a deadline later: for the whole round (`unit_code` None) or one unit."""

    round_id: RoundId
    unit_code: str | None
    previous_deadline: AwareDatetime
    new_deadline: AwareDatetime
    reason: str
    extended_by: str
    extended_at: AwareDatetime


class NominationSubmitted(NominationEvent):
    nomination_id: UUID
    round_id: RoundId
    category: Category
    nominee: NomineeSnapshot
    deeds: str
    results: tuple[MeasurableResult, ...]
    evidence_links: tuple[str, ...]
    recommendation: str
    submitted_by: str
    submitted_at: AwareDatetime


class NominationAmended(NominationEvent):
    """The full new content of a nomination (not a patch): the nominee never changes."""

    nomination_id: UUID
    round_id: RoundId
    category: Category
    nominee: NomineeSnapshot
    deeds: str
    results: tuple[MeasurableResult, ...]
    evidence_links: tuple[str, ...]
    recommendation: str
    amended_by: str
    amended_at: AwareDatetime


class NominationWithdrawn(NominationEvent):
    nomination_id: UUID
    round_id: RoundId
    category: Category
    nominee: NomineeSnapshot
    reason: str
    withdrawn_by: str
    withdrawn_at: AwareDatetime


class ClosedNomination(BaseModel):
    """A nomination standing when the round closed.

    Deeds and results travel in NominationSubmitted/NominationAmended; keeping them out of
    the close keeps that one message well below the bus's 1 MB payload limit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    nomination_id: UUID
    category: Category
    nominee: NomineeSnapshot
    submitted_by: str
    submitted_at: AwareDatetime
    last_amended_at: AwareDatetime | None


class NominationsClosed(NominationEvent):
    """The window is shut: `nominations` lists every nomination still standing (none withdrawn).

    `how` is "deadline" when the last effective deadline had passed, "early" when the office
    closed the round before it.
    """

    round_id: RoundId
    closed_at: AwareDatetime
    how: Literal["deadline", "early"]
    closed_by: str
    deadline: AwareDatetime
    nominations: tuple[ClosedNomination, ...]


registry = EventRegistry(
    [
        UnitRegistered,
        UnitRenamed,
        EmployeeRegistered,
        EmployeeUpdated,
        EmployeeTransferred,
        EmployeeLeft,
        EmployeeRejoined,
        RoundOpened,
        DeadlineExtended,
        NominationSubmitted,
        NominationAmended,
        NominationWithdrawn,
        NominationsClosed,
    ]
)
