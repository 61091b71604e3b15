"""A large nomination log, made quickly: rows in valid hash-chain form, for COPY.

Appending a million events through the store takes many minutes; `--full` needs the log,
not the appends. So the rows are made here, each hashed with the project's own
`shared.events.chain_hash` formula (the canonical JSON of the previous hash and the row),
and written with COPY; `verify_chain` and `flowers audit verify` must then pass on them.

The log is the benchmark's usual round: RoundOpened and then one NominationSubmitted per
unit and flower (bench/data.py's 10 units × 5 flowers), round after round, recorded over
the year before `end` at even intervals (so an as-of moment falls inside the log).

Speed: the data of a nomination differs between events only in its round and its id, so
each slot's canonical JSON is made once with placeholders and filled in by string
replacement (both are plain ASCII, spelled the same inside JSON), and the hash input is
spelled as `canonical_json` spells the list. tests/bench/test_biglog.py checks this
against `chain_hash` itself and the store's chain verifier.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench import data
from shared.contracts.nomination import round_stream_id
from shared.events import GENESIS_HASH, DomainEvent, EventMetadata, canonical_json, metadata_json

ROUND = "@@ROUND@@"
NOMINATION = "@@NOMINATION@@"
LOG_SPAN = timedelta(days=365)
FIRST_ROUND = 0  # data.round_id(0) = 3000-Q1


@dataclass(frozen=True)
class Template:
    """One slot of a round: its type and schema version, its data as canonical JSON with
    the placeholders."""

    type: str
    schema_version: int
    data: str


def templates() -> list[Template]:
    """RoundOpened, then the round's nominations (one per unit and flower)."""
    events: list[DomainEvent] = data.round_events(data.round_id(0), data.SLOTS_PER_ROUND - 1)
    out = []
    for event in events:
        body = event.to_data()
        body["round_id"] = ROUND
        if "nomination_id" in body:
            body["nomination_id"] = NOMINATION
        out.append(Template(event.event_type, event.schema_version, canonical_json(body)))
    return out


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


Row = tuple[int, str, int, uuid.UUID, str, int, str, str, datetime, str, str]
"""position, stream_id, version, event_id, type, schema_version, data (JSON), metadata
(JSON), recorded_at, prev_hash, hash: the `events` table's columns."""

COLUMNS = (
    "position",
    "stream_id",
    "version",
    "event_id",
    "type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
    "prev_hash",
    "hash",
)


def generate(total: int, end: datetime, first_round: int = FIRST_ROUND) -> Iterator[Row]:
    """`total` rows of a nomination log from position 1, chained from the genesis hash."""
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    slots = templates()
    start = end - LOG_SPAN
    step = LOG_SPAN / max(total, 1)
    prev = GENESIS_HASH
    position = 0
    k = first_round
    while position < total:
        round_ = data.round_id(k)
        stream = round_stream_id(round_)
        stream_json = _string(stream)
        for version, slot in enumerate(slots, start=1):
            if position >= total:
                break
            position += 1
            event_id = uuid.uuid4()
            body = slot.data.replace(ROUND, round_)
            if version > 1:
                body = body.replace(NOMINATION, str(uuid.uuid4()))
            recorded_at = start + step * position
            metadata = canonical_json(
                metadata_json(EventMetadata(actor="bench", occurred_at=recorded_at))
            )
            spelled = (
                f"[{_string(prev)},{position},{stream_json},{version},"
                f'"{event_id}",{_string(slot.type)},{slot.schema_version},{body},{metadata}]'
            )
            digest = hashlib.sha256(spelled.encode("utf-8")).hexdigest()
            yield (
                position,
                stream,
                version,
                event_id,
                slot.type,
                slot.schema_version,
                body,
                metadata,
                recorded_at,
                prev,
                digest,
            )
            prev = digest
        k += 1


def rounds_for(total: int) -> int:
    """How many rounds `total` events span."""
    return -(-total // data.SLOTS_PER_ROUND)
