"""Reading a worker's output topics in tests: wait for the expected state, then a quiet spell.

A fixed quiet window from the start reads nothing when a busy machine is slow to start the
worker; waiting for ``done(records)`` first (with a generous limit) and then for ``quiet``
seconds without news keeps later outputs visible, so they still fail a comparison.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal

from confluent_kafka import Consumer

from millstream.kafka_security import confluent_config
from millstream.settings import Settings

Record = tuple[str, bytes, bytes]


def latest(records: Iterable[Record], topic: str) -> dict[bytes, dict]:
    """The last value per key of one topic, as a compacted topic keeps it."""
    values: dict[bytes, dict] = {}
    for name, key, value in records:
        if name == topic:
            values[key] = json.loads(value, parse_float=Decimal)
    return values


def planned(records: Iterable[Record], settings: Settings) -> set[tuple]:
    """Open planned orders (site, id, qty, release, due) after the upserts and deletes."""
    return {(o["site"], o["planned_id"], str(o["qty"]), o["release"], o["due"])
            for o in latest(records, settings.topic("planned-orders")).values() if o.get("action") != "delete"}


def read_outputs_until(settings: Settings, names: list[str], done: Callable[[list[Record]], bool],
                       limit: float = 300.0, quiet: float = 3.0) -> list[Record]:
    """Committed records of the topics ``names``, read until ``done`` holds and then ``quiet`` seconds pass.

    The consumer takes the settings' security (SASL/TLS) like every client of the project.
    """
    consumer = Consumer({**confluent_config(settings), "group.id": f"check-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    consumer.subscribe([settings.topic(n) for n in names])
    records: list[Record] = []
    start = last = time.monotonic()
    finished = False
    try:
        while time.monotonic() - start < limit:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                records.append((message.topic(), message.key(), message.value()))
                last = time.monotonic()
            elif not finished:
                finished = done(records)
            elif time.monotonic() - last >= quiet:
                break
    finally:
        consumer.close()
    return records
