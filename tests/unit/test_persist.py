"""Durable rows of a site (core/persist.py): written per batch for what changed, read back whole."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.engine import Engine, EngineSettings
from core.persist import IDS_PER_ROW, RestoreError, SiteRow, StateRows, fold_rows, site_of
from core.reports import REPORTS, report
from core.site import SiteSettings, SiteState
from helpers import SITE, advance, apply_ok, bom, master_data, mk, q, rejected, to_json
from millstream.settings import Settings
from schemas import events as ev
from schemas.codecs import decode_message, decode_output, encode_json
from streams.processor import InRecord, Processor

SAMPLE = Path(__file__).resolve().parents[2] / "millstream" / "samples" / "hearing_devices.jsonl"
Table = dict[str, bytes]


def tracked(**settings: Any) -> tuple[Engine, StateRows]:
    engine = Engine(EngineSettings(track_changes=True, **settings))
    return engine, StateRows(engine)



def restore_all(rows: StateRows, table: Table) -> list[Any]:
    by_site: dict[str, list[tuple[str, bytes]]] = {}
    for key, value in table.items():
        by_site.setdefault(site_of(key), []).append((key, value))
    out: list[Any] = []
    for site, site_rows in by_site.items():
        out += rows.restore(site, site_rows)
    return out


def reports(engine: Engine) -> dict[str, bytes]:
    return {name: encode_json(report(engine, name)) for name in REPORTS}


def setup(*events: Any) -> tuple[Engine, StateRows, Table]:
    """A tracked engine with the test master data and ``events`` applied, its rows folded."""
    engine, rows = tracked()
    apply_ok(engine, *master_data())
    apply_ok(engine, *events)
    return engine, rows, fold_rows({}, rows.changed())


def restored(table: Table, master: list[Any] | None = None, **settings: Any) -> tuple[Engine, StateRows]:
    engine, rows = tracked(**settings)
    apply_ok(engine, *(master_data() if master is None else master))
    restore_all(rows, table)
    return engine, rows


def _remembered(table: Any) -> dict[str, tuple[int, int]]:
    """Each remembered id with the hour and microseconds of its expiry."""
    return {i: (table.hour_of(i), table.micros_of(i)) for i in table}


def _sample_events() -> list[Any]:
    return [e for line in SAMPLE.read_bytes().splitlines() if line.strip() for e in decode_message(line)]


def _batches(events: list[Any], size: int = 7) -> list[list[Any]]:
    return [events[i:i + size] for i in range(0, len(events), size)]


# --- the sample, split anywhere -----------------------------------------------------------------


@pytest.mark.parametrize("cut", [12, 30, 52, 70, 90, 104])
def test_sample_restored_at_a_split_reports_like_one_engine(cut: int) -> None:
    """A applies every batch; B the first part, whose rows C restores before applying the rest."""
    events = _sample_events()
    head, tail = _batches(events[:cut]), _batches(events[cut:])
    whole = Engine()
    for batch in head + tail:
        whole.apply(batch)
    first, rows = tracked()
    table: Table = {}
    for batch in head:
        first.apply(batch)
        fold_rows(table, rows.changed())
        for site in first.sites:   # the folded rows are the state, whatever the batches
            assert table_of(table, site) == rows.current_rows(site)
    second, rows_c = tracked()
    second.apply([e for e in events[:cut] if isinstance(e, ev.MASTER_TYPES)])
    restore_all(rows_c, table)
    for batch in tail:
        second.apply(batch)
    assert reports(second) == reports(whole)
    assert to_json(rejected(second.finish())) == to_json(rejected(whole.finish()))


def table_of(table: Table, site: str) -> Table:
    return {k: v for k, v in table.items() if site_of(k) == site and k.split("|")[1] != "ids"}


# --- what a batch writes ------------------------------------------------------------------------


def test_a_receipt_writes_its_item_row_the_site_row_and_its_id_only() -> None:
    engine, rows, _ = setup(mk("receipt", item="RAW-A", qty=5, lot="A1"), mk("receipt", item="RAW-B", qty=5, lot="B1"))
    apply_ok(engine, mk("receipt", item="RAW-A", qty=1, lot="A2"))
    changed = rows.changed()
    assert set(changed) == {f"{SITE}|item|RAW-A", f"{SITE}|site", f"{SITE}|ids|1"}
    assert rows.changed() == {}   # nothing new since


def test_an_order_writes_its_own_row_and_the_items_it_reserves() -> None:
    engine, rows, _ = setup(mk("receipt", item="RAW-A", qty=50, lot="A1"))
    apply_ok(engine, mk("production_order", order_id="MO-1", item="SUB", qty=5))
    assert {k.split("|", 1)[1] for k in rows.changed()} == {"prod|MO-1", "item|RAW-A", "site", "ids|1"}
    apply_ok(engine, mk("operation_report", order_id="MO-1", operation="asm", minutes=30))
    assert {k.split("|", 1)[1] for k in rows.changed()} == {"prod|MO-1", "site", "ids|2"}


def test_a_rejected_event_writes_nothing() -> None:
    engine, rows, _ = setup(mk("receipt", item="RAW-A", qty=5, lot="A1"))
    assert rejected(engine.apply([mk("issue", item="RAW-A", qty=50)]))
    assert rows.changed() == {}


def test_an_item_row_left_empty_is_deleted() -> None:
    """A released order reserves RAW-A, which has no stock; cancelling it leaves nothing to keep."""
    engine, rows, table = setup(mk("production_order", order_id="MO-1", item="SUB", qty=5))
    assert f"{SITE}|item|RAW-A" in table
    apply_ok(engine, mk("production_order", order_id="MO-1", item="SUB", qty=5, status="cancelled"))
    changed = rows.changed()
    assert changed[f"{SITE}|item|RAW-A"] is None
    assert f"{SITE}|prod|MO-1" in changed  # orders stay (the engine keeps closed and cancelled ones)


def test_touching_an_item_without_a_row_deletes_nothing() -> None:
    engine, rows, _ = setup()
    apply_ok(engine, mk("demand", demand_id="SO-1", item="FG", qty=3))
    assert set(rows.changed()) == {f"{SITE}|demand|SO-1", f"{SITE}|site", f"{SITE}|ids|0"}


def test_a_parked_event_has_a_row_until_its_reference_arrives() -> None:
    engine, rows, _ = setup(mk("receipt", item="RAW-B", qty=20, lot="B1"))
    engine.apply([mk("material_issue", order_id="MO-1", item="RAW-B", qty=2)])
    changed = rows.changed()
    assert f"{SITE}|parked|production order|MO-1" in changed
    apply_ok(engine, mk("production_order", order_id="MO-1", item="FG", qty=10))
    changed = rows.changed()
    assert changed[f"{SITE}|parked|production order|MO-1"] is None
    assert changed[f"{SITE}|prod|MO-1"] is not None


def test_ids_rows_are_deleted_once_every_id_in_them_is_past_the_window() -> None:
    engine, rows, table = setup(mk("receipt", item="RAW-A", qty=5, lot="A1"))
    assert f"{SITE}|ids|0" in table
    advance(days=31)
    apply_ok(engine, mk("receipt", item="RAW-A", qty=1, lot="A1"))
    changed = rows.changed()
    assert changed[f"{SITE}|ids|0"] is None and changed[f"{SITE}|ids|1"] is not None


def test_a_batch_of_many_events_writes_its_ids_in_rows_that_fit_a_kafka_message() -> None:
    """Regression (soak): a batch of envelopes carries tens of thousands of events; their ids in one row made a
    1.1 MB changelog record, over Kafka's 1 MiB limit, and the worker crashed on every restart."""
    count = 2 * IDS_PER_ROW + 7
    receipts = [mk("receipt", item="RAW-A", qty=1, lot=f"L{n}", event_id=f"receipt-{n:06d}-{'x' * 24}")
                for n in range(count)]
    engine, _rows, table = setup(*receipts)
    ids_rows = {k: v for k, v in table.items() if k.split("|")[1] == "ids"}
    assert sorted(ids_rows) == [f"{SITE}|ids|{n}" for n in range(3)]   # one batch, three rows
    assert max(len(v) for v in ids_rows.values()) < 400_000
    again, _ = restored(table)
    assert _remembered(again._ids[SITE].seen) == _remembered(engine._ids[SITE].seen)
    assert len([i for i in again._ids[SITE].seen if i.startswith("receipt-")]) == count
    resent = receipts[IDS_PER_ROW + 3]
    assert [r.reason for r in rejected(again.apply([resent]))] == [
        f"duplicate event_id '{resent.event_id}': already applied"]


