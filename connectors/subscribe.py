"""``millstream subscribe``: one output topic, live, as a table or as JSON Lines.

Each record is printed as it arrives: a table row (tabulate, columns chosen for the kind) or, with
``--json``, the record's value verbatim (the ``schemas/outputs.py`` JSON, one per line). Two ways to read:

* following a consumer group (default ``millstream-subscribe-<kind>``): a record's offset is committed
  after it is printed, so a restart goes on where the last run stopped; a group new to the topic starts at
  its end (what arrives from now on), like Kafka's console consumer;
* ``--from-beginning``: every record still on the (compacted) topic, then live; no group, nothing committed.

Records are read with ``isolation.level=read_committed``: the worker writes outputs in transactions, and an
aborted batch's outputs must never be shown. Ctrl-C (or SIGTERM) stops between two records;
``--max-records``/``--idle-seconds`` stop it for scripts and tests.
"""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

import msgspec

from millstream.live import describe
from millstream.settings import Settings

__all__ = ["COLUMNS", "KINDS", "LiveTable", "check_topics", "default_group", "output_consumer", "stop_on_signals",
           "subscribe"]

#: the output topics (short names) this command shows
KINDS = ("shortages", "planned-orders", "costs", "exceptions", "capacity", "rejected")

#: columns of each kind, with the width each is padded to; a wider cell shifts the rest of its row, so the
#: columns of unbounded width (hits, reason) come last
COLUMNS: dict[str, tuple[tuple[str, int], ...]] = {
    "shortages": (("state", 8), ("site", 5), ("item", 10), ("date", 10), ("qty", 10), ("ts", 25), ("hits", 40)),
    "planned-orders": (("action", 6), ("site", 5), ("planned_id", 22), ("item", 10), ("kind", 4), ("qty", 10),
                       ("release", 10), ("due", 10), ("past_due", 8), ("ts", 25)),
    "costs": (("site", 5), ("item", 10), ("order", 10), ("unit_cost", 10), ("standard_cost", 13),
              ("actual_cost", 11), ("good_qty", 8), ("ts", 25)),
    "exceptions": (("state", 8), ("site", 5), ("ref", 14), ("item", 10), ("action", 8), ("current", 10),
                   ("suggested", 10), ("ts", 25)),
    "capacity": (("state", 8), ("site", 5), ("work_center", 11), ("date", 10), ("load", 10), ("available", 10),
                 ("ts", 25), ("orders", 40)),
    "rejected": (("site", 5), ("topic", 24), ("partition", 9), ("offset", 8), ("reason", 60)),
}


def default_group(kind: str) -> str:
    return f"millstream-subscribe-{kind}"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _cells(kind: str, record: dict[str, Any]) -> dict[str, Any] | None:
    """The row of one record, or None when the record is not of the topic's kind."""
    tag = record.get("type")
    if kind == "shortages" and tag == "shortage":
        hits = record.get("hits")
        hits = ", ".join(f"{h.get('kind')} {h.get('ref')}" for h in hits if isinstance(h, dict)) \
            if isinstance(hits, list) else _text(hits)
        return {**record, "hits": hits}
    if kind == "planned-orders" and tag == "planned_order":
        return {**record, "action": record.get("action", "upsert"), "past_due": "PAST DUE" if
                record.get("past_due") else ""}
    if kind == "costs" and tag == "cost":
        return record
    if kind == "costs" and tag == "order_cost":
        return {**record, "order": record.get("order_id")}
    if kind == "exceptions" and tag == "exception":
        return {**record, "state": record.get("state", "open"), "current": record.get("current_date"),
                "suggested": record.get("suggested_date")}
    if kind == "capacity" and tag == "capacity_overload":
        orders = record.get("orders")
        orders = ", ".join(f"{o.get('ref')} {o.get('minutes')}" for o in orders if isinstance(o, dict)) \
            if isinstance(orders, list) else _text(orders)
        return {**record, "load": record.get("load_minutes"), "available": record.get("available_minutes"),
                "orders": orders}
    if kind == "rejected" and tag == "dead_letter":
        return record
    return None


class LiveTable:
    """Rows printed one at a time that still line up.

    tabulate lays out each row against headers padded to the columns' widths; the header and its rule are
    printed with the first row only.
    """

    def __init__(self, kind: str) -> None:
        self.columns = COLUMNS[kind]
        self.headers = [name.ljust(width) for name, width in self.columns]
        self.started = False

    def lines(self, cells: dict[str, Any]) -> list[str]:
        from tabulate import tabulate

        row = [_text(cells.get(name)) for name, _width in self.columns]
        text = tabulate([row], headers=self.headers, tablefmt="simple", disable_numparse=True).splitlines()
        if self.started:
            return text[2:]
        self.started = True
        return text


@dataclass(frozen=True, slots=True)
class Shown:
    """What to print for one record (stdout), and a warning about it (stderr) when it is unreadable."""

    lines: list[str]
    warning: str | None = None


