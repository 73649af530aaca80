"""The sink's store on SQLite: exact numbers, idempotent writes, one transaction per batch, documented DDL."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.sink_store import POSTGRES, SQLITE, ddl, open_store
from connectors.sink_tables import Change
from schemas.outputs import ShortageHit

ROOT = Path(__file__).resolve().parents[2]
TS = dt.datetime(2026, 3, 18, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def _planned(pid: str, qty: str) -> Change:
    return Change("planned_orders", ("DK1", pid), {
        "site": "DK1", "planned_id": pid, "item": "RCV-01", "kind": "buy", "qty": Decimal(qty),
        "release": dt.date(2026, 2, 25), "due": dt.date(2026, 3, 18), "past_due": True, "updated_ts": TS})


def _rows(path: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_rows_are_written_exactly_and_writing_them_again_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "sink.sqlite"
    store = open_store(None, path)
    hit = ShortageHit(ref="us1-so-1", kind="sales_order", qty=Decimal("10.5"), due=dt.date(2026, 3, 24))
    batch = [_planned("A@1", "55.020409"), _planned("A@2", "0.000001"),
             Change("shortages", ("US1|HA-100|2026-03-24",), {
                 "shortage_id": "US1|HA-100|2026-03-24", "site": "US1", "item": "HA-100",
                 "date": dt.date(2026, 3, 24), "qty": 2, "hits": [hit], "updated_ts": None}),
             Change("costs", ("DK1", "HA-100"), {"site": "DK1", "item": "HA-100", "unit_cost": Decimal("0.1"),
                                                 "standard_cost": Decimal("12345678901234.123456"),
                                                 "updated_ts": TS})]
    try:
        assert store.apply(batch) == (4, 0)
        first = [_rows(path, f"SELECT * FROM {t} ORDER BY 1, 2") for t in ("planned_orders", "shortages", "costs")]
        assert store.apply(batch) == (4, 0)  # a batch read again after a crash: the same rows, no more
        again = [_rows(path, f"SELECT * FROM {t} ORDER BY 1, 2") for t in ("planned_orders", "shortages", "costs")]
    finally:
        store.close()
    assert again == first
    planned, shortages, costs = first
    assert planned == [("DK1", "A@1", "RCV-01", "buy", "55.020409", "2026-02-25", "2026-03-18", 1,
                        "2026-03-18T08:00:00+01:00"),
                       ("DK1", "A@2", "RCV-01", "buy", "0.000001", "2026-02-25", "2026-03-18", 1,
                        "2026-03-18T08:00:00+01:00")]
    assert json.loads(shortages[0][5]) == [{"ref": "us1-so-1", "kind": "sales_order", "qty": 10.5,
                                            "due": "2026-03-24"}]
    assert costs == [("DK1", "HA-100", "0.1", "12345678901234.123456", "2026-03-18T08:00:00+01:00")]


def test_an_update_replaces_the_row_and_a_delete_removes_it(tmp_path: Path) -> None:
    path = tmp_path / "sink.sqlite"
    store = open_store(None, path)
    try:
        store.apply([_planned("A@1", "1"), _planned("A@2", "2")])
        assert store.apply([_planned("A@1", "1.25"), Change("planned_orders", ("DK1", "A@2"), None),
                            Change("planned_orders", ("DK1", "never-there"), None)]) == (1, 2)
        assert store.count("planned_orders") == 1
    finally:
        store.close()
    assert _rows(path, "SELECT planned_id, qty FROM planned_orders") == [("A@1", "1.25")]


def test_a_batch_is_one_transaction(tmp_path: Path) -> None:
    """A batch that fails part way leaves nothing behind, so its offsets (not committed) lose nothing."""
    path = tmp_path / "sink.sqlite"
    store = open_store(None, path)
    broken = _planned("A@3", "3")
    assert broken.row is not None
    broken.row["item"] = None  # NOT NULL
    try:
        with pytest.raises(sqlite3.IntegrityError):
            store.apply([_planned("A@1", "1"), _planned("A@2", "2"), broken])
        assert store.count("planned_orders") == 0
        store.apply([_planned("A@1", "1")])  # and the store goes on
        assert store.count("planned_orders") == 1
    finally:
        store.close()


def test_opening_again_keeps_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "sink.sqlite"
    store = open_store(None, path)
    try:
        store.apply([_planned("A@1", "1")])
    finally:
        store.close()
    store = open_store(None, path)
    try:
        assert store.count("planned_orders") == 1
    finally:
        store.close()


def test_the_documented_ddl_is_the_one_the_sink_runs() -> None:
    doc = ROOT.joinpath("docs", "sinks.md").read_text()
    assert ddl(POSTGRES) in doc
    assert "NUMERIC" in ddl(POSTGRES) and "REAL" not in ddl(POSTGRES) and "FLOAT" not in ddl(POSTGRES).upper()
    assert "NUMERIC" not in ddl(SQLITE)  # SQLite's NUMERIC affinity would store 0.1 as a float
