"""Arms A and B: a confluent-kafka consumer loop draining the pre-loaded site topics, in this process.

A is the ceiling: ``consume`` in batches, nothing decoded (each message's error flag is checked, nothing
else).  B is the same loop decoding every message with the contract's msgspec codecs
(``schemas.codecs.decode_message``, what the worker calls), envelopes included, and counting the events.
librdkafka's ``fetch.queue.backoff.ms`` is lowered to 10 ms: at its default (1 s) a consumer that
empties its queue waits for the next fetch and runs at a fifth of the speed
(``../shared/notes/faust-and-kafka-facts.md``).

Timing starts when the first message is in hand (the connection made, fetching under way) and ends when
the last one has been handled; the first message's events are not counted.  librdkafka fetches ahead in
its own threads (up to 64 MiB queued), so a pre-load smaller than that is mostly read from memory: small
runs overstate A and B.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from millstream.kafka_security import confluent_config
from millstream.settings import Settings
from schemas.codecs import decode_message

from .spec import SITE_TOPICS

__all__ = ["ArmResult", "drain_raw"]

#: messages asked of ``consume`` at a time
BATCH = 10_000
#: longest wait for more messages before the drain is declared stuck (seconds)
STALL = 60.0


@dataclass
class ArmResult:
    """One drain of one arm: events timed over seconds, and what else it saw."""

    arm: str
    variant: str
    run: int
    events: int          # events in the timed window
    seconds: float
    messages: int = 0    # messages drained in all
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {"arm": self.arm, "variant": self.variant, "run": self.run, "events": self.events,
                "seconds": self.seconds, "events_per_s": self.events_per_s, "messages": self.messages,
                **self.extra}


def drain_raw(settings: Settings, ends: dict[tuple[str, int], int], index: dict[tuple[str, int], list[int]], *,
              decode: bool, arm: str, variant: str, run: int, fetch_backoff_ms: int = 10,
              batch: int = BATCH) -> ArmResult:
    """Read every site topic-partition from its start to ``ends``; A (``decode=False``) or B."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({**confluent_config(settings), "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "fetch.queue.backoff.ms": fetch_backoff_ms})
    short_of = {settings.topic(short): short for short in SITE_TOPICS}
    expected = sum(ends.values())
    consumer.assign([TopicPartition(settings.topic(short), p, OFFSET_BEGINNING) for short, p in ends])
    messages = decoded_events = first_events = 0
    started = finished = 0.0
    last_progress = time.monotonic()
    size = 1   # the first message alone: the clock starts once it is in hand, and its events are not timed
    try:
        while messages < expected:
            batch_messages = consumer.consume(min(size, expected - messages), 1.0)
            if not batch_messages:
                if time.monotonic() - last_progress > STALL:
                    raise RuntimeError(f"arm {arm}: no message for {STALL:.0f} s after {messages:,} of {expected:,}")
                continue
            for message in batch_messages:
                if message.error() is not None:
                    raise RuntimeError(f"arm {arm}: {message.error()}")
            if decode:
                for message in batch_messages:
                    decoded_events += len(decode_message(message.value()))
            messages += len(batch_messages)
            finished = time.perf_counter()
            last_progress = time.monotonic()
            if not started:
                started, size = finished, batch
                first = batch_messages[0]
                first_events = index[(short_of[first.topic()], first.partition())][first.offset()]
    finally:
        consumer.close()
    total_events = sum(sum(events) for events in index.values())
    if decode and decoded_events != total_events:
        raise RuntimeError(f"arm {arm}: decoded {decoded_events:,} events, the pre-load holds {total_events:,}")
    return ArmResult(arm, variant, run, total_events - first_events, finished - started, messages,
                     {"fetch_queue_backoff_ms": fetch_backoff_ms, "consume_batch": batch})
