"""Spreadsheet importers: realistic CSVs become v1 events that give the expected engine state.

Fixtures in tests/data/importers/ are one hearing-aid factory: an item master, a four-level indented BOM with
a phantom fastener kit (and a second assembly repeating the sound engine), an opening stock snapshot in every
quality status, and open purchase orders.  Error cases are small CSVs written next to their assertions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
from pathlib import Path

import pytest

from connectors.importers import (
    IMPORTERS,
    Catalog,
    ImportOptions,
    ImportResult,
    Table,
    import_file,
    parse_as_of,
    write_events,
)
from connectors.replay import replay
from core.engine import Engine
from core.quantity import to_fixed
from core.queries import mrp_record
from core.reports import report
from millstream.cli import main
from schemas import events as ev
from schemas.codecs import decode_message, decode_output, encode_json
from schemas.outputs import Rejected

DATA = Path(__file__).resolve().parents[1] / "data" / "importers"
AS_OF = parse_as_of("2026-03-02T06:00:00Z")
OPTIONS = ImportOptions(as_of=AS_OF)
FIXTURES = {"items": "items.csv", "bom": "bom.csv", "stock": "opening_stock.csv",
            "purchase-orders": "open_purchase_orders.csv"}


def _import(kind: str, name: str | None = None, **options: object) -> ImportResult:
    return import_file(kind, DATA / (name or FIXTURES[kind]), dataclasses.replace(OPTIONS, **options))


def _text(kind: str, text: str, **options: object) -> ImportResult:
    """An importer over CSV text (the row numbers are the spreadsheet's: the header is row 1)."""
    return IMPORTERS[kind](Table.parse(text, "test.csv"), dataclasses.replace(OPTIONS, **options))


def _errors(result: ImportResult) -> list[tuple[int | None, str | None, str]]:
    return [(error.row, error.column, error.message) for error in result.errors]


def _ok(result: ImportResult) -> list[object]:
    assert result.errors == [], [str(error) for error in result.errors]
    return result.events


def _replay(tmp_path: Path, *results: ImportResult, extra: tuple[object, ...] = ()) -> Engine:
    """The importers' output written as a file and replayed like `millstream replay`; nothing may be rejected."""
    path = tmp_path / "imported.jsonl"
    with path.open("wb") as out:
        for result in results:
            write_events(_ok(result), out)
        write_events(list(extra), out)
    engine = Engine()
    sink = io.BytesIO()
    replay(path, engine, sink)
    rejected = [o for o in map(decode_output, sink.getvalue().splitlines()) if isinstance(o, Rejected)]
    assert rejected == []
    return engine


def _demand(item: str, qty: int, due: dt.date, site: str = "DK1") -> ev.Demand:
    return ev.Demand(event_id=f"so-{item}-{due}", ts=AS_OF + dt.timedelta(hours=1), site=site,
                     demand_id=f"so-{item}", item=item, qty=qty, due=due)


# --- the four spreadsheets, replayed ------------------------------------------------------------------------------


def test_item_master_rows_become_the_engines_items(tmp_path):
    result = _import("items")
    assert len(_ok(result)) == 15
    assert result.notes == ["ignored columns: 'Buyer'"]
    items = _replay(tmp_path, result).master.items
    chip = items["CHIP-01"]
    assert (chip.source, chip.uom, chip.lead_time_days, chip.safety_stock) == ("buy", "ea", 42, to_fixed(100))
    assert (chip.lot_rule, chip.ordering_cost, chip.holding_cost_rate, chip.standard_cost) == ("eoq", 120, 0.25, 6.9)
    mic = items["MIC-01"]
    assert (mic.uom, mic.lot_rule, mic.min_qty, mic.multiple) == ("ea", "min_multiple", to_fixed(200), to_fixed(100))
    assert (items["GASKET-01"].lot_rule, items["GASKET-01"].period_days) == ("period", 14)
    assert (items["BAT-01"].lot_rule, items["BAT-01"].fixed_qty) == ("fixed", to_fixed(500))
    assert (items["ADH-01"].uom, items["PCBA-200"].source, items["HA-200"].lot_rule) == ("g", "make", "lot_for_lot")
    assert items["HA-200"].standard_cost is None


def test_indented_bom_gives_one_event_per_parent_and_merges_repeated_subassemblies():
    events = {event.item: event for event in _ok(_import("bom"))}
    assert list(events) == ["HA-200", "ENG-200", "PCBA-200", "KIT-200", "HA-210"]
    assert all(isinstance(event, ev.Bom) and event.site is None for event in events.values())
    assert events["PCBA-200"].components == [
        ev.Component(item="CHIP-01", qty_per=1, scrap_pct=1), ev.Component(item="MIC-01", qty_per=2, scrap_pct=2),
        ev.Component(item="CAP-01", qty_per=12)]
    assert [c.item for c in events["ENG-200"].components] == ["PCBA-200", "KIT-200"]
    assert events["KIT-200"].phantom and not events["ENG-200"].phantom
    assert [(c.item, c.qty_per, c.scrap_pct) for c in events["HA-210"].components] == [
        ("ENG-200", 1, 0), ("RCV-02", 1, 0), ("SHELL-02", 1, 5), ("CELL-01", 1, 0), ("ADH-01", 0.25, 0)]


def test_bom_explodes_through_the_phantom_in_the_mrp_record(tmp_path):
    """100 HA-200 due 1 April: each level is released its lead time earlier; the phantom kit gets no order."""
    engine = _replay(tmp_path, _import("items"), _import("bom"), extra=(_demand("HA-200", 100, dt.date(2026, 4, 1)),))

    def planned(item: str) -> list[tuple[str, str, object]]:
        return [(p["release"], p["due"], p["qty"]) for p in mrp_record(engine, "DK1", item)["planned_orders"]]

    def gross(item: str) -> list[tuple[str, object, str]]:
        return [(g["date"], g["qty"], g["kind"]) for g in mrp_record(engine, "DK1", item)["gross_requirements"]]

    assert planned("HA-200") == [("2026-03-27", "2026-04-01", 100)]
    assert planned("ENG-200") == [("2026-03-24", "2026-03-27", 100)]
    assert planned("PCBA-200") == [("2026-03-22", "2026-03-24", 100)]
    assert planned("KIT-200") == []
    assert gross("KIT-200") == [("2026-03-24", 100, "dependent")]
    assert gross("SCREW-01") == [("2026-03-24", 400, "dependent")]     # 4 per kit, through the phantom
    assert gross("GASKET-01") == [("2026-03-24", 100, "dependent")]
    assert gross("MIC-01") == [("2026-03-22", 204, "dependent")]       # 2 per board + 2 % scrap
    assert gross("CHIP-01") == [("2026-03-22", 101, "dependent")]
    assert gross("SHELL-02") == [("2026-03-27", 105, "dependent")]
    assert gross("ADH-01") == [("2026-03-27", 25, "dependent")]        # 0.25 g per aid
    assert gross("CELL-01") == []                                      # only HA-210 uses it


def test_semicolon_export_with_decimal_commas_and_numeric_levels_gives_the_same_events():
    semicolon = _ok(_import("bom", "bom_semicolon.csv", decimal_comma=True))
    comma = {event.item: event for event in _ok(_import("bom"))}
    assert [event.item for event in semicolon] == ["HA-200", "ENG-200", "PCBA-200", "KIT-200"]
    assert [encode_json(event) for event in semicolon] == [encode_json(comma[event.item]) for event in semicolon]


def test_opening_stock_by_lot_and_status_equals_the_snapshot(tmp_path):
    stock = _import("stock")
    assert stock.notes == ["row 12: zero quantity of 'CAP-01' lot 'L-CAP-1': nothing to import"]
    engine = _replay(tmp_path, _import("items"), stock)
    rows = {(r["site"], r["item"], r["lot"], r["status"]): r["qty"] for r in report(engine, "stock")}
    assert rows == {
        ("DK1", "ADH-01", "L-ADH-5", "available"): 750.5,
        ("DK1", "BAT-01", "opening", "available"): 1000,
        ("DK1", "CHIP-01", "L-CHIP-2401", "available"): 250,
        ("DK1", "CHIP-01", "L-CHIP-2402", "qc_pending"): 100,
        ("DK1", "MIC-01", "L-MIC-2310", "available"): 550,        # two bins of one lot
        ("DK1", "MIC-01", "L-MIC-2311", "blocked"): 120,
        ("DK1", "SHELL-02", "L-SH-77", "rejected"): 30,
        ("DK1", "SHELL-02", "L-SH-78", "rework"): 12,
        ("DK1", "SHELL-02", "L-SH-79", "available"): 500,
        ("US1", "RCV-02", "L-RCV-9", "available"): 80,
    }
    dk1 = engine.sites["DK1"]
    assert math.isclose(dk1.avg_cost["MIC-01"], (550 * 1.80 + 120 * 1.82) / 670)
    assert math.isclose(dk1.avg_cost["CHIP-01"], (250 * 6.85 + 100 * 7.05) / 350)
    assert dk1.counts.lines == 0   # an opening balance is no cycle count: accuracy KPIs stay clean
    kinds = [type(event).__name__ for event in stock.events]
    assert kinds.count("Receipt") == 11 and kinds.count("Quality") == 3   # blocked, rejected, rework


def test_open_purchase_orders_are_scheduled_receipts_with_their_open_quantity(tmp_path):
    orders = _import("purchase-orders")
    assert orders.notes == ["row 5: 4500003-10 is fully received (500 of 500): nothing open, not imported"]
    engine = _replay(tmp_path, _import("items"), orders)

    def receipts(site: str, item: str) -> list[dict[str, object]]:
        return mrp_record(engine, site, item)["scheduled_receipts"]

    assert receipts("DK1", "CHIP-01") == [{"date": "2026-03-20", "qty": 500, "kind": "purchase_order",
                                           "ref": "4500001-10"}]
    assert receipts("DK1", "MIC-01") == [{"date": "2026-03-13", "qty": 600, "kind": "purchase_order",
                                          "ref": "4500001-20"}]   # 1000 ordered, 400 received
    assert receipts("DK1", "SHELL-02")[0]["qty"] == 600
    assert receipts("US1", "RCV-02") == [{"date": "2026-03-16", "qty": 200, "kind": "purchase_order",
                                          "ref": "4500101-10"}]
    assert "4500003-10" not in engine.sites["DK1"].purchase
    po = engine.sites["DK1"].purchase["4500001-10"]
    assert (po.unit_price, po.supplier) == (6.9, "ON Semi")


def test_every_output_line_passes_the_contract_decoder():
    for kind in FIXTURES:
        events = _ok(_import(kind))
        out = io.BytesIO()
        write_events(events, out)
        lines = out.getvalue().splitlines()
        assert len(lines) == len(events) > 0
        for line, event in zip(lines, events, strict=True):
            decoded = decode_message(line)
            assert len(decoded) == 1 and not isinstance(decoded[0], Rejected)
            assert decoded[0] == event and decoded[0].ts == AS_OF


def test_output_is_deterministic_and_timed_by_as_of_only():
    def data(kind: str, as_of: dt.datetime) -> bytes:
        out = io.BytesIO()
        write_events(_ok(_import(kind, as_of=as_of)), out)
        return out.getvalue()

    later = parse_as_of("2026-03-09")
    for kind in FIXTURES:
        assert data(kind, AS_OF) == data(kind, AS_OF)
        ids_now = [e.event_id for e in _import(kind).events]
        moved = _import(kind, as_of=later).events
        assert {e.ts for e in moved} == {later}
        assert not set(ids_now) & {e.event_id for e in moved}   # ids derive from content, time included
        assert len(set(ids_now)) == len(ids_now)


def test_header_synonyms_are_matched_case_insensitively():
    plain = _text("items", "item,source,unit,lead time,lot rule,fixed qty,safety stock,standard cost\n"
                           "BAT-01,buy,ea,7,fixed,500,200,0.30\n")
    odd = _text("items", "ITEM NUMBER;Procurement Type;Unit_Of_Measure;LEAD-TIME (DAYS);Lot Size;FOQ;SS;Std. Cost\n"
                         "BAT-01;Purchased;Each;7;FX;500;200;0.30\n")
    assert _ok(odd) == _ok(plain) and len(plain.events) == 1


def test_as_of_needs_a_utc_offset():
    assert parse_as_of("2026-03-02") == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert parse_as_of("2026-03-02T07:00:00+01:00") == AS_OF
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_as_of("2026-03-02T07:00:00")


# --- errors: each with its row -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "text", "row"), [
    ("items", "Item,Make/Buy,UoM\nA,buy,ea\nB,buy,pcz\n", 3),
    ("bom", "Level,Item,Qty per,UoM\n0,A,,ea\n1,B,2,pcz\n", 3),
    ("stock", "Site,Item,Lot,Qty,UoM\nS1,A,L1,5,pcz\n", 2),
    ("purchase-orders", "Site,PO,Item,Qty,UoM,Due\nS1,P1,A,5,ea,2026-03-20\nS1,P2,A,5,pcz,2026-03-20\n", 3),
])
def test_unknown_unit_is_an_error_with_its_row(kind, text, row):
    result = _text(kind, text)
    assert len(result.errors) == 1
    error = result.errors[0]
    assert (error.row, error.column) == (row, "UoM")
    assert error.message.startswith("unknown unit 'pcz': known are ea, pair")
    assert str(error).startswith(f"row {row}, column 'UoM': unknown unit 'pcz'")


