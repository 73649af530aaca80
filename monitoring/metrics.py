"""A worker's Prometheus metrics: one registry, base units (seconds, bytes), bounded labels.

The processor calls ``consumed``/``skipped`` per record and ``batch`` per batch:
event counts are plain dictionary increments there, exported at scrape time by a
collector, so a batch costs a few dictionary updates and a handful of histogram
observations.  Counting at scrape time also gives an exact ``applied``: events
consumed, minus those rejected, minus those the engine still holds back (waiting
for the watermark or a reference), kept monotonic.  Gauges of the engine's state
(open shortages, planned orders, overloaded work-center days per site) are read at scrape time too.

The wall clock is read here for latency only (event ``ts`` to output produced);
the engine never sees it.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from core.netting import PLANNED_RECORDS
from millstream import __version__
from schemas.outputs import Cost, Exception_, OrderCost, PlannedOrder, Rejected, Shortage

from .labels import event_class_type, event_type, output_type, site_plans, topic_of, waiting_labels, waiting_totals

__all__ = ["Metrics", "metrics_response"]

NS = "millstream"
TopicPartition = tuple[str, int]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400)
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
PER_EVENT_BUCKETS = (0, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000)
RESTORE_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_ITEM_OUTPUTS = frozenset({PlannedOrder, *PLANNED_RECORDS, Shortage, Exception_, Cost, OrderCost})  # about one item


class Metrics:
    """Everything a worker exports on ``/metrics``; the app sets lag, state size and restores."""

    def __init__(self, registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.time,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self.registry = registry or CollectorRegistry()
        self.clock = clock    # wall clock: event ts -> now, for latency only
        self.timer = timer    # monotonic: durations
        r = self.registry
        self.latency = _Histogram(f"{NS}_end_to_end_latency_seconds", "Event ts to output produced",
                                  LATENCY_BUCKETS)
        self.batch_seconds = Histogram(f"{NS}_batch_duration_seconds", "Processing time of one batch",
                                       buckets=DURATION_BUCKETS, registry=r)
        self.engine_seconds = Histogram(f"{NS}_engine_duration_seconds", "Engine.apply time per batch",
                                        buckets=DURATION_BUCKETS, registry=r)
        self.plan_seconds = Histogram(f"{NS}_plan_duration_seconds", "Planner (netting kernel) time per batch",
                                      buckets=DURATION_BUCKETS, registry=r)
        self.batch_events = Histogram(f"{NS}_batch_events", "Events per batch", buckets=BATCH_BUCKETS, registry=r)
        self.replanned_per_event = Histogram(f"{NS}_replanned_items_per_event", "Items re-netted per event, per batch",
                                             buckets=PER_EVENT_BUCKETS, registry=r)
        self.memory_release_seconds = Histogram(f"{NS}_memory_release_duration_seconds",
                                                "Freed memory handed back to the system (malloc_trim)",
                                                buckets=DURATION_BUCKETS, registry=r)
        self.items_replanned = Counter(f"{NS}_items_replanned", "Items re-netted by the planner", registry=r)
        self.rebalances = Counter(f"{NS}_rebalances", "Consumer group rebalances", registry=r)
        self.rebalance_seconds = Histogram(f"{NS}_rebalance_duration_seconds", "Rebalance start to end",
                                           buckets=RESTORE_BUCKETS, registry=r)
        self.restore_seconds = Histogram(f"{NS}_state_restore_duration_seconds", "Restore of state on assignment",
                                         ["table"], buckets=RESTORE_BUCKETS, registry=r)
        self.produce_errors = Counter(f"{NS}_produce_errors", "Failed sends (a failed transaction: once per topic)",
                                      ["topic", "kind"], registry=r)
        self.rereads = Counter(f"{NS}_inputs_reread", "Inputs read again from an offset never applied: records "
                               "dropped in flight (streams/inflight.py)", ["topic"], registry=r)
        self.build = Info(f"{NS}_build", "Version and netting kernel", registry=r)
        self.build.info({"version": __version__, "kernel": "none", "compiled": "false"})
        # plain counts, exported by the collector
        self._consumed: dict[tuple[str, type], int] = {}     # (topic, event class): labelled at scrape time
        self.rejected_counts: Tally[tuple[str, str]] = Tally()
        self.output_counts: Tally[tuple[str, str]] = Tally()
        self.skipped_counts: Tally[str] = Tally()
        self._applied: dict[tuple[str, str], int] = {}   # highest value exported: counters never go back
        self.lag: dict[str, dict[TopicPartition, int]] = {}   # scope -> topic-partition -> records behind
        self.state_size: dict[str, tuple[int, int]] = {}      # table -> (keys, bytes)
        self.state_sources: dict[str, Callable[[], tuple[int, int]]] = {}   # table -> size, read at scrape
        self._restoring: dict[int, tuple[str, float]] = {}
        self._restore_ids = itertools.count()
        self.item_outputs: dict[tuple[str, str], int] = {}    # (site, item) -> outputs: /status, never labels
        self.engine: Any = None
        self.owns: Callable[[str], bool] = lambda _site: True  # sites this worker reports (set by the web layer)
        self._replanned = 0
        r.register(_Collector(self))

    # --- the engine -----------------------------------------------------------------------

    def watch(self, engine: Any) -> None:
        """Read this engine's state at scrape time; time its planner per batch."""
        self.engine = engine
        planner = engine.planner
        if planner is None:
            return
        kernel = planner.kernel
        compiled = bool(getattr(kernel, "CYTHON_MODULE", 0))
        self.build.info({"version": __version__, "kernel": "cython" if compiled else "python",
                         "compiled": str(compiled).lower()})
        self._replanned = planner.replanned
        plan = planner.plan
        if getattr(plan, "millstream_timed", False):
            return

        def timed_plan(engine_: Any) -> list[Any]:
            started = self.timer()
            try:
                return plan(engine_)
            finally:
                self.plan_seconds.observe(self.timer() - started)

        timed_plan.millstream_timed = True  # type: ignore[attr-defined]
        planner.plan = timed_plan

    # --- processor hooks ------------------------------------------------------------------

    def consumed(self, topic: str, decoded: Sequence[Any]) -> None:
        """Counted by class here (one dictionary update per record), labelled at scrape time."""
        counts = self._consumed
        for event in decoded:
            key = (topic, type(event))
            counts[key] = counts.get(key, 0) + 1

    def skipped(self, topic: str) -> None:
        """A record a site applied before a restart (its restored state holds it)."""
        self.skipped_counts[topic] += 1

    def reread(self, topic: str) -> None:
        """An input read again from an offset never applied (streams/inflight.py): worth an alert if it recurs."""
        self.rereads.labels(topic).inc()

    def batch(self, events: int, outputs: Sequence[Any], records: Sequence[Any], seconds: float,
              engine_seconds: float) -> None:
        """One processed batch: its timings and size, what it re-planned, and its outputs."""
        self.batch_seconds.observe(seconds)
        self.engine_seconds.observe(engine_seconds)
        self.batch_events.observe(events)
        planner = self.engine.planner if self.engine is not None else None
        if planner is not None:
            replanned, self._replanned = planner.replanned - self._replanned, planner.replanned
            if replanned > 0:
                self.items_replanned.inc(replanned)
            if events:
                self.replanned_per_event.observe(max(replanned, 0) / events)
        self.outputs(outputs, records)

    def outputs(self, outputs: Sequence[Any], records: Sequence[Any]) -> None:
        """Outputs (engine objects) and the records they became, aligned; rejections counted by origin.

        Counted in bulk: a batch's outputs share a few classes, topics and
        event times (the site clock), so latency is observed once per distinct
        ``ts`` with its count.
        """
        if not outputs:
            return
        classes: dict[tuple[str, type], int] = {}
        stamps: dict[int, list[Any]] = {}   # id(ts) -> [ts, n]: a batch's outputs share the site clock objects
        items = self.item_outputs
        for output, record in zip(outputs, records, strict=True):
            cls = type(output)
            key = (record.topic, cls)
            classes[key] = classes.get(key, 0) + 1
            ts = output.ts
            if ts is not None:
                stamp = stamps.get(id(ts))
                if stamp is None:
                    stamps[id(ts)] = [ts, 1]
                else:
                    stamp[1] += 1
            if cls in _ITEM_OUTPUTS:
                item = (output.site, output.item)
                items[item] = items.get(item, 0) + 1
            elif cls is Rejected:
                self.rejected_counts[(topic_of(output.source), event_type(output))] += 1
        for (topic, cls), n in classes.items():
            self.output_counts[(topic, output_type(cls))] += n
        now = self.clock()
        for ts, n in stamps.values():
            self.latency.observe(max(now - ts.timestamp(), 0.0), n)

    # --- set by the app -------------------------------------------------------------------

    def set_lag(self, lags: Mapping[TopicPartition, int], scope: str = "group") -> None:
        """Records behind (highwater - position) per topic-partition; replaces the scope's partitions,
        so revoked ones disappear.  ``scope`` keeps apart readers that sample separately (e.g. master)."""
        self.lag[scope] = {tp: max(int(n), 0) for tp, n in lags.items()}

    def set_state_size(self, table: str, keys: int, size_bytes: int) -> None:
        self.state_size[table] = (keys, size_bytes)

    def state_size_from(self, table: str, size: Callable[[], tuple[int, int]]) -> None:
        """Read a table's (keys, bytes) at scrape time, e.g. ``monitoring.worker.store_size``."""
        self.state_sources[table] = size

    def restore_started(self, table: str = "state") -> int:
        """A restore began (e.g. on assignment); ``restore_finished`` with the token ends it.  Until then
        ``..._restore_in_progress_seconds`` grows, so a stuck restore alerts."""
        token = next(self._restore_ids)
        self._restoring[token] = (table, self.timer())
        return token

    def restore_finished(self, token: int) -> float:
        table, started = self._restoring.pop(token)
        seconds = self.timer() - started
        self.restore_seconds.labels(table).observe(seconds)
        return seconds

    @contextlib.contextmanager
    def restoring(self, table: str = "state") -> Iterator[None]:
        """Time a restore that runs in one block."""
        token = self.restore_started(table)
        try:
            yield
        finally:
            self.restore_finished(token)

    def produce_error(self, topic: str) -> None:
        kind = "changelog" if topic.endswith("-changelog") else "output"
        self.produce_errors.labels(topic, kind).inc()

    # --- read back (scrape, /status) ------------------------------------------------------

    def consumed_counts(self) -> Tally[tuple[str, str]]:
        counts: Tally[tuple[str, str]] = Tally()
        for (topic, cls), n in self._consumed.items():
            counts[(topic, event_class_type(cls))] += n
        return counts

    def applied_counts(self) -> dict[tuple[str, str], int]:
        """Consumed - rejected - still waiting, per (topic, type); never lower than exported before."""
        waiting = waiting_labels(self.engine) if self.engine is not None else Tally()
        consumed = self.consumed_counts()
        for label in set(consumed) | set(self._applied):
            value = consumed[label] - self.rejected_counts[label] - waiting[label]
            self._applied[label] = max(self._applied.get(label, 0), value)
        return dict(self._applied)

    def busiest(self, site: str, top: int) -> list[tuple[str, int]]:
        """The site's items with the most outputs, most first."""
        counts = [(item, n) for (s, item), n in self.item_outputs.items() if s == site]
        return sorted(counts, key=lambda pair: (-pair[1], pair[0]))[:top]

    def waiting(self) -> dict[str, int]:
        return waiting_totals(self.engine) if self.engine is not None else {"watermark": 0, "reference": 0}

    def lags(self) -> dict[TopicPartition, int]:
        merged: dict[TopicPartition, int] = {}
        for lags in self.lag.values():
            merged.update(lags)
        return merged

    def site_plans(self) -> dict[str, tuple[int, int, int]]:
        plans = site_plans(self.engine) if self.engine is not None else {}
        return {site: counts for site, counts in plans.items() if self.owns(site)}

    def restore_in_progress(self) -> float:
        now = self.timer()
        return max((now - started for _table, started in self._restoring.values()), default=0.0)

    def state_sizes(self) -> dict[str, tuple[int, int]]:
        sizes = dict(self.state_size)
        for table, size in self.state_sources.items():
            try:
                sizes[table] = size()
            except Exception:   # a store closed mid-rebalance: no sample this scrape
                sizes.pop(table, None)
        return sizes


