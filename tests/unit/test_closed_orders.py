"""Done production orders kept small (core/closed_orders.py): they answer as they did, restore as they were."""

from __future__ import annotations

from typing import Any

import pytest
from test_persist import restored, setup, table_of

from core import queries
from core.closed_orders import ClosedOrder
from core.engine import Engine
from core.orders import ProductionOrder
from helpers import SITE, advance, apply_ok, mk, new_engine, q, receive, release
from schemas import outputs as out

# what a closed order's query answers the same as it did the moment before it closed
KEPT = ("item", "qty", "good", "scrap", "start", "due", "required", "issued", "issued_value", "minutes", "inputs",
        "outputs")


def _made(**settings: Any) -> Engine:
    """MO-1 (SUB) took two lots of RAW-A and made lots S-1 and S-2, and reported minutes; still released."""
    engine = new_engine(**settings)
    receive(engine, "RAW-A", 20, "A1", unit_cost=1.0)
    receive(engine, "RAW-A", 20, "A2", unit_cost=1.5)
    release(engine, "MO-1", "SUB", 4, status="released")
    apply_ok(engine, mk("material_issue", order_id="MO-1", item="RAW-A", qty=9, lot="A1"),
             mk("material_issue", order_id="MO-1", item="RAW-A", qty=5.666668, lot="A2"),
             mk("operation_report", order_id="MO-1", operation="mix", minutes=45.5),
             mk("output", order_id="MO-1", good_qty=3, scrap_qty=1, lot="S-1", status="available"),
             mk("output", order_id="MO-1", good_qty=1, lot="S-2", status="available"))
    return engine


def _close(engine: Engine, status: str = "closed") -> list[Any]:
    return apply_ok(engine, mk("production_order", order_id="MO-1", item="SUB", qty=4, status=status))


def _traces(engine: Engine) -> list[Any]:
    return [queries.lot_traces(engine, lot) for lot in ("A1", "A2", "S-1", "S-2")]


def _without_status(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_status(v) for k, v in value.items() if k != "status"}
    if isinstance(value, list):
        return [_without_status(v) for v in value]
    return value


def test_a_closed_order_is_costed_then_kept_small_and_answers_as_before() -> None:
    engine = _made()
    state = engine.sites[SITE]
    before, traces = queries.order(engine, "MO-1"), _traces(engine)
    outputs = _close(engine)
    [cost] = [o for o in outputs if isinstance(o, out.OrderCost)]
    assert cost.good_qty == 4 and cost.actual_cost > 0   # costed from the live order, before it was kept small
    order = state.production["MO-1"]
    assert isinstance(order, ClosedOrder) and (order.status, order.open_qty, order.is_open) == ("closed", 0, False)
    assert "MO-1" not in state.order_inputs and "MO-1" not in state.order_outputs   # its lots are in the blob
    after = queries.order(engine, "MO-1")
    assert {k: after[k] for k in KEPT} == {k: before[k] for k in KEPT}
    assert before["inputs"] and before["outputs"] and before["minutes"] == {"mix": 45.5}
    assert (after["status"], after["open_qty"], after["reserved"]) == ("closed", 0, {})
    assert _without_status(_traces(engine)) == _without_status(traces)
    assert state.consumed_by[("RAW-A", "A2")] == {"MO-1": q(5.666668)}   # the lots' own index stays


def test_a_cancelled_order_is_kept_small_at_once_with_its_reservations_released() -> None:
    engine = _made()
    state = engine.sites[SITE]
    release(engine, "MO-2", "SUB", 5, status="released")
    assert state.stock.reserved.get("RAW-A", 0) > 0
    issued = dict(state.production["MO-2"].issued)
    apply_ok(engine, mk("production_order", order_id="MO-2", item="SUB", qty=5, status="cancelled"))
    order = state.production["MO-2"]
    assert isinstance(order, ClosedOrder) and order.status == "cancelled"
    assert order.issued == issued and not order.reserved and state.stock.reserved.get("RAW-A", 0) == 0


def test_a_done_order_refuses_to_be_kept_closed_while_open_or_reserving() -> None:
    engine = _made()
    live = engine.sites[SITE].production["MO-1"]
    assert isinstance(live, ProductionOrder) and live.status == "released"
    with pytest.raises(ValueError, match="is released"):
        ClosedOrder(live, None, None)
    reserving = ProductionOrder("MO-9", "SUB", q(1), live.due, live.start, "closed", reserved={"RAW-A": q(1)})
    with pytest.raises(ValueError, match="reserves"):
        ClosedOrder(reserving, None, None)


def test_a_restored_closed_order_is_kept_small_and_writes_the_row_it_came_from() -> None:
    events = [mk("receipt", item="RAW-A", qty=50, lot="A1", unit_cost=2.0),
              mk("production_order", order_id="MO-1", item="SUB", qty=5, status="released"),
              mk("material_issue", order_id="MO-1", item="RAW-A", qty=10, lot="A1"),
              mk("operation_report", order_id="MO-1", operation="mix", minutes=30),
              mk("output", order_id="MO-1", good_qty=5, lot="S1"),
              mk("production_order", order_id="MO-1", item="SUB", qty=5, status="closed"),
              mk("production_order", order_id="MO-2", item="SUB", qty=3, status="released"),
              mk("material_issue", order_id="MO-2", item="RAW-A", qty=2, lot="A1")]
    engine, _, table = setup(*events)
    again, rows = restored(table)
    state, before = again.sites[SITE], engine.sites[SITE]
    assert isinstance(before.production["MO-1"], ClosedOrder)
    assert state.production["MO-1"] == before.production["MO-1"]   # every field and the blob
    assert isinstance(state.production["MO-2"], ProductionOrder)
    assert state.production["MO-2"].bom is again.master.bom(SITE, "SUB")
    assert state.order_lines("MO-1") == before.order_lines("MO-1") != ({}, {})
    assert state.consumed_by == before.consumed_by and state.produced_by == before.produced_by
    assert rows.current_rows(SITE) == table_of(table, SITE)
    assert rows.changed() == {}



def test_with_planning_off_a_closed_order_is_kept_small_at_once_and_retires() -> None:
    """No planner, no cost: the order used to wait in ``closed_orders`` for ever, whole, and never retired."""
    engine = _made(kernel="off")
    state = engine.sites[SITE]
    assert not [o for o in _close(engine) if isinstance(o, out.OrderCost)]
    assert isinstance(state.production["MO-1"], ClosedOrder) and state.closed_orders == []
    advance(days=60)
    apply_ok(engine, mk("receipt", item="RAW-A", qty=1, lot="A3"))
    assert "MO-1" not in state.production and ("SUB", "S-1") not in state.produced_by
