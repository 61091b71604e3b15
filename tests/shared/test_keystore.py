"""The key store on a real PostgreSQL, and the event store sealing personal values with it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from shared.events import EventMetadata, NewEvent
from shared.keystore import KEYSTORE_SCHEMA, PostgresKeyStore
from shared.personal_data import ERASED, KEYRING
from shared.postgres import PostgresEventStore, create_pool, ensure_database
from shared.settings import with_database
from tests.shared.test_personal_data import REGISTRY, Praised, praised


@pytest.fixture
async def keystore(pg_url: str, db_prefix: str) -> AsyncIterator[PostgresKeyStore]:
    name = f"{db_prefix}keys"
    await ensure_database(pg_url, name)
    pool = await create_pool(with_database(pg_url, name), max_size=4)
    await pool.execute(KEYSTORE_SCHEMA)
    store = PostgresKeyStore(pool)
    KEYRING.install(store)
    try:
        yield store
    finally:
        KEYRING.uninstall(store)
        await pool.close()


async def test_a_subject_is_made_once_even_when_two_ask_at_the_same_time(
    keystore: PostgresKeyStore,
) -> None:
    first, second = await asyncio.gather(
        keystore.subjects_for(["E001", "E002"]), keystore.subjects_for(["E002", "E003"])
    )
    assert first["E002"] == second["E002"]
    again = await keystore.subjects_for(["E001"])
    assert again["E001"] == first["E001"]
    assert len(first["E001"].key) == 32
    assert first["E001"].subject_id != first["E002"].subject_id


async def test_shredding_destroys_the_key_and_the_employee_number_once(
    keystore: PostgresKeyStore,
) -> None:
    subjects = await keystore.subjects_for(["E001", "E002"])
    gone = subjects["E001"].subject_id
    assert await keystore.subject_of("E001") == gone

    assert await keystore.shred(gone, datetime.now(UTC)) is True
    assert await keystore.shred(gone, datetime.now(UTC)) is False  # a repeated erasure

    keys = await keystore.keys([gone, subjects["E002"].subject_id, uuid.uuid4()])
    assert keys[gone] is None
    assert keys[subjects["E002"].subject_id] == subjects["E002"].key
    row = await keystore.pool.fetchrow("SELECT * FROM data_subjects WHERE subject_id = $1", gone)
    assert row is not None
    assert row["employee_no"] is None
    assert row["key"] is None
    assert row["shredded_at"] is not None
    # Data recorded after an erasure is sealed under a new pseudonym and key.
    assert (await keystore.subjects_for(["E001"]))["E001"].subject_id != gone


async def test_the_log_stores_only_ciphertext_and_its_chain_holds_after_a_shred(
    keystore: PostgresKeyStore, pool: asyncpg.Pool
) -> None:
    store = PostgresEventStore(pool)
    event = praised()
    await store.append("praise-1", [NewEvent.of(event, EventMetadata(actor="office"))])

    stored = await pool.fetchval("SELECT data::text FROM events")
    for clear in ("E001", "张三", "连续三年零事故", "E002", "李四"):
        assert clear not in stored
    assert '"flowers": 2' in stored  # facts stay readable

    loaded = (await store.load("praise-1")).events
    assert REGISTRY.decode_recorded(loaded[0]) == event

    subject = await keystore.subject_of("E001")
    assert subject is not None
    await keystore.shred(subject, datetime.now(UTC))
    KEYRING.forget(subject)

    report = await store.verify_chain()
    assert report.ok
    assert report.checked == 1
    erased = REGISTRY.decode_recorded((await store.load("praise-1")).events[0])
    assert isinstance(erased, Praised)
    assert erased.person.name == ERASED
    assert erased.deeds == ERASED
    assert erased.others[0].name == "李四"
    assert erased.flowers == 2


async def test_a_log_written_before_encryption_reads_and_verifies_beside_sealed_events(
    keystore: PostgresKeyStore, pool: asyncpg.Pool
) -> None:
    store = PostgresEventStore(pool)
    event = praised()
    # As the code before encryption wrote it: in clear (no key source in this process; an
    # earlier test of the same worker may have left one installed, so all are set aside).
    installed = list(KEYRING._sources)
    for source in installed:
        KEYRING.uninstall(source)
    try:
        await store.append("praise-1", [NewEvent.of(event, EventMetadata(actor="office"))])
    finally:
        for source in installed:
            KEYRING.install(source)
    if keystore not in installed:
        KEYRING.install(keystore)
    await store.append("praise-1", [NewEvent.of(event, EventMetadata(actor="office"))])

    stored = [r["data"] for r in await pool.fetch("SELECT data FROM events ORDER BY position")]
    assert stored[0]["person"]["name"] == "张三"  # the old row, untouched
    assert stored[1]["person"]["name"] != "张三"  # the new one, sealed
    assert (await store.verify_chain()).ok
    loaded = (await store.load("praise-1")).events
    assert [REGISTRY.decode_recorded(e) for e in loaded] == [event, event]


async def test_a_reaction_appending_after_an_erasure_never_makes_a_new_subject(
    keystore: PostgresKeyStore, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(KEYRING, "_clock", lambda: now[0])
    store = PostgresEventStore(pool)
    await store.append("praise-1", [NewEvent.of(praised(), EventMetadata(actor="office"))])
    # Another process (review's feed) decodes the event: it opens E001's values without
    # ever having sealed for them (its own key store connection; nothing held for sealing).
    reader = PostgresKeyStore(keystore.pool)
    KEYRING.install(reader)
    try:
        decoded = REGISTRY.decode_recorded((await store.load("praise-1")).events[0])
        assert isinstance(decoded, Praised)
        assert decoded.person.employee_no == "E001"

        gone = await keystore.subject_of("E001")
        assert gone is not None
        assert await keystore.shred(gone, datetime.now(UTC))
        KEYRING.forget(gone)  # the privacy fact heard
        now[0] += 120.0  # the reaction appends late

        subjects = "SELECT count(*) FROM data_subjects"
        before = await keystore.pool.fetchval(subjects)
        await store.append("praise-1", [NewEvent.of(decoded, EventMetadata(actor="review"))])
        assert await keystore.pool.fetchval(subjects) == before  # no new subject
        assert await keystore.subject_of("E001") is None
        stored = await pool.fetchval("SELECT data::text FROM events ORDER BY position DESC")
        for clear in ("E001", "张三", "连续三年零事故"):
            assert clear not in stored
        assert str(gone) in stored  # sealed under the erased pseudonym
        late = REGISTRY.decode_recorded((await store.load("praise-1")).events[1])
        assert isinstance(late, Praised)
        assert late.person.name == ERASED
        assert late.deeds == ERASED
        assert late.person.employee_no == f"{ERASED}·{gone.hex[:8]}"
        assert late.others[0].name == "李四"
        assert (await store.verify_chain()).ok

        # After the window a genuinely new event of that employee number: a new subject.
        now[0] += KEYRING.erased_window_s
        await store.append("praise-2", [NewEvent.of(praised(), EventMetadata(actor="office"))])
        again = await keystore.subject_of("E001")
        assert again is not None
        assert again != gone
        assert REGISTRY.decode_recorded((await store.load("praise-2")).events[0]) == praised()
    finally:
        KEYRING.uninstall(reader)
