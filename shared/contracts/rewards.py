"""The rewards service's published events: awards, payroll adjustments, their reversal and
payroll's acknowledgements; plus the payroll line every payroll-facing channel carries.

Streams: one per award, `award-<award_id>` (AwardGranted, PayrollAdjustmentIssued,
AwardRevoked, PayrollAdjustmentReversed), and one per payroll period,
`payroll-period-<YYYY-MM>` (PayrollAdjustmentAcknowledged). Subjects are
`flowers.evt.rewards.<EventType>`. Every adjustment is also published, as a `PayrollLine`,
to stream PAYROLL on its own subject `flowers.payroll.adjustment.<adjustment_id>`.

Personal data (shared/personal_data.py): a winner's employee number (identifying), name,
position and deeds, and a revocation's reason are sealed under the winner's key when stored;
unit, flower, amounts, periods, ids and times stay readable. A PAYROLL message carries the
values exactly as the adjustment event stored them (sealed for that event: `event_id`);
the payroll system opens them with `open_payroll_line` (shared/payroll_reader.py reads the
keys), and once the winner's key is destroyed they read 已删除.

Ids are derived, never drawn: the award id is uuid5 of (round, category, employee number),
the adjustment ids and event ids derive from the award id, so the same winner seen twice
names the same award, the same adjustments and the same events. Money is Decimal with an
ISO currency, serialised as a string ("500.00", "-500.00").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints

from shared.contracts.common import Category
from shared.events import DomainEvent, EventRegistry
from shared.personal_data import KeyLookup, PersonalFields, is_sealed, open_data
from shared.rounds import RoundId

# Fixed forever: changing it would rename every award and adjustment ever issued.
REWARDS_NAMESPACE = uuid.UUID("8a3f6c2e-4b1d-5e7a-9c0f-2d6b8e1a4f53")

PAYROLL_SUBJECT_PREFIX = "flowers.payroll.adjustment."

PayrollPeriodId = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
"""A payroll period: the month `YYYY-MM` whose wages carry the adjustment."""

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]

TaxTreatment = Literal["taxable_earning"]
"""The award is an earning taxed with that month's wages; payroll computes the tax."""

AdjustmentKind = Literal["award", "reversal"]


def award_id_for(round_id: str, category: Category | str, employee_no: str) -> UUID:
    """One award per winner, ever: uuid5 of `round|category|employee_no`."""
    return uuid.uuid5(REWARDS_NAMESPACE, f"{round_id}|{Category(category).value}|{employee_no}")


def adjustment_id_for(award_id: UUID, kind: AdjustmentKind) -> UUID:
    """The award's paying adjustment (`award`) or its reversing one (`reversal`)."""
    return uuid.uuid5(REWARDS_NAMESPACE, f"adjustment|{award_id}|{kind}")


def award_event_id(award_id: UUID, event_type: str) -> UUID:
    """Each award stream holds each event type at most once, under this id."""
    return uuid.uuid5(REWARDS_NAMESPACE, f"event|{award_id}|{event_type}")


def acknowledgement_event_id(adjustment_id: UUID) -> UUID:
    """One acknowledgement per adjustment id, ever."""
    return uuid.uuid5(REWARDS_NAMESPACE, f"ack|{adjustment_id}")


def award_stream_id(award_id: UUID) -> str:
    return f"award-{award_id}"


def payroll_period_stream_id(period: str) -> str:
    """The stream of payroll's acknowledgements for one period (empty = the period is open)."""
    return f"payroll-period-{period}"


def business_no(period: str, position: int) -> str:
    """An adjustment's short number for people (业务单号), `TZ202612-0042`: its payroll month
    and its place in the rewards log, unique because the place is. Payroll's systems keep the
    adjustment id; people read, say and type this."""
    return f"TZ{period.replace('-', '')}-{position:04d}"


def payroll_subject(adjustment_id: UUID) -> str:
    """The PAYROLL stream's subject of one adjustment (one message per subject, forever)."""
    return f"{PAYROLL_SUBJECT_PREFIX}{adjustment_id}"


class RewardsEvent(DomainEvent):
    service: ClassVar[str] = "rewards"


class AwardGranted(RewardsEvent):
    """A winner of a published result is awarded; `adjustment_id` is the adjustment that pays it.

    `published_at` is the result's publication (it fixes the payroll period); `deeds` and
    `score` (the panel's aggregated score) feed the year-end pacesetter standings.
    """

    personal_data: ClassVar[PersonalFields] = PersonalFields(
        "employee_no", ("name", "position", "deeds")
    )

    award_id: UUID
    round_id: RoundId
    category: Category
    nomination_id: UUID
    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    position: str
    deeds: str
    score: Decimal
    amount: Decimal
    currency: Currency
    adjustment_id: UUID
    period: PayrollPeriodId
    published_at: AwareDatetime
    granted_at: AwareDatetime
    result_event_id: UUID  # review's ResultPublished that caused it


class PayrollAdjustmentIssued(RewardsEvent):
    """A positive adjustment paying an award with the wages of `period`."""

    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no", ("name",))

    adjustment_id: UUID
    award_id: UUID
    round_id: RoundId
    category: Category
    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    amount: Decimal
    currency: Currency
    period: PayrollPeriodId
    reason_code: str
    description_zh: str
    tax_treatment: TaxTreatment = "taxable_earning"
    issued_at: AwareDatetime


