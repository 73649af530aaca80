"""SASL_SSL end to end: a broker of its own with SCRAM users and a throwaway CA, a real worker, real clients.

The worker (a separate process, settings from the environment as in
production) creates nothing itself but reads, plans and writes over SASL_SSL;
its outputs must equal a replay of the sample.  A wrong password, a client
without TLS and a client that does not trust the CA are refused, by name,
and consume nothing.  Only the broker started here is stopped.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from outputs import read_outputs_until
from workers import OPENER, start_worker, stop_worker, worker_env

from connectors.publisher import publish_lines
from connectors.replay import replay
from core.engine import Engine
from core.reports import report
from millstream import broker
from millstream.kafka_security import KafkaAccessError, confluent_config, connect_admin
from millstream.settings import Settings
from streams.changelog import app_id
from streams.topics import ensure_topics, topic_specs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "millstream" / "samples" / "hearing_devices.jsonl"
USER, PASSWORD = "planner", secrets.token_urlsafe(18)
TOKEN = secrets.token_urlsafe(18)


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory, port_range: Any) -> Iterator[broker.ClusterInfo]:
    data_dir = tmp_path_factory.mktemp("kafka-sasl-ssl")
    info = broker.start(nodes=1, port=port_range(2), data_dir=data_dir, timeout=120.0, security="SASL_SSL",
                        users={USER: PASSWORD})
    try:
        yield info
    finally:
        broker.stop(data_dir)


def settings_for(info: broker.ClusterInfo, tmp_path_factory: pytest.TempPathFactory, web_port: int,
                 **extra: Any) -> Settings:
    return Settings(bootstrap=info.bootstrap_servers, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                    sasl_username=USER, sasl_password=PASSWORD, ssl_cafile=info.ssl_cafile, partitions=2,
                    topic_prefix=f"s{uuid.uuid4().hex[:8]}", web_port=web_port, api_token=TOKEN,
                    data_dir=str(tmp_path_factory.mktemp("worker")), **extra)


#: every setting, in the environment as a container gets them
ALL_SETTINGS = tuple(f.name for f in dataclasses.fields(Settings))


def secure_worker(settings: Settings) -> tuple[subprocess.Popen[bytes], Path]:
    """``millstream worker`` with every setting in its environment, logging at info (its refusals)."""
    log = Path(settings.data_dir) / "worker.log"
    return start_worker(worker_env(settings, ALL_SETTINGS), log, loglevel="info"), log


def drain(settings: Settings, names: list[str], quiet: float = 6.0, limit: float = 180.0) -> list[tuple]:
    """Every record of the topics, read over SASL_SSL from the first one until nothing new came for ``quiet`` s."""
    return read_outputs_until(settings, names, bool, limit=limit, quiet=quiet)


def http_get(url: str, token: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with OPENER.open(request, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def worker_run(secure_broker: broker.ClusterInfo, tmp_path_factory: pytest.TempPathFactory,
               port_range: Any) -> Iterator[tuple[Settings, list[str], list[tuple], subprocess.Popen[bytes], Path]]:
    settings = settings_for(secure_broker, tmp_path_factory, port_range(1))
    created = ensure_topics(settings)   # the admin client, over SASL_SSL
    publish_lines(SAMPLE.read_bytes().splitlines(), settings)
    process, log = secure_worker(settings)
    try:
        records = drain(settings, ["planned-orders", "shortages"])
        assert process.poll() is None, log.read_text()[-3000:]
        yield settings, created, records, process, log
    finally:
        stop_worker(process)


def test_the_admin_client_creates_the_topics_over_sasl_ssl(worker_run: tuple) -> None:
    settings, created, *_ = worker_run
    assert created == sorted(spec.name for spec in topic_specs(settings))
    _, metadata = connect_admin(settings, timeout=30)
    assert set(created) <= set(metadata.topics)


def test_the_worker_plans_over_sasl_ssl_as_the_replay_does(worker_run: tuple) -> None:
    settings, _, records, _, _ = worker_run
    latest: dict[bytes, dict] = {}
    for topic, key, value in records:
        if topic == settings.topic("planned-orders"):
            latest[key] = json.loads(value)
    live = {(o["site"], o["planned_id"], str(o["qty"]), o["release"], o["due"])
            for o in latest.values() if o.get("action") != "delete"}
    engine = Engine()
    replay(SAMPLE, engine)
    expected = {(r["site"], r["planned_id"], str(r["qty"]), r["release"], r["due"]) for r in report(engine, "planned")}
    assert expected and live == expected


def test_the_secured_worker_s_query_api_asks_for_the_token(worker_run: tuple) -> None:
    settings, _, records, _, _ = worker_run
    url = f"http://127.0.0.1:{settings.web_port}/sites/DK1/shortages"
    code, body = http_get(url, None)
    assert code == 401 and json.loads(body)["error"].startswith("a bearer token is required")
    assert http_get(url, "not-the-token")[0] == 401
    code, body = http_get(url, TOKEN)
    open_shortages = {json.loads(v)["shortage_id"] for t, _k, v in records
                      if t == settings.topic("shortages") and json.loads(v)["site"] == "DK1"}
    assert code == 200 and open_shortages >= {s["shortage_id"] for s in json.loads(body)["shortages"]}
    code, body = http_get(f"http://127.0.0.1:{settings.web_port}/metrics", None)   # open: Prometheus scrapes it
    assert code == 200 and PASSWORD.encode() not in body and TOKEN.encode() not in body


def test_no_secret_reaches_the_worker_log(worker_run: tuple) -> None:
    *_, log = worker_run
    text = log.read_text(errors="replace")
    assert "master data read up to where it stood at start" in text   # the log is there, at info level
    assert PASSWORD not in text and TOKEN not in text


def test_a_wrong_password_is_refused_and_nothing_is_consumed(secure_broker: broker.ClusterInfo,
                                                             tmp_path_factory: pytest.TempPathFactory,
                                                             port_range: Any) -> None:
    good = settings_for(secure_broker, tmp_path_factory, port_range(1))
    ensure_topics(good)
    publish_lines(SAMPLE.read_bytes().splitlines()[:20], good)
    bad = dataclasses.replace(good, sasl_password=PASSWORD + "x")
    process, log = secure_worker(bad)
    try:
        assert process.wait(120) == 1
    finally:
        stop_worker(process)
    text = log.read_text()
    assert f"refused user '{USER}' (SCRAM-SHA-512 over SASL_SSL)" in text
    assert "Authentication failed" in text and PASSWORD not in text
    with pytest.raises(KafkaAccessError, match="Authentication failed during authentication due to invalid"):
        connect_admin(bad, timeout=30)
    published = subprocess.run([sys.executable, "-m", "millstream.cli", "publish", str(SAMPLE)],
                               env=worker_env(bad, ALL_SETTINGS), cwd=ROOT,
                               capture_output=True, text=True, timeout=120)
    assert published.returncode == 1 and f"refused user '{USER}'" in published.stderr
    # a consumer of the inputs with the wrong password: an authentication error, no record
    errors: list[KafkaError] = []
    consumer = Consumer({**confluent_config(bad), "group.id": app_id(bad), "auto.offset.reset": "earliest",
                         "error_cb": errors.append})
    consumer.subscribe([bad.topic("inventory"), bad.topic("master")])
    try:
        got = [m for m in (consumer.poll(0.5) for _ in range(12)) if m is not None and m.error() is None]
    finally:
        consumer.close()
    assert got == [] and any(e.code() == KafkaError._AUTHENTICATION for e in errors)
    # ... and the worker's group committed nothing, its outputs are empty (checked with the right password)
    checker = Consumer({**confluent_config(good), "group.id": app_id(good), "enable.auto.commit": False})
    try:
        inputs = [TopicPartition(good.topic(t), p) for t in ("master", "inventory", "demand") for p in range(2)]
        assert all(tp.offset < 0 for tp in checker.committed(inputs, timeout=30))
        for topic in ("planned-orders", "shortages", "rejected"):
            for partition in range(2):
                assert checker.get_watermark_offsets(TopicPartition(good.topic(topic), partition), timeout=30)[1] == 0
        assert checker.get_watermark_offsets(TopicPartition(good.topic("master"), 0), timeout=30)[1] > 0
    finally:
        checker.close()


def test_without_tls_or_without_the_ca_nothing_connects(secure_broker: broker.ClusterInfo,
                                                        tmp_path_factory: pytest.TempPathFactory,
                                                        port_range: Any) -> None:
    good = settings_for(secure_broker, tmp_path_factory, port_range(1))
    no_tls = dataclasses.replace(good, security_protocol="SASL_PLAINTEXT", ssl_cafile="")
    with pytest.raises(KafkaAccessError, match=r"no Kafka broker answered .* over SASL_PLAINTEXT within 5 s"):
        connect_admin(no_tls, timeout=5)
    plaintext = dataclasses.replace(no_tls, security_protocol="PLAINTEXT", sasl_username="", sasl_password="")
    with pytest.raises(KafkaAccessError, match="over PLAINTEXT"):
        connect_admin(plaintext, timeout=5)
    assert broker.probe(secure_broker.nodes[0].port) is None   # the plain Kafka protocol gets no answer
    untrusted = dataclasses.replace(good, ssl_cafile="")   # the system's trust store: the throwaway CA is not in it
    with pytest.raises(KafkaAccessError, match="certificate verify failed"):
        connect_admin(untrusted, timeout=30)


def test_the_broker_reports_and_keeps_its_sasl_ssl_listener(secure_broker: broker.ClusterInfo) -> None:
    status = broker.status(secure_broker.data_dir)
    assert status["security_protocol"] == "SASL_SSL" and status["ssl_cafile"] == secure_broker.ssl_cafile
    assert [n["answering"] for n in status["nodes"]] == [True]   # asked over SASL_SSL with the client user
    again = broker.start(nodes=1, port=secure_broker.nodes[0].port, data_dir=secure_broker.data_dir,
                         security="SASL_SSL", users={USER: PASSWORD})
    assert again.already_running and again.nodes[0].pid == secure_broker.nodes[0].pid
    with pytest.raises(broker.BrokerError, match="SCRAM users"):
        broker.start(nodes=1, port=secure_broker.nodes[0].port, data_dir=secure_broker.data_dir,
                     security="SASL_SSL", users={USER: "another password"})
    with pytest.raises(broker.BrokerError, match="holds a SASL_SSL cluster, not PLAINTEXT"):
        broker.start(nodes=1, port=secure_broker.nodes[0].port, data_dir=secure_broker.data_dir)
