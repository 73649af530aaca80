"""``millstream simulate --kafka`` on the real broker: every generated event lands on its input topic, in order."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from connectors.publisher import route
from millstream.settings import Settings
from schemas.codecs import decode_message
from schemas.outputs import Rejected

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["simulate", "--sites", "2", "--items", "80", "--depth", "3", "--days", "3", "--seed", "3"]


def _read(settings: Settings, topics: list[str], expected: int, limit: float = 90.0) -> list[tuple[str, object]]:
    """(topic, event) of every event on ``topics`` (envelopes opened), until ``expected`` came or ``limit`` s."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(topics)
    seen: list[tuple[str, object]] = []
    deadline = time.monotonic() + limit
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen.extend((message.topic(), event) for event in decode_message(message.value()))
        end = time.monotonic() + 2   # nothing more should come
        while time.monotonic() < end:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                seen.extend((message.topic(), event) for event in decode_message(message.value()))
    finally:
        consumer.close()
    return seen


def test_simulate_sends_every_event_to_its_topic_at_a_rate(bootstrap: str, tmp_path: Path) -> None:
    settings = Settings(bootstrap=bootstrap, partitions=2, topic_prefix=f"sim{uuid.uuid4().hex[:8]}")
    path = tmp_path / "factory.jsonl"
    subprocess.run([sys.executable, "-m", "millstream.cli", *ARGS, "--out", str(path)], cwd=ROOT, check=True,
                   capture_output=True, timeout=120)
    generated = [decode_message(line)[0] for line in path.read_bytes().splitlines()]
    assert len(generated) > 500 and not any(isinstance(event, Rejected) for event in generated)
    expected = collections.Counter(route(event, settings)[0] for event in generated)

    env = {**os.environ, "MILLSTREAM_BOOTSTRAP": bootstrap, "MILLSTREAM_PARTITIONS": "2",
           "MILLSTREAM_TOPIC_PREFIX": settings.topic_prefix}
    env.pop("MILLSTREAM_CONFIG", None)
    result = subprocess.run([sys.executable, "-m", "millstream.cli", *ARGS, "--kafka", "--rate", "1500"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"sent to {bootstrap}: {len(generated)}," in result.stderr

    received = _read(settings, sorted(expected), len(generated))
    assert collections.Counter(topic for topic, _event in received) == expected
    assert sorted(e.event_id for _t, e in received) == sorted(e.event_id for e in generated)
    by_partition_site: dict[tuple[str, str], list] = collections.defaultdict(list)
    for topic, event in received:
        if getattr(event, "site", None) is not None and type(event).__struct_config__.tag not in ("item", "bom"):
            by_partition_site[(topic, event.site)].append(event.ts)
    assert by_partition_site
    assert all(times == sorted(times) for times in by_partition_site.values())   # each site in event-time order
