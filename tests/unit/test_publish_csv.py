"""CSV events (connectors/csv_events.py): the convention, row checks and line numbers; no broker."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connectors.csv_events import JSON_FIELDS, CsvHeaderError, csv_records, write_csv
from connectors.publisher import json_lines_records
from schemas import events as ev

SAMPLE = Path(__file__).resolve().parents[2] / "millstream" / "samples" / "hearing_devices.jsonl"


def records(text: str | bytes) -> list[tuple[int, object]]:
    data = text.encode() if isinstance(text, str) else text
    return list(csv_records(data.splitlines(keepends=True)))


def sample_events() -> list[object]:
    return [e for _n, e in json_lines_records(SAMPLE.read_bytes().splitlines()) if not isinstance(e, str)]


def test_the_sample_as_csv_reads_back_to_the_same_events() -> None:
    events = sample_events()
    assert len(events) == 105 and {type(e) for e in events} >= {ev.Item, ev.Bom, ev.WorkCenter, ev.Receipt,
                                                             ev.TransferShipped}
    back = records(write_csv(events))
    assert [e for _n, e in back] == events
    assert [n for n, _e in back] == list(range(2, len(events) + 2))   # the header is line 1


def test_nested_fields_hold_json_and_are_named_by_the_contract() -> None:
    assert JSON_FIELDS["item"] == {"lot_size"}
    assert JSON_FIELDS["bom"] == {"components", "operations"}
    assert JSON_FIELDS["receipt"] == frozenset()
    text = ('type,event_id,ts,item,components,operations,phantom,batch_qty\n'
            'bom,b1,2026-03-02T07:00:00+01:00,KIT,"[{""item"":""RAW"",""qty_per"":2,""scrap_pct"":5}]",,true,2.5\n')
    ((line, bom),) = records(text)
    assert line == 2
    assert bom == ev.Bom(event_id="b1", ts=dt.datetime(2026, 3, 2, 7, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                         item="KIT", components=[ev.Component(item="RAW", qty_per=2, scrap_pct=5)],
                         phantom=True, batch_qty=2.5)


def test_empty_cells_take_defaults_and_mixed_types_share_a_header() -> None:
    text = ("type,event_id,ts,site,item,qty,lot,status,source,lead_time_days\n"
            "receipt,r1,2026-03-02T08:00:00Z,S1,A,5,L1,,,\n"
            "item,i1,2026-03-02T07:00:00Z,,A,,,,buy,14\n")
    (_, receipt), (_, item) = records(text)
    assert isinstance(receipt, ev.Receipt) and receipt.status == "available" and receipt.qty == 5
    assert isinstance(item, ev.Item) and item.site is None and item.lead_time_days == 14


@pytest.mark.parametrize(("row", "reason"), [
    ("receipt,r1,2026-03-02T08:00:00Z,S1,A,abc,L1,", "invalid event: Expected `float`, got `str` - at `$.qty`"),
    ("receipt,r1,2026-03-02T08:00:00Z,S1,A,-1,L1,", "invalid event: Expected `float` >= 1e-06 - at `$.qty`"),
    ("receipt,r1,2026-03-02T08:00:00,S1,A,1,L1,", "invalid event: Expected `datetime` with a timezone component"),
    ("receipt,r1,2026-03-02T08:00:00Z,S1,A,1,,", "invalid event: Object missing required field `lot`"),
    ("receipt,r1,2026-03-02T08:00:00Z,S1,A,1,L1,{}", "column 'lot_size' is not a field of receipt"),
    ("item,i1,2026-03-02T08:00:00Z,,A,,,{bad", "column 'lot_size' must hold JSON"),
    ("shipment,s1,2026-03-02T08:00:00Z,S1,A,1,L1,", "unknown event type: shipment"),
    (",r1,2026-03-02T08:00:00Z,S1,A,1,L1,", "row has no type"),
    ("receipt,r1,2026-03-02T08:00:00Z,S1,A,1,L1", "row has 7 cells, the header 8"),
    ("receipt,r1,2026-03-02T08:00:00Z,S1,A,1,L1,,", "row has 9 cells, the header 8"),
])
def test_bad_rows_are_refused_with_a_reason(row: str, reason: str) -> None:
    header = "type,event_id,ts,site,item,qty,lot,lot_size"
    good = "receipt,ok,2026-03-02T08:00:00Z,S1,A,1,L1,"
    result = records(f"{header}\n{good}\n{row}\n{good}\n")
    assert [n for n, _ in result] == [2, 3, 4]
    assert isinstance(result[0][1], ev.Receipt) and isinstance(result[2][1], ev.Receipt)   # neighbours still go
    assert isinstance(result[1][1], str) and result[1][1].startswith(reason), result[1][1]


def test_line_numbers_count_quoted_line_breaks_and_blank_lines() -> None:
    text = ('type,event_id,ts,site,po_id,item,qty,due,supplier\n'
            '\n'
            'purchase_order,p1,2026-03-02T08:00:00Z,S1,PO1,A,10,2026-03-09,"Acme\nNorth"\n'
            'purchase_order,p2,2026-03-02T08:00:00Z,S1,PO2,A,x,2026-03-09,\n')
    (first, po), (second, reason) = records(text)
    assert (first, po.supplier) == (3, "Acme\nNorth")
    assert second == 5 and "$.qty" in reason


def test_a_row_that_is_not_utf8_is_refused_and_the_others_go() -> None:
    data = (b"type,event_id,ts,site,item,qty,lot\n"
            + b"receipt,r1,2026-03-02T08:00:00Z,S1,\xff\xfe,1,L1\n"
            + b"receipt,r2,2026-03-02T08:00:00Z,S1,A,1,L1\n")
    (line, reason), (_, good) = records(data)
    assert (line, reason) == (2, "row is not UTF-8 text")
    assert good.event_id == "r2"


def test_a_byte_order_mark_before_the_header_is_allowed() -> None:
    ((_, event),) = records(b"\xef\xbb\xbftype,event_id,ts,site,item,qty,lot\n"
                            b"receipt,r1,2026-03-02T08:00:00Z,S1,A,1,L\n")
    assert isinstance(event, ev.Receipt)


@pytest.mark.parametrize(("header", "message"), [
    ("", "the file is empty"),
    ("event_id,ts,site", "no `type` column"),
    ("type,event_id,qtty", "column 'qtty' is no field of any v1 event type"),
    ("type,item,item", "names column 'item' twice"),
    ("type,,item", "a column without a name"),
])
def test_an_unusable_header_refuses_the_whole_file(header: str, message: str) -> None:
    with pytest.raises(CsvHeaderError, match=message.replace("`", ".")):
        records(f"{header}\nreceipt,r1\n" if header else "")
