"""Early events: an event that refers to something not seen yet waits (is parked) for it."""

from __future__ import annotations

import datetime as dt

from helpers import SITE, advance, apply_ok, item, mk, new_engine, q, receive, rejected


def _issue(order_id: str = "MO-1", qty: float = 2, **fields):
    return mk("material_issue", order_id=order_id, item="RAW-B", qty=qty, **fields)


def _order(order_id: str = "MO-1", **fields):
    return mk("production_order", order_id=order_id, item="FG", qty=10, **fields)


def test_material_issue_before_its_order_in_the_same_batch_applies():
    engine = new_engine()
    receive(engine, "RAW-B", 20, "B1")
    outputs = engine.apply([_issue(), _order()])
    assert not rejected(outputs)
    order = engine.sites[SITE].production["MO-1"]
    assert order.issued == {"RAW-B": q(2)}
    assert engine.sites[SITE].stock.reserved["RAW-B"] == q(10.5 - 2)
    assert engine.sites[SITE].stock.physical("RAW-B") == q(18)
    assert not rejected(engine.finish())


def test_material_issue_before_its_order_across_batches_applies():
    engine = new_engine()
    receive(engine, "RAW-B", 20, "B1")
    assert not rejected(engine.apply([_issue()]))
    assert engine.sites[SITE].stock.physical("RAW-B") == q(20)
    assert not rejected(engine.apply([mk("receipt", item="RAW-A", qty=1, lot="A1")]))
    assert not rejected(engine.apply([_order()]))
    assert engine.sites[SITE].production["MO-1"].issued == {"RAW-B": q(2)}
    assert engine.sites[SITE].stock.physical("RAW-B") == q(18)
    assert not rejected(engine.finish())


def test_material_issue_that_never_gets_its_order_is_rejected_at_finish():
    engine = new_engine()
    receive(engine, "RAW-B", 20, "B1")
    early = _issue("MO-404")
    assert not rejected(engine.apply([early]))
    bad = rejected(engine.finish())
    assert len(bad) == 1
    assert bad[0].event == early and "unknown production order 'MO-404'" in bad[0].reason
    assert engine.sites[SITE].stock.physical("RAW-B") == q(20)
    assert not rejected(engine.finish())            # rejected once, not again


def test_event_rejected_at_finish_may_be_sent_again_with_the_same_id():
    engine = new_engine()
    receive(engine, "RAW-B", 20, "B1")
    early = _issue()
    engine.apply([early])
    assert len(rejected(engine.finish())) == 1
    apply_ok(engine, _order(), early)
    assert engine.sites[SITE].production["MO-1"].issued == {"RAW-B": q(2)}


def test_event_waiting_longer_than_the_park_window_is_rejected_by_the_site_clock():
    engine = new_engine()
    receive(engine, "RAW-B", 20, "B1")
    early = _issue()
    assert not rejected(engine.apply([early]))
    advance(hours=23)
    assert not rejected(engine.apply([mk("receipt", item="RAW-A", qty=1, lot="A1")]))   # still within 24 h
    advance(hours=2)
    outputs = engine.apply([mk("receipt", item="RAW-A", qty=1, lot="A2")])
    bad = rejected(outputs)
    assert len(bad) == 1 and bad[0].event == early
    assert "unknown production order 'MO-1'" in bad[0].reason and "waited 24 h" in bad[0].reason
    apply_ok(engine, _order())                       # too late: the issue is gone
    assert engine.sites[SITE].production["MO-1"].issued == {}
    assert engine.sites[SITE].stock.physical("RAW-B") == q(20)
    assert not rejected(engine.finish())


def test_park_window_uses_the_clock_of_the_waiting_events_site_only():
    engine = new_engine()
    receive(engine, "RAW-B", 20, "B1")
    early = _issue()
    engine.apply([early])
    advance(hours=48)
    assert not rejected(engine.apply([mk("receipt", site="S2", item="RAW-A", qty=1, lot="A1")]))
    apply_ok(engine, _order(ts=early.ts + dt.timedelta(hours=1)))   # S1's clock is still within the window
    assert engine.sites[SITE].production["MO-1"].issued == {"RAW-B": q(2)}


def test_rejected_event_does_not_move_the_site_clock():
    """A rejected event leaves no trace: its (here mistyped, far-future) time must not expire waiting events."""
    engine = new_engine()
    receive(engine, "RAW-B", 20, "B1")
    early = _issue()
    engine.apply([early])
    clock = engine.sites[SITE].clock
    typo = mk("quality", item="RAW-B", lot="B1", qty=1, from_status="available", to_status="rework",
              ts=early.ts + dt.timedelta(days=365))
    bad = rejected(engine.apply([typo]))
    assert [b.event for b in bad] == [typo]
    assert engine.sites[SITE].clock == clock
    apply_ok(engine, _order())
    assert engine.sites[SITE].production["MO-1"].issued == {"RAW-B": q(2)}


