"""A site's input topics merged in event time: the final state does not depend on how they interleave.

Kafka orders records within a partition only.  A site's receipts (inventory
topic) and its material issues (production topic) reach the worker in whatever
interleaving the fetches produce.  The processor holds site events until every
partition still behind has passed their time, so the engine sees one order:
event time, then topic, partition and offset.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.engine import Engine, EngineSettings
from core.reports import report
from millstream.settings import Settings
from schemas import events as ev
from schemas.codecs import decode_message, encode_json
from schemas.outputs import Rejected
from streams.processor import InRecord, Processor
from streams.topics import TOPIC_OF_TYPE
from tests.helpers import item, mk, reset

SAMPLE = Path(__file__).resolve().parents[2] / "millstream" / "samples" / "hearing_devices.jsonl"
# the merge by the inputs read; the grace for inputs read to their end is tested on its own (below)
SETTINGS = Settings(merge_grace_ms=0)
REPORTS = ("stock", "availability", "orders", "planned", "shortages", "exceptions", "costs", "kpis")


def kind(line: bytes) -> str:
    """The event type of a line; the sample's deliberately broken lines count as inventory scans."""
    try:
        return str(json.loads(line)["type"])
    except (ValueError, KeyError, TypeError):
        return "receipt"


def by_topic(lines: list[bytes]) -> dict[tuple[str, int], list[InRecord]]:
    """Each event on its topic (partition 0), offsets in file order: what a publisher would produce."""
    topics: dict[tuple[str, int], list[InRecord]] = {}
    for line in lines:
        topic = SETTINGS.topic(TOPIC_OF_TYPE.get(kind(line), "inventory"))
        records = topics.setdefault((topic, 0), [])
        records.append(InRecord(topic, 0, len(records), line))
    return topics


def interleave(topics: dict[tuple[str, int], list[InRecord]], rng: random.Random) -> list[InRecord]:
    """One random interleaving that keeps each partition's order (all a consumer guarantees)."""
    cursors = {tp: 0 for tp in topics}
    merged = []
    while cursors:
        tp = rng.choice(sorted(cursors))
        merged.append(topics[tp][cursors[tp]])
        cursors[tp] += 1
        if cursors[tp] == len(topics[tp]):
            del cursors[tp]
    return merged


def run_merged(records: list[InRecord], ends: dict[tuple[str, int], int], rng: random.Random,
               master: list[InRecord]) -> Engine:
    """Through the processor in random batches, with the merge on; master data first, as the worker does.

    Shipment announcements the worker produces to the transfers topic come back
    to it later, as they would from the broker (one worker holds both sites here).
    """
    engine = Engine(EngineSettings(local_transfers=False))
    processor = Processor(engine, SETTINGS)
    processor.process(master)
    transfers = (SETTINGS.topic("transfers"), 0)
    ends = {**ends, transfers: 0}
    records = list(records)
    while True:
        while records:
            size = rng.randint(1, 12)
            batch, records = records[:size], records[size:]
            for out in processor.process(batch, highwaters=ends):
                if out.topic == transfers[0]:
                    records.insert(rng.randint(0, len(records)), InRecord(transfers[0], 0, ends[transfers],
                                                                          out.value))
                    ends[transfers] += 1
        # the timer tick once every partition is read; what it announces comes back as well
        for out in processor.process([], highwaters=ends):
            if out.topic == transfers[0]:
                records.append(InRecord(transfers[0], 0, ends[transfers], out.value))
                ends[transfers] += 1
        if not records:
            break
    assert engine.held() == 0
    return engine


MASTER_TAGS = ("item", "bom", "work_center")


def sample_lines() -> list[bytes]:
    return [line for line in SAMPLE.read_bytes().splitlines() if line.strip()]


