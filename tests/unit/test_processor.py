"""The service's record processor, without a broker: routing, dead letters, transfers between workers."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import msgspec
import pytest

from connectors.replay import replay
from core.engine import Engine, EngineSettings
from core.reports import report
from millstream.settings import Settings, load_settings
from schemas.codecs import decode_message
from schemas.events import InputEvent
from streams.processor import InRecord, Processor
from streams.topics import TOPIC_OF_TYPE, topic_specs

SAMPLE = Path(__file__).resolve().parents[2] / "millstream" / "samples" / "hearing_devices.jsonl"
SETTINGS = Settings()
TYPES = {cls.__struct_config__.tag for cls in InputEvent.__args__}


def _records(lines: list[bytes]) -> list[InRecord]:
    """Each line on the topic its event type belongs to; undecodable lines go to inventory."""
    offsets: dict[str, int] = {}
    records = []
    for line in lines:
        try:
            kind = json.loads(line)["type"]
        except (ValueError, KeyError, TypeError):
            kind = "receipt"
        topic = SETTINGS.topic(TOPIC_OF_TYPE.get(kind, "inventory"))
        records.append(InRecord(topic, 0, offsets.setdefault(topic, 0), line))
        offsets[topic] += 1
    return records


def _run_service(lines: list[bytes], batch: int = 7) -> tuple[Engine, list]:
    engine = Engine(EngineSettings(local_transfers=False))
    processor = Processor(engine, SETTINGS)
    pending = _records(lines)
    produced = []
    while pending:
        batch_records, pending = pending[:batch], pending[batch:]
        outputs = processor.process(batch_records)
        produced.extend(outputs)
        # what another worker would consume from the internal transfers topic
        pending.extend(InRecord(r.topic, 0, 1000 + len(produced), r.value)
                       for r in outputs if r.topic == SETTINGS.topic("transfers"))
    produced.extend(processor.finish())
    return engine, produced


def test_every_event_type_has_an_input_topic_and_every_topic_a_spec() -> None:
    assert set(TOPIC_OF_TYPE) == TYPES
    names = {spec.name for spec in topic_specs(SETTINGS)}
    assert {SETTINGS.topic(t) for t in TOPIC_OF_TYPE.values()} <= names
    compacted = {s.name for s in topic_specs(SETTINGS) if s.config.get("cleanup.policy") == "compact"}
    assert SETTINGS.topic("costs") in compacted and SETTINGS.topic("inventory") not in compacted


def test_service_path_reaches_the_same_state_as_the_replay() -> None:
    lines = [line for line in SAMPLE.read_bytes().splitlines() if line.strip()]
    service, produced = _run_service(lines)
    embedded = Engine()
    replay(SAMPLE, embedded)
    for name in ("stock", "availability", "orders", "planned", "shortages", "costs"):
        assert report(service, name) == report(embedded, name), name
    latest_cost = {r.key: r.value for r in produced if r.topic == SETTINGS.topic("costs")}
    assert b"DK1|SUB-CORE" in latest_cost


def test_a_transfer_is_handed_to_the_receiving_site_through_the_transfers_topic() -> None:
    lines = [line for line in SAMPLE.read_bytes().splitlines() if b'"transfer_' in line or b'"item"' in line
             or b'"receipt"' in line]
    _, produced = _run_service(lines)
    announcements = [r for r in produced if r.topic == SETTINGS.topic("transfers")]
    assert [r.key for r in announcements] == [b"US1"]
    event = decode_message(announcements[0].value)[0]
    assert event.transfer_id == "tr-1" and event.from_site == "DK1"


def test_bad_messages_become_dead_letters_with_their_coordinates() -> None:
    engine = Engine(EngineSettings(local_transfers=False))
    processor = Processor(engine, SETTINGS)
    garbage = b"\xc1\x00not an event"
    out = processor.process([InRecord("millstream.inventory", 3, 41, garbage)])
    assert len(out) == 1 and out[0].topic == "millstream.rejected"
    letter = msgspec.json.decode(out[0].value)
    assert letter["type"] == "dead_letter" and letter["reason"].startswith("malformed message")
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("millstream.inventory", 3, 41)
    assert base64.b64decode(letter["original"]) == garbage


def test_messages_over_the_configured_size_are_dead_lettered_before_parsing() -> None:
    processor = Processor(Engine(EngineSettings(local_transfers=False)), Settings(max_message_bytes=200))
    event = {"type": "receipt", "event_id": "big", "ts": "2026-03-02T08:00:00Z", "site": "S1", "item": "A",
             "qty": 1, "lot": "L" * 300}
    value = json.dumps(event).encode()
    out = processor.process([InRecord("millstream.inventory", 0, 7, value)])
    letter = msgspec.json.decode(out[0].value)
    assert [o.topic for o in out] == ["millstream.rejected"]
    assert letter["reason"] == f"message too large: {len(value)} bytes > 200" and letter["offset"] == 7
    assert processor.engine.sites == {}   # nothing of it was applied


def test_a_site_event_on_another_sites_partition_is_dead_lettered_without_its_site() -> None:
    processor = Processor(Engine(EngineSettings(local_transfers=False)), SETTINGS)
    processor.partition_of = lambda site: {"S1": 0, "S2": 1}[site]
    event = {"type": "receipt", "event_id": "r1", "ts": "2026-03-02T08:00:00Z", "site": "S1", "item": "A",
             "qty": 1, "lot": "L"}
    master = {"type": "item", "event_id": "i1", "ts": "2026-03-02T07:00:00Z", "item": "A", "source": "buy"}
    out = processor.process([InRecord("millstream.master", 1, 0, json.dumps(master).encode()),
                             InRecord("millstream.inventory", 1, 5, json.dumps(event).encode())])
    letters = [msgspec.json.decode(o.value) for o in out if o.topic == "millstream.rejected"]
    assert len(letters) == 1 and letters[0]["offset"] == 5 and letters[0]["partition"] == 1
    assert letters[0]["reason"].startswith("site 'S1' belongs on partition 0, the record came on partition 1")
    assert processor.engine.sites == {}   # master data is read by every worker, on any partition
    event["site"] = "S2"
    processor.process([InRecord("millstream.inventory", 1, 6, json.dumps(event).encode())])
    assert processor.engine.sites["S2"].stock.physical("A") == 1_000_000


def test_service_engine_must_route_transfers() -> None:
    with pytest.raises(ValueError, match="local_transfers"):
        Processor(Engine(), SETTINGS)


def test_settings_defaults_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "millstream.toml"
    config.write_text('[millstream]\npartitions = 4\nbootstrap = "127.0.0.1:19092"\nallow_negative_stock = true\n')
    settings = load_settings(config, environ={"MILLSTREAM_PARTITIONS": "12"})
    assert settings.partitions == 12                     # environment wins over the file
    assert settings.bootstrap == "127.0.0.1:19092"       # the file wins over the default
    assert settings.allow_negative_stock is True
    assert settings.web_port == Settings().web_port      # untouched default
    with pytest.raises(ValueError, match="MILLSTREAM_PARTITIONS"):
        load_settings(environ={"MILLSTREAM_PARTITIONS": "many"})
    config.write_text("[millstream]\npartition = 4\n")
    with pytest.raises(ValueError, match="unknown setting 'partition'"):
        load_settings(config, environ={})
