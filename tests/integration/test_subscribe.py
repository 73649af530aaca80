"""``millstream subscribe`` on the real broker.

The output topics hold the sample factory's outputs, routed by the worker's own router and written in a
Kafka transaction like the worker writes them, after an aborted transaction whose records must never be
shown (``read_committed``). The command runs as a user runs it, in its own process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer

from connectors.replay import read_events
from core.engine import Engine, EngineSettings
from millstream.settings import Settings
from schemas.codecs import encode_json
from schemas.outputs import Cost
from streams.processor import Processor
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "millstream" / "samples" / "hearing_devices.jsonl"
KINDS = ("shortages", "planned-orders", "costs", "rejected")
Topics = tuple[Settings, dict[str, list[bytes]]]


@pytest.fixture(scope="module")
def topics(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Topics:
    """The factory's outputs on fresh topics: (settings, the values written to each topic, in order)."""
    settings = Settings(bootstrap=bootstrap, partitions=3, topic_prefix=f"sub{uuid.uuid4().hex[:8]}",
                        data_dir=str(tmp_path_factory.mktemp("subscribe")))
    ensure_topics(settings)
    engine = Engine(EngineSettings(local_transfers=False))
    events = list(read_events(SAMPLE.read_bytes().splitlines(), SAMPLE.name))
    outputs = engine.apply([e for e, _ in events], [source for _, source in events]) + engine.finish()
    router = Processor(Engine(EngineSettings(local_transfers=False)), settings)
    routed = [record for record in (router.route(output, {}) for output in outputs)
              if record.topic != settings.topic("transfers")]
    producer = Producer({"bootstrap.servers": settings.bootstrap, "transactional.id": f"{settings.topic_prefix}-t",
                         "partitioner": "murmur2_random"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for record in routed:  # an aborted batch first: a read_uncommitted reader would show these before the rest
        producer.produce(record.topic, key=record.key, value=record.value.replace(b'"site":"', b'"site":"ABORTED-'))
    assert producer.flush(30) == 0  # on the broker before the abort (an abort purges what is still queued)
    producer.abort_transaction(30)
    producer.begin_transaction()
    for record in routed:
        producer.produce(record.topic, key=record.key, value=record.value)
    producer.commit_transaction(30)
    written: dict[str, list[bytes]] = {kind: [] for kind in KINDS}
    for record in routed:
        kind = record.topic.removeprefix(settings.topic_prefix + ".")
        if kind in written:
            written[kind].append(record.value)
    assert all(written.values())
    return settings, written


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "MILLSTREAM_BOOTSTRAP": settings.bootstrap,
            "MILLSTREAM_TOPIC_PREFIX": settings.topic_prefix}


def _subscribe(settings: Settings, *args: str) -> tuple[list[str], str]:
    done = subprocess.run([sys.executable, "-m", "millstream.cli", "subscribe", *args], env=_env(settings),
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines(), done.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_json_from_the_beginning_prints_exactly_the_records_of_the_topic(topics: Topics, kind: str) -> None:
    settings, written = topics
    lines, err = _subscribe(settings, kind, "--json", "--from-beginning", "--max-records", str(len(written[kind])))
    assert sorted(line.encode() for line in lines) == sorted(written[kind])
    assert err.strip().endswith(f"{len(written[kind])} records")


def test_idle_seconds_stops_it_and_aborted_records_never_show(topics: Topics) -> None:
    settings, written = topics
    lines, _err = _subscribe(settings, "planned-orders", "--json", "--from-beginning", "--idle-seconds", "5")
    assert sorted(line.encode() for line in lines) == sorted(written["planned-orders"])
    assert not any("ABORTED" in line for line in lines)


def _column_starts(header: str, names: list[str]) -> dict[str, int]:
    return {name: header.index(name) for name in names}


def test_the_table_has_one_aligned_row_per_record(topics: Topics) -> None:
    settings, written = topics
    count = len(written["planned-orders"])
    lines, _err = _subscribe(settings, "planned-orders", "--from-beginning", "--max-records", str(count))
    header, rule, *rows = lines
    assert set(rule) == {"-", " "} and len(rows) == count
    starts = _column_starts(header, ["action", "site", "planned_id", "item", "qty", "past_due"])
    records = {(r["site"], r["planned_id"]): r for r in map(json.loads, written["planned-orders"])}
    for row in rows:
        record = records.pop((row[starts["site"]:starts["planned_id"]].strip(),
                              row[starts["planned_id"]:starts["item"]].strip()))
        assert row[starts["action"]:starts["site"]].strip() == record.get("action", "upsert")
        assert row[starts["qty"]:].split()[0] == str(record["qty"])
        assert ("PAST DUE" in row[starts["past_due"]:]) == record.get("past_due", False)
    assert records == {}


def test_shortage_and_cost_rows_read_as_planners_and_finance_expect(topics: Topics) -> None:
    settings, written = topics
    lines, _err = _subscribe(settings, "shortages", "--from-beginning", "--max-records",
                             str(len(written["shortages"])))
    header, _rule, *rows = lines
    at = _column_starts(header, ["state", "site", "item", "date", "qty", "hits", "ts"])
    shown = {(*(row[at[a]:at[b]].strip() for a, b in (("state", "site"), ("site", "item"), ("item", "date"),
                                                     ("date", "qty"))), row[at["hits"]:].strip()) for row in rows}
    assert shown == {(r["state"], r["site"], r["item"], r["date"], ", ".join(f"{h['kind']} {h['ref']}"
                                                                             for h in r["hits"]))
                     for r in map(json.loads, written["shortages"])}
    lines, _err = _subscribe(settings, "costs", "--from-beginning", "--max-records", str(len(written["costs"])))
    order_rows = [row for row in lines[2:] if "dk1-mo-1" in row]
    assert len(order_rows) == 1 and "2008.7" in order_rows[0]


def _wait_for(path: Path, done: Callable[[str], bool], process: subprocess.Popen[bytes]) -> str:
    limit = time.monotonic() + 120
    while time.monotonic() < limit:
        text = path.read_text()
        if done(text):
            return text
        assert process.poll() is None, text
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting; {path.name} has:\n{path.read_text()}")


def _costs(settings: Settings, items: list[str]) -> list[bytes]:
    values = [encode_json(Cost(site="DK1", item=item, unit_cost=1)) for item in items]
    producer = Producer({"bootstrap.servers": settings.bootstrap, "partitioner": "murmur2_random"})
    for item, value in zip(items, values, strict=True):
        producer.produce(settings.topic("costs"), key=f"DK1|{item}".encode(), value=value)
    assert producer.flush(30) == 0
    return values


def test_a_group_follows_from_now_on_stops_on_ctrl_c_and_resumes_where_it_stopped(topics: Topics,
                                                                                   tmp_path: Path) -> None:
    settings, _written = topics
    group = f"follow-{uuid.uuid4().hex[:8]}"
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "millstream.cli", "subscribe", "costs", "--json",
                                    "--group", group], env=_env(settings), stdout=stdout, stderr=stderr, cwd=ROOT)
        try:
            _wait_for(err, lambda text: f"as group {group}" in text, process)
            live = _costs(settings, ["NEW-1", "NEW-2", "NEW-3"])
            _wait_for(out, lambda text: len(text.splitlines()) == 3, process)
            process.send_signal(signal.SIGINT)
            assert process.wait(60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    # the topic's earlier records are not shown: a new group starts at the end
    assert sorted(out.read_bytes().splitlines()) == sorted(live)
    assert err.read_text().strip().endswith("3 records")
    # produced while nobody follows: the next run shows exactly these, not the three it has shown
    later = _costs(settings, ["NEW-4", "NEW-5"])
    lines, _err = _subscribe(settings, "costs", "--json", "--group", group, "--max-records", "2")
    assert sorted(line.encode() for line in lines) == sorted(later)


def test_tombstones_unreadable_values_and_strangers_are_shown_not_dropped(bootstrap: str, tmp_path: Path) -> None:
    settings = Settings(bootstrap=bootstrap, partitions=1, topic_prefix=f"subodd{uuid.uuid4().hex[:8]}",
                        data_dir=str(tmp_path))
    ensure_topics(settings)
    cost = encode_json(Cost(site="DK1", item="HA-100", unit_cost=1))
    producer = Producer({"bootstrap.servers": settings.bootstrap})
    for key, value in [(b"DK1|HA-100", None), (b"DK1|x", b"\xff not json"), (b"DK1|y", b"[1, 2]"),
                       (b"DK1|HA-100", cost)]:
        producer.produce(settings.topic("shortages"), key=key, value=value)
    assert producer.flush(30) == 0

    lines, err = _subscribe(settings, "shortages", "--json", "--from-beginning", "--max-records", "4")
    shown = [json.loads(line) for line in lines]
    assert shown[0] == {"type": "tombstone", "key": "DK1|HA-100"}
    assert [s["type"] for s in shown[1:3]] == ["unreadable", "unreadable"]
    assert "not an object" in shown[2]["reason"] and err.count("unreadable record") == 2
    assert lines[3].encode() == cost  # another type than the topic's: still the record, verbatim

    lines, _err = _subscribe(settings, "shortages", "--from-beginning", "--max-records", "4")
    assert lines[0].startswith("TOMBSTONE DK1|HA-100") and lines[1].startswith("UNREADABLE")
    assert lines[3] == "COST      DK1 HA-100: unit 1 standard None"  # in the run command's words
