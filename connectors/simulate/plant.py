"""One simulated plant: its stock book, open orders, calendar of what is due, and how it emits events.

A working day runs in phases of local time (``day``): receipts 06:00, inspection 07:00, kitting 08:00,
production output 11:00, deliveries 13:00, new sales orders 14:00, transfers 15:00 (``transfers``),
planning 16:00, cycle counts and holds 18:00.  Every event goes through ``emit``, which stamps it with the
plant's clock and a fresh id, and may follow it with a deliberately bad one (``faults``).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.master import BomSpec
from core.quantity import SCALE
from schemas import events as ev

from . import production, purchasing, quality, sales, transfers
from .book import Book
from .catalogue import SiteInfo
from .itemmaster import ItemPlan
from .lots import order_units
from .structure import Structure
from .timeline import EventQueue, PlantClock

__all__ = ["Inbound", "Job", "Plant", "Purchase", "SalesLine"]

#: days of usage between two looks at an item (the reorder point covers lead time plus this)
REVIEW_DAYS = 1
#: days of usage an order adds above the reorder point (purchased parts: twice that)
COVER_DAYS = 5
#: purchased parts with orders already at the supplier when the simulation starts
OPEN_ORDER_SHARE = 0.9


@dataclass(slots=True)
class Job:
    """A production order: planned until its material is there, then released and kitted at once."""

    order_id: str
    item: str
    qty: int
    due: dt.date
    start: dt.date
    run_days: int
    required: dict[str, int]
    issued: dict[str, int] = field(default_factory=dict)
    reserved: dict[str, int] = field(default_factory=dict)
    ready: dt.date | None = None     # released and kitted: the day its output is booked


@dataclass(slots=True)
class Purchase:
    po_id: str
    item: str
    qty: int
    due: dt.date
    price: float
    supplier: str
    received: int = 0
    confirmed: bool = False


@dataclass(slots=True)
class SalesLine:
    demand_id: str
    item: str
    qty: int
    due: dt.date
    customer: str
    delivered: int = 0

    @property
    def open(self) -> int:
        return self.qty - self.delivered


@dataclass(slots=True)
class Inbound:
    """A shipment from another plant on its way here, received in one or two parts."""

    transfer_id: str
    item: str
    lot: str
    qty: int
    received: int = 0


class Plant:
    """One plant's state and routine; the phase modules (purchasing, production, ...) act on it."""

    def __init__(self, info: SiteInfo, structure: Structure, items: dict[str, ItemPlan],
                 boms: dict[str, BomSpec], weights: dict[str, float], queue: EventQueue, seed: int | str,
                 faults: Callable[[Plant, Any], list[Any]] | None = None) -> None:
        self.name = info.name
        self.info = info
        self.structure = structure
        self.items = items
        self.boms = boms
        self.weights = weights      # demand share of each finished device (Zipf)
        self.queue = queue
        self.faults = faults
        self.rng = random.Random(f"{seed}:{info.name}")
        self.clock = PlantClock(info.offset)
        self.book = Book()
        self.supply: dict[str, int] = {}          # open purchase, production and inbound transfer qty
        self.planned_needs: dict[str, int] = {}   # what planned (not yet released) orders will need
        self.jobs: dict[str, Job] = {}
        self.purchases: dict[str, Purchase] = {}
        self.sales: dict[str, SalesLine] = {}
        self.forecasts: dict[str, ev.Demand] = {}
        self.inbound: dict[str, Inbound] = {}
        self.pending_qc: dict[tuple[str, str], dt.date] = {}              # lot with qc_pending stock -> since
        self.agenda: dict[dt.date, list[tuple[str, Any]]] = {}            # day -> things due that day
        self.counters: dict[str, int] = {}
        self.stats: dict[str, int] = {}
        self.weekly_demand = sum(items[fg].weekly for fg in structure.levels[0])
        self.stockable = [item for item, plan in items.items() if not plan.phantom]
        self.cumulative: dict[str, int] = {}     # make item -> cumulative lead time (days of work)
        for level in reversed(structure.levels):
            for item in level:
                made = [self.cumulative[c] for c in structure.components(item) if c in self.cumulative]
                self.cumulative[item] = items[item].lead + max(made, default=0)

    # --- events -------------------------------------------------------------------------

    def next_id(self, kind: str, width: int = 6) -> str:
        number = self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{self.name}-{kind}{number:0{width}d}"

    def emit(self, cls: type, **fields: Any) -> Any:
        """Stamp, queue and count one event of this plant."""
        event = cls(event_id=self.next_id("E", 7), ts=self.clock.tick(), site=self.name, **fields)
        self.queue.push(event)
        tag = cls.__struct_config__.tag  # type: ignore[attr-defined]
        self.stats[tag] = self.stats.get(tag, 0) + 1
        if self.faults is not None:
            for bad in self.faults(self, event):
                self.queue.push(bad)
        return event

    def new_lot(self) -> str:
        return self.next_id("L", 7)

    def schedule(self, day: dt.date, kind: str, what: Any) -> None:
        self.agenda.setdefault(day, []).append((kind, what))

    def due_today(self, day: dt.date, kind: str) -> list[Any]:
        """What was scheduled of one kind for ``day`` (or an earlier day), in order."""
        return [what for _kind, what in self.due_entries(day, (kind,))]

    # --- positions ------------------------------------------------------------------------

    def backlog(self, day: dt.date) -> dict[str, int]:
        """Open sales-order quantity per finished device due within its lead time plus review."""
        backlog: dict[str, int] = {}
        for line in self.sales.values():
            horizon = day + dt.timedelta(days=self.items[line.item].lead + REVIEW_DAYS + 2)
            if line.due <= horizon:
                backlog[line.item] = backlog.get(line.item, 0) + line.open
        return backlog

    def position(self, item: str, backlog: dict[str, int]) -> float:
        """Units on hand (any usable status) plus on order, less what orders need and customers are promised."""
        book = self.book
        micro = (book.unrestricted(item) + book.status_qty(item, "qc_pending") + book.status_qty(item, "rework")
                 + self.supply.get(item, 0) - book.reserved.get(item, 0) - self.planned_needs.get(item, 0)
                 - backlog.get(item, 0))
        return micro / SCALE

    def reorder_point(self, item: str) -> float:
        """Expected usage over the lead time and the review period, plus safety stock.

        A make item's lead time is cumulative, counted in working days (its own plus its slowest made
        component's): the parts are stocked, but every level of sub-assembly is made in turn.
        """
        plan = self.items[item]
        if plan.source == "make":
            return plan.daily * (self.cumulative[item] + REVIEW_DAYS) + plan.safety
        return plan.weekly / 7 * plan.lead + plan.daily * REVIEW_DAYS + plan.safety

    def add_supply(self, item: str, micro: int) -> None:
        self.supply[item] = self.supply.get(item, 0) + micro

    # --- the day ----------------------------------------------------------------------------

    def open(self, day: dt.date) -> None:
        """Opening state from 01:00 on the first day: stock, orders already with suppliers, backlog, forecasts."""
        rng = self.rng
        self.clock.phase(day, 1)
        for item in self.stockable:
            plan = self.items[item]
            weeks = rng.uniform(0.1, 0.5) if rng.random() < 0.05 else rng.uniform(1.5, 3.5)
            total = round(plan.weekly * weeks + plan.safety)
            if total < 1 or rng.random() < 0.03:
                continue
            split = [total] if total < 10 or rng.random() < 0.7 else [total // 3, total - total // 3]
            for qty in split:
                lot = self.new_lot()
                cost = round(plan.cost * rng.uniform(0.95, 1.05), 4) if plan.source == "buy" else None
                self.emit(ev.Receipt, item=item, qty=qty, lot=lot, unit_cost=cost)
                self.book.book(item, lot, "available", qty * SCALE)
        for item in self.structure.purchased:   # orders already with suppliers: one per fortnight of lead time
            plan = self.items[item]
            if plan.weekly > 0 and rng.random() < OPEN_ORDER_SHARE:
                for offset in range(rng.randint(1, 7), plan.lead + 1, 14):
                    qty = order_units(plan.lot, plan.weekly * 2, plan.daily, plan.cost)
                    purchasing.place(self, item, qty, day, due=day + dt.timedelta(days=offset))
        sales.take_orders(self, day, days=7)
        sales.forecast(self, day)

    def morning(self, day: dt.date) -> None:
        self.clock.phase(day, 6)
        for kind, what in self.due_entries(day, ("po", "transfer")):
            if kind == "po":
                purchasing.receive(self, *what, today=day)
            else:
                transfers.receive(self, *what)
        self.clock.phase(day, 7)
        quality.inspect(self, day)
        self.clock.phase(day, 8)
        production.release_and_kit(self, day)
        self.clock.phase(day, 11)
        production.finish(self, day)
        self.clock.phase(day, 13)
        sales.deliver(self, day)
        self.clock.phase(day, 14)
        sales.take_orders(self, day)
        if day.weekday() == 0:
            sales.forecast(self, day)

    def evening(self, day: dt.date) -> None:
        self.clock.phase(day, 16)
        for po_id, new_due in self.due_today(day, "confirm"):
            purchasing.confirm(self, po_id, new_due)
        self.plan(day)
        self.clock.phase(day, 18)
        quality.count(self, max(2, len(self.stockable) // 60))
        quality.hold(self, day)

    def due_entries(self, day: dt.date, kinds: tuple[str, ...]) -> list[tuple[str, Any]]:
        """Agenda entries of these kinds due by ``day``, in the order they were scheduled per day."""
        due: list[tuple[str, Any]] = []
        for when in sorted(d for d in self.agenda if d <= day):
            entries = self.agenda[when]
            due.extend(entry for entry in entries if entry[0] in kinds)
            rest = [entry for entry in entries if entry[0] not in kinds]
            if rest:
                self.agenda[when] = rest
            else:
                del self.agenda[when]
        return due

    def plan(self, day: dt.date) -> None:
        """The plant's own planner: an order for every item below its reorder point, parents first."""
        backlog = self.backlog(day)
        for level in (*self.structure.levels, self.structure.purchased):
            for item in level:
                plan = self.items[item]
                if plan.phantom:
                    continue
                position = self.position(item, backlog)
                reorder = self.reorder_point(item)
                if position >= reorder:
                    continue
                cover = plan.daily * (COVER_DAYS if plan.source == "make" else 2 * COVER_DAYS)
                qty = order_units(plan.lot, reorder - position + cover, plan.daily, plan.cost)
                if plan.source == "make":
                    production.plan_order(self, item, qty, day)
                else:
                    purchasing.place(self, item, qty, day)
