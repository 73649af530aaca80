"""What planners see of capacity: a work center's load profile, and the moves that could relieve an overload.

Which orders on an overloaded work-center day could move, and how far,
without creating a shortage, is a suggestion, never an automatic reschedule.  For each order
that loads the day (definitions in ``docs/planning.md``, "Slack"):

* **later**: an order delayed arrives later.  It stays shortage-free while its
  item's projected available balance, without it, stays at or above zero:
  up to the first day it is needed (``need_days`` with no safety stock, the
  order among the item's scheduled receipts and planned orders in due order).
  Its start moves with its due date (the lead time is kept).  An order that
  nothing needs has no latest start (``None``): it could be deferred or
  cancelled.
* **earlier**: an order started earlier pulls its components' requirements
  forward.  It stays shortage-free while each component's projected balance
  (stock, receipts and planned orders as planned now) covers what the order
  needs on every day it is pulled over, and never before today.  A released
  order that has started cannot move earlier.

Computed when asked (query API, ``capacity`` report) from the plan as it is,
not kept: slack changes whenever any of these items' plans change.
"""

from __future__ import annotations

from array import array
from typing import Any

from .planids import iso, planned_ids
from .quantity import to_number

__all__ = ["moves", "profile", "rows"]

Row = dict[str, Any]


def moves(site: Any, planner: Any, center: int, day: int) -> list[Row]:
    """The orders loading ``center`` on ``day``, each with its minutes there and its earliest and latest start."""
    book, plan = planner.capacity[site.site], planner.plans[site.site]
    today = site.today.toordinal()
    rows = []
    for kind, ref, item, minutes, start, due in book.parts(site, plan, (center, day), today):
        latest = _latest_start(planner.kernel, plan, item, ref, kind, start, due, today)
        earliest = _earliest_start(site, plan, kind, ref, item, start, today)
        rows.append({"ref": ref, "kind": kind, "item": item, "minutes": to_number(minutes),
                     "start": iso(start), "due": iso(due),
                     "earliest_start": iso(earliest), "latest_start": iso(latest) if latest is not None else None,
                     "can_move_earlier": earliest < start, "can_move_later": latest is None or latest > start})
    return sorted(rows, key=lambda row: (row["kind"], row["ref"]))


def profile(site: Any, planner: Any, name: str) -> Row | None:
    """One work center of a site: its calendar, its load by day, and each overloaded day with its moves.

    None when the site has neither master data nor load for it.
    """
    spec = site.master.work_center(site.site, name)
    book = planner.capacity.get(site.site)
    center = book.ids.get(name) if book is not None else None
    if spec is None and center is None:
        return None
    days = _days(book, center) if book is not None and center is not None else []
    overloads = [{**day_row, "excess_minutes": to_number(book.load.get((center, day), 0)
                                                         - book.available_on(center, day)),
                  "orders": moves(site, planner, center, day)}
                 for day, day_row in days if day_row["overloaded"]]
    return {"site": site.site, "work_center": name, "today": site.today.isoformat() if site.today else None,
            "minutes_per_day": spec.minutes_per_day if spec is not None else None,
            "efficiency_pct": spec.efficiency_pct if spec is not None else None,
            "working_days": list(spec.working_days) if spec is not None else None,
            "days": [day_row for _day, day_row in days], "overloads": overloads}


def rows(site: Any, planner: Any) -> list[Row]:
    """The ``capacity`` report of one site: every loaded work-center day; overloaded ones name what could move."""
    book = planner.capacity.get(site.site)
    if book is None:
        return []
    out = []
    for name in sorted(book.ids):
        center = book.ids[name]
        for day, day_row in _days(book, center):
            could_move = ""
            if day_row["overloaded"]:
                could_move = "; ".join(_move_text(move) for move in moves(site, planner, center, day)
                                       if move["can_move_earlier"] or move["can_move_later"])
            out.append({"site": site.site, "work_center": name, **day_row, "could_move": could_move})
    return out


