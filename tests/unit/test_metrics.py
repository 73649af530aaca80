"""Worker metrics after the sample factory ran through a processor: the counts a replay implies, exactly."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_processor import SAMPLE, SETTINGS, _records

from connectors.replay import read_events, replay
from core.engine import Engine, EngineSettings
from core.persist import StateRows
from core.reports import report
from helpers import SITE, master_data, mk, new_engine
from monitoring.labels import EVENT_TYPES, event_type, topic_of, waiting_events, waiting_labels
from monitoring.metrics import Metrics, metrics_response
from monitoring.worker import LAG_INTERVAL, MetricsSensor, instrument_worker, sample_lag
from schemas.codecs import encode_json
from schemas.outputs import Cost, Rejected
from streams.processor import InRecord, OutRecord, Processor
from streams.topics import topic_specs

LINES = [line for line in SAMPLE.read_bytes().splitlines() if line.strip()]
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp()   # "now" for latency: after every sample event


def run_sample(metrics: Metrics, batch: int = 7) -> tuple[Processor, list[OutRecord], int]:
    """The sample through a metered processor as the service sees it (transfers fed back); records, batches."""
    processor = Processor(Engine(EngineSettings(local_transfers=False)), SETTINGS, metrics=metrics)
    pending = _records(LINES)
    produced: list[OutRecord] = []
    batches = 0
    while pending:
        records, pending = pending[:batch], pending[batch:]
        out = processor.process(records)
        batches += 1
        produced.extend(out)
        pending.extend(InRecord(r.topic, 0, 1000 + len(produced), r.value)
                       for r in out if r.topic == SETTINGS.topic("transfers"))
    produced.extend(processor.finish())
    return processor, produced, batches


def samples(metrics: Metrics) -> dict[str, list[Any]]:
    """Every exported sample by name, as a scraper parses the text format."""
    body, _ = metrics_response(metrics)
    found: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def by_labels(metrics: Metrics, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels[label] for label in labels): s.value for s in samples(metrics).get(name, [])}


def by_type(counts: dict[tuple[str, ...], float]) -> Counter[str]:
    total: Counter[str] = Counter()
    for (_topic, kind), value in counts.items():
        total[kind] += int(value)
    return +total


@pytest.fixture(scope="module")
def sample_run() -> tuple[Metrics, Processor, list[OutRecord], int]:
    metrics = Metrics(clock=lambda: NOW)
    processor, produced, batches = run_sample(metrics)
    return metrics, processor, produced, batches


def test_consumed_applied_and_rejected_per_type_are_what_the_replay_applies_and_rejects(sample_run: Any) -> None:
    metrics, _, _, _ = sample_run
    consumed = by_labels(metrics, "millstream_events_consumed_total", "topic", "type")
    applied = by_labels(metrics, "millstream_events_applied_total", "topic", "type")
    rejected = by_labels(metrics, "millstream_events_rejected_total", "topic", "type")
    # what the embedded replay reads and rejects, per type
    read = Counter(event_type(event) for event, _ in read_events(LINES))
    pairs = list(read_events(LINES))
    embedded = Engine()
    outputs = embedded.apply([e for e, _ in pairs], [s for _, s in pairs]) + embedded.finish()
    replay_rejected = Counter(event_type(o) for o in outputs if isinstance(o, Rejected))
    assert replay_rejected == {"invalid": 2, "issue": 1, "quality": 1, "material_issue": 1, "receipt": 1}
    announced = Counter({"transfer_in_transit": 1})   # the shipment, consumed again from the transfers topic
    assert by_type(consumed) == read + announced
    assert by_type(rejected) == replay_rejected
    assert by_type(applied) == read + announced - replay_rejected
    assert consumed[(SETTINGS.topic("transfers"), "transfer_in_transit")] == 1
    assert rejected[(SETTINGS.topic("inventory"), "invalid")] == 2
    dead_letters = by_labels(metrics, "millstream_outputs_total", "topic", "type")
    assert dead_letters[(SETTINGS.topic("rejected"), "rejected")] == 6


def test_events_waiting_for_a_reference_or_the_watermark_are_not_applied_yet() -> None:
    metrics = Metrics()
    processor = Processor(Engine(EngineSettings(local_transfers=False)), SETTINGS, metrics=metrics)
    records = _records(LINES)
    # a partition still behind that has not shown any site yet: every site event waits for it
    behind = {(SETTINGS.topic("transfers"), 0): 1}
    processor.process(records, highwaters=behind)
    applied = by_labels(metrics, "millstream_events_applied_total", "topic", "type")
    consumed = by_labels(metrics, "millstream_events_consumed_total", "topic", "type")
    site_events = sum(v for (topic, kind), v in consumed.items()
                      if kind not in ("item", "bom", "work_center", "invalid"))
    assert sum(v for (topic, _), v in applied.items() if topic != SETTINGS.topic("master")) == 0
    assert by_labels(metrics, "millstream_events_waiting", "reason")[("watermark",)] == site_events
    # the partition is read: everything goes in, except the issue whose production order never comes (the
    # transfer receipt whose announcement is not fed back here is booked without it)
    processor.process([], highwaters={})
    waiting = by_labels(metrics, "millstream_events_waiting", "reason")
    assert waiting == {("watermark",): 0, ("reference",): 1}
    applied = by_labels(metrics, "millstream_events_applied_total", "topic", "type")
    rejected = by_labels(metrics, "millstream_events_rejected_total", "topic", "type")
    production = SETTINGS.topic("production")
    assert applied[(production, "material_issue")] == consumed[(production, "material_issue")] - 1
    assert (production, "material_issue") not in rejected
    processor.finish()   # the end of input: the parked issue is rejected, and still not applied
    applied_after = by_labels(metrics, "millstream_events_applied_total", "topic", "type")
    assert applied_after[(production, "material_issue")] == applied[(production, "material_issue")]
    assert by_labels(metrics, "millstream_events_rejected_total", "topic", "type")[(production, "material_issue")] == 1


def walked(engine: Engine) -> Counter[tuple[str, str]]:
    """The waiting events counted one by one (what a scrape did before the engine kept the counts)."""
    return Counter((topic_of(source), event_type(event)) for _reason, event, source in waiting_events(engine))


def test_waiting_counts_a_scrape_reads_follow_the_events_held_and_released() -> None:
    engine = new_engine(kernel="off")
    events = [mk("receipt", item="RAW-A", qty=1, lot=f"L{i}") for i in range(4)]
    events += [mk("issue", item="RAW-A", qty=1, lot=f"L{i}") for i in range(2)]
    sources = [f"mill.inventory[0]@{i}" if i % 3 else f"mill.production[1]@{i}#2" for i in range(6)] + [None]
    events.append(mk("receipt", item="RAW-B", qty=1, lot="LB"))
    assert engine.apply(events[:6], sources[:6], watermark=lambda _site: events[2].ts) == []
    assert engine.held() == 3
    assert waiting_labels(engine) == walked(engine) == {("mill.production", "receipt"): 1,
                                                        ("mill.inventory", "issue"): 2}
    engine.apply(events[6:], sources[6:], watermark=lambda _site: events[4].ts)   # one more in, two out
    assert engine.held() == 2
    assert waiting_labels(engine) == walked(engine) == {("mill.inventory", "issue"): 1, ("", "receipt"): 1}
    other = mk("receipt", site="S2", item="RAW-A", qty=1, lot="L9")
    engine.apply([other], ["mill.inventory[1]@9"], watermark=lambda _site: events[4].ts)
    assert waiting_labels(engine)[("mill.inventory", "receipt")] == 1
    engine.drop_held("S2")   # its partition went to another worker (core/persist.py, StateRows.drop)
    assert waiting_labels(engine) == walked(engine) == {("mill.inventory", "issue"): 1, ("", "receipt"): 1}
    engine.finish()
    assert engine.held() == 0 and engine.held_by() == {} and waiting_labels(engine) == walked(engine) == {}


def test_latency_batches_and_planner_are_observed(sample_run: Any) -> None:
    metrics, processor, produced, batches = sample_run
    found = samples(metrics)
    stamped = [json.loads(r.value)["ts"] for r in produced if "ts" in json.loads(r.value)]
    assert 0 < len(stamped) < len(produced)   # the malformed line's dead letter has no event time
    assert found["millstream_end_to_end_latency_seconds_count"][0].value == len(stamped)
    expected = sum(NOW - dt.datetime.fromisoformat(ts).timestamp() for ts in stamped)
    assert found["millstream_end_to_end_latency_seconds_sum"][0].value == pytest.approx(expected)
    assert found["millstream_batch_duration_seconds_count"][0].value == batches
    assert found["millstream_engine_duration_seconds_count"][0].value == batches
    assert found["millstream_plan_duration_seconds_count"][0].value == batches   # one planner run per batch
    assert found["millstream_batch_events_sum"][0].value == len(LINES) + 1
    assert found["millstream_items_replanned_total"][0].value == processor.engine.planner.replanned > 0
    assert found["millstream_replanned_items_per_event_count"][0].value == batches
    build = found["millstream_build_info"][0].labels
    assert build["kernel"] in ("cython", "python") and build["compiled"] == str(build["kernel"] == "cython").lower()


def test_site_gauges_match_the_reports(sample_run: Any) -> None:
    metrics, processor, _, _ = sample_run
    engine = processor.engine
    shortages = Counter(row["site"] for row in report(engine, "shortages"))
    planned = Counter(row["site"] for row in report(engine, "planned"))
    assert by_labels(metrics, "millstream_open_shortages", "site") == {(s,): n for s, n in shortages.items()}
    assert by_labels(metrics, "millstream_planned_orders", "site") == {(s,): n for s, n in planned.items()}
    replayed = Engine()
    replay(SAMPLE, replayed)
    assert sum(shortages.values()) == len(report(replayed, "shortages"))
    metrics.owns = lambda site: site == "US1"   # another worker owns DK1: not reported here
    assert set(by_labels(metrics, "millstream_open_shortages", "site")) == {("US1",)}
    metrics.owns = lambda _site: True


def test_labels_are_bounded(sample_run: Any) -> None:
    metrics, processor, _, _ = sample_run
    topics = {spec.name for spec in topic_specs(SETTINGS)}
    ids = set()
    for line in LINES:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        ids.update(str(v) for k, v in event.items() if k in ("item", "order_id", "po_id", "demand_id", "lot",
                                                              "event_id", "transfer_id"))
    assert ids
    for name, found in samples(metrics).items():
        for sample in found:
            for label, value in sample.labels.items():
                assert value not in ids, (name, label, value)
                if label == "topic":
                    assert value in topics, (name, value)
                elif label == "type" and name.startswith("millstream_events_"):
                    assert value in EVENT_TYPES, (name, value)
                elif label == "site":
                    assert value in processor.engine.sites
    assert "HA-100" in dict(metrics.busiest("DK1", 100))   # busiest items are kept for /status, never as labels


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_lag_state_size_restore_and_produce_errors_set_by_the_app() -> None:
    clock = Clock(10.0)
    metrics = Metrics(timer=clock)
    metrics.set_lag({("millstream.inventory", 0): 5, ("millstream.inventory", 1): 0})
    metrics.set_lag({("millstream.master", 0): 2}, scope="master")
    assert by_labels(metrics, "millstream_consumer_lag", "topic", "partition") == {
        ("millstream.inventory", "0"): 5, ("millstream.inventory", "1"): 0, ("millstream.master", "0"): 2}
    metrics.set_lag({("millstream.inventory", 1): 3})   # partition 0 was revoked: its series goes
    assert by_labels(metrics, "millstream_consumer_lag", "topic", "partition") == {
        ("millstream.inventory", "1"): 3, ("millstream.master", "0"): 2}
    metrics.set_state_size("state", 120, 4096)
    assert by_labels(metrics, "millstream_state_bytes", "table") == {("state",): 4096}
    with metrics.restoring("state"):   # started at 10.0
        clock.now = 12.0
        assert samples(metrics)["millstream_state_restore_in_progress_seconds"][0].value == 2.0
        clock.now = 13.5
    found = samples(metrics)
    assert found["millstream_state_restore_duration_seconds_sum"][0].value == 3.5
    assert found["millstream_state_restore_in_progress_seconds"][0].value == 0.0
    token = metrics.restore_started("state")   # on assignment; finished when the sites are restored
    clock.now = 20.0
    assert metrics.restore_in_progress() == 6.5
    assert metrics.restore_finished(token) == 6.5
    assert metrics.restore_in_progress() == 0.0
    metrics.produce_error("millstream-worker-sites-changelog")
    metrics.produce_error("millstream.shortages")
    assert by_labels(metrics, "millstream_produce_errors_total", "kind") == {("changelog",): 1, ("output",): 1}


def test_sensor_counts_rebalances_and_failed_sends() -> None:
    clock = Clock(1.0)
    metrics = Metrics(timer=clock)
    sensor = MetricsSensor(metrics)
    state = sensor.on_rebalance_start(None)
    clock.now = 4.0
    sensor.on_rebalance_end(None, state)
    send = sensor.on_send_initiated(None, "millstream.costs", None, 3, 10)
    sensor.on_send_error(None, RuntimeError("broker gone"), send)
    found = samples(metrics)
    assert found["millstream_rebalances_total"][0].value == 1
    assert found["millstream_rebalance_duration_seconds_sum"][0].value == 3.0
    assert by_labels(metrics, "millstream_produce_errors_total", "topic") == {("millstream.costs",): 1}


class Consumer:
    """A Faust consumer's assignment, cached highwaters and (async) positions."""

    def __init__(self, high: dict[tuple[str, int], int], position: dict[tuple[str, int], int]) -> None:
        self.high, self.position_of = high, position

    def assignment(self) -> list[Any]:
        return [SimpleNamespace(topic=topic, partition=partition) for topic, partition in self.high]

    def highwater(self, tp: Any) -> int:
        return self.high[(tp.topic, tp.partition)]

    async def position(self, tp: Any) -> int:
        return self.position_of[(tp.topic, tp.partition)]