def render(kind: str, table: LiveTable | None, topic: str, partition: int, offset: int, key: bytes | None,
           value: bytes | None) -> Shown:
    """One record as table lines, or as its JSON line when ``table`` is None. Unreadable values are shown too."""
    where = f"{topic}[{partition}]@{offset}"
    key_text = key.decode("utf-8", errors="replace") if key is not None else None
    if value is None:  # a tombstone: compaction will drop the key
        if table is None:
            return Shown([json.dumps({"type": "tombstone", "key": key_text})])
        return Shown([f"TOMBSTONE {key_text} ({where})"])
    try:
        text = value.decode("utf-8")
        record = json.loads(text, parse_float=Decimal)
        if not isinstance(record, dict):
            raise ValueError(f"a JSON {type(record).__name__}, not an object")
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        reason = f"unreadable record {where}: {exc}"
        if table is None:
            return Shown([json.dumps({"type": "unreadable", "reason": reason, "key": key_text,
                                      "original": base64.b64encode(value).decode()})], reason)
        return Shown([f"UNREADABLE {where}: {exc}"], reason)
    if table is None:  # verbatim; a value written over several lines is put on one
        return Shown([msgspec.json.format(text, indent=0).strip() if "\n" in text else text.strip()])
    cells = _cells(kind, record)
    if cells is not None:
        return Shown(table.lines(cells))
    try:  # another type than the topic carries: still shown, in the run command's words
        return Shown([describe(record)])
    except (KeyError, TypeError, AttributeError):
        return Shown([f"UNEXPECTED {where}: {text}"])


@contextlib.contextmanager
def stop_on_signals() -> Iterator[Callable[[], bool]]:
    """SIGINT/SIGTERM ask a loop to stop at its next safe point; a second one interrupts at once."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested.is_set
        return

    def handler(_signum: int, _frame: Any) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested.is_set
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def output_consumer(settings: Settings, group: str, **config: Any) -> Any:
    """A consumer of output topics: ``read_committed`` (outputs are written in transactions), no auto-commit."""
    from confluent_kafka import Consumer

    from millstream.kafka_security import confluent_config

    return Consumer({**confluent_config(settings), "group.id": group,
                     "isolation.level": "read_committed", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", **config})


def check_topics(consumer: Any, topics: list[str], timeout: float = 30.0) -> dict[str, list[int]]:
    """Partitions of each topic; a clear error when one does not exist."""
    found: dict[str, list[int]] = {}
    for topic in topics:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise LookupError(f"topic {topic} does not exist (`millstream topics` creates the service's topics)")
        found[topic] = sorted(meta.partitions)
    return found


def subscribe(settings: Settings, kind: str, *, as_json: bool = False, from_beginning: bool = False,
              group: str | None = None, max_records: int | None = None, idle_seconds: float | None = None,
              out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """Print the topic's records until stopped; returns how many were printed."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

    topic = settings.topic(kind)
    group = group or default_group(kind)
    if from_beginning:  # a look, not a follow: the group id is only a name librdkafka asks for
        consumer = output_consumer(settings, f"{group}-look")
    else:  # offsets stored after printing, committed by librdkafka in the background and on close
        consumer = output_consumer(settings, group, **{"enable.auto.commit": True,
                                                       "enable.auto.offset.store": False})
    table = None if as_json else LiveTable(kind)
    printed = 0
    assigned_at: list[float] = []
    try:
        partitions = check_topics(consumer, [topic])[topic]
        if from_beginning:
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            assigned_at.append(time.monotonic())
            print(f"reading {topic} from the beginning ({len(partitions)} partitions)", file=err, flush=True)
        else:
            consumer.subscribe([topic], on_assign=_start_at_end_when_new(group, err, assigned_at))
        last = None
        with stop_on_signals() as stopping:
            while not stopping() and (max_records is None or printed < max_records):
                message = consumer.poll(0.5)
                now = time.monotonic()
                if message is None:
                    since = max(last or 0.0, assigned_at[-1] if assigned_at else now)
                    if idle_seconds is not None and assigned_at and now - since >= idle_seconds:
                        break
                    continue
                if message.error() is not None:
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        print(f"kafka: {message.error()}", file=err, flush=True)
                    continue
                shown = render(kind, table, message.topic(), message.partition(), message.offset(), message.key(),
                               message.value())
                if shown.warning:
                    print(shown.warning, file=err, flush=True)
                for line in shown.lines:
                    print(line, file=out, flush=True)
                if not from_beginning:
                    consumer.store_offsets(message)
                printed += 1
                last = now
    finally:
        consumer.close()  # commits the stored offsets (group mode)
    return printed


def _start_at_end_when_new(group: str, err: IO[str], assigned_at: list[float]) -> Callable[[Any, list[Any]], None]:
    """On assignment: a partition the group has no offset for starts at its end as of now, committed at once.

    Resolving the end here, before saying we follow, means no record produced after that message is missed
    (``auto.offset.reset=latest`` would resolve it later, at the first fetch); committing it means a record
    produced while no run is up is shown by the next run, whichever partition it lands in.
    """
    from confluent_kafka import KafkaException

    def on_assign(consumer: Any, partitions: list[Any]) -> None:
        start, new = [], []
        for tp in consumer.committed(partitions, timeout=30):
            if tp.offset < 0:  # OFFSET_INVALID: the group has no position here yet
                tp.offset = consumer.get_watermark_offsets(tp, timeout=30)[1]
                new.append(tp)
            start.append(tp)
        consumer.assign(start)
        if new:
            try:
                consumer.commit(offsets=new, asynchronous=False)
            except KafkaException as exc:
                print(f"could not commit the group's starting offsets: {exc}", file=err, flush=True)
        assigned_at.append(time.monotonic())
        where = ", ".join(f"{tp.partition}@{tp.offset}" for tp in start) or "no partitions"
        print(f"following {partitions[0].topic if partitions else ''} as group {group} ({where})", file=err,
              flush=True)

    return on_assign
