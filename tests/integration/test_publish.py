"""``millstream publish`` on the real broker: every valid event arrives once, in order per site, in envelopes.

The sample factory is published as JSON Lines and as a CSV made from it here; the input topics are read
back to their end and compared with the file.  A real worker fed by the envelopes plans what the embedded
replay plans (tests/integration/test_worker.py does the same for one event per message).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from outputs import latest as _latest
from outputs import planned, read_outputs_until
from workers import BASIC, log_tail, start_worker, stop_worker, worker_env

from connectors.csv_events import write_csv
from connectors.publisher import publish_file
from connectors.replay import replay
from core.engine import Engine
from core.reports import report
from millstream.cli import main
from millstream.settings import Settings
from schemas import events as ev
from schemas.codecs import decode_message, encode_json
from streams.routing import site_partition
from streams.topics import TOPIC_OF_TYPE, ensure_topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "millstream" / "samples" / "hearing_devices.jsonl"
PARTITIONS = 4
ENVELOPE_SIZE = 5   # small, so a site's events of a topic span several envelopes
INPUTS = ["master", "inventory", "production", "purchase", "demand"]
#: the sample's lines the contract refuses: a negative quantity and a truncated line
SAMPLE_INVALID = [105, 107]


def fresh_settings(bootstrap: str, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> Settings:
    """Settings with their own topics, also set in the environment the command reads."""
    settings = Settings(bootstrap=bootstrap, partitions=PARTITIONS, topic_prefix=f"pub{uuid.uuid4().hex[:8]}",
                        envelope_size=ENVELOPE_SIZE, **extra)
    for name in ("bootstrap", "partitions", "topic_prefix", "envelope_size", *extra):
        monkeypatch.setenv(f"MILLSTREAM_{name.upper()}", str(getattr(settings, name)))
    return settings


def watermarks(consumer: Consumer, tp: TopicPartition) -> tuple[int, int]:
    """A topic created a moment ago may have no leader yet: ask again for a while."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=30)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def read_inputs(settings: Settings) -> list[Any]:
    """Every message of the input topics, read to the end offsets they have now (all sends are acknowledged)."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    ends: dict[tuple[str, int], int] = {}
    starts = []
    for name in INPUTS:
        topic = settings.topic(name)
        for partition in consumer.list_topics(topic, timeout=30).topics[topic].partitions:
            low, high = watermarks(consumer, TopicPartition(topic, partition))
            if high > low:
                ends[(topic, partition)] = high
                starts.append(TopicPartition(topic, partition, low))
    messages = []
    deadline = time.monotonic() + 120
    try:
        if starts:
            consumer.assign(starts)
        while ends and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            messages.append(message)
            tp = (message.topic(), message.partition())
            if tp in ends and message.offset() + 1 >= ends[tp]:
                del ends[tp]
    finally:
        consumer.close()
    assert not ends, f"partitions not read to their end: {ends}"
    return messages


def expected_from_file(settings: Settings, skip: list[int]) -> dict[tuple[str, str | None], list[Any]]:
    """(topic, site) -> the file's events in file order, read with plain json (not the code under test)."""
    expected: dict[tuple[str, str | None], list[Any]] = defaultdict(list)
    for number, line in enumerate(SAMPLE.read_bytes().splitlines(), start=1):
        if number in skip or not line.strip():
            continue
        data = json.loads(line)
        expected[(settings.topic(TOPIC_OF_TYPE[data["type"]]), data.get("site"))].append(
            msgspec.convert(data, ev.InputEvent))
    return expected


def arrived(settings: Settings, messages: list[Any], envelopes: bool) -> dict[tuple[str, str | None], list[Any]]:
    """(topic, site) -> the events that arrived, in offset order; checks how each message is packed and keyed."""
    seen: dict[tuple[str, str | None], list[Any]] = defaultdict(list)
    for message in messages:
        events = decode_message(message.value())
        assert all(isinstance(e, ev.InputEvent) for e in events), events
        if message.topic() == settings.topic("master"):
            (event,) = events
            name = event.work_center if isinstance(event, ev.WorkCenter) else event.item
            assert message.key() == f"{event.__struct_config__.tag}|{event.site or '*'}|{name}".encode()
            assert not message.value().startswith(b'{"type":"envelope"')
        else:
            site = message.key().decode()
            assert {e.site for e in events} == {site}
            assert message.partition() == site_partition(site, PARTITIONS)   # murmur2, as the workers expect
            is_envelope = message.value().startswith(b'{"type":"envelope"')
            assert is_envelope == envelopes
            assert 1 <= len(events) <= (ENVELOPE_SIZE if envelopes else 1)
        for event in events:
            seen[(message.topic(), event.site)].append(event)
    return seen


