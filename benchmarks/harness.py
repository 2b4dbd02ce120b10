"""Timing helpers shared by the benchmarks: run a workload, report median / p90 / p99.

Every row names its workload, the number of samples, and — where there is one — the target and
the raw floor measured in the same run, so the figures can be read without context.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

_rows: list[Row] = []


@dataclass(frozen=True)
class Row:
    """One benchmark result."""

    name: str
    samples: int
    median: float
    p90: float
    p99: float
    target: float | None
    ok: bool | None

    def render(self) -> str:
        def ms(x: float) -> str:
            return f"{x * 1e3:9.3f}"

        target = f"{self.target * 1e3:9.3f}" if self.target is not None else " " * 9
        verdict = {True: "ok", False: "MISS", None: ""}[self.ok]
        return f"  {self.name:<58} {self.samples:>6} {ms(self.median)} {ms(self.p90)} {ms(self.p99)} {target}  {verdict}"


def header(title: str) -> None:
    """Print a section title and the column names (times in milliseconds)."""
    print(f"\n{title}")
    print(f"  {'workload':<58} {'n':>6} {'median':>9} {'p90':>9} {'p99':>9} {'target':>9}")


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def measure(
    fn: Callable[[], object], n: int, warmup: int = 5, setup: Callable[[], object] | None = None
) -> list[float]:
    """Time ``n`` calls of ``fn`` (``setup`` runs untimed before each); returns seconds per call."""
    for _ in range(warmup):
        if setup:
            setup()
        fn()
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(n):
            if setup:
                setup()
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def measure_paired(
    first: Callable[[], object], second: Callable[[], object], n: int, warmup: int = 2
) -> tuple[list[float], list[float]]:
    """Time ``n`` calls of each, alternating (first, second, first, …), so a busy machine slows both alike;
    returns their samples in seconds. For a row beside its floor."""
    for _ in range(warmup):
        first()
        second()
    samples: tuple[list[float], list[float]] = ([], [])
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(n):
            for fn, into in ((first, samples[0]), (second, samples[1])):
                start = time.perf_counter()
                fn()
                into.append(time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def report(name: str, samples: list[float], target: float | None = None) -> Row:
    """Print and record one row; ``target`` (seconds) is checked against the median."""
    median = statistics.median(samples)
    row = Row(
        name=name,
        samples=len(samples),
        median=median,
        p90=percentile(samples, 90),
        p99=percentile(samples, 99),
        target=target,
        ok=None if target is None else median <= target,
    )
    _rows.append(row)
    print(row.render(), flush=True)
    return row


def note(text: str) -> None:
    """Print an explanatory line under the current section."""
    print(f"  · {text}", flush=True)


def missed() -> list[Row]:
    """Rows whose median missed their target."""
    return [row for row in _rows if row.ok is False]
