"""A real Kafka broker for integration tests: the one CI started, else one of our own."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator

import pytest

from millstream import broker


def free_port_range(count: int) -> int:
    """First of ``count`` consecutive free loopback ports."""
    for _ in range(200):
        first = random.randint(20000, 60000 - count)
        socks = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free port range found")


@pytest.fixture(scope="session")
def port_range() -> object:
    """The free-port finder, for tests that start servers of their own."""
    return free_port_range


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``MILLSTREAM_BOOTSTRAP`` when set (CI starts the broker), else a one-node broker we start and stop."""
    external = os.environ.get("MILLSTREAM_BOOTSTRAP")
    if external:
        yield external
        return
    data_dir = tmp_path_factory.mktemp("kafka-session")
    info = broker.start(nodes=1, port=free_port_range(2), data_dir=data_dir)
    try:
        yield info.bootstrap_servers
    finally:
        broker.stop(data_dir)
