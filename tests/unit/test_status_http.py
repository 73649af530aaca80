"""``/metrics``, ``/status`` and ``millstream status`` over real HTTP, without a broker.

The views are the worker's own (``streams.web.register_views``), mounted on a
plain aiohttp server by a stand-in for the Faust app that gives them what they
read from it: ``page``, the web app, the canonical URL and the partition
assignment.  Two such workers own one sample site each, so ``/status`` on
either one shows both (the peer asked over HTTP, as in the service).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web as aioweb
from prometheus_client.parser import text_string_to_metric_families
from test_metrics import run_sample

from core import queries
from millstream import cli
from millstream.settings import Settings
from monitoring import status
from monitoring.metrics import Metrics
from streams.routing import site_partition
from streams.web import register_views

SETTINGS = Settings()
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class FakeFaustApp:
    """What ``register_views`` and ``SiteRouter`` use of a Faust app, over a plain aiohttp application."""

    def __init__(self, distribution: dict[str, dict[str, list[int]]]) -> None:
        self.web = SimpleNamespace(web_app=aioweb.Application())
        self.conf = SimpleNamespace(canonical_url="")
        self.router = SimpleNamespace(external_topics_metadata=lambda: distribution)
        self.consumer = SimpleNamespace(topic_partitions=lambda _topic: SETTINGS.partitions)
        self.http_client: aiohttp.ClientSession | None = None

    def page(self, path: str) -> Callable[[Any], Any]:
        def register(view: Any) -> Any:
            async def handler(request: aioweb.Request) -> aioweb.StreamResponse:
                return await view(None, request, **request.match_info)

            self.web.web_app.router.add_get(path, handler)
            return view

        return register


class Servers:
    """aiohttp servers on one event loop in a thread; stopped (sessions closed) on exit."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runners: list[aioweb.AppRunner] = []
        self.apps: list[FakeFaustApp] = []

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def start(self, app: FakeFaustApp) -> str:
        async def go() -> str:
            app.http_client = aiohttp.ClientSession()
            runner = aioweb.AppRunner(app.web.web_app)
            await runner.setup()
            site = aioweb.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.runners.append(runner)
            port = runner.addresses[0][1]
            return f"http://127.0.0.1:{port}"

        url = self.run(go())
        app.conf.canonical_url = url
        self.apps.append(app)
        return url

    def close(self) -> None:
        async def stop() -> None:
            for app in self.apps:
                if app.http_client is not None:
                    await app.http_client.close()
            for runner in self.runners:
                await runner.cleanup()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with _OPENER.open(url, timeout=15) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


@pytest.fixture(scope="module")
def workers() -> Iterator[tuple[list[str], Any, Metrics]]:
    """Two workers: the first holds the sample's engine and owns DK1, the second (no engine state) owns US1."""
    metrics = Metrics()
    processor, _, _ = run_sample(metrics)
    topic = SETTINGS.topic("inventory")
    dk1, us1 = site_partition("DK1", SETTINGS.partitions), site_partition("US1", SETTINGS.partitions)
    assert dk1 != us1
    distribution: dict[str, dict[str, list[int]]] = {}
    servers = Servers()
    try:
        first, second = FakeFaustApp(distribution), FakeFaustApp(distribution)
        register_views(first, processor.engine, SETTINGS, metrics)
        other = Metrics()
        run_sample(other)   # the second worker's engine also saw everything, but owns only US1
        register_views(second, other.engine, SETTINGS, other)
        urls = [servers.start(first), servers.start(second)]
        rest = [p for p in range(SETTINGS.partitions) if p not in (dk1, us1)]
        distribution[urls[0]] = {topic: [dk1, *rest]}
        distribution[urls[1]] = {topic: [us1]}
        metrics.set_lag({(SETTINGS.topic("production"), dk1): 4, (SETTINGS.topic("production"), us1): 99})
        other.set_lag({(SETTINGS.topic("demand"), us1): 7})
        yield urls, processor.engine, metrics
    finally:
        servers.close()


def test_metrics_are_served_in_the_prometheus_text_format(workers: Any) -> None:
    urls, engine, _ = workers
    code, content_type, body = get(f"{urls[0]}/metrics")
    assert code == 200 and content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    rejected = sum(s.value for s in families["millstream_events_rejected"].samples if s.name.endswith("_total"))
    assert rejected == 6
    shortages = {s.labels["site"]: s.value for s in families["millstream_open_shortages"].samples}
    assert shortages == {"DK1": len(queries.shortages(engine, "DK1")["shortages"])}   # US1 is the other's
    code, content_type, body = get(f"{urls[1]}/metrics")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert {s.labels["site"] for s in families["millstream_open_shortages"].samples} == {"US1"}


