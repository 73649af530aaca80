"""What the fault tests share: a stream of events, workers to kill, the group's progress, and the replay
every final state is compared with.

The stream is the sample factory copied over several site pairs, plus records nobody can decode.  Every
site event goes to one input topic (inventory), so a site's events have one order whatever the batch
boundaries or the worker that applies them; ordering events across topics by event time is the event-time
merge's job, not what the fault tests are about.

``assert_equals_replay`` is the verdict of every fault test: the durable state rows read back from the
table's changelog, the reports of an engine restored from them, the compacted output topics folded to
their latest record per key and the dead letters (one per bad record) all equal an embedded replay of the
same events.  An event lost or applied twice changes stock, and so the rows and the reports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import signal
import subprocess
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from workers import OPENER, log_tail, start_worker, stop_worker, worker_env

from connectors.publisher import route
from core.engine import Engine, EngineSettings
from core.persist import SiteRow, StateRows, site_of
from core.reports import report
from millstream.settings import Settings
from schemas import events as ev
from schemas.codecs import decode_message
from schemas.outputs import Rejected
from streams.changelog import app_id, changelog_topic

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "millstream" / "samples" / "hearing_devices.jsonl"
BROKEN = b'{"type": "receipt", "event_id": "broken'
SITE_TOPICS = ("inventory", "production", "purchase", "demand", "transfers")
OUTPUT_TOPICS = ("planned-orders", "shortages", "exceptions", "costs")
Record = tuple[str, int, int, bytes, Any]   # topic, partition, offset, key, value


# --- the stream --------------------------------------------------------------------------


def stream(copies: int) -> tuple[list[bytes], list[tuple[str, bytes]]]:
    """Master lines, and (site, line) pairs in event-time order, copied over ``copies`` site pairs.

    A record nobody can decode sits in the middle of each DK1 copy's stream.
    """
    master: list[bytes] = []
    sites: list[tuple[dt.datetime, int, int, str, bytes]] = []
    for index, line in enumerate(SAMPLE.read_bytes().splitlines()):
        decoded = decode_message(line)
        if len(decoded) != 1 or isinstance(decoded[0], Rejected):
            continue  # the publisher refuses these; undecodable records are added below
        data = json.loads(line)
        for copy in range(copies) if data.get("site") is not None else (None,):
            if copy is not None:
                for name in ("site", "to_site", "from_site"):
                    if name in data:
                        data[name] = f"{data[name].split('-')[0]}-{copy}"
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
    for copy in range(copies):
        ordered.insert(len(ordered) * (copy + 1) // (copies + 1), (f"DK1-{copy}", BROKEN))
    return master, ordered


def publisher(settings: Settings) -> Any:
    """Idempotent, acks=all: a broker going away mid-stream neither loses nor doubles a record."""
    return Producer({"bootstrap.servers": settings.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                     "partitioner": "murmur2_random"})


def publish(producer: Any, settings: Settings, master: list[bytes], pairs: list[tuple[str, bytes]]) -> None:
    """Master data where the publisher puts it; every site event on the inventory topic, keyed by site."""
    for line in master:
        topic, key = route(decode_message(line)[0], settings)
        producer.produce(topic, line, key)
    for site, line in pairs:
        producer.produce(settings.topic("inventory"), line, site.encode())
    assert producer.flush(120) == 0


def chunks(pairs: list[tuple[str, bytes]], count: int) -> list[list[tuple[str, bytes]]]:
    size = -(-len(pairs) // count)
    return [pairs[number * size:(number + 1) * size] for number in range(count)]


# --- workers -----------------------------------------------------------------------------


class Worker:
    """``millstream worker`` as a subprocess of this test, with its own web port and state directory.

    Only this process is ever signalled; each start logs to its own file.
    """

    def __init__(self, settings: Settings, name: str, port: int, loglevel: str = "warning", **extra: object) -> None:
        self.settings = dataclasses.replace(settings, web_port=port, data_dir=str(Path(settings.data_dir) / name))
        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.env = worker_env(self.settings, **extra)
        self.loglevel = loglevel
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.process = start_worker(self.env, self.log_path(), self.loglevel)

    def kill(self) -> None:
        assert self.alive(), self.log_tail()
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None:
            stop_worker(self.process, timeout=60)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_path(self) -> Path:
        return Path(self.settings.data_dir) / f"worker-{self.starts}.log"

    def log_tail(self) -> str:
        return f"{self.name}: " + log_tail(self.log_path(), 4000)

    def gauges(self) -> str:
        """What the worker's ``/metrics`` says it holds back, lags and skips (for a failure message)."""
        try:
            with OPENER.open(f"{self.url}/metrics", timeout=10) as response:
                text = response.read().decode()
        except OSError as exc:
            return repr(exc)
        wanted = ("millstream_events_waiting", "millstream_consumer_lag", "millstream_records_skipped",
                  "millstream_events_consumed_total")
        return "\n".join(line for line in text.splitlines() if line.startswith(wanted))


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


