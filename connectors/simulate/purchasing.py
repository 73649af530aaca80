"""Buying: purchase orders, supplier confirmations, and receipts that come early, late or in parts.

A supplier delivers ``bias`` days after the due date on average, with a spread; some deliver in two
parts, a few never send the rest (the order is then closed short).  When a delivery will be three days
or more off, the supplier often confirms the new date the next day (a purchase-order update), which the
engine turns into an expedite or defer message.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from core.quantity import SCALE
from schemas import events as ev

from .book import units
from .timeline import add_working_days, working_day

if TYPE_CHECKING:
    from .plant import Plant, Purchase

__all__ = ["confirm", "place", "receive"]


def place(plant: Plant, item: str, qty_units: int, today: dt.date, due: dt.date | None = None) -> None:
    """Order ``qty_units`` of a purchased part; its deliveries go on the plant's agenda."""
    from .plant import Purchase

    rng = plant.rng
    plan = plant.items[item]
    supplier = plan.supplier
    assert supplier is not None
    due = due or today + dt.timedelta(days=plan.lead)
    qty = qty_units * SCALE
    po = Purchase(plant.next_id("PO"), item, qty, due, round(plan.cost * rng.uniform(0.96, 1.06), 4), supplier.name)
    plant.emit(ev.PurchaseOrder, po_id=po.po_id, item=item, qty=units(qty), due=due, unit_price=po.price,
               supplier=supplier.name)
    plant.purchases[po.po_id] = po
    plant.add_supply(item, qty)
    delay = round(rng.gauss(supplier.bias, supplier.spread))
    arrival = working_day(max(today + dt.timedelta(days=1), due + dt.timedelta(days=delay)))
    if qty_units >= 2 and rng.random() < supplier.partial:
        first = max(1, min(qty_units - 1, round(qty_units * rng.uniform(0.4, 0.8)))) * SCALE
        plant.schedule(arrival, "po", (po.po_id, first, rng.random() < 0.1))   # a few never send the rest
        plant.schedule(add_working_days(arrival, rng.randint(2, 6)), "po", (po.po_id, qty - first, True))
    else:
        plant.schedule(arrival, "po", (po.po_id, qty, True))
    if abs((arrival - due).days) >= 3 and rng.random() < 0.5:
        plant.schedule(add_working_days(today, 1), "confirm", (po.po_id, arrival))


def confirm(plant: Plant, po_id: str, new_due: dt.date) -> None:
    """The supplier confirms another date for an order nothing of which has arrived yet."""
    po = plant.purchases.get(po_id)
    if po is None or po.received or po.confirmed or new_due == po.due:
        return
    po.due, po.confirmed = new_due, True
    plant.emit(ev.PurchaseOrder, po_id=po.po_id, item=po.item, qty=units(po.qty), due=new_due,
               unit_price=po.price, supplier=po.supplier)


def receive(plant: Plant, po_id: str, qty: int, last: bool, today: dt.date) -> None:
    """A delivery against an order: a new lot, inspected first for parts that need it; the last one closes it."""
    po: Purchase | None = plant.purchases.get(po_id)
    if po is None:
        return
    rng = plant.rng
    plan = plant.items[po.item]
    lot = plant.new_lot()
    status = "qc_pending" if plan.inspected else "available"
    unit_cost = round(po.price * rng.uniform(0.99, 1.02), 4) if rng.random() < 0.2 else None
    plant.emit(ev.Receipt, item=po.item, qty=units(qty), lot=lot, po_id=po_id, status=status, unit_cost=unit_cost)
    plant.book.book(po.item, lot, status, qty)
    if status == "qc_pending":
        plant.pending_qc[(po.item, lot)] = today
    po.received += qty
    plant.add_supply(po.item, -qty)
    if last:
        plant.emit(ev.PurchaseOrder, po_id=po_id, item=po.item, qty=units(po.qty), due=po.due, unit_price=po.price,
                   supplier=po.supplier, status="closed")
        plant.add_supply(po.item, -max(0, po.qty - po.received))
        del plant.purchases[po_id]
