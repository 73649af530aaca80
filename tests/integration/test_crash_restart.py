"""SIGKILL the worker mid-stream, restart it, and nothing is lost or applied twice.

A few hundred events (the sample factory copied over several site pairs, plus
records that cannot be decoded) are published in chunks while a worker runs;
the worker is killed with SIGKILL while chunks are being processed, restarted,
and at the end the durable state and the outputs must equal an embedded replay
of the same events: the state rows read back from the table's changelog, the
reports of an engine restored from them, the compacted plan topics folded to
their latest record per key, and the dead letters (one per bad record).

Every site event goes to one input topic, so a site's events have one order
whatever the batch boundaries; ordering events across topics by event time is
the event-time merge's job, not what this test is about.  What differs between
the service and a replay even without a crash is left out and said where.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from workers import log_tail, start_worker, stop_worker, worker_env

from connectors.publisher import route
from core.engine import Engine, EngineSettings
from core.persist import SiteRow, StateRows, site_of
from core.reports import report
from millstream.settings import Settings
from schemas import events as ev
from schemas.codecs import decode_message
from schemas.outputs import Rejected
from streams.changelog import app_id, changelog_topic, ensure_changelog
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "millstream" / "samples" / "hearing_devices.jsonl"
COPIES = 6               # site pairs: DK1-k and US1-k
CHUNKS = 6
KILL_AFTER = (1, 2, 3, 4)  # chunks (0-based) during which the worker is killed
BROKEN = b'{"type": "receipt", "event_id": "broken'
LOGLEVEL = os.environ.get("CRASH_TEST_LOGLEVEL", "info")   # "debug" to see every request in worker-N.log
SITE_TOPICS = ("inventory", "production", "purchase", "demand", "transfers")


# --- the stream --------------------------------------------------------------------------


def _stream() -> tuple[list[bytes], list[tuple[str, bytes]]]:
    """Master lines, and (site, line) pairs in event-time order, copied over COPIES site pairs."""
    master: list[bytes] = []
    sites: list[tuple[dt.datetime, int, int, str, bytes]] = []
    for index, line in enumerate(SAMPLE.read_bytes().splitlines()):
        decoded = decode_message(line)
        if len(decoded) != 1 or isinstance(decoded[0], Rejected):
            continue  # the publisher refuses these; undecodable records are added below
        data = json.loads(line)
        copies = range(COPIES) if data.get("site") is not None else (None,)
        for copy in copies:
            if copy is not None:
                for field in ("site", "to_site", "from_site"):
                    if field in data:
                        data[field] = f"{data[field].split('-')[0]}-{copy}"
            master_data = isinstance(decoded[0], ev.MASTER_TYPES)
            if master_data and copy is not None:   # master event ids are global: each site's copy its own
                data["event_id"] = f"{data['event_id'].split('@')[0]}@{copy}"
            encoded = json.dumps(data).encode()
            if master_data:
                master.append(encoded)
            else:
                sites.append((dt.datetime.fromisoformat(data["ts"]), index, copy or 0, data["site"], encoded))
    sites.sort(key=lambda entry: entry[:3])
    ordered = [(site, line) for _ts, _i, _c, site, line in sites]
    for copy in range(COPIES):   # a record nobody can decode, in the middle of each DK1 copy's stream
        ordered.insert(len(ordered) * (copy + 1) // (COPIES + 1), (f"DK1-{copy}", BROKEN))
    return master, ordered


def _publisher(settings: Settings) -> Any:
    return Producer({"bootstrap.servers": settings.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                     "partitioner": "murmur2_random"})


def _publish(producer: Any, settings: Settings, master: list[bytes], pairs: list[tuple[str, bytes]]) -> None:
    """Master data where the publisher puts it; every site event on the inventory topic, keyed by site."""
    for line in master:
        topic, key = route(decode_message(line)[0], settings)
        producer.produce(topic, line, key)
    for site, line in pairs:
        producer.produce(settings.topic("inventory"), line, site.encode())
    assert producer.flush(30) == 0


# --- the worker --------------------------------------------------------------------------


class Worker:
    """``millstream worker`` as a subprocess of this test; only this process is ever signalled."""

    def __init__(self, settings: Settings, batch_size: int) -> None:
        self.settings = settings
        self.env = worker_env(settings, batch_size=batch_size)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.process = start_worker(self.env, self._log_path(), LOGLEVEL)

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None, self.log_tail()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None:
            stop_worker(self.process, timeout=60)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _log_path(self) -> Path:
        return Path(self.settings.data_dir) / f"worker-{self.starts}.log"

    def log_tail(self) -> str:
        return log_tail(self._log_path(), 4000)


def _input_partitions(settings: Settings) -> list[TopicPartition]:
    return [TopicPartition(settings.topic(t), p) for t in SITE_TOPICS for p in range(settings.partitions)]


def _committed(settings: Settings) -> dict[tuple[str, int], int]:
    """The worker group's committed position on every input partition.

    ``read_uncommitted`` only means: do not ask for stable offsets, which would wait for the open
    transaction of a worker just killed until its successor aborts it.  Committed positions either way.
    """
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": app_id(settings),
                         "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
    try:
        for _attempt in range(4):   # the group coordinator may be moving
            try:
                return {(tp.topic, tp.partition): tp.offset
                        for tp in consumer.committed(_input_partitions(settings), timeout=10)}
            except KafkaException:
                time.sleep(0.2)
        return {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(_input_partitions(settings))}
    finally:
        consumer.close()


def _ends(settings: Settings) -> dict[tuple[str, int], int]:
    """Offset after the last committed record of each input partition (transaction markers excluded)."""
    ends: dict[tuple[str, int], int] = {}
    for record in _read(settings, [settings.topic(t) for t in SITE_TOPICS]):
        key = (record[0], record[1])
        ends[key] = max(ends.get(key, 0), record[2] + 1)
    return ends


def _wait_until_idle(worker: Worker, timeout: float = 240.0) -> None:
    """Until the group's committed position is past every input record, twice in a row (transfers it sends)."""
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        assert worker.alive(), worker.log_tail()
        committed, ends = _committed(worker.settings), _ends(worker.settings)
        done = all(committed.get(key, -1) >= end for key, end in ends.items())
        streak = streak + 1 if done else 0
        if streak >= 2:
            return
        time.sleep(1.0)
    raise AssertionError(f"worker not idle after {timeout}s:\n{worker.log_tail()}")


