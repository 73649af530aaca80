"""Purchase orders and demands: creation, updates, cancellation, illegal moves."""

from __future__ import annotations

import datetime as dt

from core.reports import report
from helpers import SITE, apply_ok, apply_rejected, mk, new_engine, q, receive, rejected


def _po(status: str = "open", **fields):
    fields.setdefault("qty", 100)
    fields.setdefault("item", "RAW-A")
    return mk("purchase_order", po_id="PO-1", status=status, **fields)


def _demand(status: str = "open", **fields):
    fields.setdefault("qty", 30)
    fields.setdefault("item", "FG")
    return mk("demand", demand_id="SO-1", status=status, **fields)


def _on_order(engine, item_name: str) -> object:
    return next(r["on_order"] for r in report(engine, "availability") if r["item"] == item_name)


def test_purchase_order_is_scheduled_supply():
    engine = new_engine()
    apply_ok(engine, _po(unit_price=1.5, supplier="Acme"))
    po = engine.sites[SITE].purchase["PO-1"]
    assert (po.item, po.qty, po.open_qty, po.status, po.supplier) == ("RAW-A", q(100), q(100), "open", "Acme")
    assert _on_order(engine, "RAW-A") == 100


def test_purchase_order_update_changes_qty_and_due_and_keeps_price():
    engine = new_engine()
    apply_ok(engine, _po(unit_price=1.5))
    receive(engine, "RAW-A", 30, "L1", po_id="PO-1")
    apply_ok(engine, _po(qty=120, due=dt.date(2026, 4, 1)))
    po = engine.sites[SITE].purchase["PO-1"]
    assert (po.qty, po.due, po.unit_price) == (q(120), dt.date(2026, 4, 1), 1.5)
    assert po.open_qty == q(90)
    assert _on_order(engine, "RAW-A") == 90


def test_purchase_order_cancel_and_close_end_open_qty():
    engine = new_engine()
    apply_ok(engine, _po())
    apply_ok(engine, _po(status="cancelled"))
    assert engine.sites[SITE].purchase["PO-1"].open_qty == 0
    assert _on_order(engine, "RAW-A") == 0
    bad = apply_rejected(engine, mk("receipt", item="RAW-A", qty=1, lot="L1", po_id="PO-1"))
    assert "PO-1" in bad.reason and "cancelled" in bad.reason
    assert engine.sites[SITE].stock.physical("RAW-A") == 0
    apply_ok(engine, mk("purchase_order", po_id="PO-2", item="RAW-A", qty=5))
    apply_ok(engine, mk("purchase_order", po_id="PO-2", item="RAW-A", qty=5, status="closed"))
    assert engine.sites[SITE].purchase["PO-2"].open_qty == 0


def test_purchase_order_illegal_moves_are_rejected():
    engine = new_engine()
    apply_ok(engine, _po())
    apply_ok(engine, _po(status="cancelled"))
    bad = apply_rejected(engine, _po(status="open"))
    assert "illegal order status move cancelled -> open" in bad.reason
    assert engine.sites[SITE].purchase["PO-1"].status == "cancelled"
    bad = apply_rejected(engine, mk("purchase_order", po_id="PO-9", item="RAW-A", qty=5, status="closed"))
    assert "cannot be created as closed" in bad.reason
    assert "PO-9" not in engine.sites[SITE].purchase


def test_purchase_order_item_cannot_change():
    engine = new_engine()
    apply_ok(engine, _po())
    bad = apply_rejected(engine, _po(item="RAW-B"))
    assert "PO-1" in bad.reason and "RAW-B" in bad.reason
    assert engine.sites[SITE].purchase["PO-1"].item == "RAW-A"


def test_demand_create_update_and_cancel():
    engine = new_engine()
    apply_ok(engine, _demand(customer="Clinic"))
    demand = engine.sites[SITE].demands["SO-1"]
    assert (demand.qty, demand.open_qty, demand.kind, demand.customer) == (q(30), q(30), "sales_order", "Clinic")
    receive(engine, "FG", 50, "F1")
    apply_ok(engine, mk("issue", item="FG", qty=10, demand_id="SO-1"))
    apply_ok(engine, _demand(qty=25, due=dt.date(2026, 5, 1)))
    assert (demand.qty, demand.due, demand.open_qty) == (q(25), dt.date(2026, 5, 1), q(15))
    row = next(r for r in report(engine, "orders") if r["id"] == "SO-1")
    assert (row["qty"], row["open_qty"], row["done"]) == (25, 15, 10)
    apply_ok(engine, _demand(qty=25, status="cancelled"))
    assert demand.open_qty == 0 and demand.status == "cancelled"


def test_demand_illegal_moves_are_rejected():
    engine = new_engine()
    apply_ok(engine, _demand())
    apply_ok(engine, _demand(status="cancelled"))
    bad = apply_rejected(engine, _demand(status="open"))
    assert "illegal demand status move cancelled -> open" in bad.reason
    bad = apply_rejected(engine, mk("demand", demand_id="SO-2", item="FG", qty=1, status="cancelled"))
    assert "cannot be created as cancelled" in bad.reason
    assert "SO-2" not in engine.sites[SITE].demands


def test_issue_item_must_match_demand_item():
    engine = new_engine()
    apply_ok(engine, _demand())
    receive(engine, "SUB", 5, "S1L")
    bad = apply_rejected(engine, mk("issue", item="SUB", qty=1, demand_id="SO-1"))
    assert "SO-1" in bad.reason and "SUB" in bad.reason
    assert engine.sites[SITE].demands["SO-1"].delivered == 0
    assert engine.sites[SITE].stock.physical("SUB") == q(5)


def test_forecast_demand_kind_is_kept():
    engine = new_engine()
    apply_ok(engine, mk("demand", demand_id="FC-1", item="FG", qty=40, kind="forecast"))
    row = next(r for r in report(engine, "orders") if r["id"] == "FC-1")
    assert (row["kind"], row["open_qty"]) == ("forecast", 40)


def test_issue_against_a_cancelled_demand_is_rejected():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    apply_ok(engine, mk("demand", demand_id="D-X", item="RAW-A", qty=5, due="2026-04-01"))
    apply_ok(engine, mk("demand", demand_id="D-X", item="RAW-A", qty=5, due="2026-04-01", status="cancelled"))
    bad = rejected(engine.apply([mk("issue", item="RAW-A", qty=2, demand_id="D-X")]))
    assert bad and "is cancelled" in bad[0].reason
    assert engine.sites["S1"].stock.physical("RAW-A") == q(10)
