"""The rewards service's decisions, pure: awards, reversals and payroll's acknowledgements.

Two aggregates. An award (stream `award-<award_id>`) is granted once per winner and paid
by one adjustment; a revocation adds a reversing adjustment and never edits the first.
A payroll period (stream `payroll-period-<YYYY-MM>`) holds payroll's acknowledgements;
while it is empty the period is open (see services/rewards/payroll.py for the rules).

`decide_*` take the state, the input and `now` and return new events or raise a
`RewardsError` (errors.py); `evolve_*` fold one event. Nothing here reads a clock or a
setting. The read side's calculations have modules of their own: reconciliation.py (awards ↔
adjustments ↔ acknowledgements per period) and standings.py (the year-end pacesetters).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from services.rewards.errors import (
    AcknowledgementConflict,
    AwardNotGranted,
    NotPayroll,
    PeriodRequired,
)
from services.rewards.payroll import (
    PayrollPeriod,
    award_description,
    first_open_period,
    reversal_description,
)
from shared.contracts.common import Category
from shared.contracts.review import PublishedWinner, WinnerRevoked
from shared.contracts.rewards import (
    AwardGranted,
    AwardRevoked,
    PayrollAdjustmentAcknowledged,
    PayrollAdjustmentIssued,
    PayrollAdjustmentReversed,
    RewardsEvent,
    adjustment_id_for,
    award_id_for,
)
from shared.contracts.rewards_commands import ADMIN, PAYROLL, AcknowledgeAdjustment
from shared.events import DomainEvent

CENT = Decimal("0.01")

# --- Policy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardsPolicy:
    """The settings the rules depend on, handed in by the caller."""

    award_amount: Decimal = Decimal("500.00")
    currency: str = "CNY"
    cutoff_day: int = 20
    award_name_zh: str = "特殊贡献奖"
    reason_code: str = "FLOWER_AWARD"
    reversal_reason_code: str = "FLOWER_AWARD_REVERSAL"

    def __post_init__(self) -> None:
        if self.award_amount <= 0:
            raise ValueError("the award amount must be positive")
        if self.award_amount != self.award_amount.quantize(CENT):
            raise ValueError("the award amount has at most two decimals (fen)")
        if not (len(self.currency) == 3 and self.currency.isalpha() and self.currency.isupper()):
            raise ValueError("the award currency must be an ISO 4217 code such as CNY")


TIE_BREAKS: dict[str, tuple[str, str]] = {
    "flowers": ("获花数", "number of flowers"),
    "categories": ("花类数", "number of different flowers"),
    "rounds": ("获奖轮次数", "number of rounds with a flower"),
    "panel_score": ("评审平均分", "mean panel score"),
}


@dataclass(frozen=True)
class PacesetterPolicy:
    """Weighted flowers = sum of the category weights of an employee's flowers in the year."""

    weights: Mapping[Category, Decimal] = field(
        default_factory=lambda: dict.fromkeys(Category, Decimal("1"))
    )
    tie_breaks: tuple[str, ...] = ("flowers", "categories", "panel_score")

    def __post_init__(self) -> None:
        for category, weight in self.weights.items():
            if weight < 0:
                raise ValueError(f"the weight of {category.value} must not be negative")
        unknown = [name for name in self.tie_breaks if name not in TIE_BREAKS]
        if unknown:
            raise ValueError(
                f"unknown tie-break rule(s) {', '.join(unknown)}; known: {', '.join(TIE_BREAKS)}"
            )

    def weight(self, category: Category) -> Decimal:
        return self.weights.get(category, Decimal("1"))


# --- Award ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwardState:
    granted: AwardGranted
    issued: PayrollAdjustmentIssued | None = None
    revoked: AwardRevoked | None = None
    reversed: PayrollAdjustmentReversed | None = None


def evolve_award(state: AwardState | None, event: DomainEvent) -> AwardState | None:
    match event:
        case AwardGranted():
            return AwardState(granted=event)
        case PayrollAdjustmentIssued() if state is not None:
            return replace(state, issued=event)
        case AwardRevoked() if state is not None:
            return replace(state, revoked=event)
        case PayrollAdjustmentReversed() if state is not None:
            return replace(state, reversed=event)
        case _:
            return state


def decide_grant(
    state: AwardState | None,
    *,
    round_id: str,
    winner: PublishedWinner,
    published_at: datetime,
    result_event_id: UUID,
    now: datetime,
    policy: RewardsPolicy,
    closed_periods: Collection[str],
) -> list[RewardsEvent]:
    """One award and its paying adjustment per winner, ever; a second sight changes nothing."""
    if state is not None:
        return []
    award_id = award_id_for(round_id, winner.category, winner.employee_no)
    adjustment_id = adjustment_id_for(award_id, "award")
    period = first_open_period(
        PayrollPeriod.containing(published_at, policy.cutoff_day), closed_periods
    ).id
    return [
        AwardGranted(
            award_id=award_id,
            round_id=round_id,
            category=winner.category,
            nomination_id=winner.nomination_id,
            employee_no=winner.employee_no,
            name=winner.name,
            unit_code=winner.unit_code,
            unit_name=winner.unit_name,
            position=winner.position,
            deeds=winner.deeds,
            score=winner.score,
            amount=policy.award_amount,
            currency=policy.currency,
            adjustment_id=adjustment_id,
            period=period,
            published_at=published_at,
            granted_at=now,
            result_event_id=result_event_id,
        ),
        PayrollAdjustmentIssued(
            adjustment_id=adjustment_id,
            award_id=award_id,
            round_id=round_id,
            category=winner.category,
            employee_no=winner.employee_no,
            name=winner.name,
            unit_code=winner.unit_code,
            unit_name=winner.unit_name,
            amount=policy.award_amount,
            currency=policy.currency,
            period=period,
            reason_code=policy.reason_code,
            description_zh=award_description(round_id, winner.category, policy.award_name_zh),
            issued_at=now,
        ),
    ]


