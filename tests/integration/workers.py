"""``millstream worker`` processes for integration tests: started with settings in their environment,
logging to a file, stopped by their own pid (SIGTERM, then SIGKILL if it hangs); their query API asked over
real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from millstream.settings import Settings
from streams.routing import WORKER_HEADER

ROOT = Path(__file__).resolve().parents[2]
#: the settings a test worker needs in its environment to find its broker, topics, port and state
BASIC = ("bootstrap", "partitions", "topic_prefix", "web_port", "data_dir")


def worker_env(settings: Settings, names: tuple[str, ...] = BASIC, **extra: object) -> dict[str, str]:
    """This process's environment plus ``MILLSTREAM_<NAME>`` for the ``names`` of ``settings`` and ``extra``."""
    values = {name: getattr(settings, name) for name in names} | extra
    return {**os.environ, **{f"MILLSTREAM_{name.upper()}": str(value) for name, value in values.items()}}


def start_worker(env: dict[str, str], log_path: Path, loglevel: str = "warning") -> subprocess.Popen[bytes]:
    """A worker process writing its log to ``log_path`` (the child keeps its own descriptor)."""
    with log_path.open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "millstream.cli", "worker", "--loglevel", loglevel],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def stop_worker(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM, and SIGKILL if it has not ended within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(log_path: Path, chars: int = 3000) -> str:
    """The end of a worker's log, for an assertion message."""
    return log_path.read_text(errors="replace")[-chars:] if log_path.exists() else ""


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy


@dataclass
class Answer:
    """A query API answer: status, JSON body and the worker that answered (``WORKER_HEADER``)."""

    status: int
    body: Any
    worker: str | None


def get(port: int, path: str, timeout: float = 15.0) -> Answer:
    """GET ``path`` of the worker whose web port is ``port``; an error status is an answer too (JSON)."""
    try:
        with OPENER.open(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return Answer(response.status, json.loads(response.read()), response.headers.get(WORKER_HEADER))
    except urllib.error.HTTPError as error:
        assert error.headers.get_content_type() == "application/json", error.read()
        return Answer(error.code, json.loads(error.read()), error.headers.get(WORKER_HEADER))
