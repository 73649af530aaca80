"""Work-center load from released and planned orders, with overloads seen in advance.

MRP plans as if capacity were infinite; this book shows, per event, where the
plan overloads a work center, so planners can move work before the floor finds
out.  Load is kept per site x work center x day in exact micro-minutes:

* a planned order loads the operations of its item's BOM that name a work
  center (setup once, run minutes per unit), spread evenly over the center's
  working days from its release (overdue: today) to the day before it is due:
  backward from the due date over its lead time.  The kernel keeps each item's
  part (``ItemNode.load_update``), so only items whose planned orders moved
  change the load: the same net change as the plan itself;
* a released or firm planned production order loads what remains of its
  operations (standard minutes for its quantity less the minutes reported
  against each), spread the same way from its start.

Available minutes are ``minutes_per_day`` x efficiency on the center's working
days and none on the others.  An overload is a day whose load exceeds what is
available: published ``open`` with the orders that make most of the load
(``TOP_ORDERS``, the rest as ``other_minutes``), again when its load or those
orders change, ``resolved`` when it fits.  Operations on a work
center without master data load nothing until it arrives.  See
``docs/planning.md`` ("Capacity").
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Iterator
from operator import itemgetter
from types import ModuleType
from typing import Any

from schemas.outputs import CapacityLoad, CapacityOverload

from .master import BomSpec
from .orders import ProductionOrder
from .planids import planned_id
from .quantity import to_fixed, to_number

__all__ = ["OPEN_ORDER_STATUSES", "TOP_ORDERS", "CapacityBook", "Op"]

#: production orders that load work centers: firm planned and released ones
OPEN_ORDER_STATUSES = ("planned", "released")
#: orders an overload names, the biggest first; a day of a busy center carries hundreds (the query API lists all)
TOP_ORDERS = 10

Op = tuple[int, int, int, str]   # center id, setup and run micro-minutes per unit, operation name
Key = tuple[int, int]            # (center id, day ordinal)
Who = tuple[str, str]            # ("planned_order", item) or ("production_order", order id)


class CapacityBook:
    """One site's work-center load, the production orders' parts of it, and the overloads last published."""

    def __init__(self, kernel: ModuleType) -> None:
        self.kernel = kernel
        self.ids: dict[str, int] = {}      # work center -> id (the kernel's calendars are indexed by it)
        self.names: list[str] = []
        self.masks = b""                   # weekday mask per id
        self.available: list[int] = []     # micro-minutes per working day, per id
        self.load: dict[Key, int] = {}
        self.orders: dict[str, dict[Key, int]] = {}   # production order -> its load
        self.users: dict[str, tuple[Op, ...]] = {}    # item -> the operations its planned orders load
        self.by_center: dict[int, dict[str, None]] = {}   # center id -> items whose planned orders load it
        self.changed: dict[Key, None] = {}
        self.movers: dict[Key, set[Who]] = {}   # who changed on each changed day (absent: look at all)
        self.overloads: dict[Key, CapacityOverload] = {}
        self.raw: dict[Key, tuple[int, int]] = {}   # each open overload's load and available micro-minutes
        #: who loads each overloaded day and with how much (an item's planned orders together), kept from the
        #: load's own changes so an overload names its orders without looking at every item on its center
        self.detail: dict[Key, dict[Who, int]] = {}

    # --- work centers ----------------------------------------------------------------------

    def center(self, site: Any, name: str) -> int | None:
        """The id of a work center the site has master data for (None: unknown, it loads nothing)."""
        known = self.ids.get(name)
        if known is not None:
            return known
        spec = site.master.work_center(site.site, name)
        if spec is None:
            return None
        self.ids[name] = len(self.names)
        self.names.append(name)
        self.masks += bytes([spec.mask])
        self.available.append(spec.available)
        return self.ids[name]

    def refresh(self, site: Any, names: Iterable[str]) -> None:
        """Work-center master data changed: new calendars, and every loaded day of theirs is looked at again."""
        masks = bytearray(self.masks)
        for name in names:
            center = self.ids.get(name)
            spec = site.master.work_center(site.site, name)
            if center is None or spec is None:
                continue
            masks[center] = spec.mask
            self.available[center] = spec.available
            for key in (*self.load, *self.overloads):
                if key[0] == center:
                    self.changed[key] = None
                    self.movers.pop(key, None)   # the calendar moved: no shortcut
        self.masks = bytes(masks)

    def available_on(self, center: int, day: int) -> int:
        return self.available[center] if self.kernel.works(self.masks[center], day) else 0

    # --- planned orders (the kernel keeps each item's part) ----------------------------------------

    def ops(self, site: Any, bom: BomSpec | None) -> tuple[Op, ...]:
        """The operations of a BOM that load a known work center (a phantom is never made: none)."""
        if bom is None or bom.phantom:
            return ()
        ops: list[Op] = []
        for operation in bom.operations:
            if operation.work_center is None:
                continue
            center = self.center(site, operation.work_center)
            if center is not None:
                ops.append((center, to_fixed(operation.setup_minutes), to_fixed(operation.run_minutes_per_unit),
                            operation.name))
        return tuple(ops)

    def set_ops(self, item: str, node: Any, ops: tuple[Op, ...]) -> None:
        """Give the item's node its operations; its load follows at its next ``load_update``."""
        if not ops and item not in self.users:
            return   # it had none (its node neither): most items of a site without work centers
        node.set_ops([op[0] for op in ops], [op[1] for op in ops], [op[2] for op in ops])
        for center, *_ in self.users.get(item, ()):
            self.by_center.get(center, {}).pop(item, None)
        if ops or item in self.users:
            self.users[item] = ops   # kept while empty until the old load is taken back
        for center, *_ in ops:
            self.by_center.setdefault(center, {})[item] = None

    def replanned(self, item: str, node: Any, today: int) -> None:
        """After an item's re-net: what its planned orders load now (days whose orders changed come too)."""
        ops = self.users.get(item)
        if ops is None:
            return
        self.add(node.load_update(today, self.masks), ("planned_order", item))
        if not ops:
            del self.users[item]

    def add(self, changes: Iterable[tuple[int, int, int]], who: Who) -> None:
        load, detail = self.load, self.detail
        for center, day, delta in changes:
            key = (center, day)
            total = load.get(key, 0) + delta
            if total:
                load[key] = total
            else:
                load.pop(key, None)
            if key not in self.changed:
                self.changed[key] = None
                self.movers[key] = {who}
            elif key in self.movers:
                self.movers[key].add(who)
            parts = detail.get(key)
            if parts is not None:
                minutes = parts.get(who, 0) + delta
                if minutes:
                    parts[who] = minutes
                else:
                    parts.pop(who, None)

    # --- production orders -----------------------------------------------------------------------

    def update_orders(self, site: Any, order_ids: Iterable[str], today: int) -> None:
        """Re-spread the remaining operations of these production orders (closed ones load nothing)."""
        for order_id in order_ids:
            order = site.production.get(order_id)
            new = self.order_load(site, order, today) if order is not None else {}
            old = self.orders.pop(order_id, {})
            if new:
                self.orders[order_id] = new
            if new != old:
                self.add(((center, day, new.get((center, day), 0) - old.get((center, day), 0))
                          for center, day in sorted(old.keys() | new.keys())), ("production_order", order_id))

    def open_orders(self, site: Any) -> list[str]:
        return [order_id for order_id, order in site.production.items() if order.status in OPEN_ORDER_STATUSES]

    def order_load(self, site: Any, order: ProductionOrder, today: int) -> dict[Key, int]:
        if order.status not in OPEN_ORDER_STATUSES:
            return {}
        kernel = self.kernel
        start = max(order.start.toordinal(), today)
        end = max(order.due.toordinal() - 1, start)
        load: dict[Key, int] = {}
        for center, setup, run, name in self.ops(site, order.bom or site.master.bom(site.site, order.item)):
            remaining = kernel.op_minutes(setup, run, order.qty) - to_fixed(order.minutes.get(name, 0.0))
            for day, minutes in kernel.spread(remaining, start, end, self.masks[center]):
                load[(center, day)] = load.get((center, day), 0) + minutes
        return load

    # --- overloads -------------------------------------------------------------------------------

    def publish(self, site: Any, plan: Any, today: int) -> list[CapacityOverload]:
        """Overloads opened, changed or resolved on the days whose load changed since the last call."""
        if not self.changed:
            return []
        out: list[CapacityOverload] = []
        (changed, self.changed), (movers, self.movers) = (self.changed, {}), (self.movers, {})
        for key in sorted(changed, key=lambda k: (self.names[k[0]], k[1])):
            center, day = key
            load, available = self.load.get(key, 0), self.available_on(center, day)
            old = self.overloads.get(key)
            if load > available:
                if key not in self.detail:
                    self.detail[key] = self._who(plan, key)
                if old is not None and self._same_top(old, self.detail[key], movers.get(key)):
                    if self.raw[key] == (load, available):
                        continue   # the same orders, the same minutes: nothing to say
                    orders, named = old.orders, to_fixed(old.load_minutes) - to_fixed(old.other_minutes)
                else:
                    orders, named = self.top(site, plan, key, today)
                current = self._overload(site, key, load, available, "open", orders, named)
                if old is None or (old.load_minutes, old.available_minutes, old.orders) != (
                        current.load_minutes, current.available_minutes, current.orders):
                    self.overloads[key] = current
                    self.raw[key] = (load, available)
                    out.append(current)
            elif old is not None:
                del self.overloads[key], self.raw[key]
                self.detail.pop(key, None)
                out.append(self._overload(site, key, load, available, "resolved", [], load))
        return out

    @staticmethod
    def _same_top(old: CapacityOverload, parts: dict[Who, int], movers: set[Who] | None) -> bool:
        """Whether the orders an overload names still are its biggest: only contributors outside the list
        changed, and none of them has as many minutes there as the last one listed."""
        if movers is None or len(old.orders) < TOP_ORDERS:
            return False
        listed = {("planned_order", o.item) if o.kind == "planned_order" else (o.kind, o.ref) for o in old.orders}
        least = to_fixed(old.orders[-1].minutes)
        return all(who not in listed and parts.get(who, 0) < least for who in movers)

    def _overload(self, site: Any, key: Key, load: int, available: int, state: str, orders: list[CapacityLoad],
                  named: int) -> CapacityOverload:
        """The record of a day; ``named``: the micro-minutes of the orders it lists (the rest is ``other``)."""
        name, day = self.names[key[0]], dt.date.fromordinal(key[1])
        return CapacityOverload(site=site.site, ts=site.clock, overload_id=f"{site.site}|{name}|{day.isoformat()}",
                                work_center=name, date=day, load_minutes=to_number(load),
                                available_minutes=to_number(available), state=state,  # type: ignore[arg-type]
                                orders=orders, other_minutes=to_number(load - named))

    def _who(self, plan: Any, key: Key) -> dict[Who, int]:
        """Who loads a day, found by asking each item on its center and each production order (once per overload)."""
        center, day = key
        parts: dict[Who, int] = {}
        for item in self.by_center.get(center, ()):
            node = plan.nodes.get(item)
            minutes = node.load_on(center, day) if node is not None else 0
            if minutes:
                parts[("planned_order", item)] = minutes
        for order_id, load in self.orders.items():
            minutes = load.get(key, 0)
            if minutes:
                parts[("production_order", order_id)] = minutes
        return parts

    def top(self, site: Any, plan: Any, key: Key, today: int) -> tuple[list[CapacityLoad], int]:
        """The ``TOP_ORDERS`` orders with the most minutes on a day (ties by kind and id), and their minutes.

        The contributors with the biggest totals there are expanded into their
        orders first; then only those whose total reaches the last order kept
        can still place one in the list, so the others are never expanded.
        """
        who = self.detail.get(key)
        totals = who if who is not None else self._who(plan, key)
        first = heapq.nlargest(TOP_ORDERS, totals.items(), key=itemgetter(1))
        kept = self._expand(site, plan, key, today, first)
        if len(kept) >= TOP_ORDERS:
            least, done = -kept[TOP_ORDERS - 1][0], dict(first)
            kept += self._expand(site, plan, key, today, [(contributor, total) for contributor, total in totals.items()
                                                          if total >= least and contributor not in done])
            kept.sort()
        del kept[TOP_ORDERS:]
        return ([CapacityLoad(ref=ref, kind=kind, item=item, minutes=to_number(-minus))  # type: ignore[arg-type]
                 for minus, kind, ref, item in kept], -sum(entry[0] for entry in kept))

    def _expand(self, site: Any, plan: Any, key: Key, today: int, who: list[tuple[Who, int]]
                ) -> list[tuple[int, str, str, str]]:
        """The orders of these contributors as (-minutes, kind, ref, item), biggest first."""
        return sorted((-minutes, kind, ref, item)
                      for kind, ref, item, minutes, _start, _due in self.parts(site, plan, key, today, who))

    def parts(self, site: Any, plan: Any, key: Key, today: int, who: Iterable[tuple[Who, int]] | None = None
              ) -> Iterator[tuple[str, str, str, int, int, int]]:
        """(kind, ref, item, micro-minutes, start, due) of the orders loading ``key``'s center on its day
        (of the contributors ``who``; all of them by default)."""
        center, day = key
        if who is None:
            known = self.detail.get(key)
            who = sorted((known if known is not None else self._who(plan, key)).items())
        for (kind, name), minutes in who:
            if kind == "planned_order":
                node = plan.nodes[name]
                for due, rank, share in node.load_parts(center, day, today, self.masks):
                    # a planned order is released its lead time before it is due
                    yield kind, planned_id(name, due, rank), name, share, max(due - node.lead_time, today), due
            else:
                order = site.production[name]
                yield kind, name, order.item, minutes, max(order.start.toordinal(), today), order.due.toordinal()
