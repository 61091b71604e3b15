"""Use cases: load → decide → append (and project), one per command."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.nomination.correction import decide_correction
from services.nomination.domain import (
    EMPTY_DIRECTORY,
    NO_ERASURES,
    DirectoryState,
    Employee,
    NominationPolicy,
    PastWin,
    PayrollFact,
    RoundCommand,
    RoundState,
    Unit,
    decide_erasure,
    decide_import,
    decide_round,
    directory_from,
    evolve_erasures,
    evolve_round,
)
from shared import directory_file
from shared.contracts.common import Category
from shared.contracts.nomination import DIRECTORY_STREAM, PRIVACY_STREAM, round_stream_id
from shared.contracts.nomination_commands import (
    AmendNomination,
    CorrectNominee,
    ErasePersonalData,
    ExtendDeadline,
    ImportDirectory,
    RecordConsent,
    ReopenForUnit,
    SubmitNomination,
    WithdrawNomination,
)
from shared.errors import NotFound
from shared.events import DomainEvent, RecordedEvent
from shared.personal_data import KEYRING, opened
from shared.rounds import Cadence, parse_deadline_time
from shared.service import ServiceRuntime
from shared.settings import Settings


def policy_from_settings(settings: Settings) -> NominationPolicy:
    """The rules' settings as the plain values the deciders take."""
    return NominationPolicy(
        cadence=Cadence(settings.cadence),
        deadline_day=settings.deadline_day,
        deadline_time=parse_deadline_time(settings.deadline_time),
        quota_per_unit_category=settings.quota_per_unit_category,
        cooldown_rounds=settings.cooldown_rounds,
        deeds_min_chars=settings.deeds_min_chars,
        deeds_max_chars=settings.deeds_max_chars,
    )


def outcome(recorded: Sequence[RecordedEvent]) -> dict[str, Any]:
    """What a command's reply says: which events it caused, and where the log stands."""
    return {
        "events": [e.type for e in recorded],
        "position": recorded[-1].position if recorded else None,
    }


# Commands that name a nomination, not a round: they act in the nomination's own round.
_IN_NOMINATIONS_ROUND = (AmendNomination, WithdrawNomination, RecordConsent)


@dataclass(frozen=True)
class _Reads:
    """What a round command's decision reads from the projections (NominationHandlers._reads)."""

    round_id: str
    directory: DirectoryState
    winners: list[PastWin]
    rejected: frozenset[UUID]
    audit_started: bool
    result_published: bool


# The stored evidence files (`/files/<sha256>/<name>`, the gateway's content-addressed store)
# the employee's nominations name and no other nomination does: the caller of an erasure
# (the gateway, `flowers privacy erase`) deletes them from the store. A file another
# nomination names stays (the same bytes are kept once).
_FILES_ONLY_OF = r"""
WITH linked AS (
    SELECT n.employee_no = $1 AS theirs,
           substring(link FROM '^/files/([0-9a-f]{64})/') AS digest
    FROM nominations n, jsonb_array_elements_text(n.evidence_links) AS link
)
SELECT DISTINCT digest FROM linked WHERE theirs AND digest IS NOT NULL
EXCEPT
SELECT digest FROM linked WHERE NOT theirs AND digest IS NOT NULL
ORDER BY 1
"""


async def evidence_files_only_of(pool: asyncpg.Pool, employee_no: str) -> list[str]:
    return [r["digest"] for r in await pool.fetch(_FILES_ONLY_OF, employee_no)]


