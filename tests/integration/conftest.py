"""A real Kafka broker for integration tests: the one CI started, else one of our own."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from millstream import broker


def _ephemeral_start() -> int:
    """Where the kernel's ephemeral ports begin (Linux: 32768): outgoing connections take their local port
    from there, so a port found free in that range can be taken before a server binds it (a three-node
    broker's own connections took one of its ports while it started: "Address already in use")."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_range(count: int) -> int:
    """First of ``count`` consecutive free loopback ports, below the ephemeral range when there is room."""
    top = _ephemeral_start() - count
    if top < 21000:
        top = 60000 - count
    for _ in range(200):
        first = random.randint(20000, top)
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
def port_range() -> Callable[[int], int]:
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


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, port_range: Any) -> Iterator[broker.ClusterInfo]:
    """Three KRaft nodes of our own (whatever MILLSTREAM_BOOTSTRAP says): fault tests stop and start them.

    Started by the first test that asks for it, stopped at the end of the session."""
    data_dir = tmp_path_factory.mktemp("kafka3")
    started = time.monotonic()
    info = broker.start(nodes=3, port=port_range(6), data_dir=data_dir)
    print(f"3-node cluster up in {time.monotonic() - started:.1f} s on {info.bootstrap_servers}")
    try:
        yield info
    finally:
        broker.stop(data_dir)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``MILLSTREAM_PG_URL`` when set (CI starts the server), else a PostgreSQL server we start and stop."""
    external = os.environ.get("MILLSTREAM_PG_URL")
    if external:
        yield external
        return
    base = Path(tempfile.mkdtemp(prefix="millstream-pg-"))
    base.chmod(0o755)  # as root the server runs as user postgres, which must reach its data dir
    script = str(Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh")
    started = subprocess.run([script, "start", str(base / "data"), str(free_port_range(1))],
                             capture_output=True, text=True, check=False)
    try:
        if started.returncode != 0:
            raise RuntimeError(f"scripts/postgres.sh could not start PostgreSQL:\n{started.stderr}")
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "stop", str(base / "data")], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)
