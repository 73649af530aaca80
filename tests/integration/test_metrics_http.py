"""Workers' ``/metrics`` over real HTTP after the sample factory ran through real workers on the real broker (one
catching up with a backlog, then two live): event counters equal what was sent, histograms are observed, per-site
gauges agree with the query API and the replay, build info names the kernel, ``millstream status`` lists every site."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError
from prometheus_client.parser import text_string_to_metric_families
from test_query_api import OPENER, PARTITIONS, ROOT, SAMPLE, Worker, _settings, eventually, running

from connectors.publisher import publish_lines
from connectors.replay import replay
from core.engine import Engine
from core.netting import COMPILED
from core.reports import report
from millstream import __version__
from monitoring.labels import waiting_events
from schemas import events as ev
from schemas.codecs import decode_message
from schemas.outputs import Rejected
from streams.routing import site_partition
from streams.topics import OUTPUTS, TOPIC_OF_TYPE, ensure_topics

pytestmark = pytest.mark.integration

CONSUMED, APPLIED, REJECTED = (f"millstream_events_{name}_total" for name in ("consumed", "applied", "rejected"))
Key = tuple[str, str, str | None]   # (input topic's short name, event type, site)


class Scrape:
    """One ``GET /metrics`` of a worker, parsed the way Prometheus parses it; topic labels by short name."""

    def __init__(self, worker: Worker) -> None:
        assert worker.process.poll() is None, worker.log_path.read_text()[-3000:]
        with OPENER.open(f"{worker.url}/metrics", timeout=15) as response:
            assert response.status == 200 and response.headers.get_content_type() == "text/plain"
            text = response.read().decode()
        self.prefix = f"{worker.settings.topic_prefix}."
        self.samples: dict[str, list[Any]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples.setdefault(sample.name, []).append(sample)

    def value(self, name: str) -> float:
        (sample,) = self.samples[name]
        return sample.value

    def counts(self, name: str, *labels: str) -> Counter[tuple[str, ...]]:
        found: Counter[tuple[str, ...]] = Counter()
        for sample in self.samples.get(name, []):
            found[tuple(sample.labels[label].removeprefix(self.prefix) for label in labels or ("topic", "type"))] \
                += sample.value
        return found


@dataclass(frozen=True)
class Expected:
    sent: Counter[Key]      # what the publisher sends, and the shipment the worker announces on `transfers`
    bad: Counter[Key]       # rejected by an engine fed the same events
    parked: Counter[Key]    # still waiting there for an order that never comes
    first_ts: float
    last_ts: float


def _key(event: Any) -> Key:
    tag = type(event).__struct_config__.tag
    return TOPIC_OF_TYPE[tag], tag, event.site


@pytest.fixture(scope="module")
def expected() -> Expected:
    events = [e for line in SAMPLE.read_bytes().splitlines() if line.strip() for e in decode_message(line.strip())
              if not isinstance(e, Rejected)]   # lines that do not decode are never sent (the publisher's rule)
    sent = Counter(map(_key, events))
    sent.update(("transfers", "transfer_in_transit", e.to_site) for e in events if isinstance(e, ev.TransferShipped))
    engine = Engine()
    bad = Counter(_key(o.event) for o in engine.apply(events) if isinstance(o, Rejected))
    parked = Counter(_key(event) for _reason, event, _source in waiting_events(engine))
    stamps = [e.ts.timestamp() for e in events]
    return Expected(sent, bad, parked, min(stamps), max(stamps))


@pytest.fixture(scope="module")
def embedded() -> Engine:
    engine = Engine()
    replay(SAMPLE, engine)
    return engine


@dataclass
class Cluster:
    workers: list[Worker]
    owner: dict[str, str]   # site -> URL of the worker assigned its partition
    started: float          # wall clock before the first event was published


def share(counts: Counter[Key], cluster: Cluster, url: str) -> Counter[tuple[str, str]]:
    """What one worker sees of ``counts``: all master data, and the events of the sites it owns."""
    mine: Counter[tuple[str, str]] = Counter()
    for (topic, kind, site), n in counts.items():
        if topic == "master" or cluster.owner[site] == url:
            mine[(topic, kind)] += n
    return mine


@contextmanager
def catching_up(bootstrap: str, data_dir: Path, port: int) -> Iterator[list[Worker]]:
    """One worker started after the whole sample was published: a backlog, merged in event time."""
    settings = _settings(bootstrap, data_dir)
    ensure_topics(settings)
    publish_lines(SAMPLE.read_bytes().splitlines(), settings)
    worker = Worker(settings, port, "w")
    try:
        yield [worker]
    finally:
        worker.stop()


@pytest.fixture(scope="module", params=["one-worker-catching-up", "two-workers-live"])
def cluster(request: pytest.FixtureRequest, bootstrap: str, tmp_path_factory: pytest.TempPathFactory,
            port_range: Any, embedded: Engine, expected: Expected) -> Iterator[Cluster]:
    """The sample through real workers (``running``: published paced once the partitions are shared out)."""
    started = time.time()
    data_dir = tmp_path_factory.mktemp("metrics")
    if request.param == "one-worker-catching-up":
        workers_of = catching_up(bootstrap, data_dir, port_range(1))
    else:
        first = port_range(2)   # two ports that differ
        workers_of = running(bootstrap, data_dir, [first, first + 1], embedded)
    with workers_of as workers:
        site_events = sum(n for (topic, _, _), n in expected.sent.items() if topic != "master")

        def consumed_all() -> bool:   # then the event-time merge holds nothing back: counts are final
            try:
                scrapes = [Scrape(w) for w in workers]
            except OSError:   # the web server is not up yet
                return False
            return sum(n for s in scrapes for (t, _), n in s.counts(CONSUMED).items() if t != "master") >= \
                site_events and all(s.counts("millstream_events_waiting", "reason")[("watermark",)] == 0
                                    for s in scrapes)

        eventually(consumed_all, "every event sent to be consumed and merged", limit=240,
                   state=lambda: [Scrape(w).counts(CONSUMED) for w in workers])
        inventory = workers[0].settings.topic("inventory")
        owner = {site: url for site in embedded.sites for url, held in workers[0].topics().items()
                 if site_partition(site, PARTITIONS) in held[inventory]}
        yield Cluster(workers, owner, started)


def test_event_counters_are_what_was_sent_each_site_counted_by_its_owner(cluster: Cluster,
                                                                         expected: Expected) -> None:
    assert expected.bad.total() == 3 and expected.parked.total() == 1   # the sample's bad events
    assert set(cluster.owner) == {"DK1", "US1"}
    site_events: Counter[tuple[str, str]] = Counter()
    for w in cluster.workers:
        found = Scrape(w)
        sent, bad, parked = (share(c, cluster, w.url) for c in (expected.sent, expected.bad, expected.parked))
        assert found.counts(CONSUMED) == sent, w.url
        assert found.counts(REJECTED) == bad, w.url
        assert found.counts(APPLIED) == sent - bad - parked, w.url   # the parked issue is consumed, not applied
        waiting = found.counts("millstream_events_waiting", "reason")
        assert waiting == {("watermark",): 0, ("reference",): parked.total()}
        site_events.update({key: n for key, n in found.counts(CONSUMED).items() if key[0] != "master"})
    assert site_events == sum((Counter({(t, kind): n}) for (t, kind, _), n in expected.sent.items() if t != "master"),
                              Counter())


def test_outputs_and_dead_letters_on_the_topics_are_what_the_counters_say(cluster: Cluster) -> None:
    outputs: Counter[str] = Counter()
    rejected: Counter[tuple[str, ...]] = Counter()
    for s in map(Scrape, cluster.workers):
        for (topic, _kind), n in s.counts("millstream_outputs_total").items():
            outputs[topic] += n
        rejected.update(s.counts(REJECTED))
    settings, prefix = cluster.workers[0].settings, f"{cluster.workers[0].settings.topic_prefix}."
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"m-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.partition.eof": True})   # read_committed
    consumer.subscribe([settings.topic(name) for name in [*OUTPUTS, "transfers"]])
    records: Counter[str] = Counter()
    letters, at_end = [], set()
    deadline = time.monotonic() + 120
    try:   # committed records, until as many as counted came and every partition is read to its end
        while not (records == outputs and at_end >= {(tp.topic, tp.partition) for tp in consumer.assignment()}) \
                and records <= outputs and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or (message.error() and message.error().code() != KafkaError._PARTITION_EOF):
                continue
            where = (message.topic(), message.partition())
            if message.error():
                at_end.add(where)
                continue
            at_end.discard(where)
            records[message.topic().removeprefix(prefix)] += 1
            if message.topic() == settings.topic("rejected"):
                letters.append(json.loads(message.value()))
    finally:
        consumer.close()
    assert records == outputs and outputs["planned-orders"] > 0 and outputs["costs"] > 0 and outputs["transfers"] == 1
    assert Counter((letter["topic"].removeprefix(prefix), letter["event"]["type"]) for letter in letters) == rejected
    assert len(letters) == outputs["rejected"] == 3


def test_latency_batch_kernel_and_replanning_histograms_are_observed(cluster: Cluster, expected: Expected) -> None:
    latencies = replanned = 0.0
    for w in cluster.workers:
        s = Scrape(w)
        now = time.time()
        batches = s.value("millstream_batch_duration_seconds_count")
        assert batches > 0 and s.value("millstream_batch_events_count") == batches
        assert s.value("millstream_engine_duration_seconds_count") == batches
        assert s.value("millstream_plan_duration_seconds_count") == batches   # one planner run per batch
        plan, engine, batch = (s.value(f"millstream_{x}_duration_seconds_sum") for x in ("plan", "engine", "batch"))
        assert 0 < plan <= engine <= batch <= now - cluster.started
        assert s.value("millstream_batch_events_sum") == sum(s.counts(CONSUMED).values())   # each event: one batch
        count, total = (s.value(f"millstream_end_to_end_latency_seconds_{x}") for x in ("count", "sum"))
        assert count == sum(s.counts("millstream_outputs_total").values())   # every output has an event time
        # each output's event time lies in the sample's; it was produced between the start and now
        assert count * (cluster.started - expected.last_ts) <= total <= count * (now - expected.first_ts)
        assert s.counts("millstream_end_to_end_latency_seconds_bucket", "le")[("+Inf",)] == count
        items = s.value("millstream_items_replanned_total")
        per_event = s.value("millstream_replanned_items_per_event_count")
        assert 0 < per_event <= batches and 0 <= s.value("millstream_replanned_items_per_event_sum") <= items
        latencies, replanned = latencies + count, replanned + items
    assert latencies > 0 and replanned > 0


def test_each_worker_hands_the_memory_it_freed_back_on_its_timer(cluster: Cluster) -> None:
    """glibc's ``malloc_trim`` runs in the real worker every ``memory_release_interval`` (5 s), busy or idle."""
    for w in cluster.workers:
        eventually(lambda w=w: Scrape(w).value("millstream_memory_release_duration_seconds_count") >= 2,
                   f"two memory releases by the worker logging to {w.log_path}", limit=30.0)


