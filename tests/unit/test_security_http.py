"""The HTTP API's access rules over real HTTP: the bearer token, size limits, nothing echoed as markup.

Two workers (the stand-in Faust apps of ``test_status_http``) share an
``api_token``; a query for a site the other one owns is forwarded with the
token.  One test runs the views on Faust's own web server, with Faust's own
pages and ``POST /events`` mounted as in the worker.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from test_metrics import run_sample
from test_status_http import FakeFaustApp, Servers

from millstream.settings import Settings
from monitoring.metrics import Metrics
from streams.routing import WORKER_HEADER, site_partition
from streams.web import MAX_QUERY_BODY, MAX_URL_BYTES, bearer_matches, register_views

TOKEN = "query-token-7f3a"
SETTINGS = Settings(api_token=TOKEN)


def request(url: str, method: str = "GET", token: str | None = TOKEN, body: bytes | None = None,
            headers: dict[str, str] | None = None, chunked: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request on a fresh connection: status, headers (lower-case names), body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        if chunked:
            connection.request(method, path, body=iter([body or b""]), headers=sent, encode_chunked=True)
        else:
            connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def workers() -> Iterator[list[str]]:
    """The first worker owns DK1 (and holds the sample), the second owns US1; both ask for the token."""
    metrics, other = Metrics(), Metrics()
    processor, _, _ = run_sample(metrics)
    second_processor, _, _ = run_sample(other)
    topic = SETTINGS.topic("inventory")
    dk1, us1 = site_partition("DK1", SETTINGS.partitions), site_partition("US1", SETTINGS.partitions)
    distribution: dict[str, dict[str, list[int]]] = {}
    servers = Servers()
    try:
        first, second = FakeFaustApp(distribution), FakeFaustApp(distribution)
        register_views(first, processor.engine, SETTINGS, metrics)
        register_views(second, second_processor.engine, SETTINGS, other)
        urls = [servers.start(first), servers.start(second)]
        distribution[urls[0]] = {topic: [p for p in range(SETTINGS.partitions) if p != us1]}
        distribution[urls[1]] = {topic: [us1]}
        assert dk1 != us1
        yield urls
    finally:
        servers.close()


@pytest.mark.parametrize("path", ["/sites/DK1/shortages", "/sites/DK1/items/HA-100", "/orders/dk1-mo-1",
                                  "/status", "/lots/L1/trace", "/no-such-path"])
def test_every_query_path_asks_for_the_token(workers: list[str], path: str) -> None:
    code, headers, body = request(workers[0] + path, token=None)
    assert code == 401 and headers["www-authenticate"] == 'Bearer realm="millstream"'
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": "a bearer token is required: Authorization: Bearer <api_token>"}


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}",
                                           TOKEN, f"Bearer {TOKEN.upper()}"])
def test_a_wrong_token_is_refused(workers: list[str], authorization: str) -> None:
    code, headers, body = request(workers[0] + "/sites/DK1/shortages", token=None,
                                  headers={"Authorization": authorization})
    assert code == 401 and "invalid_token" in headers["www-authenticate"]
    assert json.loads(body)["error"] == "wrong bearer token"


def test_the_token_opens_the_api_and_travels_with_forwarded_requests(workers: list[str]) -> None:
    code, headers, body = request(workers[0] + "/sites/DK1/shortages", headers={})
    assert code == 200 and json.loads(body)["shortages"]
    assert headers[WORKER_HEADER.lower()] == workers[0]
    # US1 is the second worker's: the first asks it, showing the shared token (else the answer would be 401)
    code, headers, body = request(workers[0] + "/sites/US1/shortages")
    assert code == 200, body
    assert headers[WORKER_HEADER.lower()] == workers[1]
    code, _, body = request(workers[1] + "/status?top=1")
    assert code == 200 and {row["site"] for row in json.loads(body)["sites"]} == {"DK1", "US1"}


def test_the_scheme_is_case_blind_and_the_token_is_not() -> None:
    assert bearer_matches(f"bearer {TOKEN}", TOKEN) and bearer_matches(f"BEARER  {TOKEN} ", TOKEN)
    assert not bearer_matches(f"Bearer {TOKEN.upper()}", TOKEN)
    assert not bearer_matches(None, TOKEN) and not bearer_matches("", TOKEN)


def test_metrics_stay_open_unless_metrics_auth(workers: list[str]) -> None:
    code, headers, body = request(workers[0] + "/metrics", token=None)
    assert code == 200 and b"millstream_events_rejected_total" in body
    assert headers["x-content-type-options"] == "nosniff"
    servers = Servers()
    try:
        app = FakeFaustApp({})
        register_views(app, run_sample(Metrics())[0].engine, Settings(api_token=TOKEN, metrics_auth=True), Metrics())
        url = servers.start(app)
        assert request(url + "/metrics", token=None)[0] == 401
        assert request(url + "/metrics", token="nope")[0] == 401
        assert request(url + "/metrics")[0] == 200
    finally:
        servers.close()


def test_no_token_configured_leaves_the_api_open() -> None:
    servers = Servers()
    try:
        app = FakeFaustApp({})
        register_views(app, run_sample(Metrics())[0].engine, Settings(), Metrics())
        url = servers.start(app)
        code, _, body = request(url + "/status", token=None)
        assert code == 200 and json.loads(body)["sites"]
    finally:
        servers.close()


def test_bodies_are_refused_where_none_is_taken(workers: list[str]) -> None:
    code, headers, body = request(workers[0] + "/status", body=b"x" * (MAX_QUERY_BODY + 1))
    assert code == 413 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"].startswith("this path takes no request body")
    assert request(workers[0] + "/status", body=b"x", chunked=True)[0] == 413   # size unknown: refused too
    assert request(workers[0] + "/status", token=None, body=b"x" * 10_000)[0] == 413   # before the token check
    assert request(workers[0] + "/status", body=b"{}")[0] == 200   # a small stray body is ignored


def test_overlong_urls_are_refused_in_json(workers: list[str]) -> None:
    item = "I" * (MAX_URL_BYTES - len("/sites/DK1/items/") + 1)
    code, headers, body = request(f"{workers[0]}/sites/DK1/items/{item}")
    assert code == 414 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"].startswith(f"URL over {MAX_URL_BYTES} bytes")
    code, _, body = request(f"{workers[0]}/sites/DK1/items/{'I' * 201}")   # under the URL limit, over the key's
    assert code == 400 and json.loads(body)["error"] == "item must be 1 to 200 printable characters"


@pytest.mark.parametrize(("path", "status"), [
    ("/sites/DK1/items/{x}", 404), ("/sites/{x}/shortages", 404), ("/orders/{x}", 404), ("/status?{x}=1", 400),
    ("/nothing/{x}", 400),
])
def test_echoed_input_is_escaped_json(workers: list[str], path: str, status: int) -> None:
    evil = '<script>alert("x")</script>&\\'
    code, headers, body = request(workers[0] + path.replace("{x}", quote(evil, safe="")))
    assert code == status, body
    assert headers["content-type"] == "application/json" and headers["x-content-type-options"] == "nosniff"
    assert b"<" not in body and b">" not in body and b"&" not in body   # as \u escapes
    assert evil in json.loads(body)["error"]   # the same text to a JSON reader


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_faust_s_own_pages_and_post_events_on_faust_s_web_server() -> None:
    """Faust's web server: its index page asks for api_token too; POST /events keeps ingest_token."""
    import faust

    port = _free_port()
    settings = Settings(api_token=TOKEN, ingest_token="ingest-token-9c1d")
    app = faust.App("millstream-securitycheck", broker="kafka://127.0.0.1:9", web_host="127.0.0.1",
                    web_bind="127.0.0.1", web_port=port)
    register_views(app, run_sample(Metrics())[0].engine, settings, Metrics())
    base = f"http://127.0.0.1:{port}"

    async def serve() -> list[tuple[int, dict[str, str], bytes]]:
        app.web.blueprints.apply(app.web)   # as the worker does when it starts
        await app.web.start()
        try:
            loop = asyncio.get_running_loop()
            calls: list[dict[str, Any]] = [
                {"url": base + "/", "token": None},
                {"url": base + "/", "token": TOKEN},
                {"url": base + "/status", "token": None},
                {"url": base + "/events", "method": "POST", "token": TOKEN, "body": b"[]"},
                {"url": base + "/events", "method": "POST", "token": "ingest-token-9c1d", "body": b"[]"},
                {"url": base + "/metrics", "token": None},
            ]
            return [await loop.run_in_executor(None, lambda c=c: request(**c)) for c in calls]
        finally:
            await app.web.stop()

    index_open, index_token, status, events_api_token, events_ingest_token, metrics = asyncio.run(serve())
    assert index_open[0] == 401 and index_token[0] == 200
    assert status[0] == 401
    assert events_api_token[0] == 401 and json.loads(events_api_token[2])["error"] == "wrong bearer token"
    assert events_ingest_token[0] == 400 and json.loads(events_ingest_token[2])["error"] == "no events in the request"
    assert metrics[0] == 200 and metrics[1]["x-content-type-options"] == "nosniff"