def split_master(lines: list[bytes]) -> tuple[list[InRecord], list[bytes]]:
    master = [InRecord(SETTINGS.topic("master"), 0, i, line) for i, line in enumerate(lines)
              if kind(line) in MASTER_TAGS]
    return master, [line for line in lines if kind(line) not in MASTER_TAGS]


def _site_values(engine: Engine) -> dict[str, tuple[int, float, object]]:
    return {name: (site.value_days, site.value_sum, site.first_day) for name, site in engine.sites.items()}


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_sample_gives_one_state_whatever_the_interleaving(seed: int) -> None:
    master, lines = split_master(sample_lines())
    topics = by_topic(lines)
    ends = {tp: len(records) for tp, records in topics.items()}
    rng = random.Random(seed)
    first = run_merged(interleave(topics, rng), ends, rng, master)
    second = run_merged(interleave(topics, rng), ends, rng, master)
    for name in REPORTS:
        assert report(first, name) == report(second, name), name
    # and the same state as the file replayed in event-time order (the sample is written in that order)
    embedded = Engine()
    embedded.apply([e for r in master for e in decode_message(r.value)])
    embedded.apply(sorted((e for line in lines for e in decode_message(line) if not isinstance(e, Rejected)),
                          key=lambda e: e.ts))
    embedded.finish()
    for name in REPORTS:
        assert report(first, name) == report(embedded, name), name
    assert _site_values(first) == _site_values(second) == _site_values(embedded)   # the daily value samples


def _issue_before_receipt() -> tuple[list[InRecord], list[InRecord], dict[tuple[str, int], int]]:
    """A receipt at 10:01 (inventory topic) and a production order using it at 10:02 (production topic)."""
    reset()
    master = [InRecord(SETTINGS.topic("master"), 0, 0, encode_json(item("RAW")))]
    receipt = mk("receipt", item="RAW", qty=10, lot="L1")
    order = mk("production_order", order_id="MO-1", item="RAW-USE", qty=1, status="released",
               start="2026-03-03", due="2026-03-04")
    issue = mk("material_issue", order_id="MO-1", item="RAW", qty=5)   # no lot named: it cannot wait for one
    inventory = [InRecord(SETTINGS.topic("inventory"), 0, 0, encode_json(receipt))]
    production = [InRecord(SETTINGS.topic("production"), 0, i, encode_json(e)) for i, e in enumerate((order, issue))]
    master.append(InRecord(SETTINGS.topic("master"), 0, 1, encode_json(item("RAW-USE", source="make"))))
    ends = {(SETTINGS.topic("inventory"), 0): 1, (SETTINGS.topic("production"), 0): 2}
    return master, inventory + production, ends


def test_an_issue_read_before_its_receipt_waits_for_it() -> None:
    master, records, ends = _issue_before_receipt()
    production_first = records[1:] + records[:1]
    # without the merge, the issue meets no stock: the interleaving decides the outcome
    plain = Processor(Engine(EngineSettings(local_transfers=False)), SETTINGS)
    plain.process(master)
    out = plain.process(production_first[:2]) + plain.process(production_first[2:])
    lost = [json.loads(o.value) for o in out if o.topic == SETTINGS.topic("rejected")]
    stock_plain = report(plain.engine, "stock")
    # with it, the production topic's records wait until the inventory topic has passed 10:02
    engine = Engine(EngineSettings(local_transfers=False))
    merged = Processor(engine, SETTINGS)
    merged.process(master)
    first = merged.process(production_first[:2], highwaters=ends)
    assert engine.held() == 2 and not [o for o in first if o.topic == SETTINGS.topic("rejected")]
    merged.process(production_first[2:], highwaters=ends)
    assert engine.held() == 0
    stock = {(r["item"], r["lot"], r["status"]): r["qty"] for r in report(engine, "stock")}
    assert stock[("RAW", "L1", "available")] == 5
    assert [letter["reason"] for letter in lost] == [
        "insufficient available stock: item 'RAW' has 0 available (0 reserved for other orders), needs 5"]
    assert stock_plain != report(engine, "stock")