def test_extra_unit_codes_and_unit_spellings():
    assert _ok(_text("items", "Item,Source,Unit\nA,buy,drum\n", extra_units=frozenset({"drum"})))[0].uom == "drum"
    units = [e.uom for e in _ok(_text("items", "Item,Source,Unit\nA,buy,Pcs.\nB,buy,KGS\nC,buy,Litre\n"))]
    assert units == ["ea", "kg", "l"]


def test_duplicate_item_is_an_error_naming_the_first_row():
    result = _text("items", "Item,Make/Buy\nA,buy\nB,make\nA,buy\nA,make\n")
    assert _errors(result) == [(4, "Item", "duplicate item 'A' (first at row 2)"),
                               (5, "Item", "duplicate item 'A' (first at row 2)")]
    site_override = _text("items", "Site,Item,Make/Buy\n,A,buy\nDK1,A,buy\n")
    assert [(e.site, e.item) for e in _ok(site_override)] == [(None, "A"), ("DK1", "A")]


def test_bom_cycle_across_assemblies_names_the_path_and_row():
    result = _text("bom", "Level,Item,Qty per\n0,A,\n1,B,1\n0,B,\n1,C,1\n0,C,\n1,A,1\n")
    assert _errors(result) == [(7, None, "BOM cycle: C -> A -> B -> C (an item would be its own component)")]
    assert [event.item for event in result.events] == ["A", "B"]


