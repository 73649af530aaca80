"""The sink on the real broker, into a real PostgreSQL server and into SQLite.

The sample factory goes through a real worker; the sink then keeps the output topics in tables, which must
hold exactly the latest state per key: equal to the embedded replay's reports, and to the topics folded to
their latest record per key. Runs stop midway and restart (a crash before the offsets are committed reads
records again): the tables must not change, nor gain rows.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from workers import log_tail, start_worker, stop_worker, worker_env

from connectors.publisher import publish_lines
from connectors.replay import replay
from connectors.sink_store import open_store
from core.engine import Engine
from core.reports import report
from millstream.settings import Settings
from schemas.codecs import encode_json
from schemas.outputs import Cost, PlannedOrder, Shortage
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "millstream" / "samples" / "hearing_devices.jsonl"
OUTPUTS = ("planned-orders", "shortages", "costs")
Reader = Callable[[str], list[dict[str, Any]]]


def _drain(settings: Settings, quiet: float = 10.0, limit: float = 240.0) -> list[tuple[str, bytes, bytes]]:
    """Every committed record of the sink's topics, read until nothing new came for ``quiet`` seconds after the
    first (a worker on a busy machine may take a while to start)."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    consumer.subscribe([settings.topic(n) for n in OUTPUTS])
    records: list[tuple[str, bytes, bytes]] = []
    start = time.monotonic()
    last: float | None = None
    try:
        while time.monotonic() - (last or time.monotonic()) < quiet and time.monotonic() - start < limit:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                records.append((message.topic().rsplit(".", 1)[1], message.key(), message.value()))
                last = time.monotonic()
    finally:
        consumer.close()
    return records


@pytest.fixture(scope="module")
def factory(bootstrap: str, tmp_path_factory: pytest.TempPathFactory,
            port_range: Any) -> tuple[Settings, list[tuple[str, bytes, bytes]]]:
    """The sample factory through a real worker: its settings and every record of the output topics."""
    settings = Settings(bootstrap=bootstrap, partitions=4, topic_prefix=f"sink{uuid.uuid4().hex[:8]}",
                        web_port=port_range(1), data_dir=str(tmp_path_factory.mktemp("sink-worker")))
    ensure_topics(settings)
    publish_lines(SAMPLE.read_bytes().splitlines(), settings)
    log_path = Path(settings.data_dir) / "worker.log"
    worker = start_worker(worker_env(settings), log_path)
    try:
        records = _drain(settings)
        assert worker.poll() is None, log_tail(log_path)
    finally:
        stop_worker(worker)
    return settings, records


@pytest.fixture(scope="module")
def embedded() -> Engine:
    engine = Engine()
    replay(SAMPLE, engine)
    return engine


