"""Rewards' personal fields: which values are sealed, and a PAYROLL message read back (pure)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.rewards.domain import RewardsPolicy, decide_grant, decide_revoke, evolve_award
from shared.contracts.rewards import PayrollAdjustmentIssued, PayrollLine, open_payroll_line
from shared.events import DomainEvent
from shared.personal_data import ERASED, InMemoryKeyStore, marks, seal_data
from tests.rewards.support import revoked, winners

NOW = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
POLICY = RewardsPolicy()


def granted_and_revoked() -> list[DomainEvent]:
    (winner,) = winners(1)
    events: list[DomainEvent] = list(
        decide_grant(
            None,
            round_id="2026-Q4",
            winner=winner,
            published_at=NOW,
            result_event_id=uuid.uuid4(),
            now=NOW,
            policy=POLICY,
            closed_periods=(),
        )
    )
    state = None
    for event in events:
        state = evolve_award(state, event)
    events += decide_revoke(
        state,
        revocation=revoked(winner, NOW),
        revocation_event_id=uuid.uuid4(),
        now=NOW,
        policy=POLICY,
        closed_periods=(),
    )
    return events


@pytest.mark.parametrize(
    ("event_type", "personal"),
    [
        ("AwardGranted", {"employee_no", "name", "position", "deeds"}),
        ("PayrollAdjustmentIssued", {"employee_no", "name"}),
        ("AwardRevoked", {"employee_no", "name", "reason"}),
        ("PayrollAdjustmentReversed", {"employee_no", "name", "reason"}),
    ],
)
def test_a_winners_personal_values_are_sealed_and_the_payroll_facts_stay_readable(
    event_type: str, personal: set[str]
) -> None:
    (event,) = [e for e in granted_and_revoked() if e.event_type == event_type]
    found = marks(event)
    assert {str(m.path[0]) for m in found} == personal
    assert {m.employee_no for m in found} == {"E00000"}
    assert [str(m.path[0]) for m in found if m.identifying] == ["employee_no"]


def sealed_message(store: InMemoryKeyStore) -> tuple[PayrollLine, dict[str, object]]:
    """An award's PAYROLL message as the feed builds it from the stored (sealed) event."""
    issued = next(e for e in granted_and_revoked() if e.event_type == "PayrollAdjustmentIssued")
    event_id = uuid.uuid4()
    subjects = asyncio.run(store.subjects_for(["E00000"]))
    stored = seal_data(issued.to_data(), event_id, marks(issued), subjects)
    assert isinstance(issued, PayrollAdjustmentIssued)
    line = PayrollLine.of(7, issued)
    return line, line.sealed_message(event_id, stored)


def test_a_payroll_message_carries_the_stored_ciphertext_and_opens_to_the_line() -> None:
    store = InMemoryKeyStore()
    line, message = sealed_message(store)
    assert isinstance(message["employee_no"], dict)
    assert "E00000" not in str(message)
    assert line.name not in str(message)
    assert message["amount"] == "500.00"
    assert message["position"] == 7
    key = store.subjects["E00000"].key
    opened = open_payroll_line(message, lambda _: key)
    assert opened == line.model_copy(update={"event_id": opened.event_id})
    assert opened.amount == Decimal("500.00")


def test_a_payroll_message_of_a_destroyed_key_reads_erased() -> None:
    store = InMemoryKeyStore()
    line, message = sealed_message(store)
    subject = store.subjects["E00000"].subject_id
    opened = open_payroll_line(message, lambda _: None)
    assert opened.name == ERASED
    assert opened.employee_no == f"{ERASED}·{subject.hex[:8]}"
    assert (opened.amount, opened.period, opened.unit_code) == (
        line.amount,
        line.period,
        line.unit_code,
    )


def test_a_payroll_message_written_before_sealing_reads_as_it_is() -> None:
    line, _ = sealed_message(InMemoryKeyStore())
    clear = line.model_dump(mode="json", exclude={"event_id"})
    assert open_payroll_line(clear, lambda _: None) == line
