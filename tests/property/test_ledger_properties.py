"""Properties of the ledger over random event sequences.

Sequences mix receipts, issues, material issues, outputs, counts, quality moves, scraps,
transfers, production orders (created, released, re-sized, closed, cancelled) and re-sent
duplicates over two sites, three items and three lots.  Events that refer to an order only
refer to one created earlier (or to one that never exists), so an accepted event is applied in
sequence order unless it names a lot its site has not seen yet: then it waits for the event that
brings the lot, as the engine parks it, and the independent model replays the accepted ones so.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections import defaultdict
from fractions import Fraction
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.engine import Engine
from core.quantity import SCALE
from core.reports import report
from helpers import bom, item, mk, rejected, to_json
from schemas import events as ev
from schemas.codecs import decode_message, decode_output, encode_json
from schemas.outputs import Rejected

SITES = ("S1", "S2")
ITEMS = ("A", "B", "P")
LOTS = ("L1", "L2", "L3")
STATUSES = ev.STATUSES
REPORTS = ("stock", "availability", "orders")
START = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))

# P = 2 x A (10 % scrap) + 1 x K, yield 95 %;  K is a phantom = 3 x B.
MASTER = [
    item("A", event_id="m-1", ts=START), item("B", event_id="m-2", ts=START),
    item("P", "make", event_id="m-3", ts=START), item("K", "make", event_id="m-4", ts=START),
    bom("P", [("A", 2, 10), ("K", 1)], yield_pct=95, event_id="m-5", ts=START),
    bom("K", [("B", 3)], phantom=True, event_id="m-6", ts=START),
]
BOMS = {"P": ([("A", 2, 10), ("K", 1, 0)], 95), "K": ([("B", 3, 0)], 100)}
PHANTOMS = {"K"}

PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

small_qty = st.integers(1, 12).map(lambda n: n / 4)
large_qty = st.integers(4, 80).map(lambda n: n / 4)
order_qty = st.integers(1, 8).map(lambda n: n / 2)
KINDS = ("receipt", "receipt", "receipt", "issue", "material_issue", "material_issue", "material_issue", "output",
         "count", "quality", "scrap", "ship", "receive", "order_new", "order_new", "order_update",
         "operation_report", "dup", "dup_changed")
MOVES = {"available": ("blocked", "qc_pending"), "qc_pending": ("available", "blocked", "rejected", "rework"),
         "blocked": ("available", "rejected"), "rejected": ("rework",), "rework": ("qc_pending", "rejected")}


@st.composite
def sequences(draw: Any) -> list[Any]:
    """A random list of events with unique ids (except deliberate duplicates).

    Events that take stock mostly name a (site, item, lot, status) that was booked before,
    so that a fair share of them is accepted.
    """
    events: list[Any] = []
    orders: dict[str, list[str]] = {s: [] for s in SITES}
    all_orders: list[tuple[str, str]] = []
    shipments: list[tuple[str, str, str, str, float]] = []
    booked: list[tuple[str, str, str, str]] = []
    now = START
    for number in range(draw(st.integers(1, 45))):
        now += dt.timedelta(minutes=draw(st.integers(-30, 240)))
        kind = draw(st.sampled_from(KINDS))
        if booked and draw(st.integers(0, 3)):
            site, item_name, lot, status = draw(st.sampled_from(booked))
        else:
            site, item_name = draw(st.sampled_from(SITES)), draw(st.sampled_from(ITEMS))
            lot, status = draw(st.sampled_from(LOTS)), draw(st.sampled_from(STATUSES))
        order = "MO-NONE"
        if kind in ("material_issue", "output", "operation_report") and all_orders and draw(st.integers(0, 9)):
            site, order = draw(st.sampled_from(all_orders))
            here = [b for b in booked if b[0] == site and b[3] == "available"]
            if here and draw(st.integers(0, 3)):
                _, item_name, lot, status = draw(st.sampled_from(here))
        common = {"event_id": f"g-{number}", "ts": now, "site": site}
        if kind == "receive" and not shipments:
            kind = "receipt"
        if kind in ("material_issue", "output") and not all_orders and draw(st.booleans()):
            kind = "order_new"
        if kind == "order_update" and not orders[site]:
            kind = "order_new"
        if kind in ("dup", "dup_changed") and not events:
            kind = "receipt"
        if kind == "receipt":
            status = draw(st.sampled_from(("available", "available", "qc_pending")))
            booked.append((site, item_name, lot, status))
            event = mk("receipt", item=item_name, qty=draw(large_qty), lot=lot, status=status, **common)
        elif kind == "issue":
            event = mk("issue", item=item_name, qty=draw(small_qty), lot=draw(st.sampled_from((None, lot))),
                       **common)
        elif kind == "material_issue":
            event = mk("material_issue", order_id=order, item=item_name, qty=draw(small_qty),
                       lot=draw(st.sampled_from((None, lot))), **common)
        elif kind == "output":
            status = draw(st.sampled_from(("qc_pending", "available")))
            booked.append((site, "P", lot, status))
            event = mk("output", order_id=order, good_qty=draw(st.integers(0, 6)) / 2,
                       scrap_qty=draw(st.sampled_from((0, 0, 0.5))), lot=lot, status=status, **common)
        elif kind == "count":
            event = mk("count", item=item_name, lot=lot, counted_qty=draw(st.integers(0, 40)) / 4, status=status,
                       **common)
        elif kind == "quality":
            to_status = draw(st.sampled_from(MOVES[status] if draw(st.integers(0, 4)) else STATUSES))
            booked.append((site, item_name, lot, to_status))
            event = mk("quality", item=item_name, lot=lot, qty=draw(small_qty), from_status=status,
                       to_status=to_status, **common)
        elif kind == "scrap":
            event = mk("scrap", item=item_name, lot=lot, qty=draw(small_qty), status=status, **common)
        elif kind == "ship":
            to_site = next(s for s in SITES if s != site)
            shipment = (f"T-{number}", to_site, item_name, lot, draw(small_qty))
            shipments.append(shipment)
            booked.append((to_site, item_name, lot, "available"))
            event = mk("transfer_shipped", transfer_id=shipment[0], to_site=to_site, item=item_name, lot=lot,
                       qty=shipment[4], **common)
        elif kind == "receive":
            transfer_id, to_site, item_name, ship_lot, qty = draw(st.sampled_from(shipments))
            event = mk("transfer_received", transfer_id=transfer_id, item=item_name, lot=ship_lot, qty=qty,
                       **{**common, "site": to_site})
        elif kind == "order_new":
            order_id = f"MO-{number}"
            orders[site].append(order_id)
            all_orders.append((site, order_id))
            event = mk("production_order", order_id=order_id, item="P", qty=draw(order_qty),
                       status=draw(st.sampled_from(("planned", "released", "released"))), **common)
        elif kind == "order_update":
            event = mk("production_order", order_id=draw(st.sampled_from(orders[site])), item="P",
                       qty=draw(order_qty), status=draw(st.sampled_from(("planned", "released", "released",
                                                                          "closed", "cancelled"))), **common)
        elif kind == "operation_report":
            event = mk("operation_report", order_id=order, operation="asm", minutes=draw(st.integers(0, 90)),
                       **common)
        else:
            # Re-send an earlier event (shipments excluded: see the module docstring).
            original = draw(st.sampled_from(events))
            if isinstance(original, ev.TransferShipped):
                original = events[0]
            changes = {}
            if kind == "dup_changed" and hasattr(original, "qty") and not isinstance(original, ev.TransferShipped):
                changes = {"qty": original.qty + 1}
            event = msgspec.structs.replace(original, **changes)
        events.append(event)
    return events


@st.composite
def splits(draw: Any, events: list[Any]) -> list[list[Any]]:
    cuts = sorted(draw(st.sets(st.integers(0, len(events)), max_size=6)))
    bounds = [0, *cuts, len(events)]
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


def _run(batches: list[list[Any]]) -> tuple[Engine, list[Any]]:
    engine = Engine()
    outputs = list(engine.apply(MASTER))
    for batch in batches:
        outputs += engine.apply(batch)
    outputs += engine.finish()
    return engine, outputs


def _reports(engine: Engine) -> dict[str, bytes]:
    return {name: encode_json(report(engine, name)) for name in REPORTS}


# --- the independent model ------------------------------------------------------------------


def _fixed(value: float) -> int:
    return round(Fraction(value) * SCALE)


def _explode(parent: str, qty: int, into: dict[str, int]) -> None:
    lines, yield_pct = BOMS[parent]
    for component, qty_per, scrap in lines:
        need = math.ceil(Fraction(qty) * qty_per * Fraction(100 + scrap, 100) / Fraction(yield_pct, 100))
        if component in PHANTOMS:
            _explode(component, need, into)
        else:
            into[component] = into.get(component, 0) + need


class Model:
    def __init__(self) -> None:
        self.qty: dict[str, dict[tuple[str, str, str], int]] = defaultdict(dict)
        self.lots: dict[str, dict[str, dict[str, None]]] = defaultdict(lambda: defaultdict(dict))
        self.moves: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
        self.orders: dict[str, dict[str, Any]] = {}

    def book(self, site: str, item_name: str, lot: str, status: str, delta: int, kind: str) -> None:
        key = (item_name, lot, status)
        self.qty[site][key] = self.qty[site].get(key, 0) + delta
        self.lots[site][item_name].setdefault(lot, None)
        self.moves[site][(item_name, kind)] += delta

    def take(self, site: str, item_name: str, lot: str | None, qty: int, kind: str) -> None:
        if lot is not None:
            self.book(site, item_name, lot, "available", -qty, kind)
            return
        for candidate in list(self.lots[site][item_name]):
            have = self.qty[site].get((item_name, candidate, "available"), 0)
            if have > 0 and qty:
                take = min(have, qty)
                self.book(site, item_name, candidate, "available", -take, kind)
                qty -= take
        assert qty == 0, "an accepted issue was not covered by stock"

    def apply(self, e: Any) -> None:
        site = e.site
        if isinstance(e, ev.Receipt):
            self.book(site, e.item, e.lot, e.status, _fixed(e.qty), "receipt")
        elif isinstance(e, ev.Issue):
            self.take(site, e.item, e.lot, _fixed(e.qty), "issue")
        elif isinstance(e, ev.MaterialIssue):
            self.take(site, e.item, e.lot, _fixed(e.qty), "material_issue")
            issued = self.orders[e.order_id]["issued"]
            issued[e.item] = issued.get(e.item, 0) + _fixed(e.qty)
        elif isinstance(e, ev.Scrap):
            self.book(site, e.item, e.lot, e.status, -_fixed(e.qty), "scrap")
        elif isinstance(e, ev.TransferShipped):
            self.book(site, e.item, e.lot, "available", -_fixed(e.qty), "transfer_out")
        elif isinstance(e, ev.TransferReceived):
            self.book(site, e.item, e.lot, "available", _fixed(e.qty), "transfer_in")
        elif isinstance(e, ev.Count):
            difference = _fixed(e.counted_qty) - self.qty[site].get((e.item, e.lot, e.status), 0)
            if difference:
                self.book(site, e.item, e.lot, e.status, difference, "adjustment")
        elif isinstance(e, ev.Quality):
            self.book(site, e.item, e.lot, e.from_status, -_fixed(e.qty), "quality")
            self.book(site, e.item, e.lot, e.to_status, _fixed(e.qty), "quality")
        elif isinstance(e, ev.Output):
            if e.good_qty:
                self.book(site, self.orders[e.order_id]["item"], e.lot, e.status, _fixed(e.good_qty), "output")
        elif isinstance(e, ev.ProductionOrder):
            order = self.orders.setdefault(e.order_id, {"item": e.item, "site": site, "issued": {}})
            order["status"], order["qty"] = e.status, _fixed(e.qty)

    def replay(self, accepted: list[Any]) -> None:
        """Apply accepted events in the engine's order: one naming a lot its site has not seen waits for the
        event that brings the lot and goes right after it (the engine parks it: ``SiteState._require_lot``)."""
        waiting: dict[tuple[str, str, str], list[Any]] = defaultdict(list)

        def run(e: Any) -> None:
            if isinstance(e, _NEEDS_LOT) and e.lot is not None and e.lot not in self.lots[e.site][e.item]:
                waiting[(e.site, e.item, e.lot)].append(e)
                return
            self.apply(e)
            for parked in waiting.pop(self._brings(e), []) if isinstance(e, _BRINGS_LOT) else ():
                run(parked)

        for event in accepted:
            run(event)
        assert not waiting, f"accepted events never found their lots: {dict(waiting)}"

    def _brings(self, e: Any) -> tuple[str, str, str]:
        """The (site, item, lot) an applied receipt, transfer receipt, count or output names."""
        item_name = self.orders[e.order_id]["item"] if isinstance(e, ev.Output) else e.item
        return (e.site, item_name, e.lot)

    def reserved(self, site: str) -> dict[str, int]:
        total: dict[str, int] = defaultdict(int)
        for order in self.orders.values():
            if order["site"] == site and order["status"] == "released":
                required: dict[str, int] = {}
                _explode(order["item"], order["qty"], required)
                for component, need in required.items():
                    total[component] += max(0, need - order["issued"].get(component, 0))
        return {k: v for k, v in total.items() if v}


_NEEDS_LOT = (ev.Issue, ev.MaterialIssue, ev.Scrap, ev.TransferShipped, ev.Quality)
_BRINGS_LOT = (ev.Receipt, ev.TransferReceived, ev.Count, ev.Output)


def _accepted(events: list[Any], outputs: list[Any]) -> list[Any]:
    refused = {id(out.event) for out in rejected(outputs)}
    return [e for e in events if id(e) not in refused]


# --- properties -----------------------------------------------------------------------------


def _check_engine_invariants(engine: Engine) -> None:
    for state in engine.sites.values():
        stock = state.stock
        assert all(v > 0 for v in stock.qty.values()), "negative or zero stock line with negative stock off"
        for item_name in {*stock.by_item, *stock.moves}:
            moved = sum(stock.moves.get(item_name, {}).values())
            lines = sum(v for (i, _, _), v in stock.qty.items() if i == item_name)
            assert stock.physical(item_name) == moved == lines
        need: dict[str, int] = defaultdict(int)
        for order in state.production.values():
            if order.status == "released":
                for component, required in order.required.items():
                    need[component] += max(0, required - order.issued.get(component, 0))
        assert all(v >= 0 for v in stock.reserved.values())
        assert stock.reserved == {k: v for k, v in need.items() if v}


@PROPERTY_SETTINGS
@given(sequences())
def test_conservation_and_reservations_match_an_independent_model(events):
    engine = Engine()
    outputs = list(engine.apply(MASTER))
    for event in events:
        outputs += engine.apply([event])
        _check_engine_invariants(engine)
    outputs += engine.finish()
    model = Model()
    model.replay(_accepted(events, outputs))
    for site in SITES:
        state = engine.sites.get(site)
        stock_lines = dict(state.stock.qty) if state else {}
        assert stock_lines == {k: v for k, v in model.qty[site].items() if v}
        engine_moves = {(i, kind): v for i, moves in (state.stock.moves.items() if state else ())
                        for kind, v in moves.items() if v}
        assert engine_moves == {k: v for k, v in model.moves[site].items() if v}
        for item_name in ITEMS:
            physical = state.stock.physical(item_name) if state else 0
            assert physical == sum(v for (i, _), v in model.moves[site].items() if i == item_name)
        assert (dict(state.stock.reserved) if state else {}) == model.reserved(site)


@PROPERTY_SETTINGS
@given(st.data())
def test_same_events_give_same_results_whatever_the_batches(data):
    events = data.draw(sequences())
    engine_a, out_a = _run([events])
    engine_b, out_b = _run(data.draw(splits(events)))
    engine_c, out_c = _run([[decode_message(encode_json(e))[0] for e in events]])
    assert _reports(engine_a) == _reports(engine_b) == _reports(engine_c)
    assert to_json(rejected(out_a)) == to_json(rejected(out_b)) == to_json(rejected(out_c))


@PROPERTY_SETTINGS
@given(st.data())
def test_resending_applied_events_changes_nothing(data):
    events = data.draw(sequences())
    engine, outputs = _run([events])
    before = _reports(engine)
    accepted = _accepted(events, outputs) + MASTER
    chosen = data.draw(st.lists(st.sampled_from(accepted), max_size=20)) if accepted else []
    resent = [msgspec.structs.replace(e) for e in chosen]
    again = engine.apply(resent) + engine.finish()
    bad = rejected(again)
    assert len(bad) == len(resent)
    assert all("duplicate event_id" in b.reason for b in bad)
    assert _reports(engine) == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
msgpack_keys = st.none() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8) | st.binary(max_size=4)
msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=20)
    | st.binary(max_size=8) | st.builds(msgspec.msgpack.Ext, st.integers(0, 127), st.binary(max_size=4)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
_VALID = encode_json(MASTER[0]), msgspec.msgpack.encode(msgspec.to_builtins(MASTER[4]))


@st.composite
def mutated(draw: Any) -> bytes:
    data = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


messages = (st.binary(max_size=300)
            | json_values.map(lambda v: json.dumps(v).encode())
            | st.dictionaries(st.sampled_from(("type", "event_id", "ts", "site", "item", "qty", "lot", "events")),
                              json_values, max_size=7).map(lambda d: json.dumps({"type": "receipt", **d}).encode())
            | msgpack_values.map(msgspec.msgpack.encode)
            | mutated())


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(messages)
def test_decoding_never_raises(data):
    decoded = decode_message(data, source="fuzz")
    assert isinstance(decoded, list) and decoded
    assert all(isinstance(d, Rejected) or type(d) in ev.InputEvent.__args__ for d in decoded)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(json_values.map(lambda v: json.dumps(v).encode()) | msgpack_values.map(msgspec.msgpack.encode))
def test_decoder_rejections_can_be_published_as_json(data):
    """Well-formed JSON or msgpack that is not an event: the rejection must be JSON-encodable."""
    outputs = decode_message(data, source="fuzz")
    for out in rejected(outputs):
        assert isinstance(decode_output(encode_json(out)), Rejected)
