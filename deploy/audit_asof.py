"""`flowers audit as-of TIME`: a round as it stood at a past moment, from the logs alone.

Each store's events recorded up to TIME are copied into a schema of their own in the
store's database (`audit_asof_<tag>`), every projection is rebuilt there from them (the
consumer-fed ones from the other stores' logs up to TIME), and the services' own query
code answers against that copy: the answer is what the queries would have returned then.
The copies are dropped afterwards.

With `--round R` only what R's answer depends on is read: the stores `round_state` asks
(ROUND_STORES), and of their logs (and the logs their feeds consume) only R's events and
those of no round (`shared.postgres.of_round`, on an index): one round of a year's log
costs about what that round's events cost, not the year's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.nomination.queries import ListNominations, ListRounds, NominationQueries
from services.review.handlers import policy_from_settings
from services.review.queries import (
    GetRanking,
    GetResult,
    ListCandidates,
    ListNotices,
    ReviewQueries,
)
from services.rewards.handlers import (
    pacesetter_policy_from_settings,
    rewards_policy_from_settings,
)
from services.rewards.queries import ListAwards, RewardsQueries
from shared.audit import at_once
from shared.audit_projections import build_as_of, merged_logs, position_at, quote
from shared.clock import SHANGHAI
from shared.postgres import STORE_SCHEMA, PostgresEventStore, create_pool
from shared.projection import declared
from shared.rounds import RoundPeriod
from shared.settings import Settings

# Events per chunk of another store's log: each copy holds about two per log it reads, and
# every copy is built at once, so a chunk is small (PostgreSQL serves 1,000-row pages fast).
AS_OF_CHUNK = 1_000
AUDITOR = "flowers-audit"  # the viewer the review's queries see (an overseer's view)
AUDITOR_ROLES = frozenset({"office"})
# The stores `round_state` queries: a copy of any other one would not change its answer.
ROUND_STORES = ("nomination", "review", "rewards")


async def _json_codecs(conn: asyncpg.Connection) -> None:
    for pg_type in ("json", "jsonb"):
        await conn.set_type_codec(
            pg_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


def _feeds_read(service: str, services: Sequence[str]) -> set[str]:
    """The other services (of `services`) whose events some projection of `service` consumes."""
    wanted: set[str] = set()
    for p in declared(service).projections:
        for subject in (s for feed in p.feeds for s in feed.subjects):
            source = subject.split(".")[2] if subject.count(".") >= 2 else "*"
            wanted |= set(services) if source in ("*", ">") else {source}
    return (wanted & set(services)) - {service}


class AsOf:
    """Copies of every store as of `at`, with pools that see only them (an async context).

    `round_id`: copies of ROUND_STORES only, holding that round's events and those of no
    round. `positions` are every store's log positions at `at` either way.
    """

    def __init__(
        self, database_urls: Mapping[str, str], at: datetime, round_id: str | None = None
    ) -> None:
        if at.tzinfo is None:
            raise ValueError("the moment needs a timezone (e.g. 2026-12-01T09:00:00+08:00)")
        self.urls = dict(database_urls)
        self.at = at
        self.round_id = round_id
        self.copied = [s for s in self.urls if round_id is None or s in ROUND_STORES]
        self.schema = f"audit_asof_{uuid.uuid4().hex[:12]}"
        self.positions: dict[str, int] = {}
        self.pools: dict[str, asyncpg.Pool] = {}
        self._admin: dict[str, asyncpg.Pool] = {}

    async def __aenter__(self) -> AsOf:
        try:
            # A connection for each copy, and one for each other copy's reading of this log.
            for service, url in self.urls.items():
                self._admin[service] = await create_pool(url, max_size=len(self.urls) + 1)
            # Every store's copy at once: each mostly waits on its own database. Each reads
            # the logs its feeds consume as it goes (merged in the order they were recorded,
            # a small chunk at a time): no log is held in memory whole.
            async with at_once() as group:
                for service in self.copied:
                    fed_by = {s: self._admin[s] for s in _feeds_read(service, list(self.urls))}
                    group.create_task(self._build(service, fed_by))
            for service, pool in self._admin.items():  # in the given order
                async with pool.acquire() as conn:
                    self.positions[service] = await position_at(conn, self.at)
            for service in self.copied:
                self.pools[service] = await asyncpg.create_pool(
                    self.urls[service],
                    min_size=1,
                    max_size=2,
                    init=_json_codecs,
                    server_settings={"search_path": self.schema},
                )
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _build(self, service: str, fed_by: Mapping[str, asyncpg.Pool]) -> None:
        async with self._admin[service].acquire() as conn:
            await build_as_of(
                conn,
                declared(service),
                self.schema,
                self.at,
                STORE_SCHEMA,
                merged_logs(fed_by, self.at, AS_OF_CHUNK, self.round_id),
                AS_OF_CHUNK,
                self.round_id,
            )

    async def __aexit__(self, *_: object) -> None:
        for pool in self.pools.values():
            await pool.close()
        for pool in self._admin.values():
            try:
                await pool.execute(f"DROP SCHEMA IF EXISTS {quote(self.schema)} CASCADE")
            finally:
                await pool.close()


async def round_ids(copy: AsOf) -> list[str]:
    rows = await NominationQueries(PostgresEventStore(copy.pools["nomination"]), 1).rounds(
        ListRounds(), copy.at
    )
    return [r["round_id"] for r in rows]


async def round_state(copy: AsOf, round_id: str, settings: Settings) -> dict[str, Any]:
    """Nominations, audit, scores (the ranking), notices, the result and the awards."""
    if copy.round_id not in (None, round_id):
        raise ValueError(f"this copy holds round {copy.round_id}'s events, not {round_id}'s")
    at = copy.at
    nominations_q = NominationQueries(
        PostgresEventStore(copy.pools["nomination"]), settings.quota_per_unit_category
    )
    rounds = [r for r in await nominations_q.rounds(ListRounds(), at) if r["round_id"] == round_id]
    nominations: list[dict[str, Any]] = []
    while True:
        page = await nominations_q.nominations(
            ListNominations(round_id=round_id, limit=1000, offset=len(nominations))
        )
        nominations.extend(page)
        if len(page) < 1000:
            break
    state: dict[str, Any] = {
        "round_id": round_id,
        "label_zh": RoundPeriod.parse(round_id).label_zh,
        "as_of": at.astimezone(SHANGHAI).isoformat(),
        "log_positions": dict(copy.positions),
        "round": rounds[0] if rounds else None,
        "nominations": nominations,
    }
    if "review" in copy.pools:
        review_q = ReviewQueries(copy.pools["review"], policy_from_settings(settings))
        state["candidates"] = await review_q.candidates(ListCandidates(round_id=round_id))
        state["ranking"] = await review_q.ranking(
            GetRanking(round_id=round_id, viewer=AUDITOR, viewer_roles=AUDITOR_ROLES)
        )
        state["notices"] = await review_q.notices(ListNotices(round_id=round_id), at)
        state["result"] = await review_q.result(GetResult(round_id=round_id))
    if "rewards" in copy.pools:
        rewards_q = RewardsQueries(
            copy.pools["rewards"],
            rewards_policy_from_settings(settings),
            pacesetter_policy_from_settings(settings),
        )
        state["awards"] = await rewards_q.awards(ListAwards(round_id=round_id, limit=1000))
    return state


async def as_of(
    database_urls: Mapping[str, str],
    at: datetime,
    settings: Settings,
    round_id: str | None = None,
) -> list[dict[str, Any]]:
    """Every round (or the one named: read alone, see AsOf) as the logs say it stood at
    `at`."""
    async with AsOf(database_urls, at, round_id or None) as copy:
        ids = [round_id] if round_id else await round_ids(copy)
        return [await round_state(copy, rid, settings) for rid in ids]


def parse_moment(text: str) -> datetime:
    """ISO 8601 with a timezone; anything else is refused with the reason."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone (add +08:00 or Z)")
    return moment


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def render(states: Sequence[dict[str, Any]]) -> str:
    """A terminal view of each round's state."""
    if not states:
        return "No round had been opened by then."
    out: list[str] = []
    for s in states:
        r = s["round"]
        head = f"{s['round_id']} {s['label_zh']} as of {s['as_of']}"
        if r:
            head += f": nominations {r['status']}, deadline {_when(r['deadline'])}"
        out += [head, f"  log positions: {s['log_positions']}"]
        audit = {c["nomination_id"]: c for c in s.get("candidates", [])}
        out.append(f"  nominations ({len(s['nominations'])}):")
        for n in s["nominations"]:
            c = audit.get(n["nomination_id"], {})
            out.append(
                f"    {n['category']:<15} {n['name']:<8} {n['unit_name']:<10} "
                f"{n['status']:<10} audit {c.get('audit', '-')}"
            )
        for category in s.get("ranking", []):
            entries = category["entries"]
            decided = " (decided)" if category["frozen"] else ""
            if not entries:
                continue
            out.append(f"  scores, {category['category']}{decided}:")
            for e in entries:
                nominee = e["nominee"] or {}
                out.append(
                    f"    #{e['rank'] if e['rank'] is not None else '-':<3} "
                    f"{e['score'] or '-'!s:<10} {nominee.get('name', ''):<8} "
                    f"{e['score_count']} score(s)"
                )
        for notice in s.get("notices", []):
            out.append(
                f"  notice {notice['notice_no']}: {_when(notice['starts_at'])} – "
                f"{_when(notice['ends_at'])}, {notice['status']}"
            )
        result = s.get("result") or {}
        if result.get("published"):
            out.append(f"  result published {_when(result['published_at'])}:")
            for w in result["winners"]:
                revoked = " (revoked)" if w["revoked"] else ""
                out.append(f"    {w['category']:<15} {w['name']:<8} {w['score']}{revoked}")
        elif "result" in s:
            out.append("  result not published")
        for a in s.get("awards", []):
            out.append(
                f"  award {a['category']:<15} {a['name']:<8} {a['amount']} {a['currency']} "
                f"payroll {a['period']} {a['status']}"
            )
    return "\n".join(out)
