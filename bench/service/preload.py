"""Pre-loaded input: the simulated factory as ready-to-send messages, and loading them into topics.

The factory comes from ``millstream simulate``'s generator (``connectors.simulate``, deterministic for the
seed): its master data, then its first ``spec.events`` site events.  Each event goes through the
publisher's own path (``connectors.publisher``: contract check, JSON encoding, topic and key by type and
site, envelopes by ``Packer``), so the bytes on the topics are what ``millstream publish`` would send.
Two variants are written once per spec and reused by every arm and run:

* ``single``: one event per message (what a lone scanner sends);
* ``envelopes``: a site's events of one topic packed ``envelope_size`` to a message (the publisher's
  default).  Envelopes are closed by size only, never by the linger time, so the file does not depend on
  how fast it was written.

A file is a sequence of frames: ``<topic index, events, key length, value length>`` then key and value.
"""

from __future__ import annotations

import contextlib
import json
import struct
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from connectors.publisher import Packer, encode_for_sending, producer_config
from connectors.simulate import SimSpec, Simulation
from millstream.settings import Settings
from schemas.codecs import decode_message
from schemas.outputs import Rejected

from .spec import MAX_DAYS, SITE_TOPICS, BenchSpec

__all__ = ["TOPICS", "VARIANTS", "Preload", "delete_prefix", "frames", "load", "prepare"]

#: short topic names by their index in a frame
TOPICS = ("master", *SITE_TOPICS)
VARIANTS = ("single", "envelopes")
_FRAME = struct.Struct("<BIHI")
_PACK_PREFIX = "p"   # the Packer routes to full names; frames keep the short ones


@dataclass
class Preload:
    """One variant's file and what it holds."""

    spec: BenchSpec
    variant: str
    path: Path
    master: int = 0                                        # master events (one message each)
    events: Counter[str] = field(default_factory=Counter)  # site topic -> events
    messages: Counter[str] = field(default_factory=Counter)  # site topic -> messages
    value_bytes: int = 0                                   # bytes of the site messages' values

    @property
    def site_events(self) -> int:
        return sum(self.events.values())

    @property
    def site_messages(self) -> int:
        return sum(self.messages.values())

    def as_json(self) -> dict[str, Any]:
        return {"variant": self.variant, "path": self.path.name, "master": self.master,
                "events": dict(self.events), "messages": dict(self.messages), "value_bytes": self.value_bytes}

    @classmethod
    def from_json(cls, spec: BenchSpec, folder: Path, data: dict[str, Any]) -> Preload:
        return cls(spec, data["variant"], folder / data["path"], data["master"], Counter(data["events"]),
                   Counter(data["messages"]), data["value_bytes"])


def frames(path: Path) -> Iterator[tuple[str, int, bytes, bytes]]:
    """(short topic, events, key, value) of every message of a pre-load file, in order."""
    with open(path, "rb") as handle:
        while header := handle.read(_FRAME.size):
            topic, events, key_len, value_len = _FRAME.unpack(header)
            key = handle.read(key_len)
            yield TOPICS[topic], events, key, handle.read(value_len)


def _site_lines(spec: BenchSpec) -> tuple[list[bytes], Iterator[bytes]]:
    """The master lines, and an iterator over the first ``spec.events`` site event lines."""
    lines = Simulation(SimSpec(sites=spec.sites, items=spec.items, depth=spec.depth, days=MAX_DAYS,
                               seed=spec.seed)).lines()
    master: list[bytes] = []
    for line in lines:
        if not line.startswith((b'{"type":"item"', b'{"type":"bom"')):
            return master, _chain(line, lines, spec.events)
        master.append(line)
    return master, iter(())


def _chain(first: bytes, rest: Iterator[bytes], limit: int) -> Iterator[bytes]:
    if limit <= 0:
        return
    yield first
    yield from islice(rest, limit - 1)


def prepare(spec: BenchSpec, log: Any = print) -> dict[str, Preload]:
    """Both variants' files of ``spec``: read from the cache, or generated and written there once."""
    folder = spec.folder
    manifest = folder / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        return {name: Preload.from_json(spec, folder, item) for name, item in data["variants"].items()}
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    settings = Settings(topic_prefix=_PACK_PREFIX, envelope_size=spec.envelope_size)
    preloads = {name: Preload(spec, name, folder / f"{name}.frames") for name in VARIANTS}
    packers = {"single": Packer(settings, envelopes=False), "envelopes": Packer(settings, envelopes=True)}
    with contextlib.ExitStack() as stack:
        handles = {name: stack.enter_context(open(p.path.with_suffix(".partial"), "wb"))
                   for name, p in preloads.items()}
        master, site_lines = _site_lines(spec)
        for number, line in enumerate([*master, *site_lines], start=1):
            event = _one_event(line, number)
            value = encode_for_sending(event)
            if isinstance(value, str):
                raise ValueError(f"simulated event {number} refused by the publisher: {value}")
            for name, packer in packers.items():
                for message in packer.add(event, value, number, 0.0):   # now=0: closed by size only
                    _write(handles[name], preloads[name], message)
            if number % 500_000 == 0:
                log(f"  ... {number:,} events packed")
        for name, packer in packers.items():
            for message in packer.drain():
                _write(handles[name], preloads[name], message)
    for preload in preloads.values():
        preload.path.with_suffix(".partial").rename(preload.path)
    manifest.write_text(json.dumps({"spec": spec.key, "variants": {n: p.as_json() for n, p in preloads.items()}},
                                   indent=1))
    single = preloads["single"]
    log(f"pre-load files written in {time.perf_counter() - started:.1f} s: {single.master:,} master events, "
        f"{single.site_events:,} site events ({single.value_bytes / max(single.site_events, 1):.0f} bytes each), "
        f"{preloads['envelopes'].site_messages:,} envelopes; {folder}")
    return preloads


