"""The nomination service's deciders, pure: the directory, and a round with its nominations.

Two aggregates. The directory (stream "directory") knows units and employees and changes
only by import. A round (stream "round-<round_id>") holds its window and every nomination
in it, because the quota and "one nomination per employee" are rules over the whole round.

`decide_*` functions take the state, a command and `now` (an aware datetime) and return the
new events or raise a `NominationError` (errors.py); `evolve_*` fold one event into the state.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time
from urllib.parse import urlsplit
from uuid import UUID

from services.nomination.errors import (
    LOCAL_FORMAT,
    AlreadyNominated,
    AuditStarted,
    CadenceMismatch,
    DeadlineInPast,
    DeadlinePassed,
    DeedsLength,
    EmployeeInactive,
    EmployeeNotFound,
    EmployeeNotInUnit,
    ExtensionNotLater,
    InCooldown,
    InvalidDirectory,
    InvalidLink,
    LegalHold,
    NominationAlreadyWithdrawn,
    NominationExists,
    NominationNotFound,
    NominationWasRejected,
    NoPersonalData,
    NotANominator,
    NotOffice,
    NotOwnUnit,
    QuotaExceeded,
    ReasonRequired,
    RecommendationRequired,
    ResultAlreadyPublished,
    RoundClosed,
    RoundExists,
    RoundNotClosed,
    RoundNotOpen,
    UnitNotFound,
)
from shared.clock import SHANGHAI
from shared.contracts.common import Category, NomineeSnapshot
from shared.contracts.nomination import (
    CAMPAIGN_TIMEZONE,
    ClosedNomination,
    DeadlineExtended,
    EmployeeLeft,
    EmployeeRegistered,
    EmployeeRejoined,
    EmployeeTransferred,
    EmployeeUpdated,
    MeasurableResult,
    NominationAmended,
    NominationsClosed,
    NominationSubmitted,
    NominationWithdrawn,
    NomineeCorrected,
    PersonalDataErased,
    PublicityConsent,
    PublicityConsentRecorded,
    RoundOpened,
    RoundReopenedForUnit,
    UnitNominationsClosed,
    UnitRegistered,
    UnitRenamed,
)
from shared.contracts.nomination_commands import (
    ADMIN,
    NOMINATOR,
    OFFICE,
    AmendNomination,
    CloseRound,
    Command,
    ErasePersonalData,
    ExtendDeadline,
    ImportDirectory,
    NominationContent,
    NominatorCommand,
    OpenRound,
    RecordConsent,
    ReopenForUnit,
    SubmitNomination,
    WithdrawNomination,
)
from shared.events import DomainEvent
from shared.rounds import (
    DEFAULT_DEADLINE_DAY,
    DEFAULT_DEADLINE_TIME,
    Cadence,
    RoundPeriod,
)

# --- Policy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NominationPolicy:
    """The settings the rules depend on, handed in by the caller (the domain reads no settings)."""

    cadence: Cadence = Cadence.QUARTERLY
    deadline_day: int = DEFAULT_DEADLINE_DAY
    deadline_time: time = DEFAULT_DEADLINE_TIME
    quota_per_unit_category: int = 1
    cooldown_rounds: int = 0
    deeds_min_chars: int = 50
    deeds_max_chars: int = 3_000


PastWin = tuple[str, Category, str]
"""(employee_no, category, round_id) of a flower already won: the input of the cooldown rule."""


# --- Directory state --------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    code: str
    name: str


@dataclass(frozen=True)
class Employee:
    employee_no: str
    name: str
    unit_code: str
    position: str
    active: bool = True


@dataclass(frozen=True)
class DirectoryState:
    units: Mapping[str, Unit] = field(default_factory=dict)
    employees: Mapping[str, Employee] = field(default_factory=dict)

    def snapshot(self, employee_no: str) -> NomineeSnapshot:
        employee = self.employees[employee_no]
        unit = self.units.get(employee.unit_code)
        return NomineeSnapshot(
            employee_no=employee.employee_no,
            name=employee.name,
            unit_code=employee.unit_code,
            unit_name=unit.name if unit else employee.unit_code,
            position=employee.position,
        )


EMPTY_DIRECTORY = DirectoryState()


def _apply_directory(
    units: dict[str, Unit], employees: dict[str, Employee], event: DomainEvent
) -> None:
    match event:
        case UnitRegistered() | UnitRenamed():
            units[event.unit_code] = Unit(event.unit_code, event.name)
        case EmployeeRegistered():
            employees[event.employee_no] = Employee(
                event.employee_no, event.name, event.unit_code, event.position
            )
        case EmployeeUpdated():
            old = employees[event.employee_no]
            employees[event.employee_no] = replace(old, name=event.name, position=event.position)
        case EmployeeTransferred():
            old = employees[event.employee_no]
            employees[event.employee_no] = replace(old, unit_code=event.to_unit_code)
        case EmployeeLeft():
            employees[event.employee_no] = replace(employees[event.employee_no], active=False)
        case EmployeeRejoined():
            employees[event.employee_no] = Employee(
                event.employee_no, event.name, event.unit_code, event.position
            )
        case _:
            pass


def evolve_directory(state: DirectoryState, event: DomainEvent) -> DirectoryState:
    units, employees = dict(state.units), dict(state.employees)
    _apply_directory(units, employees, event)
    return DirectoryState(units, employees)


def directory_from(
    events: Iterable[DomainEvent], initial: DirectoryState = EMPTY_DIRECTORY
) -> DirectoryState:
    """Fold a whole stream at once: the same as folding `evolve_directory`, without a copy per
    event (a directory has thousands of employees)."""
    units, employees = dict(initial.units), dict(initial.employees)
    for event in events:
        _apply_directory(units, employees, event)
    return DirectoryState(units, employees)


def decide_import(state: DirectoryState, cmd: ImportDirectory) -> list[DomainEvent]:
    """Only the differences between the directory and the rows; the same rows again give none."""
    if OFFICE not in cmd.roles and ADMIN not in cmd.roles:
        raise NotOffice()
    unit_names: dict[str, str] = {}
    seen: set[str] = set()
    for row in cmd.rows:
        if unit_names.setdefault(row.unit_code, row.unit_name) != row.unit_name:
            raise InvalidDirectory(
                problem_zh=f"单位 {row.unit_code} 有两个名称",
                problem_en=f"unit {row.unit_code} has two names",
            )
        if row.employee_no in seen:
            raise InvalidDirectory(
                problem_zh=f"职工 {row.employee_no} 出现多次",
                problem_en=f"employee {row.employee_no} appears more than once",
            )
        seen.add(row.employee_no)

    events: list[DomainEvent] = []
    for code, name in unit_names.items():
        unit = state.units.get(code)
        if unit is None:
            events.append(UnitRegistered(unit_code=code, name=name))
        elif unit.name != name:
            events.append(UnitRenamed(unit_code=code, previous_name=unit.name, name=name))

    for row in cmd.rows:
        known = state.employees.get(row.employee_no)
        if known is None:
            if row.active:
                events.append(
                    EmployeeRegistered(
                        employee_no=row.employee_no,
                        name=row.name,
                        unit_code=row.unit_code,
                        position=row.position,
                    )
                )
        elif not row.active:
            if known.active:
                events.append(
                    EmployeeLeft(employee_no=known.employee_no, unit_code=known.unit_code)
                )
        elif not known.active:
            events.append(
                EmployeeRejoined(
                    employee_no=row.employee_no,
                    name=row.name,
                    unit_code=row.unit_code,
                    position=row.position,
                )
            )
        else:
            if known.unit_code != row.unit_code:
                events.append(
                    EmployeeTransferred(
                        employee_no=row.employee_no,
                        from_unit_code=known.unit_code,
                        to_unit_code=row.unit_code,
                    )
                )
            if (known.name, known.position) != (row.name, row.position):
                events.append(
                    EmployeeUpdated(
                        employee_no=row.employee_no,
                        unit_code=row.unit_code,
                        name=row.name,
                        position=row.position,
                    )
                )

    if cmd.complete:
        for employee in state.employees.values():
            if employee.active and employee.employee_no not in seen:
                events.append(
                    EmployeeLeft(employee_no=employee.employee_no, unit_code=employee.unit_code)
                )
    return events


# --- Round state ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nomination:
    nomination_id: UUID
    category: Category
    nominee: NomineeSnapshot
    deeds: str
    results: tuple[MeasurableResult, ...]
    evidence_links: tuple[str, ...]
    recommendation: str
    submitted_by: str
    submitted_at: datetime
    last_amended_at: datetime | None = None
    withdrawn: bool = False
    consent: PublicityConsent | None = None
    """The nominee's consent to public display; None: not recorded (counts as none)."""

    @property
    def unit_code(self) -> str:
        return self.nominee.unit_code

    @property
    def employee_no(self) -> str:
        return self.nominee.employee_no


