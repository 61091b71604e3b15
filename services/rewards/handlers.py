"""Use cases: review's results become awards and adjustments; payroll acknowledges them.

Exactly once, in the store: every award, adjustment and event id derives from (round,
category, employee number), each award stream is appended only at the version it was
read at, and the consumer's inbox row commits with the effects. A period's adjustments are
appended together with an empty append to the period's acknowledgement stream at
version 0: if payroll acknowledged anything in that period meanwhile, the append fails,
is retried, and the adjustment moves to the next open period.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.rewards import projections
from services.rewards.domain import (
    CENT,
    EMPTY_PERIOD,
    AwardState,
    IssuedAdjustment,
    PacesetterPolicy,
    RecordedAcknowledgement,
    RewardsPolicy,
    acknowledgement_period,
    check_may_acknowledge,
    decide_acknowledge,
    decide_grant,
    decide_revoke,
    evolve_award,
    evolve_period,
)
from shared.contracts.common import Category
from shared.contracts.review import PublishedWinner, ResultPublished, WinnerRevoked
from shared.contracts.rewards import (
    PayrollAdjustmentIssued,
    PayrollAdjustmentReversed,
    RewardsEvent,
    acknowledgement_event_id,
    award_event_id,
    award_id_for,
    award_stream_id,
    payroll_period_stream_id,
    registry,
)
from shared.contracts.rewards_commands import SYSTEM_ACTOR, AcknowledgeAdjustment
from shared.events import DomainEvent, EventMetadata, NewEvent, RecordedEvent
from shared.eventstore import AppendRequest, ConcurrencyError, DuplicateEventError, fold
from shared.logging import get_logger
from shared.service import ServiceRuntime, metadata
from shared.settings import Settings

log = get_logger(__name__)

AWARDS_PER_APPEND = 50  # winners appended per statement; all of a result commit together
RETRIES = 10


def rewards_policy_from_settings(settings: Settings) -> RewardsPolicy:
    """The award's settings as the plain values the deciders take (ValueError if invalid)."""
    amount = settings.award_amount
    return RewardsPolicy(
        award_amount=amount.quantize(CENT) if amount == amount.quantize(CENT) else amount,
        currency=settings.award_currency,
        cutoff_day=settings.payroll_cutoff_day,
        award_name_zh=settings.award_name_zh,
        reason_code=settings.payroll_reason_code,
        reversal_reason_code=settings.payroll_reversal_reason_code,
    )


def pacesetter_policy_from_settings(settings: Settings) -> PacesetterPolicy:
    """The standings' weights and tie-break rules (ValueError naming an unknown flower)."""
    weights = dict.fromkeys(Category, Decimal("1"))
    for key, weight in settings.pacesetter_category_weights.items():
        try:
            weights[Category(key)] = weight
        except ValueError:
            raise ValueError(
                f"unknown flower {key!r} (known: {', '.join(c.value for c in Category)})"
            ) from None
    return PacesetterPolicy(weights=weights, tie_breaks=tuple(settings.pacesetter_tie_breaks))


