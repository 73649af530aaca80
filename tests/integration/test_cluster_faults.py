"""Faults on a local cluster of 3 brokers (replication 3, min.insync.replicas 2) under two workers.

* ``test_killed_worker_fails_over_and_comes_back``: one of two workers is SIGKILLed mid-stream; its
  partitions move to the other, which restores their sites from the changelog and goes on; the killed one
  comes back and the partitions are shared again.  Assignment is read from each worker's ``/router/topics``
  and ``/status`` (which sites each worker's engine holds).
* ``test_broker_stopped_and_restarted_mid_stream``: the broker that coordinates the workers' group is
  stopped while events flow, and restarted; both workers go on all the while.

Each ends with the verdict of every fault test (``faults.assert_equals_replay``): durable rows, restored
reports, compacted outputs and dead letters equal the replay of the same events.  Figures (times to take
over, to come back) are printed; RELIABILITY.md records a run.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from faults import (
    Worker,
    assert_equals_replay,
    chunks,
    committed,
    progress,
    publish,
    publisher,
    stream,
    wait_until_idle,
)
from workers import OPENER

from millstream import broker
from millstream.settings import Settings
from streams.changelog import app_id, ensure_changelog
from streams.routing import site_partition
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

PARTITIONS = 4
COPIES = 6
LOGLEVEL = os.environ.get("FAULT_TEST_LOGLEVEL", "info")
SESSION_TIMEOUT = 8   # seconds before a killed worker's partitions move (the brokers' minimum is 6)


def _settings(cluster: broker.ClusterInfo, data_dir: Path) -> Settings:
    settings = Settings(bootstrap=cluster.bootstrap_servers, partitions=PARTITIONS, replication=3,
                        topic_prefix=f"f{uuid.uuid4().hex[:8]}", data_dir=str(data_dir))
    ensure_topics(settings)
    ensure_changelog(settings)
    return settings


def _workers(settings: Settings, port_range: Callable[[int], int], names: tuple[str, ...]) -> list[Worker]:
    return [Worker(settings, name, port_range(1), LOGLEVEL, batch_size=20, session_timeout=SESSION_TIMEOUT)
            for name in names]


def _get(worker: Worker, path: str) -> Any:
    try:
        with OPENER.open(f"{worker.url}{path}", timeout=10) as response:
            return json.loads(response.read())
    except OSError:
        return None


def held(worker: Worker, settings: Settings) -> list[int]:
    """The inventory partitions this worker holds, as its own ``/router/topics`` says (none if it is down)."""
    view = _get(worker, "/router/topics") if worker.alive() else None
    for url, topics in (view or {}).items():
        if url.rstrip("/") == worker.url:
            return sorted(topics.get(settings.topic("inventory"), []))
    return []


def sites_held(worker: Worker) -> dict[str, str]:
    """Site -> worker URL, from ``/status`` (the sites each engine holds, peers asked)."""
    status = _get(worker, "/status?top=0")
    return {row["site"]: row["worker"].rstrip("/") for row in (status or {}).get("sites", [])}


def eventually(probe: Callable[[], bool], what: str, workers: list[Worker], limit: float = 120.0) -> float:
    """Seconds until ``probe`` holds; fails with the workers' logs after ``limit``."""
    started = time.monotonic()
    while not probe():
        for worker in workers:
            assert worker.process is None or worker.alive(), worker.log_tail()
        if time.monotonic() - started > limit:
            raise AssertionError(f"timed out waiting for {what}:\n" + "\n".join(w.log_tail() for w in workers))
        time.sleep(0.25)
    return time.monotonic() - started


def _committed_on(settings: Settings, partitions: list[int]) -> int:
    return sum(max(offset, 0) for (topic, partition), offset in committed(settings).items()
               if partition in partitions and topic == settings.topic("inventory"))