def test_many_events_waiting_for_the_watermark_are_cut_into_rows_that_fit_a_kafka_message() -> None:
    """Regression (soak): a backlog held 3 MB of events back for one site, one row, and the worker crashed."""
    engine, rows, table = setup(mk("receipt", item="RAW-A", qty=5, lot="A1"))
    waiting = [mk("receipt", item="RAW-A", qty=1, lot=f"L{n:05d}-{'y' * 150}") for n in range(3000)]
    engine.hold(SITE, [(event, f"inventory[0]@{number}", ("inventory", 0, number, 0))
                       for number, event in enumerate(waiting)])
    changed = rows.changed()
    held = {k: v for k, v in changed.items() if k.split("|")[1] == "held"}
    assert len(held) >= 3 and max(len(v or b"") for v in held.values()) < 400_000
    table = fold_rows(table, changed)
    assert table_of(table, SITE) == rows.current_rows(SITE)   # the rows written are the rows of the state
    again, again_rows = restored(table)
    assert again.held() == 3000
    assert [h.event for *_, h in again._held[SITE]] == waiting   # kept in release order
    assert again_rows.current_rows(SITE) == rows.current_rows(SITE)
    engine.apply([], watermark=lambda _site: dt.datetime.max.replace(tzinfo=dt.UTC))
    released = rows.changed()
    assert engine.held() == 0 and all(released[key] is None for key in held)


