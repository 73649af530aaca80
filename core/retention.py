"""Retiring what is done: a site's record stays the size of its open business, not of its history.

A plant runs for years; closed orders, delivered demands, received transfers
and emptied lots would otherwise stay in memory (and in durable state) for
ever, and a worker's memory would grow with every event.  When a site's day
begins, records done on or before the day ``retention`` ago leave the engine:

* production orders closed or cancelled then, with their genealogy (the lots
  they consumed and produced, so lot traces reach back ``retention``);
* purchase orders closed, cancelled or fully received then;
* demands cancelled then, and sales orders delivered in full then and due
  then, unless an open forecast of their item falls in their week (it is
  consumed by them, ``core/consumption.py``); they are counted first for the
  stockout rate (``SiteState.retired_due`` / ``retired_late``);
* transfers received in full then (inbound) or due to arrive by then
  (outbound);
* lots empty since then (a lot received again after that counts as a new lot
  for first-received-first picking).

Everything is decided by the site's event time, so a replay and the service
retire alike.  An event that refers to a retired record meets an unknown
reference (it waits, then is rejected with the reason); the query API answers
404 for it.  The sink (``millstream sink``) keeps what the outputs said.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from typing import Any

from .closed_orders import ClosedOrder
from .history import week_of
from .quality import STATUSES

__all__ = ["retire"]


def retire(state: Any, today: dt.date, horizon: dt.date) -> None:
    """Drop the site's records done on or before ``horizon``, and the lots empty since then."""
    _orders(state, horizon)
    _purchases(state, horizon)
    _demands(state, horizon)
    _transfers(state, horizon)
    _empty_lots(state, today, horizon)


def _done(day: dt.date | None, horizon: dt.date) -> bool:
    return day is not None and day <= horizon


def _orders(state: Any, horizon: dt.date) -> None:
    for order_id in [o.order_id for o in state.production.values()
                     if not o.is_open and _done(o.ended, horizon) and o.order_id not in state.closed_orders]:
        inputs, outputs = state.order_lines(order_id)
        order = state.production.pop(order_id)
        state.order_inputs.pop(order_id, None)
        state.order_outputs.pop(order_id, None)
        # a ClosedOrder released its allocations as it closed; an order still to cost is looked through
        for component in () if isinstance(order, ClosedOrder) else {*order.required, *order.issued, *order.reserved}:
            users = state.alloc_refs.get(component)
            if users is not None:
                users.pop(order_id, None)
                if not users:
                    del state.alloc_refs[component]
        for lines, by_lot in ((inputs, state.consumed_by), (outputs, state.produced_by)):
            for key in lines:
                users = by_lot.get(key)
                if users is not None:
                    users.pop(order_id, None)
                    if not users:
                        del by_lot[key]
        state._record_changed("prod", order_id)


def _purchases(state: Any, horizon: dt.date) -> None:
    for po in [po for po in state.purchase.values() if _done(po.ended, horizon) and po.open_qty == 0]:
        del state.purchase[po.po_id]
        state._unindex(po.item, "purchase_order", po.po_id)
        state._record_changed("po", po.po_id)


def _demands(state: Any, horizon: dt.date) -> None:
    forecast_weeks = {(d.item, week_of(d.due.toordinal())) for d in state.demands.values()
                      if d.kind == "forecast" and d.status == "open"}
    for demand in list(state.demands.values()):
        if demand.status == "cancelled":
            if not _done(demand.ended, horizon):
                continue
        elif not (demand.kind == "sales_order" and demand.open_qty == 0 and _done(demand.completed, horizon)
                  and demand.due <= horizon and (demand.item, week_of(demand.due.toordinal())) not in forecast_weeks):
            continue
        else:   # a delivered sales order leaves the stockout rate's lines: counted there first
            state.retired_due += 1
            state.retired_late += demand.completed > demand.due
        del state.demands[demand.demand_id]
        state._unindex(demand.item, "demand", demand.demand_id)
        state._record_changed("demand", demand.demand_id)


def _transfers(state: Any, horizon: dt.date) -> None:
    for key in [k for k, t in state.inbound.items() if t.done and _done(t.ended, horizon)]:
        del state.inbound[key]
        state._record_changed("transfer-in", key)
    for key in [k for k, t in state.outbound.items() if t.arrival <= horizon]:
        del state.outbound[key]
        state._record_changed("transfer-out", key)


def _empty_lots(state: Any, today: dt.date, horizon: dt.date) -> None:
    """Note the day each lot is first found empty (a lot that holds stock again is cleared); drop it then.

    Only lots whose stock changed since the day before can have emptied or filled again (the stock says
    which: ``Stock.touched``), and the lots found empty wait in the order found; a site of 100,000 items
    no longer walks all its lots every day.  A new or restored site's first day looks at every lot.
    """
    stock = state.stock
    if stock.touched is None:
        _all_lots(state, today)
    else:
        touched, stock.touched = stock.touched, set()
        for item, lot in touched:
            lots = stock.lots.get(item)
            if lots is not None and lot in lots and _mark(stock, item, lots, lot, today):
                state._record_changed("item", item)
    emptied = stock.emptied
    while emptied and emptied[0][0] <= horizon:
        day, item, lot = emptied.popleft()
        lots = stock.lots.get(item)
        if lots is None or lots.get(lot) != day:
            continue   # it held stock again (or was found empty again later: that entry waits further on)
        del lots[lot]
        if not lots:
            del stock.lots[item]
        state._record_changed("item", item)


def _mark(stock: Any, item: str, lots: dict[str, Any], lot: str, today: dt.date) -> bool:
    """Note the day an empty lot was found empty, or clear it when it holds stock again; True if changed."""
    qty = stock.qty
    empty = not any((item, lot, status) in qty for status in STATUSES)
    emptied = lots[lot]
    if empty and emptied is None:
        lots[lot] = today
        stock.emptied.append((today, item, lot))
        return True
    if not empty and emptied is not None:
        lots[lot] = None
        return True
    return False


def _all_lots(state: Any, today: dt.date) -> None:
    """Every lot looked at (the first day of a new or restored site); the empty ones queued by their day."""
    stock = state.stock
    for item, lots in stock.lots.items():
        changed = False
        for lot in lots:
            changed |= _mark(stock, item, lots, lot, today)
        if changed:
            state._record_changed("item", item)
    stock.emptied = deque(sorted((day, item, lot) for item, lots in stock.lots.items()
                                 for lot, day in lots.items() if day is not None))
    stock.touched = set()