def test_one_batch_read_out_of_time_order_goes_in_in_time_order() -> None:
    """Nothing waiting before: the batch's own events are ordered (issue after receipt) before any goes in."""
    master, records, _ends = _issue_before_receipt()
    engine = Engine(EngineSettings(local_transfers=False))
    merged = Processor(engine, SETTINGS)
    merged.process(master)
    out = merged.process(records[1:] + records[:1], highwaters={})   # every input read to its end
    assert engine.held() == 0
    assert not [o for o in out if o.topic == SETTINGS.topic("rejected")]
    stock = {(r["item"], r["lot"], r["status"]): r["qty"] for r in report(engine, "stock")}
    assert stock[("RAW", "L1", "available")] == 5


def test_watermark_is_the_earliest_latest_time_of_partitions_behind() -> None:
    _, records, ends = _issue_before_receipt()
    processor = Processor(Engine(EngineSettings(local_transfers=False)), SETTINGS)
    inventory, production = (SETTINGS.topic("inventory"), 0), (SETTINGS.topic("production"), 0)
    assert processor.behind(ends) == {inventory, production}
    processor.process(records[1:2], highwaters=ends)      # the order, 10:02
    assert processor.behind(ends) == {inventory, production}
    site = "S1"
    assert processor.watermark(site, {inventory, production}) < processor.latest[production][site]  # unseen
    processor.process(records[:1], highwaters=ends)      # the receipt, 10:01
    assert processor.behind(ends) == {production}
    assert processor.watermark(site, processor.behind(ends)) == processor.latest[production][site]
    assert processor.watermark("S2", processor.behind(ends)) < processor.latest[production][site]
    # a restarted worker that has read nothing yet: the committed positions say what is behind
    fresh = Processor(Engine(EngineSettings(local_transfers=False)), SETTINGS)
    assert fresh.behind(ends, positions={inventory: 1, production: 1}) == {production}
    assert fresh.behind({inventory: None}) == {inventory}                # end offset not known yet
    assert fresh.watermark(site, set()) > processor.latest[production][site]  # nothing behind: all goes


def test_waiting_events_are_durable_rows_and_come_back_on_restore() -> None:
    from core.persist import StateRows

    master, records, ends = _issue_before_receipt()
    production_first = records[1:] + records[:1]
    engine = Engine(EngineSettings(local_transfers=False, track_changes=True))
    rows = StateRows(engine)
    processor = Processor(engine, SETTINGS, rows)
    processor.process(master)
    rows.changed()
    processor.process(production_first[:2], highwaters=ends)
    changed = rows.changed()
    held_rows = sorted(key for key, value in changed.items() if key.startswith("S1|held|") and value is not None)
    assert engine.held() == 2 and held_rows == ["S1|held|0", "S1|held|1"]   # one row per waiting event
    # a new worker restores the site: the two waiting events are back, their offsets count as applied
    engine2 = Engine(EngineSettings(local_transfers=False, track_changes=True))
    rows2 = StateRows(engine2)
    processor2 = Processor(engine2, SETTINGS, rows2)
    processor2.process(master)
    rows2.restore("S1", [(k, v) for k, v in {**rows.current_rows("S1"), **changed}.items() if v is not None])
    assert engine2.held() == 2
    assert rows2.applied_offset("S1", SETTINGS.topic("production"), 0) == 1
    processor2.process(production_first, highwaters=ends)   # re-delivered: the applied ones are skipped
    assert engine2.held() == 0
    assert report(engine2, "stock") == [{"site": "S1", "item": "RAW", "lot": "L1", "status": "available", "qty": 5}]
    released = rows2.changed()
    assert {key: released[key] for key in held_rows} == dict.fromkeys(held_rows)   # both rows deleted
    assert not [key for key, value in released.items() if key.startswith("S1|held|") and value is not None]


