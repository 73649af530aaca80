"""Soak: one worker fed a simulated factory at half its measured capacity for ten minutes; RSS and lag.

``python -m bench.soak [--minutes 10] [--fraction 0.5] [--sites 2 --items 2000 --days 365] [--bad-rate 0]
[--warm EVENTS]``

0. Warm-up (``--warm``): the first events of the simulation are applied untimed, so that the factory's state
   has its steady size when the soak starts (a site keeps three years of weekly usage history and the
   records of the last ``retention_days``; an empty factory grows into that).
1. Capacity: a backlog (the first ``--backlog`` events of the simulation, in envelopes as ``millstream
   publish`` sends them) is published to a running worker at once; capacity = events / seconds until the
   group has committed all of it.
2. Soak: the rest of the simulation is published at ``--fraction`` of that rate for ``--minutes``, in
   envelopes (``envelope_linger_ms`` 100).  Every ``--every`` seconds the worker's RSS (/proc) and its
   consumer lag (records, from ``/metrics``, end offsets asked of the brokers) are sampled.

``--replay N`` feeds N events of the same simulation to an embedded engine instead and prints its RSS, to
tell the engine's own state growth from the service's.  ``--capacity-only`` stops after step 1; with
``--bad-rate`` the simulation mixes deliberately bad events in (``millstream simulate --bad-rate``) and
the worker's rejected counter is compared with how many were made: run it with 0 and, say, 0.2 to see
whether poison slows the worker down.

Prints the samples and a summary: RSS at the start, after the warm-up minute and at the end (growth is
measured from the warm-up on), lag max and mean, events sent and applied.  Uses ``MILLSTREAM_BOOTSTRAP``
if set, else starts a one-node broker of its own on free ports.  Results go in RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from connectors.publisher import json_lines_records, publish_records
from connectors.simulate import SimSpec, Simulation
from connectors.simulate.output import paced
from millstream import broker
from millstream.settings import Settings
from streams.changelog import app_id, ensure_changelog
from streams.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[1]
SITE_TOPICS = ("inventory", "production", "purchase", "demand", "transfers")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _metric(port: int, name: str) -> int | None:
    """The sum of a metric's samples on the worker's ``/metrics``, None if it does not answer."""
    try:
        with _OPENER.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return None
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{")))


def _lag(port: int) -> int | None:
    """Records the worker is behind on its inputs (sum of its consumer lag gauge), None if it does not answer."""
    return _metric(port, "millstream_consumer_lag")


def _behind(settings: Settings) -> int:
    """Input records the group has not committed yet (end offsets minus committed positions).

    The internal transfers topic is left out: the worker writes it in transactions, so its end offset
    counts commit markers that no consumer ever reads past.
    """
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": app_id(settings),
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        tps = [TopicPartition(settings.topic(t), p) for t in SITE_TOPICS if t != "transfers"
               for p in range(settings.partitions)]
        total = 0
        for tp in consumer.committed(tps, timeout=30):
            end = consumer.get_watermark_offsets(tp, timeout=30)[1]
            total += max(end - max(tp.offset, 0), 0)
        return total
    finally:
        consumer.close()


def _publish(lines: Iterator[bytes], settings: Settings) -> int:
    """In envelopes per site, as ``millstream publish`` sends them; every delivery checked.

    Returns how many events the publisher refused against the contract (``--bad-rate`` makes some): those
    never reach the worker.
    """
    report = publish_records(json_lines_records(lines), settings, envelopes=True)
    if report.failed or any(not reason.startswith("invalid event") for _, reason in report.invalid):
        raise SystemExit(f"publishing failed: {report.failed[:3]} {report.invalid[:3]}")
    return len(report.invalid)


class Counted:
    """Lines passed through, counted."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self.lines, self.count = lines, 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self.lines:
            self.count += 1
            yield line


