"""Who looked at personal data: the gateway's append-only, hash-chained access record.

Every read of personal data through the auditor's event browser and every download that
carries personal data (payroll files, the summary sheet, publicity drafts and reports, an
employee's own data export) adds one row to `personal_data_access` (schema.sql): who (the
account, its name and roles), what (the page or file, the round or period, the employees
concerned, the streams and positions read), when, and from where (the client address, as
`auth.client_ip` resolves it behind trusted proxies).

The table is the gateway's own log, kept as the services keep theirs: rows are numbered
gap-free under an advisory lock held to commit, and `chain_hash` is SHA-256 over the previous
row's hash and the row (`canonical_json`, as `shared.events.chain_hash` hashes an event), so
an edited, removed or reordered row breaks the chain. The database refuses UPDATE, DELETE and
TRUNCATE by trigger; `verify` walks the chain. The gateway has no event store of its own (it
sends commands), and these rows are not facts any service consumes: a table of its own keeps
them off the FLOWERS stream, where every reader would see who looked at whom.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import asyncpg
from fastapi import Request

from services.gateway import keys
from services.gateway.accounts import ADMIN, AUDITOR, OFFICE
from services.gateway.auth import Principal, client_ip
from services.gateway.i18n import Text
from services.gateway.state import Services, gw_state
from shared.audit import (
    ACCESS_COLUMNS,
    AccessLogCheck,
    access_fields,
    access_hash,
    verify_access_chain,
)
from shared.clock import SHANGHAI
from shared.events import GENESIS_HASH, canonical_json
from shared.personal_data import SEALED_SHOWN

ACCESS_READERS = (OFFICE, ADMIN, AUDITOR)
APPEND_LOCK = zlib.crc32(b"flowers-personal-data-access")
MAX_SUBJECTS = 2000  # a payroll file of a large period still names everyone in it
PAGE_SIZE = 200
SEALED_PREFIX = "pii:"  # a data subject named by pseudonym: `pii:<pseudonym>`
MASKED_LABEL = SEALED_SHOWN.split("{", 1)[0]  # how the event browser shows a sealed value

# What was read, as people say it.
WHAT_LABELS: dict[str, Text] = {
    "audit_events": ("审计：浏览事件日志", "Audit: event log browsed"),
    "audit_event": ("审计：查看单条事件", "Audit: one event viewed"),
    "payroll_export": ("导出薪酬调整文件", "Payroll file exported"),
    "summary_sheet": ("下载推荐汇总表", "Summary sheet downloaded"),
    "publicity_draft": ("下载宣传材料", "Publicity material downloaded"),
    "publicity_video": ("下载宣传视频", "Publicity video downloaded"),
    "publicity_report": ("下载调研报告", "Round report downloaded"),
    "subject_export": (
        "导出职工个人信息（查阅复制请求）",
        "Employee's data exported (access request)",
    ),
    "audit_event_opened": (
        "审计：查看单条事件中的加密个人信息",
        "Audit: one event's sealed personal data opened",
    ),
    "privacy_desk": (
        "个人信息请求：查询职工信息",
        "Personal data requests: an employee looked up",
    ),
}

COLUMNS = ACCESS_COLUMNS


@dataclass(frozen=True)
class Access:
    """One read of personal data, as recorded."""

    position: int
    at: datetime
    viewer_id: str
    viewer_name: str
    viewer_roles: tuple[str, ...]
    client_ip: str
    what: str
    round_id: str | None
    subjects: tuple[str, ...]
    detail: dict[str, Any]
    prev_hash: str
    chain_hash: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Access:
        detail = row["detail"]
        return cls(
            position=row["position"],
            at=row["at"],
            viewer_id=row["viewer_id"],
            viewer_name=row["viewer_name"],
            viewer_roles=tuple(row["viewer_roles"]),
            client_ip=row["client_ip"],
            what=row["what"],
            round_id=row["round_id"],
            subjects=tuple(row["subjects"]),
            detail=detail if isinstance(detail, dict) else _loads(detail),
            prev_hash=row["prev_hash"],
            chain_hash=row["chain_hash"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "at": self.at.isoformat(),
            "viewer_id": self.viewer_id,
            "viewer_name": self.viewer_name,
            "viewer_roles": list(self.viewer_roles),
            "client_ip": self.client_ip,
            "what": self.what,
            "round_id": self.round_id,
            "subjects": list(self.subjects),
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "chain_hash": self.chain_hash,
        }


def _loads(text: str) -> dict[str, Any]:
    import json

    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def subjects_of(values: Iterable[Any]) -> list[str]:
    """The data subjects named anywhere in some JSON values, sorted: employee numbers in clear
    (`employee_no` keys), and sealed personal data (README "Privacy") by its subject's
    pseudonym, `pii:<pseudonym>` (what the event browser shows of it)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("$pii"), str):
                found.add(f"{SEALED_PREFIX}{value['$pii']}")
                return
            for key, inner in value.items():
                if key == "employee_no" and isinstance(inner, str) and inner:
                    # A sealed number the page shows masked is named by its pseudonym
                    # (the item's `sealed_subjects`), not by its label.
                    if not inner.startswith(MASKED_LABEL):
                        found.add(inner)
                else:
                    walk(inner)
        elif isinstance(value, list | tuple):
            for inner in value:
                walk(inner)

    for value in values:
        walk(value)
    return sorted(found)


