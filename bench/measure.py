"""Timing one event at a time: per-event samples, percentiles, timer and GC overhead, profiles.

Every latency in the kernel benchmark is one ``engine.apply([event])`` call
bracketed by ``time.perf_counter_ns``; the helpers here are what the plain,
instrumented and profiled passes share.
"""

from __future__ import annotations

import cProfile
import gc
import io
import math
import pstats
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from core.engine import Engine
from core.netting import PLANNED_RECORDS
from core.planning import Planner
from schemas.outputs import Cost, Exception_, PlannedOrder, Rejected, Shortage

KERNELS = ("cython", "python")  # the compiled kernel and its pure-Python twin
TARGETS = {  # ns per event / per run, bytes
    "stock_scan": 3_000,
    "sales_order": 50_000,
    "regenerate": 2_000_000_000,
    "bytes_per_item": 1024,
    "bytes_per_order": 200,
    "ratio": 30.0,
}

OUTPUT_KINDS = ("planned_order", "shortage", "exception", "cost", "other")
_KIND_INDEX: dict[type, int] = {PlannedOrder: 0, **dict.fromkeys(PLANNED_RECORDS, 0), Shortage: 1, Exception_: 2,
                                Cost: 3}


def count_outputs(out: list[Any]) -> tuple[int, ...]:
    """Outputs of one ``apply`` by kind (``OUTPUT_KINDS``)."""
    counts = [0] * len(OUTPUT_KINDS)
    other = len(OUTPUT_KINDS) - 1
    for output in out:
        counts[_KIND_INDEX.get(type(output), other)] += 1
    return tuple(counts)


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def timer_overhead_ns(rounds: int = 20_000) -> int:
    """Median cost of the back-to-back ``perf_counter_ns`` pair that brackets a timed call."""
    clock = time.perf_counter_ns
    diffs = []
    for _ in range(rounds):
        t0 = clock()
        diffs.append(clock() - t0)
    return int(statistics.median(diffs))


@dataclass(slots=True)
class Sample:
    """Per-event latencies of one benchmark run."""

    name: str
    kernel: str
    ns: list[int] = field(default_factory=list)
    cpu_ns: list[int] = field(default_factory=list)   # thread CPU time of the same calls
    replanned: list[int] = field(default_factory=list)
    outputs: list[tuple[int, ...]] = field(default_factory=list)  # per event, counts by OUTPUT_KINDS
    rejected: int = 0
    warmup: int = 0
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return len(self.ns)

    def extend(self, other: Sample) -> None:
        self.ns.extend(other.ns)
        self.cpu_ns.extend(other.cpu_ns)
        self.replanned.extend(other.replanned)
        self.outputs.extend(other.outputs)
        self.rejected += other.rejected
        self.seconds += other.seconds

    def median(self) -> float:
        return statistics.median(self.ns) if self.ns else 0.0

    def mean(self) -> float:
        return statistics.fmean(self.ns) if self.ns else 0.0

    def p99(self) -> int:
        return percentile(sorted(self.ns), 99)

    def cpu_median(self) -> float:
        return statistics.median(self.cpu_ns) if self.cpu_ns else 0.0

    def mean_replanned(self) -> float:
        return statistics.fmean(self.replanned) if self.replanned else 0.0

    def median_replanned(self) -> float:
        return statistics.median(self.replanned) if self.replanned else 0.0

    def _counts(self, kind: int | None) -> list[int]:
        return [sum(c) if kind is None else c[kind] for c in self.outputs]

    def outputs_mean(self, kind: int | None = None) -> float:
        counts = self._counts(kind)
        return statistics.fmean(counts) if counts else 0.0

    def outputs_median(self, kind: int | None = None) -> float:
        counts = self._counts(kind)
        return statistics.median(counts) if counts else 0.0


class GcTimer:
    """Adds up the time the cyclic garbage collector runs (``gc.callbacks``) while in a ``with`` block."""

    def __init__(self) -> None:
        self.ns = 0
        self.collections = 0
        self._t0 = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter_ns()
        else:
            self.ns += time.perf_counter_ns() - self._t0
            self.collections += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def measure_events(engine: Engine, events: Iterator[Any], name: str, kernel: str, *, warmup: int,
                   max_events: int, budget_s: float) -> Sample:
    """Apply events one at a time; time each ``engine.apply([event])`` call."""
    planner = engine.planner if engine.planner is not None else Planner()  # planner off: replanned stays 0
    apply = engine.apply
    clock = time.perf_counter_ns
    cpu = time.thread_time_ns
    sample = Sample(name, kernel, warmup=warmup)
    for _ in range(warmup):
        apply([next(events)])
    gc.collect()
    deadline = time.perf_counter() + budget_s
    started = time.perf_counter()
    while sample.n < max_events and time.perf_counter() < deadline:
        event = next(events)
        before = planner.replanned
        c0 = cpu()
        t0 = clock()
        out = apply([event])
        t1 = clock()
        c1 = cpu()
        sample.ns.append(t1 - t0)
        sample.cpu_ns.append(c1 - c0)
        sample.replanned.append(planner.replanned - before)
        sample.outputs.append(count_outputs(out))
        sample.rejected += sum(1 for o in out if isinstance(o, Rejected))
    sample.seconds = time.perf_counter() - started
    return sample


ProfileRow = tuple[str, float, float, float]


def profile_events(engine: Engine, events: Iterator[Any], *, max_events: int, budget_s: float,
                   top: int = 12) -> tuple[int, list[ProfileRow], list[ProfileRow]]:
    """cProfile over events applied one at a time: top functions by cumulative and by own time.

    Rows are (function, calls per event, own µs per event, cumulative µs per event);
    profiling inflates absolute times, so read them as a ranking.
    """
    profiler = cProfile.Profile()
    count = 0
    deadline = time.perf_counter() + budget_s
    while count < max_events and time.perf_counter() < deadline:
        event = next(events)
        profiler.enable()
        engine.apply([event])
        profiler.disable()
        count += 1
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{short_path(filename)}:{line}({func})" if line else func
        rows.append((where, ncalls, tottime, cumtime))
    n = max(count, 1)

    def table(key: Callable[[ProfileRow], float]) -> list[ProfileRow]:
        chosen = sorted(rows, key=key, reverse=True)[:top]
        return [(where, ncalls / n, tot * 1e6 / n, cum * 1e6 / n) for where, ncalls, tot, cum in chosen]

    return count, table(lambda r: r[3]), table(lambda r: r[2])


def short_path(filename: str) -> str:
    """The last two parts of a source path, enough to tell where a profile row or allocation is."""
    parts = filename.replace("\\", "/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 1 else filename
