"""Every kind of poison message through the service's processor, between good events: one dead letter per
bad event, with its reason and its record's coordinates; the good events around it applied; the metrics'
rejected counters counting each by topic and type.  No broker (``streams.processor.Processor``)."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from core.engine import Engine, EngineSettings
from core.quantity import SCALE
from millstream.settings import Settings
from monitoring.labels import INVALID
from monitoring.metrics import Metrics, metrics_response
from streams.processor import InRecord, OutRecord, Processor

# every input is read to its end in these tests: no grace for a publisher still sending (tested on its own in
# test_event_time_merge.py)
SETTINGS = Settings(max_message_bytes=64 * 1024, merge_grace_ms=0)
SITE = "S1"
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
_ids = itertools.count()


def _ts(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def event(kind: str, minute: float, **fields: Any) -> dict[str, Any]:
    """A site event of S1 at ``T0 + minute``; ``None`` values drop the field."""
    data = {"type": kind, "event_id": f"e-{next(_ids)}", "ts": _ts(minute), "site": SITE, **fields}
    return {k: v for k, v in data.items() if v is not None}


def receipt(minute: float, lot: str, qty: float = 1, **fields: Any) -> dict[str, Any]:
    return event("receipt", minute, item="A", qty=qty, lot=lot, **fields)


def js(data: Any) -> bytes:
    return json.dumps(data).encode()


def mp(data: Any) -> bytes:
    return msgspec.msgpack.encode(data)


def envelope(*events: dict[str, Any], site: str = SITE) -> bytes:
    return js({"type": "envelope", "site": site, "events": list(events)})


MASTER = [
    {"type": "item", "event_id": "m-1", "ts": _ts(0), "item": "A", "source": "buy"},
    {"type": "item", "event_id": "m-2", "ts": _ts(0), "item": "B", "source": "buy"},
    {"type": "item", "event_id": "m-3", "ts": _ts(0), "item": "P", "source": "make", "lead_time_days": 2},
    {"type": "bom", "event_id": "m-4", "ts": _ts(0), "item": "P", "components": [{"item": "A", "qty_per": 2}]},
]
FIRST = receipt(1, "L1", qty=10, event_id="first")
PRELUDE = [   # (topic, event): what the poison below refers to
    ("inventory", FIRST),
    ("production", event("production_order", 2, order_id="MO-1", item="P", qty=1, due="2026-03-20")),
    ("production", event("production_order", 3, order_id="MO-1", item="P", qty=1, due="2026-03-20",
                         status="closed")),
]


@dataclass(frozen=True)
class Poison:
    """One bad message: where it is sent, its bytes, and the dead letters it must give (reason start, type)."""

    name: str
    topic: str
    value: bytes
    letters: tuple[tuple[str, str], ...]
    applied: tuple[str, ...] = ()   # lots of good receipts inside it (an envelope) that must be applied


def bad(name: str, value: bytes, reason: str, kind: str = INVALID, topic: str = "inventory",
        applied: tuple[str, ...] = ()) -> Poison:
    return Poison(name, topic, value, ((reason, kind),), applied)


NESTED = b"[" * 20_000 + b"]" * 20_000   # msgspec stops at a depth far below; under the size limit
POISON = [
    # --- not an event at all
    bad("bytes that are neither JSON nor msgpack", b"\xc1\xc1 not an event", "malformed message"),
    bad("truncated JSON", b'{"type": "receipt", "event_id": "x", "qty": 5,',
        "malformed message: Input data was truncated"),
    bad("empty message", b"", "empty message"),
    bad("whitespace message", b" \r\n\t ", "empty message"),
    bad("JSON array", b"[1, 2, 3]", "invalid event: Expected `object`, got `array`"),
    bad("JSON number", b"42", "invalid event: Expected `object`, got `int`"),
    bad("JSON null", b"null", "invalid event: Expected `object`, got `null`"),
    bad("no type", js({"event_id": "x", "site": SITE}), "event has no `type` field"),
    bad("unknown type", js(event("teleport", 5, item="A")), "unknown event type: teleport"),
    bad("huge payload", js(receipt(5, "BIG", description="x" * 70_000)), "message too large: "),
    bad("deep nesting", b'{"type": "envelope", "site": "S1", "events": [' + NESTED + b"]}",
        "malformed message: maximum recursion depth exceeded"),
    bad("deep nesting in a field", js(receipt(5, "N"))[:-1] + b', "junk": ' + NESTED + b"}",
        "malformed message: maximum recursion depth exceeded"),
    bad("msgpack string that is not UTF-8", b"\xa1\x80", "invalid event: Expected `object`"),
    # --- valid JSON of a wrong shape
    bad("missing field", js(receipt(5, None)), "invalid event: Object missing required field `lot`"),
    bad("mistyped field", js(receipt(5, "X", qty="ten")), "invalid event: Expected `float`, got `str` - at `$.qty`"),
    bad("null item", js(receipt(5, "X") | {"item": None}), "invalid event: Expected `str`, got `null` - "
        "at `$.item`"),
    bad("null event_id", js(receipt(5, "X") | {"event_id": None}), "invalid event: Expected `str`, got `null` - "
        "at `$.event_id`"),
    bad("null type", js(receipt(5, "X") | {"type": None}), "invalid event: Expected `str` - at `$.type`"),
    bad("empty site", js(receipt(5, "X", site="")), "invalid event: Expected `str` of length >= 1 - at `$.site`"),
    bad("key too long", js(receipt(5, "L" * 201)), "invalid event: Expected `str` of length <= 200 - at `$.lot`"),
    bad("timestamp without zone", js(receipt(5, "X") | {"ts": "2026-03-02T09:00:00"}),
        "invalid event: Expected `datetime` with a timezone component - at `$.ts`"),
    bad("timestamp as a number", mp(receipt(5, "X") | {"ts": 1772438400}),
        "invalid event: Expected `datetime`, got `int` - at `$.ts`"),
    # --- numbers
    bad("negative quantity", js(receipt(5, "X", qty=-5)), "invalid event: Expected `float` >= 1e-06 - at `$.qty`"),
    bad("zero quantity", js(receipt(5, "X", qty=0)), "invalid event: Expected `float` >= 1e-06 - at `$.qty`"),
    bad("quantity below a micro-unit", js(receipt(5, "X", qty=1e-7)), "invalid event: Expected `float` >= 1e-06"),
    bad("quantity above the maximum", js(receipt(5, "X", qty=2e9)), "invalid event: Expected `float` <= 1000000000.0"),
    bad("NaN in JSON", js(receipt(5, "X", qty=float("nan"))), "malformed message: JSON is malformed"),
    bad("Infinity in JSON", js(receipt(5, "X", qty=float("inf"))), "malformed message: JSON is malformed"),
    bad("1e400 in JSON", js(receipt(5, "X")).replace(b'"qty": 1', b'"qty": 1e400'),
        "invalid event: Number out of range - at `$.qty`"),
    bad("NaN in msgpack", mp(receipt(5, "X", qty=float("nan"))), "invalid event: Expected `float` >= 1e-06"),
    bad("Infinity in msgpack", mp(receipt(5, "X", qty=float("inf"))),
        "invalid event: Expected `float` <= 1000000000.0"),
    bad("-Infinity cost in msgpack", mp(receipt(5, "X", unit_cost=float("-inf"))),
        "invalid event: Expected `float` >= 0.0 - at `$.unit_cost`"),
    bad("NaN count in msgpack", mp(event("count", 5, item="A", lot="L1", counted_qty=float("nan"))),
        "invalid event: Expected `float` >= 0.0 - at `$.counted_qty`"),
    # --- envelopes
    Poison("envelope mixing good and bad events", "inventory",
           envelope(receipt(6, "E1"), receipt(6, "E2", qty=-1), receipt(6, "E3", site=None)),
           (("invalid event: Expected `float` >= 1e-06 - at `$.qty`", INVALID),), applied=("E1", "E3")),
    Poison("envelope with an event of another site", "inventory",
           envelope(receipt(6, "E4"), receipt(6, "E5", site="S2")),
           (("event site 'S2' differs from envelope site 'S1'", INVALID),), applied=("E4",)),
    bad("envelope without events", envelope(), "envelope of site 'S1' holds no events"),
    bad("envelope inside an envelope", envelope({"type": "envelope", "site": SITE, "events": [receipt(6, "E6")]}),
        "unknown event type: envelope"),
    bad("envelope of another shape", js({"type": "envelope", "site": SITE, "events": None}),
        "invalid event: Expected `array`, got `null` - at `$.events`"),
    # --- valid events the ledger refuses
    bad("event without a site", js(receipt(7, "X", site=None) | {"site": None}), "receipt event needs a site",
        "receipt"),
    bad("timestamp out of range", js(receipt(7, "X") | {"ts": "9999-06-01T00:00:00+00:00"}),
        "event time out of range: 9999-06-01T00:00:00+00:00", "receipt"),
    bad("unknown item", js(event("receipt", 7, item="GHOST", qty=1, lot="X")), "unknown item 'GHOST' (waited 24 h)",
        "receipt"),
    bad("unknown order", js(event("material_issue", 7, order_id="MO-404", item="A", qty=1)),
        "unknown production order 'MO-404' (waited 24 h)", "material_issue", topic="production"),
    bad("illegal status move", js(event("quality", 7, item="A", lot="L1", qty=1, from_status="available",
                                        to_status="rejected")), "illegal status move available -> rejected", "quality"),
    bad("illegal order status move", js(event("production_order", 7, order_id="MO-1", item="P", qty=1,
                                              due="2026-03-20", status="released")),
        "illegal order status move closed -> released for production order 'MO-1'", "production_order",
        topic="production"),
    bad("order created closed", js(event("production_order", 7, order_id="MO-9", item="P", qty=1, due="2026-03-20",
                                         status="closed")),
        "production order 'MO-9' cannot be created as closed", "production_order", topic="production"),
    bad("order that would start before year 1", js(event("production_order", 7, order_id="MO-0", item="P", qty=1,
                                                         due="0001-01-02")),
        "production order 'MO-0' would start before 0001-01-01", "production_order", topic="production"),
    bad("issue above what is available", js(event("issue", 7, item="A", qty=1000)), "insufficient available stock",
        "issue"),
    bad("duplicated event id", js(FIRST), "duplicate event_id 'first': already applied", "receipt"),
    bad("older than the de-duplication window", js(receipt(-40 * 24 * 60, "OLD")),
        "event too old for de-duplication", "receipt"),
    bad("BOM closing a cycle", js({"type": "bom", "event_id": "m-9", "ts": _ts(7), "item": "A",
                                   "components": [{"item": "P", "qty_per": 1}]}), "BOM cycle: A -> P -> A", "bom",
        topic="master"),
    bad("BOM yield below the resolution", js({"type": "bom", "event_id": "m-10", "ts": _ts(7), "item": "B",
                                              "components": [{"item": "A", "qty_per": 1}], "yield_pct": 1e-5}),
        "BOM for 'B': yield_pct 1e-05 is below the 0.0001 % resolution", "bom", topic="master"),
]
LATE = receipt(-120, "LATE")      # two hours behind the site's clock: within the windows, applied
LAST = receipt(3 * 24 * 60, "END")  # three days on: events parked for a reference give up


@dataclass
class Run:
    letters: list[tuple[InRecord, dict[str, Any]]]   # (the record each dead letter names, the letter)
    sent: dict[str, InRecord]   # poison name -> its record
    processor: Processor
    metrics: Metrics
    good: list[str]   # lots of the good receipts


def _run() -> Run:
    metrics = Metrics()
    processor = Processor(Engine(EngineSettings(local_transfers=False)), SETTINGS, metrics=metrics)
    offsets: Counter[str] = Counter()
    records: list[InRecord] = []

    def send(topic: str, value: bytes) -> list[OutRecord]:
        record = InRecord(SETTINGS.topic(topic), 0, offsets[topic], value)
        offsets[topic] += 1
        records.append(record)
        caught_up = {(r.topic, r.partition): offsets[r.topic.rpartition(".")[2]] for r in records}
        return processor.process([record], highwaters=caught_up)   # the service's event-time merge

    out: list[OutRecord] = []
    for data in MASTER:
        out += send("master", js(data))
    for topic, data in PRELUDE:
        out += send(topic, js(data))
    good = ["L1"]
    sent = {}
    for number, poison in enumerate(POISON):
        lot = f"G{number}"
        out += send("inventory", js(receipt(10 + number, lot)))
        good.append(lot)
        out += send(poison.topic, poison.value)
        sent[poison.name] = records[-1]
        good.extend(poison.applied)
    out += send("inventory", js(LATE))
    out += send("inventory", js(LAST))
    good += ["LATE", "END"]
    out += processor.finish()
    by_coordinates = {(r.topic, r.partition, r.offset): r for r in records}
    letters = []
    for record in out:
        if record.topic == SETTINGS.topic("rejected"):
            letter = msgspec.json.decode(record.value)
            letters.append((by_coordinates[(letter["topic"], letter["partition"], letter["offset"])], letter))
    return Run(letters, sent, processor, metrics, good)


@pytest.fixture(scope="module")
def run() -> Run:
    return _run()


@pytest.mark.parametrize("poison", POISON, ids=[p.name for p in POISON])
def test_each_poison_gives_one_dead_letter_per_bad_event_with_its_reason_and_coordinates(run: Run,
                                                                                         poison: Poison) -> None:
    record = run.sent[poison.name]
    letters = [letter for named, letter in run.letters if named is record]
    assert len(letters) == len(poison.letters), [letter["reason"] for letter in letters]
    for letter, (reason, _kind) in zip(letters, poison.letters, strict=True):
        assert letter["reason"].startswith(reason), letter["reason"]
        assert letter["type"] == "dead_letter"
        assert (letter["topic"], letter["partition"], letter["offset"]) == (record.topic, 0, record.offset)
        original = base64.b64decode(letter["original"])
        if "waited" in letter["reason"]:   # rejected in a later batch: the event as the engine held it
            assert msgspec.json.decode(original)["event_id"] == json.loads(record.value)["event_id"]
        else:
            assert original == record.value


def test_no_good_record_is_dead_lettered_and_every_letter_is_expected(run: Run) -> None:
    poisoned = {id(record) for record in run.sent.values()}
    assert all(id(named) in poisoned for named, _ in run.letters)
    assert len(run.letters) == sum(len(p.letters) for p in POISON)


def test_the_good_events_around_the_poison_are_applied(run: Run) -> None:
    state = run.processor.engine.sites[SITE]
    expected = {("A", lot, "available"): SCALE for lot in run.good}
    expected[("A", "L1", "available")] = 10 * SCALE
    assert dict(state.stock.qty) == expected
    assert state.production["MO-1"].status == "closed" and set(state.production) == {"MO-1"}
    assert state.clock == T0 + dt.timedelta(days=3)   # the late event did not move it back
    assert set(run.processor.engine.sites) == {SITE}   # nothing of the envelope's S2 event was applied
    master = run.processor.engine.master
    assert set(master.boms) == {"P"} and master.bom(SITE, "P").lines[0].item == "A"


def test_the_rejected_counters_count_each_poison_by_topic_and_type(run: Run) -> None:
    expected: Counter[tuple[str, str]] = Counter()
    for poison in POISON:
        for _reason, kind in poison.letters:
            expected[(SETTINGS.topic(poison.topic), kind)] += 1
    assert +run.metrics.rejected_counts == expected
    body, _ = metrics_response(run.metrics)
    scraped = {}
    for line in body.decode().splitlines():
        if line.startswith("millstream_events_rejected_total{"):
            labels, value = line.rsplit(" ", 1)
            topic = labels.split('topic="')[1].split('"')[0]
            kind = labels.split('type="')[1].split('"')[0]
            scraped[(topic, kind)] = float(value)
    assert scraped == {key: float(n) for key, n in expected.items()}
    applied = sum(run.metrics.applied_counts().values())
    assert applied == len(MASTER) + len(PRELUDE) + len(run.good) - 1   # L1 is the prelude's first receipt