def test_bom_cycle_inside_one_tree():
    result = _text("bom", "Level,Item,Qty per\n0,A,\n.1,B,1\n..2,A,1\n")
    assert _errors(result) == [(4, None, "BOM cycle: B -> A -> B (an item would be its own component)")]


@pytest.mark.parametrize(("kind", "header", "missing"), [
    ("items", "Item,Description", "make/buy"),
    ("bom", "Level,Item", "qty per"),
    ("bom", "Component,Qty per", "level"),
    ("stock", "Site,Item,Lot", "qty"),
    ("purchase-orders", "Site,PO,Item,Qty", "due"),
])
def test_missing_column_is_an_error_on_the_header_row(kind, header, missing):
    result = _text(kind, header + "\nx,y,z\n")
    assert [(e.row, e.message.split(" (")[0]) for e in result.errors] == [(1, f"missing column {missing!r}")]
    assert "also accepted" in result.errors[0].message
    assert result.events == [] and result.rows == 0


def test_two_columns_for_one_field_is_an_error():
    result = _text("stock", "Site,Item,Qty,Quantity\nS1,A,1,2\n")
    assert _errors(result) == [(1, None, "columns 'Qty' and 'Quantity' both give qty")]


@pytest.mark.parametrize(("cell", "message"), [
    ("abc", "bad number 'abc': write it as 1234.5, no thousands separators; --decimal-comma reads 1234,5"),
    ('"1,5"', "bad number '1,5': write it as 1234.5, no thousands separators; --decimal-comma reads 1234,5"),
    ("0.0000001", "'0.0000001' has more than six decimals: quantities are kept to 0.000001"),
    ("-3", "'-3' must be zero or more"),
    ("2000000000", "'2000000000' is above the largest quantity, 1e+09"),
])
def test_bad_number_is_an_error_with_row_and_column(cell, message):
    result = _text("stock", f"Site,Item,Lot,Qty\nS1,A,L1,4\nS1,B,L2,{cell}\n")
    assert _errors(result) == [(3, "Qty", message)]
    assert [e.item for e in result.events] == ["A"]


