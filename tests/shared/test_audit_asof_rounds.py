"""`audit as-of --round R` reads R's events and those of no round (`shared.postgres.of_round`).

An event without `round_id` is read by every round's as-of: always correct, but a round's
own event that lost its `round_id` would make every round read all of them. So the event
types without one are listed here, as the README ("Audit", as-of) names them."""

from __future__ import annotations

from deploy.audit_asof import ROUND_STORES
from shared.contracts import nomination, review, rewards
from shared.events import EventRegistry

REGISTRIES: dict[str, EventRegistry] = {
    "nomination": nomination.registry,
    "review": review.registry,
    "rewards": rewards.registry,
}

# The directory, erasures, and payroll's acknowledgements (of an adjustment id: they are
# few, and which round they touch follows from that round's own award events).
OF_NO_ROUND = {
    "nomination": {
        "UnitRegistered",
        "UnitRenamed",
        "EmployeeRegistered",
        "EmployeeUpdated",
        "EmployeeTransferred",
        "EmployeeLeft",
        "EmployeeRejoined",
        "PersonalDataErased",
        "ExpiredPersonalDataShredded",
    },
    "review": set(),
    "rewards": {"PayrollAdjustmentAcknowledged"},
}


def test_the_stores_a_round_reads_are_the_ones_checked_here() -> None:
    assert set(ROUND_STORES) == set(REGISTRIES)


def test_every_event_of_the_round_stores_carries_its_round_but_the_ones_of_no_round() -> None:
    for service, registry in REGISTRIES.items():
        without = {m.event_type for m in registry.models if "round_id" not in m.model_fields}
        # A new event type of a round carries its `round_id`; one of no round is listed above.
        assert without == OF_NO_ROUND[service], service
