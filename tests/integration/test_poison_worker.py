"""A real worker on the real broker, fed one message of every poison kind between the sample's good events.

Each poison lands in the rejected topic exactly once, with its reason and the coordinates it was written at;
the worker goes on; its planned orders equal an embedded replay of the good events alone; its ``/metrics``
rejected counters count exactly the poison, by topic and type.  Poison whose fate depends on the site's
clock (a re-sent event, an event older than the de-duplication window) is sent once the worker has applied
everything else.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from confluent_kafka import Consumer, Producer
from prometheus_client.parser import text_string_to_metric_families
from test_query_api import OPENER, PARTITIONS, SAMPLE, Worker, eventually

from connectors.publisher import producer_config, route
from connectors.replay import replay
from core.engine import Engine
from core.reports import report
from millstream.settings import Settings
from monitoring.labels import INVALID, waiting_events
from schemas.codecs import decode_message, encode_json
from schemas.outputs import Rejected
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

MAX_BYTES = 64 * 1024   # the worker's max_message_bytes here: a "huge" message stays under the broker's limit
SITE_TOPICS = ("inventory", "production", "purchase", "demand")
START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))   # the sample's first DK1 time


def _ts(hours: float) -> str:
    return (START + dt.timedelta(hours=hours)).isoformat()


def _event(kind: str, hours: float, number: str, **fields: Any) -> dict[str, Any]:
    data = {"type": kind, "event_id": f"poison-{number}", "ts": _ts(hours), "site": "DK1", **fields}
    return {k: v for k, v in data.items() if v is not None}


def _receipt(hours: float, number: str, **fields: Any) -> dict[str, Any]:
    return _event("receipt", hours, number, **{"item": "BAT-01", "qty": 1, "lot": f"P-{number}", **fields})


def _js(data: Any) -> bytes:
    return json.dumps(data).encode()


_NONE: Any = object()


@dataclass
class Poison:
    name: str
    topic: str          # short name
    value: bytes | None
    reason: str         # how its dead letter's reason starts
    kind: str = INVALID  # its type label in the metrics
    key: Any = _NONE    # the message key: the site's (or the master record's) unless given (None: no key)
    where: tuple[str, int, int] | None = field(default=None, compare=False)   # set once delivered


ENVELOPE_GOOD = _receipt(0.5, "env-good", qty=7)   # the good event of the mixed envelope: applied
NESTED = b"[" * 20_000 + b"]" * 20_000
FIRST = [   # sent between the sample's events
    Poison("garbage bytes", "inventory", b"\xc1\xc1 not an event", "malformed message"),
    Poison("garbage with no key", "inventory", b"\xc1 no key either", "malformed message", key=None),
    Poison("JSON array with no key", "production", b"[1, 2, 3]", "invalid event: Expected `object`, got `array`",
           key=None),
    Poison("empty message", "inventory", b"", "empty message"),
    Poison("null value", "inventory", None, "empty message"),
    Poison("unknown type", "inventory", _js(_event("teleport", 1, "t1", item="BAT-01")),
           "unknown event type: teleport"),
    Poison("missing field", "inventory", _js(_receipt(1, "m1", lot=None)),
           "invalid event: Object missing required field `lot`"),
    Poison("null field", "inventory", _js(_receipt(1, "m3") | {"item": None}),
           "invalid event: Expected `str`, got `null` - at `$.item`"),
    Poison("mistyped field", "inventory", _js(_receipt(1, "m2", qty="ten")),
           "invalid event: Expected `float`, got `str` - at `$.qty`"),
    Poison("NaN in JSON", "inventory", _js(_receipt(1, "n1", qty=float("nan"))), "malformed message"),
    Poison("NaN in msgpack", "inventory", msgspec.msgpack.encode(_receipt(1, "n2", qty=float("nan"))),
           "invalid event: Expected `float` >= 1e-06 - at `$.qty`"),
    Poison("Infinity in msgpack", "inventory", msgspec.msgpack.encode(_receipt(1, "n3", qty=float("inf"))),
           "invalid event: Expected `float` <= 1000000000.0 - at `$.qty`"),
    Poison("negative quantity", "inventory", _js(_receipt(1, "n4", qty=-3)),
           "invalid event: Expected `float` >= 1e-06 - at `$.qty`"),
    Poison("huge payload", "inventory", _js(_receipt(1, "h1", description="x" * (MAX_BYTES + 1))),
           "message too large: "),
    Poison("deep nesting", "inventory", b'{"type": "envelope", "site": "DK1", "events": [' + NESTED + b"]}",
           "malformed message: maximum recursion depth exceeded"),
    Poison("envelope mixing good and bad", "inventory",
           _js({"type": "envelope", "site": "DK1", "events": [ENVELOPE_GOOD, _receipt(1, "e2", qty=0)]}),
           "invalid event: Expected `float` >= 1e-06 - at `$.qty`"),
    Poison("envelope with another site's event", "inventory",
           _js({"type": "envelope", "site": "DK1", "events": [_receipt(1, "e3", site="US1")]}),
           "event site 'US1' differs from envelope site 'DK1'"),
    Poison("envelope without events", "inventory", _js({"type": "envelope", "site": "DK1", "events": []}),
           "envelope of site 'DK1' holds no events"),
    Poison("timestamp without zone", "inventory", _js(_receipt(1, "z1") | {"ts": "2026-03-02T09:00:00"}),
           "invalid event: Expected `datetime` with a timezone component - at `$.ts`"),
    Poison("timestamp out of range", "inventory", _js(_receipt(1, "z2") | {"ts": "9999-06-01T00:00:00+00:00"}),
           "event time out of range", "receipt"),
    Poison("event without a site", "inventory", _js(_receipt(1, "s1") | {"site": None}),
           "receipt event needs a site", "receipt"),
    Poison("unknown item", "inventory", _js(_receipt(1, "u1", item="GHOST")), "unknown item 'GHOST' (waited 24 h)",
           "receipt"),
    Poison("unknown order", "production", _js(_event("material_issue", 1, "u2", order_id="MO-404", item="MIC-01",
                                                     qty=1)),
           "unknown production order 'MO-404' (waited 24 h)", "material_issue"),
    Poison("illegal status move", "inventory", _js(_event("quality", 1, "q1", item="MIC-01", lot="dk1-MIC-L1", qty=1,
                                                          from_status="available", to_status="rejected")),
           "illegal status move available -> rejected", "quality"),
    Poison("illegal order status move", "production",   # after the sample released dk1-mo-1 (ts 03-06 10:00)
           _js(_event("production_order", 4 * 24 + 4, "o1", order_id="dk1-mo-1", item="SUB-CORE", qty=150,
                      due="2026-03-10", status="planned")), "illegal order status move ", "production_order"),
    Poison("order created closed", "production",
           _js(_event("production_order", 1, "o2", order_id="MO-closed", item="HA-100", qty=1, due="2026-03-20",
                      status="closed")), "production order 'MO-closed' cannot be created as closed",
           "production_order"),
    Poison("order starting before year one", "production",
           _js(_event("production_order", 1, "o3", order_id="MO-year-1", item="HA-100", qty=1, due="0001-01-02")),
           "production order 'MO-year-1' would start before 0001-01-01", "production_order"),
    Poison("issue above what is available", "inventory", _js(_event("issue", 1, "i1", item="MIC-01", qty=1e8)),
           "insufficient available stock", "issue"),
    Poison("BOM closing a cycle", "master", _js({"type": "bom", "event_id": "poison-b1", "ts": _ts(1),
                                                 "item": "MIC-01", "components": [{"item": "HA-100", "qty_per": 1}]}),
           "BOM cycle: MIC-01 -> HA-100", "bom", key=b"bom|*|poison-cycle"),
    Poison("BOM yield below the resolution", "master",
           _js({"type": "bom", "event_id": "poison-b2", "ts": _ts(1), "item": "BAT-01",
                "components": [{"item": "MIC-01", "qty_per": 1}], "yield_pct": 1e-5}),
           "BOM for 'BAT-01': yield_pct 1e-05 is below the 0.0001 % resolution", "bom", key=b"bom|*|poison-yield"),
    Poison("garbage on the master topic", "master", b"\xc1\xff garbage", "malformed message",
           key=b"item|*|poison-garbage"),
]


@dataclass(frozen=True)
class Good:
    """The sample's events a replay applies cleanly, and the poison's one good event, in event-time order."""

    events: list[Any]
    lines: list[bytes]   # each as the publisher would encode it


def _good() -> Good:
    events = [e for line in SAMPLE.read_bytes().splitlines() if line.strip() for e in decode_message(line.strip())
              if not isinstance(e, Rejected)]
    engine = Engine()
    refused = {id(o.event) for o in engine.apply(events) if isinstance(o, Rejected)}
    refused |= {id(event) for _reason, event, _source in waiting_events(engine)}
    kept = [e for e in events if id(e) not in refused]
    (extra,) = decode_message(_js(ENVELOPE_GOOD))
    kept.append(extra)
    kept.sort(key=lambda e: e.ts)   # stable: the sample is in time order
    check = Engine()
    assert not [o for o in check.apply(kept) + check.finish() if isinstance(o, Rejected)]
    return Good(kept, [encode_json(e) for e in kept])


@dataclass
class Run:
    settings: Settings
    worker: Worker
    letters: list[dict[str, Any]]
    planned: dict[bytes, dict[str, Any]]
    poison: list[Poison]


def _site_events_consumed(worker: Worker) -> tuple[int, int]:
    """(site events consumed, events waiting for the watermark), from the worker's /metrics."""
    with OPENER.open(f"{worker.url}/metrics", timeout=15) as response:
        text = response.read().decode()
    consumed = waiting = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "millstream_events_consumed_total" and \
                    sample.labels["topic"].rpartition(".")[2] in SITE_TOPICS:
                consumed += int(sample.value)
            elif sample.name == "millstream_events_waiting" and sample.labels["reason"] == "watermark":
                waiting += int(sample.value)
    return consumed, waiting


