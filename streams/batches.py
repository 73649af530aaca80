"""A transaction's records sent as record batches, one per topic-partition, instead of one ``send`` each.

``AIOKafkaProducer.send`` costs tens of microseconds of Python per record (metadata wait, a set of the
topic's partitions built twice, a future and a metadata tuple per record): with a few output and state
records per event it was a quarter of a worker's time (BENCHMARKS.md, issue 7).  ``create_batch`` and
``send_batch`` are aiokafka's public batch API: records are appended to a batch builder per topic-partition
and each batch goes out whole, inside the same transaction.  A record's offset is its batch's base offset
plus its place in the batch.

Records sent without a partition go where the producer's default partitioner would put them (murmur2 of
the key, as ``streams.routing.site_partition`` and the Java client compute it), so a compacted output
topic keeps each key in the partition it always had.  The hash is librdkafka's (``confluent_kafka.murmur2``,
0.15 µs a key): aiokafka's pure-Python one took 5 µs, 9 % of a worker's time with a few outputs per event.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from confluent_kafka import murmur2

__all__ = ["BATCH_BYTES", "BatchedSends"]

#: most bytes in one record batch (a single larger record still goes, alone)
BATCH_BYTES = 512 * 1024

Send = tuple[str, bytes, bytes | None, int | None]   # topic, key, value, partition (None: by key)


class BatchedSends:
    """The records of one transaction, appended to batches and sent; ``tracked_records`` once it committed.

    Only the ``tracked`` topic's records are kept with their offsets (the worker needs its changelog rows'
    offsets, not those of the millions of outputs), and the per-record loop never awaits: partition counts
    are looked up once per topic before it.
    """

    def __init__(self, producer: AIOKafkaProducer, partitions: dict[str, int], tracked: str | None = None) -> None:
        self.producer = producer
        self.partitions = partitions   # topic -> partition count, shared across transactions (a cache)
        self.tracked = tracked
        self._open: dict[tuple[str, int], Any] = {}
        self._sent: dict[tuple[str, int], list[asyncio.Future[Any]]] = defaultdict(list)
        # per tracked record: slot, batch number, offset in the batch, key, value
        self._places: list[tuple[tuple[str, int], int, int, bytes, bytes | None]] = []

    async def send_all(self, sends: Sequence[Send]) -> None:
        counts = self.partitions
        for topic in {send[0] for send in sends if send[3] is None} - counts.keys():
            counts[topic] = len(await self.producer.partitions_for(topic))
        tracked, places, sent, opened = self.tracked, self._places, self._sent, self._open
        for topic, key, value, partition in sends:
            slot = (topic, partition if partition is not None else murmur2(key or b"", counts[topic]))
            builder = opened.get(slot)
            placed = builder.append(key=key, value=value, timestamp=None) if builder is not None else None
            if placed is None:   # no batch yet, or it is full: send it, start another (which takes any record)
                if builder is not None:
                    await self._send(slot, builder)
                builder = opened[slot] = self.producer.create_batch()
                placed = builder.append(key=key, value=value, timestamp=None)
            if topic == tracked:
                places.append((slot, len(sent[slot]), placed.offset, key, value))
        for slot, builder in list(opened.items()):
            await self._send(slot, builder)
        opened.clear()

    def tracked_records(self) -> list[tuple[bytes, bytes | None, int]]:
        """Each ``tracked`` record's key, value and offset, in the order sent (after the transaction committed)."""
        return [(key, value, self._sent[slot][number].result().offset + relative)
                for slot, number, relative, key, value in self._places]

    async def _send(self, slot: tuple[str, int], builder: Any) -> None:
        builder.close()
        self._sent[slot].append(await self.producer.send_batch(builder, slot[0], partition=slot[1]))
