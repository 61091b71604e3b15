"""Commands to the publicity service: the gateway builds them, the service validates them.

Each names its actor and the actor's roles (set by the service from the verified assertion).
Field
constraints check only the input's shape; the rules (who may, caption length, durations,
which channel) are the domain's.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.publicity import Channel
from shared.rounds import RoundId

PUBLICITY = "publicity"  # the Party-Mass Work Department's role
OFFICE = "office"  # the leadership group's office (办公室): may give winners' photos too
SYSTEM = "system:publicity"  # the actor of drafts and revisions the service makes itself

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Paragraph = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5_000)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: Code
    roles: frozenset[str] = frozenset()


class MaterialCommand(Command):
    material_id: UUID


class SectionEdit(BaseModel):
    """New values for one winner's section; a field left out stays as it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nomination_id: UUID
    text: Text | None = None
    caption: ShortText | None = Field(
        default=None, description="Storyboard only; at most 60 characters (the setting)"
    )
    duration_s: int | None = Field(default=None, description="Storyboard only")
    photo_slot: ShortText | None = None


class EditMaterial(MaterialCommand):
    """Change a draft's wording. `expected_revision`: refuse if someone changed it meanwhile."""

    expected_revision: int | None = Field(
        default=None, description="Refused with stale_revision if the draft changed meanwhile"
    )
    title: Title | None = None
    lead: Paragraph | None = None
    closing: Paragraph | None = None
    sections: Annotated[tuple[SectionEdit, ...], Field(max_length=100)] = ()


class ApproveMaterial(MaterialCommand):
    """Approve the draft as it stands (at `expected_revision`, when given)."""

    expected_revision: int | None = None


class RenderVideo(MaterialCommand):
    """Render the meeting video of an approved storyboard, in the background."""


class PublishMaterial(MaterialCommand):
    """Mark the approved draft published on one channel."""

    channel: Channel


class CorrectMaterial(MaterialCommand):
    """Draft a correction notice of a published material: what was wrong and what is right."""

    correction: Paragraph = Field(min_length=1)


# A photo as sent: at most this many bytes before base64 (the gateway's limit is lower).
PHOTO_MAX_BYTES = 5 * 1024 * 1024


class AttachWinnerPhoto(Command):
    """Give a winner of a round a photo (JPEG or PNG, base64); the service checks and resizes
    it, keeps it in the file store and records it. A second photo replaces the first."""

    round_id: RoundId
    nomination_id: UUID
    photo: Annotated[str, StringConstraints(max_length=(PHOTO_MAX_BYTES + 2) // 3 * 4)] = Field(
        description="The image file, base64"
    )


MaterialWorkflowCommand = EditMaterial | ApproveMaterial | PublishMaterial | CorrectMaterial
