"""Lot-sizing rules for generated items, and how a simulated planner sizes an order by them.

``lot_size`` is shared with ``bench/sitegen.py``: both draw the same mix of rules (lot-for-lot, fixed,
min/multiple, period, EOQ) from an item's weekly usage, so the benchmark site and the simulated factory
plan alike.  Its random draws are part of the benchmark's seed contract: do not reorder them.
"""

from __future__ import annotations

import math
import random

from schemas import events as ev

__all__ = ["lot_size", "order_units"]


def lot_size(rng: random.Random, make: bool, usage: float) -> ev.LotSize:
    """A lot rule for an item with ``usage`` units a week (make items favour lot-for-lot and periods)."""
    draw = rng.random()
    if make:
        if draw < 0.5:
            return ev.LotSize()
        if draw < 0.7:
            return ev.LotSize(rule="period", period_days=rng.choice((7, 14, 28)))
        if draw < 0.85:
            return ev.LotSize(rule="fixed", fixed_qty=float(max(1, round(usage * rng.choice((2, 4))))))
        return ev.LotSize(rule="min_multiple", min_qty=float(max(1, round(usage))),
                          multiple=float(rng.choice((1, 5, 10, 25))))
    if draw < 0.3:
        return ev.LotSize()
    if draw < 0.6:
        multiple = float(rng.choice((10, 50, 100, 500)))
        max_qty = float(max(multiple, round(usage * 8))) if rng.random() < 0.33 else None
        return ev.LotSize(rule="min_multiple", min_qty=float(max(1, round(usage * 2))), multiple=multiple,
                          max_qty=max_qty)
    if draw < 0.8:
        return ev.LotSize(rule="eoq", ordering_cost=float(rng.randint(25, 250)),
                          holding_cost_rate=round(rng.uniform(0.15, 0.3), 3))
    return ev.LotSize(rule="fixed", fixed_qty=float(max(1, round(usage * rng.choice((1, 2, 4))))))


def order_units(lot: ev.LotSize, need: float, daily_usage: float, unit_cost: float) -> int:
    """Whole units a replenishment order for ``need`` units takes under ``lot`` (at least one).

    The simulated factory's own buyer and scheduler, not the engine's MRP: close enough to the rules that
    the engine's planned orders and the orders the factory places look alike.
    """
    need = max(1.0, need)
    if lot.rule == "fixed" and lot.fixed_qty:
        qty = math.ceil(need / lot.fixed_qty) * lot.fixed_qty
    elif lot.rule == "min_multiple":
        qty = max(need, lot.min_qty or 0.0)
        if lot.multiple:
            qty = math.ceil(qty / lot.multiple) * lot.multiple
        if lot.max_qty:
            qty = min(qty, lot.max_qty)
    elif lot.rule == "period":
        qty = need + daily_usage * (lot.period_days or 1) * 5 / 7
    elif lot.rule == "eoq":
        annual = daily_usage * 250
        holding = (lot.holding_cost_rate or 0.2) * max(unit_cost, 0.01)
        qty = max(need, math.sqrt(2 * annual * (lot.ordering_cost or 100.0) / holding))
    else:
        qty = need
    return max(1, math.ceil(qty - 1e-9))