def _progress(settings: Settings) -> int:
    return sum(max(offset, 0) for offset in _committed(settings).values())


def _open_transaction(settings: Settings, uncommitted: Any, committed: Any) -> bool:
    """A changelog partition holds records past its last stable offset: a batch is being committed."""
    for partition in range(settings.partitions):
        tp = TopicPartition(changelog_topic(settings), partition)
        high = uncommitted.get_watermark_offsets(tp, timeout=5, cached=False)[1]
        stable = committed.get_watermark_offsets(tp, timeout=5, cached=False)[1]   # read_committed: the LSO
        if high > stable:
            return True
    return False


def _kill_mid_chunk(worker: Worker, before: int, timeout: float = 90.0, catch: float = 5.0) -> tuple[bool, bool]:
    """Kill once a batch of the chunk is committed, inside the next batch's transaction if caught in time.

    Returns (records were still waiting, the kill landed in an open transaction).
    """
    settings = worker.settings
    deadline = time.monotonic() + timeout
    while _progress(settings) <= before:
        assert worker.alive(), worker.log_tail()
        assert time.monotonic() < deadline, worker.log_tail()
        time.sleep(0.01)
    clients = [Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"peek-{uuid.uuid4().hex}",
                         "isolation.level": level}) for level in ("read_uncommitted", "read_committed")]
    try:
        until = time.monotonic() + catch
        in_transaction = False
        while not in_transaction and time.monotonic() < until:
            in_transaction = _open_transaction(settings, *clients)
        worker.kill()
    finally:
        for client in clients:
            client.close()
    committed, ends = _committed(settings), _ends(settings)
    return any(committed.get(key, -1) < end for key, end in ends.items()), in_transaction


# --- reading topics ------------------------------------------------------------------------