def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="millstream-soak-"))
    external = os.environ.get("MILLSTREAM_BOOTSTRAP")
    cluster = None if external else broker.start(nodes=1, port=_free_port(), data_dir=work / "kafka")
    bootstrap = external or cluster.bootstrap_servers   # type: ignore[union-attr]
    port = _free_port()
    settings = Settings(bootstrap=bootstrap, partitions=args.partitions, topic_prefix=f"soak{uuid.uuid4().hex[:6]}",
                        web_port=port, data_dir=str(work / "worker"), envelope_linger_ms=100)
    ensure_topics(settings)
    ensure_changelog(settings)
    simulation = Simulation(SimSpec(sites=args.sites, items=args.items, days=args.days, seed=args.seed,
                                    bad_rate=args.bad_rate))
    lines = iter(simulation.lines())
    env = {**os.environ, **{f"MILLSTREAM_{k.upper()}": str(getattr(settings, k))
                            for k in ("bootstrap", "partitions", "topic_prefix", "web_port", "data_dir")}}
    log = open(work / "worker.log", "wb")   # noqa: SIM115 - open while the worker runs
    worker = subprocess.Popen([sys.executable, "-m", "millstream.cli", "worker", "--loglevel", "warning"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        while _lag(port) is None:   # the web server answers once the worker runs
            if worker.poll() is not None:
                raise SystemExit(f"the worker stopped: see {work / 'worker.log'}")
            time.sleep(0.5)
        if args.warm:   # the site's state reaches its steady size first (history window full, retention steady)
            _publish(itertools.islice(lines, args.warm), settings)
            while _behind(settings) > 0:
                if worker.poll() is not None:
                    raise SystemExit(f"the worker stopped: see {work / 'worker.log'}")
                time.sleep(0.5)
            print(f"warmed up with {args.warm:,} events, RSS {_rss(worker.pid) / 2**20:,.1f} MiB", flush=True)
        backlog = Counted(itertools.islice(lines, args.backlog))
        started = time.monotonic()
        refused = _publish(iter(backlog), settings)
        while _behind(settings) > 0:
            if worker.poll() is not None:
                raise SystemExit(f"the worker stopped: see {work / 'worker.log'}")
            time.sleep(0.5)
        capacity = backlog.count / (time.monotonic() - started)
        rate = capacity * args.fraction
        rejected = _metric(port, "millstream_events_rejected_total")
        print(f"capacity {capacity:,.0f} events/s ({backlog.count:,} events, {simulation.faults.total:,} of them "
              f"bad, {refused:,} of those refused by the publisher; the worker counted {rejected:,} rejected)")
        if args.capacity_only:
            return {"capacity_events_per_s": round(capacity), "backlog_events": backlog.count,
                    "bad_events_made": simulation.faults.total, "refused_by_publisher": refused,
                    "rejected_counted": rejected, "topic_prefix": settings.topic_prefix,
                    "simulation": f"{args.sites} sites x {args.items} items, {args.days} days, seed {args.seed}, "
                                  f"bad rate {args.bad_rate}"}
        print(f"soak at {rate:,.0f} events/s")
        soak = Counted(lines)
        samples: list[dict] = []
        deadline = time.monotonic() + args.minutes * 60

        def until_deadline() -> Iterator[bytes]:
            for line in paced(iter(soak), rate):
                if time.monotonic() > deadline:
                    return
                yield line

        done = threading.Event()
        sender = threading.Thread(target=lambda: (_publish(until_deadline(), settings), done.set()), daemon=True)
        soak_started = time.monotonic()
        sender.start()
        while not done.is_set():
            assert worker.poll() is None, f"the worker stopped: see {work / 'worker.log'}"
            samples.append({"t": round(time.monotonic() - soak_started, 1), "rss": _rss(worker.pid),
                            "lag": _lag(port), "sent": soak.count})
            print(json.dumps(samples[-1]), flush=True)
            done.wait(args.every)
        sender.join()
        drained = time.monotonic()
        while _behind(settings) > 0:
            if worker.poll() is not None:
                raise SystemExit(f"the worker stopped: see {work / 'worker.log'}")
            time.sleep(0.5)
        drain = time.monotonic() - drained
        rejected_soak = (_metric(port, "millstream_events_rejected_total") or 0) - (rejected or 0)
        warm = next(s for s in samples if s["t"] >= 60)
        lags = [s["lag"] for s in samples if s["lag"] is not None]
        return {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}, "
                       f"Python {platform.python_version()}",
            "simulation": f"{args.sites} sites x {args.items} items, {args.days} days, seed {args.seed}",
            "warm_events": args.warm, "capacity_events_per_s": round(capacity), "backlog_events": backlog.count,
            "soak_rate_events_per_s": round(rate), "soak_minutes": args.minutes, "soak_events": soak.count,
            "achieved_events_per_s": round(soak.count / (drained - soak_started)),
            "rss_start_mib": round(samples[0]["rss"] / 2**20, 1), "rss_warm_mib": round(warm["rss"] / 2**20, 1),
            "rss_end_mib": round(samples[-1]["rss"] / 2**20, 1),
            "rss_max_mib": round(max(s["rss"] for s in samples) / 2**20, 1),
            "rss_growth_after_warmup_pct": round(100 * (samples[-1]["rss"] - warm["rss"]) / warm["rss"], 1),
            "lag_max_records": max(lags), "lag_mean_records": round(sum(lags) / len(lags), 1),
            "lag_last_minute_max": max(s["lag"] or 0 for s in samples if s["t"] >= samples[-1]["t"] - 60),
            "drained_after_s": round(drain, 1), "samples": len(samples),
            "rejected_before_soak": rejected, "rejected_during_soak": rejected_soak,
        }
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        log.close()
        if cluster is not None:
            broker.stop(work / "kafka")


def replay_rss(args: argparse.Namespace, events: int, every: int = 100_000) -> list[tuple[int, float]]:
    """The same simulation through an embedded engine (with durable rows, as the worker keeps them), in this
    process: its RSS in MiB after every ``every`` events.  Growth here is the engine's state, not the service's."""
    from core.engine import Engine, EngineSettings
    from core.persist import StateRows
    from schemas.codecs import decode_message

    engine = Engine(EngineSettings(track_changes=True))
    rows = StateRows(engine)
    lines = Simulation(SimSpec(sites=args.sites, items=args.items, days=args.days, seed=args.seed)).lines()
    found: list[tuple[int, float]] = []
    done = 0
    for batch in iter(lambda: list(itertools.islice(lines, 500)), []):
        engine.apply([event for line in batch for event in decode_message(line)])
        rows.changed()
        done += len(batch)
        if done // every != (done - len(batch)) // every:
            found.append((done, round(_rss(os.getpid()) / 2**20, 1)))
            print(json.dumps({"events": done, "rss_mib": found[-1][1]}), flush=True)
        if done >= events:
            break
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fraction", type=float, default=0.5, help="of the measured capacity")
    parser.add_argument("--backlog", type=int, default=60_000, help="events of the capacity measurement")
    parser.add_argument("--warm", type=int, default=0, metavar="EVENTS",
                        help="events applied before the capacity measurement, untimed, so that the soak starts "
                             "from a factory in its steady state")
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--bad-rate", type=float, default=0.0, help="chance of a bad event after each event")
    parser.add_argument("--capacity-only", action="store_true", help="measure the capacity and stop")
    parser.add_argument("--replay", type=int, default=0, metavar="EVENTS",
                        help="instead: RSS of an embedded engine fed that many events of the same simulation")
    args = parser.parse_args(argv)
    if args.replay:
        replay_rss(args, args.replay)
        return 0
    summary = run(args)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
