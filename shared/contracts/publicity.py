"""The publicity service's published events: drafts of the materials, their workflow, revisions.

One stream per round, `publicity-<round_id>` (`publicity_stream_id`), holds them all.
Subjects are `flowers.evt.publicity.<EventType>`. Every event carries its `round_id`; every
event about one material carries its `material_id` and `kind`. Material ids are derived
from the round (and, for a correction, the revoked nomination), so the same result drafted
twice names the same materials (`material_id_for`).

A material's content is structured, never markup: a title, a lead paragraph, a closing
paragraph and one section per featured winner (the text shown for that winner and, for
the meeting video, a caption, a duration and a photo slot). The publicity service renders
it (HTML, SVG, .docx, .srt), escaping everything it inserts.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.contracts.common import Category
from shared.contracts.nomination import MeasurableResult
from shared.events import DomainEvent, EventRegistry
from shared.rounds import RoundId

MaterialKind = Literal["honor_roll", "bulletin", "official_account", "storyboard", "correction"]
Channel = Literal["bulletin", "official_account", "meeting"]

BASE_KINDS: tuple[MaterialKind, ...] = ("honor_roll", "bulletin", "official_account", "storyboard")
CHANNELS: tuple[Channel, ...] = ("bulletin", "official_account", "meeting")

KIND_LABELS_ZH: dict[str, str] = {
    "honor_roll": "光荣榜",
    "bulletin": "简报",
    "official_account": "公众号文章",
    "storyboard": "会议短视频脚本",
    "correction": "更正说明",
}
CHANNEL_LABELS_ZH: dict[str, str] = {
    "bulletin": "公司简报",
    "official_account": "微信公众号",
    "meeting": "月度作业计划会",
}
CHANNEL_LABELS_EN: dict[str, str] = {
    "bulletin": "the company bulletin",
    "official_account": "the official account",
    "meeting": "the monthly operations-planning meeting",
}

# Fixed forever: changing it would rename every material ever drafted.
MATERIAL_NAMESPACE = uuid.UUID("5f1c1d0e-7c3a-5b2e-9a41-70b1c6e0f3a7")


def publicity_stream_id(round_id: str) -> str:
    """The event stream of one round's publicity."""
    return f"publicity-{round_id}"


def material_id_for(round_id: str, kind: MaterialKind, nomination_id: UUID | None = None) -> UUID:
    """The id of a round's material; a correction is one per revoked nomination."""
    key = f"{round_id}/{kind}" if nomination_id is None else f"{round_id}/{kind}/{nomination_id}"
    return uuid.uuid5(MATERIAL_NAMESPACE, key)


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PublicityEvent(DomainEvent):
    service: ClassVar[str] = "publicity"

    round_id: RoundId


class FeaturedWinner(_Value):
    """A winner as the published result named them (copied from review's ResultPublished)."""

    nomination_id: UUID
    category: Category
    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    position: str
    deeds: str
    results: tuple[MeasurableResult, ...] = ()
    score: Decimal


class Section(_Value):
    """What one material says about one winner; the editable part of it.

    `caption` (at most 60 characters) and `duration_s` are the meeting video's; `photo_slot`
    describes the photo to put in (honor roll poster, video segment).
    """

    nomination_id: UUID
    text: str
    caption: str = ""
    duration_s: int = 0
    photo_slot: str = ""


class MaterialContent(_Value):
    title: str
    lead: str
    closing: str
    sections: tuple[Section, ...] = ()


class DraftedMaterial(_Value):
    material_id: UUID
    kind: MaterialKind
    channels: tuple[Channel, ...]  # where it may be published
    content: MaterialContent


class MaterialsDrafted(PublicityEvent):
    """Every material of a published result drafted, once per round.

    `meeting_date` is the monthly operations-planning meeting whose video features them.
    """

    result_event_id: UUID  # the review's ResultPublished that caused the drafts
    result_published_at: AwareDatetime
    categories: tuple[Category, ...]
    winners: tuple[FeaturedWinner, ...]
    meeting_date: date
    calendar_fallback_years: tuple[int, ...] = ()  # years without the official schedule
    materials: tuple[DraftedMaterial, ...]
    drafted_at: AwareDatetime