def _decoded_count(value: bytes | None) -> int:
    return len(decode_message(value or b"", max_bytes=MAX_BYTES))


def _drain(settings: Settings, quiet: float = 6.0, limit: float = 120.0) -> list[tuple[str, bytes, bytes]]:
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"poison-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})   # read_committed
    consumer.subscribe([settings.topic("rejected"), settings.topic("planned-orders")])
    records = []
    start = last = time.monotonic()
    try:
        while time.monotonic() - last < quiet and time.monotonic() - start < limit:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                records.append((message.topic(), message.key(), message.value()))
                last = time.monotonic()
    finally:
        consumer.close()
    return records


@pytest.fixture(scope="module")
def good() -> Good:
    return _good()


@pytest.fixture(scope="module")
def run(bootstrap: str, tmp_path_factory: pytest.TempPathFactory, port_range: Any, good: Good) -> Iterator[Run]:
    data_dir = tmp_path_factory.mktemp("poison")
    settings = Settings(bootstrap=bootstrap, partitions=PARTITIONS, topic_prefix=f"p{uuid.uuid4().hex[:8]}",
                        data_dir=str(data_dir), max_message_bytes=MAX_BYTES)
    ensure_topics(settings)
    producer = Producer(producer_config(settings, 60))
    site_events = 0

    def send(poison: Poison | None, topic: str, key: bytes | None, value: bytes | None) -> None:
        nonlocal site_events
        if topic.rpartition(".")[2] in SITE_TOPICS:
            site_events += _decoded_count(value)

        def delivered(error: Any, message: Any) -> None:
            assert error is None, error
            if poison is not None:
                poison.where = (message.topic(), message.partition(), message.offset())

        producer.produce(topic, value=value, key=key, on_delivery=delivered)

    def send_poison(poison: Poison) -> None:
        key = poison.key if poison.key is not _NONE else b"DK1"
        send(poison, settings.topic(poison.topic), key, poison.value)

    # good events, one per message, with a poison message after every third
    poison = [dataclasses.replace(p) for p in FIRST]
    queue = list(poison)
    for number, (event, line) in enumerate(zip(good.events, good.lines, strict=True)):
        if event.event_id == ENVELOPE_GOOD["event_id"]:
            continue   # sent inside its envelope, among the poison
        topic, key = route(event, settings)
        send(None, topic, key, line)
        if number % 3 == 2 and queue:
            send_poison(queue.pop(0))
    for rest in queue:
        send_poison(rest)
    assert producer.flush(60) == 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MILLSTREAM_MAX_MESSAGE_BYTES", str(MAX_BYTES))
        worker = Worker(settings, port_range(1), "worker")
    try:
        def consumed(expected: int) -> bool:
            try:
                seen, waiting = _site_events_consumed(worker)
            except OSError:   # not serving yet
                return False
            assert worker.process.poll() is None, worker.log_path.read_text()[-3000:]
            return seen >= expected and waiting == 0

        eventually(lambda: consumed(site_events), "the good events and the first poison to be applied", limit=240,
                   state=lambda: (site_events, _site_events_consumed(worker)))
        # poison judged against the site's clock, now at the end of the sample
        resent = next(line for event, line in zip(good.events, good.lines, strict=True) if event.site == "DK1")
        later = [Poison("duplicated event id", "purchase", resent, "duplicate event_id 'ev-0012': already applied",
                        "purchase_order"),
                 Poison("older than the de-duplication window", "inventory", _js(_receipt(-40 * 24, "old1")),
                        "event too old for de-duplication: ", "receipt")]
        for item in later:
            send_poison(item)
        assert producer.flush(60) == 0
        poison += later
        eventually(lambda: consumed(site_events), "the late poison to be consumed", limit=120,
                   state=lambda: (site_events, _site_events_consumed(worker)))
        records = _drain(settings)
        letters = [json.loads(v) for t, _k, v in records if t == settings.topic("rejected")]
        planned: dict[bytes, dict[str, Any]] = {}
        for topic, key, value in records:
            if topic == settings.topic("planned-orders"):
                planned[key] = json.loads(value, parse_float=Decimal)
        yield Run(settings, worker, letters, planned, poison)
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def embedded(good: Good, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = Path(tmp_path_factory.mktemp("good")) / "good.jsonl"
    path.write_bytes(b"\n".join(good.lines) + b"\n")
    engine = Engine()
    replay(path, engine)
    assert not any(isinstance(o, Rejected) for o in engine.finish())
    return engine


def test_every_poison_is_dead_lettered_once_with_its_reason_and_coordinates(run: Run) -> None:
    by_place: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for letter in run.letters:
        by_place.setdefault((letter["topic"], letter["partition"], letter["offset"]), []).append(letter)
    for poison in run.poison:
        assert poison.where is not None, poison.name
        letters = by_place.pop(poison.where, [])
        assert [letter["reason"][:len(poison.reason)] for letter in letters] == [poison.reason], poison.name
    assert by_place == {}, "dead letters of good events"


def test_the_worker_goes_on_and_plans_what_the_good_events_alone_plan(run: Run, embedded: Engine) -> None:
    assert run.worker.process.poll() is None, run.worker.log_path.read_text()[-3000:]
    live = {(o["site"], o["planned_id"], str(o["qty"]), o["release"], o["due"])
            for o in run.planned.values() if o.get("action") != "delete"}
    expected = {(r["site"], r["planned_id"], str(r["qty"]), r["release"], r["due"])
                for r in report(embedded, "planned")}
    assert expected and live == expected


def test_the_rejected_counters_are_the_poison_by_topic_and_type(run: Run) -> None:
    with OPENER.open(f"{run.worker.url}/metrics", timeout=15) as response:
        text = response.read().decode()
    found: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "millstream_events_rejected_total":
                found[(sample.labels["topic"], sample.labels["type"])] += int(sample.value)
    expected = Counter((run.settings.topic(p.topic), p.kind) for p in run.poison)
    assert +found == expected
    assert found.total() == len(run.poison) == len(run.letters)
