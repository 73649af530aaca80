"""The generated site loaded into an engine: plain, instrumented, or as a ledger without a planner."""

from __future__ import annotations

import time

from core.engine import Engine, EngineSettings
from schemas.outputs import Rejected

from .instrument import InstrumentedPlanner
from .sitegen import GeneratedSite


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


def ledger_site(gen: GeneratedSite) -> tuple[Engine, float]:
    """The site's ledger without a planner (``kernel="off"``), for regenerative runs."""
    return load_plain(gen, "off")
