"""Master data: items and BOMs, global with per-site overrides.

Master data without a site applies to every site; with a site it overrides the
global record there.  A BOM that would close a cycle is refused when it
arrives, so planning can always order items by low-level code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.events import Bom, Item, WorkCenter

from .errors import BomCycle, Reject
from .quantity import SCALE, ceil_div, to_fixed

__all__ = ["BomLine", "BomSpec", "ItemSpec", "MasterData", "OperationSpec", "WorkCenterSpec", "explode"]


@dataclass(slots=True, frozen=True)
class ItemSpec:
    item: str
    source: str
    uom: str
    lead_time_days: int
    safety_stock: int
    lot_rule: str
    fixed_qty: int
    min_qty: int
    max_qty: int
    multiple: int
    period_days: int
    ordering_cost: float
    holding_cost_rate: float
    standard_cost: float | None

    @classmethod
    def from_event(cls, event: Item, one: Callable[[Any], Any] = lambda value: value) -> ItemSpec:
        """The item of an event; ``one`` gives the one object kept for each value (``MasterData._one``)."""
        lot = event.lot_size
        return cls(
            item=event.item, source=one(event.source), uom=one(event.uom),
            lead_time_days=event.lead_time_days, safety_stock=to_fixed(event.safety_stock),
            lot_rule=one(lot.rule),
            fixed_qty=one(to_fixed(lot.fixed_qty or 0)), min_qty=one(to_fixed(lot.min_qty or 0)),
            max_qty=one(to_fixed(lot.max_qty or 0)), multiple=one(to_fixed(lot.multiple or 0)),
            period_days=lot.period_days or 1, ordering_cost=one(lot.ordering_cost or 0.0),
            holding_cost_rate=one(lot.holding_cost_rate or 0.0), standard_cost=event.standard_cost,
        )


@dataclass(slots=True, frozen=True)
class BomLine:
    item: str
    qty_per: int  # micro-units per batch_qty of the parent
    scrap_pct: float
    numerator: int = 0    # qty_per x (100 + scrap%) x 1e4, set by BomSpec
    denominator: int = 1  # batch_qty x yield% x 1e4, set by BomSpec


@dataclass(slots=True, frozen=True)
class OperationSpec:
    name: str
    setup_minutes: float
    run_minutes_per_unit: float
    rate_per_hour: float
    work_center: str | None = None


@dataclass(slots=True, frozen=True)
class WorkCenterSpec:
    work_center: str
    minutes_per_day: float
    efficiency_pct: float
    working_days: tuple[int, ...]   # ISO weekdays, 1 = Monday
    available: int                  # micro-minutes a working day: minutes x efficiency, exact at 1e-6
    mask: int                       # the working days as bits, bit 0 = Monday (the kernel's calendar)

    @classmethod
    def from_event(cls, event: WorkCenter) -> WorkCenterSpec:
        days = tuple(sorted(set(event.working_days))) if event.working_days is not None else tuple(range(1, 8))
        # minutes and efficiency are contract numbers with at most 6 and 4 decimals: exact in integers
        available = round(event.minutes_per_day * SCALE) * round(event.efficiency_pct * 10_000) // 1_000_000
        return cls(event.work_center, event.minutes_per_day, event.efficiency_pct, days, available,
                   sum(1 << (day - 1) for day in days))


@dataclass(slots=True, frozen=True)
class BomSpec:
    item: str
    batch_qty: int
    lines: tuple[BomLine, ...]
    operations: tuple[OperationSpec, ...]
    yield_pct: float
    phantom: bool

    @classmethod
    def from_event(cls, event: Bom, one: Callable[[Any], Any] = lambda value: value) -> BomSpec:
        """The BOM of an event; ``one`` gives the one object kept for each number (``MasterData._one``)."""
        batch_qty = to_fixed(event.batch_qty)
        yld = round(event.yield_pct * 10_000)
        return cls(
            item=event.item, batch_qty=batch_qty,
            lines=tuple(BomLine(c.item, one(to_fixed(c.qty_per)), one(c.scrap_pct),
                                one(to_fixed(c.qty_per) * round((100 + c.scrap_pct) * 10_000)),
                                one(batch_qty * yld))
                        for c in event.components),
            operations=tuple(OperationSpec(o.name, one(o.setup_minutes), one(o.run_minutes_per_unit),
                                           one(o.rate_per_hour), o.work_center) for o in event.operations),
            yield_pct=event.yield_pct, phantom=event.phantom,
        )

    def component_qty(self, line: BomLine, parent_qty: int) -> int:
        """Micro-units of a component needed for ``parent_qty`` micro-units of the parent.

        qty x qty_per x (1 + scrap%) / yield, rounded up to 1e-6 so the
        requirement is always covered.  Exact integer arithmetic: scrap and yield
        percentages are taken at 1e-4 % resolution.
        """
        return ceil_div(parent_qty * line.numerator, line.denominator)


def explode(bom: BomSpec, qty: int, bom_of: Callable[[str], BomSpec | None],
            into: dict[str, int] | None = None) -> dict[str, int]:
    """Component needs for ``qty`` of ``bom``'s item; phantoms (``bom_of`` names their BOMs) pass through."""
    needs = {} if into is None else into
    for line in bom.lines:
        need = bom.component_qty(line, qty)
        child = bom_of(line.item)
        if child is not None and child.phantom:
            explode(child, need, bom_of, needs)
        else:
            needs[line.item] = needs.get(line.item, 0) + need
    return needs