# --- the group's progress ----------------------------------------------------------------------


def input_partitions(settings: Settings) -> list[TopicPartition]:
    return [TopicPartition(settings.topic(t), p) for t in SITE_TOPICS for p in range(settings.partitions)]


def committed(settings: Settings) -> dict[tuple[str, int], int]:
    """The worker group's committed position on every input partition.

    ``read_uncommitted`` only means: do not ask for stable offsets, which would wait for the open
    transaction of a worker just killed until its successor aborts it.  Committed positions either way.
    """
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": app_id(settings),
                         "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
    try:
        for _attempt in range(8):   # the group coordinator may be moving
            try:
                return {(tp.topic, tp.partition): tp.offset
                        for tp in consumer.committed(input_partitions(settings), timeout=10)}
            except KafkaException:
                time.sleep(0.5)
        return {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(input_partitions(settings))}
    finally:
        consumer.close()


def progress(settings: Settings) -> int:
    """Input records the group has committed, all partitions together."""
    return sum(max(offset, 0) for offset in committed(settings).values())


def ends(settings: Settings) -> dict[tuple[str, int], int]:
    """Offset after the last committed record of each input partition (transaction markers excluded)."""
    found: dict[tuple[str, int], int] = {}
    for record in read(settings, [settings.topic(t) for t in SITE_TOPICS]):
        key = (record[0], record[1])
        found[key] = max(found.get(key, 0), record[2] + 1)
    return found


def behind(settings: Settings) -> dict[tuple[str, int], tuple[int, int]]:
    """Input partitions with records the group has not committed: (committed, end) of each."""
    done, last = committed(settings), ends(settings)
    return {key: (done.get(key, -1), end) for key, end in last.items() if done.get(key, -1) < end}


def waiting(settings: Settings) -> bool:
    """Input records are not committed by the group yet."""
    return bool(behind(settings))


def wait_until_idle(settings: Settings, workers: list[Worker], timeout: float = 240.0) -> float:
    """Until the group's committed position is past every input record, twice in a row (transfers it sends).

    Returns the seconds it took.
    """
    started = time.monotonic()
    streak = 0
    while time.monotonic() - started < timeout:
        for worker in workers:
            assert worker.alive(), worker.log_tail()
        streak = 0 if waiting(settings) else streak + 1
        if streak >= 2:
            return time.monotonic() - started
        time.sleep(1.0)
    raise AssertionError(f"not idle after {timeout}s, behind (committed, end): {behind(settings)}\n"
                         + "\n".join(f"{w.log_tail()}\n{w.name} metrics:\n{w.gauges()}" for w in workers))


# --- reading topics ------------------------------------------------------------------------


def read(settings: Settings, topics: list[str], quiet: float = 2.0, isolation: str = "read_committed") -> list[Record]:
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


def latest(records: list[Record], topic: str) -> dict[bytes, Any]:
    found: dict[bytes, Any] = {}
    for name, _partition, _offset, key, value in records:
        if name == topic:
            found[key] = value
    return found


def changelog_rows(settings: Settings) -> dict[str, dict[str, bytes]]:
    """The state table's rows read back from its changelog, latest per key, by site."""
    by_site: dict[str, dict[str, bytes]] = {}
    topic = changelog_topic(settings)
    for key, value in latest(read(settings, [topic]), topic).items():
        if value is not None:
            by_site.setdefault(site_of(key.decode()), {})[key.decode()] = value
    return by_site


# --- the reference ------------------------------------------------------------------------


def replay(master: list[bytes], pairs: list[tuple[str, bytes]]) -> tuple[Engine, StateRows, list[str]]:
    """The same events through an embedded engine: the rows it holds, and the reasons it rejected."""
    engine = Engine(EngineSettings(track_changes=True))
    rows = StateRows(engine)
    rejected: list[str] = []
    for batch in (master, [line for _site, line in pairs]):
        events = [event for line in batch for event in decode_message(line)]
        rejected += [o.reason for o in engine.apply(events) if isinstance(o, Rejected)]
    return engine, rows, rejected


