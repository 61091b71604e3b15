"""The gateway's side of the nomination service: who reads what, and the read queries.

The role is checked by the route (`allow(...)`); what a nominator may read is bound to their
unit here. Commands are the contract's (`shared/contracts/nomination_commands.py`), built by
the routes and checked by the service (a nominator's unit, once, in its domain).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import Request

from services.gateway import erasure
from services.gateway import evidence as ev
from services.gateway.accounts import ADMIN, AUDITOR, DISCIPLINE, LEADER, NOMINATOR, OFFICE
from services.gateway.auth import Principal
from services.gateway.problems import Problem, not_own_unit
from services.gateway.state import Services, gw_state, services
from shared.contracts.nomination_commands import ErasePersonalData

SERVICE = "nomination"

# Who reads what (the route checks the role; a nominator is further bound to their unit).
ROUND_READERS = ("*",)
NOMINATION_READERS = (OFFICE, AUDITOR, LEADER, DISCIPLINE, NOMINATOR)
ALL_UNITS_READERS = frozenset({OFFICE, AUDITOR, LEADER, DISCIPLINE})
DIRECTORY_READERS = (OFFICE, AUDITOR, ADMIN, NOMINATOR)
DIRECTORY_WRITERS = (ADMIN,)
ROUND_WRITERS = (OFFICE,)
NOMINATION_WRITERS = (NOMINATOR,)


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


async def rounds_open_to(svc: Services, unit_code: str | None) -> list[dict[str, Any]]:
    """The rounds a unit may nominate in: the open ones, then a closed one the office let
    this unit into again while its window lasts."""
    every = await rounds(svc)
    return [r for r in every if r["status"] == "open"] + [
        r for r in every if r["status"] == "closed" and reopened_for(r, unit_code)
    ]


def reopened_for(round_: dict[str, Any], unit_code: str | None) -> bool:
    """Whether the office let this unit into the closed round again and its window lasts."""
    left = (round_.get("reopened_seconds_left") or {}).get(unit_code or "")
    return left is not None and left > 0


def effective_deadline(round_: dict[str, Any], unit_code: str | None) -> datetime:
    """The deadline a unit works to: its own extension if it has one, else the round's; in
    a closed round the office let it into again, that window's deadline."""
    late: str | None = (round_.get("reopened") or {}).get(unit_code or "")
    if round_.get("status") == "closed" and late is not None:
        return datetime.fromisoformat(late)
    deadline = datetime.fromisoformat(round_["deadline"])
    own: str | None = (round_.get("unit_deadlines") or {}).get(unit_code or "")
    if own is not None and datetime.fromisoformat(own) > deadline:
        return datetime.fromisoformat(own)
    return deadline


def seconds_left_for(round_: dict[str, Any], unit_code: str | None) -> int:
    """The countdown for a unit, on the service's clock (its `seconds_left` is the round's)."""
    if round_.get("status") == "closed":
        return int((round_.get("reopened_seconds_left") or {}).get(unit_code or "", 0))
    if round_.get("status") != "open":
        return 0
    extra = effective_deadline(round_, unit_code) - datetime.fromisoformat(round_["deadline"])
    return max(0, int(round_.get("seconds_left", 0) + extra.total_seconds()))


async def erase_employee(
    request: Request, principal: Principal, employee_no: str, **fields: Any
) -> Any:
    """The office's erasure, from the page or the API: the command, then, once it is recorded,
    the gateway's drafts naming the employee (a refused erasure leaves them), the evidence
    files only their nominations named and their accounts' names (services/gateway/erasure.py)."""
    reply = await services(request, principal).command(
        SERVICE, "erase_personal_data", ErasePersonalData, employee_no=employee_no, **fields
    )
    gw = gw_state(request)
    await erasure.forget_employee(
        gw.pool,
        ev.store_for(gw.settings, gw.gateway),
        employee_no,
        uuid.UUID(str(reply["subject_id"])),
        reply.get("evidence_files", []),
    )
    return reply
