"""Planner and netting-kernel benchmarks on a generated site (asv-like).

Run ``python -m bench.kernel --kernel both`` for the markdown report, or let
asv discover the ``Time*``/``Track*`` classes at the bottom (each has ``setup``
and per-event ``track_*`` methods that return nanoseconds).

What is measured (every latency is one ``engine.apply([event])`` call, timed
with ``time.perf_counter_ns`` around the call, after a warm-up):

(a) ``stock_scan``   receipt / issue / count, alternating, on uniformly random
    items of the 10k site, through the engine including net-change re-planning.
(b) ``sales_order``  a new sales order on a random finished good, which
    re-plans the part of its BOM tree whose requirements change.
(c) ``regenerate``   ``planner.regenerate(site)`` with a fresh planner (a cold,
    from-scratch regenerative run) on a 100k-item site, and on the 10k site
    for both kernels (the Cython/twin ratio).
(d) ``memory``       bytes retained by the engine after loading the 10k site,
    split into ledger and planner state, per item and per open order/demand,
    with what the planner's ``ItemNode`` objects hold (method in ``memory_report``).

Every timed event also counts its outputs by kind (planned_order, shortage,
exception, cost): what an event publishes is a large part of its cost.

Where the time goes is measured on a second engine per kernel, loaded from the
same events, whose planner is an ``InstrumentedPlanner``: ``plan``, ``_load``
(reading inputs into the nodes) and ``_publish_*`` (building output objects)
are timed, and its kernel is a ``TimedKernel``, whose ``ItemNode`` is a
subclass that times every node method the planner calls.  That engine replays
the same event sequence as the plain one, so the report can show what the
instrumentation itself costs.  The headline latencies come from plain engines.

``kernel_micro`` times ``ItemNode.replan`` alone on copies (pickled) of real
nodes of the loaded plan: unchanged inputs, and an ``on_hand`` that alternates
between two values.

The twin (pure-Python kernel) runs on its own engine loaded from the same
events: both kernels give identical plans, so the state each one sees is the
same.  Per-phase time budgets keep a ``--kernel both`` run under ten minutes
on two cores; the report states how many events each number is based on.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import gc
import io
import math
import os
import pickle
import platform
import pstats
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import BuiltinFunctionType, CodeType, FunctionType, MethodType, ModuleType
from typing import Any

import msgspec

from core.engine import Engine, EngineSettings
from core.netting import PLANNED_RECORDS
from core.netting import load as load_kernel
from core.planning import Planner, SitePlan
from schemas import events as ev
from schemas.outputs import Cost, Exception_, PlannedOrder, Rejected, Shortage

from .sitegen import GeneratedSite, SalesOrderStream, ScanStream, SiteSpec, generate

__all__ = ["InstrumentedPlanner", "Sample", "TimedKernel", "kernel_micro", "main", "measure_events",
           "memory_report", "regenerate_run"]

KERNELS = ("cython", "python")
TARGETS = {  # ns per event / per run, bytes
    "stock_scan": 3_000,
    "sales_order": 50_000,
    "regenerate": 2_000_000_000,
    "bytes_per_item": 1024,
    "bytes_per_order": 200,
    "ratio": 30.0,
}
ORDER_BYTES = 32  # a planned order in the compiled node: due, release, qty, short (int64 each)
ENTRY_BYTES = 16  # a (day, qty) entry: own and dependent requirements, receipts, firm orders

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


# --- measurement helpers ------------------------------------------------------------------


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


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


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


#: the ItemNode methods the planner calls on the event and regenerate paths; no node method calls any of
#: them on itself or on another node (the twin's ``replan`` calls ``gross``, so ``gross`` is left out), so
#: timed calls never nest
NODE_METHODS = ("set_params", "set_own", "set_receipts", "set_bom", "set_firm", "replan", "need_days", "past_due",
                "planned_count", "released_on")
SECTIONS = ("load", "loop", "publish")  # where in the planner a kernel call happens


class TimedKernel:
    """Stands in for a kernel module and adds up the time spent in its ``ItemNode`` methods.

    ``ItemNode`` is a subclass of the kernel's class (``__slots__ = ()``, so the
    compiled node keeps its C layout and passes the kernel's type checks) whose
    ``NODE_METHODS`` wrap the real ones with ``perf_counter_ns``;
    ``component_qty`` is wrapped too.  Time and calls are kept per method and
    per planner section (``section`` is set by ``InstrumentedPlanner``); the
    raw sums include one timer-pair overhead per call, which ``net_ns``
    subtracts.  What a wrapper costs outside its timed window lands in the
    caller's time: ``wrapper_cost_ns`` estimates it so reports can subtract it.
    """

    def __init__(self, kernel: ModuleType, overhead_ns: int = 0) -> None:
        self.kernel = kernel
        self.overhead = overhead_ns
        for name in getattr(kernel, "__all__", ()):  # plain attributes: __getattr__ is slow
            setattr(self, name, getattr(kernel, name))
        self.section = "loop"
        self.ns: dict[str, int] = dict.fromkeys(SECTIONS, 0)
        self.section_calls: dict[str, int] = dict.fromkeys(SECTIONS, 0)
        self.method_ns: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        base = kernel.ItemNode
        methods = {name: self._timed(name, getattr(base, name)) for name in NODE_METHODS if hasattr(base, name)}
        self.ItemNode = type(f"Timed{base.__name__}", (base,), {"__slots__": (), "__module__": __name__, **methods})
        self.component_qty = self._timed("component_qty", kernel.component_qty)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kernel, name)

    def reset(self) -> None:
        for counters in (self.ns, self.section_calls, self.method_ns, self.calls):
            for key in counters:
                counters[key] = 0

    def net_ns(self, by: str) -> dict[str, int]:
        """Time by section (``by="section"``) or by method, timer overhead subtracted."""
        raw, calls = (self.ns, self.section_calls) if by == "section" else (self.method_ns, self.calls)
        return {key: raw[key] - calls[key] * self.overhead for key in raw}

    def _timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        clock = time.perf_counter_ns
        meter = self
        by_section, section_calls, method_ns, calls = self.ns, self.section_calls, self.method_ns, self.calls
        method_ns[name] = calls[name] = 0

        def timed(*args: Any) -> Any:
            t0 = clock()
            result = fn(*args)
            elapsed = clock() - t0
            section = meter.section
            by_section[section] += elapsed
            section_calls[section] += 1
            method_ns[name] += elapsed
            calls[name] += 1
            return result

        timed.__name__ = timed.__qualname__ = name
        return timed


def wrapper_cost_ns(kernel: str, overhead_ns: int, calls: int = 20_000, rounds: int = 7) -> float:
    """What one ``TimedKernel`` wrapper adds to a call outside its timed window (best of ``rounds``).

    Timed vs plain ``planned_count()`` on an empty node, minus the timer-pair
    overhead that falls inside the window (and is subtracted there).
    """
    module = load_kernel(kernel)
    timed = TimedKernel(module, overhead_ns)
    clock = time.perf_counter_ns

    def best(node: Any) -> float:
        method = node.planned_count
        fastest = math.inf
        for _ in range(rounds):
            t0 = clock()
            for _ in range(calls):
                method()
            fastest = min(fastest, (clock() - t0) / calls)
        return fastest

    return max(0.0, best(timed.ItemNode("calibration")) - best(module.ItemNode("calibration")) - overhead_ns)


class InstrumentedPlanner(Planner):
    """The planner with its sections timed, over a ``TimedKernel``.

    ``plan`` (everything the planner does for a batch), ``_load`` (reading an
    item's inputs from the ledger into its node) and ``_publish_planned`` /
    ``_publish_shortages`` / ``_publish_exceptions`` (comparing with what was
    published and building the output Structs).  Kernel calls are attributed to
    the section they happen in, so each section splits into kernel and Python.
    """

    def __init__(self, kernel: str, overhead_ns: int = 0) -> None:
        self.timed = TimedKernel(load_kernel(kernel), overhead_ns)
        super().__init__(kernel=self.timed)  # type: ignore[arg-type]
        self.overhead = overhead_ns
        self.plan_ns = self.load_ns = self.publish_ns = 0
        self.plan_calls = self.load_calls = self.publish_calls = 0

    def reset(self) -> None:
        self.timed.reset()
        self.plan_ns = self.load_ns = self.publish_ns = 0
        self.plan_calls = self.load_calls = self.publish_calls = 0

    def plan(self, engine: Any) -> list[Any]:
        t0 = time.perf_counter_ns()
        result = super().plan(engine)
        self.plan_ns += time.perf_counter_ns() - t0 - self.overhead
        self.plan_calls += 1
        return result

    def _load(self, *args: Any) -> list[Any]:
        self.timed.section = "load"
        t0 = time.perf_counter_ns()
        result = super()._load(*args)
        self.load_ns += time.perf_counter_ns() - t0 - self.overhead
        self.load_calls += 1
        self.timed.section = "loop"
        return result

    def _publishing(self, method: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.timed.section = "publish"
        t0 = time.perf_counter_ns()
        method(*args)
        self.publish_ns += time.perf_counter_ns() - t0 - self.overhead
        self.publish_calls += 1
        self.timed.section = "loop"

    def _publish_planned(self, *args: Any) -> None:  # type: ignore[override]
        self._publishing(super()._publish_planned, args)

    def _publish_shortages(self, *args: Any) -> None:  # type: ignore[override]
        self._publishing(super()._publish_shortages, args)

    def _publish_exceptions(self, *args: Any) -> None:  # type: ignore[override]
        self._publishing(super()._publish_exceptions, args)

    def breakdown(self, name: str, kernel: str, events: list[int], replanned: int, gc_ns: int,
                  outputs: tuple[int, ...], wrapper_ns: float, *, ledger: bool = True) -> Breakdown:
        timed = self.timed
        return Breakdown(name, kernel, len(events), sum(events), self.plan_ns if ledger else sum(events),
                         self.load_ns, self.publish_ns, timed.net_ns("section"), dict(timed.section_calls),
                         timed.net_ns("method"), dict(timed.calls), self.plan_calls, self.load_calls,
                         self.publish_calls, wrapper_ns, replanned, gc_ns, outputs, events, ledger=ledger)


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


@dataclass(slots=True)
class Breakdown:
    """Where the time of an instrumented pass went (ns, summed over its events).

    The parts add up to ``total_ns``: ``ledger_ns`` + ``python_ns`` +
    ``outputs_ns`` + ``kernel_total`` + ``instrumentation_ns`` (what the
    wrappers cost outside their timed windows, estimated from ``wrapper_ns``
    per wrapped call and taken out of the part it fell into).
    """

    name: str
    kernel: str
    events: int
    total_ns: int                 # apply (regenerate: the run), timer overhead subtracted
    plan_ns: int                  # planner.plan (regenerate: the whole run)
    load_ns: int                  # Planner._load: inputs into the nodes
    publish_ns: int               # Planner._publish_*: compare with what was published, build outputs
    kernel_ns: dict[str, int]     # ItemNode methods by planner section (load, loop, publish)
    kernel_calls: dict[str, int]  # ... and their calls
    method_ns: dict[str, int]
    method_calls: dict[str, int]
    plan_calls: int
    load_calls: int
    publish_calls: int
    wrapper_ns: float             # estimated cost of one wrapper outside its timed window
    replanned: int
    gc_ns: int
    outputs: tuple[int, ...]      # totals by OUTPUT_KINDS
    event_ns: list[int] = field(default_factory=list)
    ledger: bool = True           # False for a regenerative run (no events)
    same_events: int = 0          # events also timed by the plain pass (the same sequence)
    plain_mean_ns: float = 0.0    # ... their plain mean
    instrumented_mean_ns: float = 0.0  # ... and their instrumented mean, instrumentation subtracted

    def per_event(self, ns: float) -> float:
        return ns / self.events if self.events else 0.0

    def _wrapped(self, calls: int) -> float:
        return calls * self.wrapper_ns

    @property
    def kernel_total(self) -> int:
        return sum(self.kernel_ns.values())

    @property
    def instrumentation_ns(self) -> float:
        calls = sum(self.kernel_calls.values()) + self.load_calls + self.publish_calls
        return self._wrapped(calls + (self.plan_calls if self.ledger else 0))

    @property
    def ledger_ns(self) -> float:
        return self.total_ns - self.plan_ns - self._wrapped(self.plan_calls) if self.ledger else 0.0

    @property
    def outputs_ns(self) -> float:
        """Publishing outputs, without the kernel calls made while publishing."""
        return self.publish_ns - self.kernel_ns["publish"] - self._wrapped(self.kernel_calls["publish"])

    @property
    def load_python_ns(self) -> float:
        return self.load_ns - self.kernel_ns["load"] - self._wrapped(self.kernel_calls["load"])

    @property
    def python_ns(self) -> float:
        """The Python planner outside publishing: inputs, the re-plan queue, cost roll-up, calling the kernel."""
        wrapped = self.kernel_calls["load"] + self.kernel_calls["loop"] + self.load_calls + self.publish_calls
        return (self.plan_ns - self.kernel_total - (self.publish_ns - self.kernel_ns["publish"])
                - self._wrapped(wrapped))

    def compare(self, sample: Sample | None) -> None:
        """Compare with the plain pass over the events both timed (both replay the same sequence)."""
        if sample is None:
            return
        same = min(len(sample.ns), len(self.event_ns))
        if same:
            self.same_events = same
            self.plain_mean_ns = statistics.fmean(sample.ns[:same])
            self.instrumented_mean_ns = (statistics.fmean(self.event_ns[:same])
                                         - self.per_event(self.instrumentation_ns))


def breakdown_events(engine: Engine, events: Iterator[Any], name: str, kernel: str, *, warmup: int,
                     max_events: int, budget_s: float, wrapper_ns: float) -> Breakdown:
    """Instrumented pass on an engine whose planner is an ``InstrumentedPlanner``."""
    planner = engine.planner
    assert isinstance(planner, InstrumentedPlanner)
    overhead = planner.overhead
    for _ in range(warmup):
        engine.apply([next(events)])
    gc.collect()
    planner.reset()
    replanned0 = planner.replanned
    event_ns: list[int] = []
    outputs = [0] * len(OUTPUT_KINDS)
    clock = time.perf_counter_ns
    deadline = time.perf_counter() + budget_s
    with GcTimer() as gc_timer:
        while len(event_ns) < max_events and time.perf_counter() < deadline:
            event = next(events)
            t0 = clock()
            out = engine.apply([event])
            event_ns.append(clock() - t0 - overhead)
            for kind, count in enumerate(count_outputs(out)):
                outputs[kind] += count
    return planner.breakdown(name, kernel, event_ns, planner.replanned - replanned0, gc_timer.ns, tuple(outputs),
                             wrapper_ns)


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
        where = f"{_short(filename)}:{line}({func})" if line else func
        rows.append((where, ncalls, tottime, cumtime))
    n = max(count, 1)

    def table(key: Callable[[ProfileRow], float]) -> list[ProfileRow]:
        chosen = sorted(rows, key=key, reverse=True)[:top]
        return [(where, ncalls / n, tot * 1e6 / n, cum * 1e6 / n) for where, ncalls, tot, cum in chosen]

    return count, table(lambda r: r[3]), table(lambda r: r[2])


def _short(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 1 else filename


# --- loading and memory ------------------------------------------------------------------------


@dataclass(slots=True)
class NodeContents:
    """What the site's ``ItemNode`` objects hold after load (counts, and bytes in the compiled layout)."""

    compiled: bool
    nodes: int
    planned: int        # planned orders, ORDER_BYTES each
    dependent: int      # dependent requirement day totals, ENTRY_BYTES each
    layout: int         # sum of memory_bytes(): entries and planned orders in use
    allocated: int      # sum of allocated_bytes(): + spare capacity, node objects, BOM factors (compiled)
    walked: int         # the walk of SitePlan.nodes: + GC headers, `comps` lists, the dict (compiled)

    @property
    def planned_bytes(self) -> int:
        return ORDER_BYTES * self.planned

    @property
    def dependent_bytes(self) -> int:
        return ENTRY_BYTES * self.dependent

    @property
    def other_entry_bytes(self) -> int:
        return self.layout - self.planned_bytes - self.dependent_bytes


@dataclass(slots=True)
class MemoryReport:
    items: int
    purchase_orders: int
    demands: int
    # deep sys.getsizeof walk of the engine with its planner, after each load phase
    ledger_items: int          # ledger bytes after master data + opening stock
    planner_items: int         # planner bytes after master data + opening stock
    ledger_orders: int         # ledger bytes added by open purchase orders + demands
    planner_orders: int        # planner bytes added by them (the plan they cause)
    planner_parts: dict[str, int]
    planned_orders: int        # planned orders in the plan after load
    contents: NodeContents
    # tracemalloc of the same load with the planner off (kernel="off")
    traced_items: int
    traced_orders: int
    walked_ledger: int         # the walk of that traced engine, to compare the two methods
    rss_delta: int
    load_s: float
    walk_s: float
    top_sites: list[tuple[str, int]]
    kernel: str = "cython"

    @property
    def orders(self) -> int:
        return self.purchase_orders + self.demands

    @property
    def ledger_total(self) -> int:
        return self.ledger_items + self.ledger_orders

    @property
    def planner_total(self) -> int:
        return self.planner_items + self.planner_orders

    @property
    def total(self) -> int:
        return self.ledger_total + self.planner_total

    @property
    def budget(self) -> int:
        return TARGETS["bytes_per_item"] * self.items + TARGETS["bytes_per_order"] * self.orders


_NOT_STATE = (type, ModuleType, FunctionType, BuiltinFunctionType, MethodType, CodeType)


def deep_size(roots: list[Any], seen: set[int]) -> int:
    """Bytes of every object reachable from ``roots`` not in ``seen`` (``sys.getsizeof``, each object once).

    Types, modules, functions and code are shared infrastructure, not state.
    A compiled ``ItemNode``'s ``sys.getsizeof`` includes its C arrays (its
    ``__sizeof__`` is ``allocated_bytes()``, plus the GC header); the only
    object it refers to is its ``comps`` list (``gc.get_referents``), whose
    component nodes are other items' nodes, counted once wherever the walk
    reaches them first (``SitePlan.nodes`` is walked as a whole).
    """
    total = 0
    stack = list(roots)
    getsizeof, referents = sys.getsizeof, gc.get_referents
    while stack:
        obj = stack.pop()
        oid = id(obj)
        if oid in seen:
            continue
        seen.add(oid)
        if isinstance(obj, _NOT_STATE):
            continue
        total += getsizeof(obj)
        stack.extend(referents(obj))
    return total


def engine_sizes(engine: Engine) -> tuple[int, int, dict[str, int]]:
    """(ledger bytes, planner bytes, planner bytes by structure) of an engine.

    The ledger is everything reachable from the engine except its planner;
    the planner part is what only the planner holds (strings it shares with
    the ledger, such as item ids, count as ledger).
    """
    planner = engine.planner
    seen: set[int] = set()
    if planner is not None:
        seen.add(id(planner))
    ledger = deep_size([engine], seen)
    parts: dict[str, int] = {}
    if planner is not None:
        plans = list(planner.plans.values())
        for f in dataclasses.fields(SitePlan):  # nodes first: all of every node counts under `nodes`
            parts[f.name] = deep_size([getattr(plan, f.name) for plan in plans], seen)
        parts["costs"] = deep_size([planner.costs], seen)
        parts["bom graph"] = deep_size([planner.graphs], seen)
        seen.discard(id(planner))
        parts["other"] = deep_size([planner], seen)
    return ledger, sum(parts.values()), parts


def node_contents(plan: SitePlan, walked: int) -> NodeContents:
    nodes = list(plan.nodes.values())
    compiled = bool(nodes) and type(nodes[0]).__module__ == "core._netting"
    return NodeContents(compiled=compiled, nodes=len(nodes), planned=sum(n.planned_count() for n in nodes),
                        dependent=sum(len(n.dependent()) for n in nodes),
                        layout=sum(n.memory_bytes() for n in nodes),
                        allocated=sum(n.allocated_bytes() for n in nodes), walked=walked)


def memory_report(gen: GeneratedSite, kernel: str) -> tuple[Engine, Engine, MemoryReport]:
    """Load the site in two phases and measure what the engine keeps.

    Events are msgpack-encoded first and decoded right before they are
    applied, as the service would, so the strings the engine keeps from events
    are its own.  Phase 1 applies master data and opening stock, phase 2 the
    open purchase orders and demands, each as one batch (the planner runs once
    per phase); outputs and decoded events are dropped and ``gc.collect()``
    runs before measuring.  Phase 1 divided by items gives bytes per item; the
    growth in phase 2 divided by open orders + demands gives bytes per open
    order/demand (for the planner, that is the plan the demands cause).

    Two methods:

    * tracemalloc (bytes still allocated since tracing started) for the ledger,
      loaded with the planner off: tracing the planner's many small
      allocations would make the load several times slower;
    * a deep ``sys.getsizeof`` walk (each object once) for the engine with its
      planner, split into ledger and planner state and the planner's
      structures.  The compiled ``ItemNode`` reports its C arrays in
      ``sys.getsizeof``.  The walk of the traced ledger engine shows how close
      the two methods agree.

    Returns the engine with its planner, the ledger-only engine and the report.
    """
    phases = (msgspec.msgpack.encode([*gen.master, *gen.stock]), msgspec.msgpack.encode([*gen.orders, *gen.demands]))
    decoder = msgspec.msgpack.Decoder(list[ev.InputEvent])

    def apply(engine: Engine, blob: bytes) -> None:
        events = decoder.decode(blob)
        out = engine.apply(events)
        bad = [o for o in out if isinstance(o, Rejected)]
        if bad:
            raise RuntimeError(f"{len(bad)} load events rejected, first: {bad[0].reason}")
        del events, out
        gc.collect()

    # ledger only, traced
    gc.collect()
    tracemalloc.start()
    try:
        ledger_engine = Engine(EngineSettings(kernel="off"))
        traced = []
        for blob in phases:
            apply(ledger_engine, blob)
            traced.append(tracemalloc.get_traced_memory()[0])
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    top = [(_site_label(s.traceback[0].filename, s.traceback[0].lineno), s.size)
           for s in snapshot.statistics("lineno")[:8]]
    del snapshot
    walked_ledger = engine_sizes(ledger_engine)[0]
    gc.collect()

    # the engine with its planner, walked
    rss0 = rss_bytes()
    started = time.perf_counter()
    engine = Engine(EngineSettings(kernel=kernel))
    sizes = []
    walk_s = 0.0
    for blob in phases:
        apply(engine, blob)
        walk_started = time.perf_counter()
        sizes.append(engine_sizes(engine))
        walk_s += time.perf_counter() - walk_started
    load_s = time.perf_counter() - started - walk_s
    gc.collect()
    rss_delta = rss_bytes() - rss0
    assert engine.planner is not None
    plan = engine.planner.plans[gen.spec.site]
    (ledger1, planner1, _), (ledger2, planner2, parts) = sizes
    contents = node_contents(plan, parts.get("nodes", 0))
    report = MemoryReport(
        items=len(gen.all_items), purchase_orders=len(gen.orders), demands=len(gen.demands),
        ledger_items=ledger1, planner_items=planner1, ledger_orders=ledger2 - ledger1,
        planner_orders=planner2 - planner1, planner_parts=parts, planned_orders=contents.planned,
        contents=contents, traced_items=traced[0], traced_orders=traced[1] - traced[0],
        walked_ledger=walked_ledger, rss_delta=rss_delta, load_s=load_s, walk_s=walk_s, top_sites=top,
        kernel=kernel)
    return engine, ledger_engine, report


def _site_label(filename: str, lineno: int) -> str:
    where = f"{_short(filename)}:{lineno}"
    if os.path.abspath(filename) == os.path.abspath(__file__):
        return f"`{where}` (msgpack decode: ids, lots and dates the engine keeps from events)"
    return f"`{where}`"


def load_plain(gen: GeneratedSite, kernel: str) -> tuple[Engine, float]:
    engine = Engine(EngineSettings(kernel=kernel))
    started = time.perf_counter()
    out = engine.apply(gen.events)
    seconds = time.perf_counter() - started
    bad = [o for o in out if isinstance(o, Rejected)]
    if bad:
        raise RuntimeError(f"{len(bad)} load events rejected, first: {bad[0].reason}")
    return engine, seconds


def load_instrumented(gen: GeneratedSite, kernel: str, overhead_ns: int) -> Engine:
    """The site loaded into an engine whose planner is an ``InstrumentedPlanner`` (for breakdowns)."""
    engine = Engine(EngineSettings(kernel="off"))
    engine.planner = InstrumentedPlanner(kernel, overhead_ns)
    out = engine.apply(gen.events)
    bad = [o for o in out if isinstance(o, Rejected)]
    if bad:
        raise RuntimeError(f"{len(bad)} load events rejected, first: {bad[0].reason}")
    return engine


def plan_shape(engine: Engine, gen: GeneratedSite) -> dict[str, float]:
    assert engine.planner is not None
    nodes = engine.planner.plans[gen.spec.site].nodes.values()
    items = len(gen.all_items)
    planned = [node.planned_count() for node in nodes]
    dependent = [len(node.dependent()) for node in nodes]
    return {"planned": sum(planned), "planned_per_item": sum(planned) / items,
            "planned_max": max(planned, default=0), "dependent_per_item": sum(dependent) / items,
            "dependent_max": max(dependent, default=0)}


# --- (c) regenerative run ------------------------------------------------------------------------


@dataclass(slots=True)
class RegenRun:
    items: int
    kernel: str
    seconds: float
    cpu_seconds: float
    gc_seconds: float
    replanned: int
    planned_orders: int
    outputs: int
    breakdown: Breakdown | None = None  # instrumented runs only
    warm_seconds: float | None = None   # regenerate again on the planned site: what each new day costs
    warm_outputs: int = 0

    @property
    def instrumented(self) -> bool:
        return self.breakdown is not None


def regenerate_run(site: Any, kernel: str, overhead_ns: int, *, wrapper_ns: float | None = None) -> RegenRun:
    """One cold ``planner.regenerate(site)`` with a fresh planner.

    With ``wrapper_ns`` (the estimated cost of one timing wrapper) the planner
    is an ``InstrumentedPlanner`` and the run carries its breakdown.
    """
    planner = (Planner(kernel=load_kernel(kernel)) if wrapper_ns is None
               else InstrumentedPlanner(kernel, overhead_ns))
    gc.collect()
    with GcTimer() as gc_timer:
        c0 = time.process_time_ns()
        t0 = time.perf_counter_ns()
        out = planner.regenerate(site)
        elapsed = time.perf_counter_ns() - t0
        cpu = time.process_time_ns() - c0
    counts = count_outputs(out)
    items = len(planner.all_items(site))
    breakdown = None
    if isinstance(planner, InstrumentedPlanner):
        breakdown = planner.breakdown(f"regenerate {items:,}", kernel, [elapsed], planner.replanned, gc_timer.ns,
                                      counts, wrapper_ns or 0.0, ledger=False)
    run = RegenRun(items, kernel, elapsed / 1e9, cpu / 1e9, gc_timer.ns / 1e9, planner.replanned, counts[0],
                   len(out), breakdown)
    if breakdown is None:
        del out
        gc.collect()
        t0 = time.perf_counter_ns()
        out = planner.regenerate(site)   # every item re-netted against the plan it already has
        run.warm_seconds = (time.perf_counter_ns() - t0) / 1e9
        run.warm_outputs = len(out)
    del out, planner
    gc.collect()
    return run


def ledger_site(gen: GeneratedSite) -> tuple[Engine, float]:
    """The site's ledger without a planner (``kernel="off"``), for regenerative runs."""
    return load_plain(gen, "off")


# --- the kernel alone ----------------------------------------------------------------------------


def _best_ns(fn: Callable[[], Any], target_s: float, repeat: int) -> float:
    """Best of ``repeat`` rounds, each about ``target_s`` long, in ns per call."""
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(target_s / once))
    clock = time.perf_counter_ns
    best = math.inf
    for _ in range(repeat):
        t0 = clock()
        for _ in range(number):
            fn()
        best = min(best, (clock() - t0) / number)
    return best


