"""Evidence files go once nothing names them (docs/privacy.md "Outside the projections").

An evidence file lives in the gateway's content-addressed store (services/gateway/evidence.py)
and is named by nominations (`/files/<sha256>/<name>` among their links) and by nominators'
drafts. Once a nominee's key is shredded (an erasure, however it was sent, or a retention run)
and the nomination service has scrubbed its projection, their links read 已删除: their files
are named by nothing and are deleted here.

The sweep, one rule for every case:
- it runs when the gateway starts, when it hears either privacy fact (PersonalDataErased,
  ExpiredPersonalDataShredded) on NATS, and every `evidence_sweep_interval_s`;
- it asks the nomination service (`flowers.qry.nomination.evidence_files`) for the digests
  its projection still names; while that service has privacy facts not yet scrubbed it asks
  again every `evidence_sweep_retry_s`;
- it deletes every file recorded in `evidence_uploads` (only evidence: the store may be
  shared with publicity's photos) that no nomination and no draft names and that was last
  sent or kept longer than `evidence_sweep_grace_s` ago (`files_to_delete`): a file is
  uploaded before the nomination naming it is submitted, so a fresh one must stay;
- each file is deleted holding its `evidence_uploads` row, its age and the drafts checked
  again under that lock: an upload of the same bytes meanwhile (which records the row
  first) either made it fresh, or waits and puts the bytes back;
- nothing is deleted when the nomination service does not answer, or holds no nomination at
  all (an empty or lost database must not read as "nothing is named").

Each deleted file is logged by digest (`evidence_file_deleted`) and counted
(`flowers_gateway_evidence_files_deleted_total`). Winners' evidence stays: their
nominations are kept. Several gateway instances may sweep at once: the row locks make each
file go once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.gateway.metrics import EVIDENCE_FILES_DELETED
from shared.clock import Clock
from shared.contracts.nomination import ExpiredPersonalDataShredded, PersonalDataErased
from shared.filestore import DIGEST, FileStore, FileStoreError
from shared.identity import Identity
from shared.logging import get_logger
from shared.outage import is_outage
from shared.rpc import RemoteError, RpcClient

log = get_logger(__name__)

SWEEPER = Identity(subject="system:evidence-sweep")
QUERY = "evidence_files"
FACTS = (PersonalDataErased, ExpiredPersonalDataShredded)
RETRIES_WHILE_SCRUBBING = 60  # then the next interval's sweep

# The digests a draft names (its form keeps the links of its files).
_DRAFT_DIGESTS = r"""
SELECT DISTINCT m[1] AS digest
FROM nomination_drafts, regexp_matches(form::text, '/files/([0-9a-f]{64})/', 'g') AS m
"""


def files_to_delete(
    uploads: Mapping[str, datetime], named: Set[str], now: datetime, grace: timedelta
) -> list[str]:
    """The recorded files (digest -> last sent or kept) that go: named by no nomination and no
    draft (`named`), and last sent or kept at least `grace` before `now`."""
    cutoff = now - grace
    return sorted(d for d, last in uploads.items() if d not in named and last <= cutoff)


@dataclass
class SweepReport:
    recorded: int = 0  # files in evidence_uploads before the sweep
    named: int = 0  # digests named by nominations and drafts
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # the store did not answer
    scrubs_pending: int = 0
    skipped: str = ""  # why nothing was looked at


async def delete_file(
    pool: asyncpg.Pool,
    store: FileStore,
    digest: str,
    *,
    reason: str,
    last_before: datetime | None = None,
) -> bool:
    """Delete one evidence file from the store unless a draft names it (and, with
    `last_before`, unless it was sent or kept since then), holding its `evidence_uploads` row;
    the row goes with the file. True if the file was there and is gone."""
    if not DIGEST.match(digest):
        return False
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT last_uploaded_at FROM evidence_uploads WHERE digest = $1 FOR UPDATE", digest
        )
        if last_before is not None and (row is None or row["last_uploaded_at"] > last_before):
            return False  # sent again meanwhile, or deleted by another sweep
        in_draft = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM nomination_drafts WHERE strpos(form::text, $1) > 0)",
            digest,
        )
        if in_draft:
            return False
        # The store may be a network away (S3): its blocking call runs in a thread.
        gone = await asyncio.to_thread(store.delete, digest)
        await conn.execute("DELETE FROM evidence_uploads WHERE digest = $1", digest)
    log.info("evidence_file_deleted", digest=digest, reason=reason, was_stored=gone)
    if gone:
        EVIDENCE_FILES_DELETED.labels(reason).inc()
    return gone


class EvidenceSweep:
    """The sweep of one gateway process (see the module's docstring)."""

    def __init__(
        self,
        rpc: RpcClient,
        pool: asyncpg.Pool,
        store: FileStore,
        clock: Clock,
        *,
        grace: timedelta,
        interval_s: float,
        retry_s: float,
    ) -> None:
        self.rpc = rpc
        self.pool = pool
        self.store = store
        self.clock = clock
        self.grace = grace
        self.interval_s = interval_s
        self.retry_s = retry_s
        self.wake = asyncio.Event()
        self.sweeps = 0  # sweeps finished by this process

    async def sweep(self) -> SweepReport:
        report = SweepReport()
        try:
            answer = await self.rpc.query(
                "nomination", QUERY, {}, identity=SWEEPER, correlation_id=f"sweep-{uuid.uuid4()}"
            )
        except RemoteError as exc:  # nothing named is known: nothing is deleted
            report.skipped = exc.error.code
            return report
        report.scrubs_pending = int(answer["scrubs_pending"])
        if not answer["nominations"]:
            report.skipped = "no_nominations"
            return report
        named = set(answer["digests"])
        named |= {r["digest"] for r in await self.pool.fetch(_DRAFT_DIGESTS)}
        # Evidence from before uploads were recorded, still named: tracked from now on (its
        # grace counts from now), so that it goes once nothing names it.
        await self.pool.execute(
            "INSERT INTO evidence_uploads (digest, last_uploaded_at)"
            " SELECT unnest($1::text[]), $2 ON CONFLICT (digest) DO NOTHING",
            sorted(d for d in named if DIGEST.match(d)),
            self.clock.now(),
        )
        uploads = {
            r["digest"]: r["last_uploaded_at"]
            for r in await self.pool.fetch("SELECT digest, last_uploaded_at FROM evidence_uploads")
        }
        report.recorded, report.named = len(uploads), len(named)
        now = self.clock.now()
        cutoff = now - self.grace
        for digest in files_to_delete(uploads, named, now, self.grace):
            try:
                if await delete_file(
                    self.pool, self.store, digest, reason="sweep", last_before=cutoff
                ):
                    report.deleted.append(digest)
            except FileStoreError as exc:
                report.failed.append(digest)
                log.error("evidence_file_not_deleted", digest=digest, error=str(exc))
        self.sweeps += 1
        log.info(
            "evidence_swept",
            recorded=report.recorded,
            named=report.named,
            deleted=len(report.deleted),
            failed=len(report.failed),
            scrubs_pending=report.scrubs_pending,
        )
        return report

    async def run(self) -> None:
        """Sweep now, then whenever a privacy fact is heard and every interval; while the
        nomination service still scrubs, again every `retry_s` (a bounded number of times)."""
        retries = 0
        while True:
            self.wake.clear()
            try:
                report = await self.sweep()
            except Exception as exc:  # the next sweep tries again
                report = SweepReport(skipped="error")
                if is_outage(exc):
                    log.warning("evidence_sweep_failed", error=repr(exc))
                else:
                    log.error("evidence_sweep_failed", error=repr(exc), exc_info=exc)
            again = report.scrubs_pending > 0 or report.skipped not in ("", "no_nominations")
            if again and retries == 0 and report.skipped:  # once per streak, not every retry
                log.warning("evidence_sweep_skipped", reason=report.skipped)
            retries = retries + 1 if again else 0
            wait = self.retry_s if again and retries <= RETRIES_WHILE_SCRUBBING else self.interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), wait)
            if self.wake.is_set():
                retries = 0

    async def follow(self, nc: NatsClient) -> list[Subscription]:
        """Hear both privacy facts on NATS: each wakes the sweep (a fact missed while
        disconnected is caught by the next interval's sweep)."""

        async def heard(msg: Msg) -> None:
            self.wake.set()

        return [await nc.subscribe(fact.subject(), cb=heard) for fact in FACTS]
