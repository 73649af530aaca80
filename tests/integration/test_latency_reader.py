"""The latency harness stamps an output when it reaches the reader, not when the reader's wait ends."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Producer

from bench.service.latency import _Reader
from millstream.settings import Settings
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

#: the reader's wait per poll: an output stamped only when a wait ended would come this late
WAIT = 30.0


def test_an_output_is_stamped_as_it_arrives_though_the_reader_may_wait_longer(bootstrap: str) -> None:
    settings = Settings(bootstrap=bootstrap, partitions=1, topic_prefix=f"lat{uuid.uuid4().hex[:8]}")
    ensure_topics(settings)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    output = json.dumps({"site": "S1", "ts": "2026-01-05T08:00:00+00:00"}).encode()
    sent = time.perf_counter()
    producer.produce(settings.topic("shortages"), value=output, key=b"S1|1")
    producer.flush(30)
    reader = _Reader(settings, wait=WAIT)
    reader.start()
    try:
        deadline = time.perf_counter() + WAIT * 2 / 3   # joining the group takes seconds, not the wait
        while not reader.arrivals and time.perf_counter() < deadline and reader.is_alive():
            time.sleep(0.05)
        assert reader.error is None
        # consume(n, timeout) handed the record over only when its timeout ran out (30 s here): stamped then,
        # each output of a quiet moment counted up to the whole wait late
        assert len(reader.arrivals) == 1, "the output was not handed over before the reader's wait ran out"
        arrival, site, ts = reader.arrivals[0]
        assert sent <= arrival <= time.perf_counter()
        assert (site, ts) == ("S1", 1767600000.0)
    finally:
        reader.stopping.set()
        producer.produce(settings.topic("shortages"), value=output, key=b"S1|2")   # ends the reader's wait
        producer.flush(30)
        reader.join(WAIT + 5)
    assert not reader.is_alive()
