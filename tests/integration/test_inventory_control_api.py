"""Inventory control on the real broker: a worker that applied a simulated factory answers /forecast,
/safety-stock and /count-schedule over HTTP as the embedded replay does, and `millstream forecast --url ...
--publish` sends the same demand events a forecast of the replay file makes, which the worker then plans."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import workers
from workers import Answer, log_tail, start_worker, stop_worker, worker_env

from connectors.forecast import answers_from_file, events_of
from connectors.publisher import publish_lines
from connectors.replay import replay
from connectors.simulate import SimSpec, Simulation
from core import queries
from core.control import ControlSettings
from core.engine import Engine
from millstream.cli import main
from millstream.settings import Settings
from schemas.codecs import encode_json
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

PARTITIONS = 2
SITE = "DK1"
CONTROL = ControlSettings()


def get(port: int, path: str) -> Answer:
    """Forecasts are fitted on request: a long timeout."""
    return workers.get(port, path, timeout=120)


def as_json(value: Any) -> Any:
    return json.loads(encode_json(value))


def eventually(probe: Callable[[], bool], what: str, limit: float = 120.0,
               state: Callable[[], Any] = lambda: None) -> None:
    deadline = time.monotonic() + limit
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {state()}")
        time.sleep(0.5)


@dataclass
class Running:
    settings: Settings
    port: int
    events: Path
    log: Path

    def get(self, path: str) -> Answer:
        return get(self.port, path)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One plant, 60 items, 14 weeks: a holdout's worth of sales for its devices."""
    path = tmp_path_factory.mktemp("control-events") / "factory.jsonl"
    with open(path, "wb") as out:
        out.writelines(Simulation(SimSpec(sites=1, items=60, depth=2, days=98, seed=4)).lines())
    return path


@pytest.fixture(scope="module")
def embedded(events: Path) -> Engine:
    engine = Engine()
    replay(events, engine)
    return engine


@pytest.fixture(scope="module")
def running(bootstrap: str, tmp_path_factory: pytest.TempPathFactory, port_range: Any, events: Path,
            embedded: Engine) -> Iterator[Running]:
    """Every event on the topics first, then the worker: it merges the input topics in event time from their
    known ends, as the replay reads the file in time order."""
    data_dir = tmp_path_factory.mktemp("control-worker")
    settings = Settings(bootstrap=bootstrap, partitions=PARTITIONS, topic_prefix=f"ic{uuid.uuid4().hex[:8]}",
                        data_dir=str(data_dir))
    ensure_topics(settings)
    publish_lines(events.read_bytes().splitlines(), settings)
    port = port_range(1)
    log = data_dir / "worker.log"
    process = start_worker(worker_env(settings, web_port=port), log)
    worker = Running(settings, port, events, log)
    total = len(events.read_bytes().splitlines())

    def caught_up() -> bool:
        assert process.poll() is None, log_tail(log)
        try:
            counts = worker.get("/status?top=0").body["workers"][0]["events"]
        except (OSError, KeyError, IndexError):
            return False
        assert not counts.get("rejected"), counts
        return counts.get("consumed") == counts.get("applied") == total and not any(counts["waiting"].values())

    try:
        eventually(caught_up, "the worker to apply the whole factory", limit=180,
                   state=lambda: (total, worker.get("/status?top=0").body))
        yield worker
    finally:
        stop_worker(process)


def test_forecast_is_the_replays(running: Running, embedded: Engine) -> None:
    answer = running.get(f"/sites/{SITE}/forecast")
    expected = as_json(queries.forecast(queries.forecast_snapshot(embedded, SITE), CONTROL))
    assert answer.status == 200 and answer.body == expected
    assert len(expected["items"]) >= 5 and all(row["holdout_weeks"] > 0 for row in expected["items"])
    item = expected["items"][0]["item"]
    one = running.get(f"/sites/{SITE}/forecast?item={urllib.parse.quote(item)}").body
    assert one["items"][0]["forecast"] == expected["items"][0]["forecast"]
    assert len(one["items"][0]["history"]) == one["items"][0]["weeks"]


def test_safety_stock_is_the_replays(running: Running, embedded: Engine) -> None:
    answer = running.get(f"/sites/{SITE}/safety-stock")
    expected = as_json(queries.safety_stock(embedded, SITE, CONTROL))
    assert answer.status == 200 and answer.body == expected
    assert answer.body["service_level"] == 0.95 and len(answer.body["items"]) > 20
    item = expected["items"][0]["item"]
    assert running.get(f"/sites/{SITE}/safety-stock?item={item}").body["items"] == [expected["items"][0]]


def test_count_schedule_is_the_replays(running: Running, embedded: Engine) -> None:
    answer = running.get(f"/sites/{SITE}/count-schedule")
    expected = as_json(queries.count_schedule(embedded, SITE, CONTROL))
    assert answer.status == 200 and answer.body == expected and expected["counts"] and expected["accuracy"]
    ahead = running.get(f"/sites/{SITE}/count-schedule?date=2026-12-31").body
    assert len(ahead["counts"]) > len(expected["counts"]) and ahead["date"] == "2026-12-31"


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/sites/XX/forecast", 404, "unknown site 'XX'"),
    (f"/sites/{SITE}/forecast?item=NOPE", 404, "unknown item 'NOPE'"),
    (f"/sites/{SITE}/forecast?horizon=3", 400, "unknown parameter 'horizon'"),
    (f"/sites/{SITE}/safety-stock?item=NOPE", 404, "unknown item 'NOPE'"),
    (f"/sites/{SITE}/count-schedule?date=tomorrow", 400, "date must be YYYY-MM-DD"),
])
def test_bad_requests_answer_json_errors(running: Running, path: str, status: int, says: str) -> None:
    answer = running.get(path)
    assert answer.status == status and says in answer.body["error"], answer.body


def test_forecast_command_publishes_what_the_file_forecast_makes(running: Running, embedded: Engine, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = running.settings
    for name in ("bootstrap", "partitions", "topic_prefix"):
        monkeypatch.setenv(f"MILLSTREAM_{name.upper()}", str(getattr(settings, name)))
    sent = tmp_path / "sent.jsonl"
    url = f"http://127.0.0.1:{running.port}"
    assert main(["forecast", "--url", url, "--out", str(sent), "--publish"]) == 0
    from_file, _ = events_of(answers_from_file(running.events, CONTROL))
    assert sent.read_bytes() == b"".join(encode_json(e) + b"\n" for e in from_file)   # the same events
    assert from_file
    # the worker plans them as the replay of the file and its forecast does
    planned = Engine()
    both = tmp_path / "both.jsonl"
    both.write_bytes(running.events.read_bytes() + sent.read_bytes())
    replay(both, planned)

    def applied() -> bool:
        return all(running.get(f"/orders/{urllib.parse.quote(e.demand_id)}?site={SITE}").status == 200
                   for e in from_file)

    eventually(applied, "the worker to apply the forecast demands")
    for item in sorted({e.item for e in from_file}):
        answer = running.get(f"/sites/{SITE}/items/{urllib.parse.quote(item)}/mrp").body
        assert planned.planner is not None
        assert answer == as_json({"site": SITE, **planned.planner.mrp_record(planned.sites[SITE], item)}), item
        assert any(r["kind"] == "forecast" for r in answer["gross_requirements"]), item
    # nothing changed since: asking again sends nothing
    assert main(["forecast", "--url", url, "--out", str(tmp_path / "again.jsonl")]) == 0
    assert (tmp_path / "again.jsonl").read_bytes() == b""
