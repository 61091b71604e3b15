"""Personal fields declared, sealed per data subject, opened or erased (pure: no server)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator, Sequence
from typing import ClassVar

import pytest
from pydantic import BaseModel

from shared.events import DomainEvent, EventMetadata, EventRegistry, NewEvent
from shared.personal_data import (
    ERASED,
    KEYRING,
    InMemoryKeyStore,
    Keyring,
    KeysNotLoaded,
    Mark,
    PersonalFields,
    Subject,
    TamperedValue,
    load_keys,
    marks,
    open_data,
    seal_data,
    subject_ids,
)


class Person(BaseModel):
    personal_data: ClassVar[PersonalFields] = PersonalFields("employee_no", ("name",))

    employee_no: str
    name: str
    unit_code: str


class Praised(DomainEvent):
    service: ClassVar[str] = "test"
    personal_data: ClassVar[PersonalFields] = PersonalFields("person.employee_no", ("deeds",))

    person: Person
    deeds: str
    flowers: int
    others: tuple[Person, ...] = ()


REGISTRY = EventRegistry([Praised])


def praised() -> Praised:
    return Praised(
        person=Person(employee_no="E001", name="张三", unit_code="U01"),
        deeds="连续三年零事故",
        flowers=2,
        others=(Person(employee_no="E002", name="李四", unit_code="U02"),),
    )


@pytest.fixture
def keys() -> Iterator[InMemoryKeyStore]:
    store = InMemoryKeyStore()
    KEYRING.install(store)
    try:
        yield store
    finally:
        KEYRING.uninstall(store)


def test_an_event_names_each_personal_value_and_whose_it_is() -> None:
    assert set(marks(praised())) == {
        Mark(("person", "employee_no"), "E001", identifying=True),
        Mark(("person", "name"), "E001"),
        Mark(("deeds",), "E001"),
        Mark(("others", 0, "employee_no"), "E002", identifying=True),
        Mark(("others", 0, "name"), "E002"),
    }


def test_values_read_back_erased_are_not_sealed_again() -> None:
    erased = Praised(
        person=Person(employee_no=f"{ERASED}·5f0c8a4e", name=ERASED, unit_code="U01"),
        deeds=ERASED,
        flowers=2,
    )
    assert marks(erased) == ()


def test_a_new_event_carries_its_marks_but_never_stores_them() -> None:
    new = NewEvent.of(praised(), EventMetadata())
    assert len(new.personal) == 5
    assert "personal" not in new.model_dump()


async def test_sealed_data_holds_no_personal_value_and_opens_to_the_original(
    keys: InMemoryKeyStore,
) -> None:
    event = praised()
    new = NewEvent.of(event, EventMetadata())
    subjects = await keys.subjects_for(["E001", "E002"])
    sealed = seal_data(new.data, new.event_id, new.personal, subjects)

    text = str(sealed)
    for clear in ("E001", "张三", "连续三年零事故", "E002", "李四"):
        assert clear not in text
    assert sealed["flowers"] == 2  # facts stay
    assert sealed["person"]["unit_code"] == "U01"
    assert subject_ids(sealed) == {subjects["E001"].subject_id, subjects["E002"].subject_id}

    await load_keys([sealed])
    assert REGISTRY.decode("Praised", 1, sealed, new.event_id) == event
    assert new.data == event.to_data()  # the clear data was copied, not changed


async def test_a_ciphertext_moved_to_another_field_or_event_does_not_open(
    keys: InMemoryKeyStore,
) -> None:
    new = NewEvent.of(praised(), EventMetadata())
    subjects = await keys.subjects_for(["E001", "E002"])
    sealed = seal_data(new.data, new.event_id, new.personal, subjects)
    await load_keys([sealed])

    swapped = copy.deepcopy(sealed)
    swapped["deeds"] = sealed["person"]["name"]
    with pytest.raises(TamperedValue):
        REGISTRY.decode("Praised", 1, swapped, new.event_id)
    with pytest.raises(TamperedValue):
        REGISTRY.decode("Praised", 1, sealed, uuid.uuid4())


async def test_a_destroyed_key_reads_erased_and_the_facts_stay(keys: InMemoryKeyStore) -> None:
    new = NewEvent.of(praised(), EventMetadata())
    subjects = await keys.subjects_for(["E001", "E002"])
    sealed = seal_data(new.data, new.event_id, new.personal, subjects)

    gone = await keys.shred("E001")
    assert gone == subjects["E001"].subject_id
    KEYRING.forget(gone)
    await load_keys([sealed])
    event = REGISTRY.decode("Praised", 1, sealed, new.event_id)

    assert isinstance(event, Praised)
    assert event.person.name == ERASED
    assert event.deeds == ERASED
    # The employee number is a key to projections: erased ones stay apart from each other.
    assert event.person.employee_no == f"{ERASED}·{gone.hex[:8]}"
    assert event.person.unit_code == "U01"
    assert event.flowers == 2
    assert event.others[0].name == "李四"  # another subject's data is untouched


def test_data_written_before_encryption_reads_as_it_always_did() -> None:
    event = praised()
    assert REGISTRY.decode("Praised", 1, event.to_data(), uuid.uuid4()) == event


async def test_a_sealed_value_met_without_its_key_fetched_is_an_error_not_a_guess() -> None:
    new = NewEvent.of(praised(), EventMetadata())
    subjects = await InMemoryKeyStore().subjects_for(["E001", "E002"])
    sealed = seal_data(new.data, new.event_id, new.personal, subjects)
    with pytest.raises(KeysNotLoaded):
        open_data(sealed, new.event_id, Keyring().key)


async def test_the_keyring_fetches_in_bulk_and_again_only_after_its_time() -> None:
    calls: list[list[uuid.UUID]] = []
    store = InMemoryKeyStore()
    subjects = await store.subjects_for(["E001", "E002"])
    ids = [s.subject_id for s in subjects.values()]

    class Counting(InMemoryKeyStore):
        async def keys(self, subject_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bytes | None]:
            calls.append(list(subject_ids))
            return await store.keys(subject_ids)

    now = [0.0]
    ring = Keyring(ttl_s=30, clock=lambda: now[0])
    ring.install(Counting())
    await ring.load(ids)
    await ring.load(ids)
    assert len(calls) == 1
    assert sorted(calls[0]) == sorted(ids)

    await store.shred("E001")
    now[0] = 31.0
    await ring.load(ids)
    assert len(calls) == 2
    assert ring.key(subjects["E001"].subject_id) is None  # the erasure seen after the TTL
    assert ring.key(subjects["E002"].subject_id) == subjects["E002"].key


async def test_the_keyring_holds_subjects_for_sealing_until_forgotten_or_their_time() -> None:
    asked: list[list[str]] = []

    class Counting(InMemoryKeyStore):
        async def subjects_for(self, employee_nos: Sequence[str]) -> dict[str, Subject]:
            asked.append(list(employee_nos))
            return await super().subjects_for(employee_nos)

    store = Counting()
    now = [0.0]
    ring = Keyring(ttl_s=30, clock=lambda: now[0])
    ring.install(store)

    first = await ring.subjects_for(["E001", "E002"])
    again = await ring.subjects_for(["E002", "E001"])
    assert again == first
    assert asked == [["E001", "E002"]]  # the second append asked the key store nothing
    assert ring.key(first["E001"].subject_id) == first["E001"].key  # and its keys are held

    mixed = await ring.subjects_for(["E001", "E003"])
    assert mixed["E001"] == first["E001"]
    assert asked[-1] == ["E003"]  # only the one not held

    # Erased in this process (or told of it): within the window their values are sealed as
    # erased under the old pseudonym, the store asked nothing; after it, a new subject.
    gone = await store.shred("E001")
    assert gone == first["E001"].subject_id
    ring.forget(gone)
    calls = len(asked)
    within = await ring.subjects_for(["E001", "E002"])
    assert len(asked) == calls
    assert within["E001"].subject_id == gone
    assert within["E001"].erased
    assert within["E002"] == first["E002"]

    # Held no longer than the keys are: past the TTL it asks again.
    now[0] = 31.0
    await ring.subjects_for(["E002"])
    assert asked[-1] == ["E002"]

    now[0] = ring.erased_window_s + 1
    after = await ring.subjects_for(["E001"])
    assert asked[-1] == ["E001"]
    assert after["E001"].subject_id != gone
    assert not after["E001"].erased


async def test_a_value_opened_before_an_erasure_is_sealed_after_it_as_erased() -> None:
    # A reaction opened the nominee's values (decoding only: this process never sealed for
    # them), the office erased them, and the reaction appends a new event naming them.
    store = InMemoryKeyStore()
    new = NewEvent.of(praised(), EventMetadata())
    written = seal_data(
        new.data, new.event_id, new.personal, await store.subjects_for(["E001", "E002"])
    )
    now = [0.0]
    ring = Keyring(ttl_s=30, clock=lambda: now[0])
    ring.install(store)
    await ring.load(subject_ids(written))
    seen: dict[str, object] = {}
    assert open_data(written, new.event_id, ring.key, seen=seen) == new.data
    ring.note_opened(seen)
    gone = store.subjects["E001"].subject_id

    assert await store.shred("E001") == gone
    ring.forget(gone)  # the privacy fact heard (shared/scrub.py forget_named)
    now[0] = 60.0  # the reaction appends late, after the keys' TTL

    reaction = NewEvent.of(praised(), EventMetadata())
    subjects = await ring.subjects_for(["E001", "E002"])
    sealed = seal_data(reaction.data, reaction.event_id, reaction.personal, subjects)
    assert "E001" not in store.subjects  # no new subject: nothing under a live key
    assert subject_ids(sealed) == {gone, store.subjects["E002"].subject_id}
    assert "张三" not in str(sealed)
    assert "E001" not in str(sealed)
    assert "连续三年零事故" not in str(sealed)
    await ring.load(subject_ids(sealed))
    read = open_data(sealed, reaction.event_id, ring.key)
    assert read["person"]["name"] == ERASED
    assert read["deeds"] == ERASED
    assert read["person"]["employee_no"] == f"{ERASED}·{gone.hex[:8]}"
    assert read["others"][0]["name"] == "李四"

    # After the window a genuinely new event of that employee number gets a new subject.
    now[0] = ring.erased_window_s + 1
    later = await ring.subjects_for(["E001"])
    assert later["E001"].subject_id != gone
    assert not later["E001"].erased
    assert store.subjects["E001"] == later["E001"]


async def test_a_subject_forgotten_unknown_here_leaves_sealing_as_it_was() -> None:
    # Neither sealed for nor opened in this process: nothing to remember by employee number.
    store = InMemoryKeyStore()
    ring = Keyring(ttl_s=30, clock=lambda: 0.0)
    ring.install(store)
    await store.subjects_for(["E001"])
    gone = await store.shred("E001")
    assert gone is not None
    ring.forget(gone)
    assert ring.key(gone) is None
    assert not (await ring.subjects_for(["E001"]))["E001"].erased


async def test_another_key_store_installed_is_asked_anew_never_sealed_under_the_last_ones() -> None:
    first, second = InMemoryKeyStore(), InMemoryKeyStore()
    ring = Keyring(ttl_s=30, clock=lambda: 0.0)
    ring.install(first)
    held = await ring.subjects_for(["E001"])
    ring.install(second)  # another service of the process, or the next test's own store
    now_held = await ring.subjects_for(["E001"])
    assert now_held["E001"] == (await second.subjects_for(["E001"]))["E001"]
    assert now_held["E001"].subject_id != held["E001"].subject_id
    ring.uninstall(second)  # back to the first: asked of it again, not of the second's
    assert (await ring.subjects_for(["E001"]))["E001"] == held["E001"]


async def test_an_erasure_in_another_key_store_does_not_erase_the_same_number_here() -> None:
    # One process, two key stores one after the other (a test after another, each with its
    # own database), the first never uninstalled: E001 erased in the first is a different
    # person in the second, sealed under their own live key there.
    first, second = InMemoryKeyStore(), InMemoryKeyStore()
    ring = Keyring(ttl_s=30, clock=lambda: 0.0)
    ring.install(first)
    gone = (await ring.subjects_for(["E001"]))["E001"].subject_id
    assert await first.shred("E001") == gone
    ring.forget(gone)
    assert (await ring.subjects_for(["E001"]))["E001"].erased  # in the first store: erased

    ring.install(second)
    here = (await ring.subjects_for(["E001"]))["E001"]
    assert not here.erased
    assert here == second.subjects["E001"]
    assert here.subject_id != gone
