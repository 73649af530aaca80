"""(c) A cold regenerative run, ``planner.regenerate(site)`` with a fresh planner, and the warm one after it."""

from __future__ import annotations

import datetime as dt
import gc
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from core.netting import load as load_kernel
from core.planning import Planner

from .instrument import Breakdown, InstrumentedPlanner
from .measure import GcTimer, count_outputs


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
    warm_seconds: float | None = None   # regenerate again on the planned site (every input read again)
    warm_outputs: int = 0
    day_seconds: float | None = None    # the next day: every item re-netted as it is, unmoved dates skipped
    day_outputs: int = 0
    day_replanned: int = 0

    @property
    def instrumented(self) -> bool:
        return self.breakdown is not None


def next_day(planner: Planner, site: Any) -> tuple[float, int, int]:
    """What the next day costs the planned site (seconds, outputs, items re-netted); the site is left as it was.

    The planner does what a new day's first event makes it do: re-net every
    item without reading its inputs (none changed with the date), skipping the
    items none of whose dates moved (``ItemNode.day_stable``).
    """
    kept = site.clock, site.day_changed, site.touched, site.capacity_orders
    site.clock, site.day_changed = site.clock + dt.timedelta(days=1), True
    site.touched, site.capacity_orders = {}, {}   # no event changed anything: only the date moved
    replanned = planner.replanned
    gc.collect()
    t0 = time.perf_counter_ns()
    out = planner.plan(SimpleNamespace(sites={site.site: site}))
    seconds = (time.perf_counter_ns() - t0) / 1e9
    site.clock, site.day_changed, site.touched, site.capacity_orders = kept
    return seconds, len(out), planner.replanned - replanned


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
        del out
        run.day_seconds, run.day_outputs, run.day_replanned = next_day(planner, site)
    else:
        del out
    del planner
    gc.collect()
    return run
