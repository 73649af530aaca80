"""An output topic the broker refuses to write for longer than a transaction may stay open: the worker holds
back instead of buffering without bound, stays alive, and resumes with the right outputs.

How the topic is made unavailable on a real cluster: the planned-orders topic (replication 3) is given
``min.insync.replicas=3`` and one of the three brokers is stopped.  Its partitions then have 2 in-sync
replicas, and the brokers refuse every ``acks=all`` write to them with NOT_ENOUGH_REPLICAS, exactly as when
an output topic's in-sync replicas fall below its minimum in production; every other topic still takes
writes.  The worker's batch cannot commit: its transaction waits.  Meanwhile the stream goes on, and the
worker must stop fetching once ``read_ahead`` records wait (its feed is full, ``streams/feed.py``): its
consumer position, seen through the lag gauge of ``/metrics``, stays within a bound of what it committed (the
feed and a poll, the batch under way and the next take), whatever is published.  The broker is restarted
after ``STALL`` seconds (more than the transaction timeout), the worker resumes, and the outputs equal the
replay.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from faults import (
    Worker,
    assert_equals_replay,
    chunks,
    committed,
    publish,
    publisher,
    rss_bytes,
    stream,
    wait_until_idle,
)
from prometheus_client.parser import text_string_to_metric_families
from workers import OPENER

from millstream import broker
from millstream.settings import Settings
from monitoring.worker import LAG_INTERVAL
from streams.changelog import app_id, ensure_changelog
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

PARTITIONS = 4
COPIES = 12
READ_AHEAD = 100
BATCH = 20
STALL = float(os.environ.get("STALL_SECONDS", "75"))   # > the workers' transaction timeout (60 s)
LOGLEVEL = os.environ.get("FAULT_TEST_LOGLEVEL", "info")


def _min_insync(settings: Settings, topic: str, value: int) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap})
    resource = ConfigResource("TOPIC", settings.topic(topic), incremental_configs=[
        ConfigEntry("min.insync.replicas", str(value), incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(30)


def _other_than_coordinator(settings: Settings) -> int:
    """A node that does not coordinate the workers' group: the stall is about the output, not the group."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap})
    group = app_id(settings)
    coordinator = admin.describe_consumer_groups([group])[group].result(30).coordinator.id
    return next(node for node in (3, 2, 1) if node != coordinator)


def _ends(settings: Settings) -> dict[int, int]:
    """End offset of each inventory partition."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"ends-{uuid.uuid4().hex}"})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(settings.topic("inventory"), p), timeout=10)[1]
                for p in range(settings.partitions)}
    finally:
        consumer.close()


def _lags(worker: Worker, settings: Settings) -> dict[int, int]:
    """The worker's lag gauge per inventory partition (end offset minus its consumer position)."""
    try:
        with OPENER.open(f"{worker.url}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return {}
    lags = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "millstream_consumer_lag" and sample.labels["topic"] == settings.topic("inventory"):
                lags[int(sample.labels["partition"])] = int(sample.value)
    return lags


def _isr_sizes(settings: Settings, topic: str) -> list[int]:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap})
    name = settings.topic(topic)
    description = admin.describe_topics(TopicCollection([name]))[name].result(30)
    return [len(partition.isr) for partition in description.partitions]


def _inventory(values: dict[tuple[str, int], int], settings: Settings) -> dict[int, int]:
    return {partition: max(v, 0) for (topic, partition), v in values.items() if topic == settings.topic("inventory")}