def test_park_window_is_a_setting():
    engine = new_engine(park_window=dt.timedelta(hours=1))
    early = _issue()
    engine.apply([early])
    advance(hours=2)
    bad = rejected(engine.apply([mk("receipt", item="RAW-A", qty=1, lot="A1")]))
    assert len(bad) == 1 and bad[0].event == early and "waited 1 h" in bad[0].reason


def test_receipt_before_its_purchase_order_waits():
    engine = new_engine()
    early = mk("receipt", item="RAW-A", qty=5, lot="A1", po_id="PO-1")
    assert not rejected(engine.apply([early]))
    assert engine.sites[SITE].stock.physical("RAW-A") == 0
    apply_ok(engine, mk("purchase_order", po_id="PO-1", item="RAW-A", qty=8))
    assert engine.sites[SITE].purchase["PO-1"].received == q(5)
    assert engine.sites[SITE].stock.physical("RAW-A") == q(5)


def test_issue_before_its_demand_waits():
    engine = new_engine()
    receive(engine, "FG", 5, "F1")
    assert not rejected(engine.apply([mk("issue", item="FG", qty=2, demand_id="SO-1")]))
    apply_ok(engine, mk("demand", demand_id="SO-1", item="FG", qty=4))
    assert engine.sites[SITE].demands["SO-1"].delivered == q(2)
    assert engine.sites[SITE].stock.physical("FG") == q(3)


def test_receipt_before_its_item_waits_for_master_data():
    engine = new_engine()
    assert not rejected(engine.apply([mk("receipt", item="NEW", qty=5, lot="N1")]))
    assert engine.sites[SITE].stock.physical("NEW") == 0
    apply_ok(engine, item("NEW"))
    assert engine.sites[SITE].stock.physical("NEW") == q(5)


def test_waiting_event_whose_order_arrives_planned_is_rejected():
    engine = new_engine()
    receive(engine, "RAW-B", 20, "B1")
    early = _issue()
    engine.apply([early])
    bad = rejected(engine.apply([_order(status="planned")]))
    assert len(bad) == 1 and bad[0].event == early and "planned" in bad[0].reason
    assert engine.sites[SITE].stock.physical("RAW-B") == q(20)


# --- lots not seen yet -------------------------------------------------------------------------------


def test_an_issue_of_a_lot_not_received_yet_waits_for_its_receipt():
    """The service's merge orders a site's topics only within its grace: an issue may still overtake the
    receipt that brings its lot; it waits for the lot instead of being refused for want of stock."""
    engine = new_engine()
    apply_ok(engine, _order(status="released"))
    assert not rejected(engine.apply([_issue(lot="B7")]))
    assert engine.sites[SITE].production["MO-1"].issued == {}
    assert not rejected(engine.apply([mk("receipt", item="RAW-B", qty=5, lot="B7")]))
    assert engine.sites[SITE].production["MO-1"].issued == {"RAW-B": q(2)}
    assert engine.sites[SITE].stock.lot_qty("RAW-B", "B7", "available") == q(3)
    assert not rejected(engine.finish())


def test_a_move_of_a_lot_an_order_has_not_reported_yet_waits_for_the_output():
    engine = new_engine()
    receive(engine, "RAW-B", 20, "B1")
    apply_ok(engine, _order(status="released"))
    move = mk("quality", item="FG", lot="FG-1", qty=2, from_status="qc_pending", to_status="available")
    assert not rejected(engine.apply([move]))
    apply_ok(engine, mk("output", order_id="MO-1", good_qty=4, lot="FG-1"))
    stock = engine.sites[SITE].stock
    assert (stock.lot_qty("FG", "FG-1", "qc_pending"), stock.lot_qty("FG", "FG-1", "available")) == (q(2), q(2))


def test_an_event_of_a_lot_that_never_comes_is_refused_after_the_park_window():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "A1")
    assert not rejected(engine.apply([mk("scrap", item="RAW-A", qty=1, lot="GHOST", status="available")]))
    advance(hours=25)
    bad = rejected(engine.apply([mk("receipt", item="RAW-A", qty=1, lot="A2")]))
    assert [b.reason for b in bad] == ["unknown lot 'RAW-A/GHOST' (waited 24 h)"]
    assert engine.sites[SITE].stock.physical("RAW-A") == q(11)


def test_a_lot_known_but_short_is_refused_at_once():
    engine = new_engine()
    receive(engine, "RAW-A", 1, "A1")
    bad = rejected(engine.apply([mk("issue", item="RAW-A", qty=2, lot="A1")]))
    assert len(bad) == 1 and bad[0].reason.startswith("insufficient available stock")


def test_with_negative_stock_allowed_an_unknown_lot_does_not_wait():
    engine = new_engine(allow_negative_stock=True)
    apply_ok(engine, mk("issue", item="RAW-A", qty=2, lot="A9"))
    assert engine.sites[SITE].stock.lot_qty("RAW-A", "A9", "available") == -q(2)
