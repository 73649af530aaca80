"""The worker's HTTP query API on the real broker: one worker answers what the embedded replay says; with two
workers, either one answers for every site (the owner's engine, asked on the caller's behalf)."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from workers import OPENER, Answer, get, log_tail, start_worker, stop_worker, worker_env

from connectors.publisher import publish_lines
from connectors.replay import replay
from core import queries
from core.engine import Engine
from core.reports import report
from millstream.settings import Settings
from schemas.codecs import encode_json
from streams.routing import site_partition
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "millstream" / "samples" / "hearing_devices.jsonl"
PARTITIONS = 4


def as_json(value: Any) -> Any:
    """What the API would send for an engine-side answer."""
    return json.loads(encode_json(value))


def same(live: Any, expected: Any) -> bool:
    """Equal JSON, costs allowed 2e-6 apart (floats summed in another batch order)."""
    if isinstance(expected, dict):
        return isinstance(live, dict) and live.keys() == expected.keys() and all(
            same(live[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(live, list) and len(live) == len(expected) and all(
            same(a, b) for a, b in zip(live, expected, strict=True))
    if isinstance(expected, float | int) and not isinstance(expected, bool):
        return isinstance(live, float | int) and math.isclose(live, expected, rel_tol=0, abs_tol=2e-6)
    return live == expected


def eventually(probe: Callable[[], bool], what: str, limit: float = 120.0,
               state: Callable[[], Any] = lambda: None) -> None:
    deadline = time.monotonic() + limit
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {state()}")
        time.sleep(0.5)


class Worker:
    """One ``millstream worker`` process of this test, stopped by its own pid."""

    def __init__(self, settings: Settings, port: int, name: str) -> None:
        self.settings = settings
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = Path(settings.data_dir) / f"{name}.log"
        env = worker_env(settings, ("bootstrap", "topic_prefix"), partitions=PARTITIONS, web_port=port,
                         data_dir=Path(settings.data_dir) / name)
        self.process = start_worker(env, self.log_path)

    def get(self, path: str) -> Answer:
        assert self.process.poll() is None, log_tail(self.log_path)
        return get(self.port, path)

    def topics(self) -> dict[str, dict[str, list[int]]]:
        """Faust's view of who holds which input partitions (``/router/topics``)."""
        try:
            with OPENER.open(f"{self.url}/router/topics", timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            return {}

    def stop(self) -> None:
        stop_worker(self.process)


def _settings(bootstrap: str, data_dir: Path) -> Settings:
    return Settings(bootstrap=bootstrap, partitions=PARTITIONS, topic_prefix=f"q{uuid.uuid4().hex[:8]}",
                    data_dir=str(data_dir))


def _caught_up(worker: Worker, embedded: Engine) -> bool:
    """The worker has applied the whole sample: the last site events' effects are visible."""
    probes = [("US1", "RCV-01"), ("DK1", "CHIP-01"), ("DK1", "HA-100")]
    try:
        return all(same(worker.get(f"/sites/{site}/items/{item}").body,
                        as_json(queries.item_status(embedded, site, item))) for site, item in probes)
    except OSError:   # the web server is not up yet
        return False


@pytest.fixture(scope="module")
def embedded() -> Engine:
    engine = Engine()
    replay(SAMPLE, engine)
    return engine


def _paced(lines: list[bytes], gap: float = 0.1) -> Iterator[bytes]:
    """Lines spaced out in time, so a running worker sees them in file order.

    A worker applies what each poll brings; had a site's inventory topic run a day ahead of its purchase
    topic, receipts would give up waiting for their purchase orders (the park window is 24 h of event time).
    """
    for line in lines:
        yield line
        time.sleep(gap)


@contextmanager
def running(bootstrap: str, data_dir: Path, ports: list[int], embedded: Engine) -> Iterator[list[Worker]]:
    """Workers of one group that hold the whole sample: master data first, then the workers, and once the
    input partitions are shared out among all of them, the site events (state is in memory: a partition
    that moved after its events were applied would arrive at its new owner without its past)."""
    settings = _settings(bootstrap, data_dir)
    ensure_topics(settings)
    lines = SAMPLE.read_bytes().splitlines()
    master = [line for line in lines if line.startswith((b'{"type":"item"', b'{"type":"bom"'))]
    publish_lines(master, settings)
    workers = [Worker(settings, port, f"w{port}") for port in ports]
    inventory = settings.topic("inventory")

    def shared_out() -> bool:
        for view in (w.topics() for w in workers):
            held = [t.get(inventory, []) for t in view.values()]
            every = sorted(p for partitions in held for p in partitions)
            if len(view) != len(workers) or not all(held) or every != list(range(PARTITIONS)):
                return False
        return True

    try:
        eventually(shared_out, "the workers to share the input partitions")
        publish_lines(_paced([line for line in lines if line not in master]), settings)
        for w in workers:
            eventually(lambda w=w: _caught_up(w, embedded), f"{w.url} to answer with the replay's state",
                       state=lambda w=w: (w.topics(), w.get("/sites/US1/items/RCV-01"),
                                          w.get("/sites/DK1/items/CHIP-01")))
        yield workers
    finally:
        for w in workers:
            w.stop()


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory, port_range: Any,
           embedded: Engine) -> Iterator[Worker]:
    with running(bootstrap, tmp_path_factory.mktemp("query-api"), [port_range(1)], embedded) as workers:
        yield workers[0]


