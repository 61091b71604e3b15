"""The rewards service's decisions, pure: awards, reversals, acknowledgements, reconciliation,
and the year-end pacesetter standings.

Two aggregates. An award (stream `award-<award_id>`) is granted once per winner and paid
by one adjustment; a revocation adds a reversing adjustment and never edits the first.
A payroll period (stream `payroll-period-<YYYY-MM>`) holds payroll's acknowledgements;
while it is empty the period is open (see services/rewards/payroll.py for the rules).

`decide_*` take the state, the input and `now` and return new events or raise a
`RewardsError`; `evolve_*` fold one event. Nothing here reads a clock or a setting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

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
from shared.errors import TemplatedError
from shared.events import DomainEvent
from shared.rounds import RoundPeriod
from shared.settings import Settings

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

    @classmethod
    def from_settings(cls, settings: Settings) -> RewardsPolicy:
        amount = settings.award_amount
        return cls(
            award_amount=amount.quantize(CENT) if amount == amount.quantize(CENT) else amount,
            currency=settings.award_currency,
            cutoff_day=settings.payroll_cutoff_day,
            award_name_zh=settings.award_name_zh,
            reason_code=settings.payroll_reason_code,
            reversal_reason_code=settings.payroll_reversal_reason_code,
        )


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

    @classmethod
    def from_settings(cls, settings: Settings) -> PacesetterPolicy:
        weights = dict.fromkeys(Category, Decimal("1"))
        for key, weight in settings.pacesetter_category_weights.items():
            try:
                weights[Category(key)] = weight
            except ValueError:
                raise ValueError(
                    f"unknown flower {key!r} (known: {', '.join(c.value for c in Category)})"
                ) from None
        return cls(weights=weights, tie_breaks=tuple(settings.pacesetter_tie_breaks))

    def weight(self, category: Category) -> Decimal:
        return self.weights.get(category, Decimal("1"))


# --- Errors -----------------------------------------------------------------------------------


class RewardsError(TemplatedError):
    """A refused rewards command; subclasses fix the code and the two messages."""

    code: ClassVar[str] = "rewards_error"


class NotPayroll(RewardsError):
    code = "not_payroll"
    status = 403
    message_zh_template = "只有薪酬（财务）人员可以确认工资调整"
    message_en_template = "Only payroll (Finance) may acknowledge payroll adjustments"


class PeriodRequired(RewardsError):
    code = "period_required"
    status = 422
    message_zh_template = "未找到调整单 {adjustment_id}，确认时须写明工资期间和金额"
    message_en_template = (
        "No adjustment {adjustment_id} was issued: give the period and the amount applied"
    )


class AcknowledgementConflict(RewardsError):
    code = "acknowledgement_conflict"
    status = 409
    message_zh_template = (
        "调整单 {adjustment_id} 已确认（{period}，{amount} {currency}），与本次确认不符"
    )
    message_en_template = (
        "Adjustment {adjustment_id} was already acknowledged ({period}, {amount} {currency}) "
        "differently"
    )


class AwardNotGranted(RewardsError):
    """A revocation arrived before its award: retried later by the consumer."""

    code = "award_not_granted"
    status = 409
    message_zh_template = "尚未发放奖励 {award_id}，无法撤销"
    message_en_template = "Award {award_id} has not been granted yet: it cannot be revoked"


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


# --- Reconciliation: awards ↔ adjustments ↔ acknowledgements, per period -------------------------


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
    found: list[Mismatch] = []

    def add(
        kind: str,
        adjustment_id: UUID | None,
        who: AwardFact | AdjustmentFact | None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        found.append(
            Mismatch(
                kind,
                adjustment_id,
                who.award_id if who else None,
                who.employee_no if who else None,
                who.name if who else None,
                expected,
                actual,
            )
        )

    for award in award_by_id.values():
        if award.period == period:
            issued = adjustment_by_id.get(award.adjustment_id)
            if issued is None:
                add("award_without_adjustment", award.adjustment_id, award)
            elif issued.period != award.period:
                add(
                    "adjustment_period_mismatch",
                    issued.adjustment_id,
                    award,
                    award.period,
                    issued.period,
                )
            elif (issued.amount, issued.currency) != (award.amount, award.currency):
                add(
                    "adjustment_amount_mismatch",
                    issued.adjustment_id,
                    award,
                    _money(award.amount, award.currency),
                    _money(issued.amount, issued.currency),
                )
        if award.revoked and award.reversal_period == period:
            reversal = (
                adjustment_by_id.get(award.reversal_adjustment_id)
                if award.reversal_adjustment_id
                else None
            )
            if reversal is None:
                add("revocation_without_reversal", award.reversal_adjustment_id, award)
            elif (reversal.amount, reversal.currency) != (-award.amount, award.currency):
                add(
                    "adjustment_amount_mismatch",
                    reversal.adjustment_id,
                    award,
                    _money(-award.amount, award.currency),
                    _money(reversal.amount, reversal.currency),
                )

    in_period = sorted(
        (a for a in adjustment_by_id.values() if a.period == period),
        key=lambda a: (a.employee_no, a.kind, str(a.adjustment_id)),
    )
    issued_amount = reversed_amount = Decimal("0.00")
    awards_count = reversals_count = 0
    for adjustment in in_period:
        owner = award_by_id.get(adjustment.award_id)
        if adjustment.kind == "reversal":
            reversals_count += 1
            reversed_amount += adjustment.amount
        else:
            awards_count += 1
            issued_amount += adjustment.amount
        if owner is None:
            add("adjustment_without_award", adjustment.adjustment_id, adjustment)
        elif adjustment.kind == "reversal" and not owner.revoked:
            add("reversal_without_revocation", adjustment.adjustment_id, adjustment)
        expected = _money(adjustment.amount, adjustment.currency)
        ack = ack_by_id.get(adjustment.adjustment_id)
        if ack is None:
            add("missing_acknowledgement", adjustment.adjustment_id, adjustment, expected)
            continue
        if ack.period != period:
            add(
                "acknowledged_in_other_period",
                adjustment.adjustment_id,
                adjustment,
                period,
                ack.period,
            )
        if (ack.amount, ack.currency) != (adjustment.amount, adjustment.currency):
            add(
                "acknowledged_amount_mismatch",
                adjustment.adjustment_id,
                adjustment,
                expected,
                _money(ack.amount, ack.currency),
            )

    acks_in_period = sorted(
        (a for a in ack_by_id.values() if a.period == period), key=lambda a: str(a.adjustment_id)
    )
    acknowledged_amount = Decimal("0.00")
    for ack in acks_in_period:
        acknowledged_amount += ack.amount
        known = adjustment_by_id.get(ack.adjustment_id)
        if known is None:
            add(
                "unknown_acknowledgement",
                ack.adjustment_id,
                None,
                None,
                _money(ack.amount, ack.currency),
            )
        elif known.period != period:
            add("acknowledgement_of_other_period", ack.adjustment_id, known, known.period, period)
    return Reconciliation(
        period=period,
        awards=awards_count,
        reversals=reversals_count,
        issued_amount=issued_amount,
        reversed_amount=reversed_amount,
        acknowledged=len(acks_in_period),
        acknowledged_amount=acknowledged_amount,
        currency=currency,
        mismatches=tuple(found),
    )


# --- Year end: pacesetter standings (十大标兵 basis) ---------------------------------------------


@dataclass(frozen=True)
class Flower:
    """One award as the standings see it."""

    award_id: UUID
    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    round_id: str
    category: Category
    deeds: str
    score: Decimal
    revoked: bool = False


@dataclass(frozen=True)
class Standing:
    rank: int
    employee_no: str
    name: str
    unit_code: str
    unit_name: str
    weighted: Decimal
    flowers: tuple[Flower, ...]
    revoked_flowers: int
    metrics: Mapping[str, Decimal]
    tied_with: tuple[str, ...] = ()
    tie_break_zh: str | None = None
    tie_break_en: str | None = None

    def to_dict(self) -> dict[str, Any]:
        categories = Counter(f.category for f in self.flowers)
        return {
            "rank": self.rank,
            "employee_no": self.employee_no,
            "name": self.name,
            "unit_code": self.unit_code,
            "unit_name": self.unit_name,
            "weighted_flowers": str(self.weighted),
            "flowers": len(self.flowers),
            "categories": [
                {"category": c.value, "label_zh": c.label_zh, "count": categories[c]}
                for c in Category
                if categories[c]
            ],
            "rounds": sorted({f.round_id for f in self.flowers}),
            "awards": [
                {
                    "award_id": str(f.award_id),
                    "round_id": f.round_id,
                    "round_label_zh": RoundPeriod.parse(f.round_id).label_zh,
                    "category": f.category.value,
                    "label_zh": f.category.label_zh,
                    "score": str(f.score),
                    "deeds": f.deeds,
                }
                for f in self.flowers
            ],
            "panel_score": str(self.metrics["panel_score"]),
            "revoked_flowers": self.revoked_flowers,
            "tied_with": list(self.tied_with),
            "tie_break_zh": self.tie_break_zh,
            "tie_break_en": self.tie_break_en,
        }


def _metrics(flowers: Sequence[Flower]) -> dict[str, Decimal]:
    scores = [f.score for f in flowers]
    return {
        "flowers": Decimal(len(flowers)),
        "categories": Decimal(len({f.category for f in flowers})),
        "rounds": Decimal(len({f.round_id for f in flowers})),
        "panel_score": (sum(scores, Decimal(0)) / len(scores)).quantize(CENT)
        if scores
        else Decimal("0.00"),
    }


def pacesetter_standings(flowers: Iterable[Flower], policy: PacesetterPolicy) -> list[Standing]:
    """Employees ordered by weighted flowers, then by the policy's tie-break rules in order.

    Employees equal on every rule share a rank (1, 1, 3 …) and name each other in `tied_with`;
    an employee placed below an equal weighted score says which rule decided it.
    Revoked flowers do not count; they are shown as `revoked_flowers`.
    """
    by_employee: dict[str, list[Flower]] = {}
    for flower in flowers:
        by_employee.setdefault(flower.employee_no, []).append(flower)
    entries: list[tuple[tuple[Decimal, ...], str, list[Flower], int, dict[str, Decimal]]] = []
    for employee_no, all_flowers in by_employee.items():
        held = sorted(
            (f for f in all_flowers if not f.revoked), key=lambda f: (f.round_id, f.category)
        )
        if not held:
            continue
        metrics = _metrics(held)
        weighted = sum((policy.weight(f.category) for f in held), Decimal(0))
        key = (weighted, *(metrics[name] for name in policy.tie_breaks))
        entries.append((key, employee_no, held, len(all_flowers) - len(held), metrics))
    entries.sort(key=lambda e: (tuple(-k for k in e[0]), e[1]))

    standings: list[Standing] = []
    rank = 0
    for index, (key, employee_no, held, revoked, metrics) in enumerate(entries):
        latest = held[-1]
        if index == 0 or entries[index - 1][0] != key:
            rank = index + 1
        above = entries[rank - 2] if rank > 1 else None  # the nearest better entry
        tied = tuple(e[1] for e in entries if e[0] == key and e[1] != employee_no)
        notes_zh: list[str] = []
        notes_en: list[str] = []
        if above is not None and above[0][0] == key[0]:
            for position, name in enumerate(policy.tie_breaks, start=1):
                if above[0][position] != key[position]:
                    label_zh, label_en = TIE_BREAKS[name]
                    notes_zh.append(
                        f"与{above[1]}加权花数相同（{key[0]}），按{label_zh}排在其后"
                        f"（{above[0][position]} > {key[position]}）"
                    )
                    notes_en.append(
                        f"same weighted flowers as {above[1]} ({key[0]}); placed below by "
                        f"{label_en} ({above[0][position]} > {key[position]})"
                    )
                    break
        if tied:
            rules_zh = "、".join(["加权花数", *(TIE_BREAKS[n][0] for n in policy.tie_breaks)])
            rules_en = ", ".join(
                ["weighted flowers", *(TIE_BREAKS[n][1] for n in policy.tie_breaks)]
            )
            notes_zh.append(f"与{'、'.join(tied)}并列第{rank}名：{rules_zh}均相同")
            notes_en.append(f"tied for rank {rank} with {', '.join(tied)}: equal {rules_en}")
        tie_zh = "；".join(notes_zh) or None
        tie_en = "; ".join(notes_en) or None
        standings.append(
            Standing(
                rank=rank,
                employee_no=employee_no,
                name=latest.name,
                unit_code=latest.unit_code,
                unit_name=latest.unit_name,
                weighted=key[0],
                flowers=tuple(held),
                revoked_flowers=revoked,
                metrics=metrics,
                tied_with=tied,
                tie_break_zh=tie_zh,
                tie_break_en=tie_en,
            )
        )
    return standings