class _Histogram:
    """A histogram that takes ``n`` equal observations in one call (prometheus_client's takes one)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = tuple(float(b) for b in buckets)
        self.counts = [0] * (len(self.bounds) + 1)   # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float, n: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += n
        self.sum += value * n

    def family(self, describe: bool) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.documentation)
        if not describe:
            cumulative = list(itertools.accumulate(self.counts))
            les = [*map(floatToGoString, self.bounds), "+Inf"]
            family.add_metric([], list(zip(les, cumulative, strict=True)), self.sum)
        return family


class _Collector:
    """Families computed at scrape time from the counts and the engine."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def describe(self) -> list[Metric]:
        return list(self._families(describe=True))

    def collect(self) -> Iterator[Metric]:
        return self._families(describe=False)

    def _families(self, describe: bool) -> Iterator[Metric]:
        m = self.m
        yield m.latency.family(describe)
        event_labels = ["topic", "type"]
        counts: list[tuple[str, str, Mapping[tuple[str, str], int] | Callable[[], Mapping[tuple[str, str], int]]]] = [
            ("events_consumed", "Events decoded and handed to the engine", m.consumed_counts),
            ("events_applied", "Events the engine applied (consumed - rejected - waiting)", m.applied_counts),
            ("events_rejected", "Events rejected (dead-lettered), by the topic they came from", m.rejected_counts),
            ("outputs", "Output records produced, by output topic and type", m.output_counts),
        ]
        for name, doc, source in counts:
            family = CounterMetricFamily(f"{NS}_{name}", doc, labels=event_labels)
            if not describe:
                values = source() if callable(source) else source
                for (topic, kind), value in sorted(values.items()):
                    family.add_metric([topic, kind], value)
            yield family
        skipped = CounterMetricFamily(f"{NS}_records_skipped", "Records applied before a restart, skipped",
                                      labels=["topic"])
        waiting = GaugeMetricFamily(f"{NS}_events_waiting", "Events the engine holds back, by why",
                                    labels=["reason"])
        shortages = GaugeMetricFamily(f"{NS}_open_shortages", "Open shortages per site", labels=["site"])
        planned = GaugeMetricFamily(f"{NS}_planned_orders", "Planned orders per site", labels=["site"])
        overloaded = GaugeMetricFamily(f"{NS}_overloaded_work_center_days",
                                       "Work-center days whose load exceeds the available minutes, per site",
                                       labels=["site"])
        lag = GaugeMetricFamily(f"{NS}_consumer_lag", "Records behind the highwater, per topic-partition",
                                labels=["topic", "partition"])
        keys = GaugeMetricFamily(f"{NS}_state_keys", "Rows (keys) of durable state per table", labels=["table"])
        size = GaugeMetricFamily(f"{NS}_state_bytes", "Bytes of durable state per table", labels=["table"])
        restoring = GaugeMetricFamily(f"{NS}_state_restore_in_progress_seconds",
                                      "How long the longest running restore has taken so far (0: none)")
        if not describe:
            for topic, value in sorted(m.skipped_counts.items()):
                skipped.add_metric([topic], value)
            for reason, value in m.waiting().items():
                waiting.add_metric([reason], value)
            for site, (open_shortages, planned_orders, overloads) in sorted(m.site_plans().items()):
                shortages.add_metric([site], open_shortages)
                planned.add_metric([site], planned_orders)
                overloaded.add_metric([site], overloads)
            for (topic, partition), value in sorted(m.lags().items()):
                lag.add_metric([topic, str(partition)], value)
            for table, (n_keys, n_bytes) in sorted(m.state_sizes().items()):
                keys.add_metric([table], n_keys)
                size.add_metric([table], n_bytes)
            restoring.add_metric([], m.restore_in_progress())
        yield from (skipped, waiting, shortages, planned, overloaded, lag, keys, size, restoring)


def metrics_response(metrics: Metrics, accept: str | None = None) -> tuple[bytes, str]:
    """The body and content type of a scrape (Prometheus text, or OpenMetrics if the scraper asks for it)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(metrics.registry), content_type
