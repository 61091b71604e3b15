"""The scrub's own rules (shared/scrub.py), without servers: which keys a privacy fact names,
that a fact is never taken while a key it names still exists, and that every process
forgets the keys a fact names as soon as it hears it. The scrub itself runs against real
services in tests/e2e/test_erasure.py and tests/nomination/test_retention.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import scrub
from shared.contracts.nomination import (
    ExpiredPersonalDataShredded,
    PersonalDataErased,
    ShreddedSubject,
)
from shared.events import EventMetadata, RecordedEvent
from shared.personal_data import KEYRING, InMemoryKeyStore
from shared.reaction import StateCache

NOW = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)


def envelope(event: PersonalDataErased | ExpiredPersonalDataShredded) -> RecordedEvent:
    return RecordedEvent(
        position=1,
        stream_id="privacy",
        version=1,
        event_id=uuid.uuid4(),
        type=event.event_type,
        schema_version=event.schema_version,
        data=event.to_data(),
        metadata=EventMetadata(actor="office-1", correlation_id="c"),
        recorded_at=NOW,
        prev_hash="0" * 64,
        hash="1" * 64,
    )


def erasure(subject_id: uuid.UUID) -> PersonalDataErased:
    return PersonalDataErased(
        subject_id=subject_id, reason="本人申请", erased_by="office-1", erased_at=NOW
    )


def expiry(*subject_ids: uuid.UUID) -> ExpiredPersonalDataShredded:
    return ExpiredPersonalDataShredded(
        subjects=tuple(
            ShreddedSubject(subject_id=s, rule="unsuccessful_nomination", expired_at=NOW)
            for s in subject_ids
        ),
        counts={"unsuccessful_nomination": len(subject_ids)},
        years={"unsuccessful_nomination": 3},
        ran_at=NOW,
    )


def test_both_privacy_facts_name_the_keys_they_destroy() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert scrub.erased_subjects(erasure(a)) == [a]
    assert scrub.erased_subjects(expiry(a, b)) == [a, b]
    assert scrub.SUBJECTS == (
        "flowers.evt.nomination.PersonalDataErased",
        "flowers.evt.nomination.ExpiredPersonalDataShredded",
    )
    assert scrub.consumer_name("review") == "review-privacy"


async def test_a_fact_is_not_taken_while_a_key_it_names_still_exists() -> None:
    keys = InMemoryKeyStore()
    subjects = await keys.subjects_for(["E1", "E2"])
    scrubber = scrub.Scrubber("review", lambda: keys, lambda: None, key_wait_s=0.05)
    fact = expiry(subjects["E1"].subject_id, subjects["E2"].subject_id)
    await keys.shred("E1")  # the job was killed after destroying one of the two keys
    # It fails before it touches a table: the consumer does not acknowledge, the fact comes
    # back after the back-off.
    conn: Any = None
    with pytest.raises(scrub.KeyStillThere):
        await scrubber(conn, [(envelope(fact), fact)])
    assert scrubber.scrubbed == 0


async def test_the_scrub_waits_for_a_key_being_destroyed() -> None:
    class DestroyedAfterTheFirstLook(InMemoryKeyStore):
        looks = 0

        async def keys(self, subject_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bytes | None]:
            found = await super().keys(subject_ids)
            self.looks += 1
            if self.looks == 1:  # the job destroys it right after the scrub first looked
                await self.shred("E1")
            return found

    keys = DestroyedAfterTheFirstLook()
    subject = (await keys.subjects_for(["E1"]))["E1"].subject_id
    await scrub.await_destroyed(keys, [subject], timeout_s=5.0, poll_s=0.01)
    assert keys.looks >= 2  # it found the key, waited, and looked again
    assert await keys.keys([subject]) == {subject: None}


async def test_every_process_forgets_the_keys_a_fact_names_at_once() -> None:
    keys = InMemoryKeyStore()
    subject = (await keys.subjects_for(["E1"]))["E1"].subject_id
    KEYRING.install(keys)
    try:
        await KEYRING.load([subject])
        assert KEYRING.key(subject) is not None  # held for 30 s
        # Another process destroyed it and recorded the fact: this one hears it on NATS.
        fact = erasure(subject)
        assert scrub.forget_named(envelope(fact).model_dump_json().encode()) == [subject]
        assert KEYRING.key(subject) is None  # the 30 s are not waited for
    finally:
        KEYRING.uninstall(keys)


def test_a_scrub_drops_the_folded_states() -> None:
    states = StateCache()
    states.put("round-2026-Q4", "evolve", 3, {"name": "张三"})
    states.clear()
    assert states.get("round-2026-Q4", "evolve") is None
