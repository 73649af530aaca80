"""What each output record does to the sink's tables: one row per key of the compacted topic."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors.sink_tables import SOURCES, TABLES, Change, RecordError, change_of, fold
from schemas.codecs import encode_json
from schemas.outputs import Cost, OrderCost, PlannedOrder, Shortage, ShortageHit

TS = dt.datetime(2026, 3, 18, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def planned(action: str = "upsert", qty: str = "55.020409") -> bytes:
    return encode_json(PlannedOrder(site="DK1", ts=TS, planned_id="RCV-01@2026-03-18", item="RCV-01", kind="buy",
                                    qty=Decimal(qty), release=dt.date(2026, 2, 25), due=dt.date(2026, 3, 18),
                                    action=action, past_due=action == "upsert"))


def test_a_planned_order_upsert_is_its_row_and_a_delete_removes_the_key() -> None:
    change = change_of("planned-orders", b"DK1|RCV-01@2026-03-18", planned())
    assert change == Change("planned_orders", ("DK1", "RCV-01@2026-03-18"), {
        "site": "DK1", "planned_id": "RCV-01@2026-03-18", "item": "RCV-01", "kind": "buy",
        "qty": Decimal("55.020409"), "release": dt.date(2026, 2, 25), "due": dt.date(2026, 3, 18),
        "past_due": True, "updated_ts": TS})
    assert set(change.row or {}) == set(TABLES["planned_orders"].names)
    assert change_of("planned-orders", b"DK1|RCV-01@2026-03-18", planned("delete")) == Change(
        "planned_orders", ("DK1", "RCV-01@2026-03-18"), None)


def test_an_open_shortage_is_a_row_with_its_hits_and_a_resolved_one_removes_it() -> None:
    hit = ShortageHit(ref="us1-so-1", kind="sales_order", qty=10, due=dt.date(2026, 3, 24))
    sid = "US1|HA-100|2026-03-24"

    def shortage(state: str) -> bytes:
        return encode_json(Shortage(site="US1", ts=TS, shortage_id=sid, item="HA-100", date=dt.date(2026, 3, 24),
                                    qty=2 if state == "open" else 0, state=state, hits=[hit]))

    opened = change_of("shortages", sid.encode(), shortage("open"))
    assert opened.key == (sid,) and opened.row is not None
    assert opened.row["hits"] == [hit] and opened.row["qty"] == 2
    assert set(opened.row) == set(TABLES["shortages"].names)
    assert change_of("shortages", sid.encode(), shortage("resolved")) == Change("shortages", (sid,), None)


def test_costs_and_order_costs_go_to_their_own_tables() -> None:
    cost = encode_json(Cost(site="DK1", ts=TS, item="HA-100", unit_cost=Decimal("63.874915")))
    assert change_of("costs", b"DK1|HA-100", cost).row == {
        "site": "DK1", "item": "HA-100", "unit_cost": Decimal("63.874915"), "standard_cost": None, "updated_ts": TS}
    order = encode_json(OrderCost(site="DK1", ts=TS, order_id="dk1-mo-1", item="SUB-CORE", good_qty=140,
                                  actual_cost=Decimal("2008.7"), standard_cost=Decimal("6377.571429"),
                                  material_usage_variance=Decimal("-113.871435"), material_price_variance=-5,
                                  operations_variance=Decimal("-4249.999994")))
    change = change_of("costs", b"DK1|order:dk1-mo-1", order)
    assert change.table == "order_costs" and change.key == ("DK1", "dk1-mo-1")
    assert change.row is not None and set(change.row) == set(TABLES["order_costs"].names)
    assert change.row["material_usage_variance"] == Decimal("-113.871435")


@pytest.mark.parametrize(("source", "key", "expected"), [
    ("planned-orders", b"DK1|HA-100@2026-03-18", Change("planned_orders", ("DK1", "HA-100@2026-03-18"), None)),
    ("shortages", b"DK1|MIC-01|2026-03-18", Change("shortages", ("DK1|MIC-01|2026-03-18",), None)),
    ("costs", b"DK1|HA-100", Change("costs", ("DK1", "HA-100"), None)),
    ("costs", b"DK1|order:dk1-mo-1", Change("order_costs", ("DK1", "dk1-mo-1"), None)),
])
def test_a_tombstone_removes_its_key(source: str, key: bytes, expected: Change) -> None:
    assert change_of(source, key, None) == expected


@pytest.mark.parametrize(("source", "key", "value", "reason"), [
    ("planned-orders", b"DK1|other", planned(), "key 'DK1|other' is not the record's key 'DK1|RCV-01@2026-03-18'"),
    ("costs", b"DK1|RCV-01@2026-03-18", planned(), "a PlannedOrder record does not belong on topic 'costs'"),
    ("planned-orders", b"DK1|x", b'{"type": "planned_order", "planned_id": ', "undecodable output record"),
    ("planned-orders", b"DK1|x", b'{"type": "planned_order", "planned_id": "x"}', "undecodable output record"),
    ("planned-orders", b"\xff|x", planned(), "key is not UTF-8"),
    ("planned-orders", b"no-bar", None, "tombstone key 'no-bar' is not SITE|ID"),
    ("planned-orders", None, None, "tombstone without a key"),
    ("exceptions", b"x", b"{}", "the sink does not read topic 'exceptions'"),
])
def test_records_the_sink_cannot_apply_say_why(source: str, key: bytes | None, value: bytes | None,
                                               reason: str) -> None:
    with pytest.raises(RecordError) as caught:
        change_of(source, key, value)
    assert str(caught.value).startswith(reason)


def test_a_batch_folds_to_the_last_change_of_each_key() -> None:
    changes = [change_of("planned-orders", b"DK1|RCV-01@2026-03-18", planned(qty="1")),
               change_of("planned-orders", b"DK1|RCV-01@2026-03-18", planned("delete")),
               change_of("planned-orders", b"DK1|RCV-01@2026-03-18", planned(qty="3")),
               change_of("costs", b"DK1|HA-100", encode_json(Cost(site="DK1", item="HA-100", unit_cost=1)))]
    folded = fold(changes)
    assert list(folded) == [("planned_orders", ("DK1", "RCV-01@2026-03-18")), ("costs", ("DK1", "HA-100"))]
    assert folded[("planned_orders", ("DK1", "RCV-01@2026-03-18"))].row["qty"] == 3  # type: ignore[index]


def test_every_source_table_exists() -> None:
    assert {t for tables in SOURCES.values() for t in tables} | {"sink_rejected"} == set(TABLES)
