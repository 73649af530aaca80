"""Inventory scans: receipt, issue, count, quality, scrap, and the negative-stock setting."""

from __future__ import annotations

from helpers import SITE, apply_ok, apply_rejected, lot_qty, mk, new_engine, q, receive, rejected, release

# --- receipt -----------------------------------------------------------------------


def test_receipt_without_po_books_available_stock():
    engine = new_engine()
    receive(engine, "RAW-A", 12.5, "L1")
    stock = engine.sites[SITE].stock
    assert lot_qty(engine, "RAW-A", "L1") == q(12.5)
    assert stock.physical("RAW-A") == q(12.5)
    assert stock.available("RAW-A") == q(12.5)
    assert stock.moves["RAW-A"]["receipt"] == q(12.5)


def test_receipt_against_po_counts_as_received():
    engine = new_engine()
    apply_ok(engine, mk("purchase_order", po_id="PO-1", item="RAW-A", qty=100))
    receive(engine, "RAW-A", 40, "L1", po_id="PO-1")
    receive(engine, "RAW-A", 25, "L2", po_id="PO-1")
    po = engine.sites[SITE].purchase["PO-1"]
    assert po.received == q(65)
    assert po.open_qty == q(35)
    assert engine.sites[SITE].stock.physical("RAW-A") == q(65)


def test_receipt_item_must_match_po_item():
    engine = new_engine()
    apply_ok(engine, mk("purchase_order", po_id="PO-1", item="RAW-A", qty=100))
    bad = apply_rejected(engine, mk("receipt", item="RAW-B", qty=5, lot="L1", po_id="PO-1"))
    assert "PO-1" in bad.reason and "RAW-B" in bad.reason
    assert engine.sites[SITE].purchase["PO-1"].received == 0
    assert engine.sites[SITE].stock.physical("RAW-B") == 0


def test_receipt_qc_pending_is_physical_but_not_available():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1", status="qc_pending")
    stock = engine.sites[SITE].stock
    assert lot_qty(engine, "RAW-A", "L1", "qc_pending") == q(10)
    assert lot_qty(engine, "RAW-A", "L1") == 0
    assert stock.physical("RAW-A") == q(10)
    assert stock.available("RAW-A") == 0
    bad = apply_rejected(engine, mk("issue", item="RAW-A", qty=1))
    assert "insufficient" in bad.reason


# --- issue -------------------------------------------------------------------------


def test_issue_takes_lots_first_in_first_out():
    engine = new_engine()
    receive(engine, "RAW-A", 5, "L1")
    receive(engine, "RAW-A", 5, "L2")
    receive(engine, "RAW-A", 5, "L3")
    apply_ok(engine, mk("issue", item="RAW-A", qty=7))
    assert lot_qty(engine, "RAW-A", "L1") == 0
    assert ("RAW-A", "L1", "available") not in engine.sites[SITE].stock.qty
    assert lot_qty(engine, "RAW-A", "L2") == q(3)
    assert lot_qty(engine, "RAW-A", "L3") == q(5)
    assert engine.sites[SITE].stock.moves["RAW-A"]["issue"] == -q(7)


def test_issue_from_named_lot():
    engine = new_engine()
    receive(engine, "RAW-A", 5, "L1")
    receive(engine, "RAW-A", 5, "L2")
    apply_ok(engine, mk("issue", item="RAW-A", qty=4, lot="L2"))
    assert lot_qty(engine, "RAW-A", "L1") == q(5)
    assert lot_qty(engine, "RAW-A", "L2") == q(1)


def test_issue_from_named_lot_cannot_exceed_that_lot():
    engine = new_engine()
    receive(engine, "RAW-A", 5, "L1")
    receive(engine, "RAW-A", 5, "L2")
    bad = apply_rejected(engine, mk("issue", item="RAW-A", qty=6, lot="L2"))
    assert "insufficient" in bad.reason and "L2" in bad.reason
    assert lot_qty(engine, "RAW-A", "L2") == q(5)


def test_issue_against_demand_counts_as_delivered():
    engine = new_engine()
    receive(engine, "FG", 10, "F1")
    apply_ok(engine, mk("demand", demand_id="SO-1", item="FG", qty=8))
    apply_ok(engine, mk("issue", item="FG", qty=6, demand_id="SO-1"))
    demand = engine.sites[SITE].demands["SO-1"]
    assert demand.delivered == q(6)
    assert demand.open_qty == q(2)
    assert lot_qty(engine, "FG", "F1") == q(4)


def test_issue_cannot_take_stock_reserved_for_a_released_order():
    engine = new_engine()
    receive(engine, "RAW-B", 12, "L1")
    release(engine, "MO-1", "FG", 10)          # reserves 10 x 1 x 1.05 = 10.5 RAW-B
    stock = engine.sites[SITE].stock
    assert stock.reserved["RAW-B"] == q(10.5)
    assert stock.available("RAW-B") == q(1.5)
    bad = apply_rejected(engine, mk("issue", item="RAW-B", qty=2))
    assert "insufficient available stock" in bad.reason and "reserved" in bad.reason
    assert lot_qty(engine, "RAW-B", "L1") == q(12)
    apply_ok(engine, mk("issue", item="RAW-B", qty=1.5))
    assert stock.available("RAW-B") == 0


