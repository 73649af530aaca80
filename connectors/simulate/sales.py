"""Demand: Zipf-distributed sales orders and weekly forecasts on the finished devices, and deliveries.

A few devices sell most (Zipf over a random ranking of the devices, the same ranking at every plant).
Clinics order a few units, distributors tens; most orders are due in two to ten days, some are rushes
for tomorrow.  Forecasts cover the weeks beyond two weeks out and are cancelled as their week comes
within reach of the sales orders.  Deliveries ship open orders due by tomorrow from available stock,
partly when stock is short; an order three weeks overdue is cancelled by the customer.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from typing import TYPE_CHECKING

from core.quantity import SCALE
from schemas import events as ev

from .book import floor_units, units

if TYPE_CHECKING:
    from .plant import Plant

__all__ = ["ZIPF_EXPONENT", "deliver", "forecast", "take_orders", "zipf_weights"]

ZIPF_EXPONENT = 1.1
#: expected units a week per finished device at the first plant
UNITS_PER_DEVICE = 20
_FORECAST_FROM = dt.timedelta(days=14)
_FORECAST_TO = dt.timedelta(days=56)
_CANCEL_AFTER = dt.timedelta(days=21)


def zipf_weights(items: list[str], rng: random.Random, exponent: float = ZIPF_EXPONENT) -> dict[str, float]:
    """Demand share per item: the item of rank r gets 1 / r^exponent, normalised."""
    ranked = rng.sample(items, len(items))
    raw = [1.0 / (rank + 1) ** exponent for rank in range(len(ranked))]
    total = sum(raw)
    return {item: raw[rank] / total for rank, item in enumerate(ranked)}


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def take_orders(plant: Plant, today: dt.date, days: float = 1.0) -> None:
    """A day's sales orders (``days`` of them for the opening backlog)."""
    rng = plant.rng
    devices = list(plant.weights)
    cum = list(itertools.accumulate(plant.weights.values()))
    mean_qty = 0.8 * 3.5 + 0.2 * 24
    for _ in range(_poisson(rng, plant.weekly_demand / 5 / mean_qty * days)):
        item = rng.choices(devices, cum_weights=cum)[0]
        if rng.random() < 0.8:
            qty, customer = rng.randint(1, 6), f"Clinic {rng.randint(1, 400):03d}"
        else:
            qty, customer = rng.randint(8, 40), f"Distributor {rng.randint(1, 25):02d}"
        lead = 1 if rng.random() < 0.05 else rng.randint(2, 10)
        due = today + dt.timedelta(days=lead if days == 1 else rng.randint(1, 14))
        _order(plant, item, qty, due, customer)


def _order(plant: Plant, item: str, qty: int, due: dt.date, customer: str) -> None:
    from .plant import SalesLine

    line = SalesLine(plant.next_id("SO"), item, qty * SCALE, due, customer)
    plant.emit(ev.Demand, demand_id=line.demand_id, item=item, qty=qty, due=due, kind="sales_order",
               customer=customer)
    plant.sales[line.demand_id] = line


def deliver(plant: Plant, today: dt.date) -> None:
    """Ship what is due by tomorrow, oldest due first, from the oldest available lots."""
    book = plant.book
    due = sorted((line for line in plant.sales.values() if line.due <= today + dt.timedelta(days=1)),
                 key=lambda line: (line.due, line.demand_id))
    for line in due:
        qty = min(line.open, floor_units(book.free(line.item)))
        if qty > 0:
            for lot, take in book.fifo(line.item, qty):
                plant.emit(ev.Issue, item=line.item, qty=units(take), lot=lot, demand_id=line.demand_id,
                           reason="customer delivery")
                book.book(line.item, lot, "available", -take)
                line.delivered += take
        if not line.open:
            del plant.sales[line.demand_id]
        elif today - line.due > _CANCEL_AFTER:
            plant.emit(ev.Demand, demand_id=line.demand_id, item=line.item, qty=units(line.qty), due=line.due,
                       kind="sales_order", status="cancelled", customer=line.customer)
            del plant.sales[line.demand_id]


def forecast(plant: Plant, today: dt.date) -> None:
    """Weekly forecasts: drop the weeks now within sales-order reach, add the weeks now in the horizon."""
    for demand_id, old in list(plant.forecasts.items()):
        if old.due < today + _FORECAST_FROM:
            plant.emit(ev.Demand, demand_id=demand_id, item=old.item, qty=old.qty, due=old.due, kind="forecast",
                       status="cancelled")
            del plant.forecasts[demand_id]
    monday = today - dt.timedelta(days=today.weekday())
    rng = plant.rng
    for week in range(1, 10):
        due = monday + dt.timedelta(days=7 * week + 2)
        if not today + _FORECAST_FROM <= due <= today + _FORECAST_TO:
            continue
        iso = due.isocalendar()
        for item in plant.weights:
            demand_id = f"{plant.name}-FC-{item}-{iso.year}W{iso.week:02d}"
            qty = round(plant.items[item].weekly * rng.uniform(0.8, 1.2))
            if demand_id in plant.forecasts or qty < 1:
                continue
            plant.forecasts[demand_id] = plant.emit(ev.Demand, demand_id=demand_id, item=item, qty=qty,
                                                    due=due, kind="forecast")
