"""Answers to the query API, read from an engine's state as JSON-able dicts.

Pure on purpose (no transport, no web framework): the Faust views only route
and encode, and tests check the numbers against an engine driven by events.
Quantities come out as exact numbers (``to_number``), costs rounded to 1e-6,
dates as ISO strings.  A key the engine does not hold raises ``NotFound``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from . import capacity_view
from .consumption import consumed
from .control import ControlSettings
from .control.answers import (
    ForecastInputs,
    count_schedule_answer,
    forecast_answer,
    forecast_inputs,
    safety_stock_answer,
)
from .costing import money
from .engine import Engine
from .planids import iso
from .quality import AVAILABLE, STATUSES
from .quantity import SCALE, to_number
from .site import SiteState

__all__ = ["ORDER_KINDS", "Ambiguous", "NotFound", "Unavailable", "count_schedule", "find_orders", "forecast",
           "forecast_snapshot", "item_status", "lot_traces", "mrp_record", "one_order", "order", "safety_stock",
           "shortages", "site_state", "work_center_load"]

Row = dict[str, Any]
ORDER_KINDS = ("production", "purchase", "demand")
#: most lot/order nodes one trace walks: a pathological genealogy must not stall the worker
TRACE_BUDGET = 5000


class NotFound(LookupError):
    """The site, item, order or lot is not in this engine."""


class Ambiguous(LookupError):
    """An id names several records (sites or kinds); ``matches`` says which."""

    def __init__(self, message: str, matches: list[Row]) -> None:
        super().__init__(message)
        self.matches = matches


class Unavailable(RuntimeError):
    """The engine cannot answer this kind of question (planning off, planner too old)."""


def site_state(engine: Engine, site: str) -> SiteState:
    state = engine.sites.get(site)
    if state is None:
        raise NotFound(f"unknown site {site!r}")
    return state


def _iso(day: Any) -> str | None:
    return day.isoformat() if day is not None else None


def _known(state: SiteState, item: str) -> bool:
    return (state.master.known_item(state.site, item) or item in state.stock.by_item
            or item in state.stock.reserved or item in state.item_refs)


# --- stock, availability and costs of one item ----------------------------------------


def item_status(engine: Engine, site: str, item: str) -> Row:
    """Physical stock by status, reserved, available, on order, WIP, costs and lots of one item.

    Same definitions as the ``availability`` report: on order is the planner's scheduled receipts, WIP the
    quantity issued to released production orders.
    """
    state = site_state(engine, site)
    if not _known(state, item):
        raise NotFound(f"unknown item {item!r} at site {site!r}")
    stock = state.stock
    totals = stock.totals(item)
    reserved = stock.reserved.get(item, 0)
    receipts = state.scheduled_receipts(item)
    by_kind = dict.fromkeys(("purchase_order", "production_order", "transfer"), 0)
    for _day, qty, kind, _ref in receipts:
        by_kind[kind] = by_kind.get(kind, 0) + qty
    wip = sum(order.issued.get(item, 0) for order in state.production.values() if order.status == "released")
    avg = state.avg_cost.get(item)
    std = state.standard_costs.get(item)
    physical = sum(totals)
    lots: dict[str, list[Row]] = {}
    for lot in stock.lots.get(item, ()):  # first received first: the order issues pick lots in
        for status in STATUSES:
            qty = stock.lot_qty(item, lot, status)
            if qty:
                lots.setdefault(status, []).append({"lot": lot, "qty": to_number(qty)})
    return {
        "site": site, "item": item, "today": _iso(state.today),
        "physical": to_number(physical),
        "by_status": {status: to_number(totals[i]) for i, status in enumerate(STATUSES)},
        "reserved": to_number(reserved),
        "available": to_number(totals[AVAILABLE] - reserved),
        "on_order": {"total": to_number(sum(by_kind.values())),
                     **{kind: to_number(qty) for kind, qty in by_kind.items()}},
        "receipts": [{"date": iso(day), "qty": to_number(qty), "kind": kind, "ref": ref}
                     for day, qty, kind, ref in receipts],
        "wip": to_number(wip),
        "costs": {"moving_average": money(avg) if avg is not None else None,
                  "standard": money(std) if std is not None else None,
                  "unit_cost": money(state.unit_cost(item)),
                  "stock_value": money(physical * state.unit_cost(item) / SCALE)},
        "lots": lots,
    }


# --- planning ------------------------------------------------------------------------------


def mrp_record(engine: Engine, site: str, item: str) -> Row:
    """The planner's time-phased record of one item (gross, receipts, projected, planned)."""
    state = site_state(engine, site)
    if engine.planner is None:
        raise Unavailable("planning is off")
    record = engine.planner.mrp_record(state, item)
    if record is None:
        raise NotFound(f"unknown item {item!r} at site {site!r}")
    return {"site": site, **record}


