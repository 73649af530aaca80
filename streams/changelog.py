"""The state table: its changelog topic, and its local RocksDB copy kept to committed rows only.

Rows reach the changelog in the batch transactions of ``streams.durable``, not
through the table's mapping API, so the local store is kept here:

* after a commit, the committed rows go into the store through its
  ``apply_changelog_batch`` (the path Faust's own recovery takes), and the
  persisted offset moves past the commit marker (the partition's only writer
  is its transactional producer, so the marker follows the last row): a
  clean restart finds the store current and Faust's recovery reads nothing;
* before a gained partition is restored, the store is caught up to the
  changelog's last stable offset by a ``read_committed`` reader of its own.
  Faust's recovery cannot be relied on for that: in ``exactly_once`` mode it
  takes the end of a changelog partition from the last fetch response, which
  may not have arrived yet (it then recovers nothing).

The store never holds a row of a transaction that was not committed, so it
needs no wiping after a crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP, Message

from millstream.kafka_security import aiokafka_config, connect_admin
from millstream.settings import Settings

__all__ = ["TABLE", "LocalRows", "app_id", "changelog_topic", "committed_positions", "ensure_changelog"]

#: name of the Faust table that holds the rows; its changelog is ``<app id>-state-changelog``
TABLE = "state"
#: longest wait for a changelog partition to be read to its last stable offset (seconds)
CATCH_UP_TIMEOUT = 120.0


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


class _Logged(NamedTuple):
    """What a store's ``apply_changelog_batch`` reads of a changelog event."""

    message: Message


def _same(value: Any) -> Any:
    return value


class LocalRows:
    """The local RocksDB copy of the changelog, partition by partition."""

    def __init__(self, table: Any, settings: Settings) -> None:
        self.table = table
        self.settings = settings
        self.topic = changelog_topic(settings)

    def committed(self, partition: int, rows: Iterable[tuple[bytes, bytes | None, int]]) -> None:
        """Rows (key, value or None, offset) of a committed transaction: into the store."""
        self._apply(partition, [(key, value, offset) for key, value, offset in rows], marker=True)

    def items(self) -> Iterator[tuple[str, bytes]]:
        """(key, value) of every row of the partitions this worker is assigned."""
        for key, value in self.table.items():
            yield key.decode(), value

    async def catch_up(self, partitions: Iterable[int]) -> None:
        """Read what the store lacks of these partitions, up to their last stable offset."""
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer = AIOKafkaConsumer(**aiokafka_config(self.settings), group_id=None,
                                    enable_auto_commit=False, isolation_level="read_committed",
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)   # read_committed: the last stable offsets
            todo: dict[TopicPartition, int] = {}
            for tp in tps:
                done = self.table.persisted_offset(TP(tp.topic, tp.partition))
                start = 0 if done is None else done + 1
                if start < ends[tp]:
                    consumer.seek(tp, start)
                    todo[tp] = ends[tp]
                else:
                    consumer.pause(tp)
            await asyncio.wait_for(self._read(consumer, todo), CATCH_UP_TIMEOUT)
        finally:
            await consumer.stop()

    async def _read(self, consumer: AIOKafkaConsumer, todo: dict[TopicPartition, int]) -> None:
        while todo:
            fetched = await consumer.getmany(*todo, timeout_ms=500)
            for tp, messages in fetched.items():
                self._apply(tp.partition, [(m.key, m.value, m.offset) for m in messages], marker=False)
            for tp, end in list(todo.items()):
                if await consumer.position(tp) >= end:
                    self.table.data.set_persisted_offset(TP(tp.topic, tp.partition), end - 1)
                    consumer.pause(tp)
                    del todo[tp]

    def _apply(self, partition: int, rows: list[tuple[bytes, bytes | None, int]], *, marker: bool) -> None:
        if not rows:
            return
        tp = TP(self.topic, partition)
        self.table.data.apply_changelog_batch(
            [_Logged(Message(tp.topic, partition, offset, 0.0, 0, None, key, value, None, tp=tp))
             for key, value, offset in rows], to_key=_same, to_value=_same)
        if marker:
            self.table.data.set_persisted_offset(tp, max(offset for _, _, offset in rows) + 1)