@dataclass(frozen=True)
class RoundState:
    round_id: str
    cadence: Cadence
    deadline: datetime
    unit_deadlines: Mapping[str, datetime] = field(default_factory=dict)
    nominations: Mapping[UUID, Nomination] = field(default_factory=dict)
    closed: bool = False
    closed_at: datetime | None = None
    reopened: Mapping[str, datetime] = field(default_factory=dict)
    """Units let in again after the close, each until its own deadline, while not shut."""

    def deadline_for(self, unit_code: str) -> datetime:
        """A unit's effective deadline: the round's, or the unit's own extension if later."""
        own = self.unit_deadlines.get(unit_code)
        return self.deadline if own is None or own < self.deadline else own

    @property
    def latest_deadline(self) -> datetime:
        """When the last unit's window shuts: the scheduler closes the round after this."""
        return max([self.deadline, *self.unit_deadlines.values()])

    def standing(self, rejected: Collection[UUID] = ()) -> list[Nomination]:
        """The nominations not withdrawn and not rejected by the office's audit (`rejected`,
        heard from the review), in the order they were submitted: only these hold a place."""
        return [
            n
            for n in self.nominations.values()
            if not n.withdrawn and n.nomination_id not in rejected
        ]

    def accepts_at(self, unit_code: str, now: datetime) -> bool:
        if self.closed:
            late = self.reopened.get(unit_code)
            return late is not None and within_deadline(now, late)
        return within_deadline(now, self.deadline_for(unit_code))


