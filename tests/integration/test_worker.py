"""The Faust worker on the real broker: the replay scenarios give the plan the embedded replay gives.

Two scenarios, a worker each: the sample factory, and the what-if (the factory, then a supplier slip, a
rush order and a blocked lot) whose outputs must equal a replay of the base and then the changes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from outputs import latest, planned, read_outputs_until
from workers import log_tail, start_worker, stop_worker, worker_env

from connectors.publisher import publish_lines
from connectors.replay import replay
from core.engine import Engine
from core.reports import report
from core.whatif import compare
from millstream.settings import Settings
from schemas.codecs import encode_json
from streams.changelog import app_id
from streams.durable import STORE_OPTIONS
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "millstream" / "samples"
#: scenario -> the files published in turn (and replayed in turn into one engine, as ``millstream whatif`` does)
SCENARIOS = {"factory": ("hearing_devices.jsonl",),
             "whatif": ("hearing_devices.jsonl", "whatif_supplier_slip.jsonl")}


@pytest.fixture(scope="module", params=list(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> list[Path]:
    return [SAMPLES / name for name in SCENARIOS[request.param]]


@pytest.fixture(scope="module")
def worker_run(bootstrap: str, tmp_path_factory: pytest.TempPathFactory, port_range: Any,
               scenario: list[Path], embedded: Engine) -> Iterator[tuple[Settings, list]]:
    settings = Settings(bootstrap=bootstrap, partitions=4, topic_prefix=f"w{uuid.uuid4().hex[:8]}",
                        web_port=port_range(1), data_dir=str(tmp_path_factory.mktemp("worker")))
    ensure_topics(settings)
    publish_lines([line for path in scenario for line in path.read_bytes().splitlines()], settings)
    log_path = Path(settings.data_dir) / "worker.log"
    process = start_worker(worker_env(settings), log_path)
    try:
        expected = {(r["site"], r["planned_id"], str(r["qty"]), r["release"], r["due"])
                    for r in report(embedded, "planned")}
        records = read_outputs_until(settings, ["planned-orders", "shortages", "costs", "capacity", "rejected"],
                                     lambda records: planned(records, settings) == expected
                                     or process.poll() is not None)
        assert process.poll() is None, log_tail(log_path)
        yield settings, records
    finally:
        stop_worker(process)


_latest = latest   # other tests import it from here


@pytest.fixture(scope="module")
def embedded(scenario: list[Path]) -> Engine:
    engine = Engine()
    for path in scenario:
        replay(path, engine)
    return engine


def test_the_what_if_changes_the_plan(scenario: list[Path], embedded: Engine) -> None:
    """The two scenarios' plans differ, so equal outputs below show the worker applied the changes."""
    base = Engine()
    replay(scenario[0], base)
    assert bool(compare(base, embedded)) == (len(scenario) > 1)


def test_planned_orders_match_the_replay(worker_run: tuple[Settings, list], embedded: Engine) -> None:
    settings, records = worker_run
    live = planned(records, settings)
    expected = {(r["site"], r["planned_id"], str(r["qty"]), r["release"], r["due"])
                for r in report(embedded, "planned")}
    assert expected and live == expected


def test_open_shortages_and_costs_match_the_replay(worker_run: tuple[Settings, list], embedded: Engine) -> None:
    settings, records = worker_run
    open_shortages = {(s["site"], s["item"], s["date"], str(s["qty"]))
                      for s in _latest(records, settings.topic("shortages")).values() if s["state"] == "open"}
    assert open_shortages == {(r["site"], r["item"], r["date"], str(r["qty"])) for r in report(embedded, "shortages")}
    costs = {k: v for k, v in _latest(records, settings.topic("costs")).items() if b"|order:" not in k}
    for row in report(embedded, "costs"):
        published = costs[f"{row['site']}|{row['item']}".encode()]
        assert abs(Decimal(str(published["unit_cost"])) - Decimal(str(row["unit_cost"]))) <= Decimal("2e-6")


def test_capacity_overloads_match_the_replay(worker_run: tuple[Settings, list], embedded: Engine) -> None:
    """The open overloads on the capacity topic are the replay's, with the same load and orders."""
    settings, records = worker_run

    def view(record: dict[str, Any]) -> tuple[Any, ...]:
        return (record["site"], record["work_center"], record["date"], record["load_minutes"],
                record["available_minutes"], tuple((o["ref"], o["minutes"]) for o in record["orders"]))

    live = {view(o) for o in _latest(records, settings.topic("capacity")).values() if o["state"] == "open"}
    expected = {view(json.loads(encode_json(o))) for book in embedded.planner.capacity.values()
                for o in book.overloads.values()}
    assert expected and live == expected


def test_bad_events_land_in_the_rejected_topic(worker_run: tuple[Settings, list]) -> None:
    settings, records = worker_run
    letters = [json.loads(v) for t, _k, v in records if t == settings.topic("rejected")]
    reasons = sorted(letter["reason"].split(":")[0] for letter in letters)
    assert reasons == ["duplicate event_id 'ev-0013'", "illegal status move available -> rework",
                       "insufficient available stock"]
    assert all(letter["topic"] == settings.topic("inventory") and letter["offset"] >= 0 for letter in letters)


def test_no_leader_topic_appears(worker_run: tuple[Settings, list]) -> None:
    """Nothing runs on a Faust leader: its topic, created by the broker on first use and seen by the next
    metadata refresh, would rebalance every worker minutes after a fresh deployment's first start."""
    settings, _ = worker_run
    topics = AdminClient({"bootstrap.servers": settings.bootstrap}).list_topics(timeout=30).topics
    assert settings.topic("inventory") in topics
    assert not [name for name in topics if name.startswith(app_id(settings)) and "leader" in name]


def test_the_state_store_keeps_small_write_buffers(worker_run: tuple[Settings, list]) -> None:
    """RocksDB of the state table opened with ``STORE_OPTIONS``, not Faust's three 64 MiB buffers per partition
    (the options RocksDB itself wrote next to each partition's database say so)."""
    settings, _ = worker_run
    written = sorted(Path(settings.data_dir).glob("**/state-*.db/OPTIONS-*"))
    assert written, list(Path(settings.data_dir).glob("**/*"))
    for path in written:
        text = path.read_text()
        assert f"write_buffer_size={STORE_OPTIONS['write_buffer_size']}\n" in text, path
        assert f"max_write_buffer_number={STORE_OPTIONS['max_write_buffer_number']}\n" in text, path
