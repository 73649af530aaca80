"""Planner and netting-kernel benchmarks on a generated site (asv-like).

Run ``python -m bench.kernel --kernel both`` for the markdown report, or let
asv discover the ``Time*``/``Track*`` classes at the bottom (each has ``setup``
and per-event ``track_*`` methods that return nanoseconds).

What is measured (every latency is one ``engine.apply([event])`` call, timed
with ``time.perf_counter_ns`` around the call, after a warm-up):

(a) ``stock_scan``   receipt / issue / count, alternating, on uniformly random
    items of the 10k site, through the engine including net-change re-netting.
(b) ``sales_order``  a new sales order on a random finished good, which
    re-nets the part of its BOM tree whose requirements change.
(c) ``regenerate``   ``planner.regenerate(site)`` with a fresh planner (a cold,
    from-scratch regenerative run) on a 100k-item site, and on the 10k site
    for both kernels (the Cython/twin ratio).
(d) ``memory``       tracemalloc bytes retained by the engine after loading the
    10k site, split into ledger and planner state, per item and per open
    order/demand (method in ``memory_report``).

Besides the end-to-end latency, an instrumented pass wraps ``planner.plan``
and the kernel's ``net_item``/``need_days`` to show where an event's time goes:
engine/ledger, Python planner around the kernel, and the kernel itself.

The twin (pure-Python kernel) is measured on the same loaded engine by
swapping ``planner.kernel``: both kernels give identical plans, so the state
each one sees is the same.  Per-phase time budgets keep a ``--kernel both``
run near ten minutes on two cores; the report states how many events each
number is based on.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import functools
import gc
import io
import math
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
import timeit
import tracemalloc
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import BuiltinFunctionType, CodeType, FunctionType, MethodType, ModuleType
from typing import Any

import msgspec

from core.engine import Engine, EngineSettings
from core.netting import load as load_kernel
from core.planning import Planner, SitePlan
from schemas import events as ev
from schemas.outputs import PlannedOrder, Rejected

from .sitegen import GeneratedSite, SalesOrderStream, ScanStream, SiteSpec, generate

__all__ = ["Sample", "TimedKernel", "main", "measure_events", "memory_report", "regenerate_run"]

KERNELS = ("cython", "python")
TARGETS = {  # ns per event / per run, bytes
    "stock_scan": 3_000,
    "sales_order": 50_000,
    "regenerate": 2_000_000_000,
    "bytes_per_item": 1024,
    "bytes_per_order": 200,
    "ratio": 30.0,
}


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
    outputs: int = 0
    rejected: int = 0
    warmup: int = 0
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return len(self.ns)

    def median(self) -> float:
        return statistics.median(self.ns) if self.ns else 0.0

    def mean(self) -> float:
        return statistics.fmean(self.ns) if self.ns else 0.0

    def p99(self) -> int:
        return percentile(sorted(self.ns), 99)

    def cpu_median(self) -> float:
        return statistics.median(self.cpu_ns) if self.cpu_ns else 0.0

    def mean_replanned(self) -> float:
        return statistics.mean(self.replanned) if self.replanned else 0.0


class TimedKernel:
    """Stands in for a kernel module and adds up the time spent inside its calls."""

    def __init__(self, kernel: ModuleType, overhead_ns: int = 0) -> None:
        self.kernel = kernel
        self.overhead = overhead_ns
        self.net_ns = self.need_ns = 0
        self.net_calls = self.need_calls = 0
        self._net_item = kernel.net_item
        self._need_days = kernel.need_days

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kernel, name)

    def net_item(self, *args: Any) -> Any:
        t0 = time.perf_counter_ns()
        result = self._net_item(*args)
        self.net_ns += time.perf_counter_ns() - t0 - self.overhead
        self.net_calls += 1
        return result

    def need_days(self, *args: Any) -> Any:
        t0 = time.perf_counter_ns()
        result = self._need_days(*args)
        self.need_ns += time.perf_counter_ns() - t0 - self.overhead
        self.need_calls += 1
        return result

    @property
    def ns(self) -> int:
        return self.net_ns + self.need_ns


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


def _use_kernel(engine: Engine, name: str) -> None:
    assert engine.planner is not None
    engine.planner.kernel = load_kernel(name)


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
        sample.outputs += len(out)
        sample.rejected += sum(1 for o in out if isinstance(o, Rejected))
    sample.seconds = time.perf_counter() - started
    return sample


@dataclass(slots=True)
class Breakdown:
    name: str
    kernel: str
    events: int
    total_ns: int
    plan_ns: int
    kernel_ns: int
    net_calls: int
    need_calls: int
    replanned: int
    gc_ns: int

    def per_event(self, ns: int) -> float:
        return ns / self.events if self.events else 0.0


def breakdown_events(engine: Engine, events: Iterator[Any], name: str, kernel: str, *, max_events: int,
                     budget_s: float, overhead_ns: int) -> Breakdown:
    """Instrumented pass: total apply vs ``planner.plan`` vs kernel calls."""
    assert engine.planner is not None
    planner = engine.planner
    real_kernel = planner.kernel
    timed = TimedKernel(real_kernel, overhead_ns)
    plan = planner.plan
    plan_ns = 0

    def timed_plan(engine_: Any) -> list[Any]:
        nonlocal plan_ns
        t0 = time.perf_counter_ns()
        result = plan(engine_)
        plan_ns += time.perf_counter_ns() - t0 - overhead_ns
        return result

    planner.kernel = timed
    planner.plan = timed_plan  # type: ignore[method-assign]
    total = count = 0
    replanned0 = planner.replanned
    deadline = time.perf_counter() + budget_s
    try:
        with GcTimer() as gc_timer:
            while count < max_events and time.perf_counter() < deadline:
                event = next(events)
                t0 = time.perf_counter_ns()
                engine.apply([event])
                total += time.perf_counter_ns() - t0 - overhead_ns
                count += 1
    finally:
        planner.kernel = real_kernel
        del planner.plan
    return Breakdown(name, kernel, count, total, plan_ns, timed.ns, timed.net_calls, timed.need_calls,
                     planner.replanned - replanned0, gc_timer.ns)


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
    # tracemalloc of the same load with the planner off (kernel="off")
    traced_items: int
    traced_orders: int
    walked_ledger: int         # the walk of that traced engine, to compare the two methods
    rss_delta: int
    load_s: float
    walk_s: float
    top_sites: list[tuple[str, int]]

    @property
    def orders(self) -> int:
        return self.purchase_orders + self.demands

    @property
    def total(self) -> int:
        return self.ledger_items + self.planner_items + self.ledger_orders + self.planner_orders

    @property
    def budget(self) -> int:
        return TARGETS["bytes_per_item"] * self.items + TARGETS["bytes_per_order"] * self.orders


_NOT_STATE = (type, ModuleType, FunctionType, BuiltinFunctionType, MethodType, CodeType)


def deep_size(roots: list[Any], seen: set[int]) -> int:
    """Bytes of every object reachable from ``roots`` not in ``seen`` (``sys.getsizeof``, each object once).

    Types, modules, functions and code are shared infrastructure, not state.
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
        names = [f.name for f in dataclasses.fields(SitePlan)]  # walk order matters: planned first
        for name in names:
            parts[name] = deep_size([getattr(plan, name) for plan in plans], seen)
        parts["costs"] = deep_size([planner.costs], seen)
        parts["bom graph"] = deep_size([planner.graphs], seen)
        seen.discard(id(planner))
        parts["other"] = deep_size([planner], seen)
    return ledger, sum(parts.values()), parts


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
      loaded with the planner off: tracing the planner's millions of small
      allocations makes the load several times slower (minutes);
    * a deep ``sys.getsizeof`` walk (each object once) for the engine with its
      planner, split into ledger and planner state and the planner's
      structures.  The walk of the traced ledger engine shows how close the
      two methods agree.

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
    report = MemoryReport(
        items=len(gen.all_items), purchase_orders=len(gen.orders), demands=len(gen.demands),
        ledger_items=ledger1, planner_items=planner1, ledger_orders=ledger2 - ledger1,
        planner_orders=planner2 - planner1, planner_parts=parts,
        planned_orders=sum(len(p) for p in plan.planned.values()),
        traced_items=traced[0], traced_orders=traced[1] - traced[0], walked_ledger=walked_ledger,
        rss_delta=rss_delta, load_s=load_s, walk_s=walk_s, top_sites=top)
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