def within_deadline(now: datetime, deadline: datetime) -> bool:
    """Whether `now` is on or before the deadline, to the second.

    A deadline names its last accepted second: "23:59:59" accepts 23:59:59.999 and refuses
    00:00:00 of the next day.
    """
    _require_aware(now)
    return now.replace(microsecond=0) <= deadline.replace(microsecond=0)


def evolve_round(state: RoundState | None, event: DomainEvent) -> RoundState | None:
    if isinstance(event, RoundOpened):
        return RoundState(round_id=event.round_id, cadence=event.cadence, deadline=event.deadline)
    if state is None:
        if isinstance(
            event,
            DeadlineExtended
            | NominationSubmitted
            | NominationAmended
            | NominationWithdrawn
            | PublicityConsentRecorded
            | NominationsClosed
            | RoundReopenedForUnit
            | UnitNominationsClosed,
        ):
            raise ValueError(f"{event.event_type} before RoundOpened: the stream is corrupt")
        return state
    match event:
        case DeadlineExtended(unit_code=None):
            return replace(state, deadline=event.new_deadline)
        case DeadlineExtended(unit_code=str(unit_code)):
            return replace(
                state, unit_deadlines={**state.unit_deadlines, unit_code: event.new_deadline}
            )
        case NominationSubmitted():
            nomination = Nomination(
                nomination_id=event.nomination_id,
                category=event.category,
                nominee=event.nominee,
                deeds=event.deeds,
                results=event.results,
                evidence_links=event.evidence_links,
                recommendation=event.recommendation,
                submitted_by=event.submitted_by,
                submitted_at=event.submitted_at,
                consent=event.consent,
            )
            return _with_nomination(state, nomination)
        case NominationAmended():
            old = state.nominations[event.nomination_id]
            amended = replace(
                old,
                category=event.category,
                nominee=event.nominee,
                deeds=event.deeds,
                results=event.results,
                evidence_links=event.evidence_links,
                recommendation=event.recommendation,
                last_amended_at=event.amended_at,
            )
            return _with_nomination(state, amended)
        case NominationWithdrawn():
            old = state.nominations[event.nomination_id]
            return _with_nomination(state, replace(old, withdrawn=True))
        case PublicityConsentRecorded():
            old = state.nominations[event.nomination_id]
            return _with_nomination(state, replace(old, consent=event.consent))
        case NominationsClosed():
            return replace(state, closed=True, closed_at=event.closed_at)
        case RoundReopenedForUnit():
            return replace(state, reopened={**state.reopened, event.unit_code: event.new_deadline})
        case UnitNominationsClosed():
            return replace(
                state,
                reopened={u: d for u, d in state.reopened.items() if u != event.unit_code},
            )
        case NomineeCorrected():
            old = state.nominations[event.nomination_id]
            nominee = old.nominee.model_copy(update={event.field: event.value})
            return _with_nomination(state, replace(old, nominee=nominee))
        case _:
            return state


