"""Publishing v1 events to the service's input topics.

Each event goes to the topic of its type with the site as key, so one site's
events stay in one partition and in order.  Master data is keyed by what it
describes, so the compacted master topic keeps the latest item and BOM; it is
always sent one event per message.  Site events are packed into envelopes, one
site and one topic each (``schemas.events.Envelope``), so a worker pays
Faust's per-message cost once per envelope instead of once per event.

Only events that pass the v1 contract are sent; the rest are listed with their
line and reason.  The producer is idempotent (``acks=all``): librdkafka retries
transient failures itself, without duplicates and without reordering a
partition, until the delivery timeout; what Kafka still refuses is reported
with the lines it carried, never dropped silently.  ``millstream publish`` and
``POST /events`` (``connectors.ingest``) share the packing and the checks.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec

from millstream.kafka_security import confluent_config
from millstream.settings import Settings
from schemas import events as ev
from schemas.codecs import decode_message, encode_json
from schemas.outputs import Rejected
from streams.topics import TOPIC_OF_TYPE

__all__ = [
    "MAX_SEND_BYTES",
    "Message",
    "Packer",
    "PublishReport",
    "encode_for_sending",
    "json_lines_records",
    "producer_config",
    "publish_file",
    "publish_lines",
    "publish_records",
    "route",
    "send_limit",
]

#: Largest message sent, at most: under librdkafka's default ``message.max.bytes`` (1,000,000); lower when
#: the workers take less (``max_message_bytes``, see ``send_limit``).  An envelope is closed before it passes it.
MAX_SEND_BYTES = 900_000
#: Files at least this large get a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES = 1 << 20

#: One record of an input file: its line number and the decoded event, or why it is not one.
Record = tuple[int, Any]


def route(event: Any, settings: Settings) -> tuple[str, bytes]:
    """(topic, key) of a valid event."""
    kind = type(event).__struct_config__.tag
    topic = settings.topic(TOPIC_OF_TYPE[kind])
    if isinstance(event, ev.WorkCenter):
        return topic, f"{kind}|{event.site or '*'}|{event.work_center}".encode()
    if isinstance(event, ev.MASTER_TYPES):
        return topic, f"{kind}|{event.site or '*'}|{event.item}".encode()
    return topic, event.site.encode()


def send_limit(settings: Settings) -> int:
    """Largest message to send: what the producer takes and the workers do not dead-letter as too large."""
    return min(MAX_SEND_BYTES, settings.max_message_bytes)


def encode_for_sending(event: Any, limit: int = MAX_SEND_BYTES) -> bytes | str:
    """The event as it goes on the wire (JSON), or why it may not be published (``limit``: ``send_limit``)."""
    if isinstance(event, ev.TransferInTransit):
        return "transfer_in_transit is internal: workers announce shipments to the receiving site themselves"
    if event.site is None and not isinstance(event, ev.MASTER_TYPES):
        return "event needs a site"
    value = encode_json(event)
    if len(value) > limit:
        return f"event too large: {len(value)} bytes > {limit}"
    return value


def producer_config(settings: Settings, delivery_timeout: float) -> dict[str, Any]:
    """Idempotent, ``acks=all``, murmur2 partitioning; gives up on a message after ``delivery_timeout`` s."""
    # murmur2: the Java client's partitioner, which Faust uses for the transfers it routes and the query
    # API uses to find a site's worker (librdkafka's default, CRC32, would put a site elsewhere)
    return {**confluent_config(settings), "enable.idempotence": True, "acks": "all",
            "partitioner": "murmur2_random", "linger.ms": 20,
            "delivery.timeout.ms": max(1000, int(delivery_timeout * 1000))}


# --- packing ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Message:
    """One Kafka message to send: a single event or an envelope, and where its events came from."""

    topic: str
    key: bytes
    value: bytes
    origins: list[int]   # line numbers (publish) or positions in the request (ingest), in order
    envelope: bool = False


@dataclass(slots=True)
class _Open:
    """An envelope being filled: one site's events of one topic, in arrival order."""

    topic: str
    key: bytes
    site: str
    started: float
    values: list[bytes] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)
    size: int = 0


