"""The bench's generated log (bench/biglog.py) is a valid log: the store's own chain
verifier accepts it, every event decodes with the nomination contract, and the rows are
laid out as rounds (RoundOpened, then one nomination per unit and flower)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from bench import biglog, data
from shared.contracts import nomination as contract
from shared.events import GENESIS_HASH, chain_hash
from shared.eventstore import ChainVerifier

END = datetime(2026, 12, 1, tzinfo=UTC)


def rows(total: int) -> list[dict[str, Any]]:
    return [
        {
            **dict(zip(biglog.COLUMNS, row, strict=True)),
            "data": json.loads(row[6]),
            "metadata": json.loads(row[7]),
        }
        for row in biglog.generate(total, END)
    ]


def test_a_generated_log_passes_the_stores_chain_verification() -> None:
    generated = rows(3 * data.SLOTS_PER_ROUND + 7)
    verifier = ChainVerifier.start()
    for row in generated:
        assert verifier.feed(row), verifier.report.first_break
    assert verifier.report.checked == len(generated)
    assert generated[0]["prev_hash"] == GENESIS_HASH


def test_each_hash_is_the_projects_chain_hash_of_the_row() -> None:
    for row in rows(60):
        assert row["hash"] == chain_hash(
            str(row["prev_hash"]),
            row["position"],
            str(row["stream_id"]),
            row["version"],
            row["event_id"],
            str(row["type"]),
            row["schema_version"],
            row["data"],
            row["metadata"],
        )


def test_a_changed_row_breaks_the_chain_at_its_position() -> None:
    generated = rows(20)
    generated[11]["data"] = {**generated[11]["data"], "deeds": "改过"}
    verifier = ChainVerifier.start()
    for row in generated:
        if not verifier.feed(row):
            break
    assert verifier.report.first_break is not None
    assert verifier.report.first_break.position == 12


def test_events_decode_with_the_contract_and_come_as_rounds() -> None:
    total = 2 * data.SLOTS_PER_ROUND + 3
    generated = rows(total)
    for row in generated:
        contract.registry.decode(str(row["type"]), row["schema_version"], row["data"])
    streams = Counter(str(r["stream_id"]) for r in generated)
    assert list(streams.values()) == [data.SLOTS_PER_ROUND, data.SLOTS_PER_ROUND, 3]
    assert biglog.rounds_for(total) == 3
    for row in generated:
        first = row["version"] == 1
        assert row["type"] == ("RoundOpened" if first else "NominationSubmitted")
        assert row["data"]["round_id"] == str(row["stream_id"]).removeprefix("round-")
    ids = [r["data"].get("nomination_id") for r in generated if r["version"] != 1]
    assert len(set(ids)) == len(ids)
    assert len({r["event_id"] for r in generated}) == total


def test_recorded_times_fall_within_the_year_before_the_end() -> None:
    generated = rows(100)
    times = [r["recorded_at"] for r in generated]
    assert times == sorted(times)
    assert times[0] > END - biglog.LOG_SPAN
    assert times[-1] <= END


def test_the_end_must_have_a_timezone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        next(biglog.generate(1, datetime(2026, 12, 1)))