@pytest.fixture(params=["postgres", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[list[str], Reader]]:
    """(the sink's database options, a reader of a table's rows as plain values) for a fresh database."""
    if request.param == "sqlite":
        path = tmp_path / "sink.sqlite"
        yield ["--sqlite", str(path)], lambda table: _sqlite_rows(path, table)
        return
    server = request.getfixturevalue("postgres_url")
    name = f"sink_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = make_conninfo(server, dbname=name)
    try:
        yield ["--db", url], lambda table: _postgres_rows(url, table)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _postgres_rows(url: str, table: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as connection, connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return cursor.fetchall()


def _sqlite_rows(path: Path, table: str) -> list[dict[str, Any]]:
    connection = sqlite3.connect(path)
    try:
        connection.row_factory = sqlite3.Row
        rows = [dict(row) for row in connection.execute(f"SELECT * FROM {table}")]
    finally:
        connection.close()
    numeric = {"qty", "unit_cost", "standard_cost", "good_qty", "actual_cost", "material_usage_variance",
               "material_price_variance", "operations_variance"}
    for row in rows:  # SQLite keeps exact decimals as text, JSON as text and booleans as 0/1
        for key, value in row.items():
            if key in numeric and value is not None:
                row[key] = Decimal(value)
        if "hits" in row:
            row["hits"] = json.loads(row["hits"])
        if "past_due" in row:
            row["past_due"] = bool(row["past_due"])
    return rows


def _sink(settings: Settings, db: list[str], group: str, *extra: str) -> str:
    """Run ``millstream sink`` to its end; its stderr (the summary)."""
    done = subprocess.run([sys.executable, "-m", "millstream.cli", "sink", *db, "--group", group, *extra],
                          env=worker_env(settings), capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def _latest(records: list[tuple[str, bytes, bytes]]) -> dict[tuple[str, bytes], dict[str, Any]]:
    latest: dict[tuple[str, bytes], dict[str, Any]] = {}
    for topic, key, value in records:
        latest[(topic, key)] = json.loads(value, parse_float=Decimal)
    return latest


def _number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else value


def _instant(value: Any) -> datetime:
    """Timestamps compare as instants (PostgreSQL answers in its session's zone)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _hits(hits: list[dict[str, Any]]) -> tuple:
    return tuple((h["ref"], h["kind"], _number(h["qty"]), h["due"]) for h in hits)


def _expected_tables(records: list[tuple[str, bytes, bytes]]) -> dict[str, set[tuple]]:
    """The topics folded to the latest record per key, live keys only, as the sink's rows should read."""
    tables: dict[str, set[tuple]] = {"planned_orders": set(), "shortages": set(), "costs": set(),
                                     "order_costs": set()}
    for r in _latest(records).values():
        ts = _instant(r["ts"])
        if r["type"] == "planned_order" and r.get("action", "upsert") == "upsert":
            tables["planned_orders"].add((r["site"], r["planned_id"], r["item"], r["kind"], _number(r["qty"]),
                                          r["release"], r["due"], r.get("past_due", False), ts))
        elif r["type"] == "shortage" and r["state"] == "open":
            tables["shortages"].add((r["shortage_id"], r["site"], r["item"], r["date"], _number(r["qty"]),
                                     _hits(r["hits"]), ts))
        elif r["type"] == "cost":
            tables["costs"].add((r["site"], r["item"], _number(r["unit_cost"]), _number(r.get("standard_cost")), ts))
        elif r["type"] == "order_cost":
            tables["order_costs"].add((r["site"], r["order_id"], r["item"], *(_number(r[k]) for k in (
                "good_qty", "actual_cost", "standard_cost", "material_usage_variance", "material_price_variance",
                "operations_variance")), ts))
    return tables


def _tables(read: Reader) -> dict[str, set[tuple]]:
    """The sink's tables in the shape of ``_expected_tables``."""
    return {
        "planned_orders": {(r["site"], r["planned_id"], r["item"], r["kind"], r["qty"], _day(r["release"]),
                            _day(r["due"]), r["past_due"], _instant(r["updated_ts"])) for r in read("planned_orders")},
        "shortages": {(r["shortage_id"], r["site"], r["item"], _day(r["date"]), r["qty"], _hits(r["hits"]),
                       _instant(r["updated_ts"])) for r in read("shortages")},
        "costs": {(r["site"], r["item"], r["unit_cost"], r["standard_cost"], _instant(r["updated_ts"]))
                  for r in read("costs")},
        "order_costs": {(r["site"], r["order_id"], r["item"], r["good_qty"], r["actual_cost"], r["standard_cost"],
                         r["material_usage_variance"], r["material_price_variance"], r["operations_variance"],
                         _instant(r["updated_ts"])) for r in read("order_costs")},
    }


def _counts(read: Reader) -> dict[str, int]:
    return {name: len(read(name)) for name in ("planned_orders", "shortages", "costs", "order_costs")}


def test_the_tables_hold_exactly_the_latest_state_and_restarts_change_nothing(
        factory: tuple[Settings, list], embedded: Engine, database: tuple[list[str], Reader]) -> None:
    settings, records = factory
    db, read = database
    expected = _expected_tables(records)
    assert expected["planned_orders"] and expected["shortages"] and expected["costs"] and expected["order_costs"]
    group = f"sink-{uuid.uuid4().hex[:8]}"

    # stopped midway, then restarted in the same group: it goes on from the committed offsets
    first = _sink(settings, db, group, "--max-records", str(len(records) // 3))
    assert f"sink: {len(records) // 3} records" in first
    rest = _sink(settings, db, group, "--idle-seconds", "5")
    assert f"sink: {len(records) - len(records) // 3} records" in rest
    tables = _tables(read)
    assert tables == expected

    # the embedded replay's reports: the same plan, shortages and costs
    assert {(p[0], p[1], p[2], p[3], p[4], p[5], p[6]) for p in tables["planned_orders"]} == {
        (r["site"], r["planned_id"], r["item"], r["kind"], Decimal(str(r["qty"])), r["release"], r["due"])
        for r in report(embedded, "planned")}
    assert {(s[1], s[2], s[3], s[4], ", ".join(f"{kind} {ref}" for ref, kind, _qty, _due in s[5]))
            for s in tables["shortages"]} == {
        (r["site"], r["item"], r["date"], Decimal(str(r["qty"])), r["hits"]) for r in report(embedded, "shortages")}
    costs = {(c[0], c[1]): c for c in tables["costs"]}
    for row in report(embedded, "costs"):  # moving averages: the worker's batches round like test_worker allows
        _site, _item, unit, standard, _ts = costs.pop((row["site"], row["item"]))
        assert abs(unit - Decimal(str(row["unit_cost"]))) <= Decimal("2e-6")
        assert (standard is None) == (row["standard_cost"] is None)
        assert standard is None or abs(standard - Decimal(str(row["standard_cost"]))) <= Decimal("2e-6")
    assert costs == {}

    # run again in the group: nothing new; in a new group (as after a crash before any offset commit): every
    # record applied once more, and the tables neither change nor gain rows
    counts = _counts(read)
    assert "sink: 0 records" in _sink(settings, db, group, "--idle-seconds", "5")
    again = _sink(settings, db, f"{group}-replayed", "--idle-seconds", "5")
    assert f"sink: {len(records)} records" in again
    assert _tables(read) == expected
    assert _counts(read) == counts


def _produce(settings: Settings, records: list[tuple[str, bytes, bytes | None]], abort: bool = False) -> None:
    """Plain records, or (``abort``) records of a transaction that is aborted, as a crashed worker's batch."""
    config = {"bootstrap.servers": settings.bootstrap, "partitioner": "murmur2_random"}
    producer = Producer({**config, "transactional.id": f"{settings.topic_prefix}-t"} if abort else config)
    if abort:
        producer.init_transactions(30)
        producer.begin_transaction()
    for topic, key, value in records:
        producer.produce(settings.topic(topic), key=key, value=value)
    assert producer.flush(30) == 0
    if abort:
        producer.abort_transaction(30)


def test_deletes_resolved_shortages_tombstones_and_bad_records(
        bootstrap: str, tmp_path: Path, database: tuple[list[str], Reader]) -> None:
    """Rows leave with their delete, resolution or tombstone; a bad record is kept with its reason; an aborted
    transaction's records are never applied (read_committed)."""
    settings = Settings(bootstrap=bootstrap, partitions=2, topic_prefix=f"sinkbad{uuid.uuid4().hex[:8]}",
                        data_dir=str(tmp_path))
    ensure_topics(settings)
    db, read = database

    def planned(pid: str, qty: str, action: str = "upsert") -> tuple[str, bytes, bytes]:
        order = PlannedOrder(site="S1", planned_id=pid, item="A", kind="buy", qty=Decimal(qty),
                             release="2026-03-01", due="2026-03-05", action=action)
        return "planned-orders", f"S1|{pid}".encode(), encode_json(order)

    def shortage(day: str, state: str) -> tuple[str, bytes, bytes]:
        sid = f"S1|A|{day}"
        return "shortages", sid.encode(), encode_json(Shortage(site="S1", shortage_id=sid, item="A", date=day,
                                                               qty=Decimal("0.000001"), state=state))

    cost = Cost(site="S1", item="A", unit_cost=Decimal("0.1"), standard_cost=Decimal("12345678901234.123456"))
    _produce(settings, [planned("A@1", "99"), planned("A@9", "9"), shortage("2026-03-09", "open")], abort=True)
    _produce(settings, [
        planned("A@1", "1.5"), planned("A@1", "2.25"), planned("A@2", "7"), planned("A@2", "7", "delete"),
        planned("A@3", "3"), ("planned-orders", b"S1|A@3", None),                           # tombstone
        shortage("2026-03-02", "open"), shortage("2026-03-03", "open"), shortage("2026-03-03", "resolved"),
        ("costs", b"S1|A", encode_json(cost)),
        ("costs", b"S1|B", encode_json(cost)),                                               # key of another item
        ("planned-orders", b"S1|x", b'{"type": "planned_order", "planned_id": '),           # truncated
    ])
    summary = _sink(settings, db, "g", "--idle-seconds", "5")
    assert "sink: 12 records" in summary and "2 rejected" in summary
    assert [(r["planned_id"], r["qty"]) for r in read("planned_orders")] == [("A@1", Decimal("2.25"))]
    assert [r["shortage_id"] for r in read("shortages")] == ["S1|A|2026-03-02"]
    assert [(r["item"], r["unit_cost"], r["standard_cost"]) for r in read("costs")] == [
        ("A", Decimal("0.1"), Decimal("12345678901234.123456"))]  # exact: no float on the way
    rejected = {bytes(r["record_key"]): r["reason"] for r in read("sink_rejected")}
    assert rejected.keys() == {b"S1|B", b"S1|x"}
    assert "is not the record's key 'S1|A'" in rejected[b"S1|B"]
    assert rejected[b"S1|x"].startswith("undecodable output record")


def test_a_failed_database_transaction_commits_no_offsets(bootstrap: str, tmp_path: Path) -> None:
    """The database refuses a batch (a trigger): the sink stops, and its restart applies every record of it."""
    settings = Settings(bootstrap=bootstrap, partitions=2, topic_prefix=f"sinkfail{uuid.uuid4().hex[:8]}",
                        data_dir=str(tmp_path))
    ensure_topics(settings)
    path = tmp_path / "sink.sqlite"
    open_store(None, path).close()  # the sink's schema, so that a trigger can be added to it
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("CREATE TRIGGER refuse BEFORE INSERT ON planned_orders WHEN NEW.planned_id = 'A@2' "
                           "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    finally:
        connection.close()
    orders = [PlannedOrder(site="S1", planned_id=f"A@{n}", item="A", kind="buy", qty=n, release="2026-03-01",
                           due="2026-03-05") for n in (1, 2, 3)]
    _produce(settings, [("planned-orders", f"S1|{o.planned_id}".encode(), encode_json(o)) for o in orders])
    command = [sys.executable, "-m", "millstream.cli", "sink", "--sqlite", str(path), "--group", "g",
               "--idle-seconds", "5"]
    failed = subprocess.run(command, env=worker_env(settings), capture_output=True, text=True, timeout=300, cwd=ROOT,
                            check=False)
    assert failed.returncode == 1 and "refused by the test" in failed.stderr
    assert _sqlite_rows(path, "planned_orders") == []
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("DROP TRIGGER refuse")
    finally:
        connection.close()
    _sink(settings, ["--sqlite", str(path)], "g", "--idle-seconds", "5")  # reads the refused batch again
    assert sorted(r["planned_id"] for r in _sqlite_rows(path, "planned_orders")) == ["A@1", "A@2", "A@3"]


def test_ctrl_c_stops_the_sink_cleanly(bootstrap: str, tmp_path: Path) -> None:
    settings = Settings(bootstrap=bootstrap, partitions=1, topic_prefix=f"sinkint{uuid.uuid4().hex[:8]}",
                        data_dir=str(tmp_path))
    ensure_topics(settings)
    order = PlannedOrder(site="S1", planned_id="A@1", item="A", kind="buy", qty=1, release="2026-03-01",
                         due="2026-03-05")
    _produce(settings, [("planned-orders", b"S1|A@1", encode_json(order))])
    path, err = tmp_path / "sink.sqlite", tmp_path / "err"
    with err.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "millstream.cli", "sink", "--sqlite", str(path)],
                                   env=worker_env(settings), stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT)
        try:
            limit = time.monotonic() + 120
            while not _has_rows(path):  # the record is in: the sink now waits for more
                assert process.poll() is None and time.monotonic() < limit, err.read_text()
                time.sleep(0.3)
            process.send_signal(signal.SIGINT)
            assert process.wait(60) == 0, err.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert "sink: 1 records in 1 batches" in err.read_text()


def _has_rows(path: Path) -> bool:
    try:
        return bool(_sqlite_rows(path, "planned_orders"))
    except sqlite3.OperationalError:  # no file, or no schema yet
        return False