class Packer:
    """Turns events into messages: each site's events of a topic into envelopes, in order.

    An envelope is closed when it holds ``envelope_size`` events, when the next
    event would take it past ``send_limit``, when its first event has
    waited ``envelope_linger_ms`` (``due``), or at the end (``drain``).  One
    site and topic has one open envelope at a time, so closing order is arrival
    order.  Master data always goes one event per message.
    """

    def __init__(self, settings: Settings, envelopes: bool = True) -> None:
        if settings.envelope_size < 1:
            raise ValueError(f"envelope_size must be at least 1, not {settings.envelope_size}")
        if settings.envelope_linger_ms < 0:
            raise ValueError(f"envelope_linger_ms must not be negative, not {settings.envelope_linger_ms}")
        self.settings = settings
        self.envelopes = envelopes
        self.size = settings.envelope_size
        self.linger = settings.envelope_linger_ms / 1000
        self.limit = send_limit(settings)
        self._open: dict[tuple[str, bytes], _Open] = {}   # insertion order = the order they were opened

    def add(self, event: Any, value: bytes, origin: int, now: float = 0.0) -> list[Message]:
        """Take one valid event (``value`` from ``encode_for_sending``); the messages now complete."""
        topic, key = route(event, self.settings)
        if not self.envelopes or isinstance(event, ev.MASTER_TYPES):
            return [Message(topic, key, value, [origin])]
        ready: list[Message] = []
        slot = (topic, key)
        current = self._open.get(slot)
        overhead = 40 + len(key)   # {"type":"envelope","site":...,"events":[]} and the separators
        if current is not None and current.size + len(value) + overhead > self.limit:
            ready.append(self._close(slot))
            current = None
        if current is None:
            if len(value) + overhead > self.limit:   # too big to share a message: alone, in its place
                return [*ready, Message(topic, key, value, [origin])]
            current = self._open[slot] = _Open(topic, key, event.site, now)
        current.values.append(value)
        current.origins.append(origin)
        current.size += len(value) + 1
        if len(current.values) >= self.size:
            ready.append(self._close(slot))
        return ready

    def due(self, now: float) -> list[Message]:
        """Envelopes whose first event has waited the linger time."""
        ready = []
        while self._open:
            slot, oldest = next(iter(self._open.items()))
            if now - oldest.started < self.linger:
                break
            ready.append(self._close(slot))
        return ready

    def drain(self) -> list[Message]:
        """Every open envelope, oldest first."""
        return [self._close(slot) for slot in list(self._open)]

    def _close(self, slot: tuple[str, bytes]) -> Message:
        done = self._open.pop(slot)
        value = encode_json(ev.Envelope(site=done.site, events=[msgspec.Raw(v) for v in done.values]))
        return Message(done.topic, done.key, value, done.origins, envelope=True)


# --- reading ---------------------------------------------------------------------------------------


def json_lines_records(lines: Iterable[bytes]) -> Iterator[Record]:
    """(line number, event or reason) for each event of a JSON Lines input; blank lines skipped.

    A line may also hold an envelope: its events are checked and routed one by one.
    """
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        for event in decode_message(line):
            yield number, (event.reason if isinstance(event, Rejected) else event)


# --- sending ---------------------------------------------------------------------------------------


@dataclass
class PublishReport:
    """What was sent (acknowledged by Kafka), per topic, and what was not, by line."""

    events: Counter[str] = field(default_factory=Counter)     # topic -> events acknowledged
    messages: Counter[str] = field(default_factory=Counter)   # topic -> messages acknowledged
    invalid: list[tuple[int, str]] = field(default_factory=list)   # (line number, reason): never sent
    failed: list[tuple[int, str]] = field(default_factory=list)    # (line number, reason): Kafka refused

    @property
    def sent(self) -> int:
        return sum(self.events.values())