def round_from(events: Iterable[DomainEvent]) -> RoundState | None:
    state: RoundState | None = None
    for event in events:
        state = evolve_round(state, event)
    return state


def _with_nomination(state: RoundState, nomination: Nomination) -> RoundState:
    return replace(state, nominations={**state.nominations, nomination.nomination_id: nomination})


# --- Round deciders ---------------------------------------------------------------------------


def decide_open_round(
    state: RoundState | None, cmd: OpenRound, now: datetime, *, policy: NominationPolicy
) -> list[DomainEvent]:
    _require_aware(now)
    _require_office(cmd)
    if state is not None:
        raise RoundExists(round_id=cmd.round_id)
    period = RoundPeriod.parse(cmd.round_id)
    if period.cadence is not policy.cadence:
        raise CadenceMismatch(round_id=cmd.round_id, cadence=policy.cadence.value)
    deadline = cmd.deadline or period.deadline(policy.deadline_day, policy.deadline_time)
    if not within_deadline(now, deadline):
        raise DeadlineInPast(deadline_local=_local(deadline))
    return [
        RoundOpened(
            round_id=cmd.round_id,
            cadence=period.cadence,
            deadline=_utc(deadline),
            opened_by=cmd.actor,
            opened_at=_utc(now),
            timezone=CAMPAIGN_TIMEZONE,
            deadline_local=deadline.astimezone(SHANGHAI),
        )
    ]


def decide_extend_deadline(
    state: RoundState | None,
    cmd: ExtendDeadline,
    now: datetime,
    *,
    directory: DirectoryState,
) -> list[DomainEvent]:
    _require_aware(now)
    _require_office(cmd)
    round_ = _require_round(state, cmd.round_id)
    if round_.closed:
        raise RoundClosed(round_id=round_.round_id)
    if cmd.unit_code is not None and cmd.unit_code not in directory.units:
        raise UnitNotFound(unit_code=cmd.unit_code)
    if not cmd.reason.strip():
        raise ReasonRequired()
    current = round_.deadline if cmd.unit_code is None else round_.deadline_for(cmd.unit_code)
    if cmd.new_deadline <= current or within_deadline(cmd.new_deadline, now):
        raise ExtensionNotLater(deadline_local=_local(current))
    return [
        DeadlineExtended(
            round_id=round_.round_id,
            unit_code=cmd.unit_code,
            previous_deadline=_utc(current),
            new_deadline=_utc(cmd.new_deadline),
            reason=cmd.reason,
            extended_by=cmd.actor,
            extended_at=_utc(now),
        )
    ]


def decide_close_round(
    state: RoundState | None, cmd: CloseRound, now: datetime
) -> list[DomainEvent]:
    """Close at the deadline (the scheduler, idempotent) or earlier (the office).

    The scheduler closes only once the latest effective deadline, per-unit extensions
    included, has passed; before that, or when already closed, it gets no events.
    """
    _require_aware(now)
    if not cmd.scheduled:
        _require_office(cmd)
    round_ = _require_round(state, cmd.round_id)
    if round_.closed:
        late = _close_reopened_units(round_, cmd, now)
        if late or cmd.scheduled:
            return late
        raise RoundClosed(round_id=round_.round_id)
    latest = round_.latest_deadline
    past = not within_deadline(now, latest)
    if cmd.scheduled and not past:
        return []
    return [
        NominationsClosed(
            round_id=round_.round_id,
            closed_at=_utc(now),
            how="deadline" if past else "early",
            closed_by=cmd.actor,
            deadline=_utc(latest),
            nominations=tuple(_closed(n) for n in round_.standing()),
        )
    ]


def _closed(n: Nomination) -> ClosedNomination:
    return ClosedNomination(
        nomination_id=n.nomination_id,
        category=n.category,
        nominee=n.nominee,
        submitted_by=n.submitted_by,
        submitted_at=n.submitted_at,
        last_amended_at=n.last_amended_at,
    )