def test_stalled_output_topic_holds_the_worker_back_and_it_resumes(cluster: broker.ClusterInfo, tmp_path: Path,
                                                                   port_range: Callable[[int], int]) -> None:
    settings = Settings(bootstrap=cluster.bootstrap_servers, partitions=PARTITIONS, replication=3,
                        topic_prefix=f"s{uuid.uuid4().hex[:8]}", data_dir=str(tmp_path))
    ensure_topics(settings)
    ensure_changelog(settings)
    master, pairs = stream(COPIES)
    quarters = chunks(pairs, 4)
    before_stall, during, after = quarters[0], quarters[1] + quarters[2], quarters[3]
    producer = publisher(settings)
    publish(producer, settings, master, before_stall)
    worker = Worker(settings, "w", port_range(1), LOGLEVEL, batch_size=BATCH, read_ahead=READ_AHEAD)
    node = 0
    samples: list[tuple[float, int, int, int]] = []   # seconds into the stall, RSS, committed, read ahead
    try:
        worker.start()
        wait_until_idle(settings, [worker])
        rss_before = rss_bytes(worker.process.pid)   # type: ignore[union-attr]
        _min_insync(settings, "planned-orders", 3)
        node = _other_than_coordinator(settings)
        broker.stop_node(node, cluster.data_dir)
        stopped = time.monotonic()
        while max(_isr_sizes(settings, "planned-orders")) >= 3:   # until every partition refuses acks=all writes
            assert time.monotonic() - stopped < 60, _isr_sizes(settings, "planned-orders")
            time.sleep(0.5)
        stalled = time.monotonic()
        refused = stalled - stopped
        pieces = chunks(during, 10)
        last_piece = 0.0
        while (elapsed := time.monotonic() - stalled) < STALL:
            assert worker.alive(), worker.log_tail()
            if pieces:   # the stream goes on, a piece every 2 s
                publish(producer, settings, [], pieces.pop(0))
                last_piece = elapsed
            done = _inventory(committed(settings), settings)
            lags = _lags(worker, settings)
            ahead = sum(last - lags[p] - done.get(p, 0) for p, last in _ends(settings).items() if p in lags)
            if elapsed - last_piece < LAG_INTERVAL + 1:
                ahead = -1   # the lag gauge may predate the last piece: not comparable with the end offsets
            samples.append((elapsed, rss_bytes(worker.process.pid), sum(done.values()), ahead))   # type: ignore[union-attr]
            time.sleep(2.0)
        broker.start_node(node, cluster.data_dir)
        resumed = time.monotonic()
        publish(producer, settings, [], after)
        idle = wait_until_idle(settings, [worker], timeout=300)
        caught_up = time.monotonic() - resumed
        rss_after = rss_bytes(worker.process.pid)   # type: ignore[union-attr]
    finally:
        worker.stop()
        if node and not broker.status(cluster.data_dir)["nodes"][node - 1]["alive"]:
            broker.start_node(node, cluster.data_dir)
        _min_insync(settings, "planned-orders", 2)
    assert worker.process is not None and worker.process.returncode == 0, worker.log_tail()
    assert worker.starts == 1
    peak = max(rss for _, rss, _, _ in samples)
    print(f"stall of {STALL:.0f} s (node {node} down, planned-orders refused writes {refused:.1f} s later): "
          f"{len(during)} records published during it; committed {[d for _, _, d, _ in samples]}; read ahead of "
          f"the committed position {[a for _, _, _, a in samples]}; RSS {rss_before / 2**20:.1f} MiB before, peak "
          f"{peak / 2**20:.1f} MiB, {rss_after / 2**20:.1f} MiB after; caught up {caught_up:.1f} s after the "
          f"broker came back ({idle:.1f} s after the last chunk)")
    # stalled: a batch whose outputs include no planned order may still go through, but soon nothing does
    assert len({d for elapsed, _, d, _ in samples if elapsed >= STALL / 3}) == 1, samples
    # held back: a poll's worth and a full feed (2 x read_ahead), the batch under way (takes joined while
    # behind: read_ahead and one take at most) and the next take (streams/intake.py) fetched past the
    # committed position, and no more, though the records published during the stall are far more
    comparable = [ahead for _, _, _, ahead in samples if ahead >= 0]
    assert len(comparable) >= 5 and 0 < max(comparable) <= 3 * READ_AHEAD + 2 * BATCH, samples
    assert len(during) - (samples[-1][2] - samples[0][2]) > 2 * max(comparable), samples
    assert_equals_replay(settings, master, pairs)