# --- count -------------------------------------------------------------------------


def test_count_books_the_difference_as_adjustment_and_tracks_accuracy():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    receive(engine, "RAW-A", 4, "L2")
    apply_ok(engine,
             mk("count", item="RAW-A", lot="L1", counted_qty=8),
             mk("count", item="RAW-A", lot="L2", counted_qty=4),
             mk("count", item="RAW-A", lot="L3", counted_qty=1.5))
    stock = engine.sites[SITE].stock
    assert lot_qty(engine, "RAW-A", "L1") == q(8)
    assert lot_qty(engine, "RAW-A", "L3") == q(1.5)
    assert stock.moves["RAW-A"]["adjustment"] == q(-2 + 1.5)
    assert stock.physical("RAW-A") == q(13.5)
    counts = engine.sites[SITE].counts
    assert (counts.lines, counts.exact) == (3, 1)
    assert counts.abs_difference == q(3.5)
    assert counts.book_total == q(14)


def test_count_of_a_status_only_adjusts_that_status():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1", status="qc_pending")
    apply_ok(engine, mk("count", item="RAW-A", lot="L1", counted_qty=7, status="qc_pending"))
    assert lot_qty(engine, "RAW-A", "L1", "qc_pending") == q(7)
    assert lot_qty(engine, "RAW-A", "L1") == 0


# --- quality -----------------------------------------------------------------------


def test_quality_release_from_qc_makes_stock_available():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1", status="qc_pending")
    apply_ok(engine, mk("quality", item="RAW-A", lot="L1", qty=6, from_status="qc_pending", to_status="available"),
             mk("quality", item="RAW-A", lot="L1", qty=4, from_status="qc_pending", to_status="rejected"),
             mk("quality", item="RAW-A", lot="L1", qty=1, from_status="rejected", to_status="rework"))
    assert lot_qty(engine, "RAW-A", "L1") == q(6)
    assert lot_qty(engine, "RAW-A", "L1", "rejected") == q(3)
    assert lot_qty(engine, "RAW-A", "L1", "rework") == q(1)
    assert lot_qty(engine, "RAW-A", "L1", "qc_pending") == 0
    stock = engine.sites[SITE].stock
    assert stock.physical("RAW-A") == q(10)
    assert stock.moves["RAW-A"]["quality"] == 0


def test_quality_illegal_move_is_rejected_and_changes_nothing():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    bad = apply_rejected(engine, mk("quality", item="RAW-A", lot="L1", qty=5,
                                    from_status="available", to_status="rework"))
    assert "illegal status move available -> rework" in bad.reason
    bad = apply_rejected(engine, mk("quality", item="RAW-A", lot="L1", qty=5,
                                    from_status="available", to_status="available"))
    assert "illegal status move" in bad.reason
    assert lot_qty(engine, "RAW-A", "L1") == q(10)


def test_quality_move_needs_stock_in_from_status():
    engine = new_engine()
    receive(engine, "RAW-A", 3, "L1", status="qc_pending")
    bad = apply_rejected(engine, mk("quality", item="RAW-A", lot="L1", qty=4,
                                    from_status="qc_pending", to_status="available"))
    assert "insufficient stock" in bad.reason
    assert lot_qty(engine, "RAW-A", "L1", "qc_pending") == q(3)


# --- scrap -------------------------------------------------------------------------


def test_scrap_removes_stock_of_the_given_status():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1", status="qc_pending")
    apply_ok(engine, mk("quality", item="RAW-A", lot="L1", qty=4, from_status="qc_pending", to_status="rejected"),
             mk("scrap", item="RAW-A", lot="L1", qty=3))
    assert lot_qty(engine, "RAW-A", "L1", "rejected") == q(1)
    stock = engine.sites[SITE].stock
    assert stock.moves["RAW-A"]["scrap"] == -q(3)
    assert stock.physical("RAW-A") == q(7)
    bad = apply_rejected(engine, mk("scrap", item="RAW-A", lot="L1", qty=2))
    assert "insufficient stock" in bad.reason
    assert stock.physical("RAW-A") == q(7)


# --- negative stock ------------------------------------------------------------------


def test_negative_stock_is_refused_by_default():
    engine = new_engine()
    receive(engine, "RAW-A", 5, "L1")
    bad = apply_rejected(engine, mk("issue", item="RAW-A", qty=8))
    assert "insufficient available stock" in bad.reason
    assert lot_qty(engine, "RAW-A", "L1") == q(5)
    assert not rejected(engine.finish())


def test_negative_stock_allowed_by_setting():
    engine = new_engine(allow_negative_stock=True)
    receive(engine, "RAW-A", 5, "L1")
    receive(engine, "RAW-A", 2, "L2")
    apply_ok(engine, mk("issue", item="RAW-A", qty=10))
    stock = engine.sites[SITE].stock
    assert stock.physical("RAW-A") == -q(3)
    assert sum(stock.qty[k] for k in stock.qty if k[0] == "RAW-A") == -q(3)
    assert stock.moves["RAW-A"]["issue"] == -q(10)
    apply_ok(engine, mk("scrap", item="RAW-A", lot="L2", qty=1, status="available"))
    assert stock.physical("RAW-A") == -q(4)