def test_a_receipt_released_by_a_late_announcement_is_sampled_on_its_own_day() -> None:
    """The service announces a shipment through the transfers topic: the receiving site may have parked the
    receipt (03-24) by then, and the announcement (03-17) moves the clock before it releases the receipt.
    Each applied in its own time, the daily inventory value samples and the KPIs equal the replay's."""
    master, lines = split_master(sample_lines())
    replayed = Engine()
    replayed.apply([e for r in master for e in decode_message(r.value)])
    events = [e for line in lines for e in decode_message(line) if not isinstance(e, Rejected)]
    replayed.apply(events)
    replayed.finish()
    # announcements returned to the caller, fed back after the batch: the receipt meets no transfer and waits
    engine = Engine(EngineSettings(local_transfers=False))
    engine.apply([e for r in master for e in decode_message(r.value)])
    announced = [o for o in engine.apply(events) if isinstance(o, ev.TransferInTransit)]
    assert announced and engine._parked   # the receipt waits for its transfer
    engine.apply(announced)
    engine.finish()
    assert _site_values(engine) == _site_values(replayed)
    assert report(engine, "kpis") == report(replayed, "kpis")


def test_a_backlog_on_another_partition_does_not_hold_a_site_back() -> None:
    """A site's records belong on its own partition (others are dead-lettered), so only that partition's
    inputs bound its watermark; a partition that never shows the site cannot hold it back."""
    from streams.routing import site_partition

    reset()
    master = [InRecord(SETTINGS.topic("master"), 0, 0, encode_json(item("RAW")))]
    inventory = SETTINGS.topic("inventory")
    home_s1, home_s2 = site_partition("S1", 8), site_partition("S2", 8)
    assert home_s1 != home_s2
    records = [InRecord(inventory, home_s1, 0, encode_json(mk("receipt", site="S1", item="RAW", qty=1, lot="A"))),
               InRecord(inventory, home_s2, 0, encode_json(mk("receipt", site="S2", item="RAW", qty=1, lot="B")))]
    ends = {(inventory, home_s1): 1, (inventory, home_s2): 50}   # S2's partition: 49 records still to read
    held = {}
    for partitioned in (False, True):
        engine = Engine(EngineSettings(local_transfers=False))
        processor = Processor(engine, SETTINGS)
        if partitioned:
            processor.partition_of = lambda site: site_partition(site, 8)
        processor.process(master)
        processor.process(records[:1], highwaters=ends)
        held[partitioned] = engine.held("S1")
    assert held == {False: 1, True: 0}   # one process without partitions: every input counts


def _quiet_site_on_a_busy_input() -> tuple[Processor, list[InRecord], str, str]:
    """S1 wrote to the purchase topic once, then to the inventory topic; S2 keeps writing purchase records."""
    reset()
    purchase, inventory = SETTINGS.topic("purchase"), SETTINGS.topic("inventory")
    order = mk("purchase_order", site="S1", po_id="PO-1", item="RAW", qty=10)
    receipt = mk("receipt", site="S1", item="RAW", qty=1, lot="L1")   # later than S1's purchase record
    others = [mk("purchase_order", site="S2", po_id=f"PO-2-{n}", item="RAW", qty=1) for n in range(12)]
    processor = Processor(Engine(EngineSettings(local_transfers=False)), SETTINGS)
    processor.process([InRecord(SETTINGS.topic("master"), 0, 0, encode_json(item("RAW")))])
    records = [InRecord(purchase, 0, 0, encode_json(order)), InRecord(inventory, 0, 0, encode_json(receipt)),
               *(InRecord(purchase, 0, n + 1, encode_json(other)) for n, other in enumerate(others))]
    return processor, records, purchase, inventory


