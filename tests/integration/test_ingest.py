"""``POST /events`` on a real worker over real HTTP: tokens, whole-batch refusal, acknowledged delivery.

One worker process with ``ingest_token`` set takes the requests; the input topics are read back to check
what arrived (once, in order, in envelopes) and what did not.  The worker applies what it took: the query
API shows the stock.  Without a token configured, the same handler (on a plain aiohttp server here) takes
requests without one.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web as aioweb
from test_publish import read_inputs
from workers import OPENER, log_tail, start_worker, stop_worker, worker_env

from connectors.ingest import Ingest
from millstream.settings import Settings
from schemas.codecs import decode_message

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token-for-tests"
TS = "2026-03-02T08:00:00+01:00"


def receipt(event_id: str, site: str, qty: float = 1, item: str = "RAW-1", **extra: Any) -> dict[str, Any]:
    return {"type": "receipt", "event_id": event_id, "ts": TS, "site": site, "item": item, "qty": qty,
            "lot": f"L-{event_id}", **extra}


def request(url: str, body: Any = None, token: str | None = TOKEN, method: str = "POST",
            raw: bytes | None = None, scheme: str = "Bearer") -> tuple[int, dict[str, str], Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with OPENER.open(req, timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def arrived(settings: Settings, prefix: str) -> list[tuple[str, bytes, list[Any]]]:
    """(topic, key, events) of every input message holding events whose id starts with ``prefix``."""
    found = []
    for message in read_inputs(settings):
        events = [e for e in decode_message(message.value()) if e.event_id.startswith(prefix)]
        if events:
            found.append((message.topic(), message.key(), events))
    return found


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory, port_range: Any) -> Iterator[
        tuple[Settings, str]]:
    data_dir = tmp_path_factory.mktemp("ingest-worker")
    settings = Settings(bootstrap=bootstrap, partitions=2, topic_prefix=f"ing{uuid.uuid4().hex[:8]}",
                        web_port=port_range(1), data_dir=str(data_dir), ingest_token=TOKEN)
    process = start_worker(worker_env(settings, ingest_token=TOKEN), data_dir / "worker.log")
    url = f"http://127.0.0.1:{settings.web_port}"
    try:
        deadline = time.monotonic() + 180
        while True:   # up once its web server answers anything
            try:
                OPENER.open(f"{url}/status", timeout=5).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                assert process.poll() is None, log_tail(data_dir / "worker.log")
                assert time.monotonic() < deadline, "the worker's web server did not come up"
                time.sleep(0.5)
        yield settings, url
    finally:
        stop_worker(process)


@pytest.mark.parametrize(("token", "scheme", "error"), [
    (None, "Bearer", "a bearer token is required"),
    ("wrong", "Bearer", "wrong bearer token"),
    (TOKEN[:-1], "Bearer", "wrong bearer token"),
    (TOKEN, "Basic", "a bearer token is required"),
])
def test_without_the_token_nothing_is_taken(worker: tuple[Settings, str], token: str | None, scheme: str,
                                           error: str) -> None:
    settings, url = worker
    prefix = f"unauth-{uuid.uuid4().hex[:6]}-"
    status, headers, body = request(f"{url}/events", [receipt(f"{prefix}1", "ING9")], token=token, scheme=scheme)
    assert status == 401 and body["error"].startswith(error)
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert arrived(settings, prefix) == []


def test_a_good_batch_is_answered_once_kafka_has_it_in_envelopes_per_site(worker: tuple[Settings, str]) -> None:
    settings, url = worker
    prefix = f"good-{uuid.uuid4().hex[:6]}-"
    batch = [receipt(f"{prefix}{n}", site=("ING1", "ING2")[n % 2], qty=n + 1) for n in range(7)]
    batch.insert(3, {"type": "item", "event_id": f"{prefix}item", "ts": TS, "item": "RAW-1", "source": "buy"})
    batch.append({"type": "demand", "event_id": f"{prefix}d", "ts": TS, "site": "ING1", "demand_id": "D1",
                  "item": "RAW-1", "qty": 2, "due": "2026-03-20"})
    status, _headers, body = request(f"{url}/events", batch)
    assert status == 200, body
    topic = settings.topic
    assert body == {"accepted": 9, "messages": 4,
                    "topics": {topic("inventory"): 7, topic("master"): 1, topic("demand"): 1}}
    messages = arrived(settings, prefix)   # read after the answer: Kafka acknowledged everything already
    inventory = {key: [e.event_id for e in events] for t, key, events in messages if t == topic("inventory")}
    assert inventory == {b"ING1": [f"{prefix}{n}" for n in (0, 2, 4, 6)], b"ING2": [f"{prefix}{n}" for n in (1, 3, 5)]}
    assert sorted((t, len(events)) for t, _k, events in messages) == [
        (topic("demand"), 1), (topic("inventory"), 3), (topic("inventory"), 4), (topic("master"), 1)]


def test_one_bad_event_refuses_the_whole_batch_and_names_each_bad_one(worker: tuple[Settings, str]) -> None:
    settings, url = worker
    prefix = f"bad-{uuid.uuid4().hex[:6]}-"
    no_site = receipt(f"{prefix}1", "ING1")
    del no_site["site"]
    batch = [receipt(f"{prefix}0", "ING1"), no_site, receipt(f"{prefix}2", "ING1", qty=-3),
             {"type": "teleport", "event_id": f"{prefix}3", "ts": TS}, receipt(f"{prefix}4", "ING1")]
    status, _headers, body = request(f"{url}/events", batch)
    assert status == 400
    assert body["accepted"] == 0 and body["error"] == "3 of 5 events invalid; nothing was sent"
    assert [row["index"] for row in body["invalid"]] == [1, 2, 3]
    assert body["invalid"][0]["reason"] == "event needs a site"
    assert "$.qty" in body["invalid"][1]["reason"]
    assert body["invalid"][2]["reason"] == "unknown event type: teleport"
    assert arrived(settings, prefix) == []   # not even the good ones: fix the batch and send it again


def test_an_envelope_or_a_single_event_is_a_batch_too(worker: tuple[Settings, str]) -> None:
    settings, url = worker
    prefix = f"env-{uuid.uuid4().hex[:6]}-"
    events = [receipt(f"{prefix}{n}", "ING3") for n in range(3)]
    for event in events:
        del event["site"]   # the envelope's site
    status, _h, body = request(f"{url}/events", {"type": "envelope", "site": "ING3", "events": events})
    assert (status, body["accepted"], body["messages"]) == (200, 3, 1)
    status, _h, body = request(f"{url}/events", receipt(f"{prefix}single", "ING3"))
    assert (status, body["accepted"]) == (200, 1)
    status, _h, body = request(f"{url}/events", {"type": "envelope", "site": "ING3",
                                                 "events": [receipt(f"{prefix}x", "ING4")]})
    assert status == 400 and body["invalid"][0]["index"] == 0 and "differs from envelope site" in \
        body["invalid"][0]["reason"]
    assert [[e.event_id for e in events] for _t, _k, events in arrived(settings, prefix)] == [
        [f"{prefix}0", f"{prefix}1", f"{prefix}2"], [f"{prefix}single"]]


@pytest.mark.parametrize(("raw", "status", "error"), [
    (b'{"type": "receipt", "event_id": ', 400, "malformed message"),
    (b"[]", 400, "no events in the request"),
    (b"scan,123", 400, "the body must be a JSON object"),
])
def test_bodies_without_events_are_refused(worker: tuple[Settings, str], raw: bytes, status: int,
                                           error: str) -> None:
    _settings, url = worker
    answer, _h, body = request(f"{url}/events", raw=raw)
    assert answer == status and error in (body["error"] + json.dumps(body.get("invalid", []))), body


def test_reasons_that_echo_the_input_stay_text(worker: tuple[Settings, str]) -> None:
    _settings, url = worker
    req = urllib.request.Request(f"{url}/events", data=json.dumps({"type": "<b>x</b>&"}).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        OPENER.open(req, timeout=60)
    raw = refused.value.read()
    assert refused.value.code == 400 and b"<" not in raw and b"&" not in raw
    assert json.loads(raw)["invalid"][0]["reason"] == "unknown event type: <b>x</b>&"


def test_only_post_is_served(worker: tuple[Settings, str]) -> None:
    _settings, url = worker
    status, _h, body = request(f"{url}/events", method="GET")
    assert status == 405 and "error" in body


def test_the_worker_applies_what_it_took(worker: tuple[Settings, str]) -> None:
    _settings, url = worker
    prefix = f"apply-{uuid.uuid4().hex[:6]}-"
    item = {"type": "item", "event_id": f"{prefix}item", "ts": TS, "item": "RAW-7", "source": "buy"}
    status, _h, _b = request(f"{url}/events", [item, *(receipt(f"{prefix}{n}", "ING7", qty=2.5, item="RAW-7")
                                                       for n in range(4))])
    assert status == 200
    deadline = time.monotonic() + 120
    while True:
        answer, _h, body = request(f"{url}/sites/ING7/items/RAW-7", method="GET", token=None)
        if answer == 200 and body["physical"] == 10:
            break
        assert time.monotonic() < deadline, (answer, body)
        time.sleep(0.5)


def test_without_a_configured_token_anyone_may_send(bootstrap: str) -> None:
    """The handler on a plain aiohttp server (real HTTP, real broker), settings without ``ingest_token``."""
    from streams.topics import ensure_topics

    settings = Settings(bootstrap=bootstrap, partitions=2, topic_prefix=f"ingopen{uuid.uuid4().hex[:8]}")
    ensure_topics(settings)
    prefix = "open-"

    async def serve_and_post() -> tuple[int, Any]:
        ingest = Ingest(settings)
        try:
            return await _post_to_handler(ingest, json.dumps([receipt(f"{prefix}1", "OPEN1")]).encode())
        finally:
            await ingest.stop()

    status, body = asyncio.run(serve_and_post())
    assert (status, body["accepted"]) == (200, 1), body
    assert [[e.event_id for e in events] for _t, _k, events in arrived(settings, prefix)] == [[f"{prefix}1"]]


async def _post_to_handler(ingest: Ingest, data: bytes) -> tuple[int, Any]:
    """POST ``data`` over real HTTP to ``ingest`` served by a plain aiohttp server; (status, JSON answer)."""
    app = aioweb.Application()
    app.router.add_post("/events", ingest.handle)
    runner = aioweb.AppRunner(app, lingering_time=0)   # do not read a refused body to its end before closing
    await runner.setup()
    await aioweb.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session, session.post(
                f"http://127.0.0.1:{port}/events", data=io.BytesIO(data),
                headers={"Content-Type": "application/json"}) as response:
            return response.status, await response.json()
    finally:
        await runner.cleanup()


def test_an_unacknowledged_batch_is_answered_503_with_its_events(port_range: Any) -> None:
    """No broker where the settings point (a closed port): Kafka never acknowledges, the client must retry."""
    settings = Settings(bootstrap=f"127.0.0.1:{port_range(1)}", topic_prefix="nowhere")
    ingest = Ingest(settings, delivery_timeout=2.0)
    batch = [receipt("n0", "S1"), receipt("n1", "S2"), receipt("n2", "S1")]

    async def post_and_stop() -> tuple[int, Any]:
        try:
            return await _post_to_handler(ingest, json.dumps(batch).encode())
        finally:
            await ingest.stop()

    status, body = asyncio.run(post_and_stop())
    assert status == 503 and body["error"].startswith("Kafka did not acknowledge 3 of 3 events")
    assert [row["index"] for row in body["failed"]] == [0, 1, 2]
    assert all(row["reason"].startswith("not delivered") for row in body["failed"])


def test_a_body_over_the_limit_is_refused_413(port_range: Any) -> None:
    from connectors.ingest import MAX_BODY_BYTES

    ingest = Ingest(Settings(bootstrap=f"127.0.0.1:{port_range(1)}"))
    status, body = asyncio.run(_post_to_handler(ingest, b"[" + b" " * MAX_BODY_BYTES + b"]"))
    assert status == 413 and "send smaller batches" in body["error"]