def test_lag_is_sampled_from_highwater_and_position() -> None:
    consumer = Consumer({("millstream.inventory", 0): 50, ("millstream.inventory", 1): -1,
                         ("millstream.demand", 0): 7},
                        {("millstream.inventory", 0): 20, ("millstream.inventory", 1): 0, ("millstream.demand", 0): 9})
    metrics = Metrics()
    lags = asyncio.run(sample_lag(consumer, metrics))
    # nothing fetched yet from inventory[1]: unknown, not reported; a position past the highwater is no lag
    assert lags == {("millstream.inventory", 0): 30, ("millstream.demand", 0): 0}
    assert metrics.lags() == lags


def test_lag_is_sampled_from_the_end_offsets_the_brokers_give_when_asked() -> None:
    """Back-pressure stops fetching a partition, so its cached highwater freezes; the brokers' end offset does not."""
    consumer = Consumer({("millstream.inventory", 0): 50, ("millstream.inventory", 1): 8},
                        {("millstream.inventory", 0): 20, ("millstream.inventory", 1): 8})
    asked: list[list[tuple[str, int]]] = []

    async def ends(tps: list[Any]) -> dict[tuple[str, int], int]:
        asked.append(sorted((tp.topic, tp.partition) for tp in tps))
        return {("millstream.inventory", 0): 900, ("millstream.inventory", 1): 8}

    lags = asyncio.run(sample_lag(consumer, Metrics(), ["millstream.inventory"], ends))
    assert lags == {("millstream.inventory", 0): 880, ("millstream.inventory", 1): 0}
    assert asked == [[("millstream.inventory", 0), ("millstream.inventory", 1)]]


