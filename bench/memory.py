"""What the engine keeps after loading a site: ledger and planner bytes, per item and per open order.

Two methods that check each other: tracemalloc for the ledger alone, and a
deep ``sys.getsizeof`` walk of the engine with its planner (method in
``memory_report``).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import sys
import time
import tracemalloc
from dataclasses import dataclass
from types import BuiltinFunctionType, CodeType, FunctionType, MethodType, ModuleType
from typing import Any

import msgspec

from core.engine import Engine, EngineSettings
from core.planning import SitePlan
from schemas import events as ev
from schemas.outputs import Rejected

from .measure import TARGETS, short_path
from .sitegen import GeneratedSite

ORDER_BYTES = 24  # a planned order in the compiled node: due, release (int32), qty, short (int64)
ENTRY_BYTES = 12  # a packed (day int32, qty int64) entry: own and dependent requirements, receipts, firm orders


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


def rss_bytes() -> int:
    """Resident set size of this process, to compare with what the walk and tracemalloc count."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


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
    where = f"{short_path(filename)}:{lineno}"
    if os.path.abspath(filename) == os.path.abspath(__file__):
        return f"`{where}` (msgpack decode: ids, lots and dates the engine keeps from events)"
    return f"`{where}`"
