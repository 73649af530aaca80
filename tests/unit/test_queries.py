"""Query API answers (core.queries) over an engine driven by events: the numbers, the shapes, the 404s."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core import queries
from core.engine import Engine
from core.reports import report
from helpers import DUE, SITE, apply_ok, item, mk, new_engine, receive, release
from streams.routing import owner_url, site_partition


def _stocked() -> Engine:
    """RAW-A: 100 @ 2.00 (L1) and 50 @ 3.00 (L2, qc_pending); 10 of L1 blocked; MO-1 for 10 SUB reserves
    3 x 1.1 / 0.9 per unit = 36.666667 and draws 6; PO-1 brings 200 on the 25th."""
    engine = new_engine()
    receive(engine, "RAW-A", 100, "L1", unit_cost=2.0)
    receive(engine, "RAW-A", 50, "L2", unit_cost=3.0, status="qc_pending")
    apply_ok(engine, mk("quality", item="RAW-A", lot="L1", qty=10, from_status="available", to_status="blocked"),
             mk("purchase_order", po_id="PO-1", item="RAW-A", qty=200, due=dt.date(2026, 3, 25), unit_price=2.5,
                supplier="Acme"))
    release(engine, "MO-1", "SUB", 10, status="released")
    apply_ok(engine, mk("material_issue", order_id="MO-1", item="RAW-A", qty=6))
    return engine


def test_item_status_counts_stock_by_status_reservations_supply_wip_and_costs() -> None:
    view = queries.item_status(_stocked(), SITE, "RAW-A")
    assert view["physical"] == 144                                   # 100 + 50 - 6 issued
    assert view["by_status"] == {"available": 84, "qc_pending": 50, "blocked": 10, "rejected": 0, "rework": 0}
    assert view["reserved"] == Decimal("30.666667")                  # 36.666667 reserved, 6 of it issued
    assert view["available"] == Decimal("53.333333")                 # 84 unrestricted - 30.666667
    assert view["on_order"] == {"total": 200, "purchase_order": 200, "production_order": 0, "transfer": 0}
    assert view["receipts"] == [{"date": "2026-03-25", "qty": 200, "kind": "purchase_order", "ref": "PO-1"}]
    assert view["wip"] == 6
    assert view["costs"]["moving_average"] == Decimal("2.333333")   # (100 x 2 + 50 x 3) / 150
    assert view["costs"]["standard"] == Decimal("2.333333")         # a buy item without standard_cost rolls its average
    assert view["costs"]["stock_value"] == Decimal("336")             # 144 x 2.333333...
    assert view["lots"] == {"available": [{"lot": "L1", "qty": 84}], "qc_pending": [{"lot": "L2", "qty": 50}],
                            "blocked": [{"lot": "L1", "qty": 10}]}
    assert view["today"] == "2026-03-02"


def test_item_status_of_a_made_item_shows_its_order_on_order_and_the_rolled_standard() -> None:
    engine = _stocked()
    view = queries.item_status(engine, SITE, "SUB")
    assert view["physical"] == 0 and view["reserved"] == 0
    assert view["on_order"]["production_order"] == 10
    assert view["receipts"] == [{"date": DUE.isoformat(), "qty": 10, "kind": "production_order", "ref": "MO-1"}]
    costs = {r["item"]: r for r in report(engine, "costs")}
    assert view["costs"]["standard"] == costs["SUB"]["standard_cost"]
    assert view["costs"]["standard"] == Decimal("8.555556")          # 3 x 1.1 x 2.333333 / 0.9
    assert view["costs"]["moving_average"] is None


def test_item_status_unknown_site_or_item_is_not_found() -> None:
    engine = _stocked()
    with pytest.raises(queries.NotFound, match="unknown site 'S9'"):
        queries.item_status(engine, "S9", "RAW-A")
    with pytest.raises(queries.NotFound, match="unknown item 'NOPE'"):
        queries.item_status(engine, SITE, "NOPE")
    assert queries.item_status(engine, SITE, "RAW-C")["physical"] == 0   # known from master data, no stock


def test_shortages_list_what_only_a_past_due_order_could_cover() -> None:
    engine = new_engine([item("X", lead_time_days=10)])
    receive(engine, "X", 5, "L1")
    apply_ok(engine, mk("demand", demand_id="SO-1", item="X", qty=12, due=dt.date(2026, 3, 4)),
             mk("demand", demand_id="SO-2", item="X", qty=30, due=dt.date(2026, 4, 30)))
    view = queries.shortages(engine, SITE)
    assert view["today"] == "2026-03-02"
    assert view["shortages"] == [{
        "shortage_id": "S1|X|2026-03-04", "item": "X", "date": "2026-03-04", "qty": 7,
        "hits": [{"kind": "sales_order", "ref": "SO-1", "qty": 12, "due": "2026-03-04"}]}]
    assert [(r["item"], r["date"], r["qty"]) for r in report(engine, "shortages")] == [("X", "2026-03-04", 7)]
    receive(engine, "X", 7, "L2")
    assert queries.shortages(engine, SITE)["shortages"] == []
    with pytest.raises(queries.NotFound):
        queries.shortages(engine, "S9")


def test_mrp_record_is_the_planners_record_of_the_site() -> None:
    engine = new_engine([item("X", lead_time_days=2, safety_stock=3)])
    receive(engine, "X", 5, "L1")
    apply_ok(engine, mk("demand", demand_id="SO-1", item="X", qty=12))
    record = queries.mrp_record(engine, SITE, "X")
    assert (record["site"], record["item"], record["today"]) == (SITE, "X", "2026-03-02")
    assert (record["on_hand"], record["safety_stock"]) == (5, 3)
    assert [(g["date"], g["qty"], g["ref"]) for g in record["gross_requirements"]] == [(DUE.isoformat(), 12, "SO-1")]
    assert record["scheduled_receipts"] == []
    # 5 on hand - 12 needed + 10 planned = 3, the safety stock
    assert record["planned_orders"] == [{"planned_id": f"X@{DUE.isoformat()}", "qty": 10, "release": "2026-03-18",
                                         "due": DUE.isoformat(), "past_due": False}]
    assert record["projected"][-1] == {"date": DUE.isoformat(), "gross": 12, "receipts": 0, "planned": 10,
                                       "balance": 3}
    with pytest.raises(queries.NotFound):
        queries.mrp_record(engine, SITE, "NOPE")


def test_mrp_record_without_planning_is_unavailable() -> None:
    engine = new_engine(kernel="off")
    receive(engine, "RAW-A", 1, "L1")
    with pytest.raises(queries.Unavailable, match="planning is off"):
        queries.mrp_record(engine, SITE, "RAW-A")


# --- orders --------------------------------------------------------------------------------


def _produced() -> Engine:
    """RAW-A L1 -> MO-1 (SUB) -> lot S-1 -> MO-2 (FG) -> lot F-1; RAW-B, RAW-C also go into MO-2."""
    engine = new_engine()
    for name, lot in (("RAW-A", "L1"), ("RAW-B", "B1"), ("RAW-C", "C1")):
        receive(engine, name, 100, lot, unit_cost=1.0)
    release(engine, "MO-1", "SUB", 10, status="released")
    apply_ok(engine, mk("material_issue", order_id="MO-1", item="RAW-A", qty=33, lot="L1"),
             mk("operation_report", order_id="MO-1", operation="mix", minutes=45),
             mk("output", order_id="MO-1", good_qty=9, scrap_qty=1, lot="S-1", status="available"))
    release(engine, "MO-2", "FG", 4, status="released")
    apply_ok(engine, mk("material_issue", order_id="MO-2", item="SUB", qty=8, lot="S-1"),
             mk("material_issue", order_id="MO-2", item="RAW-B", qty=4.2),
             mk("material_issue", order_id="MO-2", item="RAW-C", qty=8),
             mk("output", order_id="MO-2", good_qty=4, lot="F-1"))
    return engine


def test_production_order_shows_quantities_reservations_issues_and_lots() -> None:
    view = queries.order(_produced(), "MO-1")
    assert (view["site"], view["kind"], view["item"], view["status"]) == (SITE, "production", "SUB", "released")
    assert (view["qty"], view["good"], view["scrap"], view["open_qty"]) == (10, 9, 1, 1)
    assert view["required"] == {"RAW-A": Decimal("36.666667")}
    assert view["reserved"] == {"RAW-A": Decimal("3.666667")}        # required - issued
    assert view["issued"] == {"RAW-A": 33}
    assert view["issued_value"] == {"RAW-A": 33}                      # at the moving average of 1.00
    assert view["minutes"] == {"mix": 45.0}
    assert view["inputs"] == [{"item": "RAW-A", "lot": "L1", "qty": 33}]
    assert view["outputs"] == [{"item": "SUB", "lot": "S-1", "qty": 9}]
    assert (view["start"], view["due"]) == ("2026-03-19", DUE.isoformat())   # due - 1 day lead time


def test_purchase_orders_and_demands_show_progress() -> None:
    engine = new_engine()
    apply_ok(engine, mk("purchase_order", po_id="PO-1", item="RAW-A", qty=100, unit_price=1.25, supplier="Acme"),
             mk("demand", demand_id="SO-1", item="RAW-A", qty=30, customer="Zed"))
    receive(engine, "RAW-A", 40, "L1", po_id="PO-1")
    apply_ok(engine, mk("issue", item="RAW-A", qty=30, demand_id="SO-1"))
    po = queries.order(engine, "PO-1")
    assert (po["kind"], po["qty"], po["received"], po["open_qty"], po["unit_price"], po["supplier"]) == (
        "purchase", 100, 40, 60, Decimal("1.25"), "Acme")
    so = queries.order(engine, "SO-1")
    assert (so["kind"], so["demand_kind"], so["delivered"], so["open_qty"], so["completed"]) == (
        "demand", "sales_order", 30, 0, "2026-03-02")


def test_an_id_shared_by_two_sites_is_ambiguous_until_narrowed() -> None:
    engine = new_engine()
    apply_ok(engine, mk("purchase_order", po_id="X-1", item="RAW-A", qty=5),
             mk("purchase_order", site="S2", po_id="X-1", item="RAW-B", qty=7),
             mk("demand", site="S2", demand_id="X-1", item="RAW-B", qty=1))
    with pytest.raises(queries.Ambiguous) as info:
        queries.order(engine, "X-1")
    assert info.value.matches == [{"site": "S1", "kind": "purchase"}, {"site": "S2", "kind": "purchase"},
                                  {"site": "S2", "kind": "demand"}]
    assert queries.order(engine, "X-1", site="S1")["qty"] == 5
    assert queries.order(engine, "X-1", site="S2", kind="purchase")["qty"] == 7
    with pytest.raises(queries.NotFound):
        queries.order(engine, "X-1", site="S1", kind="demand")
    with pytest.raises(queries.NotFound, match="unknown site"):
        queries.order(engine, "X-1", site="S9")
    with pytest.raises(queries.NotFound, match="unknown order 'nope'"):
        queries.order(engine, "nope")


# --- lot genealogy -----------------------------------------------------------------------------


def test_lot_trace_forward_follows_consumption_into_finished_lots() -> None:
    [trace] = queries.lot_traces(_produced(), "L1")
    assert (trace["site"], trace["item"], trace["stock"]) == (SITE, "RAW-A", {"available": 67})
    assert trace["produced_by"] == []
    assert trace["consumed_by"] == [{
        "order": "MO-1", "item": "SUB", "status": "released", "qty": 33,
        "outputs": [{"item": "SUB", "lot": "S-1", "qty": 9, "consumed_by": [{
            "order": "MO-2", "item": "FG", "status": "released", "qty": 8,
            "outputs": [{"item": "FG", "lot": "F-1", "qty": 4, "consumed_by": []}]}]}]}]


def test_lot_trace_backward_finds_every_input_lot() -> None:
    [trace] = queries.lot_traces(_produced(), "F-1", item="FG")
    assert trace["consumed_by"] == [] and trace["stock"] == {"qc_pending": 4}
    [made] = trace["produced_by"]
    assert (made["order"], made["qty"]) == ("MO-2", 4)
    inputs = {(i["item"], i["lot"]): i for i in made["inputs"]}
    assert {k: i["qty"] for k, i in inputs.items()} == {("SUB", "S-1"): 8, ("RAW-B", "B1"): Decimal("4.2"),
                                                       ("RAW-C", "C1"): 8}
    [sub] = inputs[("SUB", "S-1")]["produced_by"]
    assert (sub["order"], sub["inputs"]) == ("MO-1", [{"item": "RAW-A", "lot": "L1", "qty": 33, "produced_by": []}])


def test_lot_trace_marks_a_rework_loop_instead_of_recursing() -> None:
    engine = _produced()
    release(engine, "RW-1", "SUB", 1, status="released")
    apply_ok(engine, mk("material_issue", order_id="RW-1", item="SUB", qty=1, lot="S-1"),
             mk("output", order_id="RW-1", good_qty=1, lot="S-1", status="available"))
    [trace] = queries.lot_traces(engine, "S-1")
    rework = next(n for n in trace["consumed_by"] if n["order"] == "RW-1")
    assert rework["outputs"] == [{"item": "SUB", "lot": "S-1", "qty": 1, "cycle": True}]


def test_lot_trace_shows_transfers_and_unknown_lots_are_not_found() -> None:
    engine = new_engine()
    receive(engine, "RAW-A", 10, "T1")
    apply_ok(engine, mk("transfer_shipped", transfer_id="TR-1", to_site="S2", item="RAW-A", qty=4, lot="T1"))
    apply_ok(engine, mk("transfer_received", site="S2", transfer_id="TR-1", item="RAW-A", qty=3, lot="T1"))
    traces = {t["site"]: t for t in queries.lot_traces(engine, "T1")}
    assert traces["S1"]["transfers"] == [{"transfer_id": "TR-1", "direction": "out", "site": "S2", "qty": 4,
                                          "arrival": DUE.isoformat()}]
    assert traces["S2"]["transfers"] == [{"transfer_id": "TR-1", "direction": "in", "site": "S1", "qty": 4,
                                          "received": 3, "arrival": DUE.isoformat(), "announced": True}]
    assert (traces["S1"]["stock"], traces["S2"]["stock"]) == ({"available": 6}, {"available": 3})
    assert [t["site"] for t in queries.lot_traces(engine, "T1", sites=["S2"])] == ["S2"]
    with pytest.raises(queries.NotFound):
        queries.lot_traces(engine, "T1", item="RAW-B")
    with pytest.raises(queries.NotFound):
        queries.lot_traces(engine, "nope")


# --- routing: which worker holds a site ------------------------------------------------------


def test_site_partition_is_the_java_clients_murmur2() -> None:
    # Kafka's own test vectors for Utils.murmur2: "21" -> -973932308, "foobar" -> -790332482
    most = (1 << 31) - 1   # the largest partition count librdkafka's murmur2 takes
    assert site_partition("21", most) == (-973932308 & 0x7FFFFFFF) % most
    assert site_partition("foobar", most) == (-790332482 & 0x7FFFFFFF) % most
    assert [site_partition(s, 4) for s in ("DK1", "US1")] == [0, 2]


def test_owner_is_the_worker_assigned_the_sites_partition() -> None:
    distribution = {"http://127.0.0.1:1": {"in": [0, 1], "other": [2, 3]}, "http://127.0.0.1:2": {"in": [2, 3]}}
    assert owner_url("DK1", "in", distribution) == "http://127.0.0.1:1"      # partition 0 of 4
    assert owner_url("US1", "in", distribution) == "http://127.0.0.1:2"      # partition 2 of 4
    assert owner_url("US1", "in", {"http://127.0.0.1:1": {"in": [0, 1]}}, partitions=4) is None
    assert owner_url("US1", "in", {}) is None
