"""What an auditor checks: each store's hash chain, the FLOWERS stream against the stores,
every projection rebuilt from the log against the live tables, and anchors taken earlier.

Every event a relay has passed (position ≤ its checkpoint) must be in the stream exactly
once, and the stream must hold nothing the stores do not. Projections are rebuilt and
compared by shared/audit_projections.py; an anchor (each store's head position and hash,
kept outside the database) proves that nothing up to it changed since (see README, "Audit").

The gateway's access record of personal data (`personal_data_access`: who looked at whose
data, services/gateway/access_log.py) is hash-chained the same way; its chain is built and
checked here, so the gateway and `flowers audit verify` walk it with one piece of code.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import aclosing, asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from shared import audit_projections
from shared.audit_projections import ProjectionCheck
from shared.bus import EVENTS_STREAM
from shared.database_roles import AUDITOR, GATEWAY
from shared.events import GENESIS_HASH, canonical_json
from shared.eventstore import ChainReport
from shared.postgres import (
    DatabaseUnavailable,
    PostgresEventStore,
    create_pool,
    get_checkpoint,
    in_slices,
)
from shared.projection import ServiceProjections, declared
from shared.settings import Settings


@dataclass(frozen=True)
class Anchor:
    """A store's head as it was seen (and written down outside the database)."""

    position: int
    hash: str


@dataclass
class AnchorCheck:
    position: int
    hash: str
    ok: bool
    reason: str = ""


@dataclass
class ServiceAudit:
    service: str
    chain: ChainReport
    relayed_up_to: int = 0
    missing_from_stream: list[str] = field(default_factory=list)
    duplicated_in_stream: list[str] = field(default_factory=list)
    # Each duplicated event's stream sequences (a re-published copy: where it sits).
    duplicate_seqs: dict[str, list[int]] = field(default_factory=dict)
    projections: list[ProjectionCheck] = field(default_factory=list)
    anchor: AnchorCheck | None = None

    @property
    def ok(self) -> bool:
        return (
            self.chain.ok
            and not self.missing_from_stream
            and not self.duplicated_in_stream
            and all(p.ok for p in self.projections)
            and (self.anchor is None or self.anchor.ok)
        )


@dataclass(frozen=True)
class AccessLogCheck:
    """The access record's chain walked: how many records fit, and the first that does not
    (its position), or why it could not be read."""

    records: int
    first_break: int | None = None
    error: str = ""
    absent: bool = False  # no gateway database at all (a store-only setup): nothing to check

    @property
    def ok(self) -> bool:
        return self.first_break is None and not self.error


@dataclass
class AuditReport:
    services: list[ServiceAudit]
    stream_messages: int = 0
    unknown_in_stream: list[str] = field(default_factory=list)
    # Where each unknown event sits: its stream sequence(s) and subject.
    unknown_at: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    access_log: AccessLogCheck | None = None  # None: not asked for

    @property
    def ok(self) -> bool:
        return (
            all(s.ok for s in self.services)
            and not self.unknown_in_stream
            and (self.access_log is None or self.access_log.ok)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "access_log": asdict(self.access_log) | {"ok": self.access_log.ok}
            if self.access_log is not None
            else None,
            "stream_messages": self.stream_messages,
            "unknown_in_stream": self.unknown_in_stream[:100],
            "unknown_at": {
                i: [{"seq": seq, "subject": subject} for seq, subject in self.unknown_at[i]]
                for i in self.unknown_in_stream[:100]
            },
            "services": [
                {
                    "service": s.service,
                    "ok": s.ok,
                    "chain": {
                        "ok": s.chain.ok,
                        "checked": s.chain.checked,
                        "head_position": s.chain.head_position,
                        "head_hash": s.chain.head_hash,
                        "first_break": asdict(s.chain.first_break) if s.chain.first_break else None,
                    },
                    "relayed_up_to": s.relayed_up_to,
                    "missing_from_stream": s.missing_from_stream[:100],
                    "duplicated_in_stream": s.duplicated_in_stream[:100],
                    "duplicate_seqs": {
                        i: s.duplicate_seqs.get(i, []) for i in s.duplicated_in_stream[:100]
                    },
                    "projections": [p.to_json() for p in s.projections],
                    "anchor": asdict(s.anchor) if s.anchor else None,
                }
                for s in self.services
            ],
        }


Progress = Callable[[str, int, int], None]