def test_site_gauges_are_what_the_query_api_and_the_replay_say(cluster: Cluster, embedded: Engine) -> None:
    shortages = Counter(row["site"] for row in report(embedded, "shortages"))
    planned = Counter(row["site"] for row in report(embedded, "planned"))
    overloaded = Counter(row["site"] for row in report(embedded, "capacity") if row["overloaded"])
    assert shortages["DK1"] > 0 and planned.total() > 0 and overloaded["DK1"] > 0
    for w in cluster.workers:
        s = Scrape(w)
        owned = {(site,) for site, url in cluster.owner.items() if url == w.url}
        gauges = (s.counts("millstream_open_shortages", "site"), s.counts("millstream_planned_orders", "site"),
                  s.counts("millstream_overloaded_work_center_days", "site"))
        assert set(gauges[0]) == set(gauges[1]) == set(gauges[2]) == owned   # only the owner reports a site
        for (site,) in owned:
            assert gauges[0][(site,)] == len(w.get(f"/sites/{site}/shortages").body["shortages"]) == shortages[site]
            assert gauges[1][(site,)] == planned[site]
            assert gauges[2][(site,)] == overloaded[site] == sum(
                len(w.get(f"/sites/{site}/work-centers/{wc}/load").body["overloads"]) for wc in ("SMT", "ASSY"))


