"""The year-end pacesetter standings (十大标兵 basis), read side and pure: employees ordered
by weighted flowers, then by the policy's tie-break rules, each placing explained."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from services.rewards.domain import CENT, TIE_BREAKS, PacesetterPolicy
from shared.contracts.common import Category
from shared.rounds import RoundPeriod


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


@dataclass(frozen=True)
class _Entry:
    """An employee's held flowers and the key they are ranked by (weighted flowers first)."""

    key: tuple[Decimal, ...]
    employee_no: str
    held: list[Flower]
    revoked: int
    metrics: dict[str, Decimal]


def pacesetter_standings(flowers: Iterable[Flower], policy: PacesetterPolicy) -> list[Standing]:
    """Employees ordered by weighted flowers, then by the policy's tie-break rules in order.

    Employees equal on every rule share a rank (1, 1, 3 …) and name each other in `tied_with`;
    an employee placed below an equal weighted score says which rule decided it.
    Revoked flowers do not count; they are shown as `revoked_flowers`.
    """
    entries = _ranked_entries(flowers, policy)
    standings: list[Standing] = []
    rank = 0
    for index, entry in enumerate(entries):
        if index == 0 or entries[index - 1].key != entry.key:
            rank = index + 1
        above = entries[rank - 2] if rank > 1 else None  # the nearest better entry
        tied = tuple(
            e.employee_no
            for e in entries
            if e.key == entry.key and e.employee_no != entry.employee_no
        )
        standings.append(_standing(entry, rank, above, tied, policy))
    return standings


def _ranked_entries(flowers: Iterable[Flower], policy: PacesetterPolicy) -> list[_Entry]:
    by_employee: dict[str, list[Flower]] = {}
    for flower in flowers:
        by_employee.setdefault(flower.employee_no, []).append(flower)
    entries = [
        entry
        for employee_no, all_flowers in by_employee.items()
        if (entry := _entry(employee_no, all_flowers, policy)) is not None
    ]
    entries.sort(key=lambda e: (tuple(-k for k in e.key), e.employee_no))
    return entries


def _entry(employee_no: str, all_flowers: list[Flower], policy: PacesetterPolicy) -> _Entry | None:
    """None when every flower of the employee was revoked."""
    held = sorted((f for f in all_flowers if not f.revoked), key=lambda f: (f.round_id, f.category))
    if not held:
        return None
    metrics = _metrics(held)
    weighted = sum((policy.weight(f.category) for f in held), Decimal(0))
    key = (weighted, *(metrics[name] for name in policy.tie_breaks))
    return _Entry(key, employee_no, held, len(all_flowers) - len(held), metrics)


def _standing(
    entry: _Entry,
    rank: int,
    above: _Entry | None,
    tied: tuple[str, ...],
    policy: PacesetterPolicy,
) -> Standing:
    notes = [
        note for note in (_placed_below(entry, above, policy), _tie(rank, tied, policy)) if note
    ]
    latest = entry.held[-1]
    return Standing(
        rank=rank,
        employee_no=entry.employee_no,
        name=latest.name,
        unit_code=latest.unit_code,
        unit_name=latest.unit_name,
        weighted=entry.key[0],
        flowers=tuple(entry.held),
        revoked_flowers=entry.revoked,
        metrics=entry.metrics,
        tied_with=tied,
        tie_break_zh="；".join(zh for zh, _ in notes) or None,
        tie_break_en="; ".join(en for _, en in notes) or None,
    )


def _placed_below(
    entry: _Entry, above: _Entry | None, policy: PacesetterPolicy
) -> tuple[str, str] | None:
    """Which rule put the entry below the nearest better one with the same weighted flowers."""
    if above is None or above.key[0] != entry.key[0]:
        return None
    for position, name in enumerate(policy.tie_breaks, start=1):
        if above.key[position] != entry.key[position]:
            label_zh, label_en = TIE_BREAKS[name]
            return (
                f"与{above.employee_no}加权花数相同（{entry.key[0]}），按{label_zh}排在其后"
                f"（{above.key[position]} > {entry.key[position]}）",
                f"same weighted flowers as {above.employee_no} ({entry.key[0]}); placed below by "
                f"{label_en} ({above.key[position]} > {entry.key[position]})",
            )
    return None


def _tie(rank: int, tied: tuple[str, ...], policy: PacesetterPolicy) -> tuple[str, str] | None:
    if not tied:
        return None
    rules_zh = "、".join(["加权花数", *(TIE_BREAKS[n][0] for n in policy.tie_breaks)])
    rules_en = ", ".join(["weighted flowers", *(TIE_BREAKS[n][1] for n in policy.tie_breaks)])
    return (
        f"与{'、'.join(tied)}并列第{rank}名：{rules_zh}均相同",
        f"tied for rank {rank} with {', '.join(tied)}: equal {rules_en}",
    )
