"""Personal data in events: declared per model, encrypted per data subject, shredded by key.

A model lists its personal fields and whose they are (`personal_data: ClassVar[
PersonalFields]`). `marks(model)` finds every such field in an event (nested models and
tuples of them included) with the employee number of its data subject. Before an event is
stored, each marked value is replaced by a sealed value that names the subject by a
random pseudonym and carries the value encrypted with that subject's own AES-256-GCM key:

    {"$pii": "<subject id>", "ct": "<base64 of nonce + ciphertext>"}          (+ "key": true)

The associated data is the event's id and the field's path in the event's data, so a
ciphertext cannot be moved to another field or event. The hash chain is computed over the
stored form, so it covers the ciphertext and still verifies once a key is destroyed.

Reading opens sealed values with the keys the process holds (`KEYRING`: fetched in bulk
for a batch of events by `load_keys`, kept for a short time); where a subject's key has
been destroyed the value reads `ERASED` ("已删除"), and an identifying field (`"key": true`,
the subject's employee number, used as a key by projections) reads `已删除·<8 hex of the
pseudonym>`, so two erased people never collide. Values that are not sealed (logs written
before encryption) read as they are: the event's meaning never changed, only its storage.

The key store itself (PostgreSQL, outside every log) is `shared.keystore`; this module is
pure apart from the keyring's calls to it.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from datetime import time as time_
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args, get_origin
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

if TYPE_CHECKING:
    from shared.events import RecordedEvent
    from shared.eventstore import AppendRequest

ERASED = "已删除"
MARKER = "$pii"
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256
DEFAULT_TTL_S = 30.0
# How long a process remembers the employee numbers of the subjects it forgot (at least the
# keyring's TTL): a reaction that opened an erased person's value before the shred and
# appends after it is sealed as erased within this window (`Keyring.subjects_for`).
ERASED_WINDOW_S = 300.0

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class PersonalFields:
    """A model's personal fields and whose they are.

    `subject` is the dotted path (from this model) to the data subject's employee number;
    when it names a field of this model itself, that field is personal too (identifying).
    `fields` are this model's other personal fields.
    """

    subject: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mark:
    """One personal value in an event's data: where it is and whose it is."""

    path: Path
    employee_no: str
    identifying: bool = False


@dataclass(frozen=True)
class Subject:
    """A data subject as the key store knows them: a random pseudonym and their key.

    `erased`: a subject this process forgot lately (`Keyring.subjects_for`); `key` is then a
    throwaway key kept nowhere, and every value sealed for them is written as already erased.
    """

    subject_id: uuid.UUID
    key: bytes
    erased: bool = False


class KeysNotLoaded(Exception):
    """A sealed value met before its subject's key was fetched (`load_keys` not called)."""


class TamperedValue(Exception):
    """A sealed value that its key does not open: moved, altered or forged."""


# --- Declarations ---------------------------------------------------------------------------


def marks(model: BaseModel) -> tuple[Mark, ...]:
    """Every personal value in `model` (its fields' paths as `model_dump` spells them)."""
    found: list[Mark] = []
    _walk(model, (), found)
    return tuple(found)


def _walk(value: object, path: Path, found: list[Mark]) -> None:
    if isinstance(value, BaseModel):
        declared = getattr(type(value), "personal_data", None)
        if isinstance(declared, PersonalFields):
            employee_no = _attribute(value, declared.subject)
            # An erased subject's values (read back as 已删除) hold nothing to seal.
            if isinstance(employee_no, str) and employee_no and not employee_no.startswith(ERASED):
                if "." not in declared.subject:
                    found.append(Mark((*path, declared.subject), employee_no, identifying=True))
                for name in declared.fields:
                    if getattr(value, name) is not None:
                        found.append(Mark((*path, name), employee_no))
        for name in _fields_to_walk(type(value)):
            _walk(getattr(value, name), (*path, name), found)
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            _walk(item, (*path, index), found)


# Types whose values can hold no model (so no personal field): a field built of these
# alone (and of containers, unions and literals of them) is not walked.
_LEAVES: tuple[type, ...] = (str, int, float, bool, bytes, Decimal, date, time_, UUID, Enum)
_WALKED: dict[type[BaseModel], tuple[str, ...]] = {}


