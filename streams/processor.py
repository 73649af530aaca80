"""From Kafka records to engine batches and back: decode, apply, route outputs.

Transport-free on purpose: the Faust agents hand it records and send what it
returns, and tests drive it without a broker.  It holds no business logic:
the engine decides, the processor only says which topic and key each output
goes to, so compaction keeps the latest state per key.  Given the engine's
durable rows (``core/persist.py``) it skips records a site already applied
before a restart and notes the offset of every record it applies.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.engine import Engine, in_time_range
from core.netting import PLANNED_RECORDS
from core.persist import StateRows
from millstream.settings import Settings
from schemas import events as ev
from schemas import outputs as out
from schemas.codecs import decode_message, encode_json

if TYPE_CHECKING:
    from monitoring.metrics import Metrics

__all__ = ["InRecord", "OutRecord", "Processor", "value_bytes"]

_SOURCE = re.compile(r"(.+)\[(\d+)\]@(\d+)")


@dataclass(slots=True)   # not frozen, as OutRecord: one per message read
class InRecord:
    topic: str
    partition: int
    offset: int
    value: bytes


def value_bytes(records: list[InRecord]) -> int:
    """Bytes of the records' values: what the feed and a joined batch are bounded by."""
    return sum(len(record.value) for record in records)


@dataclass(slots=True)   # not frozen: a frozen dataclass's __init__ costs 0.8 µs, and a drain makes millions
class OutRecord:
    topic: str
    key: bytes
    value: bytes


def _event_time(event: Any) -> Any:
    """Sort key: a batch mixes topics, so events are applied in event-time order (stable for ties)."""
    ts = getattr(event, "ts", None)
    return (0, ts) if ts is not None else (-1, _EPOCH)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_BEFORE_ALL = dt.datetime.min.replace(tzinfo=dt.UTC)
_AFTER_ALL = dt.datetime.max.replace(tzinfo=dt.UTC)
TopicPartition = tuple[str, int]


#: master data is every worker's and is read whole, never skipped; a rejection changes no site's state
_NOT_SITE_STATE = (out.Rejected, *ev.MASTER_TYPES)
_CHANGES_STATE: dict[type, bool] = {}   # per class: not one of _NOT_SITE_STATE (an isinstance per event is not free)


def _misplaced(event: Any, site: str, home: int, partition: int, source: str) -> out.Rejected:
    """A site event on another site's partition (``home`` is the site's): its worker may not own the site,
    so it is dead-lettered.  The rejection names no site, so it goes out with the partition it came from."""
    return out.Rejected(reason=f"site {site!r} belongs on partition {home}, the record came on partition "
                               f"{partition}: key site events by their site", event=event, source=source)