class MaterialEdited(PublicityEvent):
    """The publicity role changed a draft; `content` is the whole new content, `changed`
    names what moved (`title`, `lead`, `closing`, `sections.<nomination_id>.<field>`).
    An approved draft that is edited needs approving again."""

    material_id: UUID
    kind: MaterialKind
    revision: int
    content: MaterialContent
    changed: tuple[str, ...]
    edited_by: str
    edited_at: AwareDatetime


class MaterialApproved(PublicityEvent):
    material_id: UUID
    kind: MaterialKind
    revision: int  # the revision approved
    approved_by: str
    approved_at: AwareDatetime


class MaterialPublished(PublicityEvent):
    """An approved revision marked published on one channel."""

    material_id: UUID
    kind: MaterialKind
    revision: int
    channel: Channel
    published_by: str
    published_at: AwareDatetime


class WinnerRevocationRecorded(PublicityEvent):
    """Review revoked a published winner; publicity no longer features them."""

    nomination_id: UUID
    category: Category
    employee_no: str
    name: str
    reason: str
    revoked_by: str
    revoked_at: AwareDatetime


class HonorRollUpdated(PublicityEvent):
    """The honor roll redrafted without a revoked winner; it needs approving (and publishing)
    again. `was_published` says whether an earlier revision had been published."""

    material_id: UUID
    kind: Literal["honor_roll"] = "honor_roll"
    revision: int
    content: MaterialContent
    removed_nomination_id: UUID
    reason: str
    was_published: bool
    updated_at: AwareDatetime


class MaterialRevised(PublicityEvent):
    """A draft not yet published anywhere redrafted without a revoked winner."""

    material_id: UUID
    kind: MaterialKind
    revision: int
    content: MaterialContent
    removed_nomination_id: UUID
    reason: str
    revised_at: AwareDatetime


class CorrectionDrafted(PublicityEvent):
    """A correction notice (更正说明) for a winner revoked after materials featuring them
    were published; `corrects` lists those materials."""

    material_id: UUID
    kind: Literal["correction"] = "correction"
    nomination_id: UUID
    channels: tuple[Channel, ...]
    content: MaterialContent
    corrects: tuple[UUID, ...]
    drafted_at: AwareDatetime


class CorrectionNoteDrafted(PublicityEvent):
    """The department drafted a correction notice (更正说明) of a published material from its
    page; the original stays as it was published. It goes through the same workflow."""

    material_id: UUID
    kind: Literal["correction"] = "correction"
    corrects: UUID
    channels: tuple[Channel, ...]
    content: MaterialContent
    drafted_by: str
    drafted_at: AwareDatetime


class WinnerPhotoAttached(PublicityEvent):
    """The office or the publicity role gave a winner's photo; the honor roll, the poster, the
    article and the meeting video show it from then on. `sha256` is the photo's name in the
    file store (shared/filestore.py: content-addressed), a JPEG at most `width` × `height`
    as resized on the way in. A newer photo of the same winner replaces this one."""

    nomination_id: UUID
    sha256: str
    media_type: Literal["image/jpeg"] = "image/jpeg"
    width: int
    height: int
    size: int  # bytes, as stored
    attached_by: str
    attached_at: AwareDatetime


def correction_id_for(round_id: str, corrected: UUID, number: int) -> UUID:
    """The id of the `number`-th correction notice (from 1) of a published material."""
    return uuid.uuid5(MATERIAL_NAMESPACE, f"{round_id}/correction-of/{corrected}/{number}")


registry = EventRegistry(
    [
        MaterialsDrafted,
        MaterialEdited,
        MaterialApproved,
        MaterialPublished,
        WinnerRevocationRecorded,
        HonorRollUpdated,
        MaterialRevised,
        CorrectionDrafted,
        CorrectionNoteDrafted,
        WinnerPhotoAttached,
    ]
)
