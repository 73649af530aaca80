"""Production: orders and their reservations, material issues, operation reports, output."""

from __future__ import annotations

from core.reports import report
from helpers import SITE, apply_ok, apply_rejected, lot_qty, mk, new_engine, q, receive, release

# FG x 10 needs: SUB 2 x 10 = 20, RAW-B 1 x 10 x 1.05 = 10.5, and through the phantom KIT:
# RAW-C 2 x 10 = 20.  SUB x 2 needs RAW-A 3 x 2 x 1.10 / 0.90 = 7.333333.. -> 7.333334.
FG10 = {"SUB": q(20), "RAW-B": q(10.5), "RAW-C": q(20)}


def _order(order_id: str = "MO-1", item: str = "FG", qty: float = 10, **fields):
    return mk("production_order", order_id=order_id, item=item, qty=qty, **fields)


def test_release_reserves_exploded_components_with_phantom_pass_through():
    engine = new_engine()
    release(engine, "MO-1", "FG", 10)
    state = engine.sites[SITE]
    assert state.stock.reserved == FG10
    assert "KIT" not in state.stock.reserved
    order = state.production["MO-1"]
    assert order.required == FG10 and order.reserved == FG10
    assert order.status == "released" and order.open_qty == q(10)


def test_release_applies_scrap_and_yield_rounding_up():
    engine = new_engine()
    release(engine, "MO-1", "SUB", 2)
    assert engine.sites[SITE].stock.reserved == {"RAW-A": 7_333_334}


def test_planned_order_reserves_nothing_until_released():
    engine = new_engine()
    apply_ok(engine, _order(status="planned"))
    assert engine.sites[SITE].stock.reserved == {}
    assert engine.sites[SITE].production["MO-1"].open_qty == q(10)
    apply_ok(engine, _order(status="released"))
    assert engine.sites[SITE].stock.reserved == FG10


def test_start_defaults_to_due_minus_lead_time():
    engine = new_engine()
    order = release(engine, "MO-1", "FG", 10)
    assert engine.sites[SITE].production["MO-1"].start == order.due.fromordinal(order.due.toordinal() - 2)


def test_quantity_change_re_reserves_what_is_still_needed():
    engine = new_engine()
    receive(engine, "SUB", 30, "S-L1")
    release(engine, "MO-1", "FG", 10)
    apply_ok(engine, mk("material_issue", order_id="MO-1", item="SUB", qty=5))
    assert engine.sites[SITE].stock.reserved["SUB"] == q(15)
    apply_ok(engine, _order(qty=20))
    stock = engine.sites[SITE].stock
    assert stock.reserved == {"SUB": q(40 - 5), "RAW-B": q(21), "RAW-C": q(40)}
    apply_ok(engine, _order(qty=2))            # below what was issued for SUB
    assert stock.reserved == {"RAW-B": q(2.1), "RAW-C": q(4)}


