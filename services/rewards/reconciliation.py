"""Reconciliation of one payroll period, read side and pure: awards ↔ adjustments ↔ payroll's
acknowledgements, with every disagreement named for Finance.

Each rule is a small function over one award, one adjustment or one acknowledgement;
`reconcile` runs them in that order and adds up the period's amounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from services.rewards.payroll import PayrollPeriod


@dataclass(frozen=True)
class AwardFact:
    award_id: UUID
    employee_no: str
    name: str
    amount: Decimal
    currency: str
    adjustment_id: UUID
    period: str
    revoked: bool = False
    reversal_adjustment_id: UUID | None = None
    reversal_period: str | None = None


@dataclass(frozen=True)
class AdjustmentFact:
    adjustment_id: UUID
    kind: str  # award | reversal
    award_id: UUID
    employee_no: str
    name: str
    amount: Decimal
    currency: str
    period: str


@dataclass(frozen=True)
class AckFact:
    adjustment_id: UUID
    period: str
    amount: Decimal
    currency: str
    payroll_reference: str | None = None


MISMATCH_TEXT: dict[str, tuple[str, str]] = {
    "award_without_adjustment": ("奖励没有对应的工资调整", "award has no payroll adjustment"),
    "revocation_without_reversal": ("撤销的奖励没有冲销调整", "revoked award has no reversal"),
    "adjustment_without_award": ("工资调整没有对应的奖励", "adjustment has no award"),
    "reversal_without_revocation": ("冲销调整对应的奖励未撤销", "reversal of an award not revoked"),
    "adjustment_amount_mismatch": (
        "调整金额与奖励金额不符",
        "adjustment amount differs from award",
    ),
    "adjustment_period_mismatch": ("调整所在期间与奖励记录不符", "adjustment is in another period"),
    "missing_acknowledgement": ("工资系统尚未确认该调整", "payroll has not acknowledged it"),
    "unknown_acknowledgement": (
        "工资系统确认了不存在的调整单",
        "payroll acknowledged an unknown id",
    ),
    "acknowledged_in_other_period": (
        "工资系统在其他期间确认了该调整",
        "acknowledged in another period",
    ),
    "acknowledgement_of_other_period": (
        "本期确认了属于其他期间的调整",
        "acknowledges an adjustment of another period",
    ),
    "acknowledged_amount_mismatch": ("确认金额与调整金额不符", "acknowledged amount differs"),
}


@dataclass(frozen=True)
class Mismatch:
    kind: str
    adjustment_id: UUID | None
    award_id: UUID | None = None
    employee_no: str | None = None
    name: str | None = None
    expected: str | None = None
    actual: str | None = None

    @property
    def message_zh(self) -> str:
        return MISMATCH_TEXT[self.kind][0]

    @property
    def message_en(self) -> str:
        return MISMATCH_TEXT[self.kind][1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "adjustment_id": str(self.adjustment_id) if self.adjustment_id else None,
            "award_id": str(self.award_id) if self.award_id else None,
            "employee_no": self.employee_no,
            "name": self.name,
            "expected": self.expected,
            "actual": self.actual,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


@dataclass(frozen=True)
class Reconciliation:
    period: str
    awards: int
    reversals: int
    issued_amount: Decimal
    reversed_amount: Decimal
    acknowledged: int
    acknowledged_amount: Decimal
    currency: str
    mismatches: tuple[Mismatch, ...]

    @property
    def balanced(self) -> bool:
        return not self.mismatches

    @property
    def net_amount(self) -> Decimal:
        return self.issued_amount + self.reversed_amount

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "label_zh": PayrollPeriod.parse(self.period).label_zh,
            "balanced": self.balanced,
            "awards": self.awards,
            "reversals": self.reversals,
            "issued_amount": f"{self.issued_amount:.2f}",
            "reversed_amount": f"{self.reversed_amount:.2f}",
            "net_amount": f"{self.net_amount:.2f}",
            "acknowledged": self.acknowledged,
            "acknowledged_amount": f"{self.acknowledged_amount:.2f}",
            "currency": self.currency,
            "mismatches": [m.to_dict() for m in self.mismatches],
        }


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:.2f} {currency}"


def _mismatch(
    kind: str,
    adjustment_id: UUID | None,
    who: AwardFact | AdjustmentFact | None,
    expected: str | None = None,
    actual: str | None = None,
) -> Mismatch:
    return Mismatch(
        kind,
        adjustment_id,
        who.award_id if who else None,
        who.employee_no if who else None,
        who.name if who else None,
        expected,
        actual,
    )


def reconcile(
    period: str,
    awards: Iterable[AwardFact],
    adjustments: Iterable[AdjustmentFact],
    acknowledgements: Iterable[AckFact],
    currency: str = "CNY",
) -> Reconciliation:
    """Every disagreement between what was awarded, issued and acknowledged for `period`.

    The inputs may hold more than the period (related rows of other periods); only
    what concerns `period` is compared and listed.
    """
    award_by_id = {a.award_id: a for a in awards}
    adjustment_by_id = {a.adjustment_id: a for a in adjustments}
    ack_by_id = {a.adjustment_id: a for a in acknowledgements}
    in_period = sorted(
        (a for a in adjustment_by_id.values() if a.period == period),
        key=lambda a: (a.employee_no, a.kind, str(a.adjustment_id)),
    )
    acks_in_period = sorted(
        (a for a in ack_by_id.values() if a.period == period), key=lambda a: str(a.adjustment_id)
    )
    found: list[Mismatch] = []
    for award in award_by_id.values():
        found += _award_mismatches(award, period, adjustment_by_id)
    for adjustment in in_period:
        found += _adjustment_mismatches(adjustment, period, award_by_id, ack_by_id)
    for ack in acks_in_period:
        found += _acknowledgement_mismatches(ack, period, adjustment_by_id)
    issued = [a.amount for a in in_period if a.kind != "reversal"]
    reversed_ = [a.amount for a in in_period if a.kind == "reversal"]
    return Reconciliation(
        period=period,
        awards=len(issued),
        reversals=len(reversed_),
        issued_amount=sum(issued, Decimal("0.00")),
        reversed_amount=sum(reversed_, Decimal("0.00")),
        acknowledged=len(acks_in_period),
        acknowledged_amount=sum((a.amount for a in acks_in_period), Decimal("0.00")),
        currency=currency,
        mismatches=tuple(found),
    )


def _award_mismatches(
    award: AwardFact, period: str, adjustments: Mapping[UUID, AdjustmentFact]
) -> Iterator[Mismatch]:
    """An award of the period is issued as granted; a revocation in the period is reversed."""
    if award.period == period:
        yield from _issue_mismatches(award, adjustments.get(award.adjustment_id))
    if award.revoked and award.reversal_period == period:
        reversal = (
            adjustments.get(award.reversal_adjustment_id) if award.reversal_adjustment_id else None
        )
        yield from _reversal_mismatches(award, reversal)


def _issue_mismatches(award: AwardFact, issued: AdjustmentFact | None) -> Iterator[Mismatch]:
    if issued is None:
        yield _mismatch("award_without_adjustment", award.adjustment_id, award)
    elif issued.period != award.period:
        yield _mismatch(
            "adjustment_period_mismatch", issued.adjustment_id, award, award.period, issued.period
        )
    elif (issued.amount, issued.currency) != (award.amount, award.currency):
        yield _mismatch(
            "adjustment_amount_mismatch",
            issued.adjustment_id,
            award,
            _money(award.amount, award.currency),
            _money(issued.amount, issued.currency),
        )


def _reversal_mismatches(award: AwardFact, reversal: AdjustmentFact | None) -> Iterator[Mismatch]:
    if reversal is None:
        yield _mismatch("revocation_without_reversal", award.reversal_adjustment_id, award)
    elif (reversal.amount, reversal.currency) != (-award.amount, award.currency):
        yield _mismatch(
            "adjustment_amount_mismatch",
            reversal.adjustment_id,
            award,
            _money(-award.amount, award.currency),
            _money(reversal.amount, reversal.currency),
        )


def _adjustment_mismatches(
    adjustment: AdjustmentFact,
    period: str,
    awards: Mapping[UUID, AwardFact],
    acks: Mapping[UUID, AckFact],
) -> Iterator[Mismatch]:
    """An adjustment of the period has its award (revoked, for a reversal) and is acknowledged."""
    owner = awards.get(adjustment.award_id)
    if owner is None:
        yield _mismatch("adjustment_without_award", adjustment.adjustment_id, adjustment)
    elif adjustment.kind == "reversal" and not owner.revoked:
        yield _mismatch("reversal_without_revocation", adjustment.adjustment_id, adjustment)
    yield from _mismatches_of_its_acknowledgement(
        adjustment, period, acks.get(adjustment.adjustment_id)
    )


def _mismatches_of_its_acknowledgement(
    adjustment: AdjustmentFact, period: str, ack: AckFact | None
) -> Iterator[Mismatch]:
    """Payroll acknowledges an adjustment in its period, for its amount."""
    expected = _money(adjustment.amount, adjustment.currency)
    if ack is None:
        yield _mismatch("missing_acknowledgement", adjustment.adjustment_id, adjustment, expected)
        return
    if ack.period != period:
        yield _mismatch(
            "acknowledged_in_other_period", adjustment.adjustment_id, adjustment, period, ack.period
        )
    if (ack.amount, ack.currency) != (adjustment.amount, adjustment.currency):
        yield _mismatch(
            "acknowledged_amount_mismatch",
            adjustment.adjustment_id,
            adjustment,
            expected,
            _money(ack.amount, ack.currency),
        )


def _acknowledgement_mismatches(
    ack: AckFact, period: str, adjustments: Mapping[UUID, AdjustmentFact]
) -> Iterator[Mismatch]:
    """An acknowledgement in the period is of an adjustment issued in the period."""
    known = adjustments.get(ack.adjustment_id)
    if known is None:
        yield _mismatch(
            "unknown_acknowledgement",
            ack.adjustment_id,
            None,
            None,
            _money(ack.amount, ack.currency),
        )
    elif known.period != period:
        yield _mismatch(
            "acknowledgement_of_other_period", ack.adjustment_id, known, known.period, period
        )
