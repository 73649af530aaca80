"""Site records handed from Faust's consumer to the agent a fetch at a time, not a message at a time.

Faust hands over each fetched message on its own: its drain loop races the
conductor's callback against the flow's suspension (two tasks per message),
the conductor decodes the message and queues it for the agent's stream, and
the stream takes it off again, calling the sensors at each step.  With one
event per message a worker reading a backlog spent more time there than in the
engine (BENCHMARKS.md, issue 7).  Here the drain loop puts each fetch's site
records on a ``RecordFeed`` as one list, and the agent takes them from it.

Only the hand-over is replaced, and only for the site topics: group
membership, rebalances, pauses, seeks, the fetch itself and table recovery
stay Faust's, and a record of any other topic goes the way Faust sends it.
The drain loop below is Faust's own (``faust.transport.consumer.Consumer.
_drain_messages``, faust-streaming 0.15.3) with the hand-over changed; the
records it skips (read before) and the offsets it notes are the same.  Left
out: its ack bookkeeping (gaps, commits every n acks: the worker never acks)
and its yield every 100 messages (a fetch's records are listed without a
wait).  A unit test fails when Faust's own loop changes, so an upgrade reads
it again.
"""

from __future__ import annotations

import asyncio
import collections
import sys
from collections.abc import Iterable
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka

from .processor import InRecord, value_bytes

__all__ = ["FeedConsumer", "FeedTransport", "RecordFeed"]

#: how long the drain loop waits for a fetch before it looks again (Faust's own figure)
FETCH_TIMEOUT = 1.0


class RecordFeed:
    """Fetched site records waiting for the agent, bounded in records and in bytes (the worker's ``read_ahead``
    and ``read_ahead_bytes``).

    A fetch's records are put as one list.  ``put`` waits while the feed holds
    ``limit`` records or ``limit_bytes`` of record values or more, so the drain
    loop fetches no more until the agent takes some: the feed holds at most
    ``limit`` records and ``limit_bytes``, and one fetch.  Both bounds, because a
    record is one event or an envelope of a hundred: a count that lets single
    events be read ahead while a batch is applied would let envelopes take
    gigabytes.  A put that waits is dropped if the flow is suspended meanwhile (a
    rebalance), as Faust drops a message its stream had no room for: the durable
    layer reads such records again (``streams.inflight``).
    """

    def __init__(self, topics: Iterable[str], limit: int, limit_bytes: int | None = None) -> None:
        if limit < 1:
            raise ValueError(f"a feed holds at least one record, not {limit}")
        if limit_bytes is not None and limit_bytes < 1:
            raise ValueError(f"a feed holds at least one byte, not {limit_bytes}")
        self.topics = frozenset(topics)
        self.limit = limit
        self.limit_bytes = limit_bytes if limit_bytes is not None else sys.maxsize
        self._lists: collections.deque[list[InRecord]] = collections.deque()
        self._held = 0
        self._held_bytes = 0
        self._arrived = asyncio.Event()
        self._taken = asyncio.Event()

    def __len__(self) -> int:
        return self._held

    @property
    def held_bytes(self) -> int:
        """Bytes of the record values the feed holds."""
        return self._held_bytes

    async def put(self, records: list[InRecord], suspended: Any = None) -> bool:
        """Queue a fetch's records, once there is room; False if dropped because ``suspended`` was set."""
        while self._held >= self.limit or self._held_bytes >= self.limit_bytes:
            if suspended is not None and suspended.is_set():
                return False
            self._taken.clear()
            if suspended is None:
                await self._taken.wait()
            else:
                await _first(self._taken.wait(), suspended.wait())
        self._lists.append(records)
        self._held += len(records)
        self._held_bytes += value_bytes(records)
        self._arrived.set()
        return True

    async def take(self, most: int, within: float) -> list[InRecord]:
        """The next records, in the order put: at least one, at most ``most``, gathered for ``within`` seconds
        from the call (returned at once if ``most`` are there)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not self._held:
            self._arrived.clear()
            await self._arrived.wait()
        while self._held < most and (left := deadline - loop.time()) > 0:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                break
        taken: list[InRecord] = []
        while self._lists and len(taken) < most:
            records = self._lists.popleft()
            room = most - len(taken)
            if len(records) > room:   # the rest stays first in line
                self._lists.appendleft(records[room:])
                records = records[:room]
            taken.extend(records)
        self._held -= len(taken)
        self._held_bytes -= value_bytes(taken)
        self._taken.set()
        return taken


async def _first(*waits: Any) -> None:
    """Wait until the first of ``waits`` (coroutines) is done; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class FeedConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer whose drain loop puts the site topics' records on the transport's feed."""

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - exercised by the worker's tests
        feed: RecordFeed = self.transport.feed   # type: ignore[attr-defined]
        topics = feed.topics
        callback = self.callback
        read_offset = self._read_offset
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                await self.sleep(0)   # getmany may return at once, time after time: let the loop run
                if not self.should_stop:
                    records: list[InRecord] = []
                    async for tp, message in self.getmany(timeout=FETCH_TIMEOUT):
                        offset = message.offset
                        last = read_offset[tp]
                        if last is not None and offset < last:
                            continue   # read before (Faust logs and drops these too)
                        if message.topic in topics:
                            records.append(InRecord(message.topic, message.partition, offset, message.value or b""))
                        else:
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                        read_offset[tp] = offset
                    if records:
                        await feed.put(records, self.suspend_flow)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class FeedTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with the ``FeedConsumer``; ``feed`` is set before the app starts."""

    Consumer = FeedConsumer
    feed: RecordFeed
