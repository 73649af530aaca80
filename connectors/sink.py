"""``millstream sink``: planned orders, open shortages and costs kept in database tables.

For BI tools and ERP imports, which read tables rather than topics. The sink follows the compacted output
topics in a consumer group (default ``millstream-sink``; one group per database) and keeps one row per key:
exactly the latest state (``sink_tables.py``), in PostgreSQL or in an SQLite file (``sink_store.py``).

Order of work per batch: read with ``isolation.level=read_committed`` (aborted worker batches are never
seen), fold the batch to the last change per key, write it in ONE database transaction, and only after that
transaction commits, commit the Kafka offsets. A crash before the database commit loses nothing (the batch
is read again); a crash between the two commits reads the batch again and writes it again, which changes
nothing: every write is an upsert or a delete by key, applied in the topic's order, so the end state is the
latest record of each key whatever was applied before. Records the sink cannot apply go to the
``sink_rejected`` table with the reason (and to stderr); they never stop it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from millstream.settings import Settings

from .sink_store import SqlStore
from .sink_tables import SOURCES, TABLES, Change, RecordError, change_of, fold
from .subscribe import check_topics, output_consumer, stop_on_signals

__all__ = ["DEFAULT_GROUP", "SinkReport", "changes_of", "run_sink", "table_counts"]

DEFAULT_GROUP = "millstream-sink"


@dataclass
class SinkReport:
    records: int = 0
    upserts: int = 0
    deletes: int = 0
    rejected: int = 0
    batches: int = 0


def changes_of(messages: Iterable[Any], short_names: dict[str, str], err: IO[str]) -> tuple[list[Change], int]:
    """The changes of consumed records in their order; an unusable record becomes a ``sink_rejected`` row."""
    changes: list[Change] = []
    rejected = 0
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        try:
            changes.append(change_of(short_names[topic], message.key(), message.value()))
        except RecordError as exc:
            rejected += 1
            print(f"sink: rejected {topic}[{partition}]@{offset}: {exc}", file=err, flush=True)
            changes.append(Change("sink_rejected", (topic, partition, offset), {
                "topic": topic, "partition_id": partition, "record_offset": offset, "record_key": message.key(),
                "record_value": message.value(), "reason": str(exc)}))
    return changes, rejected


def _next_offsets(messages: list[Any]) -> list[Any]:
    from confluent_kafka import TopicPartition

    ends: dict[tuple[str, int], int] = {}
    for message in messages:
        where = (message.topic(), message.partition())
        ends[where] = max(ends.get(where, -1), message.offset() + 1)
    return [TopicPartition(topic, partition, offset) for (topic, partition), offset in ends.items()]


def run_sink(settings: Settings, store: SqlStore, *, group: str = DEFAULT_GROUP, max_records: int | None = None,
             idle_seconds: float | None = None, batch_size: int = 500, err: IO[str] = sys.stderr) -> SinkReport:
    """Follow the output topics into ``store`` until stopped (signal, ``max_records``, ``idle_seconds``).

    ``idle_seconds`` counts from the last record, or from the group's assignment: scripts that only need to
    catch up (a nightly export) stop once nothing new came for that long.
    """
    from confluent_kafka import KafkaError, KafkaException

    short_names = {settings.topic(name): name for name in SOURCES}
    consumer = output_consumer(settings, group)
    report = SinkReport()
    assigned_at: list[float] = []
    try:
        check_topics(consumer, list(short_names))
        consumer.subscribe(list(short_names), on_assign=lambda _c, _p: assigned_at.append(time.monotonic()))
        print(f"sink: {', '.join(short_names)} -> {store.where} (group {group})", file=err, flush=True)
        last: float | None = None
        with stop_on_signals() as stopping:
            while not stopping():
                want = batch_size if max_records is None else min(batch_size, max_records - report.records)
                if want <= 0:
                    break
                messages = consumer.consume(want, timeout=1.0)
                records = []
                for message in messages:
                    error = message.error()
                    if error is None:
                        records.append(message)
                    elif error.code() != KafkaError._PARTITION_EOF:
                        print(f"sink: kafka: {error}", file=err, flush=True)
                now = time.monotonic()
                if not records:
                    since = max(last or 0.0, assigned_at[-1]) if assigned_at else now
                    if idle_seconds is not None and assigned_at and now - since >= idle_seconds:
                        break
                    continue
                last = now
                changes, rejected = changes_of(records, short_names, err)
                upserts, deletes = store.apply(fold(changes).values())  # one transaction, committed here
                try:  # only now: a crash before this line reads the batch again, and rewriting it is harmless
                    consumer.commit(offsets=_next_offsets(records), asynchronous=False)
                except KafkaException as exc:  # e.g. a rebalance took the partitions: their new owner rereads
                    print(f"sink: offsets not committed ({exc}); the records will be read again", file=err,
                          flush=True)
                report.records += len(records)
                report.upserts += upserts
                report.deletes += deletes
                report.rejected += rejected
                report.batches += 1
    finally:
        consumer.close()
    return report


def table_counts(store: SqlStore) -> dict[str, int]:
    return {name: store.count(name) for name in TABLES}
