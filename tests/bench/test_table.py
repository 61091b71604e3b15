"""The bench's table (bench/table.py) and the deadline day's work (bench/deadline.py):
pure parts, no servers, no timing."""

from __future__ import annotations

from collections import Counter

from bench import deadline
from bench.table import Measure, Row, fmt, percentile, render
from shared.contracts.common import Category


def test_the_peer_stays_beside_ours_with_the_ratio() -> None:
    rows = [
        Row(
            "Catch-up",
            "review consumer until caught up",
            [Measure("ev/s", [900.0, 950.0, 1000.0])],
            [Measure("ev/s", [640.0, 650.0, 660.0])],
            "follower catch-up",
        ),
        Row(
            "Catch-up",
            "one event: latency p50 / p99",
            [Measure("ms", [5.0]), Measure("ms", [20.0])],
            [Measure("ms", [4.0]), Measure("ms", [40.0])],
            "follower",
        ),
    ]
    table = render(rows).splitlines()
    assert table[0].split("|")[1].strip() == "figure"
    assert "| **Catch-up**" in table[2]
    catch_up = [c.strip() for c in table[3].split("|")[1:-1]]
    assert catch_up == [
        "review consumer until caught up",
        "950 ev/s",
        "900–1,000",
        "650 ev/s (follower catch-up)",
        "1.46×",
    ]
    latency = [c.strip() for c in table[4].split("|")[1:-1]]
    assert latency[1] == "5.00 / 20.0 ms"
    assert latency[4] == "0.80× / 2.00×"  # latencies: peer ÷ ours


def test_new_rows_without_a_peer_show_seconds_errors_and_notes() -> None:
    section = "New — deadline day"
    rows = [
        Row(section, "projection rebuild: time", [Measure("s", [58.25])]),
        Row(section, "errors", [Measure("errors", [0.0, 2.0, 0.0])]),
        Row(section, "submit", [], note="n/a (gateway endpoint not available)"),
    ]
    lines = [[c.strip() for c in line.split("|")[1:-1]] for line in render(rows).splitlines()]
    assert lines[2][0] == f"**{section}**"
    assert lines[3][:2] == ["projection rebuild: time", "58.2 s"]
    assert lines[4][1:3] == ["0 errors", "0–2"]
    assert lines[5][1] == "n/a (gateway endpoint not available)"
    assert all(line[3] == "" and line[4] == "" for line in lines[3:])
    assert not Measure("s").higher_is_better
    assert not Measure("errors").higher_is_better
    assert Measure("ev/s").higher_is_better


def test_format_and_percentile() -> None:
    assert fmt(1234567.8, "ev/s") == "1,234,568"
    assert fmt(3.456, "ms") == "3.46"
    assert fmt(345.6, "s") == "346"
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0


def test_every_deadline_day_nominator_has_a_legitimate_nomination() -> None:
    """Default quota (one per unit and flower): 300 nominators need 60 units, and each
    nominates an employee of their own unit for a flower no one else in the unit takes."""
    nominators = 300
    units = deadline.units_for(nominators)
    assert units == 60
    rows = deadline.directory(units)
    employees = {r["employee_no"]: r["unit_code"] for r in rows}
    assert len(employees) == len(rows)
    bodies = [deadline.submit_body("2026-Q4", n) for n in range(nominators)]
    slots = Counter((employees[b["employee_no"]], b["category"]) for b in bodies)
    assert len(slots) == nominators
    assert set(slots.values()) == {1}
    for n, body in enumerate(bodies):
        assert employees[body["employee_no"]] == deadline.unit_code(n // len(Category))
        assert Category(body["category"])
    # A past nominee per unit apart from the live rounds' nominees.
    live = {b["employee_no"] for b in bodies}
    assert len(set(employees) - live) == units
