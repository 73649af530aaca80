"""Forecast consumption (core/consumption.py): sales orders reduce the forecast of their item and ISO week,
never below zero, through the engine's own plan (gross requirements of the MRP record)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core import queries
from core.consumption import consumed
from core.engine import Engine
from core.orders import Demand
from core.persist import StateRows, fold_rows
from helpers import SITE, apply_ok, mk, new_engine

MONDAY = "2026-03-16"   # the week of 2026-03-16 (Monday) to 2026-03-22 (Sunday)


def forecast(demand_id: str, qty: float, due: str = MONDAY, **fields: Any) -> Any:
    return mk("demand", demand_id=demand_id, item="RAW-A", qty=qty, due=due, kind="forecast", **fields)


def order(demand_id: str, qty: float, due: str, **fields: Any) -> Any:
    return mk("demand", demand_id=demand_id, item="RAW-A", qty=qty, due=due, **fields)


def gross(engine: Engine) -> dict[str, float]:
    """The MRP record's own gross requirements of RAW-A by demand id (consumed forecasts leave none)."""
    record = queries.mrp_record(engine, SITE, "RAW-A")
    return {r["ref"]: r["qty"] for r in record["gross_requirements"]}


def test_sales_orders_in_the_week_reduce_the_forecast() -> None:
    engine = new_engine()
    apply_ok(engine, forecast("FC", 100), order("SO-1", 30, "2026-03-18"), order("SO-2", 20, "2026-03-22"))
    # 100 - 30 - 20 = 50 of the forecast is still expected beside the two orders: 100 in all, not 150
    assert gross(engine) == {"FC": 50, "SO-1": 30, "SO-2": 20}
    answer = queries.order(engine, "FC", SITE)
    assert (answer["consumed"], answer["planned"], answer["open_qty"]) == (50, 50, 100)


def test_orders_of_other_weeks_and_items_do_not_consume() -> None:
    engine = new_engine()
    apply_ok(engine, forecast("FC", 100), order("SO-NEXT", 30, "2026-03-23"), order("SO-PREV", 10, "2026-03-15"),
             mk("demand", demand_id="SO-B", item="RAW-B", qty=40, due="2026-03-18"))
    assert gross(engine) == {"FC": 100, "SO-NEXT": 30, "SO-PREV": 10}


def test_over_consumption_stops_at_zero() -> None:
    engine = new_engine()
    apply_ok(engine, forecast("FC", 100), order("SO-1", 70, "2026-03-17"), order("SO-2", 60, "2026-03-19"))
    assert gross(engine) == {"SO-1": 70, "SO-2": 60}   # the forecast is gone, never negative
    assert queries.order(engine, "FC", SITE)["consumed"] == 100


def test_cancelling_an_order_gives_its_quantity_back_to_the_forecast() -> None:
    engine = new_engine()
    apply_ok(engine, forecast("FC", 100), order("SO-1", 70, "2026-03-17"), order("SO-2", 60, "2026-03-19"))
    apply_ok(engine, order("SO-2", 60, "2026-03-19", status="cancelled"))
    assert gross(engine) == {"FC": 30, "SO-1": 70}
    apply_ok(engine, order("SO-1", 70, "2026-03-17", status="cancelled"))
    assert gross(engine) == {"FC": 100}


def test_moving_an_order_to_another_week_moves_its_consumption() -> None:
    engine = new_engine()
    apply_ok(engine, forecast("FC", 100), forecast("FC-NEXT", 100, "2026-03-23"), order("SO-1", 40, "2026-03-18"))
    assert gross(engine) == {"FC": 60, "FC-NEXT": 100, "SO-1": 40}
    apply_ok(engine, order("SO-1", 40, "2026-03-25"))
    assert gross(engine) == {"FC": 100, "FC-NEXT": 60, "SO-1": 40}


def test_a_delivery_does_not_bring_the_forecast_back() -> None:
    """The order consumes with its ordered quantity: what was shipped was part of the forecast week's demand."""
    engine = new_engine()
    apply_ok(engine, mk("receipt", item="RAW-A", qty=100, lot="L1"), forecast("FC", 100), order("SO-1", 30, MONDAY))
    apply_ok(engine, mk("issue", item="RAW-A", qty=10, demand_id="SO-1"))
    assert gross(engine) == {"FC": 70, "SO-1": 20}
    apply_ok(engine, mk("issue", item="RAW-A", qty=20, demand_id="SO-1"))
    assert gross(engine) == {"FC": 70}


def test_forecasts_of_one_week_are_consumed_earliest_first() -> None:
    engine = new_engine()
    apply_ok(engine, forecast("FC-WED", 40, "2026-03-18"), forecast("FC-MON", 50, MONDAY),
             order("SO-1", 70, "2026-03-20"))
    assert gross(engine) == {"FC-WED": 20, "SO-1": 70}   # FC-MON (earlier) consumed whole, then 20 of FC-WED


def test_consumption_plans_alike_net_change_regenerative_and_restored() -> None:
    """Net-change re-planning, a regenerative run and a site restored from durable rows consume alike."""
    events = [forecast("FC", 100), order("SO-1", 30, "2026-03-18"), forecast("FC-2", 80, "2026-03-23"),
              order("SO-2", 90, "2026-03-24"), order("SO-1", 30, "2026-03-18", status="cancelled")]
    live = new_engine(track_changes=True)
    rows = StateRows(live)
    table: dict[str, bytes] = {}
    for event in events:   # one batch per event: net change each time
        apply_ok(live, event)
        fold_rows(table, rows.changed())
    expected = {"FC": 100, "SO-2": 90}   # SO-1 cancelled; SO-2 takes 80 of FC-2's week and no more
    assert gross(live) == expected
    assert live.planner is not None
    live.planner.regenerate(live.sites[SITE])
    assert gross(live) == expected
    restored = new_engine(track_changes=True)
    StateRows(restored).restore(SITE, table.items())
    assert gross(restored) == expected


def _demand(demand_id: str, kind: str, qty: int, due: dt.date, delivered: int = 0, status: str = "open") -> Demand:
    return Demand(demand_id, "X", qty, due, kind, status, delivered=delivered)


def test_consumed_arithmetic_without_an_engine() -> None:
    monday, sunday, next_monday = dt.date(2026, 3, 16), dt.date(2026, 3, 22), dt.date(2026, 3, 23)
    demands = [
        _demand("F1", "forecast", 100, monday, delivered=10),   # 90 open: a delivery against the forecast itself
        _demand("F2", "forecast", 50, sunday),
        _demand("S1", "sales_order", 60, sunday),
        _demand("S2", "sales_order", 45, monday, delivered=45),  # delivered in full: still consumes
        _demand("S3", "sales_order", 500, next_monday),         # another week
        _demand("S4", "sales_order", 500, monday, status="cancelled"),
        _demand("F3", "forecast", 20, next_monday, status="cancelled"),
    ]
    # week of the 16th: orders 60 + 45 = 105 take F1's 90, then 15 of F2
    assert consumed(demands) == {"F1": 90, "F2": 15}


def test_the_last_week_of_the_calendar() -> None:
    """Found by the engine fuzzer: a forecast due 9999-12-31, whose week ends after the calendar does."""
    engine = new_engine()
    apply_ok(engine, forecast("FC-END", 5, "9999-12-31"), order("SO-END", 2, "9999-12-27"))
    assert gross(engine) == {"FC-END": 3, "SO-END": 2}