class MasterData:
    """Effective items and BOMs per site."""

    def __init__(self) -> None:
        self.items: dict[str, ItemSpec] = {}
        self.site_items: dict[str, dict[str, ItemSpec]] = {}
        self.boms: dict[str, BomSpec] = {}
        self.site_boms: dict[str, dict[str, BomSpec]] = {}
        self.work_centers: dict[str, WorkCenterSpec] = {}
        self.site_work_centers: dict[str, dict[str, WorkCenterSpec]] = {}
        self.version = 0  # bumped on every BOM change: planners cache low-level codes by it
        self.item_version = 0  # bumped on every item change: standards rolled for valuation depend on items too
        # one object per value the BOMs and items' words and lot sizes hold: tens of thousands of them share
        # a few hundred quantities, factors, minutes and words, and each held its own (~40 % of a BOM's
        # memory); a table per type, as ``1 == 1.0 == True``.  Never emptied: a plant's distinct values are few,
        # and the items' own costs and safety stocks (mostly distinct) are not kept here
        self._values: dict[type, dict[Any, Any]] = {int: {}, float: {}, str: {}}

    def _one(self, value: Any) -> Any:
        """The one object kept for a value equal to ``value`` and of its type.

        A zero float keeps its own sign, and NaN (never equal to itself) is not kept.
        """
        table = self._values.get(type(value))
        if table is None or value != value:
            return value
        if type(value) is float and value == 0.0 and math.copysign(1.0, value) < 0.0:
            return value   # -0.0 would find 0.0
        return table.setdefault(value, value)

    @property
    def versions(self) -> tuple[int, int]:
        """(BOM, item) versions: what standards rolled from the master data are kept by."""
        return self.version, self.item_version

    def item(self, site: str, item: str) -> ItemSpec | None:
        overrides = self.site_items.get(site)
        if overrides is not None and item in overrides:
            return overrides[item]
        return self.items.get(item)

    def bom(self, site: str, item: str) -> BomSpec | None:
        overrides = self.site_boms.get(site)
        if overrides is not None and item in overrides:
            return overrides[item]
        return self.boms.get(item)

    def work_center(self, site: str, work_center: str) -> WorkCenterSpec | None:
        overrides = self.site_work_centers.get(site)
        if overrides is not None and work_center in overrides:
            return overrides[work_center]
        return self.work_centers.get(work_center)

    def put_work_center(self, event: WorkCenter) -> WorkCenterSpec:
        spec = WorkCenterSpec.from_event(event)
        if event.site is None:
            self.work_centers[event.work_center] = spec
        else:
            self.site_work_centers.setdefault(event.site, {})[event.work_center] = spec
        return spec

    def known_item(self, site: str, item: str) -> bool:
        return item in self.items or item in self.site_items.get(site, ())

    def put_item(self, event: Item) -> None:
        spec = ItemSpec.from_event(event, self._one)
        if event.site is None:
            self.items[event.item] = spec
        else:
            self.site_items.setdefault(event.site, {})[event.item] = spec
        self.item_version += 1

    def put_bom(self, event: Bom) -> None:
        """Store a BOM unless it closes a cycle in any site's effective BOMs."""
        spec = BomSpec.from_event(event, self._one)
        if any(line.denominator <= 0 for line in spec.lines):   # yields are taken at 1e-4 %: planning divides by it
            raise Reject(f"BOM for {spec.item!r}: yield_pct {event.yield_pct:g} is below the 0.0001 % resolution")
        if any(line.item == spec.item for line in spec.lines):
            raise BomCycle(f"BOM cycle: {spec.item} -> {spec.item}")
        scopes = [event.site] if event.site is not None else [None, *self.site_boms]
        for scope in scopes:
            path = self._path_to(scope, spec, start=spec.item)
            if path:
                raise BomCycle("BOM cycle: " + " -> ".join([spec.item, *path]))
        if event.site is None:
            self.boms[spec.item] = spec
        else:
            self.site_boms.setdefault(event.site, {})[spec.item] = spec
        self.version += 1

    def _path_to(self, scope: str | None, new: BomSpec, start: str) -> list[str]:
        """A component path from ``new``'s components back to ``start``, if any."""

        def bom_of(item: str) -> BomSpec | None:
            if item == new.item:
                return new
            return self.bom(scope, item) if scope is not None else self.boms.get(item)

        stack: list[tuple[str, list[str]]] = [(line.item, [line.item]) for line in new.lines]
        seen: set[str] = set()
        while stack:
            item, path = stack.pop()
            if item == start:
                return path
            if item in seen:
                continue
            seen.add(item)
            bom = bom_of(item)
            if bom is not None:
                stack.extend((line.item, [*path, line.item]) for line in bom.lines)
        return []

    def sites_with_overrides(self) -> list[str]:
        return sorted(set(self.site_items) | set(self.site_boms))


def units(micro: int) -> float:
    """Micro-units as a float, for costs and reports that are not stock."""
    return micro / SCALE
