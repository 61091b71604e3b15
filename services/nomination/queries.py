"""The read side: rounds, nominations, history, quota use, the directory."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from shared import scrub
from shared.contracts.common import Category
from shared.contracts.nomination import PRIVACY_STREAM, round_stream_id
from shared.contracts.subject_access import EmployeeData, Rows, check_office, plain_rows
from shared.errors import NotFound
from shared.personal_data import load_keys, opened
from shared.postgres import PostgresEventStore


class Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ListRounds(Query):
    status: str | None = None


class ListNominations(Query):
    round_id: str | None = None
    unit_code: str | None = None
    category: Category | None = None
    status: str | None = None
    limit: int = Field(default=200, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=2**62)


class GetNomination(Query):
    nomination_id: uuid.UUID


class QuotaUse(Query):
    round_id: str
    unit_code: str


class ListUnits(Query):
    pass


class ListConsents(Query):
    round_id: str = Field(max_length=16)


class ListEmployees(Query):
    unit_code: str | None = None
    active_only: bool = True


class NamedEvidenceFiles(Query):
    """The stored evidence files the nominations still name (the gateway's sweep asks)."""


# Every stored evidence file (`/files/<sha256>/<name>`, the gateway's content-addressed store)
# a nomination of the projection names: withdrawn and rejected ones included; a shredded
# nominee's links read 已删除 once the projection is scrubbed, so their files drop out.
_NAMED_FILES = r"""
SELECT DISTINCT substring(link FROM '^/files/([0-9a-f]{64})/') AS digest
FROM nominations n, jsonb_array_elements_text(n.evidence_links) AS link
WHERE link ~ '^/files/[0-9a-f]{64}/'
ORDER BY 1
"""
# The privacy facts of the log this service's own scrub has not handled yet (its consumer's
# inbox): until then the projection may still name a shredded nominee's files.
_SCRUBS_PENDING = """
SELECT count(*) FROM events e
WHERE e.stream_id = $1 AND e.type = ANY($2::text[])
  AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.consumer = $3 AND i.event_id = e.event_id)
"""


def _jsonable(row: asyncpg.Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(row).items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, uuid.UUID):
            out[key] = str(value)
        else:
            out[key] = value
    return out


class NominationQueries:
    def __init__(self, store: PostgresEventStore, quota: int) -> None:
        self.store = store
        self.quota = quota

    @property
    def pool(self) -> asyncpg.Pool:
        return self.store.pool

    async def rounds(self, q: ListRounds, now: datetime) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT r.*, EXISTS (SELECT FROM audits_started a WHERE a.round_id = r.round_id) "
            "AS audit_started FROM rounds r WHERE ($1::text IS NULL OR status = $1) "
            "ORDER BY round_id DESC",
            q.status,
        )
        result = []
        for row in rows:
            item = _jsonable(row)
            deadline: datetime = row["deadline"]
            item["seconds_left"] = (
                max(0, int((deadline - now).total_seconds())) if row["status"] == "open" else 0
            )
            # A closed round's units let in again: each one's seconds left, on this clock.
            item["reopened_seconds_left"] = {
                unit: max(0, int((datetime.fromisoformat(until) - now).total_seconds()))
                for unit, until in (row["reopened"] or {}).items()
            }
            result.append(item)
        return result

    async def nominations(self, q: ListNominations) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            """
            SELECT * FROM nominations
            WHERE ($1::text IS NULL OR round_id = $1) AND ($2::text IS NULL OR unit_code = $2)
              AND ($3::text IS NULL OR category = $3) AND ($4::text IS NULL OR status = $4)
            ORDER BY submitted_at, nomination_id LIMIT $5 OFFSET $6
            """,
            q.round_id,
            q.unit_code,
            q.category.value if q.category else None,
            q.status,
            q.limit,
            q.offset,
        )
        return [_jsonable(r) for r in rows]

    async def nomination(self, q: GetNomination) -> dict[str, Any]:
        row = await self.pool.fetchrow(
            "SELECT * FROM nominations WHERE nomination_id = $1", q.nomination_id
        )
        if row is None:
            raise NotFound(
                "找不到该推荐。", "No such nomination.", nomination_id=str(q.nomination_id)
            )
        history = await self.pool.fetch(
            """
            SELECT position, event_id, type, metadata, recorded_at, data FROM events
            WHERE stream_id = $1 AND data->>'nomination_id' = $2 ORDER BY position
            """,
            round_stream_id(row["round_id"]),
            str(q.nomination_id),
        )
        await load_keys([h["data"] for h in history])  # personal values shown opened
        return {
            **_jsonable(row),
            "history": [
                {
                    "position": h["position"],
                    "type": h["type"],
                    "actor": h["metadata"].get("actor"),
                    "occurred_at": h["metadata"].get("occurred_at"),
                    "data": opened(h["data"], h["event_id"]),
                }
                for h in history
            ],
        }

    async def quota_use(self, q: QuotaUse) -> dict[str, Any]:
        rows = await self.pool.fetch(
            "SELECT category, count(*) AS used FROM nominations WHERE round_id = $1 "
            "AND unit_code = $2 AND status <> 'withdrawn' "
            "AND nomination_id NOT IN (SELECT nomination_id FROM rejections) GROUP BY category",
            q.round_id,
            q.unit_code,
        )
        used = {r["category"]: r["used"] for r in rows}
        return {
            "round_id": q.round_id,
            "unit_code": q.unit_code,
            "categories": [
                {
                    "category": c.value,
                    "label_zh": c.label_zh,
                    "used": used.get(c.value, 0),
                    "quota": self.quota,
                }
                for c in Category
            ],
        }

    async def consents(self, q: ListConsents) -> dict[str, Any]:
        """Each nomination of a round: its consent to public display (None: not recorded).
        Nothing else: the public notice asks this anonymously."""
        rows = await self.pool.fetch(
            "SELECT nomination_id, consent FROM nominations WHERE round_id = $1", q.round_id
        )
        return {str(r["nomination_id"]): r["consent"] for r in rows}

    async def units(self, _: ListUnits) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT u.unit_code, u.name, count(e.*) FILTER (WHERE e.active) AS active_employees "
            "FROM units u LEFT JOIN employees e USING (unit_code) "
            "GROUP BY u.unit_code, u.name ORDER BY u.unit_code"
        )
        return [_jsonable(r) for r in rows]

    async def employees(self, q: ListEmployees) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM employees WHERE ($1::text IS NULL OR unit_code = $1) "
            "AND (NOT $2 OR active) ORDER BY unit_code, employee_no",
            q.unit_code,
            q.active_only,
        )
        return [_jsonable(r) for r in rows]


