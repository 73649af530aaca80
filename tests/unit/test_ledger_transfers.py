"""Transfers between sites: shipped at the source, in transit at the destination, received."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

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
    assert source.stock.moves["RAW-A"]["transfer_out"] == -q(4)
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
    assert dest.stock.moves["RAW-A"]["transfer_in"] == q(4)
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


def test_a_receipt_before_its_shipment_is_booked_at_once_and_the_shipment_completes_it():
    """The service reads the shipping site's partition behind this one: the goods are here, so the
    receipt books them, and its lot can be issued before the shipment is announced."""
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    apply_ok(engine, _receive(), mk("issue", site="S2", item="RAW-A", qty=3, lot="L1"))
    dest = engine.sites["S2"]
    assert lot_qty(engine, "RAW-A", "L1", site="S2") == q(1)
    transfer = dest.inbound["T-1"]
    assert not transfer.announced and transfer.open_qty == 0 and dest.unannounced == 1
    assert [r["status"] for r in report(engine, "orders") if r["id"] == "T-1"] == ["received_unannounced"]
    apply_ok(engine, _ship())
    assert transfer.announced and transfer.done and transfer.from_site == "S1" and transfer.qty == q(4)
    assert dest.unannounced == 0 and not dest.scheduled_receipts("RAW-A")
    total = sum(engine.sites[s].stock.physical("RAW-A") for s in ("S1", "S2"))
    assert total == q(10 - 3)
    assert not rejected(engine.finish())


def test_a_partial_receipt_before_its_shipment_leaves_the_rest_in_transit():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    apply_ok(engine, _receive(qty=1))
    assert not engine.sites["S2"].scheduled_receipts("RAW-A")     # no quantity known yet
    apply_ok(engine, _ship())
    transfer = engine.sites["S2"].inbound["T-1"]
    assert transfer.open_qty == q(3) and not transfer.done
    assert [qty for _day, qty, _kind, _ref in engine.sites["S2"].scheduled_receipts("RAW-A")] == [q(3)]
    apply_ok(engine, _receive(qty=3))
    assert transfer.done and lot_qty(engine, "RAW-A", "L1", site="S2") == q(4)
    assert rejected(engine.apply([_receive(qty=1)]))[0].reason == "transfer 'T-1' was already received"


def test_a_receipt_before_its_shipment_ends_at_the_average_of_one_in_order():
    """Valued at the site's average until the shipment's cost comes, then revalued: with nothing
    moved in between, the same average as the receipt after the shipment."""
    averages = []
    for early in (False, True):
        engine = new_engine()
        receive(engine, "RAW-A", 10, "L1", unit_cost=3.0)
        receive(engine, "RAW-A", 6, "L2", site="S2", unit_cost=1.0)
        apply_ok(engine, *([_receive(), _ship()] if early else [_ship(), _receive()]))
        averages.append(engine.sites["S2"].avg_cost["RAW-A"])
    assert averages[1] == pytest.approx(averages[0]) == pytest.approx((6 * 1.0 + 4 * 3.0) / 10)


def test_the_shipments_cost_revalues_only_what_is_still_on_hand():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1", unit_cost=3.0)
    receive(engine, "RAW-A", 6, "L2", site="S2", unit_cost=1.0)
    apply_ok(engine, _receive(), mk("issue", site="S2", item="RAW-A", qty=8))
    assert engine.sites["S2"].avg_cost["RAW-A"] == pytest.approx(1.0)   # valued at the average meanwhile
    apply_ok(engine, _ship())
    # 2 units on hand, all of them revalued from 1.0 to 3.0: the 8 issued went out at 1.0
    assert engine.sites["S2"].avg_cost["RAW-A"] == pytest.approx(3.0)


def test_an_item_without_an_average_takes_the_shipments_cost():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1", unit_cost=3.0)
    apply_ok(engine, _receive())
    assert "RAW-A" not in engine.sites["S2"].avg_cost
    apply_ok(engine, _ship())
    assert engine.sites["S2"].avg_cost["RAW-A"] == pytest.approx(3.0)


def test_more_received_before_the_shipment_than_shipped_stays_booked():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    apply_ok(engine, _receive(qty=5), _ship(qty=4))
    transfer = engine.sites["S2"].inbound["T-1"]
    assert transfer.done and transfer.received == q(5) and transfer.qty == q(4) and transfer.open_qty == 0
    assert lot_qty(engine, "RAW-A", "L1", site="S2") == q(5)


def test_a_shipment_of_another_lot_is_not_taken_for_an_early_receipt():
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    receive(engine, "RAW-A", 10, "L2")
    apply_ok(engine, _receive(lot="L2"), _ship(lot="L1"))
    dest = engine.sites["S2"]
    assert dest.unannounced == 1 and {t.key: t.announced for t in dest.inbound.values()} == {
        "T-1": False, "T-1@S1": True}
    assert [qty for _day, qty, _kind, _ref in dest.scheduled_receipts("RAW-A")] == [q(4)]


def test_a_receipt_whose_shipment_never_comes_stays_booked_and_unannounced():
    engine = new_engine()
    apply_ok(engine, _receive(transfer_id="T-9"))
    assert not rejected(engine.finish())
    assert lot_qty(engine, "RAW-A", "L1", site="S2") == q(4)
    row = next(r for r in report(engine, "orders") if r["id"] == "T-9")
    assert row["status"] == "received_unannounced" and row["done"] == 4


def test_an_announcement_older_than_the_dedup_window_is_still_applied():
    """A backlog: the receiving site ran 40 days of event time ahead of the shipping site's partition."""
    engine = new_engine(local_transfers=False)
    receipt = _receive()
    apply_ok(engine, receipt)
    later = mk("receipt", site="S2", item="RAW-A", qty=1, lot="L9")
    apply_ok(engine, msgspec.structs.replace(later, ts=later.ts + dt.timedelta(days=40)))
    announcement = mk("transfer_in_transit", site="S2", transfer_id="T-1", from_site="S1", item="RAW-A", qty=4,
                      lot="L1", unit_cost=2.5)
    apply_ok(engine, msgspec.structs.replace(announcement, ts=receipt.ts))
    transfer = engine.sites["S2"].inbound["T-1"]
    assert transfer.announced and transfer.done
    again = rejected(engine.apply([msgspec.structs.replace(announcement, ts=receipt.ts, event_id="other")]))
    assert len(again) == 1 and "already in transit" in again[0].reason


def test_an_announcement_dates_a_new_site_but_never_moves_a_running_clock():
    """It carries the shipping site's time: moving the receiving site's clock (and sampling a day) with it
    would make that site's days depend on the order the service reads the two sites in."""
    engine = new_engine()
    receive(engine, "RAW-A", 10, "L1")
    receive(engine, "RAW-B", 1, "B1", site="S2")
    dest = engine.sites["S2"]
    clock, days = dest.clock, dest.value_days
    ship = _ship()
    apply_ok(engine, msgspec.structs.replace(ship, ts=ship.ts + dt.timedelta(days=2)))
    assert "T-1" in dest.inbound and (dest.clock, dest.value_days) == (clock, days)
    apply_ok(engine, _ship(transfer_id="T-2", qty=1, to_site="S3"))
    assert engine.sites["S3"].clock is not None


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