def _close_reopened_units(round_: RoundState, cmd: CloseRound, now: datetime) -> list[DomainEvent]:
    """Shut the windows of units let in again: the scheduler those whose deadline has
    passed, the office every one still open (early)."""
    events: list[DomainEvent] = []
    for unit_code, deadline in sorted(round_.reopened.items()):
        past = not within_deadline(now, deadline)
        if cmd.scheduled and not past:
            continue
        events.append(
            UnitNominationsClosed(
                round_id=round_.round_id,
                unit_code=unit_code,
                closed_at=_utc(now),
                how="deadline" if past else "early",
                closed_by=cmd.actor,
                deadline=_utc(deadline),
                nominations=tuple(
                    _closed(n) for n in round_.standing() if n.unit_code == unit_code
                ),
            )
        )
    return events


def decide_reopen_for_unit(
    state: RoundState | None,
    cmd: ReopenForUnit,
    now: datetime,
    *,
    directory: DirectoryState,
    audit_started: bool,
) -> list[DomainEvent]:
    """The office lets one unit nominate again in a closed round, with a reason, until
    `new_deadline`; once the office has begun auditing the round it is too late (the review
    would be judging a field that is still changing). Reopening a unit already let in again
    moves its deadline later."""
    _require_aware(now)
    _require_office(cmd)
    round_ = _require_round(state, cmd.round_id)
    if not round_.closed:
        raise RoundNotClosed(round_id=round_.round_id)
    if audit_started:
        raise AuditStarted(round_id=round_.round_id)
    if cmd.unit_code not in directory.units:
        raise UnitNotFound(unit_code=cmd.unit_code)
    if not cmd.reason.strip():
        raise ReasonRequired()
    current = round_.reopened.get(cmd.unit_code)
    if within_deadline(cmd.new_deadline, now) or (
        current is not None and cmd.new_deadline <= current
    ):
        raise ExtensionNotLater(deadline_local=_local(current or now))
    return [
        RoundReopenedForUnit(
            round_id=round_.round_id,
            unit_code=cmd.unit_code,
            new_deadline=_utc(cmd.new_deadline),
            reason=cmd.reason,
            reopened_by=cmd.actor,
            reopened_at=_utc(now),
        )
    ]


def decide_submit(
    state: RoundState | None,
    cmd: SubmitNomination,
    now: datetime,
    *,
    directory: DirectoryState,
    policy: NominationPolicy,
    winners: Collection[PastWin] = (),
    rejected: Collection[UUID] = (),
) -> list[DomainEvent]:
    _require_aware(now)
    round_ = _require_round(state, cmd.round_id)
    _require_nominator_of(cmd, cmd.unit_code)
    existing = round_.nominations.get(cmd.nomination_id)
    if existing is not None:
        if existing.employee_no == cmd.employee_no and existing.submitted_by == cmd.actor:
            return []  # a retry of a submission already recorded
        raise NominationExists(nomination_id=str(cmd.nomination_id))
    _require_window(round_, cmd.unit_code, now)

    employee = directory.employees.get(cmd.employee_no)
    if employee is None:
        raise EmployeeNotFound(employee_no=cmd.employee_no)
    if employee.unit_code != cmd.unit_code:
        raise EmployeeNotInUnit(employee_no=cmd.employee_no, unit_code=cmd.unit_code)
    if not employee.active:
        raise EmployeeInactive(employee_no=cmd.employee_no)
    _require_not_nominated(round_, cmd.employee_no, rejected)
    _require_quota(round_, cmd.unit_code, cmd.category, policy, rejected)
    _require_no_cooldown(round_, cmd.employee_no, cmd.category, policy, winners)
    results, links = _validated_content(cmd, policy)

    return [
        NominationSubmitted(
            nomination_id=cmd.nomination_id,
            round_id=round_.round_id,
            category=cmd.category,
            nominee=directory.snapshot(cmd.employee_no),
            deeds=cmd.deeds,
            results=results,
            evidence_links=links,
            recommendation=cmd.recommendation,
            submitted_by=cmd.actor,
            submitted_at=_utc(now),
            consent=cmd.consent,
        )
    ]


