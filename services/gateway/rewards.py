"""The gateway's side of the rewards service: payroll's adjustments, exports, acknowledgements,
reconciliation, the budget ledger, awards and the pacesetter standings.

Rewards' queries carry no actor: whoever can send them reads everything. So the gateway is
the only guard of the read side — the routes allow payroll (and the auditor, read-only) —
while acknowledgements are the contract's commands (shared/contracts/rewards_commands.py),
which the service checks again (`not_payroll`); the gateway never imports the service.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.gateway.accounts import AUDITOR, LEADER, OFFICE, PAYROLL
from services.gateway.i18n import EN
from services.gateway.problems import Problem
from services.gateway.state import Services
from shared.contracts.rewards_commands import AcknowledgeAdjustment
from shared.rounds import Cadence, InvalidRoundId, RoundPeriod
from shared.rpc import RemoteError

SERVICE = "rewards"

# Who may do what. Payroll acknowledges; the auditor reads what payroll reads.
PAYROLL_WRITERS = (PAYROLL,)
PAYROLL_READERS = (PAYROLL, AUDITOR)
AWARD_READERS = (PAYROLL, AUDITOR, OFFICE, LEADER)
STANDINGS_READERS = ("*",)  # the pacesetter standings are the union's public record

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
Period = Annotated[str, StringConstraints(pattern=PERIOD_PATTERN)]
Encoding = Literal["utf-8-sig", "gbk"]
ENCODINGS: tuple[Encoding, ...] = ("utf-8-sig", "gbk")
Reference = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]

# The CSV's media type per encoding: Excel opens both in Chinese (UTF-8 thanks to the BOM).
CSV_MEDIA_TYPES: dict[str, str] = {
    "utf-8-sig": "text/csv; charset=utf-8",
    "gbk": "text/csv; charset=gbk",
}


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcknowledgePeriodIn(In):
    payroll_reference: Reference | None = Field(
        default=None, description="Payroll's reference, recorded with each acknowledgement"
    )


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FileFormat = Literal["csv", "xlsx"]
FORMATS: tuple[FileFormat, ...] = ("csv", "xlsx")


@dataclass(frozen=True)
class ExportFile:
    filename: str  # 薪酬调整_2026-12_UTF-8.csv: the encoding in the name
    ascii_filename: str  # payroll-2026-12-UTF-8.csv, for clients without RFC 5987
    media_type: str
    content: bytes
    rows: int


def period_label(period: str, locale: str) -> str:
    """`2027-01` → 2027年1月 / January 2027."""
    try:
        month = RoundPeriod.parse(period)
    except InvalidRoundId:
        return period
    if month.cadence is not Cadence.MONTHLY:
        return period
    return month.label_en if locale == EN else month.label_zh


def money(amount: str | Decimal | None, currency: str, locale: str) -> str:
    if amount is None:
        return ""
    value = f"{Decimal(str(amount)):,.2f}"
    if currency == "CNY" and locale != EN:
        return f"{value} 元"
    return f"{value} {currency}"


# --- Queries (payroll and the auditor) --------------------------------------------------------


async def periods(svc: Services) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.query(SERVICE, "periods", {})
    return result


async def adjustments(
    svc: Services, *, after: int = 0, limit: int = 100, period: str | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = await svc.query(
        SERVICE, "adjustments", {"after": after, "limit": limit, "period": period}
    )
    return result


async def adjustment(svc: Services, adjustment_id: uuid.UUID) -> dict[str, Any]:
    result: dict[str, Any] = await svc.query(
        SERVICE, "adjustment", {"adjustment_id": str(adjustment_id)}
    )
    return result


async def export(
    svc: Services, period: str, encoding: Encoding, file_format: FileFormat = "csv"
) -> ExportFile:
    data: dict[str, Any] = await svc.query(
        SERVICE, "export", {"period": period, "encoding": encoding, "format": file_format}
    )
    return ExportFile(
        filename=str(data["filename"]),
        ascii_filename=str(data["ascii_filename"]),
        media_type=XLSX_MEDIA_TYPE if file_format == "xlsx" else CSV_MEDIA_TYPES[encoding],
        content=base64.b64decode(data["content_base64"]),
        rows=int(data["rows"]),
    )


async def reconcile(svc: Services, period: str) -> dict[str, Any]:
    result: dict[str, Any] = await svc.query(SERVICE, "reconcile", {"period": period})
    return result


async def ledger(svc: Services, year: int | None) -> dict[str, Any]:
    result: dict[str, Any] = await svc.query(SERVICE, "ledger", {"year": year})
    return result


async def awards(
    svc: Services,
    *,
    round_id: str | None = None,
    employee_no: str | None = None,
    status: str | None = None,
    year: int | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.query(
        SERVICE,
        "awards",
        {
            "round_id": round_id,
            "employee_no": employee_no,
            "status": status,
            "year": year,
            "limit": limit,
            "offset": offset,
        },
    )
    return result


async def standings(svc: Services, year: int, limit: int | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await svc.query(SERVICE, "standings", {"year": year, "limit": limit})
    return result


def unacknowledged(report: dict[str, Any]) -> list[str]:
    """The adjustment ids of a period payroll has not acknowledged (from its reconciliation)."""
    return [
        str(m["adjustment_id"])
        for m in report.get("mismatches", [])
        if m["kind"] == "missing_acknowledgement" and m.get("adjustment_id")
    ]


# --- Commands (payroll) -----------------------------------------------------------------------


async def acknowledge_period(
    svc: Services, period: str, payroll_reference: str | None = None
) -> dict[str, Any]:
    """Acknowledge, as issued, every adjustment of `period` payroll has not acknowledged yet.

    One command per adjustment, in turn (they share the period's stream); a refusal of one
    is reported and the others still go through. Repeating the call changes nothing.
    """
    pending = unacknowledged(await reconcile(svc, period))
    acknowledged: list[str] = []
    refused: list[dict[str, Any]] = []
    for adjustment_id in pending:
        try:
            reply = await svc.command(
                SERVICE,
                "acknowledge",
                AcknowledgeAdjustment,
                adjustment_id=adjustment_id,
                payroll_reference=payroll_reference or None,
            )
        except RemoteError as exc:
            refused.append(
                {
                    "adjustment_id": adjustment_id,
                    "code": exc.error.code,
                    "message_zh": exc.error.message_zh,
                    "message_en": exc.error.message_en,
                }
            )
            continue
        if reply.get("status") == "acknowledged":
            acknowledged.append(adjustment_id)
    return {
        "period": period,
        "pending": len(pending),
        "acknowledged": acknowledged,
        "refused": refused,
    }


def invalid_period(period: str) -> Problem:
    return Problem(
        422,
        "invalid_period",
        (
            f"工资期间“{period}”格式不正确，应为 YYYY-MM，如 2027-01。",
            f"“{period}” is not a payroll period (YYYY-MM, e.g. 2027-01).",
        ),
        period=period,
    )


def check_period(period: str) -> str:
    if not re.fullmatch(PERIOD_PATTERN, period):
        raise invalid_period(period)
    return period