def test_killed_worker_fails_over_and_comes_back(cluster: broker.ClusterInfo, tmp_path: Path,
                                                 port_range: Callable[[int], int]) -> None:
    settings = _settings(cluster, tmp_path)
    master, pairs = stream(COPIES)
    first, second, third = chunks(pairs, 3)
    producer = publisher(settings)
    publish(producer, settings, master, [])
    a, b = workers = _workers(settings, port_range, ("a", "b"))
    try:
        for worker in workers:
            worker.start()
        eventually(lambda: held(a, settings) and held(b, settings)
                   and sorted(held(a, settings) + held(b, settings)) == list(range(PARTITIONS)),
                   "the two workers to share the partitions", workers)
        publish(producer, settings, [], first)
        wait_until_idle(settings, workers)
        lost = held(a, settings)
        before = _committed_on(settings, lost)
        publish(producer, settings, [], second)   # a's share of it waits for b
        a.kill()
        killed = time.monotonic()
        took_over = eventually(lambda: held(b, settings) == list(range(PARTITIONS)), "b to take a's partitions",
                               [b], limit=SESSION_TIMEOUT + 90)
        sites = {site for site, _ in pairs if site_partition(site, PARTITIONS) in lost}
        restored = eventually(lambda: sites <= {s for s, url in sites_held(b).items() if url == b.url},
                              "b to restore a's sites", [b]) + took_over
        eventually(lambda: _committed_on(settings, lost) > before, "b to apply a's records", [b])
        went_on = time.monotonic() - killed
        a.start()
        back = eventually(lambda: held(a, settings) and sorted(held(a, settings) + held(b, settings))
                          == list(range(PARTITIONS)), "the partitions to be shared again", workers)
        mapping = eventually(lambda: {url for url in sites_held(b).values()} == {a.url, b.url}
                             and sites_held(a) == sites_held(b), "both engines to hold their sites again", workers)
        publish(producer, settings, [], third)
        idle = wait_until_idle(settings, workers)
    finally:
        for worker in workers:
            worker.stop()
    for worker in workers:
        assert worker.process is not None and worker.process.returncode == 0, worker.log_tail()
    print(f"failover: a held {lost} ({len(sites)} sites); b held every partition {took_over:.1f} s after the kill, "
          f"its engine had a's sites at {restored:.1f} s, applied a's records at {went_on:.1f} s; a restarted: "
          f"partitions shared again in {back:.1f} s, sites in {back + mapping:.1f} s; caught up {idle:.1f} s after "
          f"the last chunk")
    assert_equals_replay(settings, master, pairs)


def _coordinator(settings: Settings) -> int:
    """The node id of the broker that coordinates the workers' consumer group."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap})
    group = app_id(settings)
    description = admin.describe_consumer_groups([group])[group].result(30)
    assert isinstance(description.coordinator.id, int)
    return description.coordinator.id


def test_broker_stopped_and_restarted_mid_stream(cluster: broker.ClusterInfo, tmp_path: Path,
                                                 port_range: Callable[[int], int]) -> None:
    settings = _settings(cluster, tmp_path)
    master, pairs = stream(COPIES)
    parts = chunks(pairs, 4)
    producer = publisher(settings)
    publish(producer, settings, master, [])
    workers = _workers(settings, port_range, ("a", "b"))
    try:
        for worker in workers:
            worker.start()
        eventually(lambda: all(held(w, settings) for w in workers), "the two workers to share the partitions",
                   workers)
        publish(producer, settings, [], parts[0])
        wait_until_idle(settings, workers)
        node = _coordinator(settings)
        publish(producer, settings, [], parts[1])
        started = time.monotonic()
        broker.stop_node(node, cluster.data_dir)
        stopped = time.monotonic() - started
        before = progress(settings)
        publish(producer, settings, [], parts[2])
        went_on = eventually(lambda: progress(settings) > before + len(parts[2]) // 2,
                             f"the workers to go on without node {node}", workers)
        down = time.monotonic()
        broker.start_node(node, cluster.data_dir)
        restarted = time.monotonic() - down
        publish(producer, settings, [], parts[3])
        idle = wait_until_idle(settings, workers)
    finally:
        for worker in workers:
            worker.stop()
        if not broker.status(cluster.data_dir)["nodes"][node - 1]["alive"]:
            broker.start_node(node, cluster.data_dir)
    for worker in workers:
        assert worker.process is not None and worker.process.returncode == 0, worker.log_tail()
        assert worker.starts == 1
    print(f"broker restart: node {node} (group coordinator) stopped in {stopped:.1f} s; the workers applied "
          f"half a chunk without it {went_on:.1f} s later; it was back in {restarted:.1f} s; caught up "
          f"{idle:.1f} s after the last chunk")
    assert_equals_replay(settings, master, pairs)