def test_instrument_worker_adds_the_sensor_a_lag_timer_on_the_inputs_and_table_sizes(tmp_path: Any) -> None:
    import rocksdict

    timers: list[tuple[float, Any]] = []
    databases = {p: rocksdict.Rdict(str(tmp_path / f"p{p}")) for p in (0, 1)}
    try:
        for p, db in databases.items():
            for i in range(3 + p):
                db[f"S{p}|row{i}".encode()] = b"x" * 100
        inputs, changelog = ("millstream.inventory", 0), ("millstream-worker-state-changelog", 0)
        app = SimpleNamespace(sensors=set(), consumer=Consumer({inputs: 9, changelog: 90}, {inputs: 4, changelog: 0}),
                              timer=lambda interval: lambda fn: timers.append((interval, fn)) or fn)
        metrics = Metrics()
        table = SimpleNamespace(data=SimpleNamespace(_dbs=databases))
        sensor = instrument_worker(app, metrics, topics=["millstream.inventory"], tables={"state": table})
        assert app.sensors == {sensor}
        [(interval, sample)] = timers
        assert interval == LAG_INTERVAL
        asyncio.run(sample())
        # the changelog this worker writes itself is not "lag"
        assert by_labels(metrics, "millstream_consumer_lag", "topic", "partition") == {("millstream.inventory", "0"): 5}
        keys, size = metrics.state_sizes()["state"]
        assert keys == 7 and size > 0
        assert by_labels(metrics, "millstream_state_keys", "table") == {("state",): 7}
    finally:
        for db in databases.values():
            db.close()


