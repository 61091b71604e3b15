"""Commands to the nomination service: the gateway builds them, the service validates them.

Each names its actor and the actor's roles; a nominator's commands also carry the unit the
actor is bound to. The service sets these identity fields from the verified assertion
(shared.rpc), whatever the body says. Field constraints check only the input's shape;
every business rule (deadline, quota, deeds length, links, the unit) is the domain's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.common import Category, RoundRef
from shared.contracts.nomination import PublicityConsent

NOMINATOR = "nominator"
OFFICE = "office"
ADMIN = "admin"
SCHEDULER = "scheduler"  # the actor of the automatic close at the deadline

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)]
# A hard cap on input size; the policy's bounds (default 50–3000) are checked by the domain.
DeedsText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)]
Link = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: Code
    roles: frozenset[str] = frozenset()


class NominatorCommand(Command):
    actor_unit_code: Code | None = None


# --- Directory --------------------------------------------------------------------------------


class DirectoryRow(BaseModel):
    """One employee line of a directory import (HR export): who, in which unit, still here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unit_code: Code
    unit_name: Name
    employee_no: Code
    name: Name
    position: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    active: bool = True


class ImportDirectory(Command):
    """Bring the directory in line with these rows.

    With `complete` the rows are the whole staff: an active employee missing from them left.
    """

    rows: Annotated[tuple[DirectoryRow, ...], Field(max_length=100_000)]
    complete: bool = Field(default=False, description="The rows are the whole staff")


class ErasePersonalData(Command):
    """Erase an employee's personal data on their request (the office, with the reason):
    their key is destroyed, so their data reads "已删除" everywhere (README "Privacy")."""

    employee_no: Code
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]


class CorrectNominee(Command):
    """Correct a nominee's name or position in one nomination on the data subject's request
    (the office, with the reason): a correcting event, the original kept in the log."""

    nomination_id: UUID
    field: Literal["name", "position"]
    value: Name
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]


# --- Rounds -----------------------------------------------------------------------------------


class OpenRound(Command):
    round_id: RoundRef = Field(description="e.g. 2026-Q4 (quarterly) or 2026-11 (monthly)")
    deadline: AwareDatetime | None = Field(default=None, description="Default: the policy's")


class ExtendDeadline(Command):
    round_id: RoundRef
    unit_code: Code | None = Field(default=None, description="Only this unit; default: all")
    new_deadline: AwareDatetime
    reason: ShortText


class ReopenForUnit(Command):
    """Let one unit nominate again in a closed round until `new_deadline` (a recorded reason)."""

    round_id: RoundRef
    unit_code: Code
    new_deadline: AwareDatetime
    reason: ShortText


class CloseRound(Command):
    """Close the window: `scheduled` when the scheduler fires at the deadline (idempotent)."""

    round_id: RoundRef
    scheduled: bool = False


# --- Nominations ------------------------------------------------------------------------------


class MeasurableResultInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: Name
    value: Annotated[Decimal, Field(allow_inf_nan=False, max_digits=20)]
    unit: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""


class NominationContent(NominatorCommand):
    category: Category
    deeds: DeedsText
    results: Annotated[tuple[MeasurableResultInput, ...], Field(max_length=20)] = ()
    evidence_links: Annotated[tuple[Link, ...], Field(max_length=10)] = ()
    recommendation: ShortText


class SubmitNomination(NominationContent):
    """Nominate `employee_no` of `unit_code`. The id comes with the command: a retry is a no-op."""

    nomination_id: UUID
    round_id: RoundRef
    unit_code: Code
    employee_no: Code
    consent: PublicityConsent | None = Field(
        default=None,
        description="The nominee's consent to each public use; left out: not recorded "
        "(counts as no consent)",
    )


class AmendNomination(NominationContent):
    """Replace a nomination's content (category included); the nominee stays.

    The service finds the nomination's round itself."""

    nomination_id: UUID


class WithdrawNomination(NominatorCommand):
    nomination_id: UUID
    reason: ShortText


class RecordConsent(NominatorCommand):
    """Record or change the nominee's consent to public display, until the result is
    published; the new consent replaces the old one whole."""

    nomination_id: UUID
    consent: PublicityConsent