class NominationHandlers:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    @property
    def policy(self) -> NominationPolicy:
        return policy_from_settings(self.runtime.settings)

    async def import_directory(self, cmd: ImportDirectory) -> dict[str, Any]:
        """The whole stream is folded: an import is rare and must see every earlier one."""
        recorded = await self.runtime.execute(
            DIRECTORY_STREAM,
            _evolve_directory,
            EMPTY_DIRECTORY,
            lambda state: decide_import(state, cmd),
            cmd.actor,
            fold_all=directory_from,
        )
        return {
            **outcome(recorded),
            "changes": _count(recorded),
            "summary": directory_file.summarise(
                (e.type, opened(e.data, e.event_id)) for e in recorded
            ),
        }

    async def erase_personal_data(self, cmd: ErasePersonalData) -> dict[str, Any]:
        """Record the erasure, then destroy the key. Recorded first: an erasure is never
        without its audited event; interrupted in between, the same request again destroys
        the key (the decider records nothing twice). Every service then scrubs its
        projections on the fact once the key is gone (shared/scrub.py)."""
        keys = self.runtime.keys
        assert keys is not None, "the service has not started"
        subject_id = await keys.subject_of(cmd.employee_no)
        payroll = await self._payroll_facts(cmd.employee_no)
        years = self.runtime.settings.retention_payroll_years
        now = self.runtime.clock.now()
        recorded = await self.runtime.execute(
            PRIVACY_STREAM,
            evolve_erasures,
            NO_ERASURES,
            lambda state: decide_erasure(
                state, cmd, subject_id, now, payroll=payroll, payroll_years=years
            ),
            cmd.actor,
        )
        assert subject_id is not None  # the decider refused otherwise
        # Read while the projection still holds the clear links (the scrub re-derives it).
        files = await evidence_files_only_of(self.runtime.store.pool, cmd.employee_no)
        shredded = await keys.shred(subject_id, now)
        KEYRING.forget(subject_id)
        return {
            **outcome(recorded),
            "subject_id": str(subject_id),
            "key_destroyed": shredded,
            "evidence_files": files,
        }

    async def _payroll_facts(self, employee_no: str) -> list[PayrollFact]:
        """When the employee's payroll facts arose, from review's results (`past_wins`, the
        facts the retention job keeps winners by): each win's publication, each revocation."""
        rows = await self.runtime.store.pool.fetch(
            "SELECT w.round_id, r.published_at, w.revoked, w.revoked_at FROM past_wins w "
            "LEFT JOIN results_published r USING (round_id) WHERE w.employee_no = $1",
            employee_no,
        )
        facts = [PayrollFact(r["round_id"], r["published_at"]) for r in rows]
        facts += [PayrollFact(r["round_id"], r["revoked_at"]) for r in rows if r["revoked"]]
        return facts

    async def correct_nominee(self, cmd: CorrectNominee) -> dict[str, Any]:
        """The office's correction of a nominee's name or position (services/nomination/
        correction.py), in the nomination's own round."""
        round_id = await self._round_of(cmd)
        now = self.runtime.clock.now()
        recorded = await self.runtime.execute(
            round_stream_id(round_id),
            evolve_round,
            None,
            lambda state: decide_correction(state, cmd, now),
            cmd.actor,
        )
        return outcome(recorded)

    async def round_command(self, cmd: RoundCommand) -> dict[str, Any]:
        now = self.runtime.clock.now()
        reads = await self._reads(cmd)
        policy = self.policy

        def decide(state: RoundState | None) -> list[DomainEvent]:
            return decide_round(
                state,
                cmd,
                now,
                directory=reads.directory,
                policy=policy,
                winners=reads.winners,
                rejected=reads.rejected,
                audit_started=reads.audit_started,
                result_published=reads.result_published,
            )

        recorded = await self.runtime.execute(
            round_stream_id(reads.round_id), evolve_round, None, decide, cmd.actor
        )
        return outcome(recorded)

    async def _round_of(self, cmd: CorrectNominee) -> str:
        """The nomination's own round (a nomination never changes round, so the
        projection's answer cannot go stale)."""
        round_id: str | None = await self.runtime.store.pool.fetchval(
            "SELECT round_id FROM nominations WHERE nomination_id = $1", cmd.nomination_id
        )
        if round_id is None:
            raise NotFound(
                "找不到该推荐。", "No such nomination.", nomination_id=str(cmd.nomination_id)
            )
        return round_id

    async def _reads(self, cmd: RoundCommand) -> _Reads:
        """What a round command's decision needs from the projections, in one statement
        (one round trip, not one per table): the round it acts in (named by the command, or
        the nomination's own: a nomination never changes round); the nominee and the units
        named (a submit); the round's rejections (final: never stale) and the past wins for
        the cooldown rule (a submit or an amend); whether the office has begun auditing the
        round (a reopening) or the review has published its result (a consent), as heard
        from the review."""
        named_round = None if isinstance(cmd, _IN_NOMINATIONS_ROUND) else cmd.round_id
        nomination_id = cmd.nomination_id if isinstance(cmd, _IN_NOMINATIONS_ROUND) else None
        employee_no = cmd.employee_no if isinstance(cmd, SubmitNomination) else None
        unit_code = (
            cmd.unit_code
            if isinstance(cmd, SubmitNomination | ExtendDeadline | ReopenForUnit)
            else None
        )
        content = isinstance(cmd, SubmitNomination | AmendNomination)
        row = await self.runtime.store.pool.fetchrow(
            """
            WITH r AS (
                SELECT coalesce($1::text, (SELECT round_id FROM nominations
                                           WHERE nomination_id = $2::uuid)) AS round_id
            ), e AS (
                SELECT employee_no, name, unit_code, position, active
                FROM employees WHERE employee_no = $3::text
            )
            SELECT
                (SELECT round_id FROM r) AS round_id,
                (SELECT row_to_json(e) FROM e) AS employee,
                (SELECT coalesce(json_agg(json_build_array(unit_code, name)), '[]'::json)
                 FROM units WHERE unit_code = ANY($4::text[])
                               OR unit_code IN (SELECT unit_code FROM e)) AS units,
                ARRAY(SELECT nomination_id FROM rejections
                      WHERE $5::bool AND round_id = (SELECT round_id FROM r)) AS rejected,
                (SELECT coalesce(json_agg(json_build_array(employee_no, category, round_id)),
                                 '[]'::json)
                 FROM past_wins WHERE $6::bool AND NOT revoked
                                  AND ($7::text IS NULL OR employee_no = $7)) AS past_wins,
                $8::bool AND EXISTS (SELECT FROM audits_started
                                     WHERE round_id = (SELECT round_id FROM r)) AS audit_started,
                $9::bool AND EXISTS (SELECT FROM results_published
                                     WHERE round_id = (SELECT round_id FROM r)) AS published
            """,
            named_round,
            nomination_id,
            employee_no,
            [unit_code] if unit_code else [],
            content,
            content and self.policy.cooldown_rounds != 0,
            getattr(cmd, "employee_no", None),
            isinstance(cmd, ReopenForUnit),
            isinstance(cmd, RecordConsent),
        )
        assert row is not None
        if row["round_id"] is None:
            raise NotFound(
                "找不到该推荐。", "No such nomination.", nomination_id=str(nomination_id)
            )
        employees: dict[str, Employee] = {}
        if (found := row["employee"]) is not None:
            employees[found["employee_no"]] = Employee(
                found["employee_no"],
                found["name"],
                found["unit_code"],
                found["position"],
                found["active"],
            )
        return _Reads(
            round_id=row["round_id"],
            directory=DirectoryState(
                {code: Unit(code, name) for code, name in row["units"]}, employees
            ),
            winners=[(w, Category(c), r) for w, c, r in row["past_wins"]],
            rejected=frozenset(row["rejected"]),
            audit_started=row["audit_started"],
            result_published=row["published"],
        )

    async def due_rounds(self, now: datetime) -> list[str]:
        """Open rounds whose latest deadline (extensions included) has passed, and closed
        rounds with a unit let in again whose own deadline has passed."""
        rows = await self.runtime.store.pool.fetch(
            """
            SELECT round_id FROM rounds r WHERE (status = 'open' AND greatest(deadline,
                (SELECT max(value::timestamptz) FROM jsonb_each_text(r.unit_deadlines))
            ) < date_trunc('second', $1::timestamptz)) OR (status = 'closed' AND EXISTS (
                SELECT FROM jsonb_each_text(r.reopened)
                WHERE value::timestamptz < date_trunc('second', $1::timestamptz)))
            ORDER BY round_id
            """,
            now,
        )
        return [r["round_id"] for r in rows]


def _evolve_directory(state: DirectoryState, event: DomainEvent) -> DirectoryState:
    return directory_from([event], state)


def _count(recorded: Sequence[RecordedEvent]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in recorded:
        counts[event.type] = counts.get(event.type, 0) + 1
    return counts
