"""The nomination service's published events: the directory, rounds and nominations.

Subjects are `flowers.evt.nomination.<EventType>`. Datetimes are timezone-aware (UTC as
the service writes them); amounts and measured values are Decimal, serialised as strings.
Every event carries what its consumers need, so nobody calls back into this service.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from shared.clock import SHANGHAI
from shared.contracts.common import Category, NomineeSnapshot
from shared.events import DomainEvent, EventRegistry
from shared.personal_data import PersonalFields
from shared.rounds import Cadence, RoundId


def _erased_links(value: Any) -> Any:
    """Evidence links are sealed as one value (a file's name may be personal): once the key
    is destroyed they read as one link, 已删除."""
    return (value,) if isinstance(value, str) else value


# A nomination's evidence links: web links and `/files/<sha256>/<name>` (the gateway's file
# store). Sealed under the nominee's key from version 2 of NominationSubmitted on (and every
# NominationAmended written since): the same shape, only the storage changed.
EvidenceLinks = Annotated[tuple[str, ...], BeforeValidator(_erased_links)]

DIRECTORY_STREAM = "directory"
PRIVACY_STREAM = "privacy"  # the erasures of personal data the office recorded


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
    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no", ("name", "position"))

    employee_no: str
    name: str
    unit_code: str
    position: str


class EmployeeUpdated(NominationEvent):
    """A name or position changed; both carry their new values."""

    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no", ("name", "position"))

    employee_no: str
    unit_code: str
    name: str
    position: str


class EmployeeTransferred(NominationEvent):
    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no")

    employee_no: str
    from_unit_code: str
    to_unit_code: str


class EmployeeLeft(NominationEvent):
    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no")

    employee_no: str
    unit_code: str


class EmployeeRejoined(NominationEvent):
    """An employee who had left is active again, with their current unit, name and position."""

    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no", ("name", "position"))

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


CAMPAIGN_TIMEZONE = "Asia/Shanghai"


def _on_wall_clock(data: dict[str, Any]) -> datetime:
    """`deadline` on the wall clock of `timezone` (both validated before `deadline_local`)."""
    deadline: datetime = data["deadline"]
    return deadline.astimezone(_zone(data["timezone"]))


def _zone(name: str) -> ZoneInfo:
    try:
        return SHANGHAI if name == CAMPAIGN_TIMEZONE else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


class RoundOpenedV1(NominationEvent):
    """Version 1 of RoundOpened, as logs written before version 2 hold it (never emitted now).

    `deadline` is the last accepted second of the round, as an instant (UTC as written).
    Nothing in version 1 says which wall clock the deadline was set on; it was always
    Asia/Shanghai (DOMAIN.md "Rounds"), which is what the upcaster to version 2 states.
    The meaning of a version never changes: this class documents version 1 for good, and
    the registry upcasts it on read (see `_round_opened_v1_to_v2`).
    """

    event_type: ClassVar[str] = "RoundOpened"
    schema_version: ClassVar[int] = 1

    round_id: RoundId
    cadence: Cadence
    deadline: AwareDatetime
    opened_by: str
    opened_at: AwareDatetime


class RoundOpened(NominationEvent):
    """A round's nomination window opened (version 2).

    `deadline` is the last accepted second as an instant (UTC as written). Version 2 adds
    the deadline as the office set it: `deadline_local`, the same instant on the campaign's
    wall clock (with its offset, e.g. `2026-12-25T23:59:59+08:00`), and `timezone`, that
    clock's IANA name. Consumers show "截止 2026-12-25 23:59:59（北京时间）" without knowing the
    campaign's zone, and no reader has to guess which day "the 25th" was. Both are checked
    against `deadline`; left out (older writers, tests), they are derived from it.
    """

    schema_version: ClassVar[int] = 2

    round_id: RoundId
    cadence: Cadence
    deadline: AwareDatetime
    opened_by: str
    opened_at: AwareDatetime
    timezone: str = CAMPAIGN_TIMEZONE
    deadline_local: AwareDatetime = Field(default_factory=_on_wall_clock)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        _zone(value)
        return value

    @model_validator(mode="after")
    def _local_deadline_is_the_deadline(self) -> RoundOpened:
        zone = _zone(self.timezone)
        if self.deadline_local != self.deadline:
            raise ValueError("deadline_local must be the same instant as deadline")
        if self.deadline_local.utcoffset() != self.deadline.astimezone(zone).utcoffset():
            raise ValueError(f"deadline_local must carry the offset of {self.timezone}")
        return self


class DeadlineExtended(NominationEvent):
    """The office moved a deadline later: for the whole round (`unit_code` None) or one unit."""

    round_id: RoundId
    unit_code: str | None
    previous_deadline: AwareDatetime
    new_deadline: AwareDatetime
    reason: str
    extended_by: str
    extended_at: AwareDatetime


class ConsentUse(StrEnum):
    """A way a winner may be shown publicly; the nominee consents to each one separately
    (PIPL art. 25: separate consent before personal information is made public)."""

    NOTICE = "notice"  # 公示: the notice board, its PDF and JSON
    HONOR_ROLL = "honor_roll"  # 光荣榜 (page, poster)
    BULLETIN = "bulletin"  # 简报通报
    OFFICIAL_ACCOUNT = "official_account"  # 公众号文章
    POSTER_VIDEO = "poster_video"  # 海报、会议视频

    @property
    def label_zh(self) -> str:
        return CONSENT_USE_LABELS_ZH[self]


CONSENT_USE_LABELS_ZH: dict[ConsentUse, str] = {
    ConsentUse.NOTICE: "公示",
    ConsentUse.HONOR_ROLL: "光荣榜",
    ConsentUse.BULLETIN: "简报通报",
    ConsentUse.OFFICIAL_ACCOUNT: "公众号文章",
    ConsentUse.POSTER_VIDEO: "海报与视频",
}

Disclosure = Literal["full", "basic", "none"]
"""How much of a winner a public surface shows: `full` everything it normally shows; `basic`
name, unit, position and flower only (no deeds, results, photo); `none` nothing personal
(listed as "某某（未同意公开）" or left out, the count kept)."""

DISCLOSURES: tuple[Disclosure, ...] = ("full", "basic", "none")

WITHOUT_CONSENT_DEFAULT: dict[str, Disclosure] = {
    ConsentUse.NOTICE.value: "basic",
    ConsentUse.HONOR_ROLL.value: "none",
    ConsentUse.BULLETIN.value: "none",
    ConsentUse.OFFICIAL_ACCOUNT.value: "none",
    ConsentUse.POSTER_VIDEO.value: "none",
}
"""The union's default rules for a winner without consent (README "Consent to publicity"):
the notice is a step of the award procedure (colleagues can only object to a named person),
so name, unit, position and flower appear there; everything else is publicity and needs
consent."""

WITHHELD_NAME_ZH = "某某（未同意公开）"


class PublicityConsent(BaseModel):
    """The uses of public display the nominee consented to (any not listed: refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uses: tuple[ConsentUse, ...] = Field(default=(), max_length=len(ConsentUse))

    @field_validator("uses")
    @classmethod
    def _sorted_once(cls, value: tuple[ConsentUse, ...]) -> tuple[ConsentUse, ...]:
        """One canonical order, so equal consents are equal events (and hash alike)."""
        return tuple(u for u in ConsentUse if u in value)

    @classmethod
    def to_all(cls) -> PublicityConsent:
        return cls(uses=tuple(ConsentUse))


def disclosure(
    consent: PublicityConsent | None, use: ConsentUse, without: Mapping[str, str]
) -> Disclosure:
    """What `use` may show of a winner: everything with consent; else what the union's rules
    (`without`, use -> disclosure) allow. No consent recorded counts as no consent."""
    if consent is not None and use in consent.uses:
        return "full"
    level = without.get(use.value, "none")
    return level if level in ("full", "basic") else "none"  # type: ignore[return-value]


class NominationSubmittedV1(NominationEvent):
    """Version 1 of NominationSubmitted, as logs written before version 2 hold it (never
    emitted now): no consent to publicity was asked. The upcaster states that as
    `consent: None` ("not recorded"), which every public surface treats as no consent."""

    event_type: ClassVar[str] = "NominationSubmitted"
    schema_version: ClassVar[int] = 1

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


class NominationSubmitted(NominationEvent):
    """A unit nominated one of its employees (version 2).

    Version 2 adds `consent`: the nominee's consent to each public use, as the unit recorded
    it with the nomination; None when it was not recorded (version 1, or a writer that did
    not ask), which counts as no consent. The deeds and the recommendation are the nominee's
    personal data beside their snapshot (sealed under the nominee's key, shared/personal_data).
    """

    schema_version: ClassVar[int] = 2
    personal_data: ClassVar[PersonalFields] = PersonalFields(
        "nominee.employee_no", ("deeds", "recommendation", "evidence_links")
    )

    nomination_id: UUID
    round_id: RoundId
    category: Category
    nominee: NomineeSnapshot
    deeds: str
    results: tuple[MeasurableResult, ...]
    evidence_links: EvidenceLinks
    recommendation: str
    submitted_by: str
    submitted_at: AwareDatetime
    consent: PublicityConsent | None = None


class PublicityConsentRecorded(NominationEvent):
    """The unit recorded (or changed) the nominee's consent to public display, which it may
    do until the round's result is published. `consent` replaces any earlier one whole."""

    schema_version: ClassVar[int] = 1
    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no")

    nomination_id: UUID
    round_id: RoundId
    employee_no: str
    consent: PublicityConsent
    recorded_by: str
    recorded_at: AwareDatetime


class NominationAmended(NominationEvent):
    """The full new content of a nomination (not a patch): the nominee never changes."""

    personal_data: ClassVar[PersonalFields] = PersonalFields(
        "nominee.employee_no", ("deeds", "recommendation", "evidence_links")
    )

    nomination_id: UUID
    round_id: RoundId
    category: Category
    nominee: NomineeSnapshot
    deeds: str
    results: tuple[MeasurableResult, ...]
    evidence_links: EvidenceLinks
    recommendation: str
    amended_by: str
    amended_at: AwareDatetime


class NominationWithdrawn(NominationEvent):
    personal_data: ClassVar[PersonalFields] = PersonalFields("nominee.employee_no", ("reason",))

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


class RoundReopenedForUnit(NominationEvent):
    """The office let one unit nominate again in a closed round, until `new_deadline`, for
    a recorded reason; only before the office began auditing the round. The unit's
    nominations reach the review when its window shuts (UnitNominationsClosed); until then
    nothing of the round may be decided."""

    schema_version: ClassVar[int] = 1

    round_id: RoundId
    unit_code: str
    new_deadline: AwareDatetime
    reason: str
    reopened_by: str
    reopened_at: AwareDatetime


class UnitNominationsClosed(NominationEvent):
    """A reopened unit's window is shut: `nominations` lists that unit's standing nominations
    (as NominationsClosed does for the round). With it every unit is closed again, unless
    another unit's window is still open."""

    schema_version: ClassVar[int] = 1

    round_id: RoundId
    unit_code: str
    closed_at: AwareDatetime
    how: Literal["deadline", "early"]
    closed_by: str
    deadline: AwareDatetime
    nominations: tuple[ClosedNomination, ...]


# --- Personal data (stream "privacy") ---------------------------------------------------------


class PersonalDataErased(NominationEvent):
    """The office erased a data subject's personal data on their request: the subject's key
    was destroyed (crypto-shredding, shared/keystore.py), so each of their sealed values
    reads "已删除" in every log, in FLOWERS and in every backup, while the chains still
    verify. It names the pseudonym only: the event holds nothing personal itself. `reason`
    is the ground the office recorded (which request, which rule)."""

    subject_id: UUID
    reason: str
    erased_by: str
    erased_at: AwareDatetime


class NomineeCorrected(NominationEvent):
    """The office corrected the nominee's name or position in a nomination at the data
    subject's request (个人信息保护法 第四十六条): from here on every reader shows `value`;
    the nomination's earlier events keep the original. `reason` is the ground (which request).
    The employee number and the corrected value are the nominee's personal data (sealed)."""

    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no", ("value",))

    nomination_id: UUID
    round_id: RoundId
    employee_no: str
    field: Literal["name", "position"]
    value: str
    reason: str
    corrected_by: str
    corrected_at: AwareDatetime


class ShreddedSubject(BaseModel):
    """One data subject the retention job shredded: the pseudonym, the rule whose time ran
    out, and when it ran out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject_id: UUID
    rule: str
    expired_at: AwareDatetime


class ExpiredPersonalDataShredded(NominationEvent):
    """A run of the retention job (README "Retention"): the personal data whose retention
    time had run out was shredded, i.e. these subjects' keys were destroyed after this was
    recorded. `counts` is the number of subjects per rule; `years` the retention settings in
    force (rule -> years). Pseudonyms only: nothing personal."""

    subjects: tuple[ShreddedSubject, ...]
    counts: dict[str, int]
    years: dict[str, int]
    ran_at: AwareDatetime


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
        RoundReopenedForUnit,
        UnitNominationsClosed,
        PublicityConsentRecorded,
        PersonalDataErased,
        ExpiredPersonalDataShredded,
        NomineeCorrected,
    ]
)


@registry.upcaster(RoundOpened.event_type, from_version=1)
def _round_opened_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 deadlines were Shanghai wall-clock times: say so explicitly."""
    v1 = RoundOpenedV1.model_validate(data)
    return {
        **v1.to_data(),
        "timezone": CAMPAIGN_TIMEZONE,
        "deadline_local": v1.deadline.astimezone(SHANGHAI).isoformat(),
    }


@registry.upcaster(NominationSubmitted.event_type, from_version=1)
def _nomination_submitted_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 asked no consent: say so explicitly ("not recorded", i.e. no consent)."""
    v1 = NominationSubmittedV1.model_validate(data)
    return {**v1.to_data(), "consent": None}