def _fields_to_walk(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model` that may hold a model (walked by `marks`), found once a class."""
    names = _WALKED.get(model)
    if names is None:
        names = _WALKED[model] = tuple(
            name for name, info in model.model_fields.items() if not _leaf(info.annotation)
        )
    return names


def _leaf(annotation: object) -> bool:
    if annotation is None or annotation is type(None):
        return True
    if get_origin(annotation) is Literal:
        return True
    if isinstance(annotation, type) and get_origin(annotation) is None:
        return issubclass(annotation, _LEAVES)
    args = get_args(annotation)
    return bool(args) and all(a is Ellipsis or _leaf(a) for a in args)


def _attribute(model: BaseModel, dotted: str) -> object:
    value: object = model
    for name in dotted.split("."):
        value = getattr(value, name, None)
    return value


# --- Sealing and opening (pure) -------------------------------------------------------------


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


_CIPHERS: dict[bytes, AESGCM] = {}
_CIPHERS_MAX = 10_000


def _cipher(key: bytes) -> AESGCM:
    """One AESGCM per key (making one costs more than a short value's encryption)."""
    cipher = _CIPHERS.get(key)
    if cipher is None:
        if len(_CIPHERS) >= _CIPHERS_MAX:
            _CIPHERS.clear()
        cipher = _CIPHERS[key] = AESGCM(key)
    return cipher


def associated_data(event_id: uuid.UUID, path: Path) -> bytes:
    return f"{event_id}/{'/'.join(str(p) for p in path)}".encode()


def seal_value(
    subject: Subject, event_id: uuid.UUID, path: Path, value: Any, *, identifying: bool = False
) -> dict[str, Any]:
    """`value` (any JSON) encrypted under the subject's key, bound to the event and path.

    For an erased subject the value itself is never written: `ERASED` is sealed in its
    place under the erased pseudonym, with a key kept nowhere, so it reads as every other
    value of theirs does (`erased_value`) and holds nothing of them even in ciphertext."""
    if subject.erased:
        value = ERASED
    nonce = os.urandom(NONCE_BYTES)
    clear = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    sealed = _cipher(subject.key).encrypt(nonce, clear, associated_data(event_id, path))
    out: dict[str, Any] = {
        MARKER: str(subject.subject_id),
        "ct": base64.b64encode(nonce + sealed).decode("ascii"),
    }
    if identifying:
        out["key"] = True
    return out


def is_sealed(value: object) -> bool:
    return isinstance(value, dict) and MARKER in value and "ct" in value


def erased_value(sealed: Mapping[str, Any]) -> str:
    """What a value reads once its key is gone."""
    if sealed.get("key"):
        return f"{ERASED}·{str(sealed[MARKER]).replace('-', '')[:8]}"
    return ERASED


def open_value(
    sealed: Mapping[str, Any], key: bytes | None, event_id: uuid.UUID, path: Path
) -> Any:
    if key is None:
        return erased_value(sealed)
    raw = base64.b64decode(sealed["ct"])
    try:
        clear = _cipher(key).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data(event_id, path)
        )
    except InvalidTag as exc:
        where = "/".join(str(p) for p in path)
        raise TamperedValue(f"event {event_id}: the value at {where} does not open") from exc
    return json.loads(clear)


def seal_data(
    data: dict[str, Any],
    event_id: uuid.UUID,
    found: Iterable[Mark],
    subjects: Mapping[str, Subject],
) -> dict[str, Any]:
    """A copy of `data` with each marked value sealed under its subject's key (only the
    containers on a marked path are copied; `data` itself is left as it was)."""
    out = dict(data)
    copied: set[Path] = {()}
    for mark in found:
        parent: Any = out
        for depth, step in enumerate(mark.path[:-1]):
            here = mark.path[: depth + 1]
            if here not in copied:
                parent[step] = (
                    dict(parent[step]) if isinstance(parent[step], dict) else list(parent[step])
                )
                copied.add(here)
            parent = parent[step]
        leaf = mark.path[-1]
        parent[leaf] = seal_value(
            subjects[mark.employee_no],
            event_id,
            mark.path,
            parent[leaf],
            identifying=mark.identifying,
        )
    return out


KeyLookup = Callable[[str], bytes | None]  # by the pseudonym as written
Opened = dict[str, Any]  # the identifying values opened, by the pseudonym as written


def open_data(
    data: dict[str, Any],
    event_id: uuid.UUID,
    key_of: KeyLookup,
    skip: Iterable[str] = (),
    seen: Opened | None = None,
) -> dict[str, Any]:
    """`data` with every sealed value opened (or erased); `data` itself when none is sealed.

    `skip`: top-level fields holding another event's data as it was published (sealed for
    that event: its reader opens it with that event's id). `seen`: given, it is filled with
    each identifying value opened (the subject's employee number) by its pseudonym."""
    kept = {name: data[name] for name in skip if name in data}
    rest = {name: value for name, value in data.items() if name not in kept} if kept else data
    opened = _open(rest, (), event_id, key_of, seen)
    if not isinstance(opened, dict) or (opened is rest and not kept):
        return data
    return {**opened, **kept} if kept else opened


def _open(
    value: Any, path: Path, event_id: uuid.UUID, key_of: KeyLookup, seen: Opened | None
) -> Any:
    if isinstance(value, dict):
        if is_sealed(value):
            key = key_of(value[MARKER])
            clear = open_value(value, key, event_id, path)
            if seen is not None and key is not None and value.get("key"):
                seen[value[MARKER]] = clear
            return clear
        changed = False
        out: dict[str, Any] = {}
        for name, item in value.items():
            # Only containers can hold a sealed value: leaves are kept without a call.
            if isinstance(item, _CONTAINERS):
                new = _open(item, (*path, name), event_id, key_of, seen)
            else:
                new = item
            changed = changed or new is not item
            out[name] = new
        return out if changed else value
    if isinstance(value, list):
        items = [
            _open(item, (*path, i), event_id, key_of, seen)
            if isinstance(item, _CONTAINERS)
            else item
            for i, item in enumerate(value)
        ]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items
    return value


_CONTAINERS = (dict, list)


SEALED_SHOWN = "〔加密个人信息·{subject}〕"


def masked(value: Any) -> Any:
    """`value` for display where it is not opened (the auditor's event browser): each sealed
    value as a short label naming its subject's pseudonym."""
    if isinstance(value, dict):
        if is_sealed(value):
            return SEALED_SHOWN.format(subject=str(value[MARKER])[:8])
        return {name: masked(item) for name, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def subject_ids(data: Any) -> set[uuid.UUID]:
    """The pseudonyms of every subject whose sealed values `data` holds."""
    found: set[str] = set()
    _collect(data, found)
    # Parsed once per subject: an event seals several values of one person.
    return {uuid.UUID(subject) for subject in found}


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        if is_sealed(value):
            found.add(value[MARKER])
            return
        for item in value.values():
            if isinstance(item, _CONTAINERS):
                _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, _CONTAINERS):
                _collect(item, found)


# --- The process's keys ---------------------------------------------------------------------


class KeySource(Protocol):
    """Where keys live (shared.keystore.PostgresKeyStore; InMemoryKeyStore in unit tests)."""

    async def subjects_for(self, employee_nos: Sequence[str]) -> dict[str, Subject]:
        """Each employee's subject, made (pseudonym and key) on first use."""
        ...

    async def keys(self, subject_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bytes | None]:
        """Each subject's key; None where it was destroyed (or never existed)."""
        ...

    async def shredded(self, subject_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """The ones among `subject_ids` this store holds as shredded."""
        ...


@dataclass
class InMemoryKeyStore:
    """The key store's contract in a dict: for pure unit tests."""

    subjects: dict[str, Subject] = field(default_factory=dict)
    destroyed: set[uuid.UUID] = field(default_factory=set)

    async def subjects_for(self, employee_nos: Sequence[str]) -> dict[str, Subject]:
        for employee_no in employee_nos:
            if employee_no not in self.subjects:
                self.subjects[employee_no] = Subject(uuid.uuid4(), new_key())
        return {e: self.subjects[e] for e in employee_nos}

    async def keys(self, subject_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bytes | None]:
        by_id = {s.subject_id: s.key for s in self.subjects.values()}
        return {s: by_id.get(s) for s in subject_ids}

    async def shred(self, employee_no: str) -> uuid.UUID | None:
        subject = self.subjects.pop(employee_no, None)
        if subject is None:
            return None
        self.destroyed.add(subject.subject_id)
        return subject.subject_id

    async def shredded(self, subject_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return self.destroyed & set(subject_ids)


class Keyring:
    """The keys one process holds: fetched in bulk for a batch, kept for `ttl_s` seconds.

    A destroyed key is remembered as None for the same time, so another process's
    erasure is seen here within `ttl_s` at most (this process's own at once: `forget`).

    Erased lately: the employee numbers of the subjects this process forgot — those it
    sealed for, and those whose identifying value (their employee number) it opened — are
    remembered with the erased pseudonym for `erased_window_s` (in memory only). Sealing
    for one of them in that window writes every value as already erased under that
    pseudonym (`Subject.erased`) and makes no new subject: a reaction that opened their
    values before the shred and appends after it cannot bring them back under a new key.
    """

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        erased_window_s: float = ERASED_WINDOW_S,
    ):
        self.ttl_s = ttl_s
        self.erased_window_s = max(ttl_s, erased_window_s)
        self._clock = clock
        self._sources: list[KeySource] = []
        self._keys: dict[str, tuple[bytes | None, float]] = {}  # by the pseudonym's text
        # Each employee's subject as last asked of the source, by employee number: an append
        # that seals their values again within `ttl_s` asks the key store nothing.
        self._subjects: dict[str, tuple[Subject, float]] = {}
        self._employee_of: dict[uuid.UUID, str] = {}  # the reverse, for `forget`
        # Employee numbers opened (identifying values), by the pseudonym as written, and when:
        # for `forget` in a process that read a subject's values but never sealed for them.
        self._opened: dict[str, tuple[str, float]] = {}
        # The subjects forgotten lately, by employee number: (erased pseudonym, when).
        self._erased: dict[str, tuple[uuid.UUID, float]] = {}

    @property
    def source(self) -> KeySource | None:
        return self._sources[-1] if self._sources else None

    def install(self, source: KeySource) -> None:
        """Use `source` (a process may run several services: the last one installed is used,
        all of them reach the same key store)."""
        self._sources.append(source)
        self._forget_subjects()

    def uninstall(self, source: KeySource) -> None:
        if source in self._sources:
            self._sources.remove(source)
        self._forget_subjects()
        if not self._sources:  # the process is done with this key store (a test with its own)
            self._keys.clear()
            self._opened.clear()
            self._erased.clear()

    def _forget_subjects(self) -> None:
        """Subjects are asked of the store anew whenever the sources change: a process that
        installs another key store (a test after another one, each with its own database)
        must never seal under a pseudonym the store it now writes to does not hold. Keys are
        by pseudonym, unique everywhere, and stay; so do the opened employee numbers and the
        ones erased lately (a command run inside a service's process, `keys_installed`,
        must not make the services forget who was erased), until no source is left."""
        self._subjects.clear()
        self._employee_of.clear()

    def forget(self, subject_id: uuid.UUID) -> None:
        """This process destroyed the key, or was told of it: remembered as destroyed at once
        (not dropped, so a batch whose keys were fetched just before reads 已删除 rather than
        failing), and the subject's employee number, where this process knows it (it sealed
        for them or opened their number), as erased for `erased_window_s`."""
        now = self._clock()
        self._keys[str(subject_id)] = (None, now)
        employee_no = self._employee_of.pop(subject_id, None)
        opened = self._opened.pop(str(subject_id), None)
        if employee_no is None and opened is not None:
            employee_no = opened[0]
        if employee_no is not None:
            held = self._subjects.get(employee_no)
            if held is not None and held[0].subject_id == subject_id:
                self._subjects.pop(employee_no)
            self._erased[employee_no] = (subject_id, now)
        self._expire_erased(now)

    def _expire_erased(self, now: float) -> None:
        for employee_no, (_, since) in list(self._erased.items()):
            if now - since > self.erased_window_s:
                del self._erased[employee_no]

    def note_opened(self, seen: Opened) -> None:
        """Identifying values opened (`open_data`'s `seen`): each pseudonym's employee number,
        so that forgetting it later remembers the number as erased."""
        now = self._clock()
        for subject, employee_no in seen.items():
            if isinstance(employee_no, str):
                self._opened[subject] = (employee_no, now)
        if len(self._opened) > _OPENED_MAX:  # only the window's opens can still be in flight
            self._opened = {
                s: held for s, held in self._opened.items() if now - held[1] <= self.erased_window_s
            }

    def key(self, subject_id: uuid.UUID | str) -> bytes | None:
        held = self._keys.get(str(subject_id))
        if held is None:
            raise KeysNotLoaded(f"no key fetched for data subject {subject_id}")
        return held[0]

    async def subjects_for(self, employee_nos: Iterable[str]) -> dict[str, Subject]:
        """Each employee's subject: held ones (asked within `ttl_s`, key not destroyed since)
        from memory, the rest from the source in one call, made there on first use.

        An erasure is seen as soon as this process is told of it (`forget`: the erasing
        process at once, the others on the privacy fact), at the latest after `ttl_s`. An
        employee forgotten within `erased_window_s` gets their erased pseudonym with a
        throwaway key (`Subject.erased`: the values are written as already erased); after
        the window, a new event of theirs gets a new subject from the store."""
        source = self._require()
        now = self._clock()
        found: dict[str, Subject] = {}
        ask: list[str] = []
        wanted = sorted(set(employee_nos))
        lately = await self._erased_lately(source, wanted, now)
        for employee_no in wanted:
            if employee_no in lately:
                found[employee_no] = Subject(lately[employee_no], new_key(), erased=True)
                continue
            held = self._subjects.get(employee_no)
            if held is not None and now - held[1] <= self.ttl_s:
                key = self._keys.get(str(held[0].subject_id))
                if key is not None and key[0] is not None:
                    found[employee_no] = held[0]
                    continue
            ask.append(employee_no)
        if ask:
            fetched = await source.subjects_for(ask)
            now = self._clock()
            for employee_no, subject in fetched.items():
                self._keys[str(subject.subject_id)] = (subject.key, now)
                self._subjects[employee_no] = (subject, now)
                self._employee_of[subject.subject_id] = employee_no
                found[employee_no] = subject
        return found

    async def _erased_lately(
        self, source: KeySource, employee_nos: Sequence[str], now: float
    ) -> dict[str, uuid.UUID]:
        """The employees among `employee_nos` forgotten within the window, by their erased
        pseudonym — as far as `source` holds that pseudonym shredded: what this process
        remembers of another key store (a test after another, each with its own database,
        reusing employee numbers) is dropped here, not applied."""
        if not self._erased:
            return {}
        self._expire_erased(now)
        lately = {e: self._erased[e][0] for e in employee_nos if e in self._erased}
        if not lately:
            return lately
        confirmed = await source.shredded(list(lately.values()))
        for employee_no, subject_id in list(lately.items()):
            if subject_id not in confirmed:
                del lately[employee_no]
                self._erased.pop(employee_no, None)
        return lately

    async def load(self, wanted: Iterable[uuid.UUID]) -> None:
        """Fetch the keys of `wanted` not held or held too long, in one call."""
        now = self._clock()
        stale = sorted(
            {
                s
                for s in wanted
                if (held := self._keys.get(str(s))) is None or now - held[1] > self.ttl_s
            }
        )
        if not stale:
            return
        fetched = await self._require().keys(stale)
        for subject_id in stale:
            self._keys[str(subject_id)] = (fetched.get(subject_id), now)

    def _require(self) -> KeySource:
        source = self.source
        if source is None:
            raise KeysNotLoaded("no key store installed in this process")
        return source


_OPENED_MAX = 100_000

KEYRING = Keyring()
"""This process's keys (installed by the composition root: shared.service, the audit)."""


async def seal_requests(requests: Sequence[AppendRequest]) -> Sequence[AppendRequest]:
    """The requests with their events' personal values sealed (before the hash chain).

    Without a key store installed (unit tests of the store itself) values stay as they are.
    """
    wanted = {m.employee_no for r in requests for e in r.events for m in e.personal}
    if not wanted or KEYRING.source is None:
        return requests
    subjects = await KEYRING.subjects_for(wanted)
    return [
        replace(
            request,
            events=[
                e.model_copy(
                    update={
                        "data": seal_data(e.data, e.event_id, e.personal, subjects),
                        "personal": (),
                    }
                )
                if e.personal
                else e
                for e in request.events
            ],
        )
        for request in requests
    ]


async def load_keys(events: Iterable[RecordedEvent | Mapping[str, Any]]) -> None:
    """Fetch the keys a batch of events needs before it is decoded (one call for all).

    Without a key store installed nothing is fetched: reading the stored form needs no key
    (the relay, the chain's check); decoding a sealed value then raises KeysNotLoaded."""
    if KEYRING.source is None:
        return
    wanted: set[uuid.UUID] = set()
    for event in events:
        wanted |= subject_ids(event if isinstance(event, Mapping) else event.data)
    if wanted:
        await KEYRING.load(wanted)


def opened(data: dict[str, Any], event_id: uuid.UUID, skip: Iterable[str] = ()) -> dict[str, Any]:
    """An event's data as its model reads it: sealed values opened with this process's keys
    (the employee numbers opened noted in the keyring, for `Keyring.forget`)."""
    seen: Opened = {}
    out = open_data(data, event_id, KEYRING.key, skip, seen)
    if seen:
        KEYRING.note_opened(seen)
    return out