class RewardsHandlers:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self.policy = rewards_policy_from_settings(runtime.settings)
        # Fault injection for tests: awaited after each chunk of a result's awards is
        # appended and before the transaction commits (a crash there must leave no trace).
        self.after_chunk: Callable[[int], Awaitable[None]] | None = None

    # --- Consumer of review's events ---------------------------------------------------------

    async def on_review_event(
        self, conn: asyncpg.Connection, envelope: RecordedEvent, event: DomainEvent
    ) -> None:
        """Runs inside the consumer's transaction, after its inbox row."""
        match event:
            case ResultPublished():
                await self.grant_awards(conn, envelope, event)
            case WinnerRevoked():
                await self.revoke_award(conn, envelope, event)
            case _:
                pass

    def _metadata(self, envelope: RecordedEvent, now: datetime) -> EventMetadata:
        return EventMetadata(
            actor=SYSTEM_ACTOR,
            correlation_id=envelope.metadata.correlation_id,
            causation_id=str(envelope.event_id),
            occurred_at=now,
        )

    async def grant_awards(
        self, conn: asyncpg.Connection, envelope: RecordedEvent, result: ResultPublished
    ) -> None:
        now = self.runtime.clock.now()
        meta = self._metadata(envelope, now)
        # One award per (category, employee): a winner listed twice is awarded once.
        winners: list[PublishedWinner] = []
        seen: set[UUID] = set()
        for winner in result.winners:
            award_id = award_id_for(result.round_id, winner.category, winner.employee_no)
            if award_id not in seen:
                seen.add(award_id)
                winners.append(winner)
        granted = 0
        for start in range(0, len(winners), AWARDS_PER_APPEND):
            chunk = winners[start : start + AWARDS_PER_APPEND]
            granted += await self._retrying(
                functools.partial(self._grant_chunk, conn, envelope, result, chunk, meta, now)
            )
            if self.after_chunk is not None:
                await self.after_chunk(start + len(chunk))
        log.info(
            "awards_granted",
            round_id=result.round_id,
            winners=len(winners),
            granted=granted,
            result_event_id=str(envelope.event_id),
        )

    async def _grant_chunk(
        self,
        conn: asyncpg.Connection,
        envelope: RecordedEvent,
        result: ResultPublished,
        chunk: Sequence[PublishedWinner],
        meta: EventMetadata,
        now: datetime,
    ) -> int:
        award_ids = [award_id_for(result.round_id, w.category, w.employee_no) for w in chunk]
        states = await self._award_states(conn, award_ids)
        closed = await closed_periods(conn)
        requests: list[AppendRequest] = []
        periods: set[str] = set()
        for award_id, winner in zip(award_ids, chunk, strict=True):
            state, version = states.get(award_id, (None, 0))
            events = decide_grant(
                state,
                round_id=result.round_id,
                winner=winner,
                published_at=result.published_at,
                result_event_id=envelope.event_id,
                now=now,
                policy=self.policy,
                closed_periods=closed,
            )
            if events:
                periods.update(adjustment_periods(events))
                requests.append(self._award_request(award_id, events, version, meta))
        await self._append(conn, requests, periods)
        return len(requests)

    async def revoke_award(
        self, conn: asyncpg.Connection, envelope: RecordedEvent, revocation: WinnerRevoked
    ) -> None:
        now = self.runtime.clock.now()
        meta = self._metadata(envelope, now)
        award_id = award_id_for(revocation.round_id, revocation.category, revocation.employee_no)

        async def attempt() -> int:
            state, version = (await self._award_states(conn, [award_id])).get(award_id, (None, 0))
            events = decide_revoke(
                state,
                revocation=revocation,
                revocation_event_id=envelope.event_id,
                now=now,
                policy=self.policy,
                closed_periods=await closed_periods(conn),
            )
            if not events:
                return 0
            request = self._award_request(award_id, events, version, meta)
            await self._append(conn, [request], adjustment_periods(events))
            return 1

        if await self._retrying(attempt):
            log.info("award_revoked", award_id=str(award_id), round_id=revocation.round_id)

    def _award_request(
        self, award_id: UUID, events: Sequence[RewardsEvent], version: int, meta: EventMetadata
    ) -> AppendRequest:
        return AppendRequest(
            award_stream_id(award_id),
            [NewEvent.of(e, meta, event_id=award_event_id(award_id, e.event_type)) for e in events],
            expected_version=version,
        )

    async def _append(
        self, conn: asyncpg.Connection, requests: list[AppendRequest], periods: set[str]
    ) -> None:
        """Append and project, provided each period used is still open (its acks stream empty)."""
        if not requests:
            return
        guards = [
            AppendRequest(payroll_period_stream_id(p), [], expected_version=0)
            for p in sorted(periods)
        ]
        async with conn.transaction():  # a savepoint: a conflict undoes only this attempt
            recorded = await self.runtime.store.append_batch([*requests, *guards], conn=conn)
            await projections.project(conn, recorded)

    async def _retrying(self, attempt: Callable[[], Awaitable[int]]) -> int:
        for number in range(1, RETRIES + 1):
            try:
                return await attempt()
            except (ConcurrencyError, DuplicateEventError) as exc:
                if number == RETRIES:
                    raise
                log.info("rewards_append_conflict_retrying", attempt=number, error=str(exc))
        raise AssertionError("unreachable")

    async def _award_states(
        self, conn: asyncpg.Connection, award_ids: Sequence[UUID]
    ) -> dict[UUID, tuple[AwardState | None, int]]:
        """Each existing award's folded state and stream version (absent: not granted)."""
        by_stream = {award_stream_id(a): a for a in award_ids}
        rows = await conn.fetch(
            "SELECT stream_id, version, type, schema_version, data FROM events "
            "WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, version",
            list(by_stream),
        )
        history: dict[UUID, list[DomainEvent]] = {}
        versions: dict[UUID, int] = {}
        for row in rows:
            award_id = by_stream[row["stream_id"]]
            history.setdefault(award_id, []).append(
                registry.decode(row["type"], row["schema_version"], row["data"])
            )
            versions[award_id] = row["version"]
        return {a: (fold(evolve_award, None, history[a]), versions[a]) for a in history}

    # --- Payroll's acknowledgement -------------------------------------------------------------

    async def acknowledge(self, cmd: AcknowledgeAdjustment) -> dict[str, Any]:
        check_may_acknowledge(cmd)
        store = self.runtime.store
        meta = metadata(cmd.actor)
        for number in range(1, RETRIES + 1):
            issued = await issued_adjustment(store.pool, cmd.adjustment_id)
            recorded_ack = await recorded_acknowledgement(store.pool, cmd.adjustment_id)
            period = acknowledgement_period(cmd, issued)
            stream_id = payroll_period_stream_id(period)
            stream = await store.load(stream_id)
            state = fold(evolve_period, EMPTY_PERIOD, map(registry.decode_recorded, stream.events))
            events = decide_acknowledge(
                state, cmd, issued=issued, recorded=recorded_ack, now=self.runtime.clock.now()
            )
            reply: dict[str, Any] = {
                "adjustment_id": str(cmd.adjustment_id),
                "period": recorded_ack.period if recorded_ack else period,
                "known": issued is not None,
                "status": "already_acknowledged",
                "position": None,
            }
            if not events:
                return reply
            try:
                async with store.transaction() as conn:
                    recorded = await store.append(
                        stream_id,
                        [
                            NewEvent.of(
                                e, meta, event_id=acknowledgement_event_id(cmd.adjustment_id)
                            )
                            for e in events
                        ],
                        expected_version=stream.version,
                        conn=conn,
                    )
                    await projections.project(conn, recorded)
            except (ConcurrencyError, DuplicateEventError, asyncpg.UniqueViolationError):
                if number == RETRIES:
                    raise
                continue
            if self.runtime.relay is not None:
                self.runtime.relay.wake()
            return {**reply, "status": "acknowledged", "position": recorded[-1].position}
        raise AssertionError("unreachable")


