"""The retention job (README "Retention"): finds the data subjects whose retention time has
run out (services/nomination/retention.py decides), records the run, destroys their keys.

Exactly once in effect: a run first destroys the keys a recorded run named that still exist
(a run killed after recording), then records the newly expired subjects in one event (the
decider records no subject twice, and the stream's version check stops two writers), then
destroys their keys. Runs in one instance at a time (app.py: shared/leader.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from services.nomination.domain import NO_ERASURES
from services.nomination.retention import (
    Expiry,
    Holding,
    Nominated,
    Objected,
    RetentionPolicy,
    decide_retention,
    evolve_shredded,
    expired,
)
from shared.contracts.nomination import PRIVACY_STREAM, ExpiredPersonalDataShredded
from shared.keystore import PostgresKeyStore
from shared.logging import get_logger
from shared.personal_data import KEYRING
from shared.service import ServiceRuntime
from shared.settings import Settings

log = get_logger(__name__)

RETENTION_ACTOR = "retention"  # the actor of the job's events

# Every nomination with its round's result time and whether it won (the cooldown feed's
# past_wins: a win is per employee, flower and round), and every published win on its own
# (a win of a round older than this log keeps its winner too; a revoked one stays public).
_HOLDINGS = """
SELECT n.employee_no, n.round_id, r.published_at,
       EXISTS (SELECT FROM past_wins w WHERE w.employee_no = n.employee_no
               AND w.round_id = n.round_id AND w.category = n.category) AS won
FROM nominations n LEFT JOIN results_published r USING (round_id)
UNION ALL
SELECT w.employee_no, w.round_id, r.published_at, true
FROM past_wins w LEFT JOIN results_published r USING (round_id)
"""
# Every objection heard from review, by its raiser's data subject (open: resolved_at NULL).
_OBJECTIONS = "SELECT raiser_subject, round_id, objection_no, resolved_at FROM objections_held"


def policy_from_settings(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        unsuccessful_nomination_years=settings.retention_unsuccessful_nomination_years,
        objection_years=settings.retention_objection_years,
        payroll_years=settings.retention_payroll_years,
    )


@dataclass(frozen=True)
class RunReport:
    recorded: bool  # this run recorded an ExpiredPersonalDataShredded
    keys_destroyed: int  # keys destroyed by this run (a restart's included)

    def as_dict(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "keys_destroyed": self.keys_destroyed}


class RetentionJob:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    @property
    def keys(self) -> PostgresKeyStore:
        keys = self.runtime.keys
        assert keys is not None, "the service has not started"
        return keys

    async def run(self) -> RunReport:
        """One run: finish what an interrupted run recorded, record, shred."""
        destroyed = await self.finish_recorded()
        recorded = await self.record_expired()
        pause = self.runtime.settings.retention_pause_after_recording_s
        if recorded and pause:  # tests only: the moment a kill must not lose anything
            log.warning("retention_paused_after_recording", pause_s=pause)
            await asyncio.sleep(pause)
        destroyed += await self.finish_recorded()
        if recorded or destroyed:
            log.info("retention_run", recorded=recorded, keys_destroyed=destroyed)
        return RunReport(recorded, destroyed)

    async def record_expired(self) -> bool:
        """Record the subjects whose every holding has expired now (no key destroyed yet)."""
        now = self.runtime.clock.now()
        policy = policy_from_settings(self.runtime.settings)
        rows = await self.runtime.store.pool.fetch(_HOLDINGS)
        held: list[Holding] = [
            Nominated(r["employee_no"], r["round_id"], r["published_at"], r["won"]) for r in rows
        ]
        held += [
            Objected(r["raiser_subject"], r["round_id"], r["objection_no"], r["resolved_at"])
            for r in await self.runtime.store.pool.fetch(_OBJECTIONS)
        ]
        due: dict[UUID, Expiry] = {}
        for employee_no, why in expired(held, policy, now).items():
            subject_id = await self.keys.subject_of(employee_no)
            if subject_id is not None:  # None: shredded already (the projection still says)
                due[subject_id] = why
        recorded = await self.runtime.execute(
            PRIVACY_STREAM,
            evolve_shredded,
            NO_ERASURES,
            lambda state: decide_retention(state, due, policy, now),
            RETENTION_ACTOR,
        )
        return bool(recorded)

    async def finish_recorded(self) -> int:
        """Destroy the key of every subject a recorded run names whose key still exists (a
        run killed after recording): the number destroyed. The office's erasures finish in
        their own command (the same request again destroys the key)."""
        stream = await self.runtime.store.load(PRIVACY_STREAM)
        decode = self.runtime.registry.decode_recorded
        recorded = {
            s.subject_id
            for event in (decode(e) for e in stream.events)
            if isinstance(event, ExpiredPersonalDataShredded)
            for s in event.subjects
        }
        if not recorded:
            return 0
        held = await self.keys.keys(sorted(recorded, key=str))
        now: datetime = self.runtime.clock.now()
        destroyed = 0
        for subject_id, key in held.items():
            if key is not None and await self.keys.shred(subject_id, now):
                KEYRING.forget(subject_id)
                destroyed += 1
        return destroyed
