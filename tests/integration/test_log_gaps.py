"""Records gone from an input's log are passed, not waited for (streams/durable.py, ``_without_gaps``).

The worker checks every batch against the offsets it committed: records of an upstream input that start
past its committed offset are cut there and the input read again (streams/inflight.py), since records
dropped in flight around a rebalance look the same.  Records the log itself no longer holds (retention
moved its start while the worker was away; here Kafka's DeleteRecords) can never come: the worker asks
for the log start, passes them and applies what follows.  Re-reading them would find the same gap again
and again (seven times in a first version of this test, which accepted a gap only once it came back the
same way twice).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from faults import Worker, committed, ends, publish, publisher, stream, wait_until_idle

from millstream.settings import Settings
from streams.changelog import ensure_changelog
from streams.inflight import STALL_REWIND
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

KEPT = 3   # records of the emptied partition left after the deleted ones (the first case)


def _gone_while_away(bootstrap: str, tmp_path: Path, port_range: Any, keep: int,
                     settle: Callable[[Settings, Worker], None]) -> tuple[str, tuple[str, int], int, int]:
    """A worker applies half the stream and stops; the rest is published and the records of one inventory
    partition, but the last ``keep``, are deleted; the worker starts again and ``settle`` waits.

    Returns the worker's log, the partition, its committed offset before and its end.
    """
    settings = Settings(bootstrap=bootstrap, partitions=2, topic_prefix=f"g{uuid.uuid4().hex[:8]}",
                        data_dir=str(tmp_path))
    ensure_topics(settings)
    ensure_changelog(settings)
    master, pairs = stream(1)
    half = len(pairs) // 2
    producer = publisher(settings)
    publish(producer, settings, master, pairs[:half])
    worker = Worker(settings, "worker", port_range(1), "info")
    worker.start()
    try:
        wait_until_idle(settings, [worker])
        worker.stop()
        before = committed(settings)
        publish(producer, settings, [], pairs[half:])
        last = ends(settings)
        inventory = settings.topic("inventory")
        tp = max((key for key in last if key[0] == inventory), key=lambda key: last[key] - before[key])
        assert before[tp] > 0 and last[tp] - before[tp] > keep + 1, (before, last)   # records to delete
        admin = AdminClient({"bootstrap.servers": settings.bootstrap})
        for future in admin.delete_records([TopicPartition(*tp, last[tp] - keep)]).values():
            future.result(30)
        worker.start()
        settle(settings, worker)
    finally:
        worker.stop()
    assert committed(settings)[tp] == (last[tp] if keep else before[tp])   # nothing to commit past a gap alone
    return worker.log_path().read_text(errors="replace"), tp, before[tp], last[tp]


def test_records_gone_from_the_log_are_passed_without_reading_them_again(bootstrap: str, tmp_path: Path,
                                                                          port_range: Any) -> None:
    """Records follow the gap: the first batch shows it, and the log start says it cannot be filled."""
    log, tp, before, last = _gone_while_away(bootstrap, tmp_path, port_range, KEPT,
                                             lambda settings, worker: wait_until_idle(settings, [worker]))
    name = rf"{re.escape(tp[0])}\[{tp[1]}\]"
    passed = re.findall(rf"{name}: records (\d+) to (\d+) are gone from the log", log)
    assert passed == [(str(before), str(last - KEPT - 1))], log[-4000:]
    assert not re.search(rf"{name}: the batch's records start after offset", log)   # not read again


def test_a_partition_whose_new_records_are_all_gone_is_passed_once_idle(bootstrap: str, tmp_path: Path,
                                                                        port_range: Any) -> None:
    """No record follows the gap: only the stall watch sees the position past the commit, once the worker
    has been idle ``STALL_REWIND`` seconds; it passes the gap instead of seeking back to it again and
    again."""
    def settle(settings: Settings, worker: Worker) -> None:
        wait_until_idle(settings, [worker])   # the emptied partition has no records: not waited for
        deadline = time.monotonic() + 3 * STALL_REWIND + 30
        while "are gone from the log" not in worker.log_path().read_text(errors="replace"):
            assert worker.alive() and time.monotonic() < deadline, worker.log_tail()
            time.sleep(1.0)
        time.sleep(STALL_REWIND + 10)   # long enough for another look, which must find nothing to do

    log, tp, before, last = _gone_while_away(bootstrap, tmp_path, port_range, 0, settle)
    name = rf"{re.escape(tp[0])}\[{tp[1]}\]"
    assert re.findall(rf"{name}: records (\d+) to (\d+) are gone from the log", log) == [(str(before),
                                                                                          str(last - 1))], log
    assert not re.search(rf"{name} was read up to offset", log), log[-4000:]   # never sought back to the gap