def adjustment_periods(events: Sequence[RewardsEvent]) -> set[str]:
    return {
        e.period
        for e in events
        if isinstance(e, PayrollAdjustmentIssued | PayrollAdjustmentReversed)
    }


async def closed_periods(conn: asyncpg.Connection | asyncpg.Pool) -> set[str]:
    """Periods payroll has acknowledged anything in (the append's guard re-checks its pick)."""
    return {r["period"] for r in await conn.fetch("SELECT period FROM payroll_periods")}


async def issued_adjustment(
    conn: asyncpg.Connection | asyncpg.Pool, adjustment_id: UUID
) -> IssuedAdjustment | None:
    row = await conn.fetchrow(
        "SELECT adjustment_id, award_id, period, amount, currency FROM adjustments "
        "WHERE adjustment_id = $1",
        adjustment_id,
    )
    if row is None:
        return None
    return IssuedAdjustment(
        row["adjustment_id"], row["award_id"], row["period"], row["amount"], row["currency"]
    )


async def recorded_acknowledgement(
    conn: asyncpg.Connection | asyncpg.Pool, adjustment_id: UUID
) -> RecordedAcknowledgement | None:
    row = await conn.fetchrow(
        "SELECT period, amount, currency FROM acknowledgements WHERE adjustment_id = $1",
        adjustment_id,
    )
    if row is None:
        return None
    return RecordedAcknowledgement(row["period"], row["amount"], row["currency"])
