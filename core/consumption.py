"""Forecast consumption: sales orders take the place of the forecast of their week.

A forecast says how much of an item will be wanted; a sales order is part of
that want made firm.  Planning both would count the same units twice, so
each sales order reduces the open forecast of the same site, item and ISO
week (Monday to Sunday, by due date), never below zero:

    open forecast of the week = max(0, Σ forecasts' (qty - delivered) - Σ sales orders' qty)

A sales order consumes with its ordered quantity, delivered or not: a
delivery moves units from the sales order's open quantity to the stock
that left, it does not bring back forecast.  Cancelling the order gives its
quantity back to the forecast (a cancelled demand no longer counts); moving
it to another week moves its consumption.  When a week holds several
forecasts, the earliest due (then the smallest id) is consumed first.

Everything here is derived from the open demands on each re-plan, so the
replay and the service consume alike and nothing extra is stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from .history import week_of
from .orders import Demand

__all__ = ["consumed", "demand_requirements"]


def consumed(demands: Iterable[Demand]) -> dict[str, int]:
    """Micro-units of each open forecast consumed by the sales orders of its week (forecast id -> qty)."""
    forecasts: list[Demand] = []
    ordered: dict[int, int] = {}   # week -> Σ sales-order qty
    for demand in demands:
        if demand.status != "open":
            continue
        if demand.kind == "forecast":
            forecasts.append(demand)
        else:
            week = week_of(demand.due.toordinal())
            ordered[week] = ordered.get(week, 0) + demand.qty
    taken: dict[str, int] = {}
    for forecast in sorted(forecasts, key=lambda d: (d.due, d.demand_id)):
        week = week_of(forecast.due.toordinal())
        left = ordered.get(week, 0)
        take = min(left, forecast.open_qty)
        taken[forecast.demand_id] = take
        if take:
            ordered[week] = left - take
    return taken


def demand_requirements(demands: list[Demand]) -> list[tuple[int, int, str, str]]:
    """Gross requirements (day ordinal, qty, kind, id) of an item's open demands, forecasts consumed.

    The planner's hook (``Planner._own_and_firm``): sales orders need their open quantity, forecasts
    what the sales orders of their week left of them.  Without forecasts nothing is consumed.
    """
    has_forecast = False
    for demand in demands:
        if demand.kind == "forecast":
            has_forecast = True
            break
    taken = consumed(demands) if has_forecast else {}
    out: list[tuple[int, int, str, str]] = []
    for demand in demands:
        qty = demand.open_qty - taken.get(demand.demand_id, 0)
        if qty > 0:
            out.append((demand.due.toordinal(), qty, demand.kind, demand.demand_id))
    return out