def test_decimal_comma_reads_european_numbers():
    result = _text("stock", "Site;Item;Lot;Qty;Unit cost\nS1;A;L1;1.234,5;0,75\nS1;B;L2;1.5;1\n", decimal_comma=True)
    assert _errors(result) == [(3, "Qty", "bad number '1.5': write it as 1234,5 (--decimal-comma)")]
    assert (result.events[0].qty, result.events[0].unit_cost) == (1234.5, 0.75)


def test_bad_date_is_an_error_and_date_format_reads_other_layouts():
    text = "Site,PO,Item,Qty,Due\nS1,P1,A,5,2026-03-20\nS1,P2,A,5,20.03.2026\nS1,P3,A,5,2026-02-30\n"
    result = _text("purchase-orders", text)
    assert _errors(result) == [
        (3, "Due", "bad date '20.03.2026': expected YYYY-MM-DD, or give --date-format (e.g. %d.%m.%Y)"),
        (4, "Due", "bad date '2026-02-30': expected YYYY-MM-DD, or give --date-format (e.g. %d.%m.%Y)")]
    european = _text("purchase-orders", "Site,PO,Item,Qty,Due\nS1,P2,A,5,20.03.2026\n", date_format="%d.%m.%Y")
    assert _ok(european)[0].due == dt.date(2026, 3, 20)


