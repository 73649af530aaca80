"""Batches of input records for the engine: takes from the feed, joined while the worker is behind.

A take is what the agent finds on its feed (``streams.feed``) within
``BATCH_WITHIN`` (50 ms) of asking, ``batch_size`` records at most.
Every batch costs a transaction per site partition and a re-plan of the items
its events touched, and publishes each planned order that moved: a backlog read
in such small batches re-plans and re-publishes the same items thousands of
times.  So while the inputs hold a take's worth of records or more past what
was taken, the takes are joined into one batch until it holds ``max_records``
records (the worker's ``read_ahead``: a stalled batch holds about what the feed
does), ``max_bytes`` of input or ``window`` seconds of taking; a live
worker that keeps up still applies each take as it comes.  Records already
fetched (``queued``) count as behind whatever the inputs say: an input paused
for the event-time merge brings nothing more, but what the feed holds of it
still comes, and counted as nothing it went in a take (``batch_size``) at a
time, each take a batch of its own.

The next take is asked for as soon as one arrives, so it gathers records
while the batch before is committed (its transactions wait on the brokers)
instead of only after.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from .processor import InRecord, value_bytes

__all__ = ["Backlog", "joined"]

#: records the inputs hold past a batch's last, per input (topic, partition) -> highest offset handed over
Backlog = Callable[[dict[tuple[str, int], int]], int]


async def joined(takes: AsyncIterator[list[InRecord]], backlog: Backlog, *, behind: int, max_records: int,
                 max_bytes: int, window: float, queued: Callable[[], int] = lambda: 0
                 ) -> AsyncIterator[list[InRecord]]:
    """The takes as engine batches: one take each, or several joined while ``backlog`` or ``queued`` (records
    fetched, waiting for a take) is ``behind`` or more.

    A joined batch takes no more once it holds ``max_records`` records or
    ``max_bytes`` of record values, or ``window`` seconds after its first
    take came, whichever is first (a take is never split, so a batch may
    pass a bound by less than a take); it never waits past the window for a take
    that does not come (a backlog just read to its end).  Records keep their
    order; none is dropped or repeated.
    """
    loop = asyncio.get_running_loop()
    waiting = asyncio.ensure_future(anext(takes))
    try:
        while True:
            try:
                batch = await waiting
            except StopAsyncIteration:
                return
            waiting = asyncio.ensure_future(anext(takes))
            size = value_bytes(batch)
            last = _last_offsets(batch, {})
            deadline = loop.time() + window
            while len(batch) < max_records and size < max_bytes and (queued() >= behind
                                                                       or backlog(last) >= behind):
                done, _ = await asyncio.wait({waiting}, timeout=deadline - loop.time())
                if not done or waiting.exception() is not None:
                    break   # none came within the window, or the takes ended (the next round returns)
                take = waiting.result()
                waiting = asyncio.ensure_future(anext(takes))
                batch.extend(take)
                size += value_bytes(take)
                _last_offsets(take, last)
            yield batch
    finally:
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await waiting


def _last_offsets(records: list[InRecord], last: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    for record in records:
        key = (record.topic, record.partition)
        if record.offset > last.get(key, -1):
            last[key] = record.offset
    return last