@dataclass(slots=True)
class MicroRow:
    label: str
    items: list[str]
    rule: str = ""
    gross: float = 0.0        # gross requirement day totals (own + dependent)
    receipts: float = 0.0
    planned: float = 0.0
    components: float = 0.0
    changes: float = 0.0      # planned-order changes per changing re-plan
    touched: float = 0.0      # components whose requirements a changing re-plan changed
    still_ns: dict[str, float] = field(default_factory=dict)   # replan, inputs unchanged
    change_ns: dict[str, float] = field(default_factory=dict)  # replan, on_hand alternating


def pick_micro_items(engine: Engine, seed: int, sample: int) -> list[MicroRow]:
    """Items of the loaded plan: by planned-order count quantile, and a random sample."""
    assert engine.planner is not None
    site = next(iter(engine.sites.values()))
    plan = engine.planner.plans[site.site]
    by_size = sorted((node.planned_count(), item) for item, node in plan.nodes.items())
    rows = []
    for q in (0.5, 0.9, 1.0):
        _, item = by_size[min(len(by_size) - 1, int(q * len(by_size)))]
        rows.append(MicroRow("max" if q >= 1.0 else f"p{round(q * 100)}", [item]))
    if sample:
        items = random.Random(seed).sample(sorted(plan.nodes), min(sample, len(plan.nodes)))
        rows.append(MicroRow(f"{len(items)} random items, mean", items))
    return rows