# --- one worker ------------------------------------------------------------------------------------


def _site_items(engine: Engine) -> list[tuple[str, str]]:
    return [(row["site"], row["item"]) for row in report(engine, "availability")]


def test_items_answer_stock_availability_supply_and_costs_of_the_replay(worker: Worker, embedded: Engine) -> None:
    rows = {(r["site"], r["item"]): r for r in report(embedded, "availability")}
    lots: dict[tuple[str, str], float] = {}
    for r in report(embedded, "stock"):
        lots[(r["site"], r["item"])] = lots.get((r["site"], r["item"]), 0) + float(r["qty"])
    assert len(rows) > 10
    for (site, item), row in rows.items():
        answer = worker.get(f"/sites/{site}/items/{item}")
        assert answer.status == 200 and answer.worker == worker.url
        assert same(answer.body, as_json(queries.item_status(embedded, site, item))), (site, item)
        body = answer.body
        for name in ("physical", "reserved", "available", "wip"):
            assert math.isclose(body[name], float(row[name]), abs_tol=1e-9), (site, item, name)
        assert math.isclose(body["on_order"]["total"], float(row["on_order"]), abs_tol=1e-9)
        assert body["by_status"]["qc_pending"] == float(row["qc_pending"])
        on_shelf = sum(lot["qty"] for status in body["lots"].values() for lot in status)
        assert math.isclose(on_shelf, lots.get((site, item), 0), abs_tol=1e-9) and on_shelf == body["physical"]
    rcv = worker.get("/sites/US1/items/RCV-01").body   # 300 received, 154 issued, 100 transferred in from DK1
    assert rcv["physical"] == 246 and rcv["lots"]["available"] == [{"lot": "us1-RCV-L1", "qty": 146},
                                                                   {"lot": "dk1-RCV-L1", "qty": 100}]
    chip = worker.get("/sites/DK1/items/CHIP-01").body
    assert chip["on_order"]["purchase_order"] == 200 and chip["costs"]["moving_average"] == 7.05


def test_mrp_records_are_the_planners(worker: Worker, embedded: Engine) -> None:
    assert embedded.planner is not None
    planned = report(embedded, "planned")
    for site, item in _site_items(embedded):
        answer = worker.get(f"/sites/{site}/items/{item}/mrp")
        expected = embedded.planner.mrp_record(embedded.sites[site], item)
        if expected is None:
            assert answer.status == 404
            continue
        assert answer.status == 200 and same(answer.body, as_json({"site": site, **expected})), (site, item)
        assert [(p["planned_id"], p["qty"], p["release"], p["due"]) for p in answer.body["planned_orders"]] == [
            (r["planned_id"], float(r["qty"]), r["release"], r["due"])
            for r in planned if (r["site"], r["item"]) == (site, item)]
    assert worker.get("/sites/DK1/items/NOPE/mrp").status == 404


