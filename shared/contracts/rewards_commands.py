"""Commands to the rewards service: payroll acknowledges the adjustments it applied.

The gateway builds them, the service validates them (identity fields set from the verified
assertion).

Awards, adjustments and reversals are not commanded: they follow from review's
ResultPublished and WinnerRevoked. Field constraints check only the input's shape; the
rules (who may acknowledge, idempotency, conflicts) are the domain's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.contracts.rewards import Currency, PayrollPeriodId

PAYROLL = "payroll"  # Finance's payroll staff (and the payroll system's account)
ADMIN = "admin"
SYSTEM_ACTOR = "system:rewards"  # the actor of what rewards does on its own (awards, reversals)

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: Code
    roles: frozenset[str] = frozenset()


class AcknowledgeAdjustment(Command):
    """Payroll applied `adjustment_id` in `period` for `amount`.

    `period`, `amount` and `currency` default to what was issued ("applied as issued");
    they are required for an adjustment rewards never issued (it is recorded and reported
    by reconciliation). Repeating the same acknowledgement changes nothing.
    """

    adjustment_id: UUID
    period: PayrollPeriodId | None = Field(default=None, description="YYYY-MM; default: as issued")
    amount: Decimal | None = Field(
        default=None,
        description="Applied amount as a decimal string; default: as issued",
        allow_inf_nan=False,
        max_digits=14,
        decimal_places=2,
    )
    currency: Currency | None = None
    payroll_reference: Reference | None = Field(
        default=None, description="Payroll's own reference (batch, payslip run)"
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float(cls, value: object) -> object:
        if isinstance(value, float):
            raise ValueError("money must not be a float: send the amount as a string")
        return value
