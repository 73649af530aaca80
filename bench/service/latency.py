"""Latency under open-loop load: events sent at fixed rates, outputs read back from their topics.

One worker (arm E) on a fresh topic prefix holds the master data, then the generator sends the pre-loaded
factory's site events one per message, in their order, at ``rate`` events a second for ``duration``
seconds; then the next rate, the factory going on where it stopped (one worker, no restart in between).
A warm-up at the lowest rate comes first and is not measured (the factory's opening state and first plans).
The generator is open loop: event ``i`` is due at ``start + i / rate`` whatever the broker or the worker
do, and its latency is measured from that due time (a late send counts against the service, not for it).

An output record carries its site and ``ts``, the site's clock when it was made: the time of the newest
event of the site the output reflects.  A reader (``isolation.level=read_committed``, so an output counts
once its transaction has committed) takes each output as it arrives and looks up when the event with that
site and ``ts`` was due: latency = arrival - due, per output record, as the worker's own
``millstream_end_to_end_latency_seconds`` measures it when events are stamped with the wall clock.

A rate is *sustained* when the worker has applied every event sent within ``SUSTAIN_S`` of the last send.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from connectors.publisher import producer_config
from millstream.kafka_security import confluent_config
from millstream.settings import Settings

from .preload import Preload, delete_prefix, frames
from .spec import SITE_TOPICS
from .worker import WorkerRun, free_port

__all__ = ["percentiles", "run_latency"]

#: output topics read back
OUTPUTS = ("planned-orders", "shortages", "exceptions", "costs")
#: a rate is sustained when every event sent is applied within this long of the last send (seconds)
SUSTAIN_S = 1.0
#: longest wait for a rate's backlog to drain before the next rate (seconds)
DRAIN_LIMIT = 600.0


class _Stamp(msgspec.Struct):
    site: str | None = None
    ts: dt.datetime | None = None


_stamp = msgspec.json.Decoder(_Stamp)


def percentiles(values: list[float], points: tuple[float, ...] = (50, 99, 99.9)) -> dict[str, float]:
    """Nearest-rank percentiles of ``values`` (seconds), keyed p50, p99, p99.9."""
    ordered = sorted(values)
    figures = {}
    for point in points:
        label = f"p{point:g}"
        if not ordered:
            figures[label] = float("nan")
            continue
        rank = max(1, -(-len(ordered) * point // 100))   # ceil
        figures[label] = ordered[int(min(rank, len(ordered))) - 1]
    return figures


class _Reader(threading.Thread):
    """Reads the output topics (read_committed) and records each output's arrival and (site, ts)."""

    def __init__(self, settings: Settings, wait: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.wait = wait   # longest one poll blocks (seconds): how soon the reader sees ``stopping``
        from confluent_kafka import Consumer

        self.consumer = Consumer({**confluent_config(settings), "group.id": f"bench-lat-{uuid.uuid4().hex[:8]}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                  "isolation.level": "read_committed", "fetch.wait.max.ms": 5,
                                  "fetch.queue.backoff.ms": 1})
        self.consumer.subscribe([settings.topic(name) for name in OUTPUTS])
        self.arrivals: list[tuple[float, str | None, float | None]] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        """Each output stamped when it is handed over: ``poll`` returns as soon as one is there, then what else
        came with it.  (``consume(n, timeout)`` waits out its whole timeout unless ``n`` came: stamped after it,
        outputs of a quiet moment looked up to 50 ms later than they were.)"""
        try:
            while not self.stopping.is_set():
                first = self.consumer.poll(self.wait)
                if first is None:
                    continue
                now = time.perf_counter()
                for message in [first, *self.consumer.consume(1000, 0)]:
                    if message.error() is not None or message.value() is None:
                        continue
                    stamp = _stamp.decode(message.value())
                    self.arrivals.append((now, stamp.site, stamp.ts.timestamp() if stamp.ts else None))
        except BaseException as exc:  # reported by the caller
            self.error = exc
        finally:
            self.consumer.close()


def _site_events(preload: Preload) -> Iterator[tuple[str, bytes, bytes, str, float]]:
    """(short topic, key, value, site, ts) of each site event of the single-event pre-load, in order."""
    for short, _events, key, value in frames(preload.path):
        if short != "master":
            stamp = _stamp.decode(value)
            assert stamp.site is not None and stamp.ts is not None
            yield short, key, value, stamp.site, stamp.ts.timestamp()


def _send_master(preload: Preload, settings: Settings) -> int:
    from confluent_kafka import Producer

    from streams.topics import ensure_topics

    ensure_topics(settings)
    producer = Producer(producer_config(settings, 300.0) | {"linger.ms": 50})
    sent = 0
    for short, _events, key, value in frames(preload.path):
        if short == "master":
            while True:
                try:
                    producer.produce(settings.topic(short), value=value, key=key)
                    break
                except BufferError:
                    producer.poll(0.1)
            sent += 1
        else:
            break
    producer.flush(120)
    return sent


def _consumed(figures: dict[str, Any], settings: Settings) -> int:
    return int(sum(figures.get("consumed", {}).get(settings.topic(short), 0) for short in SITE_TOPICS))


def run_latency(preload: Preload, base: Settings, workdir: Path, rates: list[float], duration: float, *,
                search_steps: int = 0, warmup: float = 10.0, poll: float = 0.2,
                log: Any = print) -> list[dict[str, Any]]:
    """One worker, each rate in turn (then ``search_steps`` more between the highest sustained rate and the
    lowest that was not); a list of figures per rate."""
    if preload.variant != "single":
        raise ValueError("the generator sends one event per message: give it the single-event pre-load")
    prefix = f"bench-lat-{uuid.uuid4().hex[:6]}"
    settings = dataclasses.replace(base, topic_prefix=prefix, partitions=preload.spec.partitions, web_port=free_port(),
                                   data_dir=str(workdir / prefix), kernel="cython")
    workdir.mkdir(parents=True, exist_ok=True)
    master = _send_master(preload, settings)
    worker = WorkerRun(settings, workdir)
    events = _site_events(preload)
    results: list[dict[str, Any]] = []
    reader: _Reader | None = None
    try:
        worker.start()
        worker.wait_for(lambda f: f.get("consumed", {}).get(settings.topic("master"), 0) >= master
                        and f.get("millstream_state_restore_duration_seconds_count", 0) >= 1, poll, "the master data")
        reader = _Reader(settings)
        reader.start()
        from confluent_kafka import Producer

        producer = Producer(producer_config(settings, 60.0) | {"linger.ms": 0})
        sent_total = 0
        if warmup > 0:   # the factory's opening (stock, orders, first plans) at the lowest rate, not measured
            sent_total += _one_rate(min(rates), warmup, events, producer, reader, worker, settings, 0, poll)["sent"]
        todo = list(rates)
        while todo:
            rate = todo.pop(0)
            figures = _one_rate(rate, duration, events, producer, reader, worker, settings, sent_total, poll)
            sent_total += figures["sent"]
            results.append(figures)
            verdict = "sustained" if figures["sustained"] else "not sustained"
            log(f"  latency at {rate:,.0f} events/s: p50 {figures['p50'] * 1000:.0f} ms, p99 "
                f"{figures['p99'] * 1000:.0f} ms, p99.9 {figures['p99.9'] * 1000:.0f} ms; applied "
                f"{figures['drain_after_s']:.1f} s after the last send ({verdict})"
                + ("; the pre-load ran out" if figures["exhausted"] else ""))
            if figures["exhausted"]:
                break
            if not todo and search_steps > 0:
                search_steps -= 1
                ok = [r["rate"] for r in results if r["sustained"]]
                bad = [r["rate"] for r in results if not r["sustained"]]
                low = max(ok, default=rates[0] / 2)
                high = min((b for b in bad if b > low), default=low * 2)
                todo.append(round((low + high) / 2, -2) if bad else high)
    finally:
        if reader is not None:
            reader.stopping.set()
            reader.join(10)
        worker.stop()
        delete_prefix(settings, log=log)
    for figures in results:
        figures["master_events"] = master
    return results


def _one_rate(rate: float, duration: float, events: Iterator[tuple[str, bytes, bytes, str, float]], producer: Any,
              reader: _Reader, worker: WorkerRun, settings: Settings, before: int, poll: float) -> dict[str, Any]:
    """Send ``rate`` events a second for ``duration`` seconds, wait for them to be applied, measure."""
    due: dict[tuple[str, float], float] = {}
    count = int(rate * duration)
    topics = {short: settings.topic(short) for short in SITE_TOPICS}
    seen_before = len(reader.arrivals)
    start = time.perf_counter() + 0.05
    sent = 0
    exhausted = False
    while sent < count:
        now = time.perf_counter()
        target = min(count, int((now - start) * rate) + 1)
        while sent < target:
            item = next(events, None)
            if item is None:
                exhausted = True
                break
            short, key, value, site, ts = item
            due[(site, ts)] = start + sent / rate
            while True:
                try:
                    producer.produce(topics[short], value=value, key=key)
                    break
                except BufferError:
                    producer.poll(0.01)
            sent += 1
        if exhausted:
            break
        producer.poll(0)
        time.sleep(0.0005)
    last_due = start + max(sent - 1, 0) / rate
    producer.flush(60)
    done_at, _ = worker.wait_for(
        lambda f: _consumed(f, settings) >= before + sent and not f["waiting"].get("watermark"), poll,
        f"the events sent at {rate:,.0f}/s")
    time.sleep(1.0)   # the last outputs reach the reader
    latencies = []
    unmatched = 0
    for arrival, site, ts in reader.arrivals[seen_before:]:
        when = due.get((site, ts)) if site is not None and ts is not None else None
        if when is None:
            unmatched += 1
        else:
            latencies.append(arrival - when)
    drain = max(0.0, done_at - last_due)
    return {"rate": rate, "duration_s": duration, "sent": sent, "outputs": len(latencies), "unmatched": unmatched,
            **percentiles(latencies), "max": max(latencies, default=float("nan")), "drain_after_s": drain,
            "sustained": drain <= SUSTAIN_S + poll, "exhausted": exhausted}
