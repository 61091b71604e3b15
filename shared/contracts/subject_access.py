"""An employee's access request (PIPL art. 45): every service answers "everything you hold
about employee <no>" to the office, and to no one else.

The query goes to each service as `flowers.qry.<service>.employee_data`; the viewer and their
roles are set from the verified identity the gateway signs (shared/identity.py), never from the
request body. `user_ids` are the employee's own accounts in the gateway, so that what they did
themselves (nominations they submitted, objections they raised, notifications to their account)
is found too. Each service answers a mapping `kind -> list of rows`; the gateway puts one sheet
per kind in the file it hands to the employee.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.errors import Forbidden

QUERY = "employee_data"
SUBJECT_ACCESS_ROLES = frozenset({"office"})

EmployeeNo = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class EmployeeData(BaseModel):
    """Everything a service holds about one employee (for the office only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    employee_no: EmployeeNo
    user_ids: tuple[Annotated[str, StringConstraints(max_length=64)], ...] = Field(
        default=(), max_length=20
    )
    viewer: str = ""
    viewer_roles: frozenset[str] = frozenset()


class NotForYou(Forbidden):
    code = "subject_access_office_only"


def check_office(q: EmployeeData) -> None:
    """Only the office answers an employee's access request."""
    if not SUBJECT_ACCESS_ROLES & q.viewer_roles:
        raise NotForYou(
            "只有工会办公室可以导出职工的个人信息。",
            "Only the union office may export an employee's personal data.",
        )


Rows = list[dict[str, Any]]


def plain(value: Any) -> Any:
    """A database value as JSON carries it: times ISO 8601, ids and amounts as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def plain_rows(records: Iterable[Mapping[str, Any]]) -> Rows:
    return [{k: plain(v) for k, v in dict(r).items()} for r in records]
