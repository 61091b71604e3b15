"""Figures, their medians over runs, the ratio to the peer, and the table that shows them."""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

START = time.monotonic()
LOWER_IS_BETTER = ("ms", "s", "errors", "MB")


def progress(message: str) -> None:
    """One line of progress on stderr (the table goes to stdout)."""
    print(f"[{time.monotonic() - START:6.1f}s] {message}", file=sys.stderr, flush=True)


def elapsed() -> float:
    return time.monotonic() - START


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Measure:
    """One figure of one side, one value per run. Rates: higher is better; times ("ms",
    "s") and counts of errors: lower."""

    unit: str  # "ev/s", "cmd/s", "req/s", "ms", "s", "errors" or "MB" (peak memory)
    runs: list[float] = field(default_factory=list)

    @property
    def higher_is_better(self) -> bool:
        return self.unit not in LOWER_IS_BETTER

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def add(self, value: float) -> None:
        self.runs.append(value)


@dataclass
class Timed:
    """A throughput figure with its latency: rate, p50 and p99 per run."""

    unit: str
    rate: Measure = field(init=False)
    p50: Measure = field(default_factory=lambda: Measure("ms"))
    p99: Measure = field(default_factory=lambda: Measure("ms"))

    def __post_init__(self) -> None:
        self.rate = Measure(self.unit)

    def add(self, rate: float, latencies_s: Sequence[float]) -> str:
        """Record one run; return a short line for the progress output."""
        self.rate.add(rate)
        self.p50.add(percentile(latencies_s, 50) * 1000)
        self.p99.add(percentile(latencies_s, 99) * 1000)
        return (
            f"{fmt(rate, self.unit)} {self.unit}, p50 {fmt(self.p50.runs[-1], 'ms')} ms, "
            f"p99 {fmt(self.p99.runs[-1], 'ms')} ms"
        )

    @property
    def latency(self) -> list[Measure]:
        return [self.p50, self.p99]


def fmt(value: float, unit: str) -> str:
    if unit in ("ms", "s"):
        return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return f"{value:,.0f}"


@dataclass
class Row:
    """A line of the table: our figure(s), and the peer's for the same work where there is one.

    A row holds one measure (a rate) or two (latency p50 / p99), shown joined by " / ".
    """

    section: str
    label: str
    ours: list[Measure]
    peer: list[Measure] = field(default_factory=list)
    peer_label: str = ""
    note: str = ""  # shown instead of our figure when there is none (e.g. "n/a (…)")

    def ratios(self) -> list[float | None]:
        """How many times better ours is: ours÷peer for rates, peer÷ours for latencies."""
        out: list[float | None] = []
        for ours, peer in zip(self.ours, self.peer, strict=False):
            if not ours.runs or not peer.runs or ours.median <= 0 or peer.median <= 0:
                out.append(None)
            elif ours.higher_is_better:
                out.append(ours.median / peer.median)
            else:
                out.append(peer.median / ours.median)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "figure": self.label,
            "ours": [_measure_json(m) for m in self.ours],
            "peer": [_measure_json(m) for m in self.peer],
            "peer_figure": self.peer_label,
            "ratio": self.ratios(),
            "note": self.note,
        }


def _measure_json(measure: Measure) -> dict[str, Any]:
    return {
        "unit": measure.unit,
        "median": measure.median if measure.runs else None,
        "runs": measure.runs,
    }


def _cell(measures: Sequence[Measure]) -> str:
    if not measures or not all(m.runs for m in measures):
        return ""
    values = " / ".join(fmt(m.median, m.unit) for m in measures)
    return f"{values} {measures[0].unit}"


def _spread(measures: Sequence[Measure]) -> str:
    if not measures or any(len(m.runs) < 2 for m in measures):
        return ""
    return " / ".join(f"{fmt(min(m.runs), m.unit)}–{fmt(max(m.runs), m.unit)}" for m in measures)


def render(rows: Sequence[Row]) -> str:
    """A Markdown table: figure, ours (median), its range over the runs, peer, ratio."""
    header = ["figure", "ours (median)", "ours: min–max", "peer (median)", "ours vs peer"]
    lines = [header]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append([f"**{section}**", "", "", "", ""])
        peer = _cell(row.peer)
        if peer and row.peer_label:
            peer = f"{peer} ({row.peer_label})"
        ratios = row.ratios()
        ratio = " / ".join(f"{r:.2f}×" if r is not None else "?" for r in ratios) if ratios else ""
        lines.append([row.label, _cell(row.ours) or row.note, _spread(row.ours), peer, ratio])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)