def test_events_held_out_of_time_order_keep_their_rows_through_a_restore_and_a_partial_release() -> None:
    """A restore holds a site's waiting events in row order (batch by batch), not time order: each must keep its
    own row, or a release deletes the row of an event still waiting (lost at the next restart)."""
    engine, rows, table = setup(mk("receipt", item="RAW-A", qty=5, lot="A1"))
    start = mk("receipt", item="RAW-A", qty=1, lot="L").ts
    waiting = [mk("receipt", item="RAW-A", qty=1, lot=f"L{n}", ts=start + dt.timedelta(minutes=n)) for n in range(6)]
    for batch in (waiting[3:], waiting[:3]):   # the latest three wait first: their rows come first
        engine.hold(SITE, [(event, f"inventory[0]@{event.lot}", ("inventory", 0, int(event.lot[1:]), 0))
                           for event in batch])
        table = fold_rows(table, rows.changed())
    again, again_rows = restored(table)
    assert again_rows.current_rows(SITE) == rows.current_rows(SITE)
    again.apply([], watermark=lambda _site: waiting[2].ts)   # the three earliest go in
    assert again.held() == 3
    table = fold_rows(table, again_rows.changed())
    assert table_of(table, SITE) == again_rows.current_rows(SITE)   # the rows left are the waiting events'


# --- restore --------------------------------------------------------------------------------------


def test_restored_site_keeps_lots_in_first_receipt_order() -> None:
    engine, _, table = setup(mk("receipt", item="RAW-A", qty=2, lot="Z9"), mk("receipt", item="RAW-A", qty=2, lot="A1"),
                             mk("issue", item="RAW-A", qty=2))
    again, _ = restored(table)
    assert list(again.sites[SITE].stock.lots["RAW-A"]) == ["Z9", "A1"]
    apply_ok(engine, mk("receipt", item="RAW-A", qty=1, lot="Z9"), mk("issue", item="RAW-A", qty=1))
    apply_ok(again, mk("receipt", item="RAW-A", qty=1, lot="Z9", event_id="x"), mk("issue", item="RAW-A", qty=1))
    assert again.sites[SITE].stock.qty == engine.sites[SITE].stock.qty == {("RAW-A", "A1", "available"): q(2)}


def test_restored_site_still_refuses_an_event_it_applied() -> None:
    receipt = mk("receipt", item="RAW-A", qty=5, lot="A1")
    _, _, table = setup(receipt)
    again, _ = restored(table)
    [duplicate] = rejected(again.apply([receipt]))
    assert "duplicate event_id" in duplicate.reason


