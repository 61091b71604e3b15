"""Use cases: drafting on a published result, reacting to a revocation, the workflow commands.

A reaction to review's events runs inside the consumer's transaction through the one
reaction path (shared.reaction): the inbox row, the appended events and their projection
commit together. Its event ids derive from the
causing event's id, and the decider drafts a round only once, so a result delivered twice
— the same message again, or another copy of it — drafts nothing the second time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from services.publicity import photos
from services.publicity.domain import (
    Consents,
    MeetingRule,
    PhotoGiven,
    PublicityPolicy,
    RoundPublicity,
    attach_photo,
    decide,
    draft_on_result,
    evolve,
    initial_state,
    react_to_revocation,
)
from services.publicity.errors import MaterialNotFound
from shared.calendar import WorkingCalendar
from shared.contracts.nomination import PublicityConsent
from shared.contracts.publicity import publicity_stream_id
from shared.contracts.publicity_commands import (
    SYSTEM,
    AttachWinnerPhoto,
    MaterialWorkflowCommand,
)
from shared.contracts.review import ResultPublished, WinnerRevoked
from shared.events import DomainEvent, EventMetadata, RecordedEvent
from shared.logging import get_logger
from shared.projection import Items
from shared.reaction import Emit, Guard, Reaction
from shared.service import ServiceRuntime
from shared.settings import Settings

log = get_logger(__name__)

_REACTION_NAMESPACE = uuid.UUID("0b6f4a52-2f1e-5d8c-b7a3-4c1e9d2a6f10")


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
        without_consent=dict(settings.public_without_consent),
        calendar=WorkingCalendar.of(
            [date.fromisoformat(d) for d in settings.calendar_extra_holidays],
            [date.fromisoformat(d) for d in settings.calendar_extra_workdays],
        ),
    )


def _round_of(_: object, __: RecordedEvent, event: DomainEvent) -> dict[str, RoundPublicity]:
    if isinstance(event, ResultPublished | WinnerRevoked):
        return {publicity_stream_id(event.round_id): initial_state(event.round_id)}
    return {}


def _reaction_metadata(cause: RecordedEvent) -> EventMetadata:
    return EventMetadata(
        actor=SYSTEM,
        correlation_id=cause.metadata.correlation_id,
        causation_id=str(cause.event_id),
    )


async def _log_reactions(recorded: list[RecordedEvent]) -> None:
    for e in recorded:
        if e.type == "MaterialsDrafted":
            years = e.data.get("calendar_fallback_years") or []
            if years:
                log.warning(
                    "meeting_date_without_official_calendar",
                    round_id=e.data.get("round_id"),
                    years=years,
                    meeting_date=e.data.get("meeting_date"),
                )
            log.info("materials_drafted", round_id=e.data.get("round_id"))
        else:
            log.info("revocation_handled", stream_id=e.stream_id, type=e.type)


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
        self.files = photos.store_for(runtime.settings)
        # Reactions to review's events (the drafts consumer), through the one reaction path.
        self.drafts: Reaction[RoundPublicity, tuple[datetime, Consents]] = Reaction(
            evolve=evolve,
            streams=_round_of,
            decide=self._decide,
            metadata=_reaction_metadata,
            prepare=self._prepare,
            appended=_log_reactions,
        )

    async def _prepare(self, conn: asyncpg.Connection, items: Items) -> tuple[datetime, Consents]:
        """The time, and the consent of every winner of the results in the batch (heard from
        nomination by the statistics consumer; a winner it has not heard of: not recorded)."""
        ids = [
            w.nomination_id
            for _, event in items
            if isinstance(event, ResultPublished)
            for w in event.winners
        ]
        consents: dict[uuid.UUID, PublicityConsent | None] = {}
        if ids:
            for row in await conn.fetch(
                "SELECT nomination_id, consent FROM publicity_consents "
                "WHERE nomination_id = ANY($1::uuid[])",
                ids,
            ):
                consent = row["consent"]
                consents[row["nomination_id"]] = (
                    None if consent is None else PublicityConsent.model_validate(consent)
                )
        return self.runtime.clock.now(), consents

    def _decide(
        self,
        context: tuple[datetime, Consents],
        cause: RecordedEvent,
        event: DomainEvent,
        states: Mapping[str, RoundPublicity],
    ) -> list[Emit | Guard]:
        now, consents = context
        match event:
            case ResultPublished():
                state = states[publicity_stream_id(event.round_id)]
                events = draft_on_result(state, event, cause.event_id, now, self.policy, consents)
            case WinnerRevoked():
                state = states[publicity_stream_id(event.round_id)]
                events = react_to_revocation(state, event, now, self.policy)
            case _:
                return []
        if not events:
            return []
        ids = [uuid.uuid5(_REACTION_NAMESPACE, f"{cause.event_id}/{i}") for i in range(len(events))]
        return [Emit(publicity_stream_id(event.round_id), events, ids)]

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

    async def attach_photo(self, cmd: AttachWinnerPhoto) -> dict[str, Any]:
        """Check and resize the photo, keep it in the file store, record it on the round."""
        data = photos.decode_base64(cmd.photo)
        max_px = self.runtime.settings.publicity_photo_max_px
        prepared = await asyncio.to_thread(photos.prepare, data, max_px)
        # Kept before it is recorded: an event never names bytes the store lacks (a photo
        # kept but not recorded, when the decision refuses, is only an unused file).
        sha256 = await asyncio.to_thread(self.files.put, prepared.jpeg)
        given = PhotoGiven(
            actor=cmd.actor,
            roles=cmd.roles,
            nomination_id=cmd.nomination_id,
            sha256=sha256,
            width=prepared.width,
            height=prepared.height,
            size=len(prepared.jpeg),
        )
        now = self.runtime.clock.now()
        recorded = await self.runtime.execute(
            publicity_stream_id(cmd.round_id),
            evolve,
            initial_state(cmd.round_id),
            lambda state: attach_photo(state, given, now),
            cmd.actor,
        )
        return {
            **outcome(recorded),
            "round_id": cmd.round_id,
            "nomination_id": str(cmd.nomination_id),
            "sha256": sha256,
            "width": prepared.width,
            "height": prepared.height,
        }