@dataclass(frozen=True)
class Viewer:
    """Who looked, when it is not a signed-in user of the gateway (an operator's command:
    `cli:<login>`)."""

    user_id: str
    display_name: str
    roles: frozenset[str]


async def append(
    pool: asyncpg.Pool,
    *,
    at: datetime,
    viewer: Principal | Viewer,
    address: str,
    what: str,
    round_id: str | None = None,
    subjects: Iterable[str] = (),
    detail: Mapping[str, Any] | None = None,
) -> Access:
    """Add one record at the end of the chain."""
    names = sorted(set(subjects))[:MAX_SUBJECTS]
    data = dict(detail or {})
    roles = sorted(viewer.roles)
    name = viewer.user.display_name if isinstance(viewer, Principal) else viewer.display_name
    fields = access_fields(
        at,
        viewer.user_id,
        name,
        roles,
        address,
        what,
        round_id,
        names,
        data,
    )
    async with pool.acquire() as conn, conn.transaction():
        # One writer at a time, held to commit: positions are gap-free and in commit order,
        # and each row's prev_hash is the hash of the row before it.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
        last = await conn.fetchrow(
            "SELECT position, chain_hash FROM personal_data_access ORDER BY position DESC LIMIT 1"
        )
        position = (last["position"] if last else 0) + 1
        prev_hash = last["chain_hash"] if last else GENESIS_HASH
        digest = access_hash(prev_hash, position, fields)
        row = await conn.fetchrow(
            f"INSERT INTO personal_data_access ({COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12) "
            f"RETURNING {COLUMNS}",
            position,
            at,
            viewer.user_id,
            name,
            roles,
            address,
            what,
            round_id,
            names,
            data,
            prev_hash,
            digest,
        )
    return Access.from_row(row)


async def record(
    request: Request,
    viewer: Principal,
    what: str,
    *,
    round_id: str | None = None,
    subjects: Iterable[str] = (),
    **detail: Any,
) -> Access:
    """Record that `viewer` read personal data through this request (its path goes in too)."""
    state = gw_state(request)
    return await append(
        state.pool,
        at=state.clock.now(),
        viewer=viewer,
        address=client_ip(request, state.gateway),
        what=what,
        round_id=round_id,
        subjects=subjects,
        detail={"path": request.url.path, **{k: v for k, v in detail.items() if v is not None}},
    )


@dataclass(frozen=True)
class AccessFilter:
    employee_no: str | None = None
    # The pseudonym the employee's sealed data is named by (`pii:<pseudonym>`), found with it.
    pseudonym: str | None = None
    viewer: str | None = None  # an account's id, or the name it had when it looked
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None  # a position: the page after the one shown
    limit: int = PAGE_SIZE


async def search(pool: asyncpg.Pool, f: AccessFilter) -> list[Access]:
    """The records that pass the filter, newest first."""
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    named = [s for s in (f.employee_no, f.pseudonym) if s]
    if named:
        clauses.append(f"subjects && {arg(named)}::text[]")
    if f.viewer:
        clauses.append(f"(viewer_id = {arg(f.viewer)} OR viewer_name = ${len(args)})")
    if f.since:
        clauses.append(f"at >= {arg(f.since)}")
    if f.until:
        clauses.append(f"at <= {arg(f.until)}")
    if f.before:
        clauses.append(f"position < {arg(f.before)}")
    where = " AND ".join(clauses) or "true"
    rows = await pool.fetch(
        f"SELECT {COLUMNS} FROM personal_data_access WHERE {where} "
        f"ORDER BY position DESC LIMIT {arg(f.limit)}",
        *args,
    )
    return [Access.from_row(r) for r in rows]


ChainCheck = AccessLogCheck  # the records that fit, and the first position that does not


async def verify(pool: asyncpg.Pool) -> ChainCheck:
    """Walk the whole record in order: every position present, every hash recomputed (the
    same walk as `flowers audit verify`'s, shared.audit)."""
    return await verify_access_chain(pool)