def test_build_info_names_the_kernel_and_whether_it_is_compiled(cluster: Cluster) -> None:
    for w in cluster.workers:
        (info,) = Scrape(w).samples["millstream_build_info"]
        assert info.value == 1
        assert info.labels == {"version": __version__, "kernel": "cython" if COMPILED else "python",
                               "compiled": str(COMPILED).lower()}


SITE_LINE = re.compile(r"site (\S+) \(partition (\d+), worker (\S+)\): (\d+) open shortages, (\d+) planned orders, "
                       r"(\d+) overloaded work-center days, lag \d+")
WORKER_LINE = re.compile(r"worker (\S+): lag \d+; events consumed (\d+), applied (\d+), rejected (\d+), waiting (\d+)")


def test_millstream_status_prints_every_site_with_its_open_shortages(cluster: Cluster, embedded: Engine) -> None:
    planned = Counter(row["site"] for row in report(embedded, "planned"))
    overloaded = Counter(row["site"] for row in report(embedded, "capacity") if row["overloaded"])
    totals = {}
    for w in cluster.workers:
        s = Scrape(w)
        totals[w.url] = tuple(int(s.counts(*name).total()) for name in (
            [CONSUMED], [APPLIED], [REJECTED], ["millstream_events_waiting", "reason"]))
    for w in cluster.workers:   # any worker answers for all of them
        done = subprocess.run([sys.executable, "-m", "millstream.cli", "status", "--url", w.url, "--top", "50"],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        head, *blocks = done.stdout.split("\n\n")
        assert {m[1]: tuple(map(int, m.groups()[1:])) for m in WORKER_LINE.finditer(head)} == totals
        sites = {}
        for block in blocks:
            header, *lines = block.splitlines()
            match = SITE_LINE.fullmatch(header)
            assert match, header
            site, partition, owner, open_shortages, planned_orders, overloads = match.groups()
            shortages = w.get(f"/sites/{site}/shortages").body["shortages"]
            assert (int(partition), owner, int(open_shortages), int(planned_orders), int(overloads)) == (
                site_partition(site, PARTITIONS), cluster.owner[site], len(shortages), planned[site],
                overloaded[site])
            assert [line for line in lines if line.startswith("  short ")] == [
                f"  short  {x['item']}  {x['qty']} on {x['date']}" for x in shortages]
            sites[site] = int(open_shortages)
        assert sites.keys() == set(embedded.sites) and sites["DK1"] > 0