def kernel_micro(engine: Engine, kernel: str, rows: list[MicroRow]) -> None:
    """``ItemNode.replan`` alone on copies of real nodes of the loaded plan; fills ``rows`` for ``kernel``.

    Each node is copied with ``pickle`` (its components come along, so the
    copy's explosions stay in the copy).  "No change": ``replan(today)`` again
    and again on the copy (after the first call nothing changes).  "Changing":
    ``on_hand`` alternates between its value and that plus the first planned
    order's quantity (one unit without planned orders), so every call changes
    the plan and sends the difference to the components.  Best of 5 rounds of
    ~50 ms per item (random sample: 3 rounds of ~10 ms).
    """
    assert engine.planner is not None
    site = next(iter(engine.sites.values()))
    plan = engine.planner.plans[site.site]
    today = site.today.toordinal()
    for row in rows:
        single = len(row.items) == 1
        target_s, repeat = (0.05, 5) if single else (0.01, 3)
        still = change = 0.0
        meta = [0.0] * 6
        for item in row.items:
            node = pickle.loads(pickle.dumps(plan.nodes[item]))
            node.replan(today)
            still += _best_ns(lambda node=node: node.replan(today), target_s, repeat)
            base = node.on_hand
            delta = node.planned()[0][2] if node.planned_count() else 1_000_000
            state = [0]

            def changing(node: Any = node, base: int = base, delta: int = delta, state: list[int] = state) -> Any:
                state[0] ^= 1
                node.on_hand = base + delta * state[0]
                return node.replan(today)

            calls = [changing() for _ in range(4)]
            change += _best_ns(changing, target_s, repeat)
            bom = site.master.bom(site.site, item)
            meta[0] += len(node.gross())
            meta[1] += len(plan.receipts.get(item, ()))
            meta[2] += node.planned_count()
            meta[3] += len(bom.lines) if bom is not None else 0
            meta[4] += statistics.fmean(len(c[0]) for c in calls)
            meta[5] += statistics.fmean(len(c[1]) for c in calls)
        n = len(row.items)
        row.still_ns[kernel] = still / n
        row.change_ns[kernel] = change / n
        if not row.rule:  # the same for both kernels: identical plans
            spec = site.master.item(site.site, row.items[0])
            row.rule = spec.lot_rule if single and spec is not None else ("-" if single else "mixed")
            row.gross, row.receipts, row.planned, row.components, row.changes, row.touched = (m / n for m in meta)


