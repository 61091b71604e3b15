"""The auditor's side: verify the logs, and browse each service's event log read-only.

Verification is `shared.audit.verify` run from the gateway: each store's hash chain, every
relayed event in the FLOWERS stream exactly once, nothing in FLOWERS the stores lack. The
projection rebuild is left to `flowers audit verify` (it runs each service's projection
code, which the gateway never imports).

Browsing reads the `events` table of each service's own database directly, through
`shared.audit_log.find_events` (the same search as `flowers audit events`): the services
answer no query about their raw log, and the auditor must see the log itself, not what a
service chooses to say about it. One event in full (with its hash-chain values) and each
store's head are read here. Every read goes through connections whose transactions are
read-only (`default_transaction_read_only`), with a statement timeout, as the auditor's
database role, which may read the service databases and write none of their tables
(shared/database_roles.py): nothing the gateway does here can change a store.

Sealed personal values (README "Privacy") are shown as 〔加密个人信息·<pseudonym>〕. An auditor
may open one event's values on request (`opened_event`, the page's 「查看」): the keys are read
from the key store as the auditor for that request only, and the route records the opening in
the access record (services/gateway/access_log.py) before the page is shown.

Who raised an objection is the office's to know (services/gateway/review.py
`sees_objectors`): for anyone else an ObjectionRaised is shown without `raised_by` and
`raiser_name` in its data and without its actor (the raiser too), and a search by actor, or by
text found only in those fields, does not find it. Its hashes are still shown: the chain must
stay checkable.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import nats.errors
from nats.js import JetStreamContext

from services.gateway import keys
from services.gateway.accounts import AUDITOR
from services.gateway.auth import Principal
from services.gateway.problems import Problem
from services.gateway.review import sees_objectors, without_objector
from shared import audit as shared_audit
from shared import audit_log, database_roles
from shared.personal_data import TamperedValue, masked, open_data, subject_ids
from shared.settings import SERVICES, Settings

AUDIT_READERS = (AUDITOR,)
PAGE_SIZE = 50
MAX_PAGE = 500
STATEMENT_TIMEOUT_MS = 10_000

UNAVAILABLE = (
    "无法读取事件日志：{service} 的数据库暂时无法连接。",
    "The event log cannot be read: {service}'s database is unreachable.",
)


@dataclass(frozen=True)
class EventQuery:
    """What the auditor asks for: `shared.audit_log`'s filter, in the page's own terms."""

    services: tuple[str, ...] = SERVICES  # one store, or all of them
    type: str | None = None
    stream: str | None = None  # exact, or a prefix ending in `*` (`review-2026-Q4*`)
    actor: str | None = None
    correlation_id: str | None = None  # followed across stores, with what it caused
    text: str | None = None  # anywhere in the event's data (a nomination id, a name, a number)
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # inclusive
    limit: int = PAGE_SIZE


def unknown_service(service: str) -> Problem:
    return Problem(
        422,
        "unknown_service",
        (f"没有名为“{service}”的服务。", f"There is no service “{service}”."),
        services=list(SERVICES),
    )


def check_service(service: str) -> str:
    if service not in SERVICES:
        raise unknown_service(service)
    return service


READ_ONLY = {
    "default_transaction_read_only": "on",
    "statement_timeout": str(STATEMENT_TIMEOUT_MS),
    "application_name": "gateway-audit",
}


def _unreachable(service: str, exc: BaseException) -> Problem:
    return Problem(
        503,
        "audit_unavailable",
        (UNAVAILABLE[0].format(service=service), UNAVAILABLE[1].format(service=service)),
        service=service,
        error=type(exc).__name__,
    )


async def _json_codecs(conn: asyncpg.Connection) -> None:
    for pg_type in ("json", "jsonb"):
        await conn.set_type_codec(
            pg_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _connect(settings: Settings, service: str) -> asyncpg.Connection:
    try:
        conn: asyncpg.Connection = await asyncpg.connect(
            settings.database_url_for(service, login=database_roles.AUDITOR),
            timeout=5,
            server_settings=READ_ONLY,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise _unreachable(service, exc) from exc
    return conn


async def _pool(settings: Settings, service: str) -> asyncpg.Pool:
    """A one-connection read-only pool (what `shared.audit_log.find_events` reads through)."""
    try:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            settings.database_url_for(service, login=database_roles.AUDITOR),
            min_size=1,
            max_size=1,
            timeout=5,
            init=_json_codecs,
            server_settings=READ_ONLY,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise _unreachable(service, exc) from exc
    return pool


OBJECTION_RAISED = ("review", "ObjectionRaised")


def _names_objector(item: dict[str, Any]) -> bool:
    return (item["service"], item["type"]) == OBJECTION_RAISED


def _without_objector(item: dict[str, Any]) -> dict[str, Any]:
    if not _names_objector(item):
        return item
    shown = {**item, "data": without_objector(item["data"]), "actor": ""}
    if isinstance(item.get("metadata"), dict):
        shown["metadata"] = {k: v for k, v in item["metadata"].items() if k != "actor"}
    return shown


def for_viewer(item: dict[str, Any], viewer: Principal) -> dict[str, Any]:
    """An event as `viewer` may see it: an ObjectionRaised keeps who raised it (data and
    actor) for the office only."""
    return item if sees_objectors(viewer) else _without_objector(item)


def _found_by_hidden_fields(item: dict[str, Any], q: EventQuery) -> bool:
    """Whether the query may have found this event only through who raised an objection."""
    if not _names_objector(item):
        return False
    if q.actor:
        return True  # its actor is the raiser: finding it by actor would name them
    if q.text:
        # The store matched the text in the whole data (jsonb as text: the same separators).
        return q.text not in json.dumps(without_objector(item["data"]), ensure_ascii=False)
    return False


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _event(row: asyncpg.Record, service: str) -> dict[str, Any]:
    metadata = _json(row["metadata"]) or {}
    return {
        "service": service,
        "position": row["position"],
        "stream_id": row["stream_id"],
        "version": row["version"],
        "event_id": str(row["event_id"]),
        "type": row["type"],
        "schema_version": row["schema_version"],
        # Personal values stay sealed here: opened only on the auditor's explicit request,
        # and each opening is logged (`opened_event`).
        "data": masked(_json(row["data"])),
        "sealed_subjects": sorted(str(s) for s in subject_ids(_json(row["data"]))),
        "metadata": metadata,
        "actor": metadata.get("actor"),
        "correlation_id": metadata.get("correlation_id"),
        "recorded_at": row["recorded_at"].isoformat(),
        "prev_hash": row["prev_hash"],
        "hash": row["hash"],
    }


async def browse(settings: Settings, q: EventQuery, viewer: Principal) -> dict[str, Any]:
    """A page of the logs, oldest first (as `flowers audit events`), filtered; across stores
    the events are ordered by when they were recorded. `next_since` continues the page: it
    is the instant of the last event *not* shown, so nothing sharing an instant is skipped.
    What `viewer` may not see is taken out (`for_viewer`) after the page is cut, so a page
    may hold fewer than `limit` events and still have a next one."""
    for service in q.services:
        check_service(service)
    limit = max(1, min(q.limit, MAX_PAGE))
    wanted = audit_log.EventFilter(
        stream=q.stream or None,
        types=(q.type,) if q.type else (),
        actor=q.actor or None,
        correlation=q.correlation_id or None,
        nomination=q.text or None,
        since=q.since,
        until=q.until,
        limit=limit,
    )
    pools: dict[str, asyncpg.Pool] = {}
    try:
        for service in q.services:
            pools[service] = await _pool(settings, service)
        found = await audit_log.find_events(pools, wanted)
        types = sorted(
            {
                r["type"]
                for pool in pools.values()
                for r in await pool.fetch("SELECT DISTINCT type FROM events")
            }
        )
    finally:
        for pool in pools.values():
            await pool.close()
    next_since: str | None = None
    if len(found) == limit:
        last = found[-1].recorded_at
        shown = [e for e in found if e.recorded_at < last]
        if shown:
            found, next_since = shown, last.isoformat()
        else:  # a whole page at one instant: move past it
            next_since = (last + timedelta(microseconds=1)).isoformat()
    items = [e.to_json() for e in found]
    if not sees_objectors(viewer):
        items = [_without_objector(i) for i in items if not _found_by_hidden_fields(i, q)]
    return {
        "services": list(q.services),
        "items": items,
        "next_since": next_since,
        "types": types,
    }


async def _row(settings: Settings, service: str, position: int) -> asyncpg.Record:
    row = None
    if 0 < position < 2**63:  # positions are PostgreSQL bigints: others name no event
        conn = await _connect(settings, check_service(service))
        try:
            row = await conn.fetchrow("SELECT * FROM events WHERE position = $1", position)
        finally:
            await conn.close()
    if row is None:
        raise Problem(
            404,
            "event_not_found",
            (
                f"{service} 的日志中没有位置 {position}。",
                f"{service}'s log has no position {position}.",
            ),
            service=service,
            position=position,
        )
    return row


async def event(
    settings: Settings, service: str, position: int, viewer: Principal
) -> dict[str, Any]:
    """One event, its personal values sealed (shown by pseudonym)."""
    return for_viewer(_event(await _row(settings, service, position), service), viewer)


@dataclass(frozen=True)
class Opened:
    """One event with its sealed values opened for the auditor who asked."""

    item: dict[str, Any]
    stored: dict[str, Any]  # its data as stored (sealed), as the viewer may see it
    subjects: tuple[uuid.UUID, ...]  # every data subject whose sealed values it holds
    erased: tuple[uuid.UUID, ...]  # those whose key is gone: their values read 已删除


async def opened_event(
    settings: Settings, service: str, position: int, viewer: Principal
) -> Opened:
    """One event with its sealed personal values opened with their subjects' keys (read from
    the key store as the auditor, for this request only); an erased subject's read 已删除.
    The caller records the opening in the access record."""
    row = await _row(settings, service, position)
    raw = _json(row["data"])
    wanted = sorted(subject_ids(raw))
    found: dict[uuid.UUID, bytes | None] = {}
    if wanted:
        async with keys.key_store(settings) as store:
            found = await store.keys(wanted)
    try:
        data = open_data(raw, row["event_id"], lambda s: found.get(uuid.UUID(str(s))))
    except TamperedValue as exc:
        raise Problem(
            409,
            "sealed_value_tampered",
            (
                "该事件中的加密个人信息无法解密：密文已被改动或移动。",
                "A sealed value of this event does not open: it was changed or moved.",
            ),
            service=service,
            position=position,
        ) from exc
    shown = _event(row, service)
    return Opened(
        for_viewer({**shown, "data": data}, viewer),
        for_viewer({**shown, "data": raw}, viewer)["data"],
        tuple(wanted),
        tuple(s for s in wanted if found.get(s) is None),
    )


async def heads(settings: Settings) -> list[dict[str, Any]]:
    """Each store's head (position, hash, when its last event was recorded); None if down."""
    out: list[dict[str, Any]] = []
    for service in SERVICES:
        try:
            conn = await _connect(settings, service)
        except Problem:
            out.append({"service": service, "reachable": False})
            continue
        try:
            head = await conn.fetchrow("SELECT position, hash FROM event_log_head")
            last = await conn.fetchval("SELECT max(recorded_at) FROM events")
        finally:
            await conn.close()
        out.append(
            {
                "service": service,
                "reachable": True,
                "position": head["position"] if head else 0,
                "hash": head["hash"] if head else None,
                "last_recorded_at": last.isoformat() if last else None,
            }
        )
    return out


async def verify(settings: Settings, js: JetStreamContext) -> dict[str, Any]:
    """Chains and stream, every service, and the access record's chain (see the module
    docstring for what is left out)."""
    urls = {s: settings.database_url_for(s, login=database_roles.AUDITOR) for s in SERVICES}
    # The access record of personal data too, read as the auditor like the stores.
    access = settings.database_url_for(database_roles.GATEWAY, login=database_roles.AUDITOR)
    try:
        report = await shared_audit.verify(urls, js, projections=False, access_log_url=access)
    except (OSError, TimeoutError, asyncpg.PostgresError, nats.errors.Error) as exc:
        raise Problem(
            503,
            "audit_unavailable",
            (
                "无法完成校验：有服务的数据库或消息流暂时无法访问，请稍后再试。",
                "Verification could not run: a store or the stream is unreachable; try again.",
            ),
            error=f"{type(exc).__name__}: {exc}"[:300],
        ) from exc
    return report.to_json()
