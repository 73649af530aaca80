"""A deterministic synthetic site for benchmarks, as v1 event Structs.

``generate(SiteSpec(items=10_000))`` builds, from one seed:

* ``depth + 1`` item levels: level 0 are the finished goods (top-level items,
  the only ones with independent demand), levels ``1 .. depth - 1`` are
  sub-assemblies (``make``), level ``depth`` is purchased material (``buy``).
  Each level holds ``growth`` times as many items as the one above.
* work centers (at least ``centers_per_level`` per BOM level, more where a
  level needs more than ``CENTER_MAX_MINUTES`` a day; Monday to Friday) sized so
  that the expected weekly load is ``utilisation`` of what is available, and
  each BOM's operation on one of its level's centers (round robin);
* a BOM for every make item with exactly ``fanout`` components from the next
  level.  Levels are cut into product families (contiguous blocks, about
  ``family`` items below the finished goods each); a BOM's components come from
  its own family's block, so sub-assemblies and parts are shared by the
  family's finished goods and parents, and every item of a block is the
  component of at least one parent.  One finished good's tree therefore holds
  about ``family`` items (see ``GeneratedSite.tree`` and ``summary``).
* mixed lot rules (lot-for-lot, fixed, min/multiple, period, EOQ), lead times,
  safety stock on about a fifth of the items, standard costs on buy items and
  one operation per BOM, sized from each item's expected weekly usage.
* opening stock (one or two lots per stocked item), open purchase orders on
  buy items, and a year of weekly demand on the finished goods: sales orders
  for the first ``sales_weeks`` weeks, forecasts after that.

Events come in load order: items, BOMs (top-down), opening receipts, purchase
orders, demands.  All load events carry ``spec.start`` plus a millisecond per
event, so the site's "today" is ``spec.start.date()``.

``ScanStream`` and ``SalesOrderStream`` continue a generated site with the
events the latency benchmarks apply one at a time; they track lot quantities
so that every generated issue and count is accepted by the engine.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from connectors.simulate.bomshape import pick_components as _pick_components
from connectors.simulate.lots import lot_size as _lot_size
from schemas import events as ev

__all__ = ["START", "GeneratedSite", "SalesOrderStream", "ScanStream", "SiteSpec", "generate"]

#: a Monday morning, CET: the site's "today" after loading
START = dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
_MS = dt.timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class SiteSpec:
    items: int = 10_000
    depth: int = 6            # BOM levels below the finished goods
    fanout: int = 4           # components per BOM
    family: int = 48          # items per product family below the finished goods (about one tree)
    growth: float = 1.2       # items per level grow by this factor going down
    weeks: int = 52           # demand horizon
    sales_weeks: int = 8      # weeks covered by sales orders; forecasts after
    safety_share: float = 0.2
    stocked_share: float = 0.9
    po_share: float = 0.6     # buy items with open purchase orders
    centers_per_level: int = 0  # work centers per BOM level, at least (0: operations load none)
    utilisation: float = 0.85   # each center's expected weekly load over its available minutes
    seed: int = 20260105
    site: str = "S1"
    start: dt.datetime = START


@dataclass(slots=True)
class GeneratedSite:
    spec: SiteSpec
    master: list[Any] = field(default_factory=list)     # items, then BOMs top-down
    stock: list[Any] = field(default_factory=list)      # opening receipts
    orders: list[Any] = field(default_factory=list)     # open purchase orders
    demands: list[Any] = field(default_factory=list)    # sales orders and forecasts
    levels: list[list[str]] = field(default_factory=list)
    components: dict[str, list[str]] = field(default_factory=dict)
    weekly: dict[str, float] = field(default_factory=dict)    # expected weekly usage, units
    lots: dict[str, dict[str, int]] = field(default_factory=dict)  # opening stock: item -> lot -> units
    end: dt.datetime = START  # ts of the last load event

    @property
    def events(self) -> list[Any]:
        return [*self.master, *self.stock, *self.orders, *self.demands]

    @property
    def top(self) -> list[str]:
        return self.levels[0]

    @property
    def all_items(self) -> list[str]:
        return [item for level in self.levels for item in level]

    def tree(self, item: str) -> set[str]:
        """The item and everything below it in its BOM."""
        seen = {item}
        stack = [item]
        while stack:
            for child in self.components.get(stack.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen

    def summary(self) -> dict[str, Any]:
        sizes = sorted(len(self.tree(fg)) for fg in self.top)
        return {
            "items": sum(len(level) for level in self.levels),
            "levels": [len(level) for level in self.levels],
            "boms": len(self.components),
            "receipts": len(self.stock),
            "purchase_orders": len(self.orders),
            "demands": len(self.demands),
            "events": len(self.master) + len(self.stock) + len(self.orders) + len(self.demands),
            "tree_mean": sum(sizes) / len(sizes),
            "tree_median": sizes[len(sizes) // 2],
            "tree_max": sizes[-1],
        }


class _Clock:
    def __init__(self, start: dt.datetime, prefix: str, step: dt.timedelta = _MS) -> None:
        self.now = start
        self.step = step
        self.prefix = prefix
        self.n = 0

    def next(self) -> tuple[str, dt.datetime]:
        self.n += 1
        self.now += self.step
        return f"{self.prefix}{self.n:08d}", self.now


def _level_sizes(spec: SiteSpec) -> list[int]:
    weights = [spec.growth ** level for level in range(spec.depth + 1)]
    total = sum(weights)
    sizes = [max(1, round(spec.items * w / total)) for w in weights]
    sizes[-1] += spec.items - sum(sizes)
    return sizes


def _item_id(level: int, index: int, depth: int) -> str:
    if level == 0:
        return f"FG-{index:06d}"
    if level == depth:
        return f"RM-{index:06d}"
    return f"SA{level}-{index:06d}"


_QTY_PER = (1, 1, 1, 1, 1, 1, 2, 2, 0.5, 3, 4)


#: most minutes a generated work center offers a day; the deepest levels use parts by the thousand, so a level
#: that needs more gets more centers
CENTER_MAX_MINUTES = 2_000_000


def _work_centers(spec: SiteSpec, gen: GeneratedSite, clock: _Clock) -> list[Any]:
    """Put each BOM's operation on a center of its level (round robin over at least ``centers_per_level``),
    and size Monday-to-Friday centers so that ``utilisation`` of their minutes go to the expected weekly
    orders."""
    if not spec.centers_per_level:
        return []
    boms = {event.item: index for index, event in enumerate(gen.master) if isinstance(event, ev.Bom)}
    weekly_minutes: dict[str, float] = {}
    for level, names in enumerate(gen.levels):
        made = [name for name in names if name in boms]
        needs = {name: sum(op.setup_minutes + op.run_minutes_per_unit * gen.weekly[name]
                           for op in gen.master[boms[name]].operations) for name in made}
        count = max(spec.centers_per_level,
                    math.ceil(sum(needs.values()) / 5 / spec.utilisation / CENTER_MAX_MINUTES))
        for index, name in enumerate(made):
            center = f"WC-{level}-{index % count}"
            bom = gen.master[boms[name]]
            gen.master[boms[name]] = msgspec.structs.replace(bom, operations=[
                msgspec.structs.replace(op, work_center=center) for op in bom.operations])
            weekly_minutes[center] = weekly_minutes.get(center, 0.0) + needs[name]
    centers = []
    for name in sorted(weekly_minutes):
        event_id, ts = clock.next()
        per_day = round(weekly_minutes[name] / 5 / spec.utilisation, 1)
        centers.append(ev.WorkCenter(event_id=event_id, ts=ts, work_center=name, minutes_per_day=per_day,
                                     working_days=[1, 2, 3, 4, 5]))
    return centers


def generate(spec: SiteSpec | None = None) -> GeneratedSite:
    spec = spec or SiteSpec()
    rng = random.Random(spec.seed)
    gen = GeneratedSite(spec=spec, end=spec.start)
    clock = _Clock(spec.start, "g")
    sizes = _level_sizes(spec)
    gen.levels = [[_item_id(level, i, spec.depth) for i in range(n)] for level, n in enumerate(sizes)]
    families = max(1, round((spec.items - sizes[0]) / spec.family))

    # structure and expected weekly usage, top-down
    boms: dict[str, tuple[list[tuple[str, float, float]], float]] = {}
    weekly = gen.weekly
    for fg in gen.levels[0]:
        weekly[fg] = float(rng.randint(10, 60))
    for level in range(spec.depth):
        parents, children = gen.levels[level], gen.levels[level + 1]
        for parent, picks in zip(parents, _pick_components(rng, len(parents), len(children), spec.fanout,
                                                           families), strict=True):
            yield_pct = 100.0 if rng.random() < 0.9 else rng.choice((95.0, 98.0))
            lines = []
            for index in picks:
                child = children[index]
                qty_per = rng.choice(_QTY_PER)
                scrap = 0.0 if rng.random() < 0.8 else float(rng.choice((1, 2, 5)))
                lines.append((child, qty_per, scrap))
                weekly[child] = weekly.get(child, 0.0) + weekly[parent] * qty_per * (1 + scrap / 100) * 100 / yield_pct
            boms[parent] = (lines, yield_pct)
            gen.components[parent] = [line[0] for line in lines]

    # items
    standard: dict[str, float] = {}
    for level, names in enumerate(gen.levels):
        make = level < spec.depth
        for name in names:
            usage = weekly[name]
            lot = _lot_size(rng, make, usage)
            safety = round(usage * rng.uniform(0.3, 1.0)) if rng.random() < spec.safety_share else 0
            cost = None
            if not make:
                cost = standard[name] = round(rng.uniform(0.2, 50.0), 2)
            event_id, ts = clock.next()
            gen.master.append(ev.Item(
                event_id=event_id, ts=ts, item=name, source="make" if make else "buy",
                lead_time_days=rng.randint(1, 5) if make else rng.randint(5, 30),
                safety_stock=float(safety), lot_size=lot, standard_cost=cost,
                description=f"level {level} {'assembly' if make else 'part'}"))

    # BOMs, top-down (cheapest for the cycle check)
    for level in range(spec.depth):
        for parent in gen.levels[level]:
            lines, yield_pct = boms[parent]
            event_id, ts = clock.next()
            gen.master.append(ev.Bom(
                event_id=event_id, ts=ts, item=parent,
                components=[ev.Component(item=c, qty_per=float(q), scrap_pct=s) for c, q, s in lines],
                operations=[ev.Operation(name="assemble", setup_minutes=float(rng.randint(10, 60)),
                                         run_minutes_per_unit=round(rng.uniform(0.5, 5.0), 2),
                                         rate_per_hour=float(rng.randint(30, 90)))],
                yield_pct=yield_pct))
    gen.master.extend(_work_centers(spec, gen, clock))

    # opening stock
    for name in gen.all_items:
        if rng.random() >= spec.stocked_share:
            continue
        total = max(1, round(weekly[name] * rng.uniform(0.5, 6.0)))
        n_lots = 1 if rng.random() < 0.7 or total < 2 else 2
        split = [total] if n_lots == 1 else [total // 2, total - total // 2]
        lots = gen.lots[name] = {}
        for k, qty in enumerate(split, start=1):
            lot = f"OPEN-{k}"
            lots[lot] = qty
            price = standard.get(name)
            event_id, ts = clock.next()
            gen.stock.append(ev.Receipt(
                event_id=event_id, ts=ts, site=spec.site, item=name, qty=float(qty), lot=lot,
                unit_cost=round(price * rng.uniform(0.9, 1.1), 4) if price is not None else None))

    # open purchase orders on buy items
    today = spec.start.date()
    for name in gen.levels[-1]:
        if rng.random() >= spec.po_share:
            continue
        for k in range(rng.randint(1, 3)):
            event_id, ts = clock.next()
            gen.orders.append(ev.PurchaseOrder(
                event_id=event_id, ts=ts, site=spec.site, po_id=f"PO-{name}-{k + 1}", item=name,
                qty=float(max(1, round(weekly[name] * rng.uniform(1.0, 4.0)))),
                due=today + dt.timedelta(days=rng.randint(0, 56)), unit_price=standard[name],
                supplier=f"SUP-{rng.randint(1, 200):03d}"))

    # a year of weekly demand on the finished goods
    for fg in gen.levels[0]:
        usage = weekly[fg]
        for week in range(spec.weeks):
            due = today + dt.timedelta(days=7 * week + rng.randint(0, 4))
            if week < spec.sales_weeks:
                for k in range(rng.randint(1, 3)):
                    event_id, ts = clock.next()
                    gen.demands.append(ev.Demand(
                        event_id=event_id, ts=ts, site=spec.site, demand_id=f"SO-{fg}-{week:02d}-{k + 1}", item=fg,
                        qty=float(max(1, round(usage * rng.uniform(0.2, 0.6)))), due=due, kind="sales_order",
                        customer=f"CUST-{rng.randint(1, 500):04d}"))
            else:
                event_id, ts = clock.next()
                gen.demands.append(ev.Demand(
                    event_id=event_id, ts=ts, site=spec.site, demand_id=f"FC-{fg}-{week:02d}", item=fg,
                    qty=float(max(1, round(usage))), due=due, kind="forecast"))
    gen.end = clock.now
    return gen


class ScanStream:
    """Stock scans on uniformly random items: receipt, issue, count, receipt, ...

    Lot quantities are tracked (FIFO like the engine's picking) so every issue
    is covered by available stock and every count differs from the book by a
    few units, i.e. every scan changes stock and re-nets its item.
    """

    def __init__(self, gen: GeneratedSite, seed: int = 1, start: dt.datetime | None = None,
                 step: dt.timedelta = dt.timedelta(milliseconds=50)) -> None:
        self.site = gen.spec.site
        self.rng = random.Random(seed)
        self.items = gen.all_items
        self.lots = {item: dict(lots) for item, lots in gen.lots.items()}
        self.clock = _Clock(start or gen.end + dt.timedelta(hours=1), f"scan{seed}-", step)
        self.n = 0

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        kind = self.n % 3
        self.n += 1
        rng = self.rng
        event_id, ts = self.clock.next()
        if kind == 0:
            item = rng.choice(self.items)
            lots = self.lots.setdefault(item, {})
            lot = rng.choice(list(lots)) if lots and rng.random() < 0.8 else f"R{rng.randint(1, 3)}"
            qty = rng.randint(1, 50)
            lots[lot] = lots.get(lot, 0) + qty
            return ev.Receipt(event_id=event_id, ts=ts, site=self.site, item=item, qty=float(qty), lot=lot)
        if kind == 1:
            while True:
                item = rng.choice(self.items)
                lots = self.lots.get(item)
                on_hand = sum(lots.values()) if lots else 0
                if on_hand > 0:
                    break
            qty = rng.randint(1, min(20, on_hand))
            left = qty
            for lot, have in lots.items():   # FIFO over first-receipt order, like Stock.pick
                take = min(have, left)
                lots[lot] = have - take
                left -= take
                if not left:
                    break
            return ev.Issue(event_id=event_id, ts=ts, site=self.site, item=item, qty=float(qty))
        item = rng.choice(self.items)
        lots = self.lots.setdefault(item, {})
        lot = rng.choice(list(lots)) if lots else "R1"
        book = lots.get(lot, 0)
        counted = book + rng.choice((-3, -2, -1, 1, 2, 3))
        if counted < 0:
            counted = book + rng.randint(1, 3)
        lots[lot] = counted
        return ev.Count(event_id=event_id, ts=ts, site=self.site, item=item, lot=lot, counted_qty=float(counted))

    def take(self, n: int) -> list[Any]:
        return [next(self) for _ in range(n)]


class SalesOrderStream:
    """New sales orders on random finished goods, due within the next twelve weeks."""

    def __init__(self, gen: GeneratedSite, seed: int = 2, start: dt.datetime | None = None,
                 step: dt.timedelta = dt.timedelta(milliseconds=50)) -> None:
        self.site = gen.spec.site
        self.rng = random.Random(seed)
        self.top = gen.top
        self.weekly = gen.weekly
        self.today = gen.spec.start.date()
        self.clock = _Clock(start or gen.end + dt.timedelta(hours=2), f"so{seed}-", step)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        rng = self.rng
        item = rng.choice(self.top)
        event_id, ts = self.clock.next()
        return ev.Demand(event_id=event_id, ts=ts, site=self.site, demand_id=f"SO-NEW-{event_id}", item=item,
                         qty=float(max(1, round(self.weekly[item] * rng.uniform(0.1, 0.5)))),
                         due=self.today + dt.timedelta(days=rng.randint(1, 84)), kind="sales_order",
                         customer=f"CUST-{rng.randint(1, 500):04d}")

    def take(self, n: int) -> list[Any]:
        return [next(self) for _ in range(n)]