def test_scrape_formats() -> None:
    metrics = Metrics()
    body, content_type = metrics_response(metrics)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert b"# TYPE millstream_events_consumed_total counter" in body
    body, content_type = metrics_response(metrics, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_processor_without_metrics_is_unchanged() -> None:
    metered, plain = Metrics(), None
    outs = []
    for metrics in (metered, plain):
        processor = Processor(Engine(EngineSettings(local_transfers=False)), SETTINGS, metrics=metrics)
        outs.append([r for batch in range(0, len(LINES), 9)
                     for r in processor.process(_records(LINES)[batch:batch + 9])] + processor.finish())
    assert outs[0] == outs[1]


def test_records_a_restored_site_already_applied_are_skipped_not_consumed() -> None:
    engine = Engine(EngineSettings(local_transfers=False, track_changes=True))
    rows = StateRows(engine)
    metrics = Metrics()
    processor = Processor(engine, SETTINGS, rows, metrics=metrics)
    processor.process([InRecord("millstream.master", 0, i, encode_json(e)) for i, e in enumerate(master_data())])
    rows.record_offset(SITE, "millstream.inventory", 0, 11)   # as restored: offsets up to 11 are in the state
    receipts = [encode_json(mk("receipt", item="RAW-A", qty=1, lot="A1")) for _ in range(2)]
    processor.process([InRecord("millstream.inventory", 0, 11, receipts[0]),
                       InRecord("millstream.inventory", 0, 12, receipts[1])])
    assert by_labels(metrics, "millstream_records_skipped_total", "topic") == {("millstream.inventory",): 1}
    assert by_labels(metrics, "millstream_events_applied_total", "topic", "type")[
        ("millstream.inventory", "receipt")] == 1


def test_an_event_time_ahead_of_the_wall_clock_counts_as_no_latency() -> None:
    metrics = Metrics(clock=lambda: 0.0)   # the producer's clock runs ahead of this worker's
    cost = Cost(site="S1", ts=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), item="X", unit_cost=1.0)
    metrics.outputs([cost], [OutRecord("millstream.costs", b"S1|X", b"{}")])
    found = samples(metrics)
    assert found["millstream_end_to_end_latency_seconds_count"][0].value == 1
    assert found["millstream_end_to_end_latency_seconds_sum"][0].value == 0
