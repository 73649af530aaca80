"""SIGKILL the worker at 5 random points of a stream under load, restart it each time: nothing lost or
applied twice.

The stream (``faults.stream``: the sample factory copied over several site pairs, plus records that cannot
be decoded) is published ahead of the worker; at each of five points drawn from a seeded random generator
(the seed is printed, and ``CRASH_SEED`` replays it) the worker is killed with SIGKILL once the group has
committed that many input records, inside an open transaction when one is caught in time (a coin toss
decides whether to wait for one), and restarted at once: on its local store, or after the second and fourth
kill with the store wiped, so the worker rebuilds it from the changelog.  At the end the durable state and
the outputs must equal an embedded replay of the same events (``faults.assert_*``).
"""

from __future__ import annotations

import itertools
import os
import random
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from faults import (
    Worker,
    assert_dead_letters_equal,
    assert_outputs_equal,
    assert_restored_reports_equal,
    assert_rows_equal,
    changelog_rows,
    progress,
    publish,
    publisher,
    read,
    replay,
    stream,
    wait_until_idle,
    waiting,
)

from core.engine import Engine
from core.persist import StateRows
from millstream.settings import Settings
from streams.changelog import changelog_topic, ensure_changelog
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

COPIES = 6               # site pairs: DK1-k and US1-k
KILLS = 5
AHEAD = 60               # records published past a kill point: the worker has work waiting when it dies
FEED = 20                # published just before a kill that caught no transaction (the worker may have drained)
LOGLEVEL = os.environ.get("CRASH_TEST_LOGLEVEL", "info")   # "debug" to see every request in worker-N.log
SEED = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
#: the kills after which the worker restarts with its local store wiped (it rebuilds it from the changelog)
WIPED = (2, 4)
#: what a worker logs once it has read the changelog into its store (streams/changelog.py, ``StateTable``)
CHANGELOG_READ = re.compile(r"read (\d+) changelog records of partitions \[[\d, ]+\] into the local store")