class Processor:
    def __init__(self, engine: Engine, settings: Settings, rows: StateRows | None = None,
                 metrics: Metrics | None = None) -> None:
        if engine.settings.local_transfers:
            raise ValueError("the service engine must route transfers (EngineSettings(local_transfers=False))")
        self.engine = engine
        self.settings = settings
        self.rows = rows
        self.metrics = metrics   # counts and timings (monitoring/metrics.py); None: not measured
        if metrics is not None:
            metrics.watch(engine)
        self._topic = {name: settings.topic(name) for name in
                       ("planned-orders", "shortages", "exceptions", "costs", "capacity", "rejected", "transfers",
                        "master")}
        self.last_offset: dict[TopicPartition, int] = {}    # highest offset seen per input topic-partition
        # latest event time seen per topic-partition and site: one upstream system writes a site's
        # records of a topic in time order, but the sites sharing a partition keep no common clock
        self.latest: dict[TopicPartition, dict[str, dt.datetime]] = {}
        #: the partition a site's records belong on (the service sets it); None: not checked (tests, one process)
        self.partition_of: Callable[[str], int] | None = None
        # the merge's grace (see ``watermark``): when the site's records arrived (processing time) and the
        # latest event time each arrival brought, oldest first; the latest time of those older than the grace
        self.grace = settings.merge_grace_ms / 1000
        self.clock: Callable[[], float] = time.monotonic   # processing time: when to apply, never what
        self._arrivals: dict[str, deque[tuple[float, dt.datetime]]] = {}
        self._aged: dict[str, dt.datetime] = {}
        self._inputs: Collection[TopicPartition] = ()
        self._ends_before: Mapping[TopicPartition, int | None] = {}   # the end offsets the last batch was given
        #: the partitions the last batch counted as behind (what its watermarks waited for)
        self.lagging: frozenset[TopicPartition] = frozenset()

    def behind(self, highwaters: Mapping[TopicPartition, int | None],
               positions: Mapping[TopicPartition, int | None] | None = None,
               earlier: Mapping[TopicPartition, int | None] | None = None) -> set[TopicPartition]:
        """Topic-partitions with records not seen yet: their next records may be older than what waits.

        ``highwaters``: each assigned partition's end offset (None: not known yet).
        ``positions``: for a partition nothing was seen from, the next offset the
        consumer will deliver (after a restart, the committed one).
        ``earlier``: the end offsets the batch before was given: only records that
        were there then count (``process`` says why).
        """
        lagging: set[TopicPartition] = set()
        for tp, end in highwaters.items():
            seen = self.last_offset.get(tp)
            if seen is None and positions is not None and positions.get(tp) is not None:
                seen = positions[tp] - 1  # type: ignore[operator]
            before = earlier.get(tp) if earlier is not None else None
            if end is not None and before is not None and before < end:
                end = before
            if end is None or (seen if seen is not None else -1) + 1 < end:
                lagging.add(tp)
        return lagging

    def inputs_moved(self) -> None:
        """The assignment changed: the ends the batch before was given say nothing of an input gained."""
        self._ends_before = {}

    def watermark(self, site: str, behind: Collection[TopicPartition]) -> dt.datetime:
        """The time every input of ``site`` has reached: the earliest of the site's latest times
        on the partitions still behind, and (for ``grace``) on those read to their end.

        A site's records on one partition come in event-time order from their
        producer, so nothing older can still arrive there.  A partition behind
        that has not shown the site yet may still hold anything: the site waits
        until it is read to its end.  With no partition behind, everything goes.
        When the service says which partition a site's records belong on
        (``partition_of``; records on another are dead-lettered), only that
        partition's inputs count: a backlog on another partition cannot hold
        the site back.

        A partition read to its end cannot tell what its producer is still
        sending: `millstream publish` packs a site's events per topic into
        envelopes, so a receipt may still linger in one while the purchase
        order's close two seconds later is already read.  So an event also
        waits, for at most ``grace`` seconds after it arrived, until each input
        read to its end that has shown the site has shown it at a later time
        (an input that never carries the site does not hold it).  Only when events
        are applied waits on the clock; their order is still event time.
        """
        low = min(self._times(site, behind).values(), default=_AFTER_ALL)
        if self.grace <= 0:
            return low
        home = self.partition_of(site) if self.partition_of is not None else None
        read = min((self.latest[tp][site] for tp in self._inputs
                    if tp not in behind and (home is None or tp[1] == home) and site in self.latest.get(tp, ())),
                   default=_AFTER_ALL)
        return min(low, max(read, self._waited(site)))

    def _waited(self, site: str) -> dt.datetime:
        """The latest event time of the site's arrivals older than the grace; all times once every one is."""
        arrivals = self._arrivals.get(site)
        if not arrivals:
            return _AFTER_ALL
        cutoff = self.clock() - self.grace
        while arrivals and arrivals[0][0] <= cutoff:
            _, ts = arrivals.popleft()
            if ts > self._aged.get(site, _BEFORE_ALL):
                self._aged[site] = ts
        if not arrivals:
            del self._arrivals[site]
            return _AFTER_ALL
        return self._aged.get(site, _BEFORE_ALL)

    def holding_back(self, site: str, behind: Collection[TopicPartition]) -> set[TopicPartition]:
        """The partitions behind that set the site's watermark: reading them lets its waiting events go."""
        times = self._times(site, behind)
        low = min(times.values(), default=None)
        return {tp for tp, time in times.items() if time == low}

    def _times(self, site: str, behind: Collection[TopicPartition]) -> dict[TopicPartition, dt.datetime]:
        """The site's latest time on each partition behind that may carry its records."""
        home = self.partition_of(site) if self.partition_of is not None else None
        return {tp: self.latest.get(tp, {}).get(site, _BEFORE_ALL) for tp in behind if home is None or tp[1] == home}

    def process(self, records: Iterable[InRecord], highwaters: Mapping[TopicPartition, int | None] | None = None,
                positions: Mapping[TopicPartition, int | None] | None = None) -> list[OutRecord]:
        """Apply one batch of records; the output records to produce, in order.

        ``highwaters`` (the end offset of every assigned input partition, see
        ``behind``) turns on the event-time merge: site events wait in the
        engine until every input of their site has passed their time.  Without
        it a batch is applied in event-time order on its own (master data).
        """
        started = time.perf_counter()   # metrics only: nothing the engine decides depends on it
        metrics = self.metrics
        events: list[Any] = []
        order: list[tuple[str, int, int, int]] = []
        sources: list[str] = []
        origins: dict[str, InRecord] = {}
        applied: dict[tuple[str, str, int], int] = {}   # (site, topic, partition) -> last offset applied
        arrived: dict[str, dt.datetime] = {}   # site -> latest event time this batch brought
        master = self._topic["master"]
        partition_of = self.partition_of
        last_offset = self.last_offset
        rows = self.rows
        max_bytes = self.settings.max_message_bytes
        for record in records:
            topic, partition, offset = record.topic, record.partition, record.offset
            tp = (topic, partition)
            if offset <= last_offset.get(tp, -1):
                # delivered again in this session (an input put back to its committed offset after a
                # rebalance: see streams/durable.py, ``_rewind``): already handed to the engine
                if metrics is not None:
                    metrics.skipped(topic)
                continue
            source = f"{topic}[{partition}]@{offset}"
            decoded = decode_message(record.value, source=source, max_bytes=max_bytes)
            last_offset[tp] = offset
            latest = self.latest.get(tp)
            if latest is None:
                latest = self.latest[tp] = {}
            checked = partition_of is not None and topic != master
            sites: set[str] = set()   # sites whose state the record changes
            for index, event in enumerate(decoded):
                site = event.site
                if site is None:
                    continue
                changes_state = _CHANGES_STATE.get(type(event))
                if changes_state is None:
                    changes_state = _CHANGES_STATE[type(event)] = not issubclass(type(event), _NOT_SITE_STATE)
                if changes_state:
                    if checked and (home := partition_of(site)) != partition:   # type: ignore[misc]
                        decoded[index] = _misplaced(event, site, home, partition, source)
                        continue
                    sites.add(site)
                # a time the engine rejects (year 9999) says nothing of how far the sender has come: counted,
                # it would let every later event of the site through the merge at once
                ts = event.ts
                if ts is not None and ts > latest.get(site, _BEFORE_ALL) and in_time_range(ts):
                    latest[site] = ts
                    if ts > arrived.get(site, _BEFORE_ALL):
                        arrived[site] = ts
            if rows is not None and sites:
                restored = False
                for site in sites:
                    if offset <= rows.applied_offset(site, topic, partition):
                        restored = True
                        break
                if restored:
                    if metrics is not None:
                        metrics.skipped(topic)
                    continue  # applied before a restart: the restored state holds it
                for site in sites:   # a partition's records come in offset order: the last is the highest
                    applied[(site, topic, partition)] = offset
            if metrics is not None:
                metrics.consumed(topic, decoded)
            origins[source] = record
            if len(decoded) == 1:   # one event per message: what a lone scanner sends
                events.append(decoded[0])
                sources.append(source)
                order.append((topic, partition, offset, 0))
            else:
                events.extend(decoded)
                sources.extend([source] * len(decoded))
                order.extend((topic, partition, offset, i) for i in range(len(decoded)))
        engine_started = time.perf_counter()
        if highwaters is not None:
            if self.grace > 0:
                now = self.clock()
                for site, ts in arrived.items():
                    self._arrivals.setdefault(site, deque()).append((now, ts))
                self._inputs = tuple(highwaters)
            # behind counts what a partition held when the batch before was taken, not what came since: an
            # input other sites keep writing always has records in flight, and counted, it held a site quiet
            # on it until the site wrote there again; what came since waits for the grace, as at the end
            self.lagging = lagging = frozenset(self.behind(highwaters, positions, self._ends_before))
            self._ends_before = dict(highwaters)
            outputs = self.engine.apply(events, sources, watermark=lambda site: self.watermark(site, lagging),
                                        order=order)
        else:
            by_time = sorted(range(len(events)), key=lambda i: _event_time(events[i]))
            outputs = self.engine.apply([events[i] for i in by_time], [sources[i] for i in by_time])
        engine_seconds = time.perf_counter() - engine_started
        if rows is not None:
            for (site, topic, partition), offset in applied.items():
                rows.record_offset(site, topic, partition, offset)
        routed = [self.route(output, origins) for output in outputs]
        if metrics is not None:
            metrics.batch(len(events), outputs, routed, time.perf_counter() - started, engine_seconds)
        return routed

    def finish(self) -> list[OutRecord]:
        outputs = self.engine.finish()
        routed = [self.route(output, {}) for output in outputs]
        if self.metrics is not None:
            self.metrics.outputs(outputs, routed)
        return routed

    def route(self, output: Any, origins: dict[str, InRecord]) -> OutRecord:
        """The topic and key of one engine output."""
        if type(output) in PLANNED_RECORDS:   # encoded by the planner: key and value as they are
            return OutRecord(self._topic["planned-orders"], output.key, output.value)
        site = getattr(output, "site", None) or ""
        if isinstance(output, out.Rejected):
            return self._dead_letter(output, origins)
        if isinstance(output, ev.TransferInTransit):
            return OutRecord(self._topic["transfers"], output.site.encode(), encode_json(output))
        if isinstance(output, out.Shortage):
            return self._record("shortages", output.shortage_id, output)
        if isinstance(output, out.Exception_):
            return self._record("exceptions", output.exception_id, output)
        if isinstance(output, out.Cost):
            return self._record("costs", f"{site}|{output.item}", output)
        if isinstance(output, out.OrderCost):
            return self._record("costs", f"{site}|order:{output.order_id}", output)
        if isinstance(output, out.CapacityOverload):
            return self._record("capacity", output.overload_id, output)
        raise TypeError(f"no route for output {type(output).__name__}")

    def _record(self, topic: str, key: str, output: Any) -> OutRecord:
        return OutRecord(self._topic[topic], key.encode(), encode_json(output))

    def _dead_letter(self, rejected: out.Rejected, origins: dict[str, InRecord]) -> OutRecord:
        """A rejection with its coordinates; an event that waited across batches is re-encoded."""
        base = (rejected.source or "").split("#", 1)[0]
        record = origins.get(base)
        if record is not None:
            topic, partition, offset, original = record.topic, record.partition, record.offset, record.value
        else:
            match = _SOURCE.fullmatch(base)
            topic, partition, offset = (match[1], int(match[2]), int(match[3])) if match else ("", -1, -1)
            original = encode_json(rejected.event) if rejected.event is not None else b""
        letter = out.DeadLetter(
            reason=rejected.reason, topic=topic, partition=partition, offset=offset,
            original=base64.b64encode(original).decode(), event=rejected.event, site=rejected.site, ts=rejected.ts)
        return OutRecord(self._topic["rejected"], (rejected.site or "").encode(), encode_json(letter))
