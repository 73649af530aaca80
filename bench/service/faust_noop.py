"""Arm C: a Faust agent that does nothing per message, draining the pre-loaded site topics.

Run in its own process by ``bench.service.run`` (``python -m bench.service.faust_noop ...``): the same Faust
release, transport (aiokafka) and serializers as the worker (``raw``), Faust's defaults otherwise
(``at_least_once``, acks and periodic commits).  The agent iterates the stream and counts; when it has seen
every message it writes the wall times of the first and the last one (and where the first came from, so
the harness can leave its events out) to ``--out`` as JSON, and waits to be stopped.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import faust

from millstream.settings import Settings

from .raw import ArmResult
from .spec import ROOT, SITE_TOPICS

#: longest wait for the agent to see every message (seconds)
TIMEOUT = 3 * 3600.0


def build(args: argparse.Namespace) -> faust.App:
    app = faust.App(args.app_id, broker=f"kafka://{args.bootstrap}", value_serializer="raw", key_serializer="raw",
                    topic_partitions=args.partitions, topic_allow_declare=False,
                    consumer_auto_offset_reset="earliest", web_enabled=False,
                    datadir=tempfile.mkdtemp(prefix="bench-faust-"))
    topic = app.topic(*args.topics, value_type=bytes, key_type=bytes)
    out = Path(args.out)
    state: dict[str, object] = {"seen": 0}

    @app.agent(topic)
    async def nothing(stream: faust.StreamT) -> None:
        async for _value in stream:
            seen = state["seen"] = int(state["seen"]) + 1   # type: ignore[call-overload]
            if seen == 1:
                message = stream.current_event.message   # type: ignore[union-attr]
                state["first"] = [time.perf_counter(), message.topic, message.partition, message.offset]
            if seen == args.expected:
                finished = time.perf_counter()
                first = state["first"]
                out.write_text(json.dumps({"first": first, "finished": finished, "messages": seen}))

    return app


def run_faust_noop(settings: Settings, ends: dict[tuple[str, int], int], index: dict[tuple[str, int], list[int]],
                   *, variant: str, run: int, workdir: Path) -> ArmResult:
    """Arm C: start the agent's process on the pre-loaded topics, wait for its figures, stop it."""
    workdir.mkdir(parents=True, exist_ok=True)
    app_id = f"{settings.topic_prefix}-noop-{run}-{uuid.uuid4().hex[:6]}"
    out, log_path = workdir / f"{app_id}.json", workdir / f"{app_id}.log"
    expected = sum(ends.values())
    command = [sys.executable, "-m", "bench.service.faust_noop", "--bootstrap", settings.bootstrap, "--app-id", app_id,
               "--partitions", str(settings.partitions), "--expected", str(expected), "--out", str(out),
               *[settings.topic(short) for short in SITE_TOPICS]]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not out.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"arm C ({app_id}) ended or timed out:\n"
                                   f"{log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        time.sleep(0.1)   # written in one call; let it land whole
        figures: dict[str, Any] = json.loads(out.read_text())
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    started, topic, partition, offset = figures["first"]
    first_events = index[(topic.split(".", 1)[1], partition)][offset]
    total = sum(sum(events) for events in index.values())
    return ArmResult("C", variant, run, total - first_events, figures["finished"] - started, figures["messages"],
                     {"faust": faust.__version__, "processing_guarantee": "at_least_once"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.service.faust_noop")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--expected", type=int, required=True, help="messages to see before reporting")
    parser.add_argument("--out", required=True)
    parser.add_argument("topics", nargs="+")
    args = parser.parse_args(argv)
    worker = faust.Worker(build(args), loglevel="warning")
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
