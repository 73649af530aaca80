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
available: published ``open`` with the orders that make the load, again when
its load or orders change, ``resolved`` when it fits.  Operations on a work
center without master data load nothing until it arrives.  See
``docs/planning.md`` ("Capacity").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

from schemas.outputs import CapacityLoad, CapacityOverload

from .master import BomSpec
from .orders import ProductionOrder
from .planids import planned_ids
from .quantity import to_fixed, to_number

__all__ = ["OPEN_ORDER_STATUSES", "CapacityBook", "Op"]

#: production orders that load work centers: firm planned and released ones
OPEN_ORDER_STATUSES = ("planned", "released")

Op = tuple[int, int, int, str]   # center id, setup and run micro-minutes per unit, operation name
Key = tuple[int, int]            # (center id, day ordinal)


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
        self.overloads: dict[Key, CapacityOverload] = {}

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
            self.changed.update(dict.fromkeys(key for key in (*self.load, *self.overloads) if key[0] == center))
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
        node.set_ops([op[0] for op in ops], [op[1] for op in ops], [op[2] for op in ops])
        for center, *_ in self.users.get(item, ()):
            self.by_center.get(center, {}).pop(item, None)
        if ops or item in self.users:
            self.users[item] = ops   # kept while empty until the old load is taken back
        for center, *_ in ops:
            self.by_center.setdefault(center, {})[item] = None

    def replanned(self, item: str, node: Any, today: int, moved: bool) -> None:
        """After an item's re-net: what its planned orders load now.

        ``moved``: some planned order changed, so an overload it is part of names it
        anew (its id may change with its due date) even where the minutes stay.
        """
        ops = self.users.get(item)
        if ops is None:
            return
        if moved:
            self.changed.update(dict.fromkeys((center, day) for center, day, _ in node.load_entries()))
        self.add(node.load_update(today, self.masks))
        if moved:
            self.changed.update(dict.fromkeys((center, day) for center, day, _ in node.load_entries()))
        if not ops:
            del self.users[item]

    def add(self, changes: Iterable[tuple[int, int, int]]) -> None:
        load = self.load
        for center, day, delta in changes:
            key = (center, day)
            total = load.get(key, 0) + delta
            if total:
                load[key] = total
            else:
                load.pop(key, None)
            self.changed[key] = None

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
                self.add((center, day, new.get((center, day), 0) - old.get((center, day), 0))
                         for center, day in old.keys() | new.keys())

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
        out: list[CapacityOverload] = []
        changed, self.changed = self.changed, {}
        for key in sorted(changed, key=lambda k: (self.names[k[0]], k[1])):
            center, day = key
            load, available = self.load.get(key, 0), self.available_on(center, day)
            old = self.overloads.get(key)
            if load > available:
                current = self._overload(site, key, load, available, "open", self.contributors(site, plan, key,
                                                                                                today))
                if old is None or (old.load_minutes, old.available_minutes, old.orders) != (
                        current.load_minutes, current.available_minutes, current.orders):
                    self.overloads[key] = current
                    out.append(current)
            elif old is not None:
                del self.overloads[key]
                out.append(self._overload(site, key, load, available, "resolved", []))
        return out

    def _overload(self, site: Any, key: Key, load: int, available: int, state: str,
                  orders: list[CapacityLoad]) -> CapacityOverload:
        name, day = self.names[key[0]], dt.date.fromordinal(key[1])
        return CapacityOverload(site=site.site, ts=site.clock, overload_id=f"{site.site}|{name}|{day.isoformat()}",
                                work_center=name, date=day, load_minutes=to_number(load),
                                available_minutes=to_number(available), state=state,  # type: ignore[arg-type]
                                orders=orders)

    def contributors(self, site: Any, plan: Any, key: Key, today: int) -> list[CapacityLoad]:
        """The orders that make a work center's load on a day, with their minutes there."""
        loads = [CapacityLoad(ref=ref, kind=kind, item=item, minutes=to_number(minutes))
                 for kind, ref, item, minutes, _start, _due in self.parts(site, plan, key, today)]
        return sorted(loads, key=lambda load: (load.kind, load.ref))

    def parts(self, site: Any, plan: Any, key: Key, today: int) -> Iterator[tuple[str, str, str, int, int, int]]:
        """(kind, ref, item, micro-minutes, start, due) of every order loading ``key``'s center on its day."""
        center, day = key
        kernel = self.kernel
        mask = self.masks[center]
        for item in self.by_center.get(center, ()):
            node = plan.nodes.get(item)
            if node is None:
                continue
            ops = [op for op in self.users.get(item, ()) if op[0] == center]
            planned = node.planned()
            for planned_id, (due, release, qty, _short) in zip(planned_ids(item, planned), planned, strict=True):
                start = max(release, today)
                end = max(due - 1, start)
                if day < start:
                    continue
                minutes = sum(share for _center, setup, run, _name in ops
                              for spread_day, share in kernel.spread(kernel.op_minutes(setup, run, qty), start, end,
                                                                     mask) if spread_day == day)
                if minutes:
                    yield "planned_order", planned_id, item, minutes, start, due
        for order_id, load in self.orders.items():
            minutes = load.get(key, 0)
            if minutes:
                order = site.production[order_id]
                yield ("production_order", order_id, order.item, minutes, max(order.start.toordinal(), today),
                       order.due.toordinal())
