"""What an auditor checks: each store's hash chain, and the FLOWERS stream against the stores.

Every event a relay has passed (position ≤ its checkpoint) must be in the stream exactly
once, and the stream must hold nothing the stores do not. Projections rebuilt from the log
are compared in a later step (see README, "Audit").
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg
from nats.js import JetStreamContext, api

from shared.bus import EVENTS_STREAM
from shared.eventstore import ChainReport
from shared.postgres import PostgresEventStore, create_pool, get_checkpoint


@dataclass
class ServiceAudit:
    service: str
    chain: ChainReport
    relayed_up_to: int = 0
    missing_from_stream: list[str] = field(default_factory=list)
    duplicated_in_stream: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.missing_from_stream and not self.duplicated_in_stream


@dataclass
class AuditReport:
    services: list[ServiceAudit]
    stream_messages: int = 0
    unknown_in_stream: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.services) and not self.unknown_in_stream

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stream_messages": self.stream_messages,
            "unknown_in_stream": self.unknown_in_stream[:100],
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
                }
                for s in self.services
            ],
        }


Progress = Callable[[str, int, int], None]


async def stream_ids(js: JetStreamContext, progress: Progress | None = None) -> Counter[str]:
    """Every Nats-Msg-Id in FLOWERS, counted (an ordered replay: fast, no server state)."""
    info = await js.stream_info(EVENTS_STREAM)
    total = info.state.messages
    counts: Counter[str] = Counter()
    if total == 0:
        return counts
    sub = await js.subscribe(
        "flowers.evt.>",
        stream=EVENTS_STREAM,
        ordered_consumer=True,
        config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL),
    )
    try:
        seen = 0
        while seen < total:
            message = await sub.next_msg(timeout=10)
            seen += 1
            counts[(message.headers or {}).get("Nats-Msg-Id", "")] += 1
            if progress and seen % 1000 == 0:
                progress("stream", seen, total)
        if progress:
            progress("stream", seen, total)
    finally:
        await sub.unsubscribe()
    return counts


async def audit_service(
    service: str, pool: asyncpg.Pool, in_stream: Counter[str], progress: Progress | None = None
) -> tuple[ServiceAudit, set[str]]:
    store = PostgresEventStore(pool)
    chain = await store.verify_chain()
    if progress:
        progress(f"chain {service}", chain.checked, chain.head_position)
    relayed = await get_checkpoint(pool, f"relay:{service}")
    audit = ServiceAudit(service, chain, relayed)
    ids: set[str] = set()
    for row in await pool.fetch("SELECT event_id::text AS id, position FROM events"):
        ids.add(row["id"])
        if row["position"] <= relayed:
            count = in_stream.get(row["id"], 0)
            if count == 0:
                audit.missing_from_stream.append(row["id"])
            elif count > 1:
                audit.duplicated_in_stream.append(row["id"])
    return audit, ids


async def verify(
    database_urls: dict[str, str],
    js: JetStreamContext,
    progress: Progress | None = None,
    services: Sequence[str] | None = None,
) -> AuditReport:
    in_stream = await stream_ids(js, progress)
    audits: list[ServiceAudit] = []
    known: set[str] = set()
    for service in services or list(database_urls):
        pool = await create_pool(database_urls[service], max_size=2)
        try:
            audit, ids = await audit_service(service, pool, in_stream, progress)
        finally:
            await pool.close()
        audits.append(audit)
        known |= ids
    unknown = sorted(i for i in in_stream if i not in known)
    return AuditReport(audits, sum(in_stream.values()), unknown)


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
    if report.unknown_in_stream:
        lines.append(f"FAIL FLOWERS holds {len(report.unknown_in_stream)} event(s) no store has")
    lines.append(("verified: the log is intact" if report.ok else "NOT verified") + ".")
    return "\n".join(lines)


def as_json(report: AuditReport) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2)
