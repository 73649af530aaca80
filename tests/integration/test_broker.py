"""Integration tests of millstream.broker against a real Apache Kafka broker on 127.0.0.1.

They fetch the jars on first use (Maven) and start their own brokers in temporary data dirs on free
ports, so they never touch a broker a developer or CI has running. With ``MILLSTREAM_BOOTSTRAP`` set,
the produce/consume test uses that broker; the lifecycle tests still need brokers they manage.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from millstream import broker

pytestmark = pytest.mark.integration

EXTERNAL = os.environ.get("MILLSTREAM_BOOTSTRAP")


def _create_topic(bootstrap: str, name: str, partitions: int = 1, rf: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(name, partitions, rf)], operation_timeout=30).values():
        fut.result(timeout=60)


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Produce with acks=all and fail loudly on any undelivered message."""
    errors: list[object] = []
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "message.timeout.ms": 60000}
    )
    for v in values:
        producer.produce(topic, value=v, on_delivery=lambda err, _msg: err and errors.append(err))
    assert producer.flush(90) == 0, "messages still queued"
    assert not errors, errors


def _consume(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    got: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            got.append(msg.value())
    finally:
        consumer.close()
    return got


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory, port_range: Callable[[int], int]) -> Iterator[broker.ClusterInfo]:
    """A one-node broker of our own: status/start/stop must be tested on a broker we manage."""
    data_dir = tmp_path_factory.mktemp("kafka1")
    port = port_range(2)
    try:
        yield broker.start(nodes=1, port=port, data_dir=data_dir)
    finally:
        broker.stop(data_dir)


def test_status_reports_running_node(single: broker.ClusterInfo) -> None:
    st = broker.status(single.data_dir)
    assert st["running"] and st["bootstrap_servers"] == single.bootstrap_servers
    (node,) = st["nodes"]
    assert node["alive"] and node["answering"] and node["pid"] == single.nodes[0].pid
    assert Path(node["log_file"]).is_file()
    assert single.kafka_version.startswith("4.")
    assert broker.probe(single.nodes[0].port) == [1]


def test_produce_and_consume_one_message(request: pytest.FixtureRequest) -> None:
    bootstrap = EXTERNAL or request.getfixturevalue("single").bootstrap_servers
    topic = f"broker-test-{uuid.uuid4().hex[:8]}"
    _create_topic(bootstrap, topic)
    _produce(bootstrap, topic, [b"hello millstream"])
    assert _consume(bootstrap, topic, 1) == [b"hello millstream"]


def test_start_is_idempotent(single: broker.ClusterInfo) -> None:
    again = broker.start(nodes=1, port=single.nodes[0].port, data_dir=single.data_dir)
    assert again.already_running
    assert [n.pid for n in again.nodes] == [n.pid for n in single.nodes]
    assert again.cluster_id == single.cluster_id


def test_stop_ends_the_process(single: broker.ClusterInfo) -> None:
    assert broker.stop(single.data_dir) == [single.nodes[0].pid]
    st = broker.status(single.data_dir)
    assert not st["running"] and st["nodes"][0]["pid"] is None
    assert broker.stop(single.data_dir) == []  # nothing left to signal


def test_three_nodes_survive_one_node_down(tmp_path: Path, port_range: Callable[[int], int]) -> None:
    first = port_range(6)
    data_dir = tmp_path / "kafka3"
    try:
        info = broker.start(nodes=3, port=first, controller_port=first + 3, data_dir=data_dir)
        assert [n.port for n in info.nodes] == [first, first + 1, first + 2]
        assert sorted(broker.probe(first) or []) == [1, 2, 3]
        bootstrap = info.bootstrap_servers
        topic = "reliable"
        _create_topic(bootstrap, topic, partitions=3, rf=3)
        _produce(bootstrap, topic, [f"a{i}".encode() for i in range(10)])

        assert len(broker.stop_node(2, data_dir)) == 1
        st = broker.status(data_dir)
        assert [n["alive"] for n in st["nodes"]] == [True, False, True]
        # RF 3 with min.insync.replicas 2: acks=all still succeeds with one node down.
        _produce(bootstrap, topic, [f"b{i}".encode() for i in range(10)])

        broker.start_node(2, data_dir)
        assert sorted(broker.probe(first + 1) or []) == [1, 2, 3]
        got = _consume(bootstrap, topic, 20)
        assert sorted(got) == sorted([f"a{i}".encode() for i in range(10)] + [f"b{i}".encode() for i in range(10)])
    finally:
        broker.stop(data_dir)
    assert not broker.status(data_dir)["running"]
