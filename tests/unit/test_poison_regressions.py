"""Inputs that crashed the engine or vanished, as the fuzzers found them (tests/unit/test_fuzz_*.py), kept as
literals.  Each names what broke; each now gives a rejection with a reason, and the engine goes on."""

from __future__ import annotations

import datetime as dt
import json
from array import array

import pytest

from core import netting
from core.engine import Engine, EngineSettings
from helpers import SITE, mk, new_engine, q, rejected
from millstream.settings import Settings
from schemas.codecs import decode_message
from streams.processor import InRecord, Processor

GOOD = b'{"type":"receipt","event_id":"good","ts":"2026-03-02T09:00:00Z","site":"S1","item":"RAW-A","qty":1,"lot":"G"}'


def _one_rejection(engine: Engine, data: bytes) -> str:
    outputs = engine.apply(decode_message(data, source="regression")) + engine.finish()
    bad = rejected(outputs)
    assert len(bad) == 1, [b.reason for b in bad]
    return bad[0].reason


def _still_works(engine: Engine) -> None:
    assert not rejected(engine.apply(decode_message(GOOD)))
    assert engine.sites[SITE].stock.lot_qty("RAW-A", "G", "available") == q(1)


@pytest.mark.parametrize("data", [
    # OverflowError in Engine._remember: ts + dedup_window beyond datetime.max
    b'{"type":"count","event_id":"f-0","ts":"9999-12-31T23:59:59.999999Z","site":"S1","item":"RAW-A","lot":"L1",'
    b'"counted_qty":0}',
    # OverflowError in SiteState.today: a time of year 1 that is year 0 in UTC
    b'{"type":"receipt","event_id":"r4","ts":"0001-01-01T00:00:00+14:00","site":"S1","item":"RAW-A","qty":1,'
    b'"lot":"L"}',
    # after datetime.max in UTC: waited for the watermark forever, and vanished at the end of input
    b'{"type":"receipt","event_id":"r3","ts":"9999-12-31T23:59:59-23:00","site":"S1","item":"RAW-A","qty":1,'
    b'"lot":"L"}',
])
def test_event_times_off_the_calendar_are_rejected(data: bytes) -> None:
    engine = new_engine()
    assert _one_rejection(engine, data).startswith("event time out of range: ")
    _still_works(engine)


def test_an_event_time_off_the_calendar_does_not_vanish_in_the_service() -> None:
    processor = Processor(Engine(EngineSettings(local_transfers=False)), Settings())
    value = b'{"type":"receipt","event_id":"r3","ts":"9999-12-31T23:59:59-23:00","site":"S1","item":"A","qty":1,' \
            b'"lot":"L"}'
    out = processor.process([InRecord("millstream.inventory", 0, 0, value)],
                            highwaters={("millstream.inventory", 0): 1})
    out += processor.finish()
    assert [json.loads(r.value)["reason"][:24] for r in out] == ["event time out of range:"]
    assert processor.engine.held() == 0


def test_a_production_order_starting_before_year_one_is_rejected() -> None:
    # OverflowError in SiteState._production_order: due - lead time before date.min
    engine = new_engine()
    reason = _one_rejection(engine, b'{"type":"production_order","event_id":"p1","ts":"2026-03-02T09:00:00Z",'
                                    b'"site":"S1","order_id":"MO1","item":"FG","qty":1,"due":"0001-01-01"}')
    assert reason == "production order 'MO1' would start before 0001-01-01: due 0001-01-01 minus 2 days of lead time"
    _still_works(engine)


def test_a_bom_yield_below_the_resolution_is_rejected() -> None:
    # ValueError in the kernel (ZeroDivisionError in its twin) at the next plan: yield 1e-5 % is 0 at 1e-4 %
    engine = new_engine()
    reason = _one_rejection(engine, b'{"type":"bom","event_id":"b9","ts":"2026-03-02T09:00:00Z","item":"SUB",'
                                    b'"components":[{"item":"RAW-A","qty_per":1}],"yield_pct":1e-05}')
    assert reason == "BOM for 'SUB': yield_pct 1e-05 is below the 0.0001 % resolution"
    assert not rejected(engine.apply([mk("demand", demand_id="D1", item="SUB", qty=3)]))   # plans with the old BOM
    _still_works(engine)


@pytest.mark.parametrize("kind", ["python", "cython"])
def test_a_tiny_maximum_lot_size_against_a_huge_requirement_gives_a_bounded_number_of_orders(kind: str) -> None:
    # MemoryError in the kernel (the twin ran for ever): item P with min_multiple, max_qty 3.5, multiple 1e9
    # and safety stock 2e8 units asked for 5.7e7 planned orders; max_qty 1e-6 against 1e9 units for 1e15
    kernel = netting.load(kind)
    today = dt.date(2026, 3, 2).toordinal()
    for max_qty, multiple, need in ((3_500_000, 10**15, 2 * 10**14), (1, 0, 10**15)):
        planned = kernel.net_item(today, 0, need, 0, kernel.MIN_MULTIPLE, 0, 0, max_qty, multiple, 1, 0.0, 0.0,
                                  array("q"), array("q"), array("q"), array("q"))
        assert 1 <= len(planned) <= kernel.MAX_SPLIT
        assert sum(order[2] for order in planned) >= need   # still covered


def test_stock_beyond_64_bits_still_plans() -> None:
    # OverflowError in Planner._load: 9,300 receipts of 1e9 units put 9.3e18 micro-units in one item,
    # more than the kernel's int64 on_hand holds; the worker crashed on every restart
    engine = new_engine()
    events = [mk("receipt", item="RAW-A", qty=1e9, lot="L1") for _ in range(9300)]
    assert not rejected(engine.apply(events))
    assert engine.sites[SITE].stock.physical("RAW-A") == 9300 * q(1e9)   # the ledger stays exact
    assert not rejected(engine.apply([mk("demand", demand_id="D1", item="RAW-A", qty=5)]))


def test_an_event_sent_again_after_the_dedup_window_is_not_applied_twice() -> None:
    # applied twice: its id was forgotten once the site's clock passed its time + 30 days
    engine = new_engine()
    first = mk("receipt", item="RAW-A", qty=5, lot="L1", event_id="old-1", ts=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    later = mk("receipt", item="RAW-A", qty=1, lot="L2", ts=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert not rejected(engine.apply([first, later]))
    (bad,) = rejected(engine.apply([first]))
    assert bad.reason.startswith("event too old for de-duplication: 2026-01-01T00:00:00+00:00 is more than 30 days")
    assert engine.sites[SITE].stock.physical("RAW-A") == q(6)


def test_an_envelope_without_events_does_not_vanish() -> None:
    # decoded to no event at all: nothing applied, nothing rejected, the message gone without a trace
    (bad,) = decode_message(b'{"type":"envelope","site":"S1","events":[]}', source="t")
    assert bad.reason == "envelope of site 'S1' holds no events" and bad.source == "t"


def test_a_whitespace_message_is_an_empty_message() -> None:
    # decoded as msgpack integers: "Expected `object`, got `int`", which sent readers looking for a number
    (bad,) = decode_message(b" \n", source="t")
    assert bad.reason == "empty message"