def test_restored_site_accepts_a_corrected_event_under_a_rejected_id() -> None:
    engine, rows, table = setup(mk("receipt", item="RAW-A", qty=5, lot="A1"))
    bad = mk("issue", item="RAW-A", qty=50)
    assert rejected(engine.apply([bad]))
    fold_rows(table, rows.changed())
    again, _ = restored(table)
    apply_ok(again, msgspec.structs.replace(bad, qty=1))


def test_an_id_forgotten_in_a_later_batch_stays_forgotten_after_restore() -> None:
    """A parked event's id is kept while it waits; when it expires, a later row forgets the id."""
    waiting = mk("material_issue", order_id="MO-9", item="RAW-B", qty=1)
    engine, rows, table = setup(mk("receipt", item="RAW-B", qty=5, lot="B1"), waiting)
    advance(hours=25)
    [expired] = rejected(engine.apply([mk("receipt", item="RAW-A", qty=1, lot="A1")]))
    assert expired.event == waiting
    changed = rows.changed()
    assert changed[f"{SITE}|parked|production order|MO-9"] is None
    fold_rows(table, changed)
    again, _ = restored(table)
    assert waiting.event_id not in again._ids[SITE].seen
    apply_ok(again, mk("production_order", order_id="MO-9", item="FG", qty=1), waiting)


def test_an_id_reused_after_a_rejection_is_remembered_for_its_own_window() -> None:
    """The rejected attempt's expiry must not forget the corrected event early, restored or not."""
    engine, rows, table = setup(mk("receipt", item="RAW-A", qty=5, lot="A1"))
    bad = mk("issue", item="RAW-A", qty=50)
    assert rejected(engine.apply([bad]))
    advance(days=10)
    corrected = msgspec.structs.replace(bad, qty=1, ts=advance(minutes=1))
    apply_ok(engine, corrected)
    advance(days=21)
    apply_ok(engine, mk("receipt", item="RAW-A", qty=1, lot="A1"))   # 31 days after the first attempt
    fold_rows(table, rows.changed())
    again, _ = restored(table)
    for one in (engine, again):
        [duplicate] = rejected(one.apply([corrected]))
        assert "duplicate event_id" in duplicate.reason


def test_parked_events_survive_a_restore_and_apply_when_their_order_arrives() -> None:
    waiting = mk("material_issue", order_id="MO-1", item="RAW-B", qty=2)
    _, _, table = setup(mk("receipt", item="RAW-B", qty=20, lot="B1"), waiting)
    again, rows = restored(table)
    apply_ok(again, mk("production_order", order_id="MO-1", item="FG", qty=10))
    assert again.sites[SITE].production["MO-1"].issued == {"RAW-B": q(2)}
    assert rows.changed()[f"{SITE}|parked|production order|MO-1"] is None
    assert not rejected(again.finish())


def test_a_restored_site_is_planned_at_once_with_its_standard_costs() -> None:
    engine, _, table = setup(mk("receipt", item="RAW-A", qty=50, lot="A1", unit_cost=2.0),
                             mk("demand", demand_id="SO-1", item="FG", qty=4))
    again, rows = tracked()
    apply_ok(again, *master_data())
    outputs = rows.restore(SITE, list(table.items()))
    assert {type(decode_output(encode_json(o))).__name__ for o in outputs} >= {"PlannedOrder", "Cost"}
    assert again.sites[SITE].standard_costs == engine.sites[SITE].standard_costs != {}
    assert reports(again) == reports(engine)


def test_restored_site_writes_the_same_rows_it_was_restored_from() -> None:
    engine, _, table = setup(mk("receipt", item="RAW-A", qty=50, lot="A1"),
                             mk("production_order", order_id="MO-1", item="SUB", qty=5),
                             mk("material_issue", order_id="MO-1", item="RAW-A", qty=10),
                             mk("output", order_id="MO-1", good_qty=2, lot="S1"),
                             mk("transfer_shipped", transfer_id="T-1", to_site="S2", item="RAW-A", qty=1, lot="A1"))
    again, rows = restored(table)
    for site in ("S1", "S2"):
        assert rows.current_rows(site) == table_of(table, site)
    state, before = again.sites[SITE], engine.sites[SITE]
    assert state.consumed_by == before.consumed_by and state.produced_by == before.produced_by
    assert state.item_refs.keys() == before.item_refs.keys()
    assert {k: set(v) for k, v in state.item_refs.items()} == {k: set(v) for k, v in before.item_refs.items()}
    assert rows.changed() == {}   # a restore is not a change