def shortages(engine: Engine, site: str) -> Row:
    """Open shortages of a site as the planner last published them."""
    state = site_state(engine, site)
    plan = engine.planner.plans.get(site) if engine.planner is not None else None
    rows: list[Row] = []
    for item in sorted(plan.shortages if plan is not None else ()):
        for shortage in sorted(plan.shortages[item].values(), key=lambda s: s.date):
            rows.append({"shortage_id": shortage.shortage_id, "item": item, "date": shortage.date.isoformat(),
                         "qty": shortage.qty,
                         "hits": [{"kind": h.kind, "ref": h.ref, "qty": h.qty, "due": h.due.isoformat()}
                                  for h in shortage.hits]})
    return {"site": site, "today": _iso(state.today), "shortages": rows}


def work_center_load(engine: Engine, site: str, work_center: str) -> Row:
    """A work center's calendar, load by day and overloads with the orders that could move (core/capacity_view)."""
    state = site_state(engine, site)
    if engine.planner is None:
        raise Unavailable("planning is off")
    found = capacity_view.profile(state, engine.planner, work_center)
    if found is None:
        raise NotFound(f"unknown work center {work_center!r} at site {site!r}")
    return found


# --- inventory control (core/control/) -----------------------------------------------------------


def _known_item(state: SiteState, item: str | None) -> None:
    if item is not None and not _known(state, item):
        raise NotFound(f"unknown item {item!r} at site {state.site!r}")


def forecast_snapshot(engine: Engine, site: str, item: str | None = None) -> ForecastInputs:
    """What a forecast of the site (or one item) needs, copied: cheap, taken between batches."""
    state = site_state(engine, site)
    _known_item(state, item)
    return forecast_inputs(state, item)


def forecast(inputs: ForecastInputs, settings: ControlSettings, history: bool = False) -> Row:
    """Method, holdout error and weekly forecast per item with issue history; slow (fits models): the
    service runs it off the event loop, from a snapshot."""
    return forecast_answer(inputs, settings, history)


def safety_stock(engine: Engine, site: str, settings: ControlSettings, item: str | None = None) -> Row:
    """Recommended safety stock and reorder point per item used at the site, beside the configured ones."""
    state = site_state(engine, site)
    _known_item(state, item)
    return safety_stock_answer(state, settings, item)


def count_schedule(engine: Engine, site: str, settings: ControlSettings, day: dt.date | None = None) -> Row:
    """The items to count on ``day`` (default: the site's today) and count accuracy per week and class."""
    return count_schedule_answer(site_state(engine, site), settings, day.toordinal() if day is not None else None)


# --- orders ------------------------------------------------------------------------------------


def _lines(quantities: dict[Any, int]) -> list[Row]:
    return [{"item": item, "lot": lot, "qty": to_number(qty)} for (item, lot), qty in quantities.items()]


