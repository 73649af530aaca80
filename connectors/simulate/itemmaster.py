"""Each plant's item master: make or buy, lead time, lot rule, safety stock, standard cost.

Sized from the item's expected weekly usage at that plant (finished-device demand rolled down the BOMs),
so plants with more demand buy in bigger lots.  The lot rules come from ``lots.lot_size``, the rule mix
the benchmark site uses.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from schemas import events as ev

from .catalogue import CATEGORIES, Supplier
from .lots import lot_size
from .structure import Structure

__all__ = ["ItemPlan", "plant_items", "weekly_usage"]


@dataclass(slots=True)
class ItemPlan:
    item: str
    source: str
    lead: int
    safety: int            # units
    lot: ev.LotSize
    cost: float            # standard cost of a purchased part; an estimate for make items (lot sizing)
    weekly: float          # expected units a week
    inspected: bool
    phantom: bool
    description: str
    supplier: Supplier | None = None

    @property
    def daily(self) -> float:
        """Expected units a working day."""
        return self.weekly / 5

    def event(self, event_id: str, ts: dt.datetime, site: str) -> ev.Item:
        return ev.Item(event_id=event_id, ts=ts, site=site, item=self.item, source=self.source,  # type: ignore[arg-type]
                       lead_time_days=self.lead, safety_stock=self.safety, lot_size=self.lot,
                       standard_cost=self.cost if self.source == "buy" else None, description=self.description)


def weekly_usage(structure: Structure, demand: dict[str, float]) -> dict[str, float]:
    """Units a week of every item: finished-device demand exploded top-down with scrap and yield."""
    usage = dict.fromkeys(structure.parts, 0.0)
    usage.update(demand)
    for level in structure.levels:
        for parent in level:
            bom = structure.boms[parent]
            for child, qty_per, scrap in bom.lines:
                usage[child] += usage[parent] * qty_per * (1 + scrap / 100) * 100 / bom.yield_pct
    return usage


def plant_items(structure: Structure, usage: dict[str, float], rng: random.Random) -> dict[str, ItemPlan]:
    """The plant's plan of every item, make items level by level, then purchased parts."""
    plans: dict[str, ItemPlan] = {}
    costs: dict[str, float] = {}
    for item in structure.purchased:
        part = structure.parts[item]
        weekly = usage[item]
        category = CATEGORIES[part.group]
        cost = costs[item] = round(part.price * rng.uniform(0.97, 1.05), 4)
        safety = round(weekly * rng.uniform(0.3, 1.0)) if rng.random() < 0.5 else 0
        plans[item] = ItemPlan(item, "buy", rng.randint(*category.lead_days), safety, lot_size(rng, False, weekly),
                               cost, weekly, part.inspected, False, part.description, part.supplier)
    for level in reversed(structure.levels):   # bottom-up, so a parent's cost estimate sees its components
        for item in level:
            part = structure.parts[item]
            weekly = usage[item]
            bom = structure.boms[item]
            cost = costs[item] = round(sum(costs[c] * q for c, q, _ in bom.lines) * 1.3, 4)
            if part.phantom:
                plans[item] = ItemPlan(item, "make", 0, 0, ev.LotSize(), cost, weekly, False, True, part.description)
                continue
            finished = part.kind == "finished"
            safety = round(weekly * rng.uniform(0.3, 0.8)) if rng.random() < (0.4 if finished else 0.1) else 0
            lead = rng.randint(2, 4) if finished else rng.randint(1, 3)
            plans[item] = ItemPlan(item, "make", lead, safety, lot_size(rng, True, weekly), cost, weekly,
                                   part.inspected, False, part.description)
    return {item: plans[item] for item in structure.parts}   # catalogue order
