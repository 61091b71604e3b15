"""Use cases: drafting on a published result, reacting to a revocation, the workflow commands.

A reaction to review's events runs inside the consumer's transaction (the inbox row, the
appended events and their projection commit together). Its event ids derive from the
causing event's id, and the decider drafts a round only once, so a result delivered twice
— the same message again, or another copy of it — drafts nothing the second time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import asyncpg

from services.publicity import projections
from services.publicity.domain import (
    MeetingRule,
    PublicityPolicy,
    RoundPublicity,
    decide,
    draft_on_result,
    evolve,
    initial_state,
    react_to_revocation,
    state_from,
)
from services.publicity.errors import MaterialNotFound
from shared.calendar import WorkingCalendar
from shared.contracts.publicity import PublicityEvent, publicity_stream_id
from shared.contracts.publicity_commands import SYSTEM, MaterialWorkflowCommand
from shared.contracts.review import ResultPublished, WinnerRevoked
from shared.events import DomainEvent, EventMetadata, NewEvent, RecordedEvent
from shared.eventstore import ConcurrencyError
from shared.logging import get_logger
from shared.service import ServiceRuntime
from shared.settings import Settings

log = get_logger(__name__)

_REACTION_NAMESPACE = uuid.UUID("0b6f4a52-2f1e-5d8c-b7a3-4c1e9d2a6f10")
_RETRIES = 10


def policy_from_settings(settings: Settings) -> PublicityPolicy:
    """The drafts' settings as the plain values the deciders take."""
    return PublicityPolicy(
        meeting_rule=MeetingRule.parse(settings.publicity_meeting_rule),
        meeting_lead_days=settings.publicity_meeting_lead_days,
        segment_s=settings.publicity_segment_s,
        segment_min_s=settings.publicity_segment_min_s,
        segment_max_s=settings.publicity_segment_max_s,
        title_card_s=settings.publicity_title_card_s,
        caption_max_chars=settings.publicity_caption_max_chars,
        summary_chars=settings.publicity_summary_chars,
        organisation=settings.publicity_organisation,
        department=settings.publicity_department,
        calendar=WorkingCalendar.of(
            [date.fromisoformat(d) for d in settings.calendar_extra_holidays],
            [date.fromisoformat(d) for d in settings.calendar_extra_workdays],
        ),
    )


def outcome(recorded: Sequence[RecordedEvent]) -> dict[str, Any]:
    """What a command's reply says: which events it caused, and where the log stands."""
    return {
        "events": [e.type for e in recorded],
        "position": recorded[-1].position if recorded else None,
    }


class PublicityHandlers:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self.policy = policy_from_settings(runtime.settings)

    # --- Reactions to review's events (the drafts consumer) ---------------------------------

    async def on_review_event(
        self, conn: asyncpg.Connection, envelope: RecordedEvent, event: DomainEvent
    ) -> None:
        now = self.runtime.clock.now()
        match event:
            case ResultPublished():
                recorded = await self._react(
                    conn,
                    envelope,
                    event.round_id,
                    lambda state: draft_on_result(
                        state, event, envelope.event_id, now, self.policy
                    ),
                )
                for e in recorded:
                    years = e.data.get("calendar_fallback_years") or []
                    if years:
                        log.warning(
                            "meeting_date_without_official_calendar",
                            round_id=event.round_id,
                            years=years,
                            meeting_date=e.data.get("meeting_date"),
                        )
                if recorded:
                    log.info("materials_drafted", round_id=event.round_id)
            case WinnerRevoked():
                recorded = await self._react(
                    conn,
                    envelope,
                    event.round_id,
                    lambda state: react_to_revocation(state, event, now, self.policy),
                )
                if recorded:
                    log.info(
                        "revocation_handled",
                        round_id=event.round_id,
                        nomination_id=str(event.nomination_id),
                        events=[e.type for e in recorded],
                    )
            case _:
                pass

    async def _react(
        self,
        conn: asyncpg.Connection,
        cause: RecordedEvent,
        round_id: str,
        decide_fn: Callable[[RoundPublicity], list[PublicityEvent]],
    ) -> list[RecordedEvent]:
        """Load → decide → append in the consumer's transaction, retried on conflict."""
        store = self.runtime.store
        stream_id = publicity_stream_id(round_id)
        meta = EventMetadata(
            actor=SYSTEM,
            correlation_id=cause.metadata.correlation_id,
            causation_id=str(cause.event_id),
        )
        for attempt in range(1, _RETRIES + 1):
            stream = await store.load(stream_id, conn=conn)
            state = state_from(
                round_id, (self.runtime.registry.decode_recorded(e) for e in stream.events)
            )
            events = decide_fn(state)
            if not events:
                return []
            new = [
                NewEvent.of(
                    e, meta, event_id=uuid.uuid5(_REACTION_NAMESPACE, f"{cause.event_id}/{i}")
                )
                for i, e in enumerate(events)
            ]
            try:
                async with conn.transaction():  # a savepoint: a conflict undoes this attempt
                    recorded = await store.append(
                        stream_id, new, expected_version=stream.version, conn=conn
                    )
            except ConcurrencyError:
                if attempt == _RETRIES:
                    raise
                continue
            await projections.project(conn, recorded)
            # No relay.wake() here: the append's NOTIFY reaches the relay when this commits.
            return recorded
        raise AssertionError("unreachable")

    # --- The workflow commands --------------------------------------------------------------

    async def round_of(self, material_id: uuid.UUID) -> str:
        round_id = await self.runtime.store.pool.fetchval(
            "SELECT round_id FROM materials WHERE material_id = $1", material_id
        )
        if round_id is None:
            raise MaterialNotFound(material_id=material_id)
        return str(round_id)

    async def command(self, cmd: MaterialWorkflowCommand) -> dict[str, Any]:
        round_id = await self.round_of(cmd.material_id)
        now = self.runtime.clock.now()
        recorded = await self.runtime.execute(
            publicity_stream_id(round_id),
            evolve,
            initial_state(round_id),
            lambda state: decide(state, cmd, now, self.policy),
            cmd.actor,
        )
        revision = await self.runtime.store.pool.fetchrow(
            "SELECT revision, status FROM materials WHERE material_id = $1", cmd.material_id
        )
        corrections = [
            str(r.data["material_id"]) for r in recorded if r.type == "CorrectionNoteDrafted"
        ]
        return {
            **outcome(recorded),
            **({"correction_id": corrections[0]} if corrections else {}),
            "material_id": str(cmd.material_id),
            "revision": revision["revision"] if revision else None,
            "status": revision["status"] if revision else None,
        }
