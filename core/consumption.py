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

import datetime as dt
import operator
from collections.abc import Iterable

from .history import week_of
from .orders import Demand

__all__ = ["consumed", "forecast_requirements"]

_LAST_DAY = dt.date.max.toordinal()
_CONSUMPTION_ORDER = operator.attrgetter("due", "demand_id")   # earliest due (then smallest id) consumed first


def consumed(demands: Iterable[Demand]) -> dict[str, int]:
    """Micro-units of each open forecast consumed by the sales orders of its week (forecast id -> qty)."""
    demands = list(demands)
    return _consume([d for d in demands if d.kind == "forecast" and d.status == "open"], demands)


def _consume(forecasts: list[Demand], demands: list[Demand]) -> dict[str, int]:
    """What the open sales orders among ``demands`` consume of the open ``forecasts``.

    Only orders due in a week that has a forecast are summed; the date range test spares the week
    arithmetic for the many orders (delivered ones stay open) outside the forecasts' weeks.  The
    planner reads this again for every new demand of a finished good: ``week_of`` is inlined.
    """
    if not forecasts:
        return {}
    weeks = set()
    for forecast in forecasts:
        day = forecast.due.toordinal()
        weeks.add(day - (day - 1) % 7)
    # the last week's Sunday; the last week of the calendar (9999-12-27) has no Sunday in it
    low, high = dt.date.fromordinal(min(weeks)), dt.date.fromordinal(min(max(weeks) + 6, _LAST_DAY))
    ordered: dict[int, int] = {}   # week -> Σ sales-order qty
    for demand in demands:
        due = demand.due
        if low <= due <= high and demand.kind != "forecast" and demand.status == "open":
            day = due.toordinal()
            week = day - (day - 1) % 7
            if week in weeks:
                ordered[week] = ordered.get(week, 0) + demand.qty
    if not ordered:   # no order in the forecasts' weeks (the common case far out): nothing consumed
        return dict.fromkeys((f.demand_id for f in forecasts), 0)
    taken: dict[str, int] = {}
    for forecast in sorted(forecasts, key=_CONSUMPTION_ORDER):
        week = week_of(forecast.due.toordinal())
        left = ordered.get(week, 0)
        take = min(left, forecast.open_qty)
        taken[forecast.demand_id] = take
        if take:
            ordered[week] = left - take
    return taken


def forecast_requirements(forecasts: list[Demand], orders: list[Demand]) -> list[tuple[int, int, str, str]]:
    """Gross requirements (day ordinal, qty, kind, id) of an item's forecasts, less what its open sales
    ``orders`` consume of them.

    The planner's hook (``Planner._own_and_firm``), called for items that have forecasts only; sales orders
    keep their own open quantity as requirements there.
    """
    open_forecasts = [f for f in forecasts if f.status == "open"]
    taken = _consume(open_forecasts, orders)
    out: list[tuple[int, int, str, str]] = []
    for forecast in open_forecasts:
        qty = forecast.qty - forecast.delivered - taken[forecast.demand_id]   # open: qty - delivered
        if qty > 0:
            out.append((forecast.due.toordinal(), qty, forecast.kind, forecast.demand_id))
    return out
