"""The read side: payroll's pull feed, exports, reconciliation, the budget ledger, standings."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from services.rewards.domain import PacesetterPolicy, RewardsPolicy
from services.rewards.errors import RewardsError
from services.rewards.payroll import (
    NotEncodable,
    PayrollPeriod,
    export_ascii_filename,
    export_filename,
    render_csv,
    render_xlsx,
)
from services.rewards.reconciliation import AckFact, AdjustmentFact, AwardFact, reconcile
from services.rewards.standings import Flower, pacesetter_standings
from shared.contracts.common import Category
from shared.contracts.rewards import PayrollLine, PayrollPeriodId
from shared.contracts.subject_access import EmployeeData, Rows, check_office, plain_rows
from shared.errors import NotFound
from shared.rounds import RoundId


class Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ListAdjustments(Query):
    """Payroll's pull feed: adjustments after a position, in log order."""

    after: int = Field(default=0, ge=0, le=2**62)  # a log position (PostgreSQL bigint)
    limit: int = Field(default=100, ge=1, le=1000)
    period: PayrollPeriodId | None = None


class GetAdjustment(Query):
    adjustment_id: uuid.UUID


class ListAwards(Query):
    round_id: RoundId | None = None
    employee_no: str | None = None
    status: Literal["granted", "revoked"] | None = None
    year: int | None = Field(default=None, ge=1000, le=9999)
    limit: int = Field(default=200, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=2**62)


class ExportPeriod(Query):
    period: PayrollPeriodId
    encoding: Literal["utf-8-sig", "gbk"] = "utf-8-sig"  # of a CSV
    format: Literal["csv", "xlsx"] = "csv"


class ReconcilePeriod(Query):
    period: PayrollPeriodId


class ListPeriods(Query):
    pass


class FeedStatus(Query):
    pass


class BudgetLedger(Query):
    """`year` filters by the payroll period's year (when the money is paid)."""

    year: int | None = Field(default=None, ge=1000, le=9999)


class PacesetterStandings(Query):
    """`year` is the rounds' year (2026-Q4 counts for 2026, even when paid in 2027)."""

    year: int = Field(ge=1000, le=9999)
    limit: int | None = Field(default=None, ge=1, le=10_000)


class NotExportable(RewardsError):
    code = "not_exportable"
    status = 422
    message_zh_template = (
        "{encoding} 编码无法表示第 {row} 行“{column}”中的字符 {char}，请改用 utf-8-sig"
    )
    message_en_template = (
        "{encoding} cannot encode {char} in row {row}, column {column}: use utf-8-sig"
    )


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def line_from_row(row: asyncpg.Record) -> PayrollLine:
    category = Category(row["category"])
    return PayrollLine(
        position=row["position"],
        adjustment_id=row["adjustment_id"],
        kind=row["kind"],
        award_id=row["award_id"],
        reverses_adjustment_id=row["reverses_adjustment_id"],
        round_id=row["round_id"],
        category=category,
        category_zh=category.label_zh,
        employee_no=row["employee_no"],
        name=row["name"],
        unit_code=row["unit_code"],
        unit_name=row["unit_name"],
        amount=row["amount"],
        currency=row["currency"],
        period=row["period"],
        reason_code=row["reason_code"],
        description_zh=row["description_zh"],
        tax_treatment=row["tax_treatment"],
        issued_at=row["issued_at"],
    )


def _line_dict(line: PayrollLine) -> dict[str, Any]:
    """A pull-feed item: the line in clear (read models), without the PAYROLL message's
    `event_id`, which only names the event its sealed values belong to."""
    return line.model_dump(mode="json", exclude={"event_id"})