# --- report ---------------------------------------------------------------------------------


def _us(ns: float) -> str:
    us = ns / 1000
    if us >= 100_000:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.1f} ms"
    return f"{us:.1f} µs"


def _bytes(n: float) -> str:
    if abs(n) >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    if abs(n) >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    if abs(n) >= 2**10:
        return f"{n / 2**10:.1f} KiB"
    return f"{n:.0f} B"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or x == int(x) else f"{x:,.1f}"


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _met_latency(sample: Sample, target: float) -> str:
    if sample.p99() <= target:
        return "met"
    if sample.median() <= target:
        return "median met, **p99 missed**"
    return "**missed**"


def machine() -> dict[str, str]:
    model = "?"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "core", "schemas"], cwd=root, capture_output=True,
                               text=True, check=False).stdout.strip()
        commit = f"{head}{' + uncommitted changes in core/ or schemas/' if dirty else ''}"
    except OSError:
        commit = "?"
    return {"commit": commit, "nproc": str(os.cpu_count()), "cpu": model, "python": platform.python_version(),
            "platform": platform.platform(), "loadavg": " ".join(f"{x:.2f}" for x in load),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}


_LABELS = {"stock_scan": "(a) stock scan", "sales_order": "(b) new sales order"}


@dataclass
class Report:
    args: argparse.Namespace
    env: dict[str, str] = field(default_factory=dict)
    site: dict[str, Any] = field(default_factory=dict)
    site_big: dict[str, Any] = field(default_factory=dict)
    samples: dict[tuple[str, str], Sample] = field(default_factory=dict)
    breakdowns: list[Breakdown] = field(default_factory=list)
    profiles: dict[str, tuple[int, list[Any], list[Any]]] = field(default_factory=dict)
    regens: list[RegenRun] = field(default_factory=list)
    memory: MemoryReport | None = None
    micro: list[MicroRow] = field(default_factory=list)
    plan_shape: dict[str, float] = field(default_factory=dict)
    load_s: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    big_load_s: float = 0.0
    wall_s: float = 0.0

    def markdown(self) -> str:
        lines: list[str] = []
        add = lines.append
        env = self.env
        add(f"Machine: {env['nproc']} cores, {env['cpu']}, Python {env['python']}, {env['platform']}; "
            f"load average at start {env['loadavg']}, at end {env.get('loadavg_end', '?')}; {env['date']}; "
            f"commit {env['commit']}.")
        add("")
        s = self.site
        add(f"Site ({s['items']:,} items): levels {s['levels']}, {s['boms']:,} BOMs, "
            f"{s['receipts']:,} opening receipts, {s['purchase_orders']:,} open POs, {s['demands']:,} demands; "
            f"finished-good tree {s['tree_mean']:.1f} items on average (max {s['tree_max']}).")
        if self.plan_shape:
            p = self.plan_shape
            add(f"Plan after load: {p['planned']:,.0f} planned orders ({p['planned_per_item']:.1f} per item, "
                f"max {p['planned_max']:.0f}); dependent requirements {p['dependent_per_item']:.1f} day totals "
                f"per item (max {p['dependent_max']:.0f}).")
        add("")
        add("| benchmark | kernel | events (warm-up) | median | p99 | mean | median CPU | target | result "
            "| items re-planned / event | outputs / event, mean (median) |")
        add("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, label in _LABELS.items():
            for kernel in (*KERNELS, "off"):
                sample = self.samples.get((name, kernel))
                if sample is None:
                    continue
                target = TARGETS[name]
                shown = kernel if kernel != "off" else "planner off (ledger floor)"
                add(f"| {label} | {shown} | {sample.n:,} ({sample.warmup}) | {_us(sample.median())} | "
                    f"{_us(sample.p99())} | {_us(sample.mean())} | {_us(sample.cpu_median())} | ≤ {_us(target)} | "
                    f"{_met_latency(sample, target)} | {sample.mean_replanned():.1f} | "
                    f"{_num(sample.outputs_mean())} ({_num(sample.outputs_median())}) |")
        for run in self.regens:
            if run.instrumented:
                continue
            target = TARGETS["regenerate"]
            headline = run.items >= 100_000
            add(f"| (c) regenerate {run.items:,} items (cold) | {run.kernel} | 1 run | {run.seconds:.2f} s | - | - | "
                f"{run.cpu_seconds:.2f} s | "
                f"{'≤ 2 s' if headline else '(ratio only)'} | "
                f"{_met(run.seconds * 1e9 <= target) if headline else '-'} | {run.replanned:,} | {run.outputs:,} |")
            if run.warm_seconds is not None:
                add(f"| (c) regenerate {run.items:,} items (warm: all re-netted, plan in place) | {run.kernel} | "
                    f"1 run | {run.warm_seconds:.2f} s | - | - | - | "
                    f"{'≤ 2 s' if headline else '(ratio only)'} | "
                    f"{_met(run.warm_seconds * 1e9 <= target) if headline else '-'} | {run.items:,} | "
                    f"{run.warm_outputs:,} |")
        if self.memory is not None:
            m = self.memory
            per_item = (m.ledger_items + m.planner_items) / m.items
            per_order = (m.ledger_orders + m.planner_orders) / m.orders
            add(f"| (d) memory per item | {m.kernel} | {m.items:,} items | {_bytes(per_item)} | - | - | - | ≤ 1 KiB | "
                f"{_met(per_item <= TARGETS['bytes_per_item'])} | - | - |")
            add(f"| (d) memory per open order/demand | {m.kernel} | {m.orders:,} | {_bytes(per_order)} | - | - | - | "
                f"≤ 200 B | {_met(per_order <= TARGETS['bytes_per_order'])} | - | - |")
        add("")
        add(self._ratio_table())
        add(self._micro_table())
        add(self._outputs_table())
        add(self._breakdown_table())
        add(self._memory_table())
        for name, (count, by_cum, by_own) in self.profiles.items():
            kind = "" if "planner off" in name else ", cython kernel"
            add(f"cProfile, {name}{kind}, {count} events (µs per event, inflated by profiling):")
            add("")
            add("| top by cumulative | calls/event | own µs | cumulative µs |")
            add("|---|---|---|---|")
            for where, calls, own, cum in by_cum:
                add(f"| `{where}` | {calls:,.1f} | {own:,.1f} | {cum:,.1f} |")
            add("")
            add("| top by own time | calls/event | own µs | cumulative µs |")
            add("|---|---|---|---|")
            for where, calls, own, cum in by_own:
                add(f"| `{where}` | {calls:,.1f} | {own:,.1f} | {cum:,.1f} |")
            add("")
        if self.notes:
            add("Notes:")
            add("")
            for note in self.notes:
                add(f"* {note}")
            add("")
        add(f"Total wall time {self.wall_s / 60:.1f} min.")
        return "\n".join(lines)

    def _ratio_table(self) -> str:
        rows = []
        for name, label in _LABELS.items():
            cy, py = self.samples.get((name, "cython")), self.samples.get((name, "python"))
            if cy and py and cy.median():
                rows.append((f"{label} median", cy.median(), py.median()))
        by_items: dict[tuple[int, bool], dict[str, RegenRun]] = {}
        for run in self.regens:
            by_items.setdefault((run.items, run.instrumented), {})[run.kernel] = run
        for (items, instrumented), runs in sorted(by_items.items()):
            cy_run, py_run = runs.get("cython"), runs.get("python")
            if cy_run is None or py_run is None:
                continue
            if not instrumented:
                rows.append((f"(c) regenerate {items:,} items", cy_run.seconds * 1e9, py_run.seconds * 1e9))
                if cy_run.warm_seconds is not None and py_run.warm_seconds is not None:
                    rows.append((f"(c) regenerate {items:,} items, warm", cy_run.warm_seconds * 1e9,
                                 py_run.warm_seconds * 1e9))
            elif cy_run.breakdown is not None and py_run.breakdown is not None:
                rows.append((f"(c) … ItemNode methods only (instrumented run), {items:,} items",
                             cy_run.breakdown.kernel_total, py_run.breakdown.kernel_total))
        for bd in self.breakdowns:
            if bd.kernel == "cython":
                twin = next((b for b in self.breakdowns if b.name == bd.name and b.kernel == "python"), None)
                if twin is not None and bd.replanned and twin.replanned:
                    rows.append((f"{bd.name}: ItemNode methods per re-planned item", bd.kernel_total / bd.replanned,
                                 twin.kernel_total / twin.replanned))
        for row in self.micro:
            for label, ns in (("no change", row.still_ns), ("changing", row.change_ns)):
                if "cython" in ns and "python" in ns:
                    rows.append((f"`ItemNode.replan` alone, {label}: {row.label}", ns["cython"], ns["python"]))
        if not rows:
            return ""
        out = ["| Cython vs twin | cython | twin | ratio (target ≥ 30x) |", "|---|---|---|---|"]
        for label, cy, py in rows:
            out.append(f"| {label} | {_us(cy)} | {_us(py)} | {py / cy:.1f}x |")
        return "\n".join(out) + "\n"

    def _micro_table(self) -> str:
        if not self.micro:
            return ""
        kernels = [k for k in KERNELS if k in self.micro[0].still_ns]
        both = len(kernels) == 2
        head = " | ".join(f"no change, {k}" for k in kernels) + (" | ratio" if both else "")
        head += " | " + " | ".join(f"changing, {k}" for k in kernels) + (" | ratio" if both else "")
        cols = 2 * len(kernels) + (2 if both else 0)
        out = ["`ItemNode.replan(today)` alone, on pickled copies of nodes of the loaded plan, picked by planned-order "
               "count (method in `bench/kernel.py:kernel_micro`): \"no change\" re-plans unchanged inputs, "
               "\"changing\" alternates `on_hand` by the first planned order's quantity:", "",
               "| item (quantile) | lot rule | gross (day totals) | receipts | planned orders | components | "
               f"{head} | changes / call | components touched / call |",
               "|---|---|---|---|---|---|" + "---|" * cols + "---|---|"]
        for row in self.micro:
            cells = []
            for ns in (row.still_ns, row.change_ns):
                cells += [_us(ns[k]) for k in kernels]
                if both:
                    cells.append(f"{ns['python'] / ns['cython']:.0f}x")
            name = f"`{row.items[0]}` ({row.label})" if len(row.items) == 1 else row.label
            out.append(f"| {name} | {row.rule} | {_num(row.gross)} | {_num(row.receipts)} | {_num(row.planned)} | "
                       f"{_num(row.components)} | {' | '.join(cells)} | {_num(row.changes)} | {_num(row.touched)} |")
        return "\n".join(out) + "\n"

    def _outputs_table(self) -> str:
        samples = [s for s in self.samples.values() if s.kernel != "off" and s.outputs]
        if not samples:
            return ""
        out = ["Outputs per timed event, mean (median), by kind; a net-change event publishes only what changed:", "",
               "| benchmark | kernel | events | items re-planned | " + " | ".join(OUTPUT_KINDS) + " | all |",
               "|---|---|---|---|" + "---|" * (len(OUTPUT_KINDS) + 1)]
        for sample in samples:
            cells = [f"{_num(sample.outputs_mean(k))} ({_num(sample.outputs_median(k))})"
                     for k in range(len(OUTPUT_KINDS))]
            out.append(f"| {_LABELS.get(sample.name, sample.name)} | {sample.kernel} | {sample.n:,} | "
                       f"{sample.mean_replanned():.1f} ({sample.median_replanned():.0f}) | {' | '.join(cells)} | "
                       f"{_num(sample.outputs_mean())} ({_num(sample.outputs_median())}) |")
        return "\n".join(out) + "\n"

    def _breakdown_table(self) -> str:
        bds = self.breakdowns + [r.breakdown for r in self.regens if r.breakdown is not None]
        if not bds:
            return ""
        out = ["Where the time goes (µs per event) on the instrumented engine of each kernel (`InstrumentedPlanner` "
               "over a `TimedKernel`: `plan`, `_load`, `_publish_*` and every `ItemNode` method the planner calls "
               "timed with perf_counter_ns, timer overhead subtracted; method in `bench/kernel.py`).  The parts add "
               "up to the total: **ledger** = engine outside `planner.plan`; **ItemNode** = the kernel's node "
               "methods wherever called; **outputs** = `_publish_*` (compare with what was published, build "
               "Shortage/Exception_ Structs) without the kernel calls inside (planned orders are encoded inside "
               "`replan`: ItemNode time); **planner Python** = the "
               "rest of `planner.plan` (inputs in `_load`, the re-plan queue, cost roll-up); **instrumentation** = "
               "the timing wrappers' own cost (estimated per call, taken out of the other parts).  \"Plain vs "
               "instrumented\" compares the un-instrumented engine's mean with the instrumented mean minus "
               "instrumentation, over the same event sequence (events compared in brackets):", "",
               "| benchmark | kernel | events | total | instrumentation | plain vs instrumented, same events | "
               "ledger | planner Python (of which `_load`) | outputs | ItemNode | shares ledger / Python / outputs "
               "/ ItemNode | GC (in the above) | items re-planned / event | outputs / event (planned orders) | "
               "outputs, µs per output | ItemNode per re-planned item |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for bd in bds:
            total = bd.per_event(bd.total_ns)
            measured = total - bd.per_event(bd.instrumentation_ns)
            ledger = bd.per_event(bd.ledger_ns)
            py, outs, kern = bd.per_event(bd.python_ns), bd.per_event(bd.outputs_ns), bd.per_event(bd.kernel_total)
            n_out = sum(bd.outputs)
            same = (f"{_us(bd.plain_mean_ns)} vs {_us(bd.instrumented_mean_ns)} ({bd.same_events:,})"
                    if bd.same_events else "-")
            shares = " / ".join(_pct(x, measured) for x in (ledger, py, outs, kern))
            out.append(
                f"| {bd.name} | {bd.kernel} | {bd.events:,} | {_us(total)} | {_us(bd.per_event(bd.instrumentation_ns))}"
                f" | {same} | {_us(ledger) if bd.ledger else '-'} | {_us(py)} "
                f"({_us(bd.per_event(bd.load_python_ns))}) | {_us(outs)} | {_us(kern)} | {shares} | "
                f"{_us(bd.per_event(bd.gc_ns))} | {bd.per_event(bd.replanned):,.1f} | "
                f"{_num(bd.per_event(n_out))} ({_num(bd.per_event(bd.outputs[0]))}) | "
                f"{_us(bd.outputs_ns / n_out) if n_out else '-'} | "
                f"{_us(bd.kernel_total / bd.replanned) if bd.replanned else '-'} |")
        out.append("")
        out.append("ItemNode time by method (µs per event, calls per event in brackets):")
        out.append("")
        out.append("| benchmark | kernel | methods |")
        out.append("|---|---|---|")
        for bd in bds:
            ranked = sorted(((ns, name) for name, ns in bd.method_ns.items() if bd.method_calls.get(name)),
                            reverse=True)
            cells = ", ".join(f"`{name}` {_us(bd.per_event(ns))} ({_num(bd.per_event(bd.method_calls[name]))})"
                              for ns, name in ranked)
            out.append(f"| {bd.name} | {bd.kernel} | {cells or '-'} |")
        out.append("")
        findings = self._findings(bds)
        if findings:
            out.append("What this says (numbers from the tables above; shares of the instrumented time without the "
                       "instrumentation):")
            out.append("")
            out.extend(findings)
        return "\n".join(out) + "\n"

    def _findings(self, bds: list[Breakdown]) -> list[str]:
        lines = []
        for bd in bds:
            if bd.kernel != "cython" or not bd.ledger:
                continue
            sample = self.samples.get((bd.name, bd.kernel))
            measured = bd.total_ns - bd.instrumentation_ns
            label = _LABELS.get(bd.name, bd.name)
            if sample is not None:
                head = (f"- **{label}** (cython): re-plans {sample.mean_replanned():.1f} items (median "
                        f"{sample.median_replanned():.0f}) and publishes {_num(sample.outputs_mean())} outputs per "
                        f"event on average (median {_num(sample.outputs_median())}), of which "
                        f"{_num(sample.outputs_mean(0))} planned-order changes (median "
                        f"{_num(sample.outputs_median(0))}); plain median {_us(sample.median())}, mean "
                        f"{_us(sample.mean())}.")
            else:
                head = f"- **{label}** (cython):"
            n_out = sum(bd.outputs)
            lines.append(
                f"{head}  Instrumented, {_us(bd.per_event(measured))} per event: building outputs "
                f"{_us(bd.per_event(bd.outputs_ns))} ({_pct(bd.outputs_ns, measured)}, "
                f"{_us(bd.outputs_ns / n_out) if n_out else '-'} per output), planner Python "
                f"{_us(bd.per_event(bd.python_ns))} ({_pct(bd.python_ns, measured)}), ItemNode methods "
                f"{_us(bd.per_event(bd.kernel_total))} ({_pct(bd.kernel_total, measured)}), ledger "
                f"{_us(bd.per_event(bd.ledger_ns))} ({_pct(bd.ledger_ns, measured)}).")
        return lines

    def _memory_table(self) -> str:
        m = self.memory
        if m is None:
            return ""
        out = [f"Memory of the {m.items:,}-item site after load, {m.kernel} kernel (method in "
               f"`bench/kernel.py:memory_report`; phase 1 = master data + opening stock, per item; phase 2 = "
               f"{m.purchase_orders:,} open POs + {m.demands:,} demands, per open order/demand):", "",
               "| state | method | phase 1 | per item | phase 2 | per order/demand | after load "
               "| after load per item |",
               "|---|---|---|---|---|---|---|---|"]
        out.append(f"| ledger (planner off) | tracemalloc | {_bytes(m.traced_items)} | "
                   f"{_bytes(m.traced_items / m.items)} | {_bytes(m.traced_orders)} | "
                   f"{_bytes(m.traced_orders / m.orders)} | {_bytes(m.traced_items + m.traced_orders)} | "
                   f"{_bytes((m.traced_items + m.traced_orders) / m.items)} |")
        out.append(f"| ledger | getsizeof walk | {_bytes(m.ledger_items)} | {_bytes(m.ledger_items / m.items)} | "
                   f"{_bytes(m.ledger_orders)} | {_bytes(m.ledger_orders / m.orders)} | {_bytes(m.ledger_total)} | "
                   f"{_bytes(m.ledger_total / m.items)} |")
        out.append(f"| planner | getsizeof walk | {_bytes(m.planner_items)} | {_bytes(m.planner_items / m.items)} | "
                   f"{_bytes(m.planner_orders)} | {_bytes(m.planner_orders / m.orders)} | {_bytes(m.planner_total)} | "
                   f"{_bytes(m.planner_total / m.items)} |")
        c = m.contents
        out.append(f"| … of which planned orders ({c.planned:,} x {ORDER_BYTES} B) | count | - | - | - | - | "
                   f"{_bytes(c.planned_bytes)} | {_bytes(c.planned_bytes / m.items)} |")
        out.append(f"| **engine** | | {_bytes(m.ledger_items + m.planner_items)} | "
                   f"{_bytes((m.ledger_items + m.planner_items) / m.items)} | "
                   f"{_bytes(m.ledger_orders + m.planner_orders)} | "
                   f"{_bytes((m.ledger_orders + m.planner_orders) / m.orders)} | {_bytes(m.total)} | "
                   f"{_bytes(m.total / m.items)} |")
        out.append("")
        traced_total = m.traced_items + m.traced_orders
        out.append(f"Whole engine {_bytes(m.total)} against a budget of {_bytes(m.budget)} "
                   f"(1 KiB x {m.items:,} items + 200 B x {m.orders:,} orders/demands).  Cross-check: the walk of the "
                   f"traced ledger gives {_bytes(m.walked_ledger)} vs tracemalloc {_bytes(traced_total)} "
                   f"({100 * m.walked_ledger / traced_total if traced_total else 0:.0f} %).  RSS grew by "
                   f"{_bytes(m.rss_delta)} over the untraced load ({m.load_s:.0f} s load, {m.walk_s:.0f} s walks).")
        out.append("")
        out.append("Planner state by structure (the walk; a node's `sys.getsizeof` includes its C arrays):")
        out.append("")
        out.append("| planner structure | bytes | per item | share |")
        out.append("|---|---|---|---|")
        planner_total = sum(m.planner_parts.values()) or 1
        fields = {f.name for f in dataclasses.fields(SitePlan)}
        for name, size in sorted(m.planner_parts.items(), key=lambda kv: -kv[1]):
            shown = f"`SitePlan.{name}`" if name in fields else name
            out.append(f"| {shown} | {_bytes(size)} | {_bytes(size / m.items)} | {100 * size / planner_total:.0f} % |")
        out.append("")
        out.append(self._contents_table())
        return "\n".join(out) + "\n"

    def _contents_table(self) -> str:
        m = self.memory
        assert m is not None
        c = m.contents
        items, orders, budget = m.items, m.orders, m.budget
        layout = "" if c.compiled else " (compiled layout; the twin keeps Python lists, counted in the walk)"
        rows: list[tuple[str, str, int]] = [
            (f"planned orders ({ORDER_BYTES} B: due, release, qty, short)", f"{c.planned:,}", c.planned_bytes),
            (f"dependent requirements ({ENTRY_BYTES} B day totals placed by parents)", f"{c.dependent:,}",
             c.dependent_bytes),
            (f"own requirements, receipts, firm orders, phantom pass-through ({ENTRY_BYTES} B entries)",
             f"{c.other_entry_bytes // ENTRY_BYTES:,}", c.other_entry_bytes),
        ]
        if c.compiled:
            rows.append(("spare array capacity, node objects, BOM factors (`allocated_bytes` - `memory_bytes`)",
                         f"{c.nodes:,} nodes", c.allocated - c.layout))
            rows.append(("GC headers, `comps` lists, the nodes dict (rest of `SitePlan.nodes` in the walk)", "-",
                         c.walked - c.allocated))
            rows.append(("planner state outside the nodes (refs kept to explain shortages/exceptions, published "
                         "shortages and exceptions, costs, BOM graph)", "-", m.planner_total - c.walked))
        out = [f"What the planner holds, after load{layout}; \"share of (d) budget\" divides by the whole budget "
               f"of {_bytes(budget)}:", "",
               "| content | count | bytes | per item | per open order/demand | share of planner "
               "| share of (d) budget |",
               "|---|---|---|---|---|---|---|"]
        for label, count, size in rows:
            out.append(f"| {label} | {count} | {_bytes(size)} | {_bytes(size / items)} | {_bytes(size / orders)} | "
                       f"{_pct(size, m.planner_total)} | {_pct(size, budget)} |")
        out.append("")
        per_item = c.planned / items
        out.append(
            f"Attribution: the ledger holds {_bytes(m.ledger_total)} ({_bytes(m.ledger_items / items)} per item after "
            f"phase 1, {_bytes(m.ledger_orders / orders)} per open order/demand in phase 2) and the planner "
            f"{_bytes(m.planner_total)} ({_bytes(m.planner_total / items)} per item).  Planned orders alone are "
            f"{per_item:.1f} per item x {ORDER_BYTES} B = {_bytes(c.planned_bytes / items)} per item, "
            f"{c.planned_bytes / items / TARGETS['bytes_per_item']:.1f}x the 1 KiB per-item budget by themselves "
            f"(or {_bytes(c.planned_bytes / orders)} per open order/demand, "
            f"{c.planned_bytes / orders / TARGETS['bytes_per_order']:.1f}x the 200 B budget, since the demands cause "
            f"them); dependent requirements add {_bytes(c.dependent_bytes / items)} per item.  Phase 2 (the plan the "
            f"demands cause) is where the planner grows: {_bytes(m.planner_orders / orders)} per open order/demand.")
        return "\n".join(out) + "\n"


# --- main -----------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> Report:
    started = time.perf_counter()
    kernels = list(KERNELS) if args.kernel == "both" else [args.kernel]
    report = Report(args=args, env=machine())
    overhead = timer_overhead_ns()
    wrappers = {kernel: wrapper_cost_ns(kernel, overhead) for kernel in kernels}
    report.notes.append(f"perf_counter_ns pair overhead {overhead} ns, subtracted per timed call in the instrumented "
                        "passes; a timing wrapper's cost outside its window, estimated at " + ", ".join(
                            f"{wrappers[k]:.0f} ns ({k})" for k in kernels) + " per wrapped call "
                        "(`wrapper_cost_ns`), is shown as \"instrumentation\" in the breakdown.")

    # (d), and the first kernel's engine for (a)/(b)
    _log(f"generating {args.items:,}-item site")
    gen = generate(SiteSpec(items=args.items, seed=args.seed))
    report.site = gen.summary()
    _log(f"loading it ({kernels[0]} kernel) and measuring its memory")
    first: Engine | None
    first, ledger_engine, report.memory = memory_report(gen, kernels[0])
    report.load_s[kernels[0]] = report.memory.load_s
    report.plan_shape = plan_shape(first, gen)

    # the floor: the same kinds of events through the engine with the planner off
    for name, floor_stream in (("stock_scan", ScanStream(gen, seed=args.seed + 3)),
                               ("sales_order", SalesOrderStream(gen, seed=args.seed + 4))):
        _log(f"({name}) ledger only (planner off)")
        report.samples[(name, "off")] = measure_events(ledger_engine, floor_stream, name, "off", warmup=30,
                                                       max_events=args.scan_events, budget_s=args.breakdown_seconds)
    if args.profile:
        _log("(stock_scan) ledger only, cProfile")
        report.profiles["stock_scan, planner off (ledger floor)"] = profile_events(
            ledger_engine, ScanStream(gen, seed=args.seed + 5), max_events=2_000, budget_s=args.breakdown_seconds)
    del ledger_engine, floor_stream
    gc.collect()

    report.micro = pick_micro_items(first, args.seed, args.micro_items)
    # (a)/(b): a plain engine and an instrumented one per kernel; each replays the same seeded streams
    phases = (("stock_scan", ScanStream, args.scan_events, 30, 1), ("sales_order", SalesOrderStream,
                                                                     args.order_events, 5, 2))
    for kernel in kernels:
        twin = kernel == "python"
        if first is not None:
            engine, first = first, None
        else:
            _log(f"loading the site ({kernel} kernel)")
            engine, report.load_s[kernel] = load_plain(gen, kernel)
        _log(f"loading it again with an instrumented {kernel} planner")
        instrumented = load_instrumented(gen, kernel, overhead)
        gc.collect()
        gc.freeze()  # the loaded state is long-lived: keep it out of the cyclic GC's full passes
        _log(f"ItemNode.replan micro-benchmark, {kernel}")
        kernel_micro(engine, kernel, report.micro)
        budget = args.seconds * (args.twin_share if twin else 1.0)
        for name, stream_type, max_events, warmup, offset in phases:
            stream = stream_type(gen, seed=args.seed + offset)
            _log(f"({name}) {kernel}: up to {max_events:,} events or {budget:.0f} s")
            for _ in range(args.repeat):
                sample = measure_events(engine, stream, name, kernel, warmup=warmup, max_events=max_events,
                                        budget_s=budget / args.repeat)
                previous = report.samples.get((name, kernel))
                if previous is not None:
                    previous.extend(sample)
                else:
                    report.samples[(name, kernel)] = sample
            sample = report.samples[(name, kernel)]
            if sample.rejected:
                raise RuntimeError(f"{name}: {sample.rejected} events rejected")
            _log(f"  median {_us(sample.median())}, p99 {_us(sample.p99())}, n={sample.n}, "
                 f"outputs/event {sample.outputs_mean():.0f}")
            if args.profile and not twin:
                _log(f"({name}) cProfile")
                report.profiles[name] = profile_events(engine, stream, max_events=max_events,
                                                       budget_s=args.breakdown_seconds)
        for name, stream_type, max_events, warmup, offset in phases:
            _log(f"({name}) {kernel}, instrumented")
            breakdown = breakdown_events(instrumented, stream_type(gen, seed=args.seed + offset), name, kernel,
                                         warmup=warmup, max_events=max_events,
                                         budget_s=args.breakdown_seconds * (0.5 if twin else 1.0),
                                         wrapper_ns=wrappers[kernel])
            if args.repeat == 1:  # pooled repeats interleave warm-ups: the sequences no longer line up
                breakdown.compare(report.samples.get((name, kernel)))
            report.breakdowns.append(breakdown)
        del engine, instrumented, stream
        gc.unfreeze()
        gc.collect()
    report.notes.append("GC stays enabled while timing; the loaded engine state is moved out of the collector's "
                        "reach with gc.freeze() first, as a long-running service would.")
    if len(report.load_s) > 1:
        report.notes.append("Load of the site through the plain engine: " + ", ".join(
            f"{kernel} {seconds:.1f} s" for kernel, seconds in report.load_s.items()) + ".")

    # (c) at the small size, both kernels: the ratio, on a freshly loaded ledger
    _log(f"loading the {args.items:,}-item ledger (no planner) for regenerative runs")
    ledger, _ = ledger_site(gen)
    site = ledger.sites[gen.spec.site]
    gc.collect()
    gc.freeze()
    for kernel in kernels:
        _log(f"(regenerate) {args.items:,} items, {kernel}")
        report.regens.append(regenerate_run(site, kernel, overhead))
        _log(f"(regenerate) {args.items:,} items, {kernel}, instrumented")
        report.regens.append(regenerate_run(site, kernel, overhead, wrapper_ns=wrappers[kernel]))
    del site, ledger, gen
    gc.unfreeze()
    gc.collect()

    # (c) the big site
    big_kernels = [k for k in kernels if k == "cython" or args.twin_big]
    if args.regen_items and "python" in kernels and not args.twin_big:
        report.notes.append(f"The twin's regenerative run is measured on the {args.items:,}-item site only "
                            f"(pass --twin-big to run it on {args.regen_items:,} items too); the ratio "
                            "compares both kernels on the same site.")
    if args.regen_items and big_kernels:
        _log(f"generating {args.regen_items:,}-item site")
        big = generate(SiteSpec(items=args.regen_items, seed=args.seed))
        report.site_big = big.summary()
        _log("loading its ledger (no planner)")
        big_engine, report.big_load_s = ledger_site(big)
        big_site = big_engine.sites[big.spec.site]
        del big
        gc.collect()
        gc.freeze()
        for kernel in big_kernels:
            for _ in range(args.repeat):
                _log(f"(regenerate) {args.regen_items:,} items, {kernel}")
                report.regens.append(regenerate_run(big_site, kernel, overhead))
            _log(f"(regenerate) {args.regen_items:,} items, {kernel}, instrumented")
            report.regens.append(regenerate_run(big_site, kernel, overhead, wrapper_ns=wrappers[kernel]))
        s = report.site_big
        report.notes.append(f"{args.regen_items:,}-item site: {s['boms']:,} BOMs, {s['receipts']:,} receipts, "
                            f"{s['purchase_orders']:,} POs, {s['demands']:,} demands ({s['events']:,} events); "
                            f"ledger load without planner {report.big_load_s:.1f} s.")
        del big_site, big_engine
        gc.unfreeze()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    report.notes.append(f"Peak RSS of the benchmark process {_bytes(peak)}.")
    report.env["loadavg_end"] = machine()["loadavg"]
    report.wall_s = time.perf_counter() - started
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.kernel", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="items of the site for (a), (b), (d)")
    parser.add_argument("--regen-items", type=int, default=100_000, help="items of the site for (c); 0 skips it")
    parser.add_argument("--kernel", choices=("cython", "python", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per measurement: (a)/(b) pool their events, (c) regenerates this many times")
    parser.add_argument("--scan-events", type=int, default=20_000, help="most events timed for (a)")
    parser.add_argument("--order-events", type=int, default=2_000, help="most events timed for (b)")
    parser.add_argument("--seconds", type=float, default=20.0, help="time budget per (a)/(b) measurement")
    parser.add_argument("--twin-share", type=float, default=0.5, help="the twin's budget as a share of --seconds")
    parser.add_argument("--breakdown-seconds", type=float, default=5.0, help="budget of instrumented/profiled passes")
    parser.add_argument("--micro-items", type=int, default=50,
                        help="random items in the ItemNode.replan micro-benchmark (besides the quantile items)")
    parser.add_argument("--twin-big", action="store_true", help="also regenerate the big site with the twin")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the cProfile passes")
    parser.add_argument("--seed", type=int, default=SiteSpec().seed)
    parser.add_argument("--output", help="also write the markdown report to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    text = report.markdown()
    print(text)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    return 0


# --- asv-style entry points ---------------------------------------------------------------------
# asv calls setup(kernel) then each track_* method; results are nanoseconds per event.

_ASV_ITEMS = 10_000
_ASV_CACHE: dict[str, tuple[GeneratedSite, Engine]] = {}


def _asv_engine(kernel: str) -> tuple[GeneratedSite, Engine]:
    if kernel not in _ASV_CACHE:
        gen = generate(SiteSpec(items=_ASV_ITEMS))
        engine, _ = load_plain(gen, kernel)
        _ASV_CACHE[kernel] = gen, engine
    return _ASV_CACHE[kernel]


class TrackStockScan:
    params = (list(KERNELS),)
    param_names = ("kernel",)
    unit = "ns"
    timeout = 1800

    def setup(self, kernel: str) -> None:
        gen, self.engine = _asv_engine(kernel)
        self.sample = measure_events(self.engine, ScanStream(gen, seed=11), "stock_scan", kernel, warmup=30,
                                     max_events=500, budget_s=30)

    def track_median_ns(self, kernel: str) -> float:
        return self.sample.median()

    def track_p99_ns(self, kernel: str) -> float:
        return self.sample.p99()

    def track_outputs_mean(self, kernel: str) -> float:
        return self.sample.outputs_mean()

    track_outputs_mean.unit = "outputs"  # type: ignore[attr-defined]


class TrackSalesOrder(TrackStockScan):
    def setup(self, kernel: str) -> None:
        gen, self.engine = _asv_engine(kernel)
        self.sample = measure_events(self.engine, SalesOrderStream(gen, seed=12), "sales_order", kernel, warmup=5,
                                     max_events=100, budget_s=30)


class TimeRegenerate:
    params = (list(KERNELS),)
    param_names = ("kernel",)
    timeout = 3600
    number = 1
    repeat = 1

    def setup(self, kernel: str) -> None:
        gen = generate(SiteSpec(items=100_000))
        self.engine, _ = ledger_site(gen)
        self.site = self.engine.sites[gen.spec.site]

    def time_regenerate(self, kernel: str) -> None:
        Planner(kernel=load_kernel(kernel)).regenerate(self.site)


class TrackMemory:
    unit = "bytes"
    timeout = 1800

    def setup(self) -> None:
        _, _, self.report = memory_report(generate(SiteSpec(items=_ASV_ITEMS)), "cython")

    def track_bytes_per_item(self) -> float:
        return (self.report.ledger_items + self.report.planner_items) / self.report.items

    def track_bytes_per_order(self) -> float:
        return (self.report.ledger_orders + self.report.planner_orders) / self.report.orders

    def track_planner_bytes_per_item(self) -> float:
        return self.report.planner_total / self.report.items

    def track_planned_order_bytes_per_item(self) -> float:
        return self.report.contents.planned_bytes / self.report.items


if __name__ == "__main__":
    sys.exit(main())