def test_shortages_are_the_open_shortages_of_the_replay(worker: Worker, embedded: Engine) -> None:
    for site in sorted(embedded.sites):
        answer = worker.get(f"/sites/{site}/shortages")
        assert answer.status == 200 and same(answer.body, as_json(queries.shortages(embedded, site)))
        assert [(s["item"], s["date"], s["qty"]) for s in answer.body["shortages"]] == [
            (r["item"], r["date"], float(r["qty"])) for r in report(embedded, "shortages") if r["site"] == site]
    assert worker.get("/sites/DK1/shortages").body["shortages"], "the sample leaves DK1 short"


def test_work_center_load_is_the_replays(worker: Worker, embedded: Engine) -> None:
    for site in sorted(embedded.sites):
        for work_center in ("SMT", "ASSY"):
            answer = worker.get(f"/sites/{site}/work-centers/{work_center}/load")
            expected = queries.work_center_load(embedded, site, work_center)
            assert answer.status == 200 and same(answer.body, as_json(expected)), (site, work_center)
    dk1 = worker.get("/sites/DK1/work-centers/ASSY/load").body
    assert dk1["minutes_per_day"] == 240 and dk1["overloads"], "the sample's half-shift bench in DK1 is overloaded"
    assert worker.get("/sites/US1/work-centers/ASSY/load").body["minutes_per_day"] == 960   # the site's own
    assert worker.get("/sites/DK1/work-centers/PAINT/load").status == 404


def test_orders_production_purchase_and_demand(worker: Worker, embedded: Engine) -> None:
    for row in report(embedded, "orders"):
        if row["kind"] == "transfer_in":
            continue
        answer = worker.get(f"/orders/{urllib.parse.quote(row['id'])}")
        assert answer.status == 200 and same(answer.body, as_json(queries.order(embedded, row["id"]))), row["id"]
        assert (answer.body["site"], answer.body["qty"], answer.body["open_qty"]) == (
            row["site"], float(row["qty"]), float(row["open_qty"]))
    mo = worker.get("/orders/dk1-mo-2?site=DK1&kind=production").body
    assert (mo["good"], mo["scrap"], mo["issued"]["SUB-CORE"]) == (118, 2, 120)
    assert mo["inputs"][0] == {"item": "SUB-CORE", "lot": "dk1-CORE-L1", "qty": 120}
    assert mo["outputs"] == [{"item": "HA-100", "lot": "dk1-HA-L1", "qty": 118}]
    assert worker.get("/orders/dk1-so-1").body["delivered"] == 110
    assert worker.get("/orders/dk1-mo-2?kind=purchase").status == 404
    assert worker.get("/orders/dk1-mo-2?site=US1").status == 404
    assert worker.get("/orders/nope").body == {"error": "unknown order 'nope'"}


def test_lot_trace_goes_both_ways_and_across_the_transfer(worker: Worker, embedded: Engine) -> None:
    answer = worker.get("/lots/dk1-RCV-L1/trace")
    assert answer.status == 200
    assert same(answer.body, as_json({"lot": "dk1-RCV-L1", "traces": queries.lot_traces(embedded, "dk1-RCV-L1")}))
    dk1, us1 = answer.body["traces"]
    assert (dk1["site"], us1["site"]) == ("DK1", "US1")
    chain = dk1["consumed_by"][0]["outputs"][0]["consumed_by"][0]["outputs"][0]
    assert (chain["item"], chain["lot"], chain["qty"]) == ("HA-100", "dk1-HA-L1", 118)
    assert us1["transfers"][0]["received"] == 100 and us1["stock"] == {"available": 100}
    back = worker.get("/lots/dk1-HA-L1/trace?item=HA-100").body["traces"][0]["produced_by"][0]
    assert {(i["item"], i["lot"]) for i in back["inputs"]} >= {("SUB-CORE", "dk1-CORE-L1"), ("BAT-01", "dk1-BAT-L1")}
    assert worker.get("/lots/dk1-RCV-L1/trace?site=US1").body["traces"][0]["site"] == "US1"
    assert worker.get("/lots/dk1-RCV-L1/trace?item=HA-100").status == 404