def test_restored_orders_share_their_bom_at_release_instead_of_a_copy_each() -> None:
    """Decoded, every order would hold a BOM of its own; restored, those of one BOM version are one object,
    the master's own when it is still the item's BOM."""
    changed = bom("SUB", [("RAW-A", 4, 10)], yield_pct=90)
    engine, _, table = setup(mk("receipt", item="RAW-A", qty=500, lot="A1"),
                             mk("production_order", order_id="MO-1", item="SUB", qty=5),
                             mk("production_order", order_id="MO-2", item="SUB", qty=6),
                             changed, mk("production_order", order_id="MO-3", item="SUB", qty=7),
                             mk("production_order", order_id="MO-4", item="FG", qty=1))
    again, _ = restored(table, master=[*master_data(), changed])
    orders, before = again.sites[SITE].production, engine.sites[SITE].production
    assert orders["MO-3"].bom is again.master.bom(SITE, "SUB")
    assert orders["MO-4"].bom is again.master.bom(SITE, "FG")   # its lines' scrap left at the default 0
    assert orders["MO-1"].bom is orders["MO-2"].bom
    assert orders["MO-1"].bom == before["MO-1"].bom != orders["MO-3"].bom
    assert [orders[o].bom.lines[0].qty_per for o in ("MO-1", "MO-3")] == [q(3), q(4)]


def test_a_receipt_booked_before_its_shipment_is_restored_and_completed_by_it() -> None:
    receipt = mk("transfer_received", site="S2", transfer_id="T-1", item="RAW-A", qty=1, lot="A1")
    engine, _, table = setup(mk("receipt", item="RAW-A", qty=5, lot="A1", unit_cost=2.0), receipt)
    again, rows = restored(table)
    assert again.sites["S2"].unannounced == 1 and not again.sites["S2"].inbound["T-1"].announced
    assert rows.current_rows("S2") == table_of(table, "S2")
    ship = mk("transfer_shipped", transfer_id="T-1", to_site="S2", item="RAW-A", qty=3, lot="A1")
    apply_ok(engine, ship)
    apply_ok(again, ship)
    assert reports(again) == reports(engine)
    assert again.sites["S2"].unannounced == 0 and again.sites["S2"].inbound["T-1"].open_qty == q(2)


def test_an_issue_waiting_for_its_lot_is_restored_and_goes_in_with_the_receipt() -> None:
    engine, _, table = setup(mk("issue", item="RAW-A", qty=2, lot="A7"))
    again, _ = restored(table)
    assert (SITE, "lot", "RAW-A/A7") in again._parked
    receipt = mk("receipt", item="RAW-A", qty=5, lot="A7")
    apply_ok(engine, receipt)
    apply_ok(again, receipt)
    assert again.sites[SITE].stock.lot_qty("RAW-A", "A7", "available") == q(3)
    assert reports(again) == reports(engine)


def test_restore_replaces_what_the_engine_held_for_the_site() -> None:
    _, _, table = setup(mk("receipt", item="RAW-A", qty=5, lot="A1"))
    engine, rows = restored(table)
    apply_ok(engine, mk("receipt", item="RAW-A", qty=7, lot="A9"))
    rows.restore(SITE, [(k, v) for k, v in table.items() if site_of(k) == SITE])
    assert engine.sites[SITE].stock.qty == {("RAW-A", "A1", "available"): q(5)}


def test_site_names_with_the_separator_are_escaped() -> None:
    site = "Plant|7%"
    _, _, table = setup(mk("receipt", site=site, item="RAW-A", qty=5, lot="A1"))
    assert {site_of(k) for k in table} == {site}
    assert all(k.startswith("Plant%7C7%25|") for k in table)
    again, _ = restored(table)
    assert again.sites[site].stock.physical("RAW-A") == q(5)


