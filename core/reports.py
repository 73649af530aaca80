"""Report rows over the engine's state, as plain dicts in a stable order.

Reports are what a planner looks at after a replay; the query API of the
service serves the same rows.  Rows are sorted so equal state prints equally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .capacity_view import rows as capacity_rows
from .control import ControlSettings
from .control.reports import CONTROL_REPORTS
from .costing import money
from .engine import Engine
from .kpis import site_kpis
from .planids import iso
from .planning import planned_ids
from .quality import STATUS_INDEX
from .quantity import to_number
from .site import SiteState

__all__ = ["REPORTS", "availability_row", "report"]

Row = dict[str, Any]


def _sites(engine: Engine) -> Iterator[SiteState]:
    for name in sorted(engine.sites):
        yield engine.sites[name]


def stock(engine: Engine) -> list[Row]:
    rows = []
    for site in _sites(engine):
        for (item, lot, status), qty in sorted(site.stock.qty.items()):
            rows.append({"site": site.site, "item": item, "lot": lot, "status": status, "qty": to_number(qty)})
    return rows


def wip_by_item(site: SiteState) -> dict[str, int]:
    """Quantity of each item issued to production orders that are still released."""
    wip: dict[str, int] = {}
    for order in site.production.values():
        if order.status == "released":
            for item, qty in order.issued.items():
                wip[item] = wip.get(item, 0) + qty
    return wip


def availability_row(site: SiteState, item: str, wip: dict[str, int] | None = None) -> Row:
    """Physical, reserved, available, on order (the planner's scheduled receipts) and WIP of one item."""
    if wip is None:
        wip = wip_by_item(site)
    totals = site.stock.totals(item)
    reserved = site.stock.reserved.get(item, 0)
    return {
        "site": site.site, "item": item,
        "physical": to_number(sum(totals)),
        "reserved": to_number(reserved),
        "available": to_number(totals[STATUS_INDEX["available"]] - reserved),
        "qc_pending": to_number(totals[STATUS_INDEX["qc_pending"]]),
        "blocked": to_number(totals[STATUS_INDEX["blocked"]]),
        "on_order": to_number(sum(qty for _day, qty, _kind, _ref in site.scheduled_receipts(item))),
        "wip": to_number(wip.get(item, 0)),
    }


def _site_items(site: SiteState) -> list[str]:
    items: dict[str, None] = dict.fromkeys(site.stock.by_item)
    items.update(dict.fromkeys(site.stock.reserved))
    for records in (site.purchase, site.production, site.inbound):
        items.update(dict.fromkeys(r.item for r in records.values()))
    return sorted(items)


def availability(engine: Engine) -> list[Row]:
    rows = []
    for site in _sites(engine):
        wip = wip_by_item(site)
        rows.extend(availability_row(site, item, wip) for item in _site_items(site))
    return rows


def orders(engine: Engine) -> list[Row]:
    rows: list[Row] = []
    for site in _sites(engine):
        for o in site.production.values():
            rows.append({"site": site.site, "kind": "production", "id": o.order_id, "item": o.item,
                         "qty": to_number(o.qty), "open_qty": to_number(o.open_qty), "due": o.due.isoformat(),
                         "status": o.status, "done": to_number(o.good)})
        for po in site.purchase.values():
            rows.append({"site": site.site, "kind": "purchase", "id": po.po_id, "item": po.item,
                         "qty": to_number(po.qty), "open_qty": to_number(po.open_qty), "due": po.due.isoformat(),
                         "status": po.status, "done": to_number(po.received)})
        for d in site.demands.values():
            rows.append({"site": site.site, "kind": d.kind, "id": d.demand_id, "item": d.item,
                         "qty": to_number(d.qty), "open_qty": to_number(d.open_qty), "due": d.due.isoformat(),
                         "status": d.status, "done": to_number(d.delivered)})
        for t in site.inbound.values():
            rows.append({"site": site.site, "kind": "transfer_in", "id": t.transfer_id, "item": t.item,
                         "qty": to_number(t.qty), "open_qty": to_number(t.open_qty), "due": t.arrival.isoformat(),
                         "status": _transfer_status(t), "done": to_number(t.received)})
    rows.sort(key=lambda r: (r["site"], r["kind"], r["id"]))
    return rows


def _transfer_status(transfer: Any) -> str:
    if not transfer.announced:
        return "received_unannounced"   # booked before its shipment was announced (docs/design.md)
    return "received" if transfer.done else "in_transit"


def _plans(engine: Engine) -> Iterator[tuple[SiteState, Any]]:
    planner = engine.planner
    if planner is None:
        return
    for site in _sites(engine):
        plan = planner.plans.get(site.site)
        if plan is not None:
            yield site, plan


def planned(engine: Engine) -> list[Row]:
    rows = []
    for site, plan in _plans(engine):
        for item in sorted(plan.planned):
            spec = site.master.item(site.site, item)
            orders_ = plan.planned[item]
            for pid, (due, release, qty, _short) in zip(planned_ids(item, orders_), orders_, strict=True):
                rows.append({"site": site.site, "planned_id": pid, "item": item,
                             "kind": "make" if spec is not None and spec.source == "make" else "buy",
                             "qty": to_number(qty), "release": iso(release), "due": iso(due),
                             "past_due": site.today is not None and release < site.today.toordinal()})
    return rows


def shortages(engine: Engine) -> list[Row]:
    rows = []
    for site, plan in _plans(engine):
        for item in sorted(plan.shortages):
            for shortage in plan.shortages[item].values():
                rows.append({"site": site.site, "item": item, "date": shortage.date.isoformat(),
                             "qty": shortage.qty, "hits": ", ".join(f"{h.kind} {h.ref}" for h in shortage.hits)})
    return rows


def exceptions(engine: Engine) -> list[Row]:
    rows = []
    for site, plan in _plans(engine):
        for item in sorted(plan.exceptions):
            for message in plan.exceptions[item].values():
                rows.append({"site": site.site, "item": item, "ref": message.ref, "action": message.action,
                             "current": message.current_date.isoformat() if message.current_date else None,
                             "suggested": message.suggested_date.isoformat() if message.suggested_date else None})
    return rows


def costs(engine: Engine) -> list[Row]:
    rows = []
    planner = engine.planner
    for site in _sites(engine):
        book = planner.costs.get(site.site) if planner is not None else None
        standard = book.standard if book is not None else {}
        for item in sorted(set(site.avg_cost) | set(standard)):
            avg = site.avg_cost.get(item)
            std = standard.get(item)
            rows.append({"site": site.site, "item": item,
                         "unit_cost": money(avg if avg is not None else std or 0.0),
                         "standard_cost": money(std) if std is not None else None})
    return rows


def capacity(engine: Engine) -> list[Row]:
    """Work-center load by day against what is available; overloaded days name the orders that could move."""
    return [row for site, _plan in _plans(engine) for row in capacity_rows(site, engine.planner)]


def kpis(engine: Engine) -> list[Row]:
    return [site_kpis(site) for site in _sites(engine)]


REPORTS: dict[str, Callable[[Engine], list[Row]]] = {
    "stock": stock,
    "availability": availability,
    "orders": orders,
    "planned": planned,
    "shortages": shortages,
    "exceptions": exceptions,
    "costs": costs,
    "capacity": capacity,
    "kpis": kpis,
    # inventory control (core/control/): forecast, safety stock, cycle counts, with default settings
    **{name: (lambda engine, build=build: build(engine, ControlSettings())) for name, build in CONTROL_REPORTS.items()},
}


def report(engine: Engine, name: str, control: ControlSettings | None = None) -> list[Row]:
    """The rows of a report; ``control`` sets the inventory-control reports (forecast, safety stock, counts)."""
    if name in CONTROL_REPORTS:
        return CONTROL_REPORTS[name](engine, control or ControlSettings())
    try:
        return REPORTS[name](engine)
    except KeyError:
        raise ValueError(f"unknown report {name!r}; choose from {', '.join(REPORTS)}") from None
