"""Inventory KPIs per site, from the events already in the record.

Formulas (see docs/design.md): inventory value = quantity x valuation cost
(moving average, else rolled standard); turnover = cost of goods issued /
average daily inventory value; days of inventory = average value / daily cost
of goods issued; accuracy = exact count lines / count lines (and 1 - |diff| /
book by quantity); stockout rate = sales-order lines not fully delivered by
their due date / lines due; carrying cost = average value x annual rate x
days / 365; ABC by cumulative share of consumption value (A to 80 %, B to 95 %).
"""

from __future__ import annotations

import math
from typing import Any

from .quality import STATUSES
from .quantity import SCALE
from .site import SiteState

__all__ = ["abc_classes", "site_kpis"]


def abc_classes(consumption: dict[str, float], a_share: float = 0.80, b_share: float = 0.95) -> dict[str, str]:
    """ABC class per item by its share of total consumption value."""
    total = sum(consumption.values())
    classes: dict[str, str] = {}
    running = 0.0
    for item, value in sorted(consumption.items(), key=lambda kv: (-kv[1], kv[0])):
        share_before = running / total if total > 0 else 1.0
        classes[item] = "A" if share_before < a_share else "B" if share_before < b_share else "C"
        running += value
    return classes


def site_kpis(site: SiteState, carrying_rate: float = 0.25) -> dict[str, Any]:
    # fsum: sums that do not depend on the order items were first seen in (a restored site sees them anew)
    values = [(totals, site.unit_cost(item)) for item, totals in site.stock.by_item.items()]
    by_status = {status: math.fsum(totals[index] * cost / SCALE for totals, cost in values)
                 for index, status in enumerate(STATUSES)}
    current = sum(by_status.values())
    samples = site.value_days + 1
    average = (site.value_sum + current) / samples
    days = max(1, (site.today - site.first_day).days + 1) if site.today and site.first_day else 1
    cogi = math.fsum(site.issued_value.values())
    today = site.today
    due = [d for d in site.demands.values()
           if d.kind == "sales_order" and d.status == "open" and today is not None and d.due < today]
    late = [d for d in due if d.completed is None or d.completed > d.due]
    counts = site.counts
    classes = abc_classes(site.issued_value)
    return {
        "site": site.site,
        "value_available": round(by_status["available"], 2),
        "value_qc_pending": round(by_status["qc_pending"], 2),
        "value_blocked": round(by_status["blocked"], 2),
        "value_rejected": round(by_status["rejected"], 2),
        "value_rework": round(by_status["rework"], 2),
        "inventory_value": round(current, 2),
        "cogi": round(cogi, 2),
        "turnover": round(cogi / average, 4) if average > 0 else None,
        "days_of_inventory": round(average / (cogi / days), 1) if cogi > 0 else None,
        "count_lines": counts.lines,
        "accuracy_lines": round(counts.exact / counts.lines, 4) if counts.lines else None,
        "accuracy_qty": round(1 - counts.abs_difference / counts.book_total, 4) if counts.book_total else None,
        "stockout_rate": (round((len(late) + site.retired_late) / (len(due) + site.retired_due), 4)
                          if due or site.retired_due else None),
        "carrying_cost": round(average * carrying_rate * days / 365, 2),
        "abc": " ".join(f"{k}:{sum(1 for c in classes.values() if c == k)}" for k in "ABC"),
    }