def kill_points(rng: random.Random, total: int, count: int) -> list[int]:
    """``count`` committed-record counts spread over the stream at random, at least 30 records apart."""
    while True:
        points = sorted(rng.sample(range(total // 12, total * 11 // 12), count))
        if all(b - a >= 30 for a, b in itertools.pairwise(points)):
            return points


def _open_transaction(settings: Settings, uncommitted: Any, stable: Any) -> bool:
    """A changelog partition holds records past its last stable offset: a batch is being committed."""
    for partition in range(settings.partitions):
        tp = TopicPartition(changelog_topic(settings), partition)
        high = uncommitted.get_watermark_offsets(tp, timeout=5, cached=False)[1]
        lso = stable.get_watermark_offsets(tp, timeout=5, cached=False)[1]   # read_committed: the LSO
        if high > lso:
            return True
    return False


def _catch_transaction(settings: Settings, clients: list[Any], seconds: float) -> bool:
    """Look for a batch being committed for up to ``seconds``; True as soon as one is seen."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if _open_transaction(settings, *clients):
            return True
    return False


def _kill_at(worker: Worker, point: int, catch: float, feed: Callable[[], None],
             timeout: float = 120.0) -> tuple[bool, bool, int]:
    """Kill once the group committed ``point`` records, inside a transaction if one is caught within ``catch`` s.

    When no transaction was caught the worker may have drained what was published ahead while it
    was looked for; ``feed`` then publishes a few more records, whose batch is another chance to catch one
    (a worker that drains its work quickly left every window empty in one CI run: no kill in a transaction
    in five), and, if none is caught again, a few more just before the kill, so the worker dies with work
    waiting, not at rest.
    Returns (records were still waiting, the kill landed in an open transaction, records committed).
    """
    settings = worker.settings
    deadline = time.monotonic() + timeout
    while (done := progress(settings)) < point:
        assert worker.alive(), worker.log_tail()
        assert time.monotonic() < deadline, worker.log_tail()
        time.sleep(0.01)
    clients = [Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"peek-{uuid.uuid4().hex}",
                         "isolation.level": level}) for level in ("read_uncommitted", "read_committed")]
    try:
        in_transaction = _catch_transaction(settings, clients, catch)
        if not in_transaction and catch:
            feed()
            in_transaction = _catch_transaction(settings, clients, catch)
        if not in_transaction:
            feed()
        worker.kill()
    finally:
        for client in clients:
            client.close()
    return waiting(settings), in_transaction, done


def _wait_for_log(worker: Worker, pattern: re.Pattern[str], timeout: float = 90.0) -> None:
    """Until the worker's current log has a line matching ``pattern`` (it must stay alive meanwhile)."""
    deadline = time.monotonic() + timeout
    while not pattern.search(worker.log_path().read_text(errors="replace") if worker.log_path().exists() else ""):
        assert worker.alive() and time.monotonic() < deadline, worker.log_tail()
        time.sleep(0.1)


def _wipe_store(worker: Worker) -> None:
    """Everything in the worker's state directory but its logs: the RocksDB store of the state table."""
    for path in Path(worker.settings.data_dir).iterdir():
        if path.suffix != ".log":
            shutil.rmtree(path) if path.is_dir() else path.unlink()


Run = tuple[Settings, list[tuple[bool, bool, int]], list[bytes], list[tuple[str, bytes]]]


@pytest.fixture(scope="module")
def crashed_run(bootstrap: str, tmp_path_factory: pytest.TempPathFactory, port_range: Any) -> Iterator[Run]:
    print(f"crash test seed {SEED} (CRASH_SEED={SEED} replays it)")
    rng = random.Random(SEED)
    settings = Settings(bootstrap=bootstrap, partitions=4, topic_prefix=f"c{uuid.uuid4().hex[:8]}",
                        data_dir=str(tmp_path_factory.mktemp("crash")))
    ensure_topics(settings)
    ensure_changelog(settings)
    master, pairs = stream(COPIES)
    producer = publisher(settings)
    publish(producer, settings, master, [])
    worker = Worker(settings, "worker", port_range(1), LOGLEVEL, batch_size=20)
    worker.start()
    kills: list[tuple[bool, bool, int]] = []
    sent = 0

    def send(upto: int) -> None:
        nonlocal sent
        upto = min(max(upto, sent), len(pairs))
        publish(producer, settings, [], pairs[sent:upto])
        sent = upto

    try:
        for point in kill_points(rng, len(pairs), KILLS):
            send(point + AHEAD)
            kills.append(_kill_at(worker, point, catch=5.0 if rng.random() < 0.75 else 0.0,
                                  feed=lambda: send(sent + FEED)))
            wiped = len(kills) in WIPED
            if wiped:
                _wipe_store(worker)
            worker.start()
            if wiped:   # the next kill point may be reached already: the read must happen before that kill
                _wait_for_log(worker, CHANGELOG_READ)
        publish(producer, settings, [], pairs[sent:])
        wait_until_idle(worker.settings, [worker])
    finally:
        worker.stop()
    assert worker.process is not None and worker.process.returncode == 0, worker.log_tail()
    print(f"seed {SEED}: {worker.starts} starts; kills (records waiting, in a transaction, committed): {kills}")
    yield worker.settings, kills, master, pairs


@pytest.fixture(scope="module")
def replayed(crashed_run: Run) -> tuple[Engine, StateRows, list[str]]:
    _settings, _kills, master, pairs = crashed_run
    return replay(master, pairs)


@pytest.fixture(scope="module")
def changelog(crashed_run: Run) -> dict[str, dict[str, bytes]]:
    return changelog_rows(crashed_run[0])


def test_kills_landed_mid_stream_and_in_transactions(crashed_run: Run) -> None:
    settings, kills, _master, pairs = crashed_run
    assert len(pairs) > 500
    assert len(kills) == KILLS
    assert sum(waiting for waiting, _, _ in kills) >= 3, (SEED, kills)   # records were waiting when it died
    assert any(open_ for _, open_, _ in kills), (SEED, kills)           # at least once, in the middle of a commit
    # what those transactions had written is in the log, invisible to read_committed readers
    topics = [changelog_topic(settings), settings.topic("planned-orders"), settings.topic("rejected")]
    assert len(read(settings, topics, isolation="read_uncommitted")) > len(read(settings, topics))


def test_a_wiped_store_is_read_back_from_the_changelog(crashed_run: Run) -> None:
    """After each wiped restart the worker read the changelog into its store before Faust's recovery (streams/
    changelog.py, ``StateTable``); the verdicts below say the state it rebuilt from it was right."""
    settings = crashed_run[0]
    for kill in WIPED:
        log = (Path(settings.data_dir) / f"worker-{kill + 1}.log").read_text(errors="replace")
        found = CHANGELOG_READ.search(log)
        assert found and int(found[1]) > 0, log[-4000:]


def test_table_rows_equal_the_replay(changelog: dict[str, dict[str, bytes]], replayed: tuple) -> None:
    assert_rows_equal(changelog, replayed)


def test_state_restored_from_the_rows_reports_like_the_replay(crashed_run: Run, changelog: dict[str, dict[str, bytes]],
                                                              replayed: tuple) -> None:
    """A fresh engine restored from the changelog reports like the replay: a receipt or issue applied twice
    (or lost) would change the stock."""
    assert_restored_reports_equal(crashed_run[2], changelog, replayed)


def test_compacted_plan_equals_the_replay(crashed_run: Run, replayed: tuple) -> None:
    assert_outputs_equal(crashed_run[0], replayed[0])


def test_each_bad_record_is_dead_lettered_once(crashed_run: Run, replayed: tuple) -> None:
    assert_dead_letters_equal(crashed_run[0], replayed[2])
    assert len(replayed[2]) >= 3 * COPIES