def test_item_master_value_errors():
    text = ("Item,Make/Buy,Lead time,Lot rule,Fixed qty,Min qty,Max qty,Ordering cost\n"
            "A,sometimes,3,,,,,\n"
            "B,buy,3.5,fixed,,,,\n"
            "C,buy,3,,50,,,\n"
            "D,buy,3,eoq,,,,120\n"
            "E,buy,3,min_multiple,,500,100,\n")
    assert _errors(_text("items", text)) == [
        (2, "Make/Buy", "unknown value 'sometimes': expected one of buy, make"),
        (3, "Lead time", "'3.5' must be a whole number from 0 to 3650"),
        (3, "Lot rule", "lot rule 'fixed' needs 'fixed qty'"),
        (4, "Lot rule", "empty, but lot parameters are given (Fixed qty): name the rule"),
        (5, "Lot rule", "lot rule 'eoq' needs 'holding cost rate'"),
        (6, "Max qty", "max qty 100 is below min qty 500"),
    ]


def test_bom_structure_errors():
    jump = _text("bom", "Level,Item,Qty per\n0,A,\n1,B,1\n3,C,1\n2,D,1\n0,E,\n1,F,2\n")
    assert _errors(jump) == [(4, "Level", "level 3 has no parent: no level 2 row above it")]
    assert [e.item for e in jump.events] == ["E"]   # A's BOM would miss what row 4 meant: left out
    assert "row 4: the rows under it (until the next row at the top level) are not imported" in jump.notes[0]
    level = _text("bom", "Level,Item,Qty per\n0,A,\n1..,B,1\n")
    assert _errors(level)[0][:2] == (3, "Level") and "bad level '1..'" in _errors(level)[0][2]
    hollow = _text("bom", "Level,Item,Qty per,Phantom\n0,A,,\n1,KIT,1,Y\n1,B,2,\n")
    assert _errors(hollow) == [(3, None, "'KIT' is marked phantom but no components are listed under it anywhere")]
    assert hollow.events == []
    differ = _text("bom", "Level,Item,Qty per\n0,A,\n1,S,1\n2,X,1\n0,B,\n1,S,1\n2,X,2\n")
    assert _errors(differ) == [(6, None, "the components listed under 'S' here differ from those under it at row 3")]
    assert [e.item for e in differ.events] == ["A", "B"]   # only in --keep-going would these be written
    flags = _text("bom", "Level,Item,Qty per,Phantom\n0,A,,\n1,K,1,Y\n2,X,1,\n0,B,,\n1,K,1,N\n2,X,1,\n")
    assert _errors(flags) == [(6, "Phantom", "'K' is not phantom here but phantom at row 3")]
    units = _text("bom", "Level,Item,Qty per,Unit\n0,A,,ea\n1,X,1,kg\n0,B,,ea\n1,X,500,g\n")
    assert _errors(units) == [(5, "Unit", "unit 'g' of 'X' differs from 'kg' at row 3")]
    bare = _text("bom", "Level,Item,Qty per\n1,B,1\n1,C,2\n")
    assert _errors(bare)[0] == (2, None, "assembly 'B' has no components below it: a file that starts at an "
                                         "assembly's components needs --root")
    rooted = _ok(_text("bom", "Level,Item,Qty per\n1,B,1\n1,C,2\n", root="A", site="DK1"))
    assert [(e.site, e.item, [c.item for c in e.components]) for e in rooted] == [("DK1", "A", ["B", "C"])]