class _Sender:
    """One idempotent producer; delivery reports are counted in the report as they come."""

    def __init__(self, settings: Settings, report: PublishReport, delivery_timeout: float) -> None:
        from confluent_kafka import Producer

        self.producer = Producer(producer_config(settings, delivery_timeout))
        self.report = report
        self.delivery_timeout = delivery_timeout

    def send(self, message: Message) -> None:
        from confluent_kafka import KafkaException

        def delivered(err: Any, _msg: Any, message: Message = message) -> None:
            if err is None:
                self.report.events[message.topic] += len(message.origins)
                self.report.messages[message.topic] += 1
            else:
                self.report.failed.extend((line, f"not delivered: {err.str()}") for line in message.origins)

        while True:
            try:
                self.producer.produce(message.topic, key=message.key, value=message.value, on_delivery=delivered)
                break
            except BufferError:   # the local queue is full: wait for deliveries to make room
                self.producer.poll(0.5)
            except KafkaException as exc:
                self.report.failed.extend((line, f"not sent: {exc}") for line in message.origins)
                break
        self.producer.poll(0)

    def finish(self) -> None:
        """Wait for the delivery report of every message (each ends within the delivery timeout)."""
        deadline = time.monotonic() + self.delivery_timeout + 30
        while len(self.producer) and time.monotonic() < deadline:
            self.producer.flush(1.0)
        if len(self.producer):
            raise RuntimeError(f"{len(self.producer)} messages without a delivery report after "
                               f"{self.delivery_timeout + 30:.0f} s")


def publish_records(records: Iterable[Record], settings: Settings, *, envelopes: bool = True,
                    delivery_timeout: float = 120.0) -> PublishReport:
    """Check each record against the contract, send the valid ones, wait for every delivery report.

    ``records``: (line number, event or reason), in file order; events keep that
    order per site within their topic.
    """
    packer = Packer(settings, envelopes)
    report = PublishReport()
    sender = _Sender(settings, report, delivery_timeout)
    for number, event in records:
        value = event if isinstance(event, str) else encode_for_sending(event, packer.limit)
        if isinstance(value, str):
            report.invalid.append((number, value))
            continue
        for message in packer.add(event, value, number, time.monotonic()):
            sender.send(message)
        for message in packer.due(time.monotonic()):
            sender.send(message)
    for message in packer.drain():
        sender.send(message)
    sender.finish()
    return report


def publish_lines(lines: Iterable[bytes], settings: Settings, timeout: float = 60.0, *,
                  envelopes: bool = False) -> PublishReport:
    """Publish JSON Lines (one event per message unless ``envelopes``); raises if Kafka refused any."""
    report = publish_records(json_lines_records(lines), settings, envelopes=envelopes, delivery_timeout=timeout)
    if report.failed:
        raise RuntimeError(f"{len(report.failed)} events not delivered: {report.failed[:3]}")
    return report


def _read_lines(handle: IO[bytes], progress: Any) -> Iterator[bytes]:
    for line in handle:
        progress.update(len(line))
        yield line


def publish_file(path: Path, settings: Settings, *, fmt: str | None = None, envelopes: bool = True,
                 progress: bool = False, delivery_timeout: float = 120.0) -> PublishReport:
    """Publish a JSON Lines or CSV file (``fmt``: ``jsonl`` or ``csv``; default: by the file's suffix).

    ``progress``: show a bar on stderr for files of a megabyte or more.  A CSV
    file whose header is unusable raises ``csv_events.CsvHeaderError`` before
    anything is sent.  ``-`` reads standard input (``millstream import ... | millstream publish -``).
    """
    from tqdm import tqdm

    from .csv_events import csv_records

    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    if str(path) == "-":
        lines = iter(sys.stdin.buffer)
        records = csv_records(lines) if fmt == "csv" else json_lines_records(lines)
        return publish_records(records, settings, envelopes=envelopes, delivery_timeout=delivery_timeout)
    size = path.stat().st_size
    with open(path, "rb") as handle, tqdm(total=size, unit="B", unit_scale=True, desc=path.name,
                                          disable=not progress or size < PROGRESS_MIN_BYTES) as bar:
        lines = _read_lines(handle, bar)
        records = csv_records(lines) if fmt == "csv" else json_lines_records(lines)
        return publish_records(records, settings, envelopes=envelopes, delivery_timeout=delivery_timeout)