def _read(settings: Settings, topics: list[str], quiet: float = 2.0,
          isolation: str = "read_committed") -> list[tuple[str, int, int, bytes, Any]]:
    """Every record of ``topics`` (committed ones unless ``isolation`` says otherwise), read to the end."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": isolation, "enable.partition.eof": True})
    partitions = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]
    consumer.assign([TopicPartition(tp.topic, tp.partition, -2) for tp in partitions])
    records = []
    at_end: set[tuple[str, int]] = set()
    last = time.monotonic()
    try:
        while len(at_end) < len(partitions) or time.monotonic() - last < 0.2:
            message = consumer.poll(0.2)
            if message is None:
                if time.monotonic() - last > quiet:
                    break
                continue
            last = time.monotonic()
            if message.error() is not None:
                at_end.add((message.topic(), message.partition()))
                continue
            at_end.discard((message.topic(), message.partition()))
            records.append((message.topic(), message.partition(), message.offset(), message.key(), message.value()))
    finally:
        consumer.close()
    return records


def _latest(records: list[tuple[str, int, int, bytes, Any]], topic: str) -> dict[bytes, Any]:
    latest: dict[bytes, Any] = {}
    for name, _partition, _offset, key, value in records:
        if name == topic:
            latest[key] = value
    return latest


# --- the reference ------------------------------------------------------------------------


def _replay(master: list[bytes], pairs: list[tuple[str, bytes]]) -> tuple[Engine, StateRows, list[str]]:
    """The same events through an embedded engine: the rows it holds, and the reasons it rejected."""
    engine = Engine(EngineSettings(track_changes=True))
    rows = StateRows(engine)
    rejected: list[str] = []
    for batch in ([line for line in master], [line for _site, line in pairs]):
        events = [event for line in batch for event in decode_message(line)]
        rejected += [o.reason for o in engine.apply(events) if isinstance(o, Rejected)]
    return engine, rows, rejected


_site_row = msgspec.msgpack.Decoder(SiteRow)
_generic = msgspec.msgpack.Decoder()


def _comparable(key: str, value: bytes) -> Any:
    """A row without what depends on where and when the events came from.

    Left out: the service's applied offsets and ids-row counter (site row) and the sources of parked
    events.  Everything else is compared, the daily inventory value samples (site row) included: the
    service announces a shipment to the receiving site through the transfers topic, so the receipt
    (03-24) waits for it there, and must still be sampled on its own day (a replay announces at once).
    """
    kind = key.split("|")[1]
    if kind == "site":
        return msgspec.structs.replace(_site_row.decode(value), offsets=[], ids_next=0)
    decoded = _generic.decode(value)
    if kind == "parked":
        return [[entry[0], None, *entry[2:]] for entry in decoded]   # ParkedRow: event, source, ...
    return decoded


# --- the test -------------------------------------------------------------------------------


Run = tuple[Settings, list[tuple[bool, bool]], list[bytes], list[tuple[str, bytes]]]


@pytest.fixture(scope="module")
def crashed_run(bootstrap: str, tmp_path_factory: pytest.TempPathFactory, port_range: Any) -> Iterator[Run]:
    settings = Settings(bootstrap=bootstrap, partitions=4, topic_prefix=f"c{uuid.uuid4().hex[:8]}",
                        web_port=port_range(1), data_dir=str(tmp_path_factory.mktemp("crash")))
    ensure_topics(settings)
    ensure_changelog(settings)
    master, pairs = _stream()
    producer = _publisher(settings)
    _publish(producer, settings, master, [])
    worker = Worker(settings, batch_size=20)
    worker.start()
    kills: list[tuple[bool, bool]] = []
    try:
        size = -(-len(pairs) // CHUNKS)
        for number in range(CHUNKS):
            before = _progress(settings)
            _publish(producer, settings, [], pairs[number * size:(number + 1) * size])
            if number in KILL_AFTER:
                kills.append(_kill_mid_chunk(worker, before))
                worker.start()
        _wait_until_idle(worker)
    finally:
        worker.stop()
    assert worker.process is not None and worker.process.returncode == 0, worker.log_tail()
    print(f"{worker.starts} starts; kills (records waiting, in a transaction): {kills}")   # shown with -s
    yield settings, kills, master, pairs


@pytest.fixture(scope="module")
def replayed(crashed_run: Run) -> tuple[Engine, StateRows, list[str]]:
    _settings, _kills, master, pairs = crashed_run
    return _replay(master, pairs)


@pytest.fixture(scope="module")
def changelog(crashed_run: Run) -> dict[str, dict[str, bytes]]:
    """The state table's rows read back from its changelog, latest per key, by site."""
    settings = crashed_run[0]
    by_site: dict[str, dict[str, bytes]] = {}
    for key, value in _latest(_read(settings, [changelog_topic(settings)]), changelog_topic(settings)).items():
        if value is not None:
            by_site.setdefault(site_of(key.decode()), {})[key.decode()] = value
    return by_site