def _production(state: SiteState, order_id: str) -> Row:
    whole = state.whole_order(order_id)
    if whole is None:
        raise KeyError(order_id)
    o, inputs, outputs = whole
    return {
        "site": state.site, "kind": "production", "id": o.order_id, "item": o.item, "status": o.status,
        "qty": to_number(o.qty), "good": to_number(o.good), "scrap": to_number(o.scrap),
        "open_qty": to_number(o.open_qty), "start": o.start.isoformat(), "due": o.due.isoformat(),
        "required": {c: to_number(q) for c, q in o.required.items()},
        "reserved": {c: to_number(q) for c, q in o.reserved.items()},
        "issued": {c: to_number(q) for c, q in o.issued.items()},
        "issued_value": {c: money(v) for c, v in o.issued_value.items()},
        "minutes": dict(o.minutes),
        "inputs": _lines(inputs),
        "outputs": _lines(outputs),
    }


def _purchase(state: SiteState, po_id: str) -> Row:
    p = state.purchase[po_id]
    return {"site": state.site, "kind": "purchase", "id": p.po_id, "item": p.item, "status": p.status,
            "supplier": p.supplier, "qty": to_number(p.qty), "received": to_number(p.received),
            "open_qty": to_number(p.open_qty), "due": p.due.isoformat(),
            "unit_price": money(p.unit_price) if p.unit_price is not None else None}


def _demand(state: SiteState, demand_id: str) -> Row:
    """A demand; a forecast also says how much the sales orders of its week consumed and what is planned."""
    d = state.demands[demand_id]
    row = {"site": state.site, "kind": "demand", "demand_kind": d.kind, "id": d.demand_id, "item": d.item,
           "status": d.status, "customer": d.customer, "qty": to_number(d.qty),
           "delivered": to_number(d.delivered), "open_qty": to_number(d.open_qty), "due": d.due.isoformat(),
           "completed": _iso(d.completed)}
    if d.kind == "forecast":
        taken = consumed(state.demands[ref] for kind, ref in state.refs(d.item) if kind == "demand")
        row["consumed"] = to_number(taken.get(demand_id, 0))
        row["planned"] = to_number(max(0, d.open_qty - taken.get(demand_id, 0)))
    return row


def _states(engine: Engine, sites: Sequence[str] | None) -> list[SiteState]:
    """The named sites (each must exist), else every site of the engine, in name order."""
    return [site_state(engine, s) for s in (sorted(engine.sites) if sites is None else sites)]


def find_orders(engine: Engine, order_id: str, sites: Sequence[str] | None = None,
                kind: str | None = None) -> list[Row]:
    """Every production order, purchase order or demand with this id, in the given sites or all."""
    found: list[Row] = []
    for state in _states(engine, sites):
        if kind in (None, "production") and order_id in state.production:
            found.append(_production(state, order_id))
        if kind in (None, "purchase") and order_id in state.purchase:
            found.append(_purchase(state, order_id))
        if kind in (None, "demand") and order_id in state.demands:
            found.append(_demand(state, order_id))
    return found


def order(engine: Engine, order_id: str, site: str | None = None, kind: str | None = None) -> Row:
    """The one record with this id; ``Ambiguous`` if sites or kinds share it."""
    return one_order(order_id, find_orders(engine, order_id, None if site is None else [site], kind))


def one_order(order_id: str, found: list[Row]) -> Row:
    """The single match among records found (here and on other workers)."""
    if not found:
        raise NotFound(f"unknown order {order_id!r}")
    if len(found) > 1:
        raise Ambiguous(f"{len(found)} records have id {order_id!r}: narrow with ?site= or ?kind=",
                        [{"site": r["site"], "kind": r["kind"]} for r in found])
    return found[0]


# --- lot genealogy -------------------------------------------------------------------------


