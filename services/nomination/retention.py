"""Retention of personal data (issue 18, item 3): who expires when. Pure: no I/O.

Personal data is sealed under one key per data subject (shared/personal_data.py), so what
expires is a subject: their key is destroyed once every reason to keep any of their data has
run out. The facts the nomination service holds decide it:

| what is held                          | kept until                                         |
|---------------------------------------|----------------------------------------------------|
| a nomination that won (any round)     | kept: the winners' public record                   |
| a nomination whose round has no result| kept for now: the round is not over                |
| a nomination that did not win         | its round's result + `unsuccessful_nomination_years` |
| an objection the subject raised       | its resolution + `objection_years`                  |
| an objection still open               | kept for now: it is not resolved                   |

A subject with several holdings expires at the latest of them; one win keeps everything (a
winner who objected to someone keeps their key). Payroll facts (30 years, 会计档案管理办法)
belong to winners only, who are kept. An objector is the subject review sealed their
objection under (`ObjectionRaised.raiser_subject`: their employee number, or `user:<id>`).

The job records each run as one ExpiredPersonalDataShredded in the stream "privacy" before
it destroys any key, and every run first finishes what a recorded run left undone: so
running twice, or being killed in between, shreds exactly the expired subjects, once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from services.nomination.domain import Erasures, evolve_erasures
from shared.contracts.nomination import ExpiredPersonalDataShredded, ShreddedSubject
from shared.events import DomainEvent


class Rule(StrEnum):
    UNSUCCESSFUL_NOMINATION = "unsuccessful_nomination"
    OBJECTION = "objection"
    WINNER = "winner_public_record"
    PAYROLL = "payroll"
    ROUND_NOT_OVER = "round_not_over"
    OBJECTION_OPEN = "objection_open"


@dataclass(frozen=True)
class RetentionPolicy:
    unsuccessful_nomination_years: int = 3
    objection_years: int = 1
    payroll_years: int = 30

    def years(self) -> dict[str, int]:
        """The settings in force, as the run's event records them."""
        return {
            Rule.UNSUCCESSFUL_NOMINATION.value: self.unsuccessful_nomination_years,
            Rule.OBJECTION.value: self.objection_years,
            Rule.PAYROLL.value: self.payroll_years,
        }


@dataclass(frozen=True)
class Nominated:
    """One nomination of an employee: its round's result time (None: not published yet) and
    whether this nomination won."""

    employee_no: str
    round_id: str
    result_at: datetime | None
    won: bool


@dataclass(frozen=True)
class Objected:
    """One objection a subject raised (`subject`: as review sealed it, an employee number or
    `user:<id>`): when it was resolved (None: still open)."""

    subject: str
    round_id: str
    objection_no: int
    resolved_at: datetime | None


Holding = Nominated | Objected


def subject_of(held: Holding) -> str:
    return held.employee_no if isinstance(held, Nominated) else held.subject


@dataclass(frozen=True)
class Expiry:
    """Until when a holding's data is kept under which rule (`until` None: kept)."""

    rule: Rule
    until: datetime | None


def plus_years(at: datetime, years: int) -> datetime:
    """The same calendar day `years` later (29 February becomes 28 February)."""
    try:
        return at.replace(year=at.year + years)
    except ValueError:
        return at.replace(year=at.year + years, day=28)


def expiry(held: Holding, policy: RetentionPolicy) -> Expiry:
    if isinstance(held, Objected):
        if held.resolved_at is None:
            return Expiry(Rule.OBJECTION_OPEN, None)
        return Expiry(Rule.OBJECTION, plus_years(held.resolved_at, policy.objection_years))
    if held.won:
        return Expiry(Rule.WINNER, None)
    if held.result_at is None:
        return Expiry(Rule.ROUND_NOT_OVER, None)
    return Expiry(
        Rule.UNSUCCESSFUL_NOMINATION,
        plus_years(held.result_at, policy.unsuccessful_nomination_years),
    )


def subject_expiry(held: Iterable[Holding], policy: RetentionPolicy) -> Expiry:
    """A subject is kept while any of their holdings is; otherwise until the latest one."""
    found = [expiry(h, policy) for h in held]
    if not found:
        raise ValueError("a subject holds something")
    kept = [e for e in found if e.until is None]
    if kept:
        return min(kept, key=lambda e: list(Rule).index(e.rule))  # a win names the reason
    return max(found, key=lambda e: e.until or datetime.min.replace(tzinfo=UTC))


def expired(held: Iterable[Holding], policy: RetentionPolicy, now: datetime) -> dict[str, Expiry]:
    """The subjects whose every holding has expired by `now`, with the rule that ran out last."""
    _require_aware(now)
    by_employee: dict[str, list[Holding]] = {}
    for h in held:
        by_employee.setdefault(subject_of(h), []).append(h)
    found: dict[str, Expiry] = {}
    for employee_no, holdings in sorted(by_employee.items()):
        e = subject_expiry(holdings, policy)
        if e.until is not None and e.until <= now:
            found[employee_no] = e
    return found


def evolve_shredded(state: Erasures, event: DomainEvent) -> Erasures:
    """The subjects recorded as erased, by the office or by the retention job."""
    if isinstance(event, ExpiredPersonalDataShredded):
        return Erasures(state.subjects | {s.subject_id for s in event.subjects})
    return evolve_erasures(state, event)


def decide_retention(
    state: Erasures, due: Mapping[UUID, Expiry], policy: RetentionPolicy, now: datetime
) -> list[DomainEvent]:
    """Record the run for the expired subjects not recorded yet (nothing if none: a second
    run, or a restart after a recorded run, records nothing again)."""
    _require_aware(now)
    subjects = tuple(
        ShreddedSubject(subject_id=s, rule=e.rule.value, expired_at=e.until.astimezone(UTC))
        for s, e in sorted(due.items(), key=lambda item: str(item[0]))
        if s not in state.subjects and e.until is not None
    )
    if not subjects:
        return []
    counts: dict[str, int] = {}
    for s in subjects:
        counts[s.rule] = counts.get(s.rule, 0) + 1
    return [
        ExpiredPersonalDataShredded(
            subjects=subjects, counts=counts, years=policy.years(), ran_at=now.astimezone(UTC)
        )
    ]


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the domain needs timezone-aware datetimes")
