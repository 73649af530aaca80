"""Where the time goes: a planner and a kernel whose sections and node methods time themselves.

The headline latencies come from plain engines; these classes run on a second
engine per kernel, replaying the same events, so the report can split an
event's time into ledger, planner Python, outputs and ``ItemNode`` methods and
show what the instrumentation itself costs.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from core.engine import Engine
from core.netting import load as load_kernel
from core.planning import Planner

from .measure import OUTPUT_KINDS, GcTimer, Sample, count_outputs

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