def decide_amend(
    state: RoundState | None,
    cmd: AmendNomination,
    now: datetime,
    *,
    policy: NominationPolicy,
    winners: Collection[PastWin] = (),
    rejected: Collection[UUID] = (),
) -> list[DomainEvent]:
    _require_aware(now)
    round_, nomination = _require_nomination(state, cmd.nomination_id)
    _require_nominator_of(cmd, nomination.unit_code)
    if nomination.withdrawn:
        raise NominationAlreadyWithdrawn(nomination_id=str(nomination.nomination_id))
    if nomination.nomination_id in rejected:
        raise NominationWasRejected(nomination_id=str(nomination.nomination_id))
    _require_window(round_, nomination.unit_code, now)
    if cmd.category != nomination.category:
        _require_quota(round_, nomination.unit_code, cmd.category, policy, rejected)
        _require_no_cooldown(round_, nomination.employee_no, cmd.category, policy, winners)
    results, links = _validated_content(cmd, policy)
    unchanged = (
        nomination.category,
        nomination.deeds,
        nomination.results,
        nomination.evidence_links,
        nomination.recommendation,
    ) == (cmd.category, cmd.deeds, results, links, cmd.recommendation)
    if unchanged:
        return []
    return [
        NominationAmended(
            nomination_id=nomination.nomination_id,
            round_id=round_.round_id,
            category=cmd.category,
            nominee=nomination.nominee,
            deeds=cmd.deeds,
            results=results,
            evidence_links=links,
            recommendation=cmd.recommendation,
            amended_by=cmd.actor,
            amended_at=_utc(now),
        )
    ]


def decide_withdraw(
    state: RoundState | None, cmd: WithdrawNomination, now: datetime
) -> list[DomainEvent]:
    _require_aware(now)
    round_, nomination = _require_nomination(state, cmd.nomination_id)
    _require_nominator_of(cmd, nomination.unit_code)
    if nomination.withdrawn:
        return []
    _require_window(round_, nomination.unit_code, now)
    if not cmd.reason.strip():
        raise ReasonRequired()
    return [
        NominationWithdrawn(
            nomination_id=nomination.nomination_id,
            round_id=round_.round_id,
            category=nomination.category,
            nominee=nomination.nominee,
            reason=cmd.reason,
            withdrawn_by=cmd.actor,
            withdrawn_at=_utc(now),
        )
    ]


def decide_record_consent(
    state: RoundState | None, cmd: RecordConsent, now: datetime, *, result_published: bool
) -> list[DomainEvent]:
    """The unit records or changes its nominee's consent to public display, after the
    deadline too (the office may ask for it while auditing), but not once the result is
    published (`result_published`, heard from the review): the materials are drafted then."""
    _require_aware(now)
    round_, nomination = _require_nomination(state, cmd.nomination_id)
    _require_nominator_of(cmd, nomination.unit_code)
    if nomination.withdrawn:
        raise NominationAlreadyWithdrawn(nomination_id=str(nomination.nomination_id))
    if result_published:
        raise ResultAlreadyPublished(round_id=round_.round_id)
    if nomination.consent == cmd.consent:
        return []
    return [
        PublicityConsentRecorded(
            nomination_id=nomination.nomination_id,
            round_id=round_.round_id,
            employee_no=nomination.employee_no,
            consent=cmd.consent,
            recorded_by=cmd.actor,
            recorded_at=_utc(now),
        )
    ]


RoundCommand = (
    OpenRound
    | ExtendDeadline
    | ReopenForUnit
    | CloseRound
    | SubmitNomination
    | AmendNomination
    | WithdrawNomination
    | RecordConsent
)


def decide_round(
    state: RoundState | None,
    cmd: RoundCommand,
    now: datetime,
    *,
    directory: DirectoryState,
    policy: NominationPolicy,
    winners: Collection[PastWin] = (),
    rejected: Collection[UUID] = (),
    audit_started: bool = False,
    result_published: bool = False,
) -> list[DomainEvent]:
    """Any round command, for a handler that loads a round stream and appends to it.

    `rejected`: the round's nominations the office rejected in its audit (heard from the
    review); they no longer take a place in the quota nor hold their nominee.
    `audit_started`: whether the office has accepted or rejected any of the round's
    nominations (heard from the review); from then on no unit is let in again.
    `result_published`: whether the review published the round's result (consent is fixed)."""
    match cmd:
        case OpenRound():
            return decide_open_round(state, cmd, now, policy=policy)
        case ExtendDeadline():
            return decide_extend_deadline(state, cmd, now, directory=directory)
        case ReopenForUnit():
            return decide_reopen_for_unit(
                state, cmd, now, directory=directory, audit_started=audit_started
            )
        case CloseRound():
            return decide_close_round(state, cmd, now)
        case SubmitNomination():
            return decide_submit(
                state,
                cmd,
                now,
                directory=directory,
                policy=policy,
                winners=winners,
                rejected=rejected,
            )
        case AmendNomination():
            return decide_amend(state, cmd, now, policy=policy, winners=winners, rejected=rejected)
        case WithdrawNomination():
            return decide_withdraw(state, cmd, now)
        case RecordConsent():
            return decide_record_consent(state, cmd, now, result_published=result_published)