def test_site_specific_master_data_is_not_a_duplicate_after_a_restore() -> None:
    """Every worker reads master data whole; its ids are not the site's, so a re-read applies again."""
    local = mk("item", site=SITE, item="LOCAL", source="buy")
    _, _, table = setup(local, mk("receipt", item="LOCAL", qty=1, lot="L1"))
    engine, rows = tracked()
    restore_all(rows, table)
    apply_ok(engine, *master_data(), local)
    assert engine.master.known_item(SITE, "LOCAL")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("S1|widget|x", b"\x90", "unknown row kind 'widget'"),
    ("S1|item|RAW-A", b"\xc1garbage", "S1|item|RAW-A"),
    ("S1|item|RAW-A", msgspec.msgpack.encode([[["A1", {"mouldy": 5}]]]), "mouldy"),
    ("S2|item|RAW-A", msgspec.msgpack.encode([]), "not a row of site 'S1'"),
    ("S1|ids|first", msgspec.msgpack.encode([]), "not numbered"),
    ("S1|po|PO-1", msgspec.msgpack.encode({"po_id": "PO-2", "item": "A", "qty": 1, "due": "2026-01-01",
                                           "unit_price": None, "status": "open"}), "holds 'PO-2'"),
])
def test_a_row_that_cannot_be_read_back_is_refused_clearly(key: str, value: bytes, message: str) -> None:
    _, _, table = setup(mk("receipt", item="RAW-A", qty=5, lot="A1"))
    engine, rows = tracked()
    with pytest.raises(RestoreError, match=message.replace("|", r"\|")):
        rows.restore(SITE, [*table.items(), (key, value)])
    assert SITE not in engine.sites


def test_rows_without_a_site_row_or_of_another_format_are_refused() -> None:
    _, _, table = setup(mk("receipt", item="RAW-A", qty=5, lot="A1"))
    engine, rows = tracked()
    with pytest.raises(RestoreError, match=r"without the S1\|site row"):
        rows.restore(SITE, [(k, v) for k, v in table.items() if not k.endswith("|site")])
    future = msgspec.msgpack.encode([99])
    with pytest.raises(RestoreError, match="row format 99"):
        rows.restore(SITE, [*table.items(), (f"{SITE}|site", future)])
    assert rows.restore(SITE, []) == [] and SITE not in engine.sites


def test_drop_forgets_the_site_and_its_plan() -> None:
    engine, rows, _ = setup(mk("receipt", item="RAW-A", qty=5, lot="A1"),
                            mk("material_issue", order_id="MO-9", item="RAW-A", qty=1),
                            mk("demand", demand_id="SO-1", item="FG", qty=4))
    assert engine.planner is not None and SITE in engine.planner.plans
    rows.drop(SITE)
    assert SITE not in engine.sites and SITE not in engine._ids and SITE not in engine.planner.plans
    assert not any(key[0] == SITE for key in engine._parked)
    assert rows.changed() == {} and rows.applied_offset(SITE, "t", 0) == -1
    assert not rejected(engine.finish())


def test_rows_need_an_engine_that_tracks_changes() -> None:
    with pytest.raises(ValueError, match="track_changes"):
        StateRows(Engine())


def test_every_site_attribute_is_stored_or_derived() -> None:
    """A new attribute of the site record must be given a row (core/persist.py) or declared derived here."""
    state = SiteState("S", Engine().master, SiteSettings())
    stored = {"site", "clock", "stock", "production", "purchase", "demands", "inbound", "outbound", "order_inputs",
              "order_outputs", "counts", "avg_cost", "issued_value", "value_days", "value_sum", "first_day",
              "closed_orders", "history", "retired_due", "retired_late"}
    derived = {"master", "settings", "consumed_by", "produced_by", "item_refs", "alloc_refs", "standard_costs",
               "day_changed", "cost_dirty", "touched", "capacity_orders", "changed", "_handlers",
               "_std_now", "_std_master", "_std_graph", "unannounced",   # the valuation cache is rolled again on demand
               "_today",   # the clock's date, kept per clock
               "_shared"}   # one object per name and date: a restore shares the records' again
    assert set(vars(state)) == stored | derived
    assert {f.name for f in dataclasses.fields(state.counts)} == {"lines", "exact", "abs_difference", "book_total"}


# --- applied offsets ------------------------------------------------------------------------------


