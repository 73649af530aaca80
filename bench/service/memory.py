"""``python -m bench.service.memory``: where a worker's memory goes, by part of its state.

Takes the state a worker left (``python -m bench.service --arms E --variants envelopes --runs 1 --keep``
prints the topic prefix and state directory), reads the master data from the broker and every row from the
worker's RocksDB, and restores the sites into an engine in this process under ``tracemalloc``, with the
worker's collector policy.  Prints the decoded size of each kind of row (most of it is kept as the site's
state), what the restored engine holds in all, and the allocation sites that hold the most.  Python's heap
only: the kernel's C arrays and RocksDB are not traced.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

from core.engine import Engine, EngineSettings
from core.persist import _DECODERS, StateRows, site_of
from millstream.settings import Settings
from schemas.codecs import decode_message

MIB = 2**20


def master_messages(bootstrap: str, prefix: str) -> list[bytes]:
    """Every message of ``<prefix>.master``, read to its end."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-memory-{os.getpid()}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})
    topic = f"{prefix}.master"
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        todo, values = set(partitions), []
        while todo:
            for message in consumer.consume(10_000, 0.5):
                if message.error() is None:
                    values.append(message.value())
                elif message.error().code() == KafkaError._PARTITION_EOF:
                    todo.discard(message.partition())
        return values
    finally:
        consumer.close()


def stored_rows(data_dir: Path) -> dict[str, list[tuple[str, bytes]]]:
    """Every row of the state table's RocksDB under ``data_dir``, by site (read-only)."""
    from rocksdict import AccessType, Options, Rdict

    rows: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for path in sorted(data_dir.glob("**/tables/state-*.db")):
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            for key, value in db.items():
                if not key.startswith(b"__faust"):
                    text = key.decode()
                    rows[site_of(text)].append((text, value))
        finally:
            db.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.service.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default=os.environ.get("MILLSTREAM_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--prefix", required=True, help="the kept run's topic prefix")
    parser.add_argument("--data-dir", type=Path, required=True, help="the kept run's state directory")
    parser.add_argument("--kernel", default="cython", help="planner kernel (cython, python, off)")
    parser.add_argument("--top", type=int, default=15, help="allocation sites listed")
    args = parser.parse_args(argv)
    gc.set_threshold(700, 10, 2**31 - 1)   # the worker's policy (streams/collector.py)
    master = master_messages(args.bootstrap, args.prefix)
    rows = stored_rows(args.data_dir)
    print(f"{sum(map(len, rows.values())):,} rows of {len(rows)} sites; {len(master):,} master messages")
    tracemalloc.start()
    engine = Engine(EngineSettings(local_transfers=False, track_changes=True, kernel=args.kernel,
                                   retention=dt.timedelta(days=Settings().retention_days)))
    engine.apply([event for value in master for event in decode_message(value)])
    base = tracemalloc.get_traced_memory()[0]
    print(f"master data: {base / MIB:.0f} MiB")
    print("| rows | count | decoded MiB |\n|---|---|---|")
    for kind, decoder in _DECODERS.items():
        values = [value for site_rows in rows.values() for key, value in site_rows if key.split("|")[1] == kind]
        before = tracemalloc.get_traced_memory()[0]
        decoded = [decoder.decode(value) for value in values]
        print(f"| {kind} | {len(decoded):,} | {(tracemalloc.get_traced_memory()[0] - before) / MIB:.1f} |")
        del decoded, values
    gc.collect()
    restoring = StateRows(engine)
    started = time.perf_counter()
    for site, site_rows in rows.items():
        restoring.restore(site, site_rows, outputs=False)   # as the worker restores
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    print(f"sites restored and planned (kernel {args.kernel}, {time.perf_counter() - started:.0f} s under "
          f"tracemalloc): {(held - base) / MIB:.0f} MiB; the engine in all {held / MIB:.0f} MiB")
    snapshot = tracemalloc.take_snapshot()
    for group in ("filename", "lineno"):
        print(f"by {group}:")
        for stat in snapshot.statistics(group)[:args.top]:
            frame = stat.traceback[0]
            where = f"{Path(frame.filename).name}" + (f":{frame.lineno}" if group == "lineno" else "")
            print(f"  {stat.size / MIB:8.1f} MiB  {where}")


if __name__ == "__main__":
    main()
