"""``millstream run``: the main job in one command.

Starts the local broker (unless one already answers at the bootstrap address),
creates the topics, starts a worker, publishes the bundled sample factory, and
prints shortages, planned orders, exceptions and cost updates as they arrive on
their topics, with the URLs to query.  Ctrl-C (or ``--seconds``) stops what it
started, and only that: the worker by its pid, the broker only if it started it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from .kafka_security import KafkaAccessError, confluent_config, connect_admin, kafka_security
from .settings import Settings

__all__ = ["run"]

SAMPLE = Path(__file__).resolve().parent / "samples" / "hearing_devices.jsonl"
WATCHED = ("shortages", "planned-orders", "exceptions", "costs", "capacity", "rejected")


def _first_site_item(events: Path) -> tuple[str, str]:
    """The first site and item the file names, for example URLs (URL-quoted)."""
    from urllib.parse import quote

    from schemas.codecs import decode_message

    with events.open("rb") as handle:
        for line in handle:
            for event in decode_message(line.strip()) if line.strip() else ():
                site, item = getattr(event, "site", None), getattr(event, "item", None)
                if site and item:
                    return quote(site, safe=""), quote(item, safe="")
    return "SITE", "ITEM"


def run(settings: Settings, events: Path = SAMPLE, seconds: float | None = None,
        broker_dir: Path | None = None) -> int:
    from connectors.publisher import publish_lines
    from streams.topics import ensure_topics

    from . import broker

    host, _, port = settings.bootstrap.rpartition(":")
    started_broker = False
    if kafka_security(settings).protocol != "PLAINTEXT":   # a secured broker is the operator's: never started here
        try:
            connect_admin(settings, timeout=15.0)
        except KafkaAccessError as exc:
            print(f"millstream run: {exc} (`millstream kafka start --sasl-ssl` starts a local one)", file=sys.stderr)
            return 1
    elif broker.probe(int(port), host=host or "127.0.0.1") is None:
        print(f"starting Apache Kafka on {settings.bootstrap} (first run downloads the jars) ...", flush=True)
        broker.start(port=int(port), data_dir=broker_dir)
        started_broker = True
    worker: subprocess.Popen[bytes] | None = None
    try:
        ensure_topics(settings)
        worker = _start_worker(settings)
        report = publish_lines(events.read_bytes().splitlines(), settings, envelopes=True)
        print(f"published {report.sent} events of {events.name} ({len(report.invalid)} invalid lines, which the "
              f"publisher refused; the worker dead-letters bad messages that reach it)", flush=True)
        base = f"http://127.0.0.1:{settings.web_port}"
        site, item = _first_site_item(events)
        print("query API:", f"{base}/status", f"{base}/sites/{site}/shortages", f"{base}/sites/{site}/items/{item}",
              f"{base}/sites/{site}/items/{item}/mrp", sep="\n  ", flush=True)
        print(f"metrics: {base}/metrics", flush=True)
        print("outputs as they arrive (Ctrl-C stops everything this command started):", flush=True)
        counts = _follow(settings, worker, seconds)
        print("seen: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())), flush=True)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if started_broker:
            broker.stop(broker_dir)
            print("stopped the broker this command started", flush=True)


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = {**os.environ, **{f"MILLSTREAM_{f.name.upper()}": str(getattr(settings, f.name))
                            for f in dataclasses.fields(Settings)}}
    log = Path(settings.data_dir) / "worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"starting a worker (log: {log})", flush=True)
    with log.open("ab") as handle:
        return subprocess.Popen([sys.executable, "-m", "millstream.cli", "worker", "--loglevel", "warning"],
                                env=env, stdout=handle, stderr=subprocess.STDOUT)


def _follow(settings: Settings, worker: subprocess.Popen[bytes], seconds: float | None) -> Counter[str]:
    """Print each output record in one line until the time is up (or Ctrl-C, or the worker dies)."""
    from confluent_kafka import Consumer

    consumer = Consumer({**confluent_config(settings), "group.id": f"millstream-run-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    consumer.subscribe([settings.topic(name) for name in WATCHED])
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + seconds if seconds is not None else None
    try:
        while deadline is None or time.monotonic() < deadline:
            if worker.poll() is not None:
                print(f"the worker stopped (exit {worker.returncode}); see its log", flush=True)
                break
            message = consumer.poll(0.5)
            if message is None or message.error() is not None or message.value() is None:
                continue
            record = json.loads(message.value())
            kind = record.get("type", "?")
            counts[kind] += 1
            print(describe(record), flush=True)
    finally:
        consumer.close()
    return counts


def describe(record: dict[str, Any]) -> str:
    """One line a planner can read."""
    kind, site = record.get("type"), record.get("site", "")
    if kind == "shortage":
        hits = ", ".join(f"{h['kind']} {h['ref']}" for h in record.get("hits", []))
        return (f"SHORTAGE  {site} {record['item']} {record['state']} on {record['date']}: "
                f"qty {record['qty']}" + (f" hits {hits}" if hits else ""))
    if kind == "planned_order":
        action = record.get("action", "upsert")
        late = " PAST DUE" if record.get("past_due") else ""
        return (f"PLANNED   {site} {record['planned_id']} {action}: {record['kind']} {record['qty']} "
                f"release {record['release']} due {record['due']}{late}")
    if kind == "exception":
        return (f"EXCEPTION {site} {record['ref']} {record['action']} {record.get('state', 'open')}"
                + (f" -> {record['suggested_date']}" if record.get("suggested_date") else ""))
    if kind == "cost":
        return f"COST      {site} {record['item']}: unit {record['unit_cost']} standard {record.get('standard_cost')}"
    if kind == "order_cost":
        return (f"COST      {site} order {record['order_id']}: actual {record['actual_cost']} "
                f"standard {record['standard_cost']}")
    if kind == "capacity_overload":
        return (f"CAPACITY  {site} {record['work_center']} {record['state']} on {record['date']}: load "
                f"{record['load_minutes']} of {record['available_minutes']} min")
    if kind == "dead_letter":
        return f"REJECTED  {record.get('topic')}[{record.get('partition')}]@{record.get('offset')}: {record['reason']}"
    return json.dumps(record)