class AwardRevoked(RewardsEvent):
    """A granted award revoked (review's WinnerRevoked); `reversal_adjustment_id` takes it back."""

    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no", ("name", "reason"))

    award_id: UUID
    round_id: RoundId
    category: Category
    nomination_id: UUID
    employee_no: str
    name: str
    reason: str
    revoked_by: str
    revoked_at: AwareDatetime
    reversal_adjustment_id: UUID
    reversal_period: PayrollPeriodId
    revocation_event_id: UUID  # review's WinnerRevoked that caused it


class PayrollAdjustmentReversed(RewardsEvent):
    """A negative adjustment in the next open period; the original is never edited."""

    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no", ("name", "reason"))

    adjustment_id: UUID
    reverses_adjustment_id: UUID
    award_id: UUID
    round_id: RoundId
    category: Category
    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    amount: Decimal  # negative: minus the original amount
    currency: Currency
    period: PayrollPeriodId
    reason_code: str
    description_zh: str
    tax_treatment: TaxTreatment = "taxable_earning"
    reason: str
    issued_at: AwareDatetime


class PayrollAdjustmentAcknowledged(RewardsEvent):
    """Payroll says it applied an adjustment: in `period`, for `amount`.

    `known` is False when no such adjustment was issued: the acknowledgement is kept (it is
    payroll's fact) and reconciliation reports it. `issued_period`/`issued_amount` are what
    rewards issued, for a known adjustment. The first acknowledgement in a period closes it.
    """

    adjustment_id: UUID
    period: PayrollPeriodId
    amount: Decimal
    currency: Currency
    known: bool
    award_id: UUID | None = None
    issued_period: PayrollPeriodId | None = None
    issued_amount: Decimal | None = None
    payroll_reference: str | None = None
    acknowledged_by: str
    acknowledged_at: AwareDatetime


class PayrollLine(BaseModel):
    """One adjustment as payroll sees it: the feed's item and the PAYROLL stream's message.

    `position` is the adjustment's place in the rewards log: payroll pulls with
    `after=<last position seen>`. `amount` is a string; a reversal's is negative.

    In stream PAYROLL the message is this line's JSON with `employee_no` and `name` as the
    rewards log stored them: sealed under the winner's key (`{"$pii": …, "ct": …}`) for the
    adjustment event `event_id`. `open_payroll_line` reads such a message back; a line of
    an erased person reads 已删除 there. The pull feed's items (read models) are clear and
    carry no `event_id`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    position: int
    event_id: UUID | None = None  # the adjustment event (PAYROLL: its sealed values' event)
    adjustment_id: UUID
    kind: AdjustmentKind
    award_id: UUID
    reverses_adjustment_id: UUID | None = None
    round_id: str
    category: Category
    category_zh: str
    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    amount: Decimal
    currency: str
    period: PayrollPeriodId
    reason_code: str
    description_zh: str
    tax_treatment: TaxTreatment = "taxable_earning"
    issued_at: AwareDatetime

    @classmethod
    def of(
        cls, position: int, event: PayrollAdjustmentIssued | PayrollAdjustmentReversed
    ) -> PayrollLine:
        reversal = isinstance(event, PayrollAdjustmentReversed)
        reverses = (
            event.reverses_adjustment_id if isinstance(event, PayrollAdjustmentReversed) else None
        )
        return cls(
            position=position,
            adjustment_id=event.adjustment_id,
            kind="reversal" if reversal else "award",
            award_id=event.award_id,
            reverses_adjustment_id=reverses,
            round_id=event.round_id,
            category=event.category,
            category_zh=event.category.label_zh,
            employee_no=event.employee_no,
            name=event.name,
            unit_code=event.unit_code,
            unit_name=event.unit_name,
            amount=event.amount,
            currency=event.currency,
            period=event.period,
            reason_code=event.reason_code,
            description_zh=event.description_zh,
            tax_treatment=event.tax_treatment,
            issued_at=event.issued_at,
        )

    def sealed_message(self, event_id: UUID, stored: Mapping[str, Any]) -> dict[str, Any]:
        """This line as the PAYROLL message of the adjustment event `event_id`, whose data the
        rewards log holds as `stored`: every field the event holds sealed is carried sealed,
        exactly as stored (never opened, never sealed again), so no key is needed to build
        it and a destroyed key leaves nothing readable."""
        message = self.model_copy(update={"event_id": event_id}).model_dump(mode="json")
        for name in message:
            if is_sealed(stored.get(name)):
                message[name] = stored[name]
        return message


def open_payroll_line(message: bytes | Mapping[str, Any], key_of: KeyLookup) -> PayrollLine:
    """A PAYROLL message read back: its sealed values opened with `key_of` (a subject's key
    by pseudonym; None where destroyed: the value reads 已删除, the employee number
    `已删除·<8 hex of the pseudonym>`). A message of a log written before sealing is clear
    and reads as it is."""
    data = json.loads(message) if isinstance(message, bytes) else dict(message)
    event_id = data.get("event_id")
    if event_id is not None:
        data = open_data(data, UUID(str(event_id)), key_of)
    return PayrollLine.model_validate(data)


registry = EventRegistry(
    [
        AwardGranted,
        PayrollAdjustmentIssued,
        AwardRevoked,
        PayrollAdjustmentReversed,
        PayrollAdjustmentAcknowledged,
    ]
)