class RewardsQueries:
    def __init__(
        self, pool: asyncpg.Pool, policy: RewardsPolicy, pacesetters: PacesetterPolicy
    ) -> None:
        self.pool = pool
        self.policy = policy
        self.pacesetters = pacesetters

    # --- Payroll -------------------------------------------------------------------------------

    async def adjustments(self, q: ListAdjustments) -> dict[str, Any]:
        rows = await self.pool.fetch(
            "SELECT * FROM adjustments WHERE position > $1 "
            "AND ($2::text IS NULL OR period = $2) ORDER BY position LIMIT $3",
            q.after,
            q.period,
            q.limit,
        )
        latest = await self.pool.fetchval("SELECT coalesce(max(position), 0) FROM adjustments")
        items = [_line_dict(line_from_row(r)) for r in rows]
        return {
            "items": items,
            "next_after": rows[-1]["position"] if rows else q.after,
            "latest_position": latest,
        }

    async def adjustment(self, q: GetAdjustment) -> dict[str, Any]:
        row = await self.pool.fetchrow(
            "SELECT * FROM adjustments WHERE adjustment_id = $1", q.adjustment_id
        )
        if row is None:
            raise NotFound(
                "找不到该工资调整单。",
                "No such payroll adjustment.",
                adjustment_id=str(q.adjustment_id),
            )
        ack = await self.pool.fetchrow(
            "SELECT * FROM acknowledgements WHERE adjustment_id = $1", q.adjustment_id
        )
        return {
            **_line_dict(line_from_row(row)),
            "acknowledgement": None
            if ack is None
            else {
                "period": ack["period"],
                "amount": _money(ack["amount"]),
                "currency": ack["currency"],
                "payroll_reference": ack["payroll_reference"],
                "acknowledged_by": ack["acknowledged_by"],
                "acknowledged_at": _iso(ack["acknowledged_at"]),
            },
        }

    async def period_lines(self, period: str) -> list[PayrollLine]:
        rows = await self.pool.fetch(
            "SELECT * FROM adjustments WHERE period = $1 ORDER BY position", period
        )
        return [line_from_row(r) for r in rows]

    async def export(self, q: ExportPeriod) -> dict[str, Any]:
        lines = await self.period_lines(q.period)
        label = PayrollPeriod.parse(q.period).label_zh
        try:
            if q.format == "xlsx":
                content = render_xlsx(lines, title=label)
            else:
                content = render_csv(lines, q.encoding)
        except NotEncodable as exc:
            raise NotExportable(
                encoding=exc.encoding, row=exc.row, column=exc.column, char=exc.char
            ) from None
        totals: dict[str, Decimal] = {}
        for line in lines:
            totals[line.currency] = totals.get(line.currency, Decimal("0.00")) + line.amount
        return {
            "period": q.period,
            "label_zh": label,
            "format": q.format,
            "encoding": q.encoding if q.format == "csv" else None,
            "filename": export_filename(q.period, q.format, q.encoding),
            "ascii_filename": export_ascii_filename(q.period, q.format, q.encoding),
            "rows": len(lines),
            "totals": {currency: _money(total) for currency, total in sorted(totals.items())},
            "content_base64": base64.b64encode(content).decode("ascii"),
        }

    async def reconcile(self, q: ReconcilePeriod) -> dict[str, Any]:
        period = q.period
        adjustments = {
            r["adjustment_id"]: r
            for r in await self.pool.fetch("SELECT * FROM adjustments WHERE period = $1", period)
        }
        acks = await self.pool.fetch(
            "SELECT * FROM acknowledgements WHERE period = $1 OR adjustment_id = ANY($2::uuid[])",
            period,
            list(adjustments),
        )
        awards = await self.pool.fetch(
            "SELECT * FROM awards WHERE period = $1 OR reversal_period = $1 "
            "OR award_id = ANY($2::uuid[])",
            period,
            list({r["award_id"] for r in adjustments.values()}),
        )
        related = {a["adjustment_id"] for a in acks} | {a["adjustment_id"] for a in awards}
        related |= {a["reversal_adjustment_id"] for a in awards if a["reversal_adjustment_id"]}
        for row in await self.pool.fetch(
            "SELECT * FROM adjustments WHERE adjustment_id = ANY($1::uuid[])",
            list(related - set(adjustments)),
        ):
            adjustments[row["adjustment_id"]] = row
        report = reconcile(
            period,
            [
                AwardFact(
                    award_id=a["award_id"],
                    employee_no=a["employee_no"],
                    name=a["name"],
                    amount=a["amount"],
                    currency=a["currency"],
                    adjustment_id=a["adjustment_id"],
                    period=a["period"],
                    revoked=a["status"] == "revoked",
                    reversal_adjustment_id=a["reversal_adjustment_id"],
                    reversal_period=a["reversal_period"],
                )
                for a in awards
            ],
            [
                AdjustmentFact(
                    adjustment_id=r["adjustment_id"],
                    kind=r["kind"],
                    award_id=r["award_id"],
                    employee_no=r["employee_no"],
                    name=r["name"],
                    amount=r["amount"],
                    currency=r["currency"],
                    period=r["period"],
                )
                for r in adjustments.values()
            ],
            [
                AckFact(
                    adjustment_id=a["adjustment_id"],
                    period=a["period"],
                    amount=a["amount"],
                    currency=a["currency"],
                    payroll_reference=a["payroll_reference"],
                )
                for a in acks
            ],
            currency=self.policy.currency,
        )
        closed = await self.pool.fetchrow(
            "SELECT closed_at FROM payroll_periods WHERE period = $1", period
        )
        return {
            **report.to_dict(),
            "status": "closed" if closed else "open",
            "closed_at": _iso(closed["closed_at"]) if closed else None,
        }

    async def periods(self, _: ListPeriods) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            """
            WITH adj AS (
                SELECT period, count(*) AS adjustments, sum(amount) AS net_amount
                FROM adjustments GROUP BY period
            ), ack AS (
                SELECT period, count(*) AS acknowledged FROM acknowledgements GROUP BY period
            )
            SELECT p.period, adj.adjustments, adj.net_amount, ack.acknowledged, pp.closed_at
            FROM (SELECT period FROM adj UNION SELECT period FROM ack) p
            LEFT JOIN adj USING (period) LEFT JOIN ack USING (period)
            LEFT JOIN payroll_periods pp USING (period)
            ORDER BY p.period DESC
            """
        )
        return [
            {
                "period": r["period"],
                "label_zh": PayrollPeriod.parse(r["period"]).label_zh,
                "status": "closed" if r["closed_at"] else "open",
                "closed_at": _iso(r["closed_at"]),
                "adjustments": r["adjustments"] or 0,
                "net_amount": _money(r["net_amount"] or Decimal(0)),
                "acknowledged": r["acknowledged"] or 0,
            }
            for r in rows
        ]

    # --- Awards, ledger, standings -------------------------------------------------------------

    async def awards(self, q: ListAwards) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            """
            SELECT * FROM awards
            WHERE ($1::text IS NULL OR round_id = $1) AND ($2::text IS NULL OR employee_no = $2)
              AND ($3::text IS NULL OR status = $3) AND ($4::int IS NULL OR round_year = $4)
            ORDER BY round_id, category, employee_no LIMIT $5 OFFSET $6
            """,
            q.round_id,
            q.employee_no,
            q.status,
            q.year,
            q.limit,
            q.offset,
        )
        return [
            {
                "award_id": str(r["award_id"]),
                "round_id": r["round_id"],
                "category": r["category"],
                "label_zh": Category(r["category"]).label_zh,
                "nomination_id": str(r["nomination_id"]),
                "employee_no": r["employee_no"],
                "name": r["name"],
                "unit_code": r["unit_code"],
                "unit_name": r["unit_name"],
                "position": r["position"],
                "amount": _money(r["amount"]),
                "currency": r["currency"],
                "adjustment_id": str(r["adjustment_id"]),
                "period": r["period"],
                "status": r["status"],
                "published_at": _iso(r["published_at"]),
                "granted_at": _iso(r["granted_at"]),
                "revoked_at": _iso(r["revoked_at"]),
                "revoke_reason": r["revoke_reason"],
                "reversal_adjustment_id": str(r["reversal_adjustment_id"])
                if r["reversal_adjustment_id"]
                else None,
                "reversal_period": r["reversal_period"],
            }
            for r in rows
        ]

    async def ledger(self, q: BudgetLedger) -> dict[str, Any]:
        """Totals per round, payroll period, payroll year and unit (net of reversals)."""
        sums = """
            count(*) FILTER (WHERE kind = 'award') AS awards,
            count(*) FILTER (WHERE kind = 'reversal') AS reversals,
            coalesce(sum(amount) FILTER (WHERE kind = 'award'), 0) AS issued,
            coalesce(sum(amount) FILTER (WHERE kind = 'reversal'), 0) AS reversed,
            coalesce(sum(amount), 0) AS net
        """
        where = "WHERE ($1::int IS NULL OR left(period, 4)::int = $1)"

        async def grouped(key_sql: str, order: str) -> list[dict[str, Any]]:
            rows = await self.pool.fetch(
                f"SELECT {key_sql}, currency, {sums} FROM adjustments {where} "
                f"GROUP BY {order}, currency ORDER BY {order}, currency",
                q.year,
            )
            return [
                {
                    **{k: v for k, v in dict(r).items() if k not in _SUM_KEYS},
                    "awards": r["awards"],
                    "reversals": r["reversals"],
                    "issued": _money(r["issued"]),
                    "reversed": _money(r["reversed"]),
                    "net": _money(r["net"]),
                }
                for r in rows
            ]

        return {
            "year": q.year,
            "by_round": await grouped("round_id", "round_id"),
            "by_period": await grouped("period", "period"),
            "by_year": await grouped("left(period, 4)::int AS year", "year"),
            "by_unit": await grouped(
                "unit_code, (array_agg(unit_name ORDER BY position DESC))[1] AS unit_name",
                "unit_code",
            ),
            "total": await grouped("'all' AS scope", "scope"),
        }

    async def standings(self, q: PacesetterStandings) -> dict[str, Any]:
        rows = await self.pool.fetch(
            "SELECT * FROM awards WHERE round_year = $1 ORDER BY round_id, category", q.year
        )
        flowers = [
            Flower(
                award_id=r["award_id"],
                employee_no=r["employee_no"],
                name=r["name"],
                unit_code=r["unit_code"],
                unit_name=r["unit_name"],
                round_id=r["round_id"],
                category=Category(r["category"]),
                deeds=r["deeds"],
                score=r["score"],
                revoked=r["status"] == "revoked",
            )
            for r in rows
        ]
        entries = pacesetter_standings(flowers, self.pacesetters)
        if q.limit is not None:
            # Keep everyone tied with the last place shown.
            cut = entries[q.limit - 1].rank if len(entries) >= q.limit else None
            entries = [e for e in entries if cut is None or e.rank <= cut]
        return {
            "year": q.year,
            "weights": {c.value: str(self.pacesetters.weight(c)) for c in Category},
            "tie_breaks": list(self.pacesetters.tie_breaks),
            "entries": [e.to_dict() for e in entries],
        }


_SUM_KEYS = {"awards", "reversals", "issued", "reversed", "net"}


async def employee_data(pool: asyncpg.Pool, q: EmployeeData) -> dict[str, Rows]:
    """One employee's awards, payroll lines and payroll's acknowledgements of them."""
    check_office(q)
    awards = await pool.fetch(
        "SELECT award_id, round_id, category, nomination_id, employee_no, name, unit_name, "
        "position, score, amount, currency, period, published_at, granted_at, status, "
        "revoked_at, revoke_reason, reversal_period FROM awards WHERE employee_no = $1 "
        "ORDER BY granted_at",
        q.employee_no,
    )
    adjustments = await pool.fetch(
        "SELECT a.adjustment_id, a.kind, a.round_id, a.category, a.employee_no, a.name, "
        "a.unit_name, a.amount, a.currency, a.period, a.reason_code, a.description_zh, "
        "a.tax_treatment, a.issued_at, k.payroll_reference, k.acknowledged_at "
        "FROM adjustments a LEFT JOIN acknowledgements k USING (adjustment_id) "
        "WHERE a.employee_no = $1 ORDER BY a.position",
        q.employee_no,
    )
    return {"awards": plain_rows(awards), "payroll": plain_rows(adjustments)}