class _Tracer:
    """Walks one site's genealogy; a path never revisits a lot, the whole walk has a budget."""

    def __init__(self, state: SiteState) -> None:
        self.state = state
        self.budget = TRACE_BUDGET
        self.truncated = False

    def _spend(self) -> bool:
        self.budget -= 1
        if self.budget < 0:
            self.truncated = True
        return self.budget >= 0

    def _order_head(self, order_id: str, qty: int) -> Row:
        order = self.state.production.get(order_id)
        return {"order": order_id, "item": order.item if order else None,
                "status": order.status if order else None, "qty": to_number(qty)}

    def backward(self, key: tuple[str, str], path: frozenset[tuple[str, str]]) -> list[Row]:
        """Orders that produced the lot, and recursively the lots they consumed."""
        nodes = []
        for order_id, qty in self.state.produced_by.get(key, {}).items():
            if not self._spend():
                break
            inputs = []
            for (item, lot), used in self.state.order_lines(order_id)[0].items():
                child: Row = {"item": item, "lot": lot, "qty": to_number(used)}
                if (item, lot) in path:
                    child["cycle"] = True
                else:
                    child["produced_by"] = self.backward((item, lot), path | {(item, lot)})
                inputs.append(child)
            nodes.append({**self._order_head(order_id, qty), "inputs": inputs})
        return nodes

    def forward(self, key: tuple[str, str], path: frozenset[tuple[str, str]]) -> list[Row]:
        """Orders that consumed the lot, and recursively what their output lots went into."""
        nodes = []
        for order_id, qty in self.state.consumed_by.get(key, {}).items():
            if not self._spend():
                break
            outputs = []
            for (item, lot), made in self.state.order_lines(order_id)[1].items():
                child: Row = {"item": item, "lot": lot, "qty": to_number(made)}
                if (item, lot) in path:
                    child["cycle"] = True
                else:
                    child["consumed_by"] = self.forward((item, lot), path | {(item, lot)})
                outputs.append(child)
            nodes.append({**self._order_head(order_id, qty), "outputs": outputs})
        return nodes


def _transfers(state: SiteState, item: str, lot: str) -> list[Row]:
    moves: list[Row] = [
        {"transfer_id": t.transfer_id, "direction": "in", "site": t.from_site, "qty": to_number(t.qty),
         "received": to_number(t.received), "arrival": t.arrival.isoformat(), "announced": t.announced}
        for t in state.inbound.values() if t.item == item and t.lot == lot]
    moves.extend({"transfer_id": t.transfer_id, "direction": "out", "site": t.to_site, "qty": to_number(t.qty),
                  "arrival": t.arrival.isoformat()}
                 for t in state.outbound.values() if t.item == item and t.lot == lot)
    return moves


def _lot_items(state: SiteState, lot: str) -> list[str]:
    items = {item for item, lots in state.stock.lots.items() if lot in lots}
    items.update(item for item, named in (*state.consumed_by, *state.produced_by) if named == lot)
    items.update(t.item for t in state.inbound.values() if t.lot == lot)
    return sorted(items)


def lot_traces(engine: Engine, lot: str, item: str | None = None, sites: Sequence[str] | None = None) -> list[Row]:
    """Genealogy of a lot in every site (or one) and for every item (or one) that knows it.

    ``produced_by`` goes backwards (where it came from), ``consumed_by`` forwards
    (what it went into); a lot moved between sites shows its transfers.
    """
    traces = []
    for state in _states(engine, sites):
        for name in _lot_items(state, lot):
            if item is not None and name != item:
                continue
            tracer = _Tracer(state)
            key = (name, lot)
            trace = {
                "site": state.site, "item": name, "lot": lot,
                "stock": {s: to_number(q) for s in STATUSES if (q := state.stock.lot_qty(name, lot, s))},
                "transfers": _transfers(state, name, lot),
                "produced_by": tracer.backward(key, frozenset({key})),
                "consumed_by": tracer.forward(key, frozenset({key})),
            }
            if tracer.truncated:
                trace["truncated"] = True
            traces.append(trace)
    if not traces:
        raise NotFound(f"unknown lot {lot!r}" + (f" of item {item!r}" if item else ""))
    return traces