def decide_revoke(
    state: AwardState | None,
    *,
    revocation: WinnerRevoked,
    revocation_event_id: UUID,
    now: datetime,
    policy: RewardsPolicy,
    closed_periods: Collection[str],
) -> list[RewardsEvent]:
    """A reversing (negative) adjustment in the first open period from the revocation on."""
    award_id = award_id_for(revocation.round_id, revocation.category, revocation.employee_no)
    if state is None or state.issued is None:
        raise AwardNotGranted(award_id=str(award_id))
    if state.revoked is not None:
        return []
    granted, issued = state.granted, state.issued
    reversal_id = adjustment_id_for(award_id, "reversal")
    earliest = max(
        PayrollPeriod.containing(revocation.revoked_at, policy.cutoff_day),
        PayrollPeriod.parse(issued.period),
    )
    period = first_open_period(earliest, closed_periods).id
    return [
        AwardRevoked(
            award_id=award_id,
            round_id=granted.round_id,
            category=granted.category,
            nomination_id=granted.nomination_id,
            employee_no=granted.employee_no,
            name=granted.name,
            reason=revocation.reason,
            revoked_by=revocation.revoked_by,
            revoked_at=revocation.revoked_at,
            reversal_adjustment_id=reversal_id,
            reversal_period=period,
            revocation_event_id=revocation_event_id,
        ),
        PayrollAdjustmentReversed(
            adjustment_id=reversal_id,
            reverses_adjustment_id=issued.adjustment_id,
            award_id=award_id,
            round_id=granted.round_id,
            category=granted.category,
            employee_no=granted.employee_no,
            name=granted.name,
            unit_code=granted.unit_code,
            unit_name=granted.unit_name,
            amount=-issued.amount,
            currency=issued.currency,
            period=period,
            reason_code=policy.reversal_reason_code,
            description_zh=reversal_description(
                granted.round_id, granted.category, policy.award_name_zh
            ),
            reason=revocation.reason,
            issued_at=now,
        ),
    ]


# --- Payroll period: acknowledgements -----------------------------------------------------------


@dataclass(frozen=True)
class PeriodState:
    """Payroll's acknowledgements in one period; the first one closes the period."""

    acknowledged: Mapping[UUID, PayrollAdjustmentAcknowledged] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return bool(self.acknowledged)


EMPTY_PERIOD = PeriodState()


def evolve_period(state: PeriodState, event: DomainEvent) -> PeriodState:
    if isinstance(event, PayrollAdjustmentAcknowledged):
        return PeriodState({**state.acknowledged, event.adjustment_id: event})
    return state


@dataclass(frozen=True)
class IssuedAdjustment:
    """What rewards issued under an adjustment id (read from the projection)."""

    adjustment_id: UUID
    award_id: UUID
    period: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class RecordedAcknowledgement:
    """An acknowledgement already recorded for an adjustment id, in whichever period."""

    period: str
    amount: Decimal
    currency: str


def acknowledgement_period(cmd: AcknowledgeAdjustment, issued: IssuedAdjustment | None) -> str:
    """The period the acknowledgement is recorded in: as stated, or as issued."""
    if cmd.period is not None:
        return cmd.period
    if issued is None:
        raise PeriodRequired(adjustment_id=str(cmd.adjustment_id))
    return issued.period


def check_may_acknowledge(cmd: AcknowledgeAdjustment) -> None:
    if not cmd.roles & {PAYROLL, ADMIN}:
        raise NotPayroll()


def decide_acknowledge(
    state: PeriodState,
    cmd: AcknowledgeAdjustment,
    *,
    issued: IssuedAdjustment | None,
    recorded: RecordedAcknowledgement | None,
    now: datetime,
) -> list[RewardsEvent]:
    """Record payroll's acknowledgement once; the same again is a no-op, a different one refused."""
    check_may_acknowledge(cmd)
    period = acknowledgement_period(cmd, issued)
    if issued is not None:
        amount = cmd.amount if cmd.amount is not None else issued.amount
        currency = cmd.currency or issued.currency
    elif cmd.amount is not None:
        amount, currency = cmd.amount, cmd.currency or "CNY"
    else:
        raise PeriodRequired(adjustment_id=str(cmd.adjustment_id))
    earlier = state.acknowledged.get(cmd.adjustment_id)
    if earlier is not None:
        recorded = RecordedAcknowledgement(earlier.period, earlier.amount, earlier.currency)
    if recorded is not None:
        if (recorded.period, recorded.amount, recorded.currency) == (period, amount, currency):
            return []
        raise AcknowledgementConflict(
            adjustment_id=str(cmd.adjustment_id),
            period=recorded.period,
            amount=f"{recorded.amount:.2f}",
            currency=recorded.currency,
        )
    return [
        PayrollAdjustmentAcknowledged(
            adjustment_id=cmd.adjustment_id,
            period=period,
            amount=amount,
            currency=currency,
            known=issued is not None,
            award_id=issued.award_id if issued else None,
            issued_period=issued.period if issued else None,
            issued_amount=issued.amount if issued else None,
            payroll_reference=cmd.payroll_reference,
            acknowledged_by=cmd.actor,
            acknowledged_at=now,
        )
    ]