def test_status_merges_the_answers_of_every_worker(workers: Any) -> None:
    urls, engine, _ = workers
    code, content_type, body = get(f"{urls[1]}/status?top=2")
    assert code == 200 and content_type == "application/json"
    answer = json.loads(body)
    assert [w["worker"] for w in answer["workers"]] == [urls[1], urls[0]]
    sites = {row["site"]: row for row in answer["sites"]}
    assert set(sites) == {"DK1", "US1"}
    assert sites["DK1"]["worker"] == urls[0] and sites["US1"]["worker"] == urls[1]
    assert sites["DK1"]["open_shortages"] == len(queries.shortages(engine, "DK1")["shortages"])
    assert sites["DK1"]["lag"] == 4 and sites["US1"]["lag"] == 7
    assert len(sites["DK1"]["busiest_items"]) == 2
    first, second = sites["DK1"]["busiest_items"]
    assert first["outputs"] >= second["outputs"] > 0
    assert answer["workers"][1]["events"]["rejected"] == 6
    for top in ("many", "%C2%B2", "101"):   # "²" is a digit to str.isdigit, not to int()
        code, _, body = get(f"{urls[0]}/status?top={top}")
        assert code == 400 and "top must be" in json.loads(body)["error"], top


def test_status_lists_a_peer_that_does_not_answer(workers: Any) -> None:
    urls, _, _ = workers
    app = FakeFaustApp({urls[0]: {SETTINGS.topic("inventory"): [0]}, "http://127.0.0.1:9": {}})
    # the stand-in answers for itself with the first worker's URL: only the unreachable peer is asked
    servers = Servers()
    try:
        metrics = Metrics()
        register_views(app, run_sample(metrics)[0].engine, SETTINGS, metrics)
        url = servers.start(app)
        app.conf.canonical_url = urls[0]
        code, _, body = get(f"{url}/status")
    finally:
        servers.close()
    assert code == 200
    down = [w for w in json.loads(body)["workers"] if w.get("error")]
    assert [w["worker"] for w in down] == ["http://127.0.0.1:9"]


def test_millstream_status_prints_sites_shortages_busiest_items_and_lag(workers: Any) -> None:
    urls, engine, _ = workers
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["status", "--url", urls[0], "--top", "3"]) == 0
    text = out.getvalue()
    dk1 = queries.shortages(engine, "DK1")["shortages"]
    assert f"site DK1 (partition {site_partition('DK1', SETTINGS.partitions)}, worker {urls[0]}): " \
           f"{len(dk1)} open shortages" in text
    assert "lag 4" in text and "lag 7" in text
    assert f"  short  {dk1[0]['item']}  {dk1[0]['qty']} on {dk1[0]['date']}" in text
    assert f"  ... and {len(dk1) - 3} more" in text
    assert "busiest (outputs): " in text
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["status", "--url", urls[0], "--format", "json"]) == 0
    assert {row["site"] for row in json.loads(out.getvalue())["sites"]} == {"DK1", "US1"}


def test_millstream_status_says_when_no_worker_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--url", "http://127.0.0.1:9"]) == 1
    assert "no status from http://127.0.0.1:9" in capsys.readouterr().err


def test_render_keeps_control_characters_off_the_terminal() -> None:
    report = {"workers": [{"worker": "http://w\x1b[2J", "lag": 0, "events": {}}],
              "sites": [{"site": "S\x1b]0;owned\x07", "worker": "w", "partition": 1, "open_shortages": 1,
                         "planned_orders": 0, "lag": 0, "shortages": [
                             {"item": "I\r\nX", "qty": 1, "date": "2026-01-01"}],
                         "busiest_items": [{"item": "\x1b[31mred", "outputs": 2}]}]}
    text = status.render(report)
    assert "\x1b" not in text and "\r" not in text and "\x07" not in text
    assert "site S?]0;owned?" in text and "I??X" in text and "?[31mred (2)" in text


def test_the_views_run_in_faust_s_own_web_server() -> None:
    """The same views on a real Faust app's web server (no broker needed before the worker starts)."""
    import socket

    import faust

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    metrics = Metrics()
    processor, _, _ = run_sample(metrics)
    app = faust.App("millstream-webcheck", broker="kafka://127.0.0.1:9", web_host="127.0.0.1",
                    web_bind="127.0.0.1", web_port=port)
    register_views(app, processor.engine, SETTINGS, metrics)

    async def serve() -> list[tuple[int, str, bytes]]:
        app.web.blueprints.apply(app.web)   # as the worker does when it starts
        await app.web.start()
        try:
            loop = asyncio.get_running_loop()
            return [await loop.run_in_executor(None, get, f"http://127.0.0.1:{port}{path}")
                    for path in ("/metrics", "/status?top=1")]
        finally:
            await app.web.stop()

    (code, content_type, body), (status_code, _, status_body) = asyncio.run(serve())
    assert code == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert b'millstream_events_rejected_total{topic="millstream.inventory",type="invalid"} 2.0' in body
    assert status_code == 200
    answer = json.loads(status_body)
    assert {row["site"] for row in answer["sites"]} == {"DK1", "US1"}   # no assignment yet: all it holds
    assert all(len(row["busiest_items"]) == 1 for row in answer["sites"])