def test_kills_landed_mid_stream_and_in_transactions(crashed_run: Run) -> None:
    settings, kills, _master, pairs = crashed_run
    assert len(pairs) > 500
    assert sum(waiting for waiting, _ in kills) >= 3, kills   # records were still waiting when the worker died
    assert any(open_ for _, open_ in kills), kills           # at least once, in the middle of a commit
    # what those transactions had written is in the log, invisible to read_committed readers
    topics = [changelog_topic(settings), settings.topic("planned-orders"), settings.topic("rejected")]
    assert len(_read(settings, topics, isolation="read_uncommitted")) > len(_read(settings, topics))


def test_table_rows_equal_the_replay(changelog: dict[str, dict[str, bytes]], replayed: tuple) -> None:
    engine, rows, _ = replayed
    assert sorted(changelog) == sorted(engine.sites)
    for site, site_rows in changelog.items():
        folded = {k: _comparable(k, v) for k, v in site_rows.items() if "|ids|" not in k}   # numbered by batch
        assert folded == {k: _comparable(k, v) for k, v in rows.current_rows(site).items()}, site


def test_state_restored_from_the_rows_reports_like_the_replay(crashed_run: Run, changelog: dict[str, dict[str, bytes]],
                                                              replayed: tuple) -> None:
    """A fresh engine restored from the changelog: stock, availability, orders and KPIs equal the replay's.

    No duplicate applied: a receipt or issue applied twice would change the stock.
    """
    engine, _rows, _ = replayed
    restored = Engine(EngineSettings(track_changes=True, local_transfers=False))
    restored.apply([event for line in crashed_run[2] for event in decode_message(line)])
    state = StateRows(restored)
    for site, site_rows in changelog.items():
        state.restore(site, site_rows.items())
    for name in ("stock", "availability", "orders", "kpis"):
        assert report(restored, name) == report(engine, name), name


def test_compacted_plan_equals_the_replay(crashed_run: Run, replayed: tuple) -> None:
    settings, *_ = crashed_run
    engine, _rows, _ = replayed
    records = _read(settings, [settings.topic(t) for t in ("planned-orders", "shortages", "exceptions", "costs")])

    def live(topic: str, dead: tuple[str, str]) -> list[dict]:
        values = [json.loads(v, parse_float=Decimal) for v in _latest(records, settings.topic(topic)).values()]
        return [v for v in values if v.get(dead[0]) != dead[1]]

    planned = {(o["site"], o["planned_id"], str(o["qty"]), o["release"], o["due"])
               for o in live("planned-orders", ("action", "delete"))}
    assert planned == {(r["site"], r["planned_id"], str(r["qty"]), r["release"], r["due"])
                       for r in report(engine, "planned")}
    shortages = {(s["site"], s["item"], s["date"], str(s["qty"])) for s in live("shortages", ("state", "resolved"))}
    assert shortages == {(r["site"], r["item"], r["date"], str(r["qty"])) for r in report(engine, "shortages")}
    exceptions = {(e["site"], e["ref"], e["action"], e.get("current_date"), e.get("suggested_date"))
                  for e in live("exceptions", ("state", "resolved"))}
    assert exceptions == {(r["site"], r["ref"], r["action"], r["current"], r["suggested"])
                          for r in report(engine, "exceptions")}
    assert planned and shortages and exceptions
    costs = {k: json.loads(v, parse_float=Decimal) for k, v in _latest(records, settings.topic("costs")).items()
             if b"|order:" not in k}
    for row in report(engine, "costs"):
        published = costs[f"{row['site']}|{row['item']}".encode()]
        assert abs(Decimal(str(published["unit_cost"])) - Decimal(str(row["unit_cost"]))) <= Decimal("2e-6"), row


def test_each_bad_record_is_dead_lettered_once(crashed_run: Run, replayed: tuple) -> None:
    settings, *_ = crashed_run
    _engine, _rows, rejected = replayed
    letters = [json.loads(v) for t, _p, _o, _k, v in _read(settings, [settings.topic("rejected")])]
    assert Counter(letter["reason"] for letter in letters) == Counter(rejected)
    assert len(letters) >= 3 * COPIES