def _record(event: Any, offset: int, topic: str = "millstream.inventory") -> InRecord:
    return InRecord(topic, 0, offset, encode_json(event))


def test_processor_skips_records_a_restored_site_already_applied() -> None:
    settings = Settings()
    engine, rows = tracked(local_transfers=False)
    processor = Processor(engine, settings, rows)
    master = [_record(e, i, "millstream.master") for i, e in enumerate(master_data())]
    processor.process(master)
    receipts = [mk("receipt", item="RAW-A", qty=1, lot="A1") for _ in range(3)]
    processor.process([_record(receipts[0], 10), _record(receipts[1], 11)])
    table = fold_rows({}, rows.changed())
    assert rows.applied_offset(SITE, "millstream.inventory", 0) == 11
    # a new worker: master data read whole again, the site restored, the partition re-delivered from 10
    engine2, rows2 = tracked(local_transfers=False)
    processor2 = Processor(engine2, settings, rows2)
    processor2.process(master)
    restore_all(rows2, table)
    out = processor2.process([_record(receipts[0], 10), _record(receipts[1], 11), _record(receipts[2], 12)])
    assert not [r for r in out if r.topic == settings.topic("rejected")]   # no duplicate dead letters
    assert engine2.sites[SITE].stock.physical("RAW-A") == q(3)
    assert rows2.applied_offset(SITE, "millstream.inventory", 0) == 12
    site_row = msgspec.msgpack.decode(rows2.changed()[f"{SITE}|site"], type=SiteRow)
    assert site_row.offsets == [("millstream.inventory", 0, 12)]


def test_master_records_are_never_skipped() -> None:
    engine, rows = tracked(local_transfers=False)
    processor = Processor(engine, Settings(), rows)
    rows.record_offset(SITE, "millstream.master", 0, 100)
    processor.process([InRecord("millstream.master", 0, 5, encode_json(e)) for e in master_data()])
    assert "FG" in engine.master.items


def test_an_undecodable_record_is_dead_lettered_and_never_skipped() -> None:
    engine, rows = tracked(local_transfers=False)
    processor = Processor(engine, Settings(), rows)
    rows.record_offset(SITE, "millstream.inventory", 0, 100)
    out = processor.process([InRecord("millstream.inventory", 0, 5, b"{not json")])
    assert [r.topic for r in out] == [Settings().topic("rejected")]


def test_offsets_of_a_site_whose_records_were_all_rejected_are_still_written() -> None:
    engine, rows = tracked(local_transfers=False)
    processor = Processor(engine, Settings(), rows)
    processor.process([_record(e, i, "millstream.master") for i, e in enumerate(master_data())])
    out = processor.process([_record(mk("issue", item="RAW-A", qty=1), 3)])
    assert [r.topic for r in out] == [Settings().topic("rejected")]
    assert f"{SITE}|site" in rows.changed()
    assert rows.applied_offset(SITE, "millstream.inventory", 0) == 3


def test_a_restore_without_outputs_plans_alike_and_publishes_nothing() -> None:
    """The service restores with ``outputs=False`` (its topics hold the outputs): no planned-order record is
    built, and the restored site goes on exactly as one restored with its outputs."""
    _, _, table = setup(mk("receipt", item="RAW-A", qty=50, lot="A1", unit_cost=2.0),
                        mk("demand", demand_id="SO-1", item="FG", qty=4))
    for kernel in ("cython", "python"):
        engines = []
        for outputs in (True, False):
            again, rows = tracked(kernel=kernel)
            apply_ok(again, *master_data())
            restored = rows.restore(SITE, list(table.items()), outputs=outputs)
            assert bool(restored) is outputs
            assert again.planner is not None and again.planner.quiet is False
            engines.append(again)
        loud, quiet = engines
        assert quiet.planner.mrp_record(quiet.sites[SITE], "FG") == loud.planner.mrp_record(loud.sites[SITE], "FG")
        later = [mk("demand", demand_id="SO-2", item="FG", qty=7, due="2026-03-20"),
                 mk("receipt", item="RAW-A", qty=5, lot="A2")]
        after = [[encode_json(o) for o in engine.apply(later)] for engine in engines]
        assert after[0] == after[1] and any(b'"planned_order"' in value for value in after[0])