# --- Erasure of personal data (stream "privacy") -----------------------------------------------


@dataclass(frozen=True)
class Erasures:
    """The data subjects (pseudonyms) whose personal data the office erased."""

    subjects: frozenset[UUID] = frozenset()


NO_ERASURES = Erasures()


def evolve_erasures(state: Erasures, event: DomainEvent) -> Erasures:
    if isinstance(event, PersonalDataErased):
        return Erasures(state.subjects | {event.subject_id})
    return state


@dataclass(frozen=True)
class PayrollFact:
    """When payroll facts about an employee arose (accounting vouchers in rewards' log and
    PAYROLL): a published win (its award's adjustment) or a revocation (its reversal).
    `at` None: it happened and its time is not known here (a read model projected before
    the time was kept): the hold then counts from now, the safe side of a legal duty."""

    round_id: str
    at: datetime | None


def accounting_year(at: datetime) -> int:
    """The accounting year (Beijing) of payroll facts arising at `at`: a December result
    or revocation may be paid with January's wages (the payroll cut-off), so December
    counts in the next year."""
    local = at.astimezone(SHANGHAI)
    return local.year + 1 if local.month == 12 else local.year


def payroll_hold_until(facts: Iterable[PayrollFact], years: int, now: datetime) -> datetime | None:
    """When the last of an employee's payroll facts may go: `years` full years after the
    end of the accounting year it belongs to (会计档案管理办法 第十五条: a period counts
    from the first day after its accounting year ends). None: no payroll facts."""
    found = [accounting_year(f.at if f.at is not None else now) for f in facts]
    if not found:
        return None
    return datetime(max(found) + 1 + years, 1, 1, tzinfo=SHANGHAI)


def decide_erasure(
    state: Erasures,
    cmd: ErasePersonalData,
    subject_id: UUID | None,
    now: datetime,
    *,
    payroll: Collection[PayrollFact],
    payroll_years: int,
) -> list[DomainEvent]:
    """The office erases the personal data held under `subject_id` (the pseudonym the key
    store knows the employee by; None: nothing held). Recorded once: the same request again
    records nothing (its key may still need destroying after an interruption).

    Legal hold: a published winner (revoked or not) holds payroll facts (`payroll`: from
    review's results, as the retention job knows them), which accounting law keeps for
    `payroll_years`; while any is inside that period the erasure is refused. Their key is
    one for all their data, so nothing of theirs is shredded before then."""
    _require_office(cmd)
    _require_aware(now)
    if subject_id is None:
        raise NoPersonalData(employee_no=cmd.employee_no)
    if subject_id in state.subjects:
        return []
    hold = payroll_hold_until(payroll, payroll_years, now)
    if hold is not None and now < hold:
        raise LegalHold(
            employee_no=cmd.employee_no, years=payroll_years, hold_ends_year=hold.year - 1
        )
    return [
        PersonalDataErased(
            subject_id=subject_id, reason=cmd.reason, erased_by=cmd.actor, erased_at=_utc(now)
        )
    ]


# --- Rules shared by the deciders -------------------------------------------------------------


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the domain needs timezone-aware datetimes")


def _require_office(cmd: Command) -> None:
    if OFFICE not in cmd.roles:
        raise NotOffice()


def _require_nominator_of(cmd: NominatorCommand, unit_code: str) -> None:
    if NOMINATOR not in cmd.roles:
        raise NotANominator()
    if cmd.actor_unit_code != unit_code:
        raise NotOwnUnit(actor_unit_code=cmd.actor_unit_code or "-", unit_code=unit_code)