def test_stock_and_purchase_order_row_errors():
    stock = _text("stock", "Site,Item,Lot,Status,Qty,Bin\nS1,A,L1,available,5,A1\nS1,A,L1,available,6,A2\n"
                           "S1,A,L1,available,7,A1\nS1,B,L2,lost,3,\n,C,L3,blocked,2,\n")
    assert _errors(stock) == [
        (4, None, "duplicate stock of item 'A' lot 'L1' available in location 'A1' (first at row 2)"),
        (5, "Status", "unknown value 'lost': expected one of available, blocked, qc_pending, rejected, rework"),
        (6, None, "no site: add a site column or give --site")]
    assert [e.qty for e in stock.events] == [5, 6]
    assert _ok(_text("stock", "Item,Lot,Qty\nC,L3,2\n", site="DK1"))[0].site == "DK1"
    orders = _text("purchase-orders", "Site,PO,Line,Item,Qty,Received,Due\nS1,P1,10,A,5,,2026-03-20\n"
                                      "S1,P1,10,B,5,,2026-03-20\nS1,P1,20,B,5,7,2026-03-20\n")
    assert _errors(orders) == [(3, "Line", "duplicate PO 'P1' line 10 (first at row 2)")]
    assert orders.notes == ["row 4: P1-20 is fully received (7 of 5): nothing open, not imported"]


def test_item_master_check_finds_unknown_items_and_other_units():
    catalog = Catalog(_ok(_import("items")))
    stock = _text("stock", "Site,Item,Lot,Qty,Unit\nDK1,MIC-01,L1,5,pcs\nDK1,MIC-99,L2,5,\nDK1,ADH-01,L3,2,kg\n",
                  catalog=catalog)
    assert _errors(stock) == [
        (3, None, "item 'MIC-99' is not in the item master for site 'DK1'"),
        (4, "Unit", "unit 'kg' differs from item 'ADH-01''s unit 'g' in the item master (quantities are never "
                    "converted)")]
    bom = _import("bom", catalog=catalog)
    assert _ok(bom) and len(bom.events) == 5


def test_extra_cells_and_unreadable_files(tmp_path):
    extra = _text("stock", "Site,Item,Lot,Qty\nS1,A,L1,5,oops\nS1,A,L2,5,\n")
    assert _errors(extra) == [(2, None, "5 cells but the header has 4 columns (extra: 'oops')")]
    assert len(extra.events) == 1
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Item,Make/Buy,Description\nA,buy,Gehäuse\n".encode("cp1252"))
    result = import_file("items", latin, OPTIONS)
    assert result.errors[0].row is None and "is not utf-8-sig text" in result.errors[0].message
    assert _ok(import_file("items", latin, OPTIONS, encoding="cp1252"))[0].description == "Gehäuse"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert str(import_file("items", empty, OPTIONS).errors[0]) == "file: empty.csv is empty: no header row"