# --- (c) regenerative run ------------------------------------------------------------------------


@dataclass(slots=True)
class RegenRun:
    items: int
    kernel: str
    seconds: float
    cpu_seconds: float
    kernel_seconds: float
    gc_seconds: float
    replanned: int
    planned_orders: int
    outputs: int


def regenerate_run(site: Any, kernel: str, overhead_ns: int) -> RegenRun:
    """One cold ``planner.regenerate(site)`` with a fresh planner, kernel calls timed inside."""
    timed = TimedKernel(load_kernel(kernel), overhead_ns)
    planner = Planner(kernel=timed)  # type: ignore[arg-type]
    gc.collect()
    with GcTimer() as gc_timer:
        c0 = time.process_time_ns()
        t0 = time.perf_counter_ns()
        out = planner.regenerate(site)
        elapsed = time.perf_counter_ns() - t0
        cpu = time.process_time_ns() - c0
    planned = sum(1 for o in out if isinstance(o, PlannedOrder))
    run = RegenRun(len(planner.all_items(site)), kernel, elapsed / 1e9, cpu / 1e9, timed.ns / 1e9,
                   gc_timer.ns / 1e9, planner.replanned, planned, len(out))
    del out, planner
    gc.collect()
    return run


def ledger_site(gen: GeneratedSite) -> tuple[Engine, float]:
    """The site's ledger without a planner (``kernel="off"``), for regenerative runs."""
    return load_plain(gen, "off")


