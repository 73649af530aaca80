"""Publishing v1 events to the service's input topics.

Each event goes to the topic of its type with the site as key, so one site's
events stay in one partition and in order.  Master data is keyed by what it
describes, so the compacted master topic keeps the latest item and BOM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from millstream.settings import Settings
from schemas import events as ev
from schemas.codecs import decode_message, encode_json
from schemas.outputs import Rejected
from streams.topics import TOPIC_OF_TYPE

__all__ = ["PublishReport", "publish_lines", "route"]


def route(event: Any, settings: Settings) -> tuple[str, bytes]:
    """(topic, key) of a valid event."""
    kind = type(event).__struct_config__.tag
    topic = settings.topic(TOPIC_OF_TYPE[kind])
    if isinstance(event, ev.MASTER_TYPES):
        return topic, f"{kind}|{event.site or '*'}|{event.item}".encode()
    return topic, event.site.encode()


@dataclass
class PublishReport:
    sent: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def publish_lines(lines: Iterable[bytes], settings: Settings, timeout: float = 60.0) -> PublishReport:
    """Validate each line against the contract, send the valid ones, wait for every delivery."""
    from confluent_kafka import Producer

    # murmur2: the Java client's partitioner, which Faust uses for the transfers it routes and the query
    # API uses to find a site's worker (librdkafka's default, CRC32, would put a site elsewhere)
    producer = Producer({"bootstrap.servers": settings.bootstrap, "enable.idempotence": True,
                         "linger.ms": 20, "acks": "all", "partitioner": "murmur2_random"})
    report = PublishReport()
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        for event in decode_message(line.strip()):
            if isinstance(event, Rejected):
                report.invalid.append((number, event.reason))
                continue
            if event.site is None and not isinstance(event, ev.MASTER_TYPES):
                report.invalid.append((number, "event needs a site"))
                continue
            topic, key = route(event, settings)
            producer.produce(topic, key=key, value=encode_json(event), on_delivery=delivered)
            report.sent += 1
            producer.poll(0)
    remaining = producer.flush(timeout)
    if remaining or failures:
        raise RuntimeError(f"{remaining} messages undelivered, {len(failures)} failed: {failures[:3]}")
    return report
