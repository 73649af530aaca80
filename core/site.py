"""The connected record of one site: stock, reservations, WIP, orders, demand.

Each handler validates first and mutates after, so a rejected event leaves no
trace.  Handlers note the items whose stock, supply, demand or cost they changed
in ``touched``, with what changed; the planner re-nets exactly those and reads
again only what changed.  With change tracking on they
also note, in ``changed``, every item and record they changed, so durable
state is written once per batch for what changed (``core/persist.py``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msgspec.structs import force_setattr

from schemas import events as ev

from .bomgraph import BomGraph
from .closed_orders import ClosedOrder, Lines
from .costing import moving_average, revalued_average, roll_standard, standard_is_average
from .errors import Missing, Reject
from .history import ItemHistory, utc_date
from .master import BomSpec, MasterData, explode
from .orders import (
    DEMAND_MOVES,
    PRODUCTION_MOVES,
    PURCHASE_MOVES,
    Demand,
    InboundTransfer,
    OutboundTransfer,
    ProductionOrder,
    PurchaseOrder,
)
from .quality import move_allowed
from .quantity import SCALE, to_fixed, to_number
from .retention import retire
from .stock import Stock

__all__ = ["COST", "DEMAND", "EVERYTHING", "MASTER", "STOCK", "SUPPLY", "SiteSettings", "SiteState"]

_MISSING = object()


#: What an event changed about an item, so the planner reads again only those of its inputs:
#: unrestricted stock; own requirements (demands, reservations, firm planned orders); open supply;
#: its moving average; master data (set by the planner: lot rule, lead time, BOM).
STOCK, DEMAND, SUPPLY, COST, MASTER = 1, 2, 4, 8, 16
EVERYTHING = STOCK | DEMAND | SUPPLY | COST | MASTER


@dataclass(slots=True, frozen=True)
class SiteSettings:
    allow_negative_stock: bool = False
    track_changes: bool = False
    #: records done this long before the site's day are retired when a day begins (None: kept for ever)
    retention: dt.timedelta | None = None


@dataclass(slots=True)
class CountStats:
    """Inventory record accuracy from cycle counts."""

    lines: int = 0
    exact: int = 0
    abs_difference: int = 0
    book_total: int = 0


class SiteState:
    def __init__(self, site: str, master: MasterData, settings: SiteSettings,
                 shared: dict[Any, Any] | None = None) -> None:
        self.site = site
        self.master = master
        self.settings = settings
        self.clock: dt.datetime | None = None
        self._today: tuple[dt.datetime | None, dt.date | None] = (None, None)   # (clock, its UTC date)
        self.stock = Stock()
        self.production: dict[str, ProductionOrder | ClosedOrder] = {}   # done and costed: ClosedOrder
        self.purchase: dict[str, PurchaseOrder] = {}
        self.demands: dict[str, Demand] = {}
        self.inbound: dict[str, InboundTransfer] = {}
        self.unannounced = 0   # inbound transfers received before their shipment was announced
        self.outbound: dict[str, OutboundTransfer] = {}
        self.consumed_by: dict[tuple[str, str], dict[str, int]] = {}   # (item, lot) -> order -> qty
        self.produced_by: dict[tuple[str, str], dict[str, int]] = {}   # (item, lot) -> order -> qty
        self.order_inputs: dict[str, Lines] = {}    # open orders' lots (a ClosedOrder keeps its own)
        self.order_outputs: dict[str, Lines] = {}
        self.counts = CountStats()
        self.retired_due = 0    # delivered sales-order lines retired after their due date (stockout rate)
        self.retired_late = 0   # of them, those delivered after it
        self.history: dict[str, ItemHistory] = {}   # usage, lateness and counts per item (core/history.py)
        self.avg_cost: dict[str, float] = {}
        self.item_refs: dict[str, dict[tuple[str, str], None]] = {}   # item -> (kind, id) of its orders
        self.alloc_refs: dict[str, dict[str, None]] = {}               # component -> orders reserving it
        self.closed_orders: list[str] = []
        self.standard_costs: dict[str, float] = {}   # the planner's rolled standards (shared dict)
        self.issued_value: dict[str, float] = {}     # cost of goods issued per item (KPIs, ABC)
        self.value_days = 0                           # daily inventory value samples (KPIs)
        self.value_sum = 0.0
        self.first_day: dt.date | None = None
        self.day_changed = False   # today moved: every date-relative plan must be re-netted
        self.cost_dirty = False
        self.touched: dict[str, int] = {}   # item -> what changed (STOCK | DEMAND | ...)
        self.capacity_orders: dict[str, None] = {}   # production orders whose work-center load may have changed
        self._std_now: dict[str, float | None] = {}   # standards as of now (valuation), see standard_now
        self._std_master = (-1, -1)                   # the master data (BOM, item) versions they were rolled with
        self._std_graph: BomGraph | None = None
        #: ("item", item) or (record kind, id) changed since core/persist.py last looked; None: not tracked
        self.changed: dict[tuple[str, str], None] | None = {} if settings.track_changes else None
        #: one object per item name, partner and date the records hold (``shared``; the engine's sites share it)
        self._shared: dict[Any, Any] = {} if shared is None else shared
        self._handlers: dict[type, Callable[[Any], list[Any]]] = {
            ev.Receipt: self._receipt, ev.Issue: self._issue,
            ev.TransferShipped: self._transfer_shipped, ev.TransferInTransit: self._transfer_in_transit,
            ev.TransferReceived: self._transfer_received, ev.Count: self._count,
            ev.Quality: self._quality, ev.Scrap: self._scrap,
            ev.ProductionOrder: self._production_order, ev.MaterialIssue: self._material_issue,
            ev.OperationReport: self._operation_report, ev.Output: self._output,
            ev.PurchaseOrder: self._purchase_order, ev.Demand: self._demand,
        }

    @property
    def today(self) -> dt.date | None:
        """The site's date: the UTC date of the latest event time seen.

        UTC, not the sender's offset: msgpack carries timestamps as UTC instants,
        and a JSON and a msgpack copy of the same events must plan alike.
        """
        clock = self.clock
        if clock is None:
            return None
        if self._today[0] is not clock:   # asked several times per event: the conversion is kept per clock
            self._today = (clock, utc_date(clock))
        return self._today[1]

    def shared(self, value: Any) -> Any:
        """The one object equal to ``value`` the engine's sites keep (an item name, a partner, a date).

        Every event decodes its own copies: orders and demands kept for weeks would hold a string and
        two or three dates each of their own (~100 MiB of the engine after the service benchmark's
        2,000,000 events, for ~10,000 distinct values).
        """
        return self._shared.setdefault(value, value)

    def _date_of(self, ts: dt.datetime) -> dt.date:
        """An event's UTC date; most events are the site's clock, whose date is kept (``today``)."""
        today = self.today if ts is self.clock else None
        return today if today is not None else utc_date(ts)

    def _day_of(self, ts: dt.datetime) -> int:
        return self._date_of(ts).toordinal()

    def refs(self, item: str) -> list[tuple[str, str]]:
        """Orders, demands and inbound transfers of an item (kind, id)."""
        return list(self.item_refs.get(item, ()))

    def scheduled_receipts(self, item: str) -> list[tuple[int, int, str, str]]:
        """Open supply of an item as (day ordinal, qty, kind, ref), sorted by day then ref.

        Open purchase orders on ``due``, open production orders on ``due``,
        transfers in transit on ``arrival``: remaining quantities only.
        """
        receipts: list[tuple[int, int, str, str]] = []
        for kind, ref in self.item_refs.get(item, ()):
            if kind == "purchase_order":
                record: Any = self.purchase[ref]
                day = record.due
            elif kind == "production_order":
                record = self.production[ref]
                day = record.due
            elif kind == "transfer":
                record = self.inbound[ref]
                day = record.arrival
            else:
                continue
            if record.open_qty:
                receipts.append((day.toordinal(), record.open_qty, kind, ref))
        receipts.sort()
        return receipts

    def allocations(self, item: str) -> list[str]:
        """Released orders that reserve ``item``."""
        return list(self.alloc_refs.get(item, ()))

    def unit_cost(self, item: str) -> float:
        """Valuation cost: the moving average, else the standard rolled as of this event.

        Not the standard the planner rolled at the last batch end: valuing with
        that would make the ledger depend on where batches end.
        """
        avg = self.avg_cost.get(item)
        if avg is not None:
            return avg
        std = self.standard_now(item)
        return std if std is not None else 0.0

    def standard_now(self, item: str) -> float | None:
        """Standard cost rolled through the BOM from current costs, kept until a cost under it or the master
        data changes (a BOM, or an item: its standard cost, its source)."""
        if self._std_master != self.master.versions:
            self._std_now.clear()
            self._std_master = self.master.versions
            self._std_graph = None
        if item not in self._std_now:
            self._std_now[item] = roll_standard(self, item, self._component_cost_now)
        return self._std_now[item]

    def _component_cost_now(self, component: str) -> float | None:
        std = self.standard_now(component)
        return std if std is not None else self.avg_cost.get(component)

    def _cost_changed(self, item: str) -> None:
        """A moving average changed: standards rolled over it (the item and its users) are stale.

        Only an item whose standard is its average (``costing.standard_is_average``) passes a new average
        on; a purchased part with a standard cost, the usual receipt, leaves every standard as it is.
        """
        if not self._std_now or self._std_master != self.master.versions or not standard_is_average(self, item):
            return
        if self._std_graph is None:
            self._std_graph = BomGraph.build(self.master, self.site)
        stack = [item]
        while stack:
            current = stack.pop()
            if self._std_now.pop(current, _MISSING) is not _MISSING:
                stack.extend(self._std_graph.parents.get(current, ()))

    def inventory_value(self) -> float:
        """fsum: exact whatever the item order, so a site restored from durable rows values alike."""
        return math.fsum(sum(totals) * self.unit_cost(item) for item, totals in self.stock.by_item.items()) / SCALE

    def new_day(self, day: dt.date) -> None:
        """Called when the site clock enters a new day: sample the inventory value."""
        if self.first_day is None:
            self.first_day = day
        self.day_changed = True
        self.value_days += 1
        self.value_sum += self.inventory_value()
        if self.unannounced:
            self._sample_unannounced()
        if self.settings.retention is not None:
            retire(self, day, day - self.settings.retention)

    def _issued(self, item: str, qty: int) -> float:
        value = self.unit_cost(item) * qty / SCALE
        self.issued_value[item] = self.issued_value.get(item, 0.0) + value
        return value

    def _index(self, item: str, kind: str, ref: str) -> None:
        self.item_refs.setdefault(item, {})[(kind, ref)] = None

    def _unindex(self, item: str, kind: str, ref: str) -> None:
        """A closed order no longer supplies or demands: planning stops looking at it."""
        refs = self.item_refs.get(item)
        if refs is not None:
            refs.pop((kind, ref), None)
            if not refs:
                del self.item_refs[item]

    def _receive_value(self, item: str, qty: int, unit_cost: float | None) -> None:
        if unit_cost is not None:
            on_hand = self.stock.physical(item)
            self.avg_cost[item] = moving_average(self.avg_cost.get(item), on_hand, qty, unit_cost)
            self._cost_changed(item)

    def handle(self, event: Any) -> list[Any]:
        """Apply one event; returns internal events to route (transfers in transit).

        The event's item name becomes the site's shared one first, so the records, lots and indexes it
        leaves behind hold no copy of their own (the event is frozen; the value is the same).
        """
        item = getattr(event, "item", None)
        if item is not None:
            force_setattr(event, "item", self.shared(item))
        return self._handlers[type(event)](event)

    # --- helpers -------------------------------------------------------------------

    def _require_item(self, item: str) -> None:
        if not self.master.known_item(self.site, item):
            raise Missing("item", item)

    def _require_lot(self, item: str, lot: str | None) -> None:
        """A lot not seen here yet may still be coming: wait for it, as for an order not seen yet.

        The service reads a site's topics in whatever interleaving the fetches give; the event-time
        merge orders them, but only within its grace, so an issue can still overtake the receipt or
        the output that brings its lot.  Only an event that would be refused waits (with negative
        stock allowed it goes through as it is).
        """
        if lot is not None and not self.settings.allow_negative_stock and lot not in self.stock.lots.get(item, ()):
            raise Missing("lot", f"{item}/{lot}")

    def _touch(self, item: str, what: int) -> None:
        self.touched[item] = self.touched.get(item, 0) | what
        if self.changed is not None:
            self.changed[("item", item)] = None

    def _record_changed(self, kind: str, key: str) -> None:
        if self.changed is not None:
            self.changed[(kind, key)] = None

    def _history(self, item: str) -> ItemHistory:
        """The item's history, about to change (inventory control: forecasts, safety stock, counts)."""
        history = self.history.get(item)
        if history is None:
            history = self.history[item] = ItemHistory(item)
        self._record_changed("hist", item)
        return history

    def _check_available(self, item: str, qty: int, own_reservation: int = 0) -> None:
        """Stock reserved for other orders is not free; an order's own reservation is, up to what is on hand.

        When reservations exceed the stock (the plan shows that as a shortage), the first order to
        kit takes what is there up to its reservation: otherwise no order could issue at all.
        """
        if self.settings.allow_negative_stock:
            return
        available = self.stock.available(item)
        free = available + own_reservation
        if available < 0:
            free = min(own_reservation, self.stock.unrestricted(item))
        if free < qty:
            reserved = self.stock.reserved.get(item, 0) - own_reservation
            raise Reject(f"insufficient available stock: item {item!r} has {to_number(free)} available "
                         f"({to_number(reserved)} reserved for other orders), needs {to_number(qty)}")

    def _open_production(self, order_id: str, action: str) -> ProductionOrder:
        order = self.production.get(order_id)
        if order is None:
            raise Missing("production order", order_id)
        if order.status != "released":
            raise Reject(f"production order {order_id!r} is {order.status}: {action} needs a released order")
        return order

    def order_lines(self, order_id: str) -> tuple[Lines, Lines]:
        """The lots a production order consumed and produced, open or closed."""
        order = self.production.get(order_id)
        if isinstance(order, ClosedOrder):
            return order.lines()
        return self.order_inputs.get(order_id, {}), self.order_outputs.get(order_id, {})

    def whole_order(self, order_id: str) -> tuple[ProductionOrder, Lines, Lines] | None:
        """A production order as a live record with its lots (a ``ClosedOrder`` decoded once), or None."""
        order = self.production.get(order_id)
        if order is None:
            return None
        if isinstance(order, ClosedOrder):
            return order.thaw()
        return order, self.order_inputs.get(order_id, {}), self.order_outputs.get(order_id, {})

    def keep_closed(self, order_id: str) -> None:
        """A done order nothing will change (its cost is out, or it was cancelled) is kept small."""
        order = self.production[order_id]
        if isinstance(order, ClosedOrder):
            return
        self.production[order_id] = ClosedOrder(order, self.order_inputs.pop(order_id, None),
                                                self.order_outputs.pop(order_id, None))
        self._record_changed("prod", order_id)   # its row no longer carries the BOM at release

    def explode(self, bom: BomSpec, qty: int) -> dict[str, int]:
        """Component needs for ``qty`` of ``bom``'s item at this site; phantoms pass through."""
        return explode(bom, qty, lambda item: self.master.bom(self.site, item))

    def _set_reservations(self, order: ProductionOrder) -> None:
        """Reserve what the order still needs: requirement minus what was issued."""
        target: dict[str, int] = {}
        if order.status == "released" and order.bom is not None:
            order.required = self.explode(order.bom, order.qty)
            target = {c: max(0, need - order.issued.get(c, 0)) for c, need in order.required.items()}
        for component in dict.fromkeys([*order.reserved, *target]):
            new = target.get(component, 0)
            delta = new - order.reserved.get(component, 0)
            if delta:
                self.stock.reserve(component, delta)
                self._touch(component, DEMAND)
            if new:
                order.reserved[component] = new
                self.alloc_refs.setdefault(component, {})[order.order_id] = None
            else:
                order.reserved.pop(component, None)
                self._unallocate(component, order.order_id)

    def _unallocate(self, component: str, order_id: str) -> None:
        """The order no longer reserves the component: planning stops looking at it there."""
        users = self.alloc_refs.get(component)
        if users is not None:
            users.pop(order_id, None)
            if not users:
                del self.alloc_refs[component]

    # --- inventory scans -------------------------------------------------------------

    def _receipt(self, e: ev.Receipt) -> list[Any]:
        self._require_item(e.item)
        qty = to_fixed(e.qty)
        po = None
        if e.po_id is not None:
            po = self.purchase.get(e.po_id)
            if po is None:
                raise Missing("purchase order", e.po_id)
            if po.item != e.item:
                raise Reject(f"receipt item {e.item!r} does not match purchase order {e.po_id!r} item {po.item!r}")
            if po.status != "open":
                raise Reject(f"purchase order {e.po_id!r} is {po.status}")
        unit_cost = e.unit_cost if e.unit_cost is not None else (po.unit_price if po is not None else None)
        self._receive_value(e.item, qty, unit_cost)
        self.stock.book(e.item, e.lot, e.status, qty, "receipt")
        if po is not None:
            po.received += qty
            if po.received >= po.qty and po.ended is None:
                po.ended = self.shared(self._date_of(e.ts))
            self._record_changed("po", po.po_id)
            self._history(e.item).receipt(self._day_of(e.ts), (po.promised or po.due).toordinal())
        self._touch(e.item, STOCK | (SUPPLY if po is not None else 0) | (COST if unit_cost is not None else 0))
        return []

    def _issue(self, e: ev.Issue) -> list[Any]:
        self._require_item(e.item)
        self._require_lot(e.item, e.lot)
        qty = to_fixed(e.qty)
        demand = None
        if e.demand_id is not None:
            demand = self.demands.get(e.demand_id)
            if demand is None:
                raise Missing("demand", e.demand_id)
            if demand.item != e.item:
                raise Reject(f"issue item {e.item!r} does not match demand {e.demand_id!r} item {demand.item!r}")
            if demand.status != "open":
                raise Reject(f"demand {e.demand_id!r} is {demand.status}")
        self._check_available(e.item, qty)
        picks = self.stock.pick(e.item, qty, e.lot, self.settings.allow_negative_stock)
        for lot, take in picks:
            self.stock.book(e.item, lot, "available", -take, "issue")
        self._issued(e.item, qty)
        self._history(e.item).issue(self._day_of(e.ts), qty)
        if demand is not None:
            demand.delivered += qty
            if demand.delivered >= demand.qty and demand.completed is None:
                demand.completed = self.shared(self._date_of(e.ts))   # its own time, also when it waited
            self._record_changed("demand", demand.demand_id)
        self._touch(e.item, STOCK | (DEMAND if demand is not None else 0))
        return []

    def _transfer_shipped(self, e: ev.TransferShipped) -> list[Any]:
        self._require_item(e.item)
        if e.to_site == self.site:
            raise Reject("transfer to the same site")
        if e.transfer_id in self.outbound:
            raise Reject(f"transfer {e.transfer_id!r} was already shipped")
        self._require_lot(e.item, e.lot)
        qty = to_fixed(e.qty)
        self._check_available(e.item, qty)
        self.stock.pick(e.item, qty, e.lot, self.settings.allow_negative_stock)
        self.stock.book(e.item, e.lot, "available", -qty, "transfer_out")
        self.outbound[e.transfer_id] = OutboundTransfer(e.transfer_id, e.to_site, e.item, qty, e.lot, e.arrival)
        self._record_changed("transfer-out", e.transfer_id)
        self._touch(e.item, STOCK)
        return [ev.TransferInTransit(
            event_id=f"{e.event_id}:in-transit", ts=e.ts, site=e.to_site, transfer_id=e.transfer_id,
            from_site=self.site, item=e.item, qty=e.qty, lot=e.lot, arrival=e.arrival,
            unit_cost=self.avg_cost.get(e.item))]

    def _transfer_in_transit(self, e: ev.TransferInTransit) -> list[Any]:
        """Announce a shipment here; never refuse it, or the shipped stock would vanish.

        Transfer ids are meant to be unique, but two sites may reuse one: the
        second is kept under ``id@from_site`` and matched on receipt by item.
        A receipt booked before the announcement takes it as its shipment.
        """
        key = e.transfer_id
        existing = self.inbound.get(key)
        unannounced = self._unannounced(e.transfer_id, e.item, e.lot)
        if unannounced is not None:
            self._announce(unannounced, e)
            return []
        if existing is not None:
            if existing.from_site == e.from_site:
                raise Reject(f"transfer {e.transfer_id!r} from {e.from_site!r} is already in transit")
            key = f"{e.transfer_id}@{e.from_site}"
            if key in self.inbound:
                raise Reject(f"transfer {e.transfer_id!r} from {e.from_site!r} is already in transit")
        self.inbound[key] = InboundTransfer(
            e.transfer_id, e.from_site, e.item, to_fixed(e.qty), e.lot, e.arrival, unit_cost=e.unit_cost, key=key)
        self._index(e.item, "transfer", key)
        self._record_changed("transfer-in", key)
        self._touch(e.item, SUPPLY)
        return []

    def _unannounced(self, transfer_id: str, item: str, lot: str) -> InboundTransfer | None:
        """The receipt booked ahead of this shipment's announcement, if any."""
        found = self.inbound.get(transfer_id)
        if found is None or found.announced:
            found = next((t for t in self.inbound.values() if not t.announced and t.transfer_id == transfer_id
                          and t.item == item), None) if self.unannounced else None
        if found is None or found.announced or found.item != item or found.lot != lot:
            return None
        return found

    def _announce(self, transfer: InboundTransfer, e: ev.TransferInTransit) -> None:
        """The shipment of a receipt booked before it: quantity, source and cost fall into place.

        What the receipt still lacks is in transit.  The received units were valued at the
        site's average; the shipment's cost corrects that for the part still on hand (the
        part issued meanwhile went out at the average, as in an ERP's price difference).
        More received than shipped stays booked: the goods are here, a count settles it.
        """
        last_receipt = transfer.arrival
        transfer.from_site, transfer.qty, transfer.arrival = e.from_site, to_fixed(e.qty), e.arrival
        transfer.unit_cost, transfer.announced = e.unit_cost, True
        self.unannounced -= 1
        transfer.done = transfer.received >= transfer.qty
        if transfer.done:
            transfer.ended = last_receipt
        else:
            self._index(e.item, "transfer", transfer.key)
        if e.unit_cost is not None:
            self._revalue(e.item, transfer.received, transfer.provisional_cost, e.unit_cost)
            # the daily value samples taken meanwhile, as if the shipment's cost had been known
            self.value_sum += transfer.sampled_units * e.unit_cost / SCALE - transfer.sampled_value
        transfer.provisional_cost, transfer.sampled_units, transfer.sampled_value = None, 0, 0.0
        self._record_changed("transfer-in", transfer.key)
        self._touch(e.item, SUPPLY | (COST if e.unit_cost is not None else 0))

    def _sample_unannounced(self) -> None:
        """Note what today's value sample counted of each receipt still waiting for its shipment's cost."""
        for transfer in self.inbound.values():
            if not transfer.announced:
                units = min(transfer.received, max(0, self.stock.physical(transfer.item)))
                transfer.sampled_units += units
                transfer.sampled_value += units * self.unit_cost(transfer.item) / SCALE
                self._record_changed("transfer-in", transfer.key)

    def _revalue(self, item: str, received: int, valued_at: float | None, unit_cost: float) -> None:
        average = revalued_average(self.avg_cost.get(item), self.stock.physical(item), received, valued_at,
                                   unit_cost)
        if average is not None:
            self.avg_cost[item] = average
            self._cost_changed(item)

    def _transfer_received(self, e: ev.TransferReceived) -> list[Any]:
        self._require_item(e.item)
        transfer = self.inbound.get(e.transfer_id)
        if transfer is not None and (transfer.done or transfer.item != e.item):
            # a reused id from another site: the open one for this item, if any
            transfer = next((t for t in self.inbound.values() if t.transfer_id == e.transfer_id
                             and not t.done and t.item == e.item), transfer)
        qty = to_fixed(e.qty)
        if transfer is None:
            return self._receive_unannounced(e, qty)
        if transfer.done:
            raise Reject(f"transfer {e.transfer_id!r} was already received")
        if transfer.item != e.item:
            raise Reject(f"received item {e.item!r} does not match transfer item {transfer.item!r}")
        if transfer.lot != e.lot:
            raise Reject(f"received lot {e.lot!r} does not match shipped lot {transfer.lot!r}")
        if not transfer.announced:
            self._add_unannounced(transfer, e, qty)
            return []
        if transfer.received + qty > transfer.qty:
            raise Reject(f"transfer {e.transfer_id!r} receives {to_number(transfer.received + qty)} "
                         f"of {to_number(transfer.qty)} shipped")
        self._receive_value(e.item, qty, transfer.unit_cost)
        self.stock.book(e.item, e.lot, "available", qty, "transfer_in")
        transfer.received += qty
        transfer.done = transfer.received >= transfer.qty
        if transfer.done:
            transfer.ended = self._date_of(e.ts)
            self._unindex(e.item, "transfer", transfer.key)
        self._record_changed("transfer-in", transfer.key)
        self._touch(e.item, STOCK | SUPPLY | (COST if transfer.unit_cost is not None else 0))
        return []

    def _receive_unannounced(self, e: ev.TransferReceived, qty: int) -> list[Any]:
        """Book a receipt whose shipment is not announced yet: the goods are here.

        In the service the shipping site's partition may be read days of event time behind
        this one; holding the receipt back would refuse the issues of its lot that a replay
        in time order accepts.  Its shipment, when announced, brings quantity, source and cost.
        """
        key = e.transfer_id if e.transfer_id not in self.inbound else f"{e.transfer_id}@{self.site}:{e.event_id}"
        transfer = InboundTransfer(e.transfer_id, "", e.item, 0, e.lot, self._date_of(e.ts), key=key, announced=False)
        self.inbound[key] = transfer
        self.unannounced += 1
        self._add_unannounced(transfer, e, qty)
        return []

    def _add_unannounced(self, transfer: InboundTransfer, e: ev.TransferReceived, qty: int) -> None:
        average = self.avg_cost.get(e.item)
        if transfer.received == 0 or transfer.provisional_cost is not None:
            previous = transfer.provisional_cost or 0.0
            transfer.provisional_cost = (None if average is None else
                                         (previous * transfer.received + average * qty) / (transfer.received + qty))
        self.stock.book(e.item, e.lot, "available", qty, "transfer_in")
        transfer.received += qty
        transfer.arrival = self._date_of(e.ts)
        self._record_changed("transfer-in", transfer.key)
        self._touch(e.item, STOCK)

    def _count(self, e: ev.Count) -> list[Any]:
        self._require_item(e.item)
        counted = to_fixed(e.counted_qty)
        book = self.stock.lot_qty(e.item, e.lot, e.status)
        difference = counted - book
        if difference:
            self.stock.book(e.item, e.lot, e.status, difference, "adjustment")
            self._touch(e.item, STOCK)
        self._history(e.item).count(self._day_of(e.ts), book, counted)
        stats = self.counts
        stats.lines += 1
        stats.exact += difference == 0
        stats.abs_difference += abs(difference)
        stats.book_total += abs(book)
        return []

    def _quality(self, e: ev.Quality) -> list[Any]:
        self._require_item(e.item)
        if not move_allowed(e.from_status, e.to_status):
            raise Reject(f"illegal status move {e.from_status} -> {e.to_status}")
        self._require_lot(e.item, e.lot)
        qty = to_fixed(e.qty)
        have = self.stock.lot_qty(e.item, e.lot, e.from_status)
        if have < qty:
            raise Reject(f"insufficient stock: item {e.item!r} lot {e.lot!r} has {to_number(have)} "
                         f"{e.from_status}, needs {to_number(qty)}")
        self.stock.book(e.item, e.lot, e.from_status, -qty, "quality")
        self.stock.book(e.item, e.lot, e.to_status, qty, "quality")
        self._touch(e.item, STOCK)
        return []

    def _scrap(self, e: ev.Scrap) -> list[Any]:
        self._require_item(e.item)
        self._require_lot(e.item, e.lot)
        qty = to_fixed(e.qty)
        have = self.stock.lot_qty(e.item, e.lot, e.status)
        if have < qty and not self.settings.allow_negative_stock:
            raise Reject(f"insufficient stock: item {e.item!r} lot {e.lot!r} has {to_number(have)} "
                         f"{e.status}, needs {to_number(qty)}")
        self.stock.book(e.item, e.lot, e.status, -qty, "scrap")
        self._touch(e.item, STOCK)
        return []

    # --- production ------------------------------------------------------------------

    def _production_order(self, e: ev.ProductionOrder) -> list[Any]:
        self._require_item(e.item)
        order = self.production.get(e.order_id)
        qty = to_fixed(e.qty)
        if order is None:
            if e.status not in PRODUCTION_MOVES:
                raise Reject(f"production order {e.order_id!r} cannot be created as {e.status}")
            spec = self.master.item(self.site, e.item)
            lead = spec.lead_time_days if spec is not None else 0
            if e.start is None and e.due.toordinal() <= lead:
                raise Reject(f"production order {e.order_id!r} would start before {dt.date.min}: "
                             f"due {e.due} minus {lead} days of lead time")
            start = e.start or e.due - dt.timedelta(days=lead)
            order = ProductionOrder(e.order_id, e.item, qty, self.shared(e.due), self.shared(start), e.status)
            self.production[e.order_id] = order
            self._index(e.item, "production_order", e.order_id)
        else:
            allowed = PRODUCTION_MOVES.get(order.status, frozenset())
            if e.status not in allowed:
                raise Reject(f"illegal order status move {order.status} -> {e.status} "
                             f"for production order {e.order_id!r}")
            if order.item != e.item:
                raise Reject(f"production order {e.order_id!r} is for item {order.item!r}, not {e.item!r}")
            order.qty, order.due, order.status = qty, self.shared(e.due), e.status
            start = e.start or order.start
            if start != order.start:
                order.start = self.shared(start)
                for component in order.reserved:  # allocations are needed on the (new) start date
                    self._touch(component, DEMAND)
        if order.status == "released" and order.bom is None:
            order.bom = self.master.bom(self.site, e.item)
        self._set_reservations(order)
        if order.status == "closed":
            self.closed_orders.append(order.order_id)
        if order.status in ("closed", "cancelled"):
            order.ended = self.shared(self._date_of(e.ts))
            self._unindex(order.item, "production_order", order.order_id)
            self.cost_dirty = True
        self._record_changed("prod", order.order_id)
        self.capacity_orders[order.order_id] = None
        self._touch(e.item, SUPPLY | DEMAND)   # open supply, and firm planned orders
        if order.status == "cancelled":
            self.keep_closed(order.order_id)   # a closed one waits for its cost (core/costing.py)
        return []

    def _material_issue(self, e: ev.MaterialIssue) -> list[Any]:
        order = self._open_production(e.order_id, "a material issue")
        self._require_item(e.item)
        self._require_lot(e.item, e.lot)
        qty = to_fixed(e.qty)
        own = order.reserved.get(e.item, 0)
        self._check_available(e.item, qty, own_reservation=own)
        picks = self.stock.pick(e.item, qty, e.lot, self.settings.allow_negative_stock)
        for lot, take in picks:
            self.stock.book(e.item, lot, "available", -take, "material_issue")
            key = (e.item, lot)
            users = self.consumed_by.setdefault(key, {})
            users[e.order_id] = users.get(e.order_id, 0) + take
            inputs = self.order_inputs.setdefault(e.order_id, {})
            inputs[key] = inputs.get(key, 0) + take
        covered = min(own, qty)
        if covered:
            self.stock.reserve(e.item, -covered)
            if own == covered:
                del order.reserved[e.item]
                self._unallocate(e.item, order.order_id)
            else:
                order.reserved[e.item] = own - covered
        order.issued[e.item] = order.issued.get(e.item, 0) + qty
        self._issued(e.item, qty)
        self._history(e.item).material_issue(self._day_of(e.ts), qty)
        avg = self.avg_cost.get(e.item)
        if avg is None:
            order.unvalued[e.item] = order.unvalued.get(e.item, 0) + qty
        else:
            order.issued_value[e.item] = order.issued_value.get(e.item, 0.0) + avg * qty / SCALE
        self._record_changed("prod", e.order_id)
        self._touch(e.item, STOCK | DEMAND)   # its own reservation shrank
        return []

    def _operation_report(self, e: ev.OperationReport) -> list[Any]:
        order = self._open_production(e.order_id, "an operation report")
        order.minutes[e.operation] = order.minutes.get(e.operation, 0.0) + e.minutes
        self._record_changed("prod", e.order_id)
        self.capacity_orders[e.order_id] = None
        return []

    def _output(self, e: ev.Output) -> list[Any]:
        order = self._open_production(e.order_id, "an output")
        good, scrap = to_fixed(e.good_qty), to_fixed(e.scrap_qty)
        if not good and not scrap:
            raise Reject("output has neither good nor scrap quantity")
        if good:
            self.stock.book(order.item, e.lot, e.status, good, "output")
            key = (order.item, e.lot)
            makers = self.produced_by.setdefault(key, {})
            makers[e.order_id] = makers.get(e.order_id, 0) + good
            outputs = self.order_outputs.setdefault(e.order_id, {})
            outputs[key] = outputs.get(key, 0) + good
        order.good += good
        order.scrap += scrap
        self._record_changed("prod", e.order_id)
        self._touch(order.item, STOCK | SUPPLY)
        return []

    # --- purchase and demand ------------------------------------------------------------

    def _purchase_order(self, e: ev.PurchaseOrder) -> list[Any]:
        self._require_item(e.item)
        po = self.purchase.get(e.po_id)
        qty = to_fixed(e.qty)
        if po is None:
            if e.status not in PURCHASE_MOVES:
                raise Reject(f"purchase order {e.po_id!r} cannot be created as {e.status}")
            due = self.shared(e.due)
            self.purchase[e.po_id] = PurchaseOrder(e.po_id, e.item, qty, due, e.unit_price, e.status,
                                                     self.shared(e.supplier), promised=due)
            self._index(e.item, "purchase_order", e.po_id)
        else:
            if e.status not in PURCHASE_MOVES.get(po.status, frozenset()):
                raise Reject(f"illegal order status move {po.status} -> {e.status} for purchase order {e.po_id!r}")
            if po.item != e.item:
                raise Reject(f"purchase order {e.po_id!r} is for item {po.item!r}, not {e.item!r}")
            po.qty, po.due, po.status = qty, self.shared(e.due), e.status
            if po.status != "open":
                self._unindex(po.item, "purchase_order", po.po_id)
            if po.status != "open" or po.received >= po.qty:
                po.ended = po.ended or self.shared(self._date_of(e.ts))
            else:
                po.ended = None   # more ordered than received: open again
            po.unit_price = e.unit_price if e.unit_price is not None else po.unit_price
        self._record_changed("po", e.po_id)
        self._touch(e.item, SUPPLY)
        return []

    def _demand(self, e: ev.Demand) -> list[Any]:
        self._require_item(e.item)
        demand = self.demands.get(e.demand_id)
        qty = to_fixed(e.qty)
        if demand is None:
            if e.status not in DEMAND_MOVES:
                raise Reject(f"demand {e.demand_id!r} cannot be created as {e.status}")
            self.demands[e.demand_id] = Demand(e.demand_id, e.item, qty, self.shared(e.due), e.kind, e.status,
                                               self.shared(e.customer))
            self._index(e.item, "demand", e.demand_id)
        else:
            if e.status not in DEMAND_MOVES.get(demand.status, frozenset()):
                raise Reject(f"illegal demand status move {demand.status} -> {e.status} for {e.demand_id!r}")
            if demand.item != e.item:
                raise Reject(f"demand {e.demand_id!r} is for item {demand.item!r}, not {e.item!r}")
            demand.qty, demand.due, demand.status, demand.kind = qty, self.shared(e.due), e.status, e.kind
            if demand.status != "open":
                demand.ended = self.shared(self._date_of(e.ts))
                self._unindex(demand.item, "demand", demand.demand_id)
        self._record_changed("demand", e.demand_id)
        self._touch(e.item, DEMAND)
        return []