def test_close_releases_reservations():
    engine = new_engine()
    release(engine, "MO-1", "FG", 10)
    release(engine, "MO-2", "FG", 5)
    apply_ok(engine, _order(status="closed"))
    assert engine.sites[SITE].stock.reserved == {k: v // 2 for k, v in FG10.items()}
    assert engine.sites[SITE].production["MO-1"].open_qty == 0
    assert engine.sites[SITE].production["MO-1"].reserved == {}


def test_cancel_releases_reservations():
    engine = new_engine()
    release(engine, "MO-1", "FG", 10)
    apply_ok(engine, _order(status="cancelled"))
    assert engine.sites[SITE].stock.reserved == {}
    assert engine.sites[SITE].production["MO-1"].status == "cancelled"


def test_illegal_order_status_moves_are_rejected():
    engine = new_engine()
    release(engine, "MO-1", "FG", 10)
    bad = apply_rejected(engine, _order(status="planned"))
    assert "illegal order status move released -> planned" in bad.reason
    apply_ok(engine, _order(status="closed"))
    bad = apply_rejected(engine, _order(status="released"))
    assert "closed -> released" in bad.reason
    assert engine.sites[SITE].stock.reserved == {}
    apply_ok(engine, _order("MO-2", status="planned"))
    bad = apply_rejected(engine, _order("MO-2", status="closed"))
    assert "planned -> closed" in bad.reason
    bad = apply_rejected(engine, _order("MO-3", status="closed"))
    assert "cannot be created as closed" in bad.reason
    assert "MO-3" not in engine.sites[SITE].production


def test_order_item_cannot_change():
    engine = new_engine()
    release(engine, "MO-1", "FG", 10)
    bad = apply_rejected(engine, _order(item="SUB"))
    assert "MO-1" in bad.reason and "SUB" in bad.reason
    assert engine.sites[SITE].stock.reserved == FG10


# --- material issue -------------------------------------------------------------------


def test_material_issue_consumes_own_reservation_first():
    engine = new_engine()
    receive(engine, "RAW-B", 12, "B1")
    release(engine, "MO-1", "FG", 10)
    apply_ok(engine, mk("material_issue", order_id="MO-1", item="RAW-B", qty=11))
    state = engine.sites[SITE]
    assert state.stock.reserved.get("RAW-B", 0) == 0
    assert state.production["MO-1"].issued["RAW-B"] == q(11)
    assert "RAW-B" not in state.production["MO-1"].reserved
    assert lot_qty(engine, "RAW-B", "B1") == q(1)
    assert state.stock.moves["RAW-B"]["material_issue"] == -q(11)


def test_material_issue_cannot_take_another_orders_reservation():
    engine = new_engine()
    receive(engine, "RAW-B", 12, "B1")
    release(engine, "MO-1", "FG", 10)    # reserves 10.5
    release(engine, "MO-2", "FG", 1)     # reserves 1.05
    bad = apply_rejected(engine, mk("material_issue", order_id="MO-2", item="RAW-B", qty=2))
    assert "insufficient available stock" in bad.reason
    apply_ok(engine, mk("material_issue", order_id="MO-2", item="RAW-B", qty=1.5))
    assert engine.sites[SITE].stock.reserved["RAW-B"] == q(10.5)


def test_over_committed_stock_kits_the_first_order_up_to_its_reservation():
    """Reservations beyond the stock (a shortage the plan shows) must not stop every order from kitting."""
    engine = new_engine()
    receive(engine, "RAW-B", 12, "B1")
    release(engine, "MO-1", "FG", 10)    # reserves 10.5
    release(engine, "MO-2", "FG", 10)    # reserves 10.5 more: 21 reserved, 12 on hand
    bad = apply_rejected(engine, mk("material_issue", order_id="MO-1", item="RAW-B", qty=11))
    assert "insufficient available stock" in bad.reason   # beyond its own reservation
    apply_ok(engine, mk("material_issue", order_id="MO-1", item="RAW-B", qty=10.5))
    bad = apply_rejected(engine, mk("material_issue", order_id="MO-2", item="RAW-B", qty=2))
    assert "has 1.5 available" in bad.reason               # what is left on hand
    apply_ok(engine, mk("material_issue", order_id="MO-2", item="RAW-B", qty=1.5))
    bad = apply_rejected(engine, mk("issue", item="RAW-B", qty=0.1))   # nothing unreserved to sell
    assert "insufficient available stock" in bad.reason
    state = engine.sites[SITE]
    assert state.stock.reserved["RAW-B"] == q(9) and lot_qty(engine, "RAW-B", "B1") == 0


def test_material_issue_only_to_released_orders():
    engine = new_engine()
    receive(engine, "RAW-B", 12, "B1")
    apply_ok(engine, _order("MO-P", status="planned"))
    bad = apply_rejected(engine, mk("material_issue", order_id="MO-P", item="RAW-B", qty=1))
    assert "MO-P" in bad.reason and "planned" in bad.reason and "released" in bad.reason
    release(engine, "MO-C", "FG", 1)
    apply_ok(engine, _order("MO-C", qty=1, status="closed"))
    bad = apply_rejected(engine, mk("material_issue", order_id="MO-C", item="RAW-B", qty=1))
    assert "closed" in bad.reason
    assert lot_qty(engine, "RAW-B", "B1") == q(12)


def test_material_issue_records_genealogy_per_lot():
    engine = new_engine()
    receive(engine, "RAW-A", 3, "A1")
    receive(engine, "RAW-A", 10, "A2")
    release(engine, "MO-1", "SUB", 2)
    apply_ok(engine, mk("material_issue", order_id="MO-1", item="RAW-A", qty=5))
    state = engine.sites[SITE]
    assert state.consumed_by[("RAW-A", "A1")] == {"MO-1": q(3)}
    assert state.consumed_by[("RAW-A", "A2")] == {"MO-1": q(2)}
    assert state.order_inputs["MO-1"] == {("RAW-A", "A1"): q(3), ("RAW-A", "A2"): q(2)}
    row = next(r for r in report(engine, "availability") if r["item"] == "RAW-A")
    assert row["wip"] == 5


# --- operation report and output --------------------------------------------------------


def test_operation_report_accumulates_minutes_on_released_orders_only():
    engine = new_engine()
    release(engine, "MO-1", "SUB", 2)
    apply_ok(engine, mk("operation_report", order_id="MO-1", operation="smt", minutes=30),
             mk("operation_report", order_id="MO-1", operation="smt", minutes=12.5),
             mk("operation_report", order_id="MO-1", operation="test", minutes=5))
    assert engine.sites[SITE].production["MO-1"].minutes == {"smt": 42.5, "test": 5}
    apply_ok(engine, _order("MO-1", item="SUB", qty=2, status="closed"))
    bad = apply_rejected(engine, mk("operation_report", order_id="MO-1", operation="smt", minutes=1))
    assert "closed" in bad.reason
    assert engine.sites[SITE].production["MO-1"].minutes["smt"] == 42.5


def test_output_books_qc_pending_stock_and_reduces_open_qty():
    engine = new_engine()
    release(engine, "MO-1", "FG", 10)
    apply_ok(engine, mk("output", order_id="MO-1", good_qty=6, scrap_qty=1, lot="F1"))
    state = engine.sites[SITE]
    assert lot_qty(engine, "FG", "F1", "qc_pending") == q(6)
    assert state.stock.available("FG") == 0
    assert state.stock.moves["FG"]["output"] == q(6)
    order = state.production["MO-1"]
    assert (order.good, order.scrap, order.open_qty) == (q(6), q(1), q(4))
    assert state.produced_by[("FG", "F1")] == {"MO-1": q(6)}
    assert state.order_outputs["MO-1"] == {("FG", "F1"): q(6)}
    row = next(r for r in report(engine, "orders") if r["id"] == "MO-1")
    assert (row["open_qty"], row["done"]) == (4, 6)
    apply_ok(engine, mk("output", order_id="MO-1", good_qty=5, lot="F2", status="available"))
    assert lot_qty(engine, "FG", "F2") == q(5)
    assert order.open_qty == 0


def test_output_needs_some_quantity_and_a_released_order():
    engine = new_engine()
    release(engine, "MO-1", "FG", 10)
    bad = apply_rejected(engine, mk("output", order_id="MO-1", good_qty=0, lot="F1"))
    assert "neither good nor scrap" in bad.reason
    apply_ok(engine, _order(status="cancelled"))
    bad = apply_rejected(engine, mk("output", order_id="MO-1", good_qty=1, lot="F1"))
    assert "cancelled" in bad.reason
    assert engine.sites[SITE].stock.physical("FG") == 0


def test_two_level_genealogy_traces_finished_lot_to_raw_lots():
    engine = new_engine()
    receive(engine, "RAW-A", 20, "A1")
    release(engine, "MO-S", "SUB", 4)
    apply_ok(engine, mk("material_issue", order_id="MO-S", item="RAW-A", qty=14.7),
             mk("output", order_id="MO-S", good_qty=4, lot="S1L", status="available"))
    release(engine, "MO-F", "FG", 2)
    apply_ok(engine, mk("material_issue", order_id="MO-F", item="SUB", qty=4, lot="S1L"),
             mk("output", order_id="MO-F", good_qty=2, lot="F1"))
    state = engine.sites[SITE]
    (maker,) = state.produced_by[("FG", "F1")]
    sub_lots = [key for key in state.order_inputs[maker] if key[0] == "SUB"]
    assert sub_lots == [("SUB", "S1L")]
    (sub_maker,) = state.produced_by[sub_lots[0]]
    assert sub_maker == "MO-S"
    assert state.order_inputs[sub_maker] == {("RAW-A", "A1"): q(14.7)}
    assert state.consumed_by[("SUB", "S1L")] == {"MO-F": q(4)}