def test_records_written_since_the_batch_before_do_not_hold_a_site_quiet_on_their_input() -> None:
    """An input other sites keep writing always has records in flight.  Counted as behind, it held a site
    quiet on it until the site wrote there again (a dev run whose takes did not linger held thousands of
    events for seconds at 1,000 events/s).  What was there at the batch before still holds it; what came
    since waits for the grace, as on an input read to its end."""
    processor, records, purchase, inventory = _quiet_site_on_a_busy_input()
    engine = processor.engine
    # S1's order and receipt and S2's first order read; S2's next record is already on the broker
    processor.process(records[:3], highwaters={(purchase, 0): 3, (inventory, 0): 1})
    assert engine.held("S1") == 1   # that record may be an older one of S1: the receipt waits
    assert processor.lagging == {(purchase, 0)}   # what the worker keeps reading when it pauses inputs
    # the next batch reads what the batch before saw as the end; S2 has written another since
    processor.process(records[3:4], highwaters={(purchase, 0): 4, (inventory, 0): 1})
    assert engine.held("S1") == 0
    assert processor.lagging == frozenset()
    assert engine.sites["S1"].stock.unrestricted("RAW") > 0


def test_records_there_at_the_batch_before_still_hold_the_site() -> None:
    """A backlog: the input's end was past what was read at the batch before too, so the site waits for it."""
    processor, records, purchase, inventory = _quiet_site_on_a_busy_input()
    ends = {(purchase, 0): 13, (inventory, 0): 1}
    for batch in (records[:3], records[3:4], records[4:5]):
        processor.process(batch, highwaters=ends)
        assert processor.engine.held("S1") == 1
    processor.process(records[5:], highwaters=ends)   # read to its end: the receipt goes
    assert processor.engine.held("S1") == 0


def test_a_new_assignment_forgets_the_ends_of_the_batch_before() -> None:
    """A partition gained may hold a backlog its end at an earlier batch knew nothing of."""
    processor, records, purchase, inventory = _quiet_site_on_a_busy_input()
    processor.process(records[:3], highwaters={(purchase, 0): 3, (inventory, 0): 1})
    processor.inputs_moved()
    processor.process(records[3:4], highwaters={(purchase, 0): 13, (inventory, 0): 1})
    assert processor.engine.held("S1") == 1


def test_each_waiting_event_is_a_small_row_of_its_own() -> None:
    """A backlog read ahead of another input waits in the engine: one small row per waiting event, so no
    row outgrows a Kafka message, and a batch writes only what it held and deletes only what it let go."""
    from core.persist import StateRows

    reset()
    master = [InRecord(SETTINGS.topic("master"), 0, 0, encode_json(item("RAW")))]
    inventory, demand = SETTINGS.topic("inventory"), SETTINGS.topic("demand")
    half = 1000
    demands = [mk("demand", demand_id="D0", item="RAW", qty=1)]
    receipts = [mk("receipt", item="RAW", qty=1, lot=f"L{i}") for i in range(half)]
    demands.append(mk("demand", demand_id="D1", item="RAW", qty=1))
    receipts += [mk("receipt", item="RAW", qty=1, lot=f"L{i}") for i in range(half, 2 * half)]
    demands.append(mk("demand", demand_id="D2", item="RAW", qty=1))
    on_demand = [InRecord(demand, 0, i, encode_json(e)) for i, e in enumerate(demands)]
    on_inventory = [InRecord(inventory, 0, i, encode_json(e)) for i, e in enumerate(receipts)]
    ends = {(demand, 0): 3, (inventory, 0): 2 * half}
    engine = Engine(EngineSettings(local_transfers=False, track_changes=True))
    rows = StateRows(engine)
    processor = Processor(engine, SETTINGS, rows)
    processor.process(master)
    rows.changed()
    processor.process([on_demand[0], *on_inventory], highwaters=ends)   # the demand topic is behind at D0
    first = {k: v for k, v in rows.changed().items() if "|held|" in k}
    assert engine.held() == 2 * half and len(first) == 2 * half
    assert all(v is not None and len(v) < 1024 for v in first.values())
    assert rows.changed() == {}   # nothing changed: nothing written again
    processor.process(on_demand[1:2], highwaters=ends)   # the demand topic reaches D1: the first half goes in
    second = {k: v for k, v in rows.changed().items() if "|held|" in k}
    assert engine.held() == half and len(second) == half and set(second.values()) == {None}
    assert set(second) == {k for k, v in first.items() if int(_lot(v)) < half}   # exactly the released ones


