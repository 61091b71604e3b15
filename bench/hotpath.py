"""CPU per event of the pipeline's hot-path steps, in this process, without any server.

    python -m bench.hotpath [--events N] [--runs R]

The steps an event takes through the code (not the network): an append's planning (encode
and hash), the NATS client's parsing of those headers on delivery, a consumer's decoding of
the body, a decided event made ready to append (`NewEvent.of`: its JSON dump and its
personal fields found), and the store's decoding of rows it reads back. Each figure is CPU
microseconds per event (`time.process_time`, median of `--runs`): a process's own CPU time
is what a busy, shared machine disturbs least, so two commits can be compared here when
wall-clock figures (`python -m bench`) are noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from nats.aio.client import Client as NatsClient

from bench import data
from shared.bus import event_headers
from shared.contracts.nomination import registry, round_stream_id
from shared.events import EventMetadata, NewEvent, RecordedEvent
from shared.eventstore import AppendRequest
from shared.postgres import _plan, recorded_event

SERVICE = "nomination"


def _events(n: int) -> list[NewEvent]:
    round_ = data.round_id(0)
    meta = EventMetadata(actor="bench", correlation_id="c" * 36, causation_id="d" * 36)
    return [
        NewEvent.of(data.nomination_submitted(round_, i % data.SLOTS_PER_ROUND), meta)
        for i in range(n)
    ]


def _recorded(events: list[NewEvent]) -> list[RecordedEvent]:
    now = datetime.now(UTC)
    return [
        RecordedEvent(
            position=i,
            stream_id=round_stream_id(data.round_id(0)),
            version=i,
            event_id=e.event_id,
            type=e.type,
            schema_version=e.schema_version,
            data=e.data,
            metadata=e.metadata,
            recorded_at=now,
            prev_hash="0" * 64,
            hash="1" * 64,
        )
        for i, e in enumerate(events, start=1)
    ]


def _header_block(headers: dict[str, str]) -> bytes:
    """The header block as nats-py writes it (and the server delivers it back)."""
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"NATS/1.0\r\n{lines}\r\n".encode()


def _rows(recorded: list[RecordedEvent]) -> list[dict[str, object]]:
    """Rows as asyncpg hands them over (jsonb already decoded by the pool's codec)."""
    rows = []
    for r in recorded:
        row = r.model_dump()
        row["metadata"] = json.loads(r.metadata.model_dump_json())
        rows.append(row)
    return rows


def measure(n: int, runs: int) -> dict[str, float]:
    events = _events(n)
    recorded = _recorded(events)
    stream = recorded[0].stream_id
    bodies = [r.model_dump_json().encode() for r in recorded]
    blocks = [_header_block(event_headers(r.event_id)) for r in recorded]
    rows = _rows(recorded)
    meta = events[0].metadata
    decided = [registry.decode(e.type, e.schema_version, e.data) for e in events]

    def plan() -> None:
        planned = _plan([AppendRequest(stream, events, None)], 0, "0" * 64, {stream: 0})
        for row in planned.rows:  # what the pool's jsonb codec encodes of a row, if anything
            for value in row[6:8]:
                if not isinstance(value, str):
                    json.dumps(value)

    def parse_headers() -> None:
        parse = NatsClient._parse_header_lines
        for block in blocks:
            parse(block[len(b"NATS/1.0\r\n") :])

    def consume_decode() -> None:
        for body in bodies:
            envelope = RecordedEvent.model_validate_json(body)
            registry.decode_recorded(envelope)

    def new_events() -> None:
        for event in decided:
            NewEvent.of(event, meta)

    def rows_decode() -> None:
        for row in rows:
            recorded_event(row)  # type: ignore[arg-type]

    steps: dict[str, Callable[[], None]] = {
        "append (plan, encode, hash)": plan,
        "NATS header parse on delivery": parse_headers,
        "consumer decode (envelope + event)": consume_decode,
        "decided event to NewEvent (dump, marks)": new_events,
        "store row decode (load, read_log)": rows_decode,
    }
    figures: dict[str, float] = {}
    for name, step in steps.items():
        step()  # warm up
        samples = []
        for _ in range(runs):
            started = time.process_time()
            step()
            samples.append((time.process_time() - started) / n * 1e6)
        figures[name] = statistics.median(samples)
    figures["header bytes per message"] = statistics.mean(len(b) for b in blocks)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for name, value in measure(args.events, args.runs).items():
        unit = "" if "bytes" in name else " µs/event CPU"
        print(f"{name:40} {value:8.1f}{unit}")


if __name__ == "__main__":
    main()