def _one_event(line: bytes, number: int) -> Any:
    decoded = decode_message(line.strip())
    if len(decoded) != 1 or isinstance(decoded[0], Rejected):
        raise ValueError(f"simulated line {number} is not one valid event: {decoded!r:.200}")
    return decoded[0]


def _write(handle: Any, preload: Preload, message: Any) -> None:
    short = message.topic[len(_PACK_PREFIX) + 1:]
    events = len(message.origins)
    handle.write(_FRAME.pack(TOPICS.index(short), events, len(message.key), len(message.value)))
    handle.write(message.key)
    handle.write(message.value)
    if short == "master":
        preload.master += events
    else:
        preload.events[short] += events
        preload.messages[short] += 1
        preload.value_bytes += len(message.value)


# --- loading into topics -----------------------------------------------------------------------------


def load(preload: Preload, settings: Settings, log: Any = print) -> dict[tuple[str, int], int]:
    """Create the prefix's topics and send every message of ``preload``; the end offset of each site
    topic-partition (short name, partition) once all are acknowledged."""
    from confluent_kafka import Producer

    from streams.topics import ensure_topics

    ensure_topics(settings)
    config = producer_config(settings, delivery_timeout=300.0) | {
        "linger.ms": 50, "batch.size": 1 << 20, "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1 << 20}
    producer = Producer(config)
    failed: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err.str())

    started = time.perf_counter()
    names = {short: settings.topic(short) for short in TOPICS}
    sent = 0
    for short, _events, key, value in frames(preload.path):
        while True:
            try:
                producer.produce(names[short], value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
        sent += 1
        if sent % 10_000 == 0:
            producer.poll(0)
    while len(producer):
        producer.flush(1.0)
    if failed:
        raise RuntimeError(f"{len(failed)} pre-load messages not delivered: {failed[:3]}")
    ends = end_offsets(settings, SITE_TOPICS)
    log(f"loaded {sent:,} messages ({preload.variant}) into {settings.topic_prefix}.* in "
        f"{time.perf_counter() - started:.1f} s")
    return ends


def end_offsets(settings: Settings, shorts: tuple[str, ...]) -> dict[tuple[str, int], int]:
    """(short topic, partition) -> high watermark, for every partition of the named topics."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from millstream.kafka_security import confluent_config

    consumer = Consumer({**confluent_config(settings), "group.id": f"{settings.topic_prefix}-bench-ends"})
    try:
        ends = {}
        for short in shorts:
            topic = settings.topic(short)
            metadata = consumer.list_topics(topic, timeout=30)
            for partition in metadata.topics[topic].partitions:
                for attempt in range(30):   # a loaded broker may still be electing the leader of a new topic
                    try:
                        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
                        break
                    except KafkaException:
                        if attempt == 29:
                            raise
                        time.sleep(1.0)
                ends[(short, partition)] = high
        return ends
    finally:
        consumer.close()


def delete_prefix(settings: Settings, log: Any = print) -> list[str]:
    """Delete every topic of the prefix (inputs, outputs, the worker's changelog and assignor topic)."""
    from millstream.kafka_security import connect_admin

    admin, metadata = connect_admin(settings)
    prefix = settings.topic_prefix
    names = sorted(t for t in metadata.topics if t.startswith((f"{prefix}.", f"{prefix}-")))
    if names:
        for future in admin.delete_topics(names, operation_timeout=60).values():
            try:
                future.result(60)
            except Exception as exc:   # already gone: fine
                log(f"  (delete: {exc})")
    return names


def offset_events(preload: Preload, partitions: int) -> dict[tuple[str, int], list[int]]:
    """Events of every site message by where it lands: (short topic, partition) -> events per offset.

    Messages of a site topic-partition get consecutive offsets from 0 in the file's order (one idempotent
    producer, no transactions), and a site's partition is murmur2 of its key (``streams.routing``).
    """
    from streams.routing import site_partition

    index: dict[tuple[str, int], list[int]] = {}
    partition_of: dict[bytes, int] = {}
    for short, events, key, _value in frames(preload.path):
        if short == "master":
            continue
        partition = partition_of.get(key)
        if partition is None:
            partition = partition_of[key] = site_partition(key.decode(), partitions)
        index.setdefault((short, partition), []).append(events)
    return index
