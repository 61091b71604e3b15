"""Whatever the units and the office do, in whatever order and at whatever time, a round never
exceeds a quota, never accepts after a (possibly extended) deadline, never holds an employee
twice. Commands are decided and their events folded; refusals are skipped.

The invariants are checked against a model the test keeps from the events themselves, not
against the domain's own state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.nomination.domain import (
    NominationPolicy,
    RoundCommand,
    RoundState,
    decide_round,
    directory_from,
    evolve_round,
)
from services.nomination.errors import NominationError
from shared.contracts.common import Category
from shared.contracts.nomination import (
    DeadlineExtended,
    EmployeeLeft,
    EmployeeRegistered,
    NominationAmended,
    NominationsClosed,
    NominationSubmitted,
    NominationWithdrawn,
    RoundOpened,
    UnitRegistered,
)
from shared.contracts.nomination_commands import (
    AmendNomination,
    CloseRound,
    ExtendDeadline,
    MeasurableResultInput,
    SubmitNomination,
    WithdrawNomination,
)
from shared.events import DomainEvent
from shared.rounds import Cadence

SH = ZoneInfo("Asia/Shanghai")
ROUND = "2026-Q4"
DEADLINE = datetime(2026, 12, 25, 23, 59, 59, tzinfo=SH)
EXTENDED = datetime(2026, 12, 28, 23, 59, 59, tzinfo=SH)
LATER_STILL = datetime(2026, 12, 31, 12, 0, 0, tzinfo=SH)
SECOND = timedelta(seconds=1)

INSTANTS = [
    datetime(2026, 12, 1, 9, 0, tzinfo=SH),
    DEADLINE - SECOND,
    DEADLINE,
    DEADLINE + timedelta(microseconds=999_999),
    DEADLINE + SECOND,
    DEADLINE + timedelta(days=1),
    EXTENDED,
    EXTENDED + timedelta(milliseconds=500),
    EXTENDED + SECOND,
    LATER_STILL,
    LATER_STILL + SECOND,
]
EXTENSION_TARGETS = [DEADLINE - SECOND, DEADLINE, EXTENDED, LATER_STILL]

UNIT_OF = {"E101": "U1", "E102": "U1", "E103": "U1", "E201": "U2", "E202": "U2", "E999": "U1"}
DIRECTORY = directory_from(
    [
        UnitRegistered(unit_code="U1", name="机电修配厂"),
        UnitRegistered(unit_code="U2", name="物业服务中心"),
        EmployeeRegistered(employee_no="E101", name="张伟", unit_code="U1", position="钳工"),
        EmployeeRegistered(employee_no="E102", name="李娜", unit_code="U1", position="电工"),
        EmployeeRegistered(employee_no="E103", name="王强", unit_code="U1", position="焊工"),
        EmployeeLeft(employee_no="E103", unit_code="U1"),
        EmployeeRegistered(employee_no="E201", name="刘洋", unit_code="U2", position="维修工"),
        EmployeeRegistered(employee_no="E202", name="陈静", unit_code="U2", position="班长"),
    ]
)
ACTIVE = {"E101", "E102", "E201", "E202"}
CATEGORIES = [Category.STRIVING, Category.REFORM]
UNKNOWN_ID = UUID(int=0)
DEEDS = "带领班组完成井下供电系统改造，连续四十天坚守一线，节约成本十二万元。" * 2
RESULTS = (MeasurableResultInput(metric="节约成本", value=Decimal("120000"), unit="元"),)
OPENED = RoundOpened(
    round_id=ROUND,
    cadence=Cadence.QUARTERLY,
    deadline=DEADLINE,
    opened_by="office-1",
    opened_at=datetime(2026, 10, 8, 9, 0, tzinfo=SH),
)

units = st.sampled_from(["U1", "U2"])


@st.composite
def submits(draw: st.DrawFn) -> SubmitNomination:
    employee_no = draw(st.sampled_from(sorted(UNIT_OF)))
    own = UNIT_OF[employee_no]
    unit = draw(st.sampled_from([own, own, own, "U2" if own == "U1" else "U1"]))
    return SubmitNomination(
        actor=f"nominator-{unit}",
        roles=frozenset({"nominator"}),
        actor_unit_code=unit,
        nomination_id=UNKNOWN_ID,  # resolved when the step runs: see `with_id`
        round_id=ROUND,
        unit_code=unit,
        employee_no=employee_no,
        category=draw(st.sampled_from(CATEGORIES)),
        deeds=DEEDS,
        results=RESULTS,
        recommendation="同意推荐",
    )


@st.composite
def amends(draw: st.DrawFn) -> AmendNomination:
    unit = draw(units)
    return AmendNomination(
        actor=f"nominator-{unit}",
        roles=frozenset({"nominator"}),
        actor_unit_code=unit,
        nomination_id=UNKNOWN_ID,
        category=draw(st.sampled_from(CATEGORIES)),
        deeds=DEEDS + draw(st.sampled_from(["", "补充。", "再补充。"])),
        results=RESULTS,
        recommendation="同意推荐",
    )


@st.composite
def withdrawals(draw: st.DrawFn) -> WithdrawNomination:
    unit = draw(units)
    return WithdrawNomination(
        actor=f"nominator-{unit}",
        roles=frozenset({"nominator"}),
        actor_unit_code=unit,
        nomination_id=UNKNOWN_ID,
        reason="撤回",
    )


@st.composite
def extensions(draw: st.DrawFn) -> ExtendDeadline:
    return ExtendDeadline(
        actor="office-1",
        roles=frozenset({"office"}),
        round_id=ROUND,
        unit_code=draw(st.sampled_from([None, "U1", "U2"])),
        new_deadline=draw(st.sampled_from(EXTENSION_TARGETS)),
        reason="抢险任务",
    )


@st.composite
def closes(draw: st.DrawFn) -> CloseRound:
    scheduled = draw(st.booleans())
    return CloseRound(
        actor="scheduler" if scheduled else "office-1",
        roles=frozenset() if scheduled else frozenset({"office"}),
        round_id=ROUND,
        scheduled=scheduled,
    )


# Weighted so that rounds fill up before they close: most commands are the units' own.
commands = st.sampled_from(
    [submits()] * 5 + [amends()] * 2 + [withdrawals()] * 2 + [extensions(), closes()]
).flatmap(lambda strategy: strategy)
instants = st.sampled_from([INSTANTS[0]] * (len(INSTANTS) - 1) + INSTANTS[1:])
steps = st.lists(st.tuples(commands, st.integers(min_value=0, max_value=15), instants), max_size=40)


def with_id(cmd: RoundCommand, pick: int, step: int, known: list[UUID]) -> RoundCommand:
    """Point a command at a nomination: a fresh id for most submissions, else a known one.

    Drawing ids blindly would make almost every amendment hit an unknown nomination.
    """
    if isinstance(cmd, SubmitNomination):
        reuse = known and pick % 4 == 0
        nomination_id = known[pick % len(known)] if reuse else UUID(int=step + 1)
        return cmd.model_copy(update={"nomination_id": nomination_id})
    if isinstance(cmd, AmendNomination | WithdrawNomination):
        nomination_id = known[pick % len(known)] if known and pick != 15 else UNKNOWN_ID
        return cmd.model_copy(update={"nomination_id": nomination_id})
    return cmd


@dataclass
class Model:
    """What the events say, kept by the test: the windows and who stands nominated."""

    deadline: datetime = DEADLINE
    unit_deadlines: dict[str, datetime] = field(default_factory=dict)
    closed: bool = False
    standing: dict[UUID, tuple[str, Category, str]] = field(default_factory=dict)  # unit, cat, emp
    submitted: list[UUID] = field(default_factory=list)

    def effective(self, unit: str) -> datetime:
        return max(self.deadline, self.unit_deadlines.get(unit, self.deadline))

    def latest(self) -> datetime:
        return max([self.deadline, *self.unit_deadlines.values()])


def on_time(now: datetime, deadline: datetime) -> bool:
    return now.replace(microsecond=0) <= deadline.replace(microsecond=0)


def observe(model: Model, event: DomainEvent, now: datetime, cmd: RoundCommand) -> None:
    assert not model.closed, f"{event.event_type} after the round closed"
    match event:
        case NominationSubmitted():
            unit = event.nominee.unit_code
            assert on_time(now, model.effective(unit)), "accepted after the deadline"
            assert event.nominee.employee_no in ACTIVE
            assert UNIT_OF[event.nominee.employee_no] == unit
            model.standing[event.nomination_id] = (unit, event.category, event.nominee.employee_no)
            model.submitted.append(event.nomination_id)
        case NominationAmended():
            unit, _, employee_no = model.standing[event.nomination_id]
            assert on_time(now, model.effective(unit)), "amended after the deadline"
            model.standing[event.nomination_id] = (unit, event.category, employee_no)
        case NominationWithdrawn():
            unit, _, _ = model.standing.pop(event.nomination_id)
            assert on_time(now, model.effective(unit)), "withdrawn after the deadline"
        case DeadlineExtended(unit_code=None):
            assert event.new_deadline > model.deadline
            model.deadline = event.new_deadline
        case DeadlineExtended(unit_code=str(unit)):
            assert event.new_deadline > model.effective(unit)
            model.unit_deadlines[unit] = event.new_deadline
        case NominationsClosed():
            if isinstance(cmd, CloseRound) and cmd.scheduled:
                assert not on_time(now, model.latest()), "the scheduler closed too early"
            assert {n.nomination_id for n in event.nominations} == set(model.standing)
            model.closed = True
        case _:
            raise AssertionError(f"unexpected {event.event_type}")


def assert_round_rules_hold(model: Model, quota: int) -> None:
    per_slot: dict[tuple[str, Category], int] = {}
    employees: list[str] = []
    for unit, category, employee_no in model.standing.values():
        per_slot[(unit, category)] = per_slot.get((unit, category), 0) + 1
        employees.append(employee_no)
    assert all(count <= quota for count in per_slot.values()), per_slot
    assert len(employees) == len(set(employees)), employees


@settings(max_examples=300, deadline=None)
@given(steps=steps, quota=st.integers(min_value=1, max_value=2))
def test_no_sequence_of_commands_breaks_the_rules_of_a_round(
    steps: list[tuple[RoundCommand, int, datetime]], quota: int
) -> None:
    policy = NominationPolicy(quota_per_unit_category=quota)
    state: RoundState | None = evolve_round(None, OPENED)
    model = Model()
    known = model.submitted
    for step, (template, pick, now) in enumerate(steps):
        cmd = with_id(template, pick, step, known)
        try:
            events = decide_round(state, cmd, now, directory=DIRECTORY, policy=policy)
        except NominationError:
            continue
        for event in events:
            observe(model, event, now, cmd)
            state = evolve_round(state, event)
        assert_round_rules_hold(model, quota)
        assert state is not None
        assert {n.nomination_id for n in state.standing()} == set(model.standing)