@asynccontextmanager
async def at_once() -> AsyncIterator[asyncio.TaskGroup]:
    """A task group that fails as its first failing task did (not as an ExceptionGroup):
    callers see the error a sequential audit would have raised."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


class StreamIndex(Counter[str]):
    """Every event in FLOWERS by its id, counted, with where each copy sits.

    An event's id is the one its body (the envelope) carries; the Nats-Msg-Id header only
    stands in for a body that is no envelope. So a re-published copy of a known event (same
    body, a new or no Nats-Msg-Id) counts as a second copy of that event, not as a stranger.
    """

    def __init__(self) -> None:
        super().__init__()
        self.where: dict[str, list[tuple[int, str]]] = {}

    def add(self, event_id: str, seq: int, subject: str) -> None:
        self[event_id] += 1
        self.where.setdefault(event_id, []).append((seq, subject))

    def seqs(self, event_id: str) -> list[int]:
        return [seq for seq, _ in self.where.get(event_id, [])]


# The start of an envelope as the relay spells it (PostgreSQL's json_build_object, see
# PostgresEventStore.read_published): the top level's first keys, `event_id` the fourth.
_ENVELOPE_START = re.compile(
    rb'\{\s*"position"\s*:\s*\d+\s*,\s*"stream_id"\s*:\s*"(?:[^"\\]|\\.)*"\s*,'
    rb'\s*"version"\s*:\s*\d+\s*,\s*"event_id"\s*:\s*"([^"\\]+)"'
)
_EVENT_ID_KEY = b'"event_id"'


def message_event_id(data: bytes, msg_id: str, seq: int) -> str:
    """The event id a FLOWERS message stands for (see StreamIndex).

    A body spelled as the relay spells it, naming `event_id` once, whose id is the one in
    the Nats-Msg-Id header, is not parsed: the answer is that id whether or not the rest of
    the body parses (were it no JSON, the header would stand in). Any other body is parsed."""
    start = _ENVELOPE_START.match(data)
    if (
        start is not None
        and msg_id
        and start.group(1) == msg_id.encode()
        and data.count(_EVENT_ID_KEY) == 1
    ):
        return msg_id
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("event_id"), str) and body["event_id"]:
        return str(body["event_id"])
    return msg_id or f"(no event id, seq {seq})"


def _count_words(n: int) -> str:
    return {2: "twice", 3: "three times"}.get(n, f"{n} times")


def _seq_list(seqs: Sequence[int]) -> str:
    text = [str(s) for s in seqs]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]


async def stream_ids(js: JetStreamContext, progress: Progress | None = None) -> StreamIndex:
    """Every event in FLOWERS (an ordered replay in large chunks: fast, no server state)."""
    info = await js.stream_info(EVENTS_STREAM)
    total = info.state.messages
    counts = StreamIndex()
    if total == 0:
        return counts
    seen = 0
    async with aclosing(audit_projections.replay(js, ["flowers.evt.>"])) as chunks:
        async for messages in chunks:
            async for part in in_slices(messages):
                for m in part:
                    counts.add(message_event_id(m.data, m.event_id, m.seq), m.seq, m.subject)
            seen += len(messages)
            if progress:
                progress("stream", seen, max(total, seen))
    return counts


async def audit_service(
    service: str,
    pool: asyncpg.Pool,
    progress: Progress | None = None,
    *,
    js: JetStreamContext | None = None,
    spec: ServiceProjections | None = None,
    anchor: Anchor | None = None,
    relayed: int | None = None,
    chain_report: Awaitable[ChainReport] | None = None,
) -> tuple[ServiceAudit, list[asyncpg.Record]]:
    """A store's chain, its projections (with `spec`) and its anchor; and its events' ids and
    positions, for `check_stream`. `relayed`: the relay's checkpoint read *before* the stream
    was (see `verify`). The chain and the rebuilds run at once (each mostly waits on
    PostgreSQL). `chain_report`: the chain's report coming from elsewhere (`chain_of` in another
    process, see `verify`) instead of checked here."""
    store = PostgresEventStore(pool)

    async def chain_checked() -> ChainReport:
        report = await (chain_report if chain_report is not None else store.verify_chain())
        if progress:
            progress(f"chain {service}", report.checked, report.head_position)
        return report

    async with at_once() as group:
        chain_task = group.create_task(chain_checked())
        rows_task = group.create_task(
            pool.fetch("SELECT event_id::text AS id, position FROM events")
        )
        projections_task = (
            group.create_task(check_projections(pool, spec, js, progress))
            if spec is not None
            else None
        )
    chain = chain_task.result()
    if relayed is None:
        relayed = await get_checkpoint(pool, f"relay:{service}")
    audit = ServiceAudit(service, chain, relayed)
    if projections_task is not None:
        audit.projections = projections_task.result()
    if anchor is not None:
        audit.anchor = await check_anchor(pool, chain, anchor)
    return audit, rows_task.result()


def chain_of(url: str) -> ChainReport:
    """`verify_chain` of the store at `url`, in a process of its own (see `audit_service`):
    hashing a log is CPU work, and a verify has the rebuilds to do meanwhile."""

    async def checked() -> ChainReport:
        pool = await create_pool(url, max_size=1)
        try:
            with audit_projections.gc_paused():
                return await PostgresEventStore(pool).verify_chain()
        finally:
            await pool.close()

    return asyncio.run(checked())


def check_stream(
    audit: ServiceAudit, rows: Sequence[asyncpg.Record], in_stream: Counter[str]
) -> None:
    """Every event the relay has passed is in FLOWERS exactly once."""
    for row in rows:
        if row["position"] <= audit.relayed_up_to:
            count = in_stream.get(row["id"], 0)
            if count == 0:
                audit.missing_from_stream.append(row["id"])
            elif count > 1:
                audit.duplicated_in_stream.append(row["id"])
                if isinstance(in_stream, StreamIndex):
                    audit.duplicate_seqs[row["id"]] = in_stream.seqs(row["id"])


async def check_projections(
    pool: asyncpg.Pool,
    spec: ServiceProjections,
    js: JetStreamContext | None,
    progress: Progress | None = None,
) -> list[ProjectionCheck]:
    """Every projection rebuilt from the log and compared; a rebuild that fails is reported."""
    try:
        return await audit_projections.check(pool, spec, js, progress=progress)
    except Exception as exc:  # a tampered log may not even decode: that is a finding
        return [
            ProjectionCheck(
                spec.service, "*", error=f"the rebuild failed: {type(exc).__name__}: {exc}"
            )
        ]


async def check_anchor(pool: asyncpg.Pool, chain: ChainReport, anchor: Anchor) -> AnchorCheck:
    """The chain up to the anchored position must verify and end in the anchored hash."""
    if anchor.position == 0:
        return AnchorCheck(0, anchor.hash, anchor.hash == GENESIS_HASH, "an empty log")
    broken = chain.first_break
    if broken is not None and broken.position <= anchor.position:
        return AnchorCheck(
            anchor.position,
            anchor.hash,
            False,
            f"the chain breaks at position {broken.position}, before the anchor "
            f"at {anchor.position}",
        )
    stored = await pool.fetchval("SELECT hash FROM events WHERE position = $1", anchor.position)
    if stored is None:
        return AnchorCheck(
            anchor.position,
            anchor.hash,
            False,
            f"the log no longer reaches the anchored position {anchor.position}",
        )
    if stored != anchor.hash:
        return AnchorCheck(
            anchor.position,
            anchor.hash,
            False,
            f"position {anchor.position} now ends in hash {stored[:12]}…, anchored as "
            f"{anchor.hash[:12]}…: the log up to it was rewritten",
        )
    return AnchorCheck(anchor.position, anchor.hash, True, "unchanged since anchored")


async def verify(
    database_urls: Mapping[str, str],
    js: JetStreamContext,
    progress: Progress | None = None,
    services: Sequence[str] | None = None,
    *,
    projections: bool = True,
    specs: Mapping[str, ServiceProjections] | None = None,
    anchors: Mapping[str, Anchor] | None = None,
    access_log_url: str | None = None,
    chain_process: bool = False,
) -> AuditReport:
    """Chains, the stream, the projections (unless `projections=False`), the anchors given
    and, with `access_log_url` (the gateway's database), the access record's chain.

    `specs` defaults to each service's declaration (services/<name>/projections.py).
    `chain_process`: the chains are checked in a second process (an operator's command on
    a machine with a core to spare), one store after another, while this one rebuilds.
    The relays' checkpoints are read before the stream: every event up to them was in the
    stream by then, so an event relayed while the audit runs is never reported missing.
    """
    chosen = list(services or database_urls)
    pools: dict[str, asyncpg.Pool] = {}
    chains: dict[str, asyncio.Future[ChainReport]] = {}
    with contextlib.ExitStack() as stack, audit_projections.gc_paused():  # bulk reads
        if chain_process:
            executor = stack.enter_context(
                ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            )
            loop = asyncio.get_running_loop()
            chains = {s: loop.run_in_executor(executor, chain_of, database_urls[s]) for s in chosen}
        try:
            for service in chosen:
                pools[service] = await create_pool(database_urls[service], max_size=4)
            relayed = {s: await get_checkpoint(pools[s], f"relay:{s}") for s in chosen}
            # The stream alone (a replay floods the connection: a request made meanwhile could
            # time out behind it), then every service's chain and rebuilds at once.
            in_stream = await stream_ids(js, progress)
            async with at_once() as group:
                service_tasks = []
                for service in chosen:
                    spec = None
                    if projections:
                        spec = specs[service] if specs is not None else declared(service)
                    service_tasks.append(
                        group.create_task(
                            audit_service(
                                service,
                                pools[service],
                                progress,
                                js=js,
                                spec=spec,
                                anchor=(anchors or {}).get(service),
                                relayed=relayed[service],
                                chain_report=chains.get(service),
                            )
                        )
                    )
        finally:
            for pool in pools.values():
                await pool.close()
    audits: list[ServiceAudit] = []
    known: set[str] = set()
    for task in service_tasks:
        audit, rows = task.result()
        check_stream(audit, rows, in_stream)
        audits.append(audit)
        known.update(row["id"] for row in rows)
    unknown = sorted(i for i in in_stream if i not in known)
    return AuditReport(
        audits,
        sum(in_stream.values()),
        unknown,
        {i: in_stream.where.get(i, []) for i in unknown},
        access_log=await check_access_log(access_log_url) if access_log_url else None,
    )


# --- The access record of personal data (the gateway's) ----------------------------------------

ACCESS_TABLE = "personal_data_access"
ACCESS_COLUMNS = (
    "position, at, viewer_id, viewer_name, viewer_roles, client_ip, what, round_id, subjects, "
    "detail, prev_hash, chain_hash"
)


def access_hash(prev_hash: str, position: int, fields: Sequence[Any]) -> str:
    """SHA-256 over the previous record's hash, the position and what the record holds."""
    body = canonical_json([prev_hash, position, *fields])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def access_fields(
    at: datetime,
    viewer_id: str,
    viewer_name: str,
    viewer_roles: Sequence[str],
    address: str,
    what: str,
    round_id: str | None,
    subjects: Sequence[str],
    detail: Mapping[str, Any],
) -> list[Any]:
    """What a record's hash covers, in order."""
    # In UTC to the microsecond: what timestamptz gives back, whatever the session's zone.
    return [
        at.astimezone(UTC).isoformat(),
        viewer_id,
        viewer_name,
        list(viewer_roles),
        address,
        what,
        round_id,
        list(subjects),
        dict(detail),
    ]


def _detail(value: Any) -> dict[str, Any]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return loaded if isinstance(loaded, dict) else {}


async def verify_access_chain(pool: asyncpg.Pool) -> AccessLogCheck:
    """Walk the whole record in order (one snapshot): every position present, every hash
    recomputed; the first position that does not fit is named."""
    prev_hash, expected, count = GENESIS_HASH, 1, 0
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        async for row in conn.cursor(
            f"SELECT {ACCESS_COLUMNS} FROM {ACCESS_TABLE} ORDER BY position"
        ):
            fields = access_fields(
                row["at"],
                row["viewer_id"],
                row["viewer_name"],
                row["viewer_roles"],
                row["client_ip"],
                row["what"],
                row["round_id"],
                row["subjects"],
                _detail(row["detail"]),
            )
            if (
                row["position"] != expected
                or row["prev_hash"] != prev_hash
                or access_hash(prev_hash, row["position"], fields) != row["chain_hash"]
            ):
                return AccessLogCheck(count, expected)
            prev_hash, expected, count = row["chain_hash"], expected + 1, count + 1
    return AccessLogCheck(count)


async def check_access_log(url: str) -> AccessLogCheck:
    """The access record's chain, read at `url` (the gateway's database, as the auditor);
    a record that cannot be read is a finding, not a pass."""
    try:
        pool = await create_pool(url, max_size=1, attempts=1)
    except DatabaseUnavailable as exc:
        if isinstance(exc.__cause__, asyncpg.InvalidCatalogNameError):
            return AccessLogCheck(0, absent=True)
        return AccessLogCheck(0, error=f"cannot be read: {exc}"[:300])
    try:
        return await verify_access_chain(pool)
    except asyncpg.PostgresError as exc:
        return AccessLogCheck(0, error=f"cannot be read: {type(exc).__name__}: {exc}"[:300])
    finally:
        await pool.close()


def access_log_grants(settings: Settings) -> str:
    """What the gateway database's owner grants the auditor: its access record, to read and
    verify (`flowers audit verify`), and nothing else of the gateway's (accounts, sessions)."""

    def ident(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    role = settings.database_role(AUDITOR)
    literal = role.replace("'", "''")
    return f"""
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{literal}') THEN
    GRANT CONNECT ON DATABASE {ident(settings.database_name(GATEWAY))} TO {ident(role)};
    GRANT USAGE ON SCHEMA public TO {ident(role)};
    GRANT SELECT ON {ACCESS_TABLE} TO {ident(role)};
  END IF;
END $$;
"""


# --- Anchors ---------------------------------------------------------------------------------


async def take_anchors(database_urls: Mapping[str, str]) -> dict[str, Any]:
    """Each store's head position and hash, and when they were read."""
    stores: dict[str, Any] = {}
    for service, url in database_urls.items():
        pool = await create_pool(url, max_size=1)
        try:
            row = await pool.fetchrow("SELECT position, hash FROM event_log_head")
        finally:
            await pool.close()
        stores[service] = {
            "position": int(row["position"]) if row else 0,
            "hash": row["hash"] if row else GENESIS_HASH,
        }
    return {"anchored_at": datetime.now(UTC).isoformat(), "stores": stores}


def load_anchors(path: Path) -> dict[str, Anchor]:
    """An anchor file written by `flowers audit anchor` (ValueError if it is not one)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return {
            service: Anchor(int(a["position"]), str(a["hash"]))
            for service, a in body["stores"].items()
        }
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path} is not an anchor file: {exc}") from exc


def render(report: AuditReport) -> str:
    lines = []
    for s in report.services:
        chain = (
            f"chain intact ({s.chain.checked} events, head {s.chain.head_hash[:12]}…)"
            if s.chain.ok
            else f"chain BROKEN at position {s.chain.first_break.position}: "  # type: ignore[union-attr]
            f"{s.chain.first_break.reason}"  # type: ignore[union-attr]
        )
        stream = (
            "stream complete"
            if not (s.missing_from_stream or s.duplicated_in_stream)
            else f"{len(s.missing_from_stream)} missing from FLOWERS, "
            f"{len(s.duplicated_in_stream)} duplicated"
        )
        lines.append(f"{'OK  ' if s.ok else 'FAIL'} {s.service:<11} {chain}; {stream}")
        for event_id in s.duplicated_in_stream[:20]:
            seqs = s.duplicate_seqs.get(event_id, [])
            if seqs:
                lines.append(
                    f"     event {event_id} appears {_count_words(len(seqs))} in FLOWERS, "
                    f"at seq {_seq_list(seqs)}"
                )
        for p in s.projections:
            lines.extend(_render_projection(p))
        if s.anchor is not None:
            mark = "ok  " if s.anchor.ok else "FAIL"
            lines.append(f"     {mark} anchor at position {s.anchor.position}: {s.anchor.reason}")
    if report.unknown_in_stream:
        lines.append(f"FAIL FLOWERS holds {len(report.unknown_in_stream)} event(s) no store has")
        for event_id in report.unknown_in_stream[:20]:
            at = ", ".join(
                f"seq {seq} ({subject})" for seq, subject in report.unknown_at.get(event_id, [])
            )
            lines.append(f"     {event_id}: {at}" if at else f"     {event_id}")
    if report.access_log is not None:
        check = report.access_log
        if check.absent:
            lines.append("--   access log  not checked: there is no gateway database")
        elif check.error:
            lines.append(f"FAIL access log  {check.error}")
        elif check.first_break is not None:
            lines.append(
                f"FAIL access log  chain BROKEN at record {check.first_break}: a record was "
                f"changed, removed or reordered ({check.records} record(s) before it fit)"
            )
        else:
            lines.append(f"OK   access log  chain intact ({check.records} records)")
    lines.append(("verified: the log is intact" if report.ok else "NOT verified") + ".")
    return "\n".join(lines)


def _render_projection(p: ProjectionCheck) -> list[str]:
    if p.error:
        return [f"     FAIL projection {p.projection}: {p.error}"]
    if p.ok:
        rows = sum(t.live_rows for t in p.tables)
        return [
            f"     ok   projection {p.projection:<12} rebuilt from the log: "
            f"{len(p.tables)} table(s), {rows} row(s), no difference"
        ]
    lines = [f"     FAIL projection {p.projection}: differs from the log"]
    for t in p.tables:
        if not t.ok:
            lines.append(f"          {t.summary()}")
            lines.extend(f"            {example}" for example in t.examples)
    for consumer, ids in p.unmatched.items():
        if ids:
            lines.append(
                f"          {consumer} handled {len(ids)} event(s) FLOWERS does not hold "
                f"(first {ids[0]})"
            )
    return lines


def as_json(report: AuditReport) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2)
