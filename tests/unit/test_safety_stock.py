"""Safety stock and reorder point (core/control/safety_stock.py) against the hand computation in its docstring,
from the formula alone and from events through the engine's history."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from core.control import ControlSettings
from core.control.answers import safety_stock_answer
from core.control.safety_stock import recommend, z_value
from core.engine import Engine
from helpers import apply_ok, bom, item, mk

UTC = dt.UTC
START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)   # a Monday


def test_the_worked_example_of_the_docstring() -> None:
    """d = 10, s_d² = 8; L = 14 + 0 days = 2 weeks, s_L² = 98/3 days² = 2/3 week²; z(95 %) = 1.644854.

    safety stock = 1.644854 · sqrt(2 · 8 + 10² · 2/3) = 1.644854 · 9.092121 = 14.955208
    reorder point = 10 · 2 + 14.955208 = 34.955208
    """
    found = recommend([10, 12, 8, 14, 6, 10], 14, [0, 7, -7, 0], 0.95)
    assert found is not None
    assert (found.mean_weekly, found.sd_weekly ** 2) == (10, pytest.approx(8))
    assert (found.lead_time_days, found.lead_time_sd_days ** 2) == (14, pytest.approx(98 / 3))
    assert found.z == pytest.approx(1.644854, abs=1e-6)
    assert math.sqrt(2 * 8 + 100 * 2 / 3) == pytest.approx(9.092121, abs=1e-6)
    assert found.safety_stock == pytest.approx(14.955208, abs=1e-6)
    assert found.reorder_point == pytest.approx(34.955208, abs=1e-6)
    assert (found.receipts, found.lead_time_basis) == (4, "receipts")


def test_without_lead_time_samples_only_usage_varies() -> None:
    """One receipt is no spread: L = configured 7 days = 1 week, s_L = 0: safety stock = z · sqrt(1 · 8)."""
    found = recommend([10, 12, 8, 14, 6, 10], 7, [3], 0.95)
    assert found is not None and found.lead_time_basis == "configured" and found.lead_time_sd_days == 0
    assert found.safety_stock == pytest.approx(1.644854 * math.sqrt(8), abs=1e-5)
    assert found.reorder_point == pytest.approx(10 + found.safety_stock)


def test_service_level_sets_z_and_one_week_says_nothing() -> None:
    assert z_value(0.5) == 0 and z_value(0.99) == pytest.approx(2.326348, abs=1e-6)
    assert recommend([10], 7, [], 0.95) is None
    with pytest.raises(ValueError, match="service_level"):
        ControlSettings(service_level=1.0)


def _at(days: float, **fields: Any) -> dict[str, Any]:
    return {"ts": START + dt.timedelta(days=days), "site": "S1", **fields}


def _events() -> list[Any]:
    """Six weeks of usage of P (10, 12, 8, 14, 6, 10: issues, then material issues) and four receipts against
    purchase orders 0, +7, -7 and 0 days from the date first promised (PO-2's supplier moved it a week)."""
    day = 0
    events = [item("P", "buy", lead_time_days=14, safety_stock=5), item("FG", "make"), bom("FG", [("P", 1)]),
              mk("receipt", **_at(0, item="P", qty=1000, lot="OPEN")),
              mk("purchase_order", **_at(0.01, po_id="PO-1", item="P", qty=10, due="2026-01-07")),
              mk("purchase_order", **_at(0.02, po_id="PO-2", item="P", qty=10, due="2026-01-14")),
              mk("purchase_order", **_at(0.03, po_id="PO-3", item="P", qty=10, due="2026-02-04")),
              mk("purchase_order", **_at(0.04, po_id="PO-4", item="P", qty=10, due="2026-02-11")),
              mk("production_order", **_at(0.05, order_id="MO-1", item="FG", qty=40, due="2026-03-31"))]
    timed = [(2, mk("receipt", **_at(2, item="P", qty=10, lot="R1", po_id="PO-1"))),
             (8, mk("purchase_order", **_at(8, po_id="PO-2", item="P", qty=10, due="2026-01-21"))),
             (16, mk("receipt", **_at(16, item="P", qty=10, lot="R2", po_id="PO-2"))),
             (23, mk("receipt", **_at(23, item="P", qty=10, lot="R3", po_id="PO-3"))),
             (37, mk("receipt", **_at(37, item="P", qty=10, lot="R4", po_id="PO-4")))]
    for week, qty in enumerate([10, 12, 8, 14, 6, 10]):
        day = week * 7 + 3.5
        if week < 3:
            timed.append((day, mk("issue", **_at(day, item="P", qty=qty))))
        else:
            timed.append((day, mk("material_issue", **_at(day, order_id="MO-1", item="P", qty=qty))))
    timed.append((43, mk("count", **_at(43, item="P", lot="OPEN", counted_qty=0))))
    events.extend(event for _, event in sorted(timed, key=lambda pair: pair[0]))
    return events


def test_from_events_through_the_engine() -> None:
    engine = Engine()
    apply_ok(engine, *_events())
    answer = safety_stock_answer(engine.sites["S1"], ControlSettings())
    row = answer["items"][0]
    assert [r["item"] for r in answer["items"]] == ["P"]
    assert (row["weeks"], row["mean_weekly"], row["sd_weekly"]) == (6, 10.0, 2.828)
    assert (row["configured_lead_time_days"], row["lead_time_days"], row["lead_time_sd_days"]) == (14, 14.0, 5.715)
    assert (row["receipts"], row["z"], row["safety_stock"], row["reorder_point"]) == (4, 1.6449, 14.955, 34.955)
    assert (row["configured_safety_stock"], row["difference"]) == (5, 9.955)
    # reported, never applied: the planner still nets against the configured 5
    assert engine.planner is not None
    assert engine.planner.plans["S1"].nodes["P"].safety_stock == 5_000_000
