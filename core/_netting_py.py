"""Readable twin of the netting kernel (``_netting.pyx``); both give identical results.

``net_item`` nets one item over daily buckets: it walks its gross
requirements and scheduled receipts in date order from the site's today,
and whenever the projected available balance would fall below safety stock it
plans an order covering the net requirement, sized by the item's lot rule.
``need_days`` tells, for each open receipt, the first day it is needed
(for expedite/defer/cancel messages).

All quantities are fixed-point integers (micro-units); days are date ordinals.
Inputs are sorted by day; days before ``today`` count as today (overdue).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

CYTHON_MODULE = 0

LOT_FOR_LOT, FIXED, MIN_MULTIPLE, PERIOD, EOQ = 0, 1, 2, 3, 4
UNIT = 1_000_000
YEAR_DAYS = 365
MAX_UNITS = 1e9  # the contract's largest quantity: an EOQ beyond it is capped

__all__ = [
    "CYTHON_MODULE",
    "EOQ",
    "FIXED",
    "LOT_FOR_LOT",
    "MIN_MULTIPLE",
    "PERIOD",
    "eoq_qty",
    "need_days",
    "net_item",
]


def eoq_qty(annual: int, ordering_cost: float, holding_per_unit: float) -> int:
    """Economic order quantity sqrt(2DS/H), rounded up to whole units (0 if undefined)."""
    if annual <= 0 or ordering_cost <= 0.0 or holding_per_unit <= 0.0:
        return 0
    units = math.sqrt(2.0 * (annual / UNIT) * ordering_cost / holding_per_unit)
    return math.ceil(min(units, MAX_UNITS)) * UNIT


def _ceil_to(qty: int, step: int) -> int:
    return -((-qty) // step) * step


def net_item(today: int, on_hand: int, safety_stock: int, lead_time: int,
             rule: int, fixed_qty: int, min_qty: int, max_qty: int, multiple: int, period_days: int,
             ordering_cost: float, holding_per_unit: float,
             req_day: Sequence[int], req_qty: Sequence[int],
             rcp_day: Sequence[int], rcp_qty: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """Planned orders as (due, release, qty, short) tuples.

    ``short`` is how far the balance was below zero (not merely below safety
    stock) when the order was needed: the part of a requirement it must cover.
    """
    nr, nc = len(req_day), len(rcp_day)
    eoq = 0
    if rule == EOQ:
        horizon = today + YEAR_DAYS
        annual = 0
        for k in range(nr):
            if req_day[k] < horizon:
                annual += req_qty[k]
        eoq = eoq_qty(annual, ordering_cost, holding_per_unit)
    planned: list[tuple[int, int, int, int]] = []
    balance = on_hand
    i = j = 0
    day = today
    while True:
        while j < nc and max(rcp_day[j], today) == day:
            balance += rcp_qty[j]
            j += 1
        while i < nr and max(req_day[i], today) == day:
            balance -= req_qty[i]
            i += 1
        if balance < safety_stock:
            net = safety_stock - balance
            short = -balance if balance < 0 else 0
            if rule == FIXED and fixed_qty > 0:
                sizes = [_ceil_to(net, fixed_qty)]
            elif rule == MIN_MULTIPLE:
                sizes = _min_multiple(net, min_qty, max_qty, multiple)
            elif rule == PERIOD and period_days > 1:
                sizes = [safety_stock - _lowest_balance(balance, day + period_days, today, i, j,
                                                        req_day, req_qty, rcp_day, rcp_qty)]
            elif rule == EOQ:
                sizes = [max(net, eoq)]
            else:
                sizes = [net]
            for size in sizes:
                cover = min(short, size)
                planned.append((day, day - lead_time, size, cover))
                short -= cover
                balance += size
        if i < nr:
            next_day = max(req_day[i], today)
            if j < nc:
                next_day = min(next_day, max(rcp_day[j], today))
        elif j < nc:
            next_day = max(rcp_day[j], today)
        else:
            break
        day = next_day
    return planned


def _min_multiple(net: int, min_qty: int, max_qty: int, multiple: int) -> list[int]:
    qty = max(net, min_qty)
    if multiple > 0:
        qty = _ceil_to(qty, multiple)
    if max_qty <= 0 or qty <= max_qty:
        return [qty]
    chunk = (max_qty // multiple) * multiple if multiple > 0 else max_qty
    if chunk <= 0:
        chunk = max_qty
    sizes = []
    while qty > chunk:
        sizes.append(chunk)
        qty -= chunk
    sizes.append(qty)
    return sizes


def _lowest_balance(balance: int, end: int, today: int, i: int, j: int,
                    req_day: Sequence[int], req_qty: Sequence[int],
                    rcp_day: Sequence[int], rcp_qty: Sequence[int]) -> int:
    """Lowest end-of-day balance (without a new order) before day ``end``."""
    lowest = balance
    nr, nc = len(req_day), len(rcp_day)
    while True:
        day_r = max(req_day[i], today) if i < nr else end
        day_c = max(rcp_day[j], today) if j < nc else end
        day = min(day_r, day_c)
        if day >= end:
            return lowest
        while j < nc and max(rcp_day[j], today) == day:
            balance += rcp_qty[j]
            j += 1
        while i < nr and max(req_day[i], today) == day:
            balance -= req_qty[i]
            i += 1
        if balance < lowest:
            lowest = balance


def need_days(today: int, on_hand: int, safety_stock: int,
              req_day: Sequence[int], req_qty: Sequence[int], rcp_qty: Sequence[int]) -> list[int]:
    """For each receipt (in due order), the first day it is needed; -1 if never.

    Receipt k is needed on the first day the balance from stock plus the
    receipts before it falls below safety stock.
    """
    nr = len(req_day)
    out: list[int] = []
    supply = on_hand
    cumulative = 0
    current = today
    i = 0
    for qty in rcp_qty:
        if supply - cumulative < safety_stock:
            out.append(current)
        else:
            found = -1
            while i < nr:
                current = max(req_day[i], today)
                while i < nr and max(req_day[i], today) == current:
                    cumulative += req_qty[i]
                    i += 1
                if supply - cumulative < safety_stock:
                    found = current
                    break
            out.append(found)
        supply += qty
    return out