_site_row = msgspec.msgpack.Decoder(SiteRow)
_generic = msgspec.msgpack.Decoder()


def comparable(key: str, value: bytes) -> Any:
    """A row without what depends on where and when the events came from.

    Left out: the service's applied offsets and ids-row counter (site row) and the sources of parked
    events.  Everything else is compared, the daily inventory value samples (site row) included: the
    service announces a shipment to the receiving site through the transfers topic, so the receipt
    waits for it there, and must still be sampled on its own day (a replay announces at once).
    """
    kind = key.split("|")[1]
    if kind == "site":
        return msgspec.structs.replace(_site_row.decode(value), offsets=[], ids_next=0)
    decoded = _generic.decode(value)
    if kind == "parked":
        return [[entry[0], None, *entry[2:]] for entry in decoded]   # ParkedRow: event, source, ...
    return decoded


def assert_rows_equal(rows: dict[str, dict[str, bytes]], replayed: tuple[Engine, StateRows, list[str]]) -> None:
    engine, state, _ = replayed
    assert sorted(rows) == sorted(engine.sites)
    for site, site_rows in rows.items():
        folded = {k: comparable(k, v) for k, v in site_rows.items() if "|ids|" not in k}   # numbered by batch
        expected = {k: comparable(k, v) for k, v in state.current_rows(site).items()}
        assert folded == expected, f"{site}: {_row_diff(folded, expected)}"


def _row_diff(got: dict[str, Any], expected: dict[str, Any], limit: int = 5) -> str:
    """Which rows differ, and how (pytest cuts a diff of thousands of rows before the differing one)."""
    missing = sorted(expected.keys() - got.keys())
    extra = sorted(got.keys() - expected.keys())
    changed = sorted(k for k in got.keys() & expected.keys() if got[k] != expected[k])
    parts = [f"{len(missing)} missing {missing[:limit]}", f"{len(extra)} extra {extra[:limit]}",
             f"{len(changed)} differ"]
    parts += [f"{k}: got {got[k]!r:.400} expected {expected[k]!r:.400}" for k in changed[:limit]]
    return "; ".join(parts)


def assert_restored_reports_equal(master: list[bytes], rows: dict[str, dict[str, bytes]],
                                  replayed: tuple[Engine, StateRows, list[str]]) -> None:
    """A fresh engine restored from the rows: stock, availability, orders and KPIs equal the replay's."""
    engine = replayed[0]
    restored = Engine(EngineSettings(track_changes=True, local_transfers=False))
    restored.apply([event for line in master for event in decode_message(line)])
    state = StateRows(restored)
    for site, site_rows in rows.items():
        state.restore(site, site_rows.items())
    for name in ("stock", "availability", "orders", "kpis"):
        assert report(restored, name) == report(engine, name), name


def assert_outputs_equal(settings: Settings, engine: Engine) -> None:
    """The compacted plan, shortages, exceptions and costs, latest per key, are the replay's."""
    records = read(settings, [settings.topic(t) for t in OUTPUT_TOPICS])

    def live(topic: str, dead: tuple[str, str]) -> list[dict]:
        values = [json.loads(v, parse_float=Decimal) for v in latest(records, settings.topic(topic)).values()]
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
    costs = {k: json.loads(v, parse_float=Decimal) for k, v in latest(records, settings.topic("costs")).items()
             if b"|order:" not in k}
    for row in report(engine, "costs"):
        published = costs[f"{row['site']}|{row['item']}".encode()]
        assert abs(Decimal(str(published["unit_cost"])) - Decimal(str(row["unit_cost"]))) <= Decimal("2e-6"), row


def assert_dead_letters_equal(settings: Settings, rejected: list[str]) -> None:
    """Each record the replay rejects is dead-lettered once, with the same reason."""
    letters = [json.loads(v) for _t, _p, _o, _k, v in read(settings, [settings.topic("rejected")])]
    assert Counter(letter["reason"] for letter in letters) == Counter(rejected)


def assert_equals_replay(settings: Settings, master: list[bytes], pairs: list[tuple[str, bytes]]) -> None:
    """The whole verdict: rows, restored reports, compacted outputs and dead letters equal the replay."""
    replayed = replay(master, pairs)
    rows = changelog_rows(settings)
    assert_rows_equal(rows, replayed)
    assert_restored_reports_equal(master, rows, replayed)
    assert_outputs_equal(settings, replayed[0])
    assert_dead_letters_equal(settings, replayed[2])
