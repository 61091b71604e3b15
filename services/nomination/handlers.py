"""Use cases: load → decide → append (and project), one per command."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

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
        shredded = await keys.shred(subject_id, now)
        KEYRING.forget(subject_id)
        return {**outcome(recorded), "subject_id": str(subject_id), "key_destroyed": shredded}

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
        directory = await self._directory_for(cmd)
        winners = await self._past_wins(cmd)
        round_id = await self._round_of(cmd)
        rejected = await self._rejected(cmd, round_id)
        audit_started = await self._audit_started(cmd, round_id)
        result_published = await self._result_published(cmd, round_id)
        policy = self.policy

        def decide(state: RoundState | None) -> list[DomainEvent]:
            return decide_round(
                state,
                cmd,
                now,
                directory=directory,
                policy=policy,
                winners=winners,
                rejected=rejected,
                audit_started=audit_started,
                result_published=result_published,
            )

        recorded = await self.runtime.execute(
            round_stream_id(round_id), evolve_round, None, decide, cmd.actor
        )
        return outcome(recorded)

    async def _round_of(self, cmd: RoundCommand | CorrectNominee) -> str:
        """The round a command acts in: named by the command, or the nomination's own round
        (a nomination never changes round, so the projection's answer cannot go stale)."""
        if not isinstance(
            cmd, AmendNomination | WithdrawNomination | RecordConsent | CorrectNominee
        ):
            return cmd.round_id
        round_id: str | None = await self.runtime.store.pool.fetchval(
            "SELECT round_id FROM nominations WHERE nomination_id = $1", cmd.nomination_id
        )
        if round_id is None:
            raise NotFound(
                "找不到该推荐。", "No such nomination.", nomination_id=str(cmd.nomination_id)
            )
        return round_id

    async def _directory_for(self, cmd: RoundCommand) -> DirectoryState:
        """The part of the directory a round command needs, read from the projection."""
        pool = self.runtime.store.pool
        units: dict[str, Unit] = {}
        employees: dict[str, Employee] = {}
        unit_codes: set[str] = set()
        if isinstance(cmd, SubmitNomination):
            row = await pool.fetchrow(
                "SELECT * FROM employees WHERE employee_no = $1", cmd.employee_no
            )
            if row is not None:
                employees[row["employee_no"]] = Employee(
                    row["employee_no"],
                    row["name"],
                    row["unit_code"],
                    row["position"],
                    row["active"],
                )
                unit_codes.add(row["unit_code"])
            unit_codes.add(cmd.unit_code)
        if isinstance(cmd, ExtendDeadline | ReopenForUnit) and cmd.unit_code:
            unit_codes.add(cmd.unit_code)
        if unit_codes:
            for row in await pool.fetch(
                "SELECT unit_code, name FROM units WHERE unit_code = ANY($1::text[])",
                sorted(unit_codes),
            ):
                units[row["unit_code"]] = Unit(row["unit_code"], row["name"])
        return DirectoryState(units, employees)

    async def _rejected(self, cmd: RoundCommand, round_id: str) -> frozenset[UUID]:
        """The round's nominations the office rejected (a rejection is final: never stale)."""
        if not isinstance(cmd, SubmitNomination | AmendNomination):
            return frozenset()
        rows = await self.runtime.store.pool.fetch(
            "SELECT nomination_id FROM rejections WHERE round_id = $1", round_id
        )
        return frozenset(r["nomination_id"] for r in rows)

    async def _audit_started(self, cmd: RoundCommand, round_id: str) -> bool:
        """Whether the office has begun auditing the round, as heard from the review. The
        review's first acceptance or rejection may still be on its way: a reopening in that
        instant is recorded, and the review then waits for the unit's window like any other."""
        if not isinstance(cmd, ReopenForUnit):
            return False
        started: bool = await self.runtime.store.pool.fetchval(
            "SELECT EXISTS (SELECT FROM audits_started WHERE round_id = $1)", round_id
        )
        return started

    async def _result_published(self, cmd: RoundCommand, round_id: str) -> bool:
        """Whether the review has published the round's result, as heard from it (final)."""
        if not isinstance(cmd, RecordConsent):
            return False
        published: bool = await self.runtime.store.pool.fetchval(
            "SELECT EXISTS (SELECT FROM results_published WHERE round_id = $1)", round_id
        )
        return published

    async def _past_wins(self, cmd: RoundCommand) -> list[PastWin]:
        if self.policy.cooldown_rounds == 0 or not isinstance(
            cmd, SubmitNomination | AmendNomination
        ):
            return []
        employee_no = getattr(cmd, "employee_no", None)
        rows = await self.runtime.store.pool.fetch(
            "SELECT employee_no, category, round_id FROM past_wins "
            "WHERE NOT revoked AND ($1::text IS NULL OR employee_no = $1)",
            employee_no,
        )
        return [(r["employee_no"], Category(r["category"]), r["round_id"]) for r in rows]

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
