"""Transfers between sites: shipped at the source, in transit at the destination, received."""

from __future__ import annotations

import datetime as dt

import msgspec

from core.reports import report
from helpers import apply_ok, apply_rejected, lot_qty, mk, new_engine, q, receive, rejected, release
from schemas import events as ev


def _ship(transfer_id: str = "T-1", qty: float = 4, lot: str = "L1", site: str = "S1", to_site: str = "S2"):
    return mk("transfer_shipped", site=site, transfer_id=transfer_id, to_site=to_site, item="RAW-A",
              qty=qty, lot=lot)


def _receive(transfer_id: str = "T-1", qty: float = 4, lot: str = "L1", site: str = "S2"):
    return mk("transfer_received", site=site, transfer_id=transfer_id, item="RAW-A", qty=qty, lot=lot)


def test_shipment_leaves_source_and_is_in_transit_at_destination():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    apply_ok(engine, _ship())
    source, dest = engine.sites["S1"], engine.sites["S2"]
    assert lot_qty(engine, "RAW-A", "L1") == q(6)
    assert source.stock.moves[("RAW-A", "transfer_out")] == -q(4)
    assert source.outbound["T-1"].to_site == "S2"
    transit = dest.inbound["T-1"]
    assert (transit.from_site, transit.item, transit.qty, transit.lot) == ("S1", "RAW-A", q(4), "L1")
    assert transit.open_qty == q(4)
    assert dest.stock.physical("RAW-A") == 0
    rows = [r for r in report(engine, "availability") if r["site"] == "S2" and r["item"] == "RAW-A"]
    assert rows and rows[0]["on_order"] == 4


def test_engine_routes_an_in_transit_event_to_the_destination():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    assert "S2" not in engine.sites
    shipped = _ship()
    routed = engine.sites["S1"].handle(shipped)   # what the handler asks the engine to route
    assert len(routed) == 1 and isinstance(routed[0], ev.TransferInTransit)
    assert routed[0].site == "S2" and routed[0].from_site == "S1" and routed[0].qty == 4
    apply_ok(engine, _ship(transfer_id="T-2", qty=1))   # through the engine: S2 appears with it
    assert "T-2" in engine.sites["S2"].inbound
    assert engine.sites["S2"].clock is not None


def test_receipt_of_a_transfer_moves_stock_and_clears_in_transit():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    apply_ok(engine, _ship(), _receive())
    dest = engine.sites["S2"]
    assert lot_qty(engine, "RAW-A", "L1", site="S2") == q(4)
    assert dest.stock.moves[("RAW-A", "transfer_in")] == q(4)
    assert dest.inbound["T-1"].done and dest.inbound["T-1"].open_qty == 0
    assert dest.inbound["T-1"].received == q(4)
    total = sum(engine.sites[s].stock.physical("RAW-A") for s in ("S1", "S2"))
    assert total == q(10)
    row = next(r for r in report(engine, "orders") if r["id"] == "T-1")
    assert row["status"] == "received" and row["open_qty"] == 0


def test_transfer_received_twice_is_rejected():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    apply_ok(engine, _ship(), _receive())
    bad = apply_rejected(engine, _receive())
    assert "already received" in bad.reason and "T-1" in bad.reason
    assert lot_qty(engine, "RAW-A", "L1", site="S2") == q(4)


def test_transfer_received_before_shipment_waits_for_it():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    early = _receive()
    assert not rejected(engine.apply([early]))
    assert engine.sites["S2"].stock.physical("RAW-A") == 0
    apply_ok(engine, _ship())
    assert lot_qty(engine, "RAW-A", "L1", site="S2") == q(4)
    assert not rejected(engine.finish())


def test_a_receipt_waits_for_its_shipment_however_far_its_own_site_runs_ahead():
    """The shipping site may be read days of event time behind (a backlog on another partition)."""
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    assert not rejected(engine.apply([_receive()]))
    later = mk("receipt", site="S2", item="RAW-A", qty=1, lot="L9")
    assert not rejected(engine.apply([msgspec.structs.replace(later, ts=later.ts + dt.timedelta(days=5))]))
    assert engine.sites["S2"].stock.physical("RAW-A") == q(1)   # S2's clock ran five days ahead; T-1 still waits
    apply_ok(engine, _ship())                                  # the shipment, read late
    assert lot_qty(engine, "RAW-A", "L1", site="S2") == q(4)
    assert not rejected(engine.finish())


def test_a_receipt_whose_shipment_never_comes_is_rejected_at_the_end():
    engine = new_engine()
    assert not rejected(engine.apply([_receive(transfer_id="T-9")]))
    bad = rejected(engine.finish())
    assert len(bad) == 1 and "unknown transfer 'T-9'" in bad[0].reason


def test_transfer_to_the_same_site_is_rejected():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    bad = apply_rejected(engine, _ship(to_site="S1"))
    assert "same site" in bad.reason
    assert lot_qty(engine, "RAW-A", "L1") == q(10)


def test_shipment_cannot_exceed_the_lot_or_take_reserved_stock():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    bad = apply_rejected(engine, _ship(qty=11))
    assert "insufficient" in bad.reason
    release(engine, "MO-1", "SUB", 2)   # reserves 2 x 3 x 1.1 / 0.9 = 7.333334 RAW-A
    bad = apply_rejected(engine, _ship(transfer_id="T-2", qty=3))
    assert "insufficient available stock" in bad.reason
    assert lot_qty(engine, "RAW-A", "L1") == q(10)
    assert "S2" not in engine.sites or not engine.sites["S2"].inbound


def test_shipment_id_already_in_transit_at_destination_loses_no_stock():
    """Two sources ship the same transfer id to one destination: the source cannot know, so
    the destination keeps both shipments in transit and nothing vanishes between sites."""
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1", site="S1")
    receive(engine, "RAW-A", 10, "L9", site="S3")
    apply_ok(engine, _ship(site="S1", to_site="S2"))
    outputs = engine.apply([mk("transfer_shipped", site="S3", transfer_id="T-1", to_site="S2", item="RAW-A",
                               qty=5, lot="L9")])
    assert not rejected(outputs), "the destination must not refuse stock that already left its source"
    in_transit = sum(t.open_qty for t in engine.sites["S2"].inbound.values())
    on_hand = sum(site.stock.physical("RAW-A") for site in engine.sites.values())
    assert on_hand + in_transit == q(20), "stock vanished between sites"


def test_partial_receipts_leave_the_rest_in_transit_and_over_receipt_is_refused():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1", site="S1")
    apply_ok(engine, _ship(site="S1", to_site="S2"))
    shipped = engine.sites["S2"].inbound["T-1"].qty
    apply_ok(engine, mk("transfer_received", site="S2", transfer_id="T-1", item="RAW-A", qty=1, lot="L1"))
    assert engine.sites["S2"].inbound["T-1"].open_qty == shipped - q(1)
    wrong_lot = rejected(engine.apply([mk("transfer_received", site="S2", transfer_id="T-1", item="RAW-A",
                                          qty=1, lot="OTHER")]))
    assert "does not match shipped lot" in wrong_lot[0].reason
    too_much = rejected(engine.apply([mk("transfer_received", site="S2", transfer_id="T-1", item="RAW-A",
                                         qty=shipped / 1e6, lot="L1")]))
    assert "receives" in too_much[0].reason
    assert engine.sites["S2"].stock.physical("RAW-A") == q(1)
