"""Arms D, E, F: a real ``millstream worker`` draining a fresh copy of the pre-load; memory and restore.

Each run gets a topic prefix of its own (inputs, outputs, the state changelog, the consumer group and the
transactional ids all hang off it), so the state and the transfers topic of one run never reach another.
The worker is the command users run, in its own process, with its settings in the environment; only the
``kernel`` setting differs between the arms (``off``: no planning, ``cython``, ``python``: the twin).

The clock starts when the worker has read the master data and lets site events flow (its log says so, to
the millisecond) and stops at the first scrape of its own ``/metrics`` (every ``poll`` seconds) that shows
every pre-loaded site event consumed and none waiting for the event-time merge; every site event is
counted.  The batch, engine and planner histograms, from the scrape that shows the master data read to
the last, give where the time went.  The transactions commit the input offsets of each batch, so at the
end the consumer group's offsets equal the end of every input partition: checked too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from millstream.settings import Settings
from streams.changelog import changelog_topic

from .preload import Preload, delete_prefix, load
from .raw import ArmResult
from .spec import ROOT, SITE_TOPICS

__all__ = ["ARMS", "WorkerRun", "run_worker_arm", "scrape", "topic_volume"]

#: arm -> the worker's ``kernel`` setting
ARMS = {"D": "off", "E": "cython", "F": "python"}
#: output topics whose volume goes into the capacity model
_OUTPUTS = ("planned-orders", "shortages", "exceptions", "costs", "rejected", "transfers")
#: the worker's log line saying master data is read and site events flow (streams/app.py), with its time
_FLOW = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\][^\n]*site events flow")
#: a drain that shows no progress for this long is stuck (seconds)
STALL = 300.0
#: seconds the worker stays idle after its drain before its memory is read again (one release interval of the
#: worker's, 5 s by default, and a second: streams/release.py)
AT_REST_S = 6.0


def scrape(port: int, timeout: float = 5.0) -> dict[str, Any]:
    """The worker's metrics that matter here, summed over labels; {} while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as answer:
            text = answer.read().decode()
    except OSError:
        return {}
    figures: dict[str, Any] = {"consumed": {}, "rejected": 0.0, "waiting": {}, "outputs_by_type": {}}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "millstream_events_consumed_total":
                topic = labels["topic"]
                figures["consumed"][topic] = figures["consumed"].get(topic, 0) + value
            elif name == "millstream_events_rejected_total":
                figures["rejected"] += value
            elif name == "millstream_events_waiting":
                figures["waiting"][labels["reason"]] = value
            elif name == "millstream_outputs_total":
                kind = labels.get("type", "")
                figures["outputs_by_type"][kind] = figures["outputs_by_type"].get(kind, 0) + int(value)
            elif name.endswith(("_sum", "_count")) and family.type == "histogram":
                figures[name] = figures.get(name, 0.0) + value
    return figures


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class WorkerRun:
    """A worker process of one arm and run, on its own prefix, port and data directory."""

    settings: Settings
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.settings.topic_prefix}.log"

    def start(self) -> None:
        env = {**os.environ, **{f"MILLSTREAM_{name.upper()}": str(getattr(self.settings, name)) for name in
                                ("bootstrap", "partitions", "topic_prefix", "web_port", "data_dir", "kernel",
                                 "batch_size")}}
        env.pop("MILLSTREAM_REQUIRE_COMPILED", None)
        self.started = time.perf_counter()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "millstream.cli", "worker", "--loglevel",
                                             "info"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    def flowing_since(self) -> float | None:
        """Wall time (``time.time()``) at which this run of the worker let site events flow, from its log."""
        text = self.log.read_text(errors="replace")
        found = [m for m in _FLOW.finditer(text)]
        if not found:
            return None
        stamp = dt.datetime.strptime(found[-1][1], "%Y-%m-%d %H:%M:%S,%f")   # the worker's local time
        return stamp.timestamp()

    def stop(self, timeout: float = 60.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"worker {self.settings.topic_prefix} exited ({self.process.returncode}):\n{tail}")

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) of the worker process, bytes."""
        assert self.process is not None
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name.lower()] = int(rest.split()[0]) * 1024
        return values

    def wait_for(self, done: Any, poll: float, what: str) -> tuple[float, dict[str, Any]]:
        """Scrape until ``done(figures)``; (when, figures) of that scrape."""
        last_change, last = time.perf_counter(), None
        while True:
            self.alive()
            figures = scrape(self.settings.web_port)
            now = time.perf_counter()
            if figures and done(figures):
                return now, figures
            marker = (tuple(sorted(figures.get("consumed", {}).items())), figures.get("waiting"))
            if marker != last:
                last, last_change = marker, now
            elif now - last_change > STALL:
                raise RuntimeError(f"worker {self.settings.topic_prefix}: no progress for {STALL:.0f} s while "
                                   f"waiting for {what}; last metrics {figures}")
            time.sleep(poll)


def _site_consumed(settings: Settings, figures: dict[str, Any]) -> int:
    return int(sum(figures.get("consumed", {}).get(settings.topic(short), 0) for short in SITE_TOPICS))


def run_worker_arm(preload: Preload, arm: str, run: int, base: Settings, workdir: Path, *, poll: float = 0.5,
                   batch_size: int | None = None, restore: bool = False, keep: bool = False,
                   profile: Path | None = None, log: Any = print) -> ArmResult:
    """Load a fresh copy of ``preload``, drain it with one worker of ``arm``; optionally measure restores."""
    spec = preload.spec
    prefix = f"bench-{preload.variant[0]}{arm.lower()}{run}-{uuid.uuid4().hex[:6]}"
    settings = dataclasses.replace(base, topic_prefix=prefix, partitions=spec.partitions, web_port=free_port(),
                                   data_dir=str(workdir / prefix), kernel=ARMS[arm],
                                   batch_size=batch_size or base.batch_size)
    workdir.mkdir(parents=True, exist_ok=True)
    ends = load(preload, settings, log=log)
    total = preload.site_events
    worker = WorkerRun(settings, workdir)
    extra: dict[str, Any] = {"kernel": settings.kernel, "batch_size": settings.batch_size}
    try:
        worker.start()
        master = settings.topic("master")
        _at, first = worker.wait_for(lambda f: f["consumed"].get(master, 0) >= preload.master, poll,
                                     "the master data")
        extra["vmrss_with_master"] = worker.memory()["vmrss"]   # the items held, before any site event
        sampler = _profile(worker, profile) if profile is not None else None
        finished_at, last = worker.wait_for(
            lambda f: _site_consumed(settings, f) >= total and not f["waiting"].get("watermark"), poll,
            "every site event")
        finished_wall = time.time() - (time.perf_counter() - finished_at)
        flowing = worker.flowing_since()
        if flowing is None:
            raise RuntimeError(f"worker {prefix}: no 'site events flow' line in {worker.log}")
        extra["startup_s"] = flowing - (time.time() - (time.perf_counter() - worker.started))
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)   # py-spy writes its file on SIGINT
            sampler.wait(120)
            extra["profile"] = str(profile)
        extra |= _breakdown(first, last) | worker.memory()
        time.sleep(AT_REST_S)   # the worker idle, holding the state: what the memory target is about
        extra["vmrss_at_rest"] = worker.memory()["vmrss"]
        extra["rejected"] = int(last["rejected"])
        extra["parked_at_end"] = int(last["waiting"].get("reference", 0))
        extra["outputs_by_type"] = dict(sorted(last["outputs_by_type"].items()))   # what the planner publishes most
        extra["outputs"] = sum(extra["outputs_by_type"].values())
        extra["offsets_committed"] = _committed_all(settings, ends)
        if restore:
            extra["volume"] = topic_volume(settings, [*(settings.topic(name) for name in _OUTPUTS),
                                                      changelog_topic(settings)])
            extra |= measure_restores(worker, poll, log)
        result = ArmResult(arm, preload.variant, run, total, finished_wall - flowing, preload.site_messages, extra)
        log(f"  {arm} {preload.variant} run {run}: {result.events_per_s:,.0f} events/s ({total:,} events in "
            f"{result.seconds:.1f} s), RSS {extra['vmrss'] / 2**20:.0f} MiB, {AT_REST_S:.0f} s later "
            f"{extra['vmrss_at_rest'] / 2**20:.0f} MiB (with the master data only: "
            f"{extra['vmrss_with_master'] / 2**20:.0f} MiB)")
        return result
    finally:
        worker.stop()
        if not keep:
            delete_prefix(settings, log=log)
            shutil.rmtree(settings.data_dir, ignore_errors=True)
        else:
            log(f"  kept: topics {prefix}.*, state {settings.data_dir}")


def _profile(worker: WorkerRun, path: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the worker (and its native frames) until SIGINT, as collapsed stacks in ``path``."""
    assert worker.process is not None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([spy, "record", "--pid", str(worker.process.pid), "--rate", "100", "--format", "raw",
                             "--output", str(path), "--nonblocking"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def topic_volume(settings: Settings, topics: list[str]) -> dict[str, list[int]]:
    """[records, bytes of keys and values] of each topic, read whole (read_committed)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from millstream.kafka_security import confluent_config

    consumer = Consumer({**confluent_config(settings), "group.id": f"bench-volume-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "fetch.queue.backoff.ms": 10})
    volume: dict[str, list[int]] = {}
    try:
        wanted: dict[tuple[str, int], int] = {}
        for topic in topics:
            for partition in consumer.list_topics(topic, timeout=30).topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
                if high > low:
                    wanted[(topic, partition)] = high
            volume[topic.removeprefix(f"{settings.topic_prefix}.")] = [0, 0]
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in wanted])
        idle = time.monotonic()
        while wanted and time.monotonic() - idle < 10:
            for message in consumer.consume(10_000, 0.5):
                if message.error() is not None:
                    continue
                idle = time.monotonic()
                cell = volume[message.topic().removeprefix(f"{settings.topic_prefix}.")]
                cell[0] += 1
                cell[1] += len(message.key() or b"") + len(message.value() or b"")
                tp = (message.topic(), message.partition())
                if tp in wanted and message.offset() + 1 >= wanted[tp] - 1:   # the last may be a commit marker
                    del wanted[tp]
    finally:
        consumer.close()
    return volume


def _breakdown(first: dict[str, Any], last: dict[str, Any]) -> dict[str, float]:
    """Seconds spent between two scrapes in the processor, the engine, the planner and handing freed memory
    back (and how often), and batches."""
    def delta(name: str) -> float:
        return float(last.get(name, 0.0) - first.get(name, 0.0))

    return {"batches": delta("millstream_batch_duration_seconds_count"),
            "process_s": delta("millstream_batch_duration_seconds_sum"),
            "engine_s": delta("millstream_engine_duration_seconds_sum"),
            "plan_s": delta("millstream_plan_duration_seconds_sum"),
            "release_s": delta("millstream_memory_release_duration_seconds_sum"),
            "releases": delta("millstream_memory_release_duration_seconds_count")}


def _committed_all(settings: Settings, ends: dict[tuple[str, int], int]) -> bool:
    """Whether the worker group's committed offsets reached the end of every input partition."""
    from confluent_kafka import Consumer, TopicPartition

    from millstream.kafka_security import confluent_config
    from streams.changelog import app_id

    consumer = Consumer({**confluent_config(settings), "group.id": app_id(settings), "enable.auto.commit": False})
    try:
        deadline = time.monotonic() + 10
        wanted = [TopicPartition(settings.topic(short), p) for (short, p), end in ends.items() if end > 0]
        while True:
            committed = consumer.committed(wanted, timeout=10)
            reached = all(tp.offset >= ends[(tp.topic.split(".", 1)[1], tp.partition)] for tp in committed)
            if reached or time.monotonic() > deadline:
                return reached
            time.sleep(0.2)
    finally:
        consumer.close()


def measure_restores(worker: WorkerRun, poll: float, log: Any = print) -> dict[str, Any]:
    """Restart the worker on its local store (warm), then with the store wiped (from the changelog).

    Each restart is timed from the process start to the end of its restore (the restore histogram's count
    goes up), and the restore itself (the histogram's sum: catch-up of the store plus rebuilding the sites).
    """
    figures: dict[str, Any] = {}
    for kind in ("warm", "cold"):
        worker.stop()
        if kind == "cold":
            shutil.rmtree(worker.settings.data_dir, ignore_errors=True)
        worker.start()
        at, metrics = worker.wait_for(
            lambda f: f.get("millstream_state_restore_duration_seconds_count", 0) >= 1, poll, f"the {kind} restore")
        figures[f"restore_{kind}_s"] = metrics["millstream_state_restore_duration_seconds_sum"]
        figures[f"restart_{kind}_s"] = at - worker.started
        figures[f"vmrss_after_{kind}_restore"] = worker.memory()["vmrss"]
        log(f"  restore ({kind}): {figures[f'restore_{kind}_s']:.1f} s, ready {figures[f'restart_{kind}_s']:.1f} s "
            f"after start, RSS {figures[f'vmrss_after_{kind}_restore'] / 2**20:.0f} MiB")
    return figures