def test_the_publisher_puts_each_site_where_the_router_looks_for_it(worker: Worker) -> None:
    consumer = Consumer({"bootstrap.servers": worker.settings.bootstrap, "group.id": f"q-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([worker.settings.topic(name) for name in ("inventory", "purchase", "demand")])
    seen: dict[str, set[int]] = {}
    start = last = time.monotonic()
    try:
        while time.monotonic() - last < 3 and time.monotonic() - start < 30:   # until 3 s bring nothing new
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen.setdefault(message.key().decode(), set()).add(message.partition())
                last = time.monotonic()
    finally:
        consumer.close()
    assert seen == {site: {site_partition(site, PARTITIONS)} for site in ("DK1", "US1")}


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/sites/XX/items/HA-100", 404, "unknown site 'XX'"),
    ("/sites/DK1/items/NOPE", 404, "unknown item 'NOPE' at site 'DK1'"),
    ("/sites/XX/shortages", 404, "unknown site"),
    ("/lots/nope/trace", 404, "unknown lot 'nope'"),
    ("/sites/DK1/items/HA-100?x=1", 400, "unknown parameter 'x'"),
    ("/orders/dk1-mo-1?kind=shipment", 400, "kind must be one of"),
    ("/orders/dk1-mo-1?site=DK1&site=US1", 400, "given 2 times"),
    ("/orders/" + "x" * 201, 400, "order id must be 1 to 200"),
    ("/lots/a%01b/trace", 400, "lot must be"),
    ("/sites/DK1", 400, "no endpoint '/sites/DK1'"),
    ("/nothing/here", 400, "endpoints: /sites/{site}/items/{item}"),
])
def test_bad_requests_and_unknown_keys_answer_json_errors(worker: Worker, path: str, status: int, says: str) -> None:
    answer = worker.get(path)
    assert answer.status == status and says in answer.body["error"], answer.body


# --- two workers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_workers(bootstrap: str, tmp_path_factory: pytest.TempPathFactory, port_range: Any,
                embedded: Engine) -> Iterator[list[Worker]]:
    with running(bootstrap, tmp_path_factory.mktemp("query-api-2"), [port_range(1), port_range(1)],
                 embedded) as workers:
        yield workers


def test_either_worker_answers_for_every_site_from_the_owner(two_workers: list[Worker], embedded: Engine) -> None:
    a, b = two_workers
    inventory = a.settings.topic("inventory")
    owner = {site: next(url for url, t in a.topics().items() if site_partition(site, PARTITIONS) in t[inventory])
             for site in embedded.sites}
    forwarded = 0
    for site, item in _site_items(embedded):
        expected = as_json(queries.item_status(embedded, site, item))
        for w in (a, b):
            answer = w.get(f"/sites/{site}/items/{item}")
            assert answer.status == 200 and same(answer.body, expected), (w.url, site, item)
            assert answer.worker == owner[site]
            forwarded += answer.worker != w.url
        assert a.get(f"/sites/{site}/shortages").body == b.get(f"/sites/{site}/shortages").body
    assert forwarded == len(_site_items(embedded))   # every item: once asked of its site's owner, once not


def test_orders_and_lots_without_a_site_are_found_on_whichever_worker_holds_them(
        two_workers: list[Worker], embedded: Engine) -> None:
    for order_id in ("dk1-mo-1", "us1-po-1", "dk1-fc-w15"):
        expected = as_json(queries.order(embedded, order_id))
        for w in two_workers:
            answer = w.get(f"/orders/{order_id}")
            assert answer.status == 200 and same(answer.body, expected), (w.url, order_id)
    trace = as_json({"lot": "dk1-RCV-L1", "traces": queries.lot_traces(embedded, "dk1-RCV-L1")})
    for w in two_workers:
        assert same(w.get("/lots/dk1-RCV-L1/trace").body, trace)
        assert w.get("/orders/nope").status == 404