def _days(book: Any, center: int) -> list[tuple[int, Row]]:
    out = []
    for day in sorted(day for (c, day) in book.load.keys() | book.overloads.keys() if c == center):
        load, available = book.load.get((center, day), 0), book.available_on(center, day)
        out.append((day, {"date": iso(day), "load_minutes": to_number(load),
                          "available_minutes": to_number(available),
                          "utilization_pct": round(100 * load / available, 1) if available else None,
                          "overloaded": load > available}))
    return out


def _move_text(move: Row) -> str:
    parts = []
    if move["can_move_earlier"]:
        parts.append(f"earlier to {move['earliest_start']}")
    if move["can_move_later"]:
        parts.append(f"later to {move['latest_start']}" if move["latest_start"] else "later (not needed)")
    return f"{move['ref']} ({move['minutes']} min) " + " or ".join(parts)


def _latest_start(kernel: Any, plan: Any, item: str, ref: str, kind: str, start: int, due: int,
                  today: int) -> int | None:
    node = plan.nodes[item]
    planned = node.planned()
    supply = [(max(day, today), 0, ref_, qty) for day, qty, _kind, ref_ in plan.receipts.get(item, ())]
    supply += [(max(p_due, today), 1, p_ref, qty)
               for p_ref, (p_due, _release, qty, _short) in zip(planned_ids(item, planned), planned, strict=True)]
    supply.sort()
    gross = node.gross()
    needs = kernel.need_days(today, node.on_hand, 0, array("q", [d for d, _ in gross]),
                             array("q", [q for _, q in gross]), array("q", [qty for *_, qty in supply]))
    mine = 1 if kind == "planned_order" else 0
    need = next(need for (_day, tag, name, _qty), need in zip(supply, needs, strict=True)
                if name == ref and tag == mine)
    if need < 0:
        return None
    return start + max(0, need - max(due, today))


def _earliest_start(site: Any, plan: Any, kind: str, ref: str, item: str, start: int, today: int) -> int:
    if start <= today:
        return start
    if kind == "production_order":
        order = site.production[ref]
        if order.status == "released":
            needs = dict(order.reserved)   # what it still has to draw
        else:
            bom = site.master.bom(site.site, item)
            needs = site.explode(bom, order.open_qty) if bom is not None else {}
    else:
        bom = site.master.bom(site.site, item)
        qty = next(qty for p_ref, (_due, _release, qty, _short)
                   in zip(planned_ids(item, plan.nodes[item].planned()), plan.nodes[item].planned(), strict=True)
                   if p_ref == ref)
        needs = site.explode(bom, qty) if bom is not None else {}
    earliest = start
    lowest = {component: None for component in needs}
    balances = {component: _balances(plan, component, today, start) for component in needs}
    for day in range(start - 1, today - 1, -1):
        for component, need in needs.items():
            balance = balances[component][day - today]
            low = lowest[component]
            lowest[component] = balance if low is None or balance < low else low
            if lowest[component] < need:   # pulled over this day, the component would go short
                return earliest
        earliest = day
    return earliest


def _balances(plan: Any, item: str, today: int, until: int) -> list[int]:
    """End-of-day projected balance of ``item`` for each day from today to ``until`` (excluded), as planned."""
    node = plan.nodes.get(item)
    if node is None:
        return [0] * (until - today)
    change: dict[int, int] = {}
    for day, qty in node.gross():
        change[max(day, today)] = change.get(max(day, today), 0) - qty
    for day, qty, _kind, _ref in plan.receipts.get(item, ()):
        change[max(day, today)] = change.get(max(day, today), 0) + qty
    for due, _release, qty, _short in node.planned():
        change[max(due, today)] = change.get(max(due, today), 0) + qty
    balance = node.on_hand
    out = []
    for day in range(today, until):
        balance += change.get(day, 0)
        out.append(balance)
    return out
