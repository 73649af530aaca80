"""Costs that are never stale: moving averages, standard roll-up, order variances.

* Moving average per site x item, updated by receipts (their ``unit_cost``,
  else the purchase order's ``unit_price``) and transfers in (the shipping
  site's average).  Issues leave it unchanged.  When stock on hand is zero or
  negative before a receipt, the receipt's own price becomes the average:
  blending with a negative quantity is what gives well-known ERPs their
  negative and absurd averages, so we never do it.
* Standard cost roll-up: components x (1 + scrap) at their cost, plus
  operations (setup over batch_qty, run minutes per unit) at their hourly rate,
  divided by yield.  Buy items take ``standard_cost``, else their moving
  average.  A cost change re-rolls every parent that uses the item, bottom-up.
* A production order's actual cost at close with variances against standard.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from schemas.outputs import Cost, OrderCost

from .bomgraph import BomGraph
from .master import BomSpec
from .orders import ProductionOrder
from .quantity import SCALE, to_number

__all__ = ["CostBook", "money", "moving_average", "revalued_average", "roll_standard", "standard_is_average"]

EPSILON = 1e-6
_NOTHING_PUBLISHED: tuple[None, None] = (None, None)


def moving_average(old_avg: float | None, on_hand: int, qty: int, unit_cost: float) -> float:
    """New average after receiving ``qty`` at ``unit_cost`` onto ``on_hand`` (micro-units)."""
    if old_avg is None or on_hand <= 0:
        return unit_cost
    return (old_avg * on_hand + unit_cost * qty) / (on_hand + qty)


def revalued_average(old_avg: float | None, on_hand: int, received: int, valued_at: float | None,
                     unit_cost: float) -> float | None:
    """Average after ``received`` units, taken in at ``valued_at`` (the average then, or None), turn out to
    have cost ``unit_cost`` (a transfer received before its shipment's cost was known); None: unchanged.

    Only the part still on hand is revalued (what left meanwhile went out at the old value, as an ERP
    books a price difference); nothing on hand leaves the average alone, so it never turns negative or
    absurd; an item without an average takes the new cost.
    """
    if old_avg is None:
        return unit_cost
    if on_hand <= 0:
        return None
    base = old_avg if valued_at is None else valued_at
    return max(0.0, old_avg + min(received, on_hand) * (unit_cost - base) / on_hand)


def money(value: float) -> Any:
    """A cost as an exact number rounded to 1e-6."""
    return to_number(round(value * SCALE))


def operations_cost(bom: BomSpec, qty_units: float, per_unit_setup: bool) -> float:
    """Cost of a BOM's operations for ``qty_units`` (setup spread over batch_qty, or once)."""
    total = 0.0
    batch = bom.batch_qty / SCALE
    for op in bom.operations:
        setup = op.setup_minutes * qty_units / batch if per_unit_setup else op.setup_minutes
        total += (setup + op.run_minutes_per_unit * qty_units) * op.rate_per_hour / 60.0
    return total


class CostBook:
    """Rolled standard costs of one site and what was last published."""

    def __init__(self) -> None:
        self.standard: dict[str, float] = {}
        self.published: dict[str, tuple[float | None, float | None]] = {}
        self.changed: list[str] = []  # items whose standard changed in the last update

    def unit_cost_for_planning(self, site: Any, item: str) -> float:
        std = self.standard.get(item)
        if std is not None:
            return std
        return site.avg_cost.get(item, 0.0)

    def component_cost(self, site: Any, item: str) -> float | None:
        std = self.standard.get(item)
        return std if std is not None else site.avg_cost.get(item)

    def roll(self, site: Any, item: str) -> float | None:
        """Standard unit cost of one item from its components' rolled costs (kept per batch)."""
        return roll_standard(site, item, lambda component: self.component_cost(site, component))

    def update(self, site: Any, graph: BomGraph, dirty: dict[str, None]) -> list[Any]:
        """Re-roll dirty items and their users bottom-up; close orders; emit changes.

        Items go by low-level code, deepest first, each level in name order: a
        parent's code is below each of its components', so a parent queued by a
        change lands in a level still to come.  (A heap did the same in
        O(log n) per item; a regenerative run rolls every item.)
        """
        self.changed = changed = []
        if not dirty and not site.closed_orders:
            site.cost_dirty = False
            return []   # most batches: a scan moves no cost
        out: list[Any] = []
        standard, published, avg_cost, parents = self.standard, self.published, site.avg_cost, graph.parents
        levels = graph.levels
        component_cost = partial(self.component_cost, site)
        by_level: dict[int, list[str]] = {}
        for item in dirty:
            by_level.setdefault(levels.get(item, 0), []).append(item)
        queued = set(dirty)
        while by_level:
            items = by_level.pop(max(by_level))
            items.sort()
            for item in items:
                std = roll_standard(site, item, component_cost)
                old_std = standard.get(item)
                if std is None:
                    standard.pop(item, None)
                else:
                    standard[item] = std
                if old_std != std:  # exact: sub-1e-6 steps must still reach parents, or they drift
                    changed.append(item)
                    for parent in parents.get(item, ()):
                        if parent not in queued:
                            queued.add(parent)
                            by_level.setdefault(levels.get(parent, 0), []).append(parent)
                avg = avg_cost.get(item)
                last = published.get(item, _NOTHING_PUBLISHED)
                if last != (avg, std) and (_changed(last[0], avg) or _changed(last[1], std)):
                    published[item] = (avg, std)
                    out.append(Cost(site=site.site, ts=site.clock, item=item,
                                    unit_cost=money(avg if avg is not None else std or 0.0),
                                    standard_cost=money(std) if std is not None else None))
        for order_id in site.closed_orders:
            out.append(self.order_cost(site, site.production[order_id]))
            site.keep_closed(order_id)   # costed: nothing changes it any more (core/closed_orders.py)
        site.closed_orders.clear()
        site.cost_dirty = False
        return out

    def order_cost(self, site: Any, order: ProductionOrder) -> OrderCost:
        """Actual cost of a closed order and its variances against standard.

        actual - standard = material usage + material price + operations variance.
        """
        good = order.good / SCALE
        bom = order.bom or site.master.bom(site.site, order.item)
        standard_qty = site.explode(bom, order.good) if bom is not None else {}
        usage = price = actual_material = standard_material = 0.0
        for component in dict.fromkeys([*order.issued, *standard_qty]):
            std_cost = self.component_cost(site, component) or 0.0
            actual_qty = order.issued.get(component, 0) / SCALE
            value = order.issued_value.get(component, 0.0) + order.unvalued.get(component, 0) / SCALE * std_cost
            std_qty = standard_qty.get(component, 0) / SCALE
            actual_material += value
            standard_material += std_qty * std_cost
            usage += (actual_qty - std_qty) * std_cost
            price += value - actual_qty * std_cost
        rates = {op.name: op.rate_per_hour for op in bom.operations} if bom is not None else {}
        actual_ops = sum(minutes * rates.get(name, 0.0) / 60.0 for name, minutes in order.minutes.items())
        unit_std = self.standard.get(order.item)
        if unit_std is None:
            unit_std = self.roll(site, order.item) or 0.0
        standard = unit_std * good
        standard_ops = standard - standard_material
        return OrderCost(site=site.site, ts=site.clock, order_id=order.order_id, item=order.item,
                         good_qty=to_number(order.good), actual_cost=money(actual_material + actual_ops),
                         standard_cost=money(standard), material_usage_variance=money(usage),
                         material_price_variance=money(price), operations_variance=money(actual_ops - standard_ops))


def roll_standard(site: Any, item: str, component_cost: Any) -> float | None:
    """Components x (1 + scrap) at ``component_cost``, plus operations, over yield; buy items their own cost."""
    spec = site.master.item(site.site, item)
    bom = site.master.bom(site.site, item)
    if _own_cost(spec, bom):
        if spec is not None and spec.standard_cost is not None:
            return spec.standard_cost
        return site.avg_cost.get(item)
    total = 0.0
    for line in bom.lines:
        cost = component_cost(line.item)
        if cost is not None:
            total += cost * line.qty_per * (1 + line.scrap_pct / 100) / bom.batch_qty
    total += operations_cost(bom, 1.0, per_unit_setup=True)
    return total / (bom.yield_pct / 100)


def standard_is_average(site: Any, item: str) -> bool:
    """Whether ``roll_standard`` takes the item's moving average (its own cost, no standard cost given): only
    then does a new average move a standard, the item's and its users'."""
    spec = site.master.item(site.site, item)
    return (spec is None or spec.standard_cost is None) and _own_cost(spec, site.master.bom(site.site, item))


def _own_cost(spec: Any, bom: BomSpec | None) -> bool:
    """An item costed on its own (bought, or without a BOM), not rolled from its components."""
    return bom is None or (spec is not None and spec.source == "buy")


def _changed(old: float | None, new: float | None) -> bool:
    if old is None or new is None:
        return old is not new
    return abs(old - new) > EPSILON
