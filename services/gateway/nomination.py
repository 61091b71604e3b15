"""The gateway's side of the nomination service: request shapes and the checks made here.

Pages and the API both call these functions, so a rule is checked in one place: the role is
checked by the route (`allow(...)`), the unit binding here, and every rule again by the
nomination service itself. The gateway never imports the service: the shapes below are its
own copy of what the service accepts (services/nomination/commands.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from services.gateway.accounts import ADMIN, AUDITOR, DISCIPLINE, LEADER, NOMINATOR, OFFICE
from services.gateway.auth import Principal
from services.gateway.problems import Problem, not_own_unit
from services.gateway.state import Services
from shared.contracts.common import Category

SERVICE = "nomination"

# Who reads what (the route checks the role; a nominator is further bound to their unit).
ROUND_READERS = ("*",)
NOMINATION_READERS = (OFFICE, AUDITOR, LEADER, DISCIPLINE, NOMINATOR)
ALL_UNITS_READERS = frozenset({OFFICE, AUDITOR, LEADER, DISCIPLINE})
DIRECTORY_READERS = (OFFICE, AUDITOR, ADMIN, NOMINATOR)
DIRECTORY_WRITERS = (ADMIN,)
ROUND_WRITERS = (OFFICE,)
NOMINATION_WRITERS = (NOMINATOR,)

Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResultIn(In):
    metric: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    value: Annotated[Decimal, Field(allow_inf_nan=False, max_digits=20)]
    unit: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""


class NominationContentIn(In):
    category: Category
    deeds: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)]
    results: Annotated[list[ResultIn], Field(max_length=20)] = []
    evidence_links: Annotated[list[Short], Field(max_length=10)] = []
    recommendation: Short


class SubmitNominationIn(NominationContentIn):
    round_id: Code
    employee_no: Code
    unit_code: Code | None = Field(
        default=None, description="The nominator's own unit (the default); any other is refused."
    )
    nomination_id: uuid.UUID | None = Field(
        default=None, description="Chosen by the client to make a retry harmless."
    )


class AmendNominationIn(NominationContentIn):
    pass


class WithdrawNominationIn(In):
    reason: Short


class OpenRoundIn(In):
    round_id: Code = Field(description="e.g. 2026-Q4 (quarterly) or 2026-11 (monthly)")
    deadline: AwareDatetime | None = Field(default=None, description="Default: the policy's")


class ExtendDeadlineIn(In):
    new_deadline: AwareDatetime
    unit_code: Code | None = Field(default=None, description="Only this unit; default: all")
    reason: Short


class DirectoryRowIn(In):
    unit_code: Code
    unit_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    employee_no: Code
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    position: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    active: bool = True


class ImportDirectoryIn(In):
    rows: Annotated[list[DirectoryRowIn], Field(max_length=100_000)]
    complete: bool = Field(default=False, description="The rows are the whole staff")


def unit_scope(principal: Principal, requested: str | None) -> str | None:
    """The unit a reader may see: a nominator only their own; the office and others any."""
    if principal.roles & ALL_UNITS_READERS:
        return requested
    own = principal.unit_code
    if requested is not None and requested != own:
        raise not_own_unit(own, requested)
    return own


def require_own_unit(principal: Principal, unit_code: str) -> None:
    if principal.roles & ALL_UNITS_READERS and NOMINATOR not in principal.roles:
        return
    if unit_code != principal.unit_code:
        raise not_own_unit(principal.unit_code, unit_code)


# --- Queries ----------------------------------------------------------------------------------


async def rounds(svc: Services, status: str | None = None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.query(SERVICE, "rounds", {"status": status})
    return result


async def nominations(
    svc: Services,
    principal: Principal,
    *,
    round_id: str | None = None,
    unit_code: str | None = None,
    category: str | None = None,
    status: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.query(
        SERVICE,
        "nominations",
        {
            "round_id": round_id,
            "unit_code": unit_scope(principal, unit_code),
            "category": category,
            "status": status,
            "limit": limit,
            "offset": offset,
        },
    )
    return result


async def nomination(
    svc: Services, principal: Principal, nomination_id: uuid.UUID
) -> dict[str, Any]:
    found: dict[str, Any] = await svc.query(
        SERVICE, "nomination", {"nomination_id": str(nomination_id)}
    )
    if not principal.roles & ALL_UNITS_READERS:
        require_own_unit(principal, found["unit_code"])
    return found


async def quota(
    svc: Services, principal: Principal, round_id: str, unit_code: str | None
) -> dict[str, Any]:
    unit = unit_scope(principal, unit_code)
    if unit is None:
        raise Problem(422, "unit_code_required", ("请指定单位。", "Name the unit (unit_code)."))
    result: dict[str, Any] = await svc.query(
        SERVICE, "quota", {"round_id": round_id, "unit_code": unit}
    )
    return result


async def units(svc: Services) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.query(SERVICE, "units", {})
    return result


async def employees(
    svc: Services, principal: Principal, unit_code: str | None, active_only: bool = True
) -> list[dict[str, Any]]:
    scoped = (
        unit_code if principal.has(OFFICE, AUDITOR, ADMIN) else unit_scope(principal, unit_code)
    )
    result: list[dict[str, Any]] = await svc.query(
        SERVICE, "employees", {"unit_code": scoped, "active_only": active_only}
    )
    return result


# --- Commands ---------------------------------------------------------------------------------


def _content(body: NominationContentIn) -> dict[str, Any]:
    return {
        "category": body.category.value,
        "deeds": body.deeds,
        "results": [r.model_dump(mode="json") for r in body.results],
        "evidence_links": list(body.evidence_links),
        "recommendation": body.recommendation,
    }


async def submit(svc: Services, principal: Principal, body: SubmitNominationIn) -> dict[str, Any]:
    unit = body.unit_code or principal.unit_code or ""
    if unit != principal.unit_code:
        raise not_own_unit(principal.unit_code, unit)
    nomination_id = body.nomination_id or uuid.uuid4()
    result: dict[str, Any] = await svc.command(
        SERVICE,
        "submit",
        {
            **_content(body),
            "nomination_id": str(nomination_id),
            "round_id": body.round_id,
            "unit_code": unit,
            "employee_no": body.employee_no,
        },
        unit=True,
    )
    return {**result, "nomination_id": str(nomination_id)}


async def amend(
    svc: Services, principal: Principal, nomination_id: uuid.UUID, body: AmendNominationIn
) -> dict[str, Any]:
    current = await nomination(svc, principal, nomination_id)
    require_own_unit(principal, current["unit_code"])
    result: dict[str, Any] = await svc.command(
        SERVICE,
        "amend",
        {**_content(body), "nomination_id": str(nomination_id), "round_id": current["round_id"]},
        unit=True,
    )
    return result


async def withdraw(
    svc: Services, principal: Principal, nomination_id: uuid.UUID, reason: str
) -> dict[str, Any]:
    current = await nomination(svc, principal, nomination_id)
    require_own_unit(principal, current["unit_code"])
    result: dict[str, Any] = await svc.command(
        SERVICE,
        "withdraw",
        {"nomination_id": str(nomination_id), "round_id": current["round_id"], "reason": reason},
        unit=True,
    )
    return result


async def open_round(svc: Services, body: OpenRoundIn) -> dict[str, Any]:
    result: dict[str, Any] = await svc.command(
        SERVICE,
        "open_round",
        {
            "round_id": body.round_id,
            "deadline": body.deadline.isoformat() if body.deadline else None,
        },
    )
    return result


async def extend_deadline(svc: Services, round_id: str, body: ExtendDeadlineIn) -> dict[str, Any]:
    result: dict[str, Any] = await svc.command(
        SERVICE,
        "extend_deadline",
        {
            "round_id": round_id,
            "unit_code": body.unit_code,
            "new_deadline": body.new_deadline.isoformat(),
            "reason": body.reason,
        },
    )
    return result


async def close_round(svc: Services, round_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await svc.command(SERVICE, "close_round", {"round_id": round_id})
    return result


async def import_directory(
    svc: Services, rows: list[dict[str, Any]], complete: bool
) -> dict[str, Any]:
    result: dict[str, Any] = await svc.command(
        SERVICE, "import_directory", {"rows": rows, "complete": complete}
    )
    return result


def effective_deadline(round_: dict[str, Any], unit_code: str | None) -> datetime:
    """The deadline a unit works to: its own extension if it has one, else the round's."""
    deadline = datetime.fromisoformat(round_["deadline"])
    own: str | None = (round_.get("unit_deadlines") or {}).get(unit_code or "")
    if own is not None and datetime.fromisoformat(own) > deadline:
        return datetime.fromisoformat(own)
    return deadline


def seconds_left_for(round_: dict[str, Any], unit_code: str | None) -> int:
    """The countdown for a unit, on the service's clock (its `seconds_left` is the round's)."""
    if round_.get("status") != "open":
        return 0
    extra = effective_deadline(round_, unit_code) - datetime.fromisoformat(round_["deadline"])
    return max(0, int(round_.get("seconds_left", 0) + extra.total_seconds()))