async def pseudonym_subject(request: Request, employee_no: str | None) -> str | None:
    """`pii:<pseudonym>` of an employee number (None: no number, a pseudonym given, or no key)."""
    if not employee_no or employee_no.startswith(SEALED_PREFIX):
        return None
    found = await keys.pseudonym_of(gw_state(request).settings, employee_no)
    return f"{SEALED_PREFIX}{found}" if found is not None else None


async def record_events(
    request: Request,
    viewer: Principal,
    what: str,
    items: Sequence[Mapping[str, Any]],
    **detail: Any,
) -> Access:
    """Record a read of logged events (the browser's page, or one event): the employees their
    data names, their streams and their positions (`service:position`)."""
    rounds = {
        str(i["data"]["round_id"])
        for i in items
        if isinstance(i.get("data"), dict) and i["data"].get("round_id")
    }
    return await record(
        request,
        viewer,
        what,
        round_id=rounds.pop() if len(rounds) == 1 else None,
        subjects=[
            *subjects_of(i.get("data") for i in items),
            # Sealed values the page shows masked: named by their pseudonyms.
            *(f"{SEALED_PREFIX}{s}" for i in items for s in i.get("sealed_subjects", ())),
        ],
        streams=sorted({str(i["stream_id"]) for i in items}),
        positions=[f"{i['service']}:{i['position']}" for i in items],
        **detail,
    )


async def record_opening(
    request: Request,
    viewer: Principal,
    item: Mapping[str, Any],
    stored: Mapping[str, Any],
    erased: Iterable[uuid.UUID],
) -> Access:
    """Record that `viewer` opened one event's sealed values (`item`, its data as `stored`):
    its subjects named as sealed data is named, by pseudonym, never by the opened values."""
    round_id = stored.get("round_id")
    return await record(
        request,
        viewer,
        "audit_event_opened",
        round_id=round_id if isinstance(round_id, str) else None,
        subjects=subjects_of([stored]),
        streams=[item["stream_id"]],
        positions=[f"{item['service']}:{item['position']}"],
        event_id=item["event_id"],
        erased=[str(s) for s in erased] or None,
    )


async def payroll_subjects(svc: Services, period: str) -> list[str]:
    """The employees a payroll period's file names (its adjustments, page by page)."""
    found: set[str] = set()
    after = 0
    while True:
        page = await svc.query(
            "rewards", "adjustments", {"after": after, "period": period, "limit": 1000}
        )
        items = page["items"]
        found.update(str(i["employee_no"]) for i in items)
        if len(items) < 1000:
            return sorted(found)
        after = max(int(i["position"]) for i in items)


async def material_subjects(svc: Services, material_id: uuid.UUID) -> tuple[str | None, list[str]]:
    """A publicity material's round and the employees it names: the round's winners (from
    the honor roll) whose number, name or nomination its content carries."""
    material = await svc.query("publicity", "draft", {"material_id": str(material_id)})
    round_id = material.get("round_id")
    text = canonical_json(material)
    roll = await svc.query("publicity", "honor_roll", {"round_id": round_id})
    named = {
        str(p["employee_no"])
        for p in _people(roll)
        if any(str(p.get(k) or "\0") in text for k in ("employee_no", "name", "nomination_id"))
    }
    return round_id, sorted(named | set(subjects_of([material])))


def _people(value: Any) -> list[dict[str, Any]]:
    """The objects in some JSON that carry an employee number."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if isinstance(value.get("employee_no"), str):
            found.append(value)
        for inner in value.values():
            found.extend(_people(inner))
    elif isinstance(value, list | tuple):
        for inner in value:
            found.extend(_people(inner))
    return found


async def report_subjects(svc: Services, round_id: str | None) -> list[str]:
    """A round report names the round's winners (the honor roll's); a year's report too."""
    roll = await svc.query("publicity", "honor_roll", {"round_id": round_id})
    return subjects_of([roll])


async def access_filter(
    request: Request,
    employee_no: str,
    viewer: str,
    since: date | None,
    until: date | None,
    before: int | None = None,
) -> AccessFilter:
    """The filter in the page's and the API's terms: a viewer by user name, id or name; an
    employee by number, which also finds the records naming their sealed data by pseudonym
    (the key store maps the one to the other), or by the pseudonym itself (`pii:<pseudonym>`)."""
    who = viewer.strip()[:100]
    if who:
        user = await gw_state(request).accounts.by_username(who)
        if user is not None:
            who = str(user.user_id)
    number = employee_no.strip()[:64] or None
    return AccessFilter(
        employee_no=number,
        pseudonym=await pseudonym_subject(request, number),
        viewer=who or None,
        since=datetime.combine(since, time.min, SHANGHAI) if since else None,
        until=datetime.combine(until, time.max, SHANGHAI) if until else None,
        before=before,
    )