# --- the kernel alone ----------------------------------------------------------------------------


def _best_ns(fn: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e9


@dataclass(slots=True)
class MicroRow:
    label: str
    item: str
    rule: str
    requirements: int
    receipts: int
    planned: int
    net_ns: dict[str, float]
    need_ns: dict[str, float]
    inputs_ns: float   # the planner gathering this item's requirements/receipts into the kernel's arrays


def kernel_micro(engine: Engine, kernels: list[str], quantiles: tuple[float, ...] = (0.5, 0.9, 1.0)) -> list[MicroRow]:
    """``net_item``/``need_days`` alone on real items of the loaded plan (by planned-order count quantile).

    Uses planner internals (``_requirements``, ``_receipts``) to rebuild the
    exact kernel inputs; best of 5 ``timeit`` repeats.
    """
    from core import planning

    assert engine.planner is not None
    planner = engine.planner
    site = next(iter(engine.sites.values()))
    plan = planner.plans[site.site]
    today = site.today.toordinal()
    by_size = sorted((len(orders), item) for item, orders in plan.planned.items())
    rows = []
    for q in quantiles:
        _, item = by_size[min(len(by_size) - 1, int(q * len(by_size)))]
        spec = site.master.item(site.site, item)

        def inputs(item: str = item) -> tuple[Any, ...]:
            reqs = planner._requirements(site, plan, item)
            rcps = planner._receipts(site, item)
            return (array("q", (r[0] for r in reqs)), array("q", (r[1] for r in reqs)),
                    array("q", (r[0] for r in rcps)), array("q", (r[1] for r in rcps)))

        req_day, req_qty, rcp_day, rcp_qty = inputs()
        args = (today, site.stock.unrestricted(item), spec.safety_stock, spec.lead_time_days,
                planning._RULES[spec.lot_rule], spec.fixed_qty, spec.min_qty, spec.max_qty, spec.multiple,
                spec.period_days, spec.ordering_cost, spec.holding_cost_rate * 1.0, req_day, req_qty, rcp_day, rcp_qty)
        net_ns, need_ns = {}, {}
        for name in kernels:
            module = load_kernel(name)
            number = 1000 if module.CYTHON_MODULE else 50
            net_ns[name] = _best_ns(functools.partial(module.net_item, *args), number)
            need_ns[name] = _best_ns(functools.partial(module.need_days, today, args[1], args[2], req_day, req_qty,
                                                       rcp_qty), number)
        inputs_ns = _best_ns(inputs, 200)
        planned = len(load_kernel(kernels[0]).net_item(*args))
        label = "max" if q >= 1.0 else f"p{round(q * 100)}"
        rows.append(MicroRow(label, item, spec.lot_rule, len(req_day), len(rcp_day), planned, net_ns, need_ns,
                             inputs_ns))
    return rows


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
                f"max {p['planned_max']:.0f}); dependent requirements {p['dependent_per_item']:.1f} per item "
                f"(max {p['dependent_max']:.0f}).")
        add("")
        add("| benchmark | kernel | events (warm-up) | median | p99 | mean | median CPU | target | result "
            "| items re-netted / event |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        for (name, target_key, label) in (("stock_scan", "stock_scan", "(a) stock scan"),
                                          ("sales_order", "sales_order", "(b) new sales order")):
            for kernel in (*KERNELS, "off"):
                sample = self.samples.get((name, kernel))
                if sample is None:
                    continue
                target = TARGETS[target_key]
                shown = kernel if kernel != "off" else "planner off (ledger floor)"
                add(f"| {label} | {shown} | {sample.n:,} ({sample.warmup}) | {_us(sample.median())} | "
                    f"{_us(sample.p99())} | {_us(sample.mean())} | {_us(sample.cpu_median())} | ≤ {_us(target)} | "
                    f"{_met_latency(sample, target)} | {sample.mean_replanned():.1f} |")
        for run in self.regens:
            target = TARGETS["regenerate"]
            headline = run.items >= 100_000
            add(f"| (c) regenerate {run.items:,} items (cold) | {run.kernel} | 1 run | {run.seconds:.2f} s | - | - | "
                f"{run.cpu_seconds:.2f} s | "
                f"{'≤ 2 s' if headline else '(ratio only)'} | "
                f"{_met(run.seconds * 1e9 <= target) if headline else '-'} | {run.replanned:,} |")
        if self.memory is not None:
            m = self.memory
            per_item = (m.ledger_items + m.planner_items) / m.items
            per_order = (m.ledger_orders + m.planner_orders) / m.orders
            add(f"| (d) memory per item | - | {m.items:,} items | {_bytes(per_item)} | - | - | - | ≤ 1 KiB | "
                f"{_met(per_item <= TARGETS['bytes_per_item'])} | - |")
            add(f"| (d) memory per open order/demand | - | {m.orders:,} | {_bytes(per_order)} | - | - | - | ≤ 200 B | "
                f"{_met(per_order <= TARGETS['bytes_per_order'])} | - |")
        add("")
        add(self._ratio_table())
        add(self._micro_table())
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
        for name, label in (("stock_scan", "(a) stock scan median"), ("sales_order", "(b) sales order median")):
            cy, py = self.samples.get((name, "cython")), self.samples.get((name, "python"))
            if cy and py and cy.median():
                rows.append((label, cy.median(), py.median()))
        by_items: dict[int, dict[str, RegenRun]] = {}
        for run in self.regens:
            by_items.setdefault(run.items, {})[run.kernel] = run
        for items, runs in sorted(by_items.items()):
            if "cython" in runs and "python" in runs:
                rows.append((f"(c) regenerate {items:,} items", runs["cython"].seconds * 1e9,
                             runs["python"].seconds * 1e9))
                rows.append((f"(c) … kernel calls only, {items:,} items", runs["cython"].kernel_seconds * 1e9,
                             runs["python"].kernel_seconds * 1e9))
        for bd in self.breakdowns:
            if bd.kernel == "cython":
                twin = next((b for b in self.breakdowns if b.name == bd.name and b.kernel == "python"), None)
                if twin is not None and bd.net_calls and twin.net_calls:
                    rows.append((f"{bd.name}: kernel time per net_item+need_days pair",
                                 bd.kernel_ns / bd.net_calls, twin.kernel_ns / twin.net_calls))
        if not rows:
            return ""
        out = ["| Cython vs twin | cython | twin | ratio (target ≥ 30x) |", "|---|---|---|---|"]
        for label, cy, py in rows:
            out.append(f"| {label} | {_us(cy)} | {_us(py)} | {py / cy:.1f}x |")
        return "\n".join(out) + "\n"

    def _micro_table(self) -> str:
        if not self.micro:
            return ""
        kernels = list(self.micro[0].net_ns)
        head = " | ".join(f"net_item {k}" for k in kernels) + " | " + " | ".join(f"need_days {k}" for k in kernels)
        out = ["The kernel alone on items of the loaded plan, picked by planned-order count (best of 5 timeit "
               "runs; \"planner inputs\" is `_requirements` + `_receipts` + the four arrays `_net` builds):", "",
               f"| item (quantile) | lot rule | requirements | receipts | planned orders | {head} | "
               "net_item ratio | planner inputs |",
               "|---|---|---|---|---|" + "---|" * (2 * len(kernels)) + "---|---|"]
        for row in self.micro:
            cells = " | ".join(_us(row.net_ns[k]) for k in kernels) + " | " + " | ".join(
                _us(row.need_ns[k]) for k in kernels)
            ratio = (f"{row.net_ns['python'] / row.net_ns['cython']:.0f}x"
                     if "python" in row.net_ns and "cython" in row.net_ns else "-")
            out.append(f"| `{row.item}` ({row.label}) | {row.rule} | {row.requirements} | {row.receipts} | "
                       f"{row.planned} | {cells} | {ratio} | {_us(row.inputs_ns)} |")
        return "\n".join(out) + "\n"

    def _breakdown_table(self) -> str:
        if not self.breakdowns:
            return ""
        out = ["Where the time goes (instrumented pass; µs per event; `planner.plan` and the kernel calls "
               "wrapped with perf_counter_ns, timer overhead subtracted):", "",
               "| benchmark | kernel | events | total | engine + ledger | planner (Python) | kernel | "
               "kernel share | GC (anywhere) | items re-netted / event | kernel per item | planner Python per item |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for bd in self.breakdowns:
            total, plan, kern = bd.per_event(bd.total_ns), bd.per_event(bd.plan_ns), bd.per_event(bd.kernel_ns)
            per_item = bd.replanned / bd.events if bd.events else 0
            kern_item = bd.kernel_ns / bd.replanned if bd.replanned else 0
            py_item = (bd.plan_ns - bd.kernel_ns) / bd.replanned if bd.replanned else 0
            out.append(f"| {bd.name} | {bd.kernel} | {bd.events} | {_us(total)} | {_us(total - plan)} | "
                       f"{_us(plan - kern)} | {_us(kern)} | {100 * kern / total if total else 0:.2f} % | "
                       f"{_us(bd.per_event(bd.gc_ns))} | {per_item:.1f} | {_us(kern_item)} | {_us(py_item)} |")
        for run in self.regens:
            share = 100 * run.kernel_seconds / run.seconds if run.seconds else 0
            out.append(f"| regenerate {run.items:,} | {run.kernel} | 1 | {run.seconds:.2f} s | - | "
                       f"{run.seconds - run.kernel_seconds:.2f} s | {run.kernel_seconds:.2f} s | {share:.2f} % | "
                       f"{run.gc_seconds:.2f} s | "
                       f"{run.replanned:,} | {_us(run.kernel_seconds * 1e9 / max(run.replanned, 1))} | "
                       f"{_us((run.seconds - run.kernel_seconds) * 1e9 / max(run.replanned, 1))} |")
        return "\n".join(out) + "\n"

    def _memory_table(self) -> str:
        m = self.memory
        if m is None:
            return ""
        out = [f"Memory of the {m.items:,}-item site after load (method in `bench/kernel.py:memory_report`; "
               f"phase 1 = master data + opening stock, per item; phase 2 = {m.purchase_orders:,} open POs + "
               f"{m.demands:,} demands, per open order/demand):", "",
               "| state | method | phase 1 | per item | phase 2 | per order/demand |", "|---|---|---|---|---|---|"]
        out.append(f"| ledger (planner off) | tracemalloc | {_bytes(m.traced_items)} | "
                   f"{_bytes(m.traced_items / m.items)} | {_bytes(m.traced_orders)} | "
                   f"{_bytes(m.traced_orders / m.orders)} |")
        out.append(f"| ledger | getsizeof walk | {_bytes(m.ledger_items)} | {_bytes(m.ledger_items / m.items)} | "
                   f"{_bytes(m.ledger_orders)} | {_bytes(m.ledger_orders / m.orders)} |")
        out.append(f"| planner | getsizeof walk | {_bytes(m.planner_items)} | {_bytes(m.planner_items / m.items)} | "
                   f"{_bytes(m.planner_orders)} | {_bytes(m.planner_orders / m.orders)} |")
        out.append(f"| **engine** | | {_bytes(m.ledger_items + m.planner_items)} | "
                   f"{_bytes((m.ledger_items + m.planner_items) / m.items)} | "
                   f"{_bytes(m.ledger_orders + m.planner_orders)} | "
                   f"{_bytes((m.ledger_orders + m.planner_orders) / m.orders)} |")
        out.append("")
        traced_total = m.traced_items + m.traced_orders
        out.append(f"Whole engine {_bytes(m.total)} against a budget of {_bytes(m.budget)} "
                   f"(1 KiB x items + 200 B x orders/demands).  Cross-check: the walk of the traced ledger gives "
                   f"{_bytes(m.walked_ledger)} vs tracemalloc {_bytes(traced_total)} "
                   f"({100 * m.walked_ledger / traced_total if traced_total else 0:.0f} %).  RSS grew by "
                   f"{_bytes(m.rss_delta)} over the untraced load ({m.load_s:.0f} s load, {m.walk_s:.0f} s walks).  "
                   f"Planner state by structure ({m.planned_orders:,} planned orders, "
                   f"{_bytes(sum(m.planner_parts.values()) / max(m.planned_orders, 1))} per planned order; "
                   "`dependent` and `contributions` share their key and value tuples, which count "
                   "under the structure walked first, `dependent`):")
        out.append("")
        out.append("| planner structure | bytes | share |")
        out.append("|---|---|---|")
        planner_total = sum(m.planner_parts.values()) or 1
        for name, size in sorted(m.planner_parts.items(), key=lambda kv: -kv[1]):
            out.append(f"| `SitePlan.{name}` | {_bytes(size)} | {100 * size / planner_total:.0f} % |"
                       if name in ("planned", "dependent", "contributions", "shortages", "exceptions")
                       else f"| {name} | {_bytes(size)} | {100 * size / planner_total:.0f} % |")
        out.append("")
        out.append("Largest ledger allocation sites (tracemalloc):")
        out.append("")
        out.append("| allocated at | bytes |")
        out.append("|---|---|")
        for where, size in m.top_sites:
            out.append(f"| {where} | {_bytes(size)} |")
        return "\n".join(out) + "\n"


# --- main -----------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> Report:
    started = time.perf_counter()
    kernels = list(KERNELS) if args.kernel == "both" else [args.kernel]
    report = Report(args=args, env=machine())
    overhead = timer_overhead_ns()
    report.notes.append(f"perf_counter_ns pair overhead {overhead} ns (subtracted in the instrumented pass only).")

    # (d) + setup for (a)/(b): load the site under tracemalloc
    _log(f"generating {args.items:,}-item site")
    gen = generate(SiteSpec(items=args.items, seed=args.seed))
    report.site = gen.summary()
    _log(f"loading it ({kernels[0]} kernel) and measuring its memory")
    engine, ledger_engine, report.memory = memory_report(gen, kernels[0])
    assert engine.planner is not None
    plan = engine.planner.plans[gen.spec.site]
    planned = [len(p) for p in plan.planned.values()]
    dependent = [len(d) for d in plan.dependent.values()]
    report.plan_shape = {"planned": sum(planned), "planned_per_item": sum(planned) / args.items,
                         "planned_max": max(planned, default=0), "dependent_per_item": sum(dependent) / args.items,
                         "dependent_max": max(dependent, default=0)}
    gc.collect()
    gc.freeze()  # the loaded state is long-lived: keep it out of the cyclic GC's full passes
    report.notes.append("GC stays enabled while timing; the loaded engine state is moved out of the collector's "
                        "reach with gc.freeze() first, as a long-running service would.")

    try:
        report.micro = kernel_micro(engine, kernels)
    except (AttributeError, KeyError, TypeError) as exc:  # planner internals moved
        report.notes.append(f"Kernel micro-benchmark skipped: {exc!r}")

    # the floor: the same events through the engine with the planner off
    for name, stream_ in (("stock_scan", ScanStream(gen, seed=args.seed + 3)),
                          ("sales_order", SalesOrderStream(gen, seed=args.seed + 4))):
        _log(f"({name}) ledger only (planner off)")
        report.samples[(name, "off")] = measure_events(ledger_engine, stream_, name, "off", warmup=30,
                                                       max_events=args.scan_events, budget_s=args.breakdown_seconds)
    if args.profile:
        _log("(stock_scan) ledger only, cProfile")
        report.profiles["stock_scan, planner off (ledger floor)"] = profile_events(
            ledger_engine, ScanStream(gen, seed=args.seed + 5), max_events=2_000, budget_s=args.breakdown_seconds)
    del ledger_engine, stream_
    gc.collect()

    scans = ScanStream(gen, seed=args.seed + 1)
    orders = SalesOrderStream(gen, seed=args.seed + 2)
    phases: tuple[tuple[str, Iterator[Any], int, int], ...] = (
        ("stock_scan", scans, args.scan_events, 30), ("sales_order", orders, args.order_events, 5))
    for name, stream, max_events, warmup in phases:
        for kernel in kernels:
            twin = kernel == "python"
            budget = args.seconds * (args.twin_share if twin else 1.0)
            _use_kernel(engine, kernel)
            _log(f"({name}) {kernel}: up to {max_events:,} events or {budget:.0f} s")
            for _ in range(args.repeat):
                sample = measure_events(engine, stream, name, kernel, warmup=warmup, max_events=max_events,
                                        budget_s=budget / args.repeat)
                previous = report.samples.get((name, kernel))
                if previous is not None:
                    previous.ns.extend(sample.ns)
                    previous.replanned.extend(sample.replanned)
                    previous.rejected += sample.rejected
                    previous.outputs += sample.outputs
                else:
                    report.samples[(name, kernel)] = sample
            if report.samples[(name, kernel)].rejected:
                raise RuntimeError(f"{name}: {report.samples[(name, kernel)].rejected} events rejected")
            _log(f"  median {_us(report.samples[(name, kernel)].median())}, "
                 f"p99 {_us(report.samples[(name, kernel)].p99())}, n={report.samples[(name, kernel)].n}")
            report.breakdowns.append(breakdown_events(engine, stream, name, kernel, max_events=max_events,
                                                      budget_s=args.breakdown_seconds * (0.5 if twin else 1.0),
                                                      overhead_ns=overhead))
        if args.profile and "cython" in kernels:
            _use_kernel(engine, "cython")
            _log(f"({name}) cProfile")
            report.profiles[name] = profile_events(engine, stream, max_events=max_events,
                                                   budget_s=args.breakdown_seconds)
    _use_kernel(engine, kernels[0])

    # (c) at the small size, both kernels: the ratio
    site = engine.sites[gen.spec.site]
    for kernel in kernels:
        _log(f"(regenerate) {args.items:,} items, {kernel}")
        report.regens.append(regenerate_run(site, kernel, overhead))
    del site, engine, plan, scans, orders, stream
    gc.unfreeze()
    gc.collect()

    # (c) the big site
    if args.regen_items:
        _log(f"generating {args.regen_items:,}-item site")
        big = generate(SiteSpec(items=args.regen_items, seed=args.seed))
        report.site_big = big.summary()
        _log("loading its ledger (no planner)")
        big_engine, report.big_load_s = ledger_site(big)
        big_site = big_engine.sites[big.spec.site]
        del big
        gc.collect()
        gc.freeze()
        big_kernels = [k for k in kernels if k == "cython" or args.twin_big]
        for kernel in big_kernels:
            for _ in range(args.repeat):
                _log(f"(regenerate) {args.regen_items:,} items, {kernel}")
                report.regens.append(regenerate_run(big_site, kernel, overhead))
        if "python" in kernels and not args.twin_big:
            report.notes.append(f"The twin's regenerative run is measured on the {args.items:,}-item site only "
                                f"(pass --twin-big to run it on {args.regen_items:,} items too); the ratio "
                                "compares both kernels on the same site.")
        s = report.site_big
        report.notes.append(f"{args.regen_items:,}-item site: {s['boms']:,} BOMs, {s['receipts']:,} receipts, "
                            f"{s['purchase_orders']:,} POs, {s['demands']:,} demands ({s['events']:,} events); "
                            f"ledger load without planner {report.big_load_s:.1f} s.")
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


if __name__ == "__main__":
    sys.exit(main())
