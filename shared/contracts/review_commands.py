"""Commands to the review service: the gateway builds them, the service validates them.

`actor` is the signed-in user's id; `roles` their roles (see `Role`); `actor_department`
their department, if any — the service sets all three from the verified assertion. Text
that a rule requires (reasons, notes, the objector's real name) must not be blank; the
validation refuses it before the domain.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.contracts.common import Category, RoundRef

NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5_000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)] | None
# The rubric (the review's policy) says which criteria and what range; this bounds the input.
ScoreValue = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=9)]


class Role(StrEnum):
    """Roles the review recognises (R10, plus the discipline-inspection side 纪检)."""

    LEADER = "leader"  # 组长
    DEPUTY_LEADER = "deputy_leader"  # 副组长
    MEMBER = "member"  # 组员
    OFFICE = "office"  # the leadership group's office (办公室)
    DISCIPLINE = "discipline"  # 纪检: may veto
    NOMINATOR = "nominator"
    STAFF = "staff"


class ReviewCommand(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    round_id: RoundRef
    actor: NonBlank
    roles: frozenset[str] = frozenset()
    actor_department: str | None = None


class AcceptNomination(ReviewCommand):
    nomination_id: UUID


class RejectNomination(ReviewCommand):
    nomination_id: UUID
    reason: Reason = Field(description="Shown to the nominating unit")


class AssignPanelist(ReviewCommand):
    panelist_id: NonBlank  # the panelist's user id
    employee_no: NonBlank
    name: NonBlank
    department: NonBlank
    unit_code: str | None = None  # the panelist's own unit, if they belong to one


class RemovePanelist(ReviewCommand):
    panelist_id: NonBlank
    reason: Reason


class RemindPanelist(ReviewCommand):
    """The office reminds a panelist of the nominations still waiting for their score."""

    panelist_id: NonBlank


class SubmitScore(ReviewCommand):
    """A score sheet: one 0–100 value per rubric criterion. Submitting again revises it."""

    nomination_id: UUID
    criteria: Annotated[dict[str, ScoreValue], Field(max_length=20)] = Field(
        description="One value from 0 to 100 per rubric criterion (decimal strings)"
    )
    comment: OptionalText = None

    @field_validator("criteria", mode="before")
    @classmethod
    def _no_floats(cls, value: object) -> object:
        if isinstance(value, dict) and any(isinstance(v, float) for v in value.values()):
            raise ValueError("scores must not be floats: pass Decimals or strings")
        return value


class VetoNomination(ReviewCommand):
    nomination_id: UUID
    reason: Reason


class DecideWinners(ReviewCommand):
    """The leader's choice for one category; `reason` is required off the ranking's order."""

    category: Category
    winners: tuple[UUID, ...] = Field(min_length=1, max_length=50)
    reason: OptionalText = Field(
        default=None, description="Required when the choice departs from the ranking's order"
    )

    @field_validator("winners")
    @classmethod
    def _distinct(cls, value: tuple[UUID, ...]) -> tuple[UUID, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a winner is named twice")
        return value


class StartNotice(ReviewCommand):
    """Announce decided categories not yet announced; `categories` None means all of them."""

    categories: Annotated[tuple[Category, ...], Field(max_length=len(Category))] | None = Field(
        default=None, description="Default: every decided category not yet announced"
    )


class RaiseObjection(ReviewCommand):
    """`actor_employee_no`: the objector's employee number, set from the signed identity."""

    nomination_id: UUID
    actor_employee_no: str | None = None
    raiser_name: NonBlank  # the raiser's real name (实名)
    text: LongText = Field(description="Raised under the account's real name (display name)")


class RecordObjectionNote(ReviewCommand):
    objection_no: int
    note: LongText


class ResolveObjection(ReviewCommand):
    objection_no: int
    outcome: Literal["dismissed", "upheld"]
    resolution: LongText


class NameReplacement(ReviewCommand):
    category: Category
    nomination_id: UUID
    reason: OptionalText = Field(
        default=None, description="Required unless it is the best remaining eligible nomination"
    )


class PublishResult(ReviewCommand):
    pass


class RevokeWinner(ReviewCommand):
    nomination_id: UUID
    reason: Reason


Command = (
    AcceptNomination
    | RejectNomination
    | AssignPanelist
    | RemovePanelist
    | RemindPanelist
    | SubmitScore
    | VetoNomination
    | DecideWinners
    | StartNotice
    | RaiseObjection
    | RecordObjectionNote
    | ResolveObjection
    | NameReplacement
    | PublishResult
    | RevokeWinner
)