# --- the command -----------------------------------------------------------------------------------------------


def test_cli_writes_events_to_stdout_for_a_pipe(capsys):
    code = main(["import", "purchase-orders", str(DATA / "open_purchase_orders.csv"), "--as-of", "2026-03-02T06:00Z"])
    captured = capsys.readouterr()
    assert code == 0
    events = [decode_message(line)[0] for line in captured.out.encode().splitlines()]
    assert [e.po_id for e in events] == ["4500001-10", "4500001-20", "4500002-10", "4500101-10"]
    assert "open_purchase_orders.csv: 5 rows, 4 events written, 0 errors" in captured.err


def test_cli_with_errors_writes_nothing_unless_keep_going(tmp_path, capsys):
    bad = tmp_path / "items.csv"
    bad.write_text("Item,Make/Buy,UoM\nA,buy,ea\nB,buy,pcz\nC,make,ea\n")
    out = tmp_path / "events.jsonl"
    args = ["import", "items", str(bad), "--as-of", "2026-03-02", "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "items.csv: row 3, column 'UoM': unknown unit 'pcz'" in err
    assert "3 rows, 2 events, nothing written, 1 errors (--keep-going writes the valid events)" in err
    assert not out.exists()
    assert main([*args, "--keep-going"]) == 1
    assert [decode_message(line)[0].item for line in out.read_bytes().splitlines()] == ["A", "C"]
    assert "2 events written to" in capsys.readouterr().err


def test_cli_checks_against_an_item_master_and_refuses_a_bad_one(tmp_path, capsys):
    stock = tmp_path / "stock.csv"
    stock.write_text("Site,Item,Lot,Qty\nDK1,MIC-01,L1,5\nDK1,NOPE,L2,1\n")
    assert main(["import", "stock", str(stock), "--as-of", "2026-03-02", "--items", str(DATA / "items.csv")]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "row 3: item 'NOPE' is not in the item master for site 'DK1'" in captured.err
    bad_items = tmp_path / "items.csv"
    bad_items.write_text("Item,Make/Buy\nA,perhaps\n")
    assert main(["import", "stock", str(stock), "--as-of", "2026-03-02", "--items", str(bad_items)]) == 1
    assert "1 errors, first row 2, column 'Make/Buy'" in capsys.readouterr().err


def test_cli_refuses_an_as_of_without_offset(capsys):
    assert main(["import", "items", str(DATA / "items.csv"), "--as-of", "2026-03-02T06:00"]) == 2
    assert "bad --as-of" in capsys.readouterr().err


def test_docs_list_every_header_name_and_unit():
    from connectors.importers import bom, items, purchase_orders, stock
    from connectors.importers.units import UNITS

    docs = (Path(__file__).resolve().parents[2] / "docs" / "importers.md").read_text()
    missing = [name for module in (items, bom, stock, purchase_orders) for column in module.COLUMNS
               for name in column.names if f"`{name}`" not in docs]
    missing += [code for code, names in UNITS.items() if f"| `{code}` | {', '.join(names)} |" not in docs]
    assert missing == []


def test_item_master_check_reads_the_master_as_global_whatever_site_the_checked_file_uses(tmp_path, capsys):
    stock = tmp_path / "stock.csv"
    stock.write_text("Site,Item,Lot,Qty,Unit\nUS1,RCV-02,L1,5,ea\n,MIC-01,L2,5,pcs\n")
    args = ["import", "stock", str(stock), "--as-of", "2026-03-02", "--site", "DK1", "--items", str(DATA / "items.csv")]
    assert main(args) == 0
    events = [decode_message(line)[0] for line in capsys.readouterr().out.encode().splitlines()]
    assert [(e.site, e.item) for e in events] == [("US1", "RCV-02"), ("DK1", "MIC-01")]