def assert_once_in_order(seen: dict[tuple[str, str | None], list[Any]],
                         expected: dict[tuple[str, str | None], list[Any]]) -> None:
    ids = Counter(e.event_id for events in seen.values() for e in events)
    duplicates = {k: n for k, n in ids.items() if n > 1}
    # the sample sends ev-0013 twice on purpose (the worker rejects the second): count it by the file
    in_file = Counter(e.event_id for events in expected.values() for e in events)
    assert ids == in_file, (duplicates, set(in_file) ^ set(ids))
    # master data is keyed per item and BOM, spread over partitions: no order across keys (each key is sent once)
    master = [slot for slot in expected if slot[0].endswith(".master")]
    for slot in master:
        assert sorted(seen.pop(slot), key=str) == sorted(expected.pop(slot), key=str)
    assert seen == expected   # site events: each site's events of a topic in file order


def test_json_lines_arrive_once_in_order_per_site_in_envelopes(bootstrap: str, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    settings = fresh_settings(bootstrap, monkeypatch)
    assert main(["publish", str(SAMPLE)]) == 1   # 1: some lines were invalid
    out = capsys.readouterr().out
    assert [int(line.split()[1].rstrip(":")) for line in out.splitlines() if line.startswith("  line ")] \
        == SAMPLE_INVALID
    assert "sent 105 events in " in out and "invalid, not sent:" in out
    messages = read_inputs(settings)
    assert_once_in_order(arrived(settings, messages, envelopes=True), expected_from_file(settings, SAMPLE_INVALID))
    inventory = [m for m in messages if m.topic() == settings.topic("inventory")]
    assert len(inventory) < 39 and f"{settings.topic('inventory')}: 39 events in {len(inventory)} messages" in out


def test_the_same_file_as_csv_sends_the_same_events(bootstrap: str, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    settings = fresh_settings(bootstrap, monkeypatch)
    valid = [msgspec.convert(json.loads(line), ev.InputEvent)
             for number, line in enumerate(SAMPLE.read_bytes().splitlines(), start=1) if number not in SAMPLE_INVALID]
    text = write_csv(valid)
    columns = text.splitlines()[0].split(",")
    bad_row = ",".join(["receipt", *(("many" if c == "qty" else "") for c in columns[1:])])
    path = tmp_path / "factory.csv"
    path.write_text(text + bad_row + "\n")
    assert main(["publish", str(path)]) == 1
    out = capsys.readouterr().out
    bad_line = len(valid) + 2   # header, the events, then the bad row
    assert f"  line {bad_line}: invalid event: Expected `float`, got `str` - at `$.qty`" in out
    assert "sent 105 events" in out
    assert_once_in_order(arrived(settings, read_inputs(settings), envelopes=True),
                         expected_from_file(settings, SAMPLE_INVALID))


def test_an_imported_spreadsheet_is_piped_into_publish(bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`millstream import items ... | millstream publish -`: the item master reaches the master topic."""
    settings = fresh_settings(bootstrap, monkeypatch)
    items = ROOT / "tests" / "data" / "importers" / "items.csv"
    cli = [sys.executable, "-m", "millstream.cli"]
    imported = subprocess.run([*cli, "import", "items", str(items), "--as-of", "2026-03-02T06:00:00Z"],
                              capture_output=True, check=True, cwd=ROOT).stdout
    sent = subprocess.run([*cli, "publish", "-"], input=imported, capture_output=True, cwd=ROOT, env=os.environ)
    assert sent.returncode == 0, sent.stderr.decode()
    events = imported.splitlines()
    assert f"sent {len(events)} events".encode() in sent.stdout
    master = [m.value() for m in read_inputs(settings) if m.topic() == settings.topic("master")]
    assert sorted(master) == sorted(encode_json(msgspec.json.decode(line, type=ev.InputEvent)) for line in events)


def test_a_csv_without_a_type_column_sends_nothing(bootstrap: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    settings = fresh_settings(bootstrap, monkeypatch)
    path = tmp_path / "bad.csv"
    path.write_text("event_id,ts,site,item,qty,lot\nr1,2026-03-02T08:00:00Z,S1,A,1,L\n")
    assert main(["publish", str(path)]) == 2
    assert "no `type` column" in capsys.readouterr().err
    assert read_inputs(settings) == []


def test_no_envelopes_and_a_progress_bar_on_a_long_file(bootstrap: str, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Over a megabyte: the bar shows (when asked; the command asks when stderr is a terminal)."""
    settings = fresh_settings(bootstrap, monkeypatch)
    ensure_topics(settings)
    path = tmp_path / "scans.jsonl"
    lines = [json.dumps({"type": "receipt", "event_id": f"r{n}", "ts": f"2026-03-02T08:{n // 600:02d}:00Z",
                         "site": f"S{n % 3}", "item": f"RAW-{n % 7}", "qty": n % 50 + 1, "lot": f"L{n}",
                         "reason": "x" * 100}) for n in range(6000)]
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 1 << 20
    result = publish_file(path, settings, envelopes=False, progress=True)
    assert (result.sent, result.invalid, result.failed) == (6000, [], [])
    assert result.messages == {settings.topic("inventory"): 6000}
    bar = capsys.readouterr().err
    assert "scans.jsonl" in bar and "100%" in bar
    seen = arrived(settings, read_inputs(settings), envelopes=False)
    assert {site: [e.event_id for e in events] for (_t, site), events in seen.items()} == \
        {f"S{s}": [f"r{n}" for n in range(s, 6000, 3)] for s in range(3)}


def test_what_kafka_does_not_acknowledge_is_listed_by_line(port_range: Any, tmp_path: Path) -> None:
    """No broker where the settings point (a closed port): every line is reported not delivered, none lost."""
    settings = Settings(bootstrap=f"127.0.0.1:{port_range(1)}", topic_prefix="nowhere", envelope_size=2)
    path = tmp_path / "scans.jsonl"
    path.write_text("".join(json.dumps(receipt) + "\n" for receipt in [
        {"type": "receipt", "event_id": f"r{n}", "ts": "2026-03-02T08:00:00Z", "site": "S1", "item": "A", "qty": 1,
         "lot": "L"} for n in range(3)]) + "{broken\n")
    result = publish_file(path, settings, delivery_timeout=2.0)
    assert result.sent == 0 and [n for n, _ in result.invalid] == [4]
    assert sorted(n for n, _ in result.failed) == [1, 2, 3]
    assert all(reason.startswith("not delivered") for _, reason in result.failed)


# --- a worker fed by envelopes ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded() -> Engine:
    engine = Engine()
    replay(SAMPLE, engine)
    return engine


@pytest.fixture(scope="module")
def worker_outputs(bootstrap: str, tmp_path_factory: pytest.TempPathFactory, port_range: Any,
                   embedded: Engine) -> Iterator[tuple[Settings, list]]:
    """The sample published in envelopes by the command, then one worker; its outputs once it has planned."""
    data_dir = tmp_path_factory.mktemp("publish-worker")
    settings = Settings(bootstrap=bootstrap, partitions=PARTITIONS, topic_prefix=f"pw{uuid.uuid4().hex[:8]}",
                        web_port=port_range(1), data_dir=str(data_dir), envelope_size=ENVELOPE_SIZE)
    env = worker_env(settings, (*BASIC, "envelope_size"))
    published = subprocess.run([sys.executable, "-m", "millstream.cli", "publish", str(SAMPLE)], env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
    assert published.returncode == 1 and "sent 105 events" in published.stdout, published
    expected = {(r["site"], r["planned_id"], str(r["qty"]), r["release"], r["due"])
                for r in report(embedded, "planned")}
    process = start_worker(env, data_dir / "worker.log")
    try:
        records = read_outputs_until(
            settings, ["planned-orders", "shortages", "rejected"],
            lambda records: planned(records, settings) == expected
            and sum(t == settings.topic("rejected") for t, _k, _v in records) >= 3)
        assert process.poll() is None, log_tail(data_dir / "worker.log")
        yield settings, records
    finally:
        stop_worker(process)


def test_a_worker_fed_by_envelopes_plans_what_the_replay_plans(worker_outputs: tuple[Settings, list],
                                                               embedded: Engine) -> None:
    settings, records = worker_outputs
    expected = {(r["site"], r["planned_id"], str(r["qty"]), r["release"], r["due"])
                for r in report(embedded, "planned")}
    assert expected and planned(records, settings) == expected
    open_shortages = {(s["site"], s["item"], s["date"], str(s["qty"]))
                      for s in _latest(records, settings.topic("shortages")).values() if s["state"] == "open"}
    assert open_shortages == {(r["site"], r["item"], r["date"], str(r["qty"])) for r in report(embedded, "shortages")}


def test_a_bad_event_in_an_envelope_is_dead_lettered_alone(worker_outputs: tuple[Settings, list]) -> None:
    """The engine's three rejections, each with its coordinates and the whole envelope as sent (an event that
    waited for the event-time merge past its batch is re-encoded alone: the envelope is not kept that long)."""
    settings, records = worker_outputs
    letters = [json.loads(v) for t, _k, v in records if t == settings.topic("rejected")]
    assert sorted(letter["reason"].split(":")[0] for letter in letters) == [
        "duplicate event_id 'ev-0013'", "illegal status move available -> rework", "insufficient available stock"]
    for letter in letters:
        assert letter["topic"] == settings.topic("inventory") and letter["offset"] >= 0
        original = base64.b64decode(letter["original"])
        assert original.startswith(b'{"type":"envelope"') or json.loads(original) == letter["event"], letter
