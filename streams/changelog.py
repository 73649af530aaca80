"""The state table: its changelog topic, and its local RocksDB copy kept to committed rows only.

Rows reach the changelog in the batch transactions of ``streams.durable``, not
through the table's mapping API, so the local store is kept here:

* after a commit, the committed rows go into the partition's RocksDB of
  the store (the database Faust's own recovery writes) in one write batch,
  and the persisted offset moves past the commit marker (the partition's only writer
  is its transactional producer, so the marker follows the last row): a
  clean restart finds the store current and Faust's recovery reads nothing;
* on every assignment, before Faust's recovery looks at the store, a
  ``read_committed`` librdkafka reader of its own catches the store up to the
  changelog's last stable offset (``StateTable``): Faust's recovery, record
  by record through its stream machinery, took more than five minutes for
  the rows of 2,000,000 events, and now finds nothing left to read;
* before a gained partition is restored, the same reader runs again, after
  the partition's producer has fenced the previous owner.  Faust's recovery
  cannot be relied on for that: in ``exactly_once`` mode it takes the end of
  a changelog partition from the last fetch response, which may not have
  arrived yet (it then recovers nothing).

The store never holds a row of a transaction that was not committed, so it
needs no wiping after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP

from millstream.kafka_security import aiokafka_config, confluent_config, connect_admin
from millstream.settings import Settings

__all__ = ["TABLE", "LocalRows", "StateTable", "app_id", "changelog_topic", "committed_positions",
           "ensure_changelog"]

log = logging.getLogger(__name__)

#: name of the Faust table that holds the rows; its changelog is ``<app id>-state-changelog``
TABLE = "state"
#: longest a catch-up of the store waits without a record from the changelog (seconds)
CATCH_UP_STALL = 60.0
#: records a catch-up takes from librdkafka at once
CATCH_UP_BATCH = 10_000


def app_id(settings: Settings) -> str:
    """The Faust app id: consumer group, changelog prefix, transactional ids."""
    return f"{settings.topic_prefix}-worker"


def changelog_topic(settings: Settings) -> str:
    return f"{app_id(settings)}-{TABLE}-changelog"


def ensure_changelog(settings: Settings, timeout: float = 30.0) -> bool:
    """Create the compacted changelog topic of the state table if missing (the app may not declare topics)."""
    from confluent_kafka.admin import NewTopic

    admin, metadata = connect_admin(settings, timeout)
    name = changelog_topic(settings)
    if name in metadata.topics:
        return False
    config = {"cleanup.policy": "compact"}
    if settings.replication > 1:
        config["min.insync.replicas"] = str(min(2, settings.replication))
    future = admin.create_topics([NewTopic(name, num_partitions=settings.partitions,
                                           replication_factor=settings.replication, config=config)],
                                 operation_timeout=timeout)[name]
    try:
        future.result(timeout)
    except Exception as exc:  # a concurrent creator may have won the race
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise
        return False
    return True


async def committed_positions(settings: Settings, tps: list[TopicPartition]) -> dict[tuple[str, int], int]:
    """The worker group's committed offset of each input partition (its log start if none yet).

    Read by a consumer of the group that never joins it (manual assignment).
    """
    if not tps:
        return {}
    consumer = AIOKafkaConsumer(**aiokafka_config(settings), group_id=app_id(settings),
                                enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    try:
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        positions = {}
        for tp in tps:
            committed = await consumer.committed(tp)
            positions[(tp.topic, tp.partition)] = committed if committed is not None else starts[tp]
        return positions
    finally:
        await consumer.stop()


class LocalRows:
    """The local RocksDB copy of the changelog, partition by partition."""

    def __init__(self, table: Any, settings: Settings) -> None:
        self.table = table
        self.settings = settings
        self.topic = changelog_topic(settings)

    def committed(self, partition: int, rows: Iterable[tuple[bytes, bytes | None, int]]) -> None:
        """Rows (key, value or None, offset) of a committed transaction: into the store, persisted offset past
        the commit marker."""
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        last = None
        for key, value, offset in rows:
            _put(batch, key, value)
            last = offset if last is None else max(last, offset)
        if last is None:
            return
        self.table.data._db_for_partition(partition).write(batch)
        self.table.data.set_persisted_offset(TP(self.topic, partition), last + 1)

    def items(self) -> Iterator[tuple[str, bytes]]:
        """(key, value) of every row of the partitions this worker is assigned."""
        for key, value in self.table.items():
            yield key.decode(), value

    async def catch_up(self, partitions: Iterable[int]) -> int:
        """Read what the store lacks of these partitions, up to their last stable offset; the records read.

        The reading runs in a thread (librdkafka's consumer, blocking): the
        event loop goes on serving requests and heartbeats meanwhile.
        """
        starts: dict[int, int] = {}
        for partition in sorted(set(partitions)):
            done = self.table.persisted_offset(TP(self.topic, partition))   # opens the partition's store here
            starts[partition] = 0 if done is None else done + 1
        if not starts:
            return 0
        return await asyncio.to_thread(self._read, starts)

    def _read(self, starts: dict[int, int]) -> int:
        """Read each partition from its start to the end a ``read_committed`` reader sees (partition EOF).

        Records go straight into the partition's RocksDB in one write batch
        per fetch, without RocksDB's write-ahead log: a partition's rows are
        flushed to disk before its persisted offset moves, so a crash in
        between loses only rows the next catch-up reads again.  (Faust's
        ``apply_changelog_batch`` wants an event object per record and logs
        every write: 11.5 s instead of 7 s for 4.5 million records.)  The
        store is Faust's (faust-streaming 0.15, pinned): its per-partition
        database and persisted offset are what Faust's recovery reads.
        """
        from confluent_kafka import Consumer, KafkaError
        from confluent_kafka import TopicPartition as KafkaPartition
        from rocksdict import WriteBatch, WriteOptions

        store = self.table.data
        consumer = Consumer({**confluent_config(self.settings), "group.id": f"{app_id(self.settings)}-catch-up",
                             "enable.auto.commit": False, "isolation.level": "read_committed",
                             "enable.partition.eof": True, "auto.offset.reset": "earliest",
                             "fetch.queue.backoff.ms": 10})
        unlogged = WriteOptions()
        unlogged.disable_wal = True
        written: set[int] = set()   # partitions with rows not flushed yet
        try:
            # a partition is read only below its end: a start past it (a restart before the commit markers of
            # the last batch, which the store holds, were written) would reset to the log's beginning
            todo = set()
            for partition, start in starts.items():
                _low, end = consumer.get_watermark_offsets(KafkaPartition(self.topic, partition),
                                                           timeout=CATCH_UP_STALL)
                if start < end:
                    todo.add(partition)
            if not todo:
                return 0
            dbs = {partition: store._db_for_partition(partition) for partition in todo}
            consumer.assign([KafkaPartition(self.topic, partition, starts[partition]) for partition in todo])
            read = 0
            heard = time.monotonic()
            while todo:
                messages = consumer.consume(CATCH_UP_BATCH, 0.5)
                now = time.monotonic()
                if messages:
                    heard = now
                elif now - heard > CATCH_UP_STALL:
                    raise TimeoutError(f"{self.topic}: partitions {sorted(todo)} sent nothing for "
                                       f"{CATCH_UP_STALL:.0f} s while being caught up")
                batches: dict[int, WriteBatch] = {}
                ends: dict[int, int] = {}
                for message in messages:
                    error = message.error()
                    if error is None:
                        partition = message.partition()
                        batch = batches.get(partition)
                        if batch is None:
                            batch = batches[partition] = WriteBatch(raw_mode=True)
                        _put(batch, message.key(), message.value())
                        read += 1
                    elif error.code() == KafkaError._PARTITION_EOF:
                        ends[message.partition()] = message.offset()
                    else:   # transient (librdkafka retries); one that lasts ends in the stall above
                        log.debug("catching up %s: %s", self.topic, error)
                for partition, batch in batches.items():
                    dbs[partition].write(batch, unlogged)
                    written.add(partition)
                for partition, end in ends.items():
                    if partition in todo:
                        todo.discard(partition)
                        dbs[partition].flush(True)
                        written.discard(partition)
                        if end > starts[partition]:   # past the last record read: commit markers, aborted ones
                            store.set_persisted_offset(TP(self.topic, partition), end - 1)
            return read
        finally:
            for partition in written:   # a catch-up that failed: what it wrote stays, its offset does not move
                store._db_for_partition(partition).flush(True)
            consumer.close()

def _put(batch: Any, key: bytes, value: bytes | None) -> None:
    """A row into a RocksDB write batch; ``None`` deletes it."""
    if value is None:
        batch.delete(key)
    else:
        batch.put(key, value)


class StateTable(faust.Table):
    """Faust's table, with its store caught up by ``LocalRows`` before Faust's own recovery reads the changelog.

    Faust recovers a changelog record by record through its consumer and
    stream machinery: the rows of 2,000,000 events (4.5 million records)
    took it more than five minutes.  Here each assignment first reads what
    the store lacks with librdkafka, so Faust's recovery finds the store
    current and reads nothing.  A failure here is only logged: Faust's
    recovery and the restore's own catch-up (``streams.durable``) still read
    whatever is missing.
    """

    local: LocalRows | None = None

    async def on_rebalance(self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP],
                           generation_id: int = 0) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        local = self.local
        if local is None or generation_id != self.app.consumer_generation_id:
            return   # a stale rebalance: Faust skips its recovery too
        partitions = {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == local.topic}
        started = time.monotonic()
        try:
            read = await local.catch_up(partitions)
        except Exception as exc:
            log.warning("could not read the changelog ahead of Faust's recovery: %r", exc)
            return
        if read:
            log.info("read %d changelog records of partitions %s into the local store in %.1f s",
                     read, sorted(partitions), time.monotonic() - started)
