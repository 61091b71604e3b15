"""Use cases: review's results become awards and adjustments; payroll acknowledges them.

Exactly once, in the store: every award, adjustment and event id derives from (round,
category, employee number), each award stream is appended only at the version it was
read at, and the consumer's inbox row commits with the effects. A period's adjustments are
appended together with an empty append to the period's acknowledgement stream at
version 0: if payroll acknowledged anything in that period meanwhile, the append fails,
is retried, and the adjustment moves to the next open period.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
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
from shared.eventstore import ConcurrencyError, DuplicateEventError, fold
from shared.logging import get_logger
from shared.projection import Items
from shared.reaction import Emit, Guard, Reaction
from shared.service import ServiceRuntime, metadata
from shared.settings import Settings

log = get_logger(__name__)

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


@dataclass(frozen=True)
class _Batch:
    """What a batch's decisions read besides the award streams: the time, the closed periods."""

    now: datetime
    closed: set[str]


class RewardsHandlers:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self.policy = rewards_policy_from_settings(runtime.settings)
        # Fault injection for tests: awaited after a batch's awards are appended and before
        # the transaction commits, with how many were granted (a crash there leaves no trace).
        self.after_chunk: Callable[[int], Awaitable[None]] | None = None
        # Review's results become awards and adjustments, through the one reaction path.
        self.awards: Reaction[AwardState | None, _Batch] = Reaction(
            evolve=evolve_award,
            streams=_award_streams,
            decide=self._decide,
            metadata=self._metadata,
            prepare=self._prepare,
            appended=self._appended,
        )

    # --- Consumer of review's events ---------------------------------------------------------

    async def _prepare(self, conn: asyncpg.Connection, items: Items) -> _Batch:
        return _Batch(self.runtime.clock.now(), await closed_periods(conn))

    def _metadata(self, envelope: RecordedEvent) -> EventMetadata:
        return EventMetadata(
            actor=SYSTEM_ACTOR,
            correlation_id=envelope.metadata.correlation_id,
            causation_id=str(envelope.event_id),
            occurred_at=self.runtime.clock.now(),
        )

    def _decide(
        self,
        batch: _Batch,
        envelope: RecordedEvent,
        event: DomainEvent,
        states: Mapping[str, AwardState | None],
    ) -> list[Emit | Guard]:
        emits: list[Emit | Guard] = []
        match event:
            case ResultPublished():
                for award_id, winner in _winners(event).items():
                    events = decide_grant(
                        states[award_stream_id(award_id)],
                        round_id=event.round_id,
                        winner=winner,
                        published_at=event.published_at,
                        result_event_id=envelope.event_id,
                        now=batch.now,
                        policy=self.policy,
                        closed_periods=batch.closed,
                    )
                    emits += _award_emits(award_id, events)
            case WinnerRevoked():
                award_id = award_id_for(event.round_id, event.category, event.employee_no)
                events = decide_revoke(
                    states[award_stream_id(award_id)],
                    revocation=event,
                    revocation_event_id=envelope.event_id,
                    now=batch.now,
                    policy=self.policy,
                    closed_periods=batch.closed,
                )
                emits += _award_emits(award_id, events)
            case _:
                pass
        return emits

    async def _appended(self, recorded: list[RecordedEvent]) -> None:
        granted = sum(1 for e in recorded if e.type == "AwardGranted")
        revoked = sum(1 for e in recorded if e.type == "AwardRevoked")
        log.info("awards_appended", granted=granted, revoked=revoked)
        if self.after_chunk is not None:
            await self.after_chunk(granted)

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
                    await projections.project(conn, list(zip(recorded, events, strict=True)))
            except (ConcurrencyError, DuplicateEventError, asyncpg.UniqueViolationError):
                if number == RETRIES:
                    raise
                continue
            if self.runtime.relay is not None:
                self.runtime.relay.wake()
            return {**reply, "status": "acknowledged", "position": recorded[-1].position}
        raise AssertionError("unreachable")


def _winners(result: ResultPublished) -> dict[UUID, PublishedWinner]:
    """One award per (category, employee): a winner listed twice is awarded once."""
    winners: dict[UUID, PublishedWinner] = {}
    for winner in result.winners:
        winners.setdefault(
            award_id_for(result.round_id, winner.category, winner.employee_no), winner
        )
    return winners


def _award_streams(
    _: _Batch, __: RecordedEvent, event: DomainEvent
) -> dict[str, AwardState | None]:
    match event:
        case ResultPublished():
            return {award_stream_id(a): None for a in _winners(event)}
        case WinnerRevoked():
            award_id = award_id_for(event.round_id, event.category, event.employee_no)
            return {award_stream_id(award_id): None}
        case _:
            return {}


def _award_emits(award_id: UUID, events: Sequence[RewardsEvent]) -> list[Emit | Guard]:
    """An award's events, provided each period they use is still open (its acks stream empty)."""
    if not events:
        return []
    ids = [award_event_id(award_id, e.event_type) for e in events]
    guards: list[Emit | Guard] = [
        Guard(payroll_period_stream_id(p), 0) for p in sorted(adjustment_periods(events))
    ]
    return [Emit(award_stream_id(award_id), events, ids), *guards]


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