def _lot(row: bytes) -> str:
    import msgspec

    from core.persist import HeldRow

    return str(json.loads(msgspec.msgpack.decode(row, type=HeldRow).event)["lot"][1:])


def test_a_record_delivered_again_in_the_same_session_is_skipped() -> None:
    """A rebalance puts every input back to the group's committed offset, which may not show the last
    commit yet (streams/durable.py, ``_rewind``), so records come twice: the second time they are skipped,
    a bad one is not dead-lettered again and a good one is not applied again."""
    reset()
    master = [InRecord(SETTINGS.topic("master"), 0, 0, encode_json(item("RAW")))]
    inventory = SETTINGS.topic("inventory")
    records = [InRecord(inventory, 0, 0, encode_json(mk("receipt", item="RAW", qty=2, lot="A"))),
               InRecord(inventory, 0, 1, b"{not json")]
    processor = Processor(Engine(EngineSettings(local_transfers=False)), SETTINGS)
    processor.process(master)
    first = processor.process(records)
    again = processor.process(records)
    assert [o.topic for o in first].count(SETTINGS.topic("rejected")) == 1
    assert again == []
    assert report(processor.engine, "stock") == [{"site": "S1", "item": "RAW", "lot": "A", "status": "available",
                                                  "qty": 2}]


def test_an_event_time_the_engine_rejects_does_not_move_the_watermark() -> None:
    """A receipt stamped in the year 9999 is rejected; counted in the merge it would let every later event
    of its site through at once, ahead of older ones still to be read on the same partition."""
    reset()
    master = [InRecord(SETTINGS.topic("master"), 0, 0, encode_json(item("RAW")))]
    inventory = SETTINGS.topic("inventory")
    good = mk("receipt", item="RAW", qty=1, lot="A")
    bogus = json.loads(encode_json(mk("receipt", item="RAW", qty=1, lot="B")))
    bogus["ts"] = "9999-06-01T00:00:00+00:00"
    records = [InRecord(inventory, 0, 0, encode_json(good)), InRecord(inventory, 0, 1, json.dumps(bogus).encode())]
    processor = Processor(Engine(EngineSettings(local_transfers=False)), SETTINGS)
    processor.process(master)
    out = processor.process(records, highwaters={(inventory, 0): 3})
    assert [json.loads(o.value)["reason"][:23] for o in out if o.topic == SETTINGS.topic("rejected")] == \
        ["event time out of range"]
    assert processor.watermark("S1", processor.behind({(inventory, 0): 3})) == good.ts


