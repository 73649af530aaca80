"""``ItemNode.replan`` alone, on copies of real nodes of the loaded plan (no ledger, no outputs)."""

from __future__ import annotations

import math
import pickle
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.engine import Engine


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
    load_ns: dict[str, float] = field(default_factory=dict)    # load_update: the work-center load of its orders


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


def load_micro(engine: Engine, kernel: str, rows: list[MicroRow]) -> None:
    """What ``load_update`` adds to a changing re-plan, on copies of the same items' nodes of a site whose
    BOMs load work centers: the changed orders' operations spread and merged into the node's load."""
    assert engine.planner is not None
    site = next(iter(engine.sites.values()))
    plan = engine.planner.plans[site.site]
    masks = engine.planner.capacity[site.site].masks
    today = site.today.toordinal()
    for row in rows:
        target_s, repeat = (0.05, 5) if len(row.items) == 1 else (0.01, 3)
        load = 0.0
        for item in row.items:
            node = pickle.loads(pickle.dumps(plan.nodes[item]))
            node.replan(today)
            node.load_update(today, masks)
            base = node.on_hand
            delta = node.planned()[0][2] if node.planned_count() else 1_000_000
            state = [0]

            def changing(node: Any = node, base: int = base, delta: int = delta, state: list[int] = state) -> Any:
                state[0] ^= 1
                node.on_hand = base + delta * state[0]
                return node.replan(today)

            def changing_with_load(node: Any = node, changing: Any = changing) -> Any:
                changing()
                return node.load_update(today, masks)

            load += max(0.0, _best_ns(changing_with_load, target_s, repeat) - _best_ns(changing, target_s, repeat))
        row.load_ns[kernel] = load / len(row.items)