def _require_round(state: RoundState | None, round_id: str) -> RoundState:
    if state is None or state.round_id != round_id:
        raise RoundNotOpen(round_id=round_id)
    return state


def _require_nomination(
    state: RoundState | None, nomination_id: UUID
) -> tuple[RoundState, Nomination]:
    """The nomination, in the round the handler found it in (its command names no round)."""
    nomination = state.nominations.get(nomination_id) if state is not None else None
    if state is None or nomination is None:
        round_id = state.round_id if state is not None else "-"
        raise NominationNotFound(round_id=round_id, nomination_id=str(nomination_id))
    return state, nomination


def _require_window(state: RoundState, unit_code: str, now: datetime) -> None:
    """After the close or past the unit's effective deadline, everything is locked; a unit
    the office let in again acts until its own new deadline."""
    if state.closed and unit_code not in state.reopened:
        raise RoundClosed(round_id=state.round_id)
    deadline = state.reopened[unit_code] if state.closed else state.deadline_for(unit_code)
    if not within_deadline(now, deadline):
        raise DeadlinePassed(round_id=state.round_id, deadline_local=_local(deadline))


def _require_not_nominated(
    state: RoundState, employee_no: str, rejected: Collection[UUID] = ()
) -> None:
    if any(n.employee_no == employee_no for n in state.standing(rejected)):
        raise AlreadyNominated(employee_no=employee_no)


def _require_quota(
    state: RoundState,
    unit_code: str,
    category: Category,
    policy: NominationPolicy,
    rejected: Collection[UUID] = (),
) -> None:
    used = sum(
        1 for n in state.standing(rejected) if n.unit_code == unit_code and n.category == category
    )
    if used >= policy.quota_per_unit_category:
        raise QuotaExceeded(
            unit_code=unit_code,
            category=category.value,
            category_zh=category.label_zh,
            category_en=category.label_en,
            quota=policy.quota_per_unit_category,
        )


def _require_no_cooldown(
    state: RoundState,
    employee_no: str,
    category: Category,
    policy: NominationPolicy,
    winners: Collection[PastWin],
) -> None:
    """A winner of `category` in the last `cooldown_rounds` rounds (same cadence) must wait."""
    if policy.cooldown_rounds <= 0:
        return
    recent = {
        p.id for p in RoundPeriod.parse(state.round_id).previous_rounds(policy.cooldown_rounds)
    }
    for won_employee, won_category, won_round in winners:
        if won_employee == employee_no and won_category == category and won_round in recent:
            raise InCooldown(
                employee_no=employee_no,
                category=category.value,
                category_zh=category.label_zh,
                category_en=category.label_en,
                won_round_id=won_round,
            )


def _validated_content(
    cmd: NominationContent, policy: NominationPolicy
) -> tuple[tuple[MeasurableResult, ...], tuple[str, ...]]:
    length = len(cmd.deeds.strip())
    if not policy.deeds_min_chars <= length <= policy.deeds_max_chars:
        raise DeedsLength(length=length, min=policy.deeds_min_chars, max=policy.deeds_max_chars)
    for link in cmd.evidence_links:
        if not (is_web_link(link) or is_stored_file(link)):
            raise InvalidLink(link=link)
    if not cmd.recommendation.strip():
        raise RecommendationRequired()
    results = tuple(
        MeasurableResult(metric=r.metric, value=r.value, unit=r.unit) for r in cmd.results
    )
    return results, tuple(cmd.evidence_links)


# An evidence file kept by the gateway's content-addressed file store: the SHA-256 of its
# bytes and its percent-encoded name, on the campaign's own site.
STORED_FILE = re.compile(r"/files/[0-9a-f]{64}/[A-Za-z0-9%._~-]{1,400}")


def is_stored_file(link: str) -> bool:
    """A site-relative link to an uploaded evidence file (`/files/<sha256>/<name>`)."""
    return STORED_FILE.fullmatch(link) is not None


def is_web_link(link: str) -> bool:
    """An absolute http(s) URL with a host, and nothing a browser would read differently."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in link):
        return False
    try:
        parts = urlsplit(link)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _local(moment: datetime) -> str:
    """A deadline for a refusal's details, in Beijing time to the second; its Chinese
    message shows it in the one Chinese form (errors.NominationError.zh_words)."""
    return moment.astimezone(SHANGHAI).strftime(LOCAL_FORMAT)