class _Clock:
    """Processing time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _close_read_before_its_receipt() -> tuple[list[InRecord], InRecord, InRecord, Processor, _Clock]:
    """A receipt still in the publisher's envelope while the purchase order's close a minute later is read."""
    reset()
    master = [InRecord(SETTINGS.topic("master"), 0, 0, encode_json(item("RAW")))]
    order = mk("purchase_order", po_id="PO-1", item="RAW", qty=10, due="2026-03-05")
    scan = InRecord(SETTINGS.topic("inventory"), 0, 0, encode_json(mk("receipt", item="RAW", qty=1, lot="L0")))
    receipt = mk("receipt", item="RAW", qty=10, lot="L1", po_id="PO-1")
    close = mk("purchase_order", po_id="PO-1", item="RAW", qty=10, due="2026-03-05", status="closed")
    purchase = SETTINGS.topic("purchase")
    first = InRecord(purchase, 0, 0, encode_json(order))
    closing = InRecord(purchase, 0, 1, encode_json(close))
    late = InRecord(SETTINGS.topic("inventory"), 0, 1, encode_json(receipt))
    processor = Processor(Engine(EngineSettings(local_transfers=False)), Settings(merge_grace_ms=500))
    processor.clock = clock = _Clock()
    processor.process(master)
    # the order and a later scan have been read, every input to its end: the scan waits the grace for the
    # purchase topic (which showed the site lately) to pass its time, then goes
    ends = {(purchase, 0): 1, (SETTINGS.topic("inventory"), 0): 1}
    processor.process([first, scan], highwaters=ends)
    assert processor.engine.held() == 1
    clock.now += 0.6
    processor.process([], highwaters=ends)
    assert processor.engine.held() == 0
    return master, closing, late, processor, clock


def _letters(outputs: list[Any]) -> list[str]:
    return [json.loads(o.value)["reason"] for o in outputs if o.topic == SETTINGS.topic("rejected")]


def test_an_event_waits_the_grace_for_an_input_read_to_its_end_that_carried_its_site_lately() -> None:
    _, closing, late, processor, clock = _close_read_before_its_receipt()
    purchase, inventory = (closing.topic, 0), (late.topic, 0)
    clock.now += 0.1
    # the close is read; the inventory topic is read to its end, its latest time of the site is earlier
    out = processor.process([closing], highwaters={purchase: 2, inventory: 1})
    assert processor.engine.held() == 1 and not _letters(out)
    clock.now += 0.2   # the receipt's envelope arrives within the grace: it goes first
    out = processor.process([late], highwaters={purchase: 2, inventory: 2})
    assert processor.engine.held() == 1 and not _letters(out)
    assert processor.engine.sites["S1"].purchase["PO-1"].status != "closed"
    clock.now += 0.5   # nothing later came on the inventory topic: the close goes after the grace
    out = processor.process([], highwaters={purchase: 2, inventory: 2})
    assert processor.engine.held() == 0 and not _letters(out)
    assert processor.engine.sites["S1"].purchase["PO-1"].status == "closed"
    assert report(processor.engine, "stock") == [{"site": "S1", "item": "RAW", "lot": "L0", "status": "available",
                                                  "qty": 1.0},
                                                 {"site": "S1", "item": "RAW", "lot": "L1", "status": "available",
                                                  "qty": 10.0}]


def test_after_the_grace_an_event_goes_without_a_later_time_from_the_other_inputs() -> None:
    _, closing, late, processor, clock = _close_read_before_its_receipt()
    purchase, inventory = (closing.topic, 0), (late.topic, 0)
    clock.now += 0.1
    processor.process([closing], highwaters={purchase: 2, inventory: 1})
    clock.now += 0.3
    processor.process([], highwaters={purchase: 2, inventory: 1})   # a tick within the grace: still waits
    assert processor.engine.held() == 1
    clock.now += 0.3
    processor.process([], highwaters={purchase: 2, inventory: 1})   # a tick after it: the close goes
    assert processor.engine.held() == 0
    # a receipt later than the grace meets a closed order: the grace bounds the wait, it cannot wait for ever
    clock.now += 5
    out = processor.process([late], highwaters={purchase: 2, inventory: 2})
    assert _letters(out) == ["purchase order 'PO-1' is closed"]


def test_without_grace_an_input_read_to_its_end_holds_nothing() -> None:
    _, closing, late, processor, _ = _close_read_before_its_receipt()
    processor.grace = 0
    purchase, inventory = (closing.topic, 0), (late.topic, 0)
    out = processor.process([closing], highwaters={purchase: 2, inventory: 1})
    assert processor.engine.held() == 0 and not _letters(out)
    out = processor.process([late], highwaters={purchase: 2, inventory: 2})
    assert _letters(out) == ["purchase order 'PO-1' is closed"]