async def named_evidence_files(pool: asyncpg.Pool, _: NamedEvidenceFiles) -> dict[str, Any]:
    """The digests every nomination of the projection names, how many nominations it holds
    (none: the gateway deletes nothing, as from an empty or lost database) and how many
    privacy facts are not yet scrubbed (the gateway asks again once they are)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        digests = [r["digest"] for r in await conn.fetch(_NAMED_FILES)]
        nominations = await conn.fetchval("SELECT count(*) FROM nominations")
        pending = await conn.fetchval(
            _SCRUBS_PENDING,
            PRIVACY_STREAM,
            [f.event_type for f in scrub.FACTS],
            scrub.consumer_name("nomination"),
        )
    return {"digests": digests, "nominations": nominations, "scrubs_pending": pending}


async def employee_data(pool: asyncpg.Pool, q: EmployeeData) -> dict[str, Rows]:
    """The directory entry and the nominations of one employee (PIPL access request). As a
    nominator they are shown which nominations they submitted, not whom: the nominee's data is
    the nominee's."""
    check_office(q)
    directory = await pool.fetch(
        "SELECT e.employee_no, e.name, e.unit_code, u.name AS unit_name, e.position, e.active "
        "FROM employees e LEFT JOIN units u USING (unit_code) WHERE e.employee_no = $1",
        q.employee_no,
    )
    nominated = await pool.fetch(
        "SELECT nomination_id, round_id, category, employee_no, name, unit_name, position, "
        "deeds, results, recommendation, status, submitted_at, updated_at, withdraw_reason "
        "FROM nominations WHERE employee_no = $1 ORDER BY submitted_at",
        q.employee_no,
    )
    submitted = await pool.fetch(
        "SELECT nomination_id, round_id, category, status, submitted_at FROM nominations "
        "WHERE submitted_by = ANY($1::text[]) ORDER BY submitted_at",
        list(q.user_ids),
    )
    return {
        "directory": plain_rows(directory),
        "nominations": plain_rows(nominated),
        "nominations_submitted": plain_rows(submitted),
    }
