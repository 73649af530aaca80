"""streams.batches puts a keyed record where the producer's own partitioner would (compacted outputs keep
each key in its partition) and reads each tracked record's offset from its batch."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from streams.batches import BatchedSends


class _Future:
    def __init__(self, offset: int) -> None:
        self.offset = offset

    def result(self) -> _Future:
        return self


class _Builder:
    """Stands in for aiokafka's BatchBuilder: takes ``room`` records, then says it is full."""

    def __init__(self, room: int) -> None:
        self.room, self.records, self.keys = room, 0, []

    def append(self, *, key: bytes, value: bytes | None, timestamp: Any) -> Any:
        if self.records == self.room:
            return None
        self.records += 1
        self.keys.append(key)
        return type("Placed", (), {"offset": self.records - 1})

    def close(self) -> None:
        pass


class _Producer:
    """Records what was sent where; the n-th batch of a topic-partition starts at offset 100 * n."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, int, int]] = []
        self.placed: dict[bytes, int] = {}   # key -> the partition its batch went to

    def create_batch(self) -> _Builder:
        return _Builder(room=3)

    async def send_batch(self, builder: _Builder, topic: str, *, partition: int) -> _Future:
        base = 100 * sum(1 for t, p, _ in self.batches if (t, p) == (topic, partition))
        self.batches.append((topic, partition, builder.records))
        self.placed.update(dict.fromkeys(builder.keys, partition))
        return _Future(base)


def test_keys_go_where_the_default_partitioner_puts_them() -> None:
    rng = random.Random(7)
    keys = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 30))) for _ in range(500)]
    keys = list(dict.fromkeys(keys))
    producer = _Producer()
    batched = BatchedSends(producer, {"out": 8})   # type: ignore[arg-type]
    asyncio.run(batched.send_all([("out", key, b"v", None) for key in keys]))
    placed = [producer.placed[key] for key in keys]
    assert placed == [DefaultPartitioner()(key, list(range(8)), list(range(8))) for key in keys]


def test_each_tracked_record_gets_its_batch_base_plus_its_place() -> None:
    producer = _Producer()
    batched = BatchedSends(producer, {"out": 4}, tracked="rows")   # type: ignore[arg-type]
    sends = [("rows", b"k%d" % i, b"v", 1) for i in range(4)] + [("out", b"x", b"v", 2)] + \
            [("rows", b"k%d" % i, b"v", 1) for i in range(4, 7)] + [("out", b"y", b"v", None)]
    asyncio.run(batched.send_all(sends))
    by_key = DefaultPartitioner()(b"y", list(range(4)), list(range(4)))
    assert producer.batches == [("rows", 1, 3), ("rows", 1, 3), ("rows", 1, 1), ("out", 2, 1), ("out", by_key, 1)]
    assert batched.tracked_records() == [(b"k%d" % i, b"v", offset) for i, offset in
                                         enumerate([0, 1, 2, 100, 101, 102, 200])]   # the "out" ones are not


def test_a_topic_without_a_known_partition_count_is_asked_once() -> None:
    asked: list[str] = []

    class _Asking(_Producer):
        async def partitions_for(self, topic: str) -> set[int]:
            asked.append(topic)
            return set(range(3))

    producer = _Asking()
    batched = BatchedSends(producer, {})   # type: ignore[arg-type]
    asyncio.run(batched.send_all([("out", b"k%d" % i, b"v", None) for i in range(10)]))
    assert asked == ["out"]
    assert sum(records for _, _, records in producer.batches) == 10
    assert batched.tracked_records() == []
