"""streams.intake joins takes into one engine batch only while the inputs are behind, within its byte and
time bounds, and hands every record over once, in order, never waiting past the window for a take."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from streams.intake import joined
from streams.processor import InRecord

TOPIC = "t.inventory"


def _take(start: int, n: int, size: int = 10, partition: int = 0) -> list[InRecord]:
    return [InRecord(TOPIC, partition, offset, b"x" * size) for offset in range(start, start + n)]


async def _takes(takes: list[list[InRecord]], gaps: list[float] | None = None) -> AsyncIterator[list[InRecord]]:
    for index, take in enumerate(takes):
        if gaps is not None:
            await asyncio.sleep(gaps[index])
        yield list(take)


def _ends(end: dict[tuple[str, int], int]):
    """A backlog from fixed end offsets: what an input holds past the last offset handed over."""
    def backlog(last: dict[tuple[str, int], int]) -> int:
        return sum(max(0, end.get(key, 0) - offset - 1) for key, offset in last.items())
    return backlog


async def _batches(takes: AsyncIterator[list[InRecord]], backlog, **bounds) -> list[list[InRecord]]:
    options = {"behind": 5, "max_records": 1000, "max_bytes": 1 << 20, "window": 5.0, **bounds}
    return [batch async for batch in joined(takes, backlog, **options)]


def _offsets(batches: list[list[InRecord]]) -> list[list[int]]:
    return [[record.offset for record in batch] for batch in batches]


def test_a_worker_that_keeps_up_applies_each_take_as_it_comes() -> None:
    takes = [_take(0, 3), _take(3, 3), _take(6, 3)]
    # the log's end is never the threshold (7) or more past what was handed over
    batches = asyncio.run(_batches(_takes(takes), _ends({(TOPIC, 0): 9}), behind=7))
    assert _offsets(batches) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


def test_takes_are_joined_while_the_inputs_hold_more_than_the_threshold() -> None:
    takes = [_take(start, 3) for start in range(0, 30, 3)]
    # 30 records in the log: joined until fewer than 5 remain past the batch (offset 25: 4 left)
    batches = asyncio.run(_batches(_takes(takes), _ends({(TOPIC, 0): 30})))
    assert _offsets(batches) == [list(range(27)), [27, 28, 29]]


def test_records_already_fetched_are_joined_though_their_inputs_show_nothing_more() -> None:
    """An input paused for the event-time merge counts for nothing in the backlog, but what the feed holds of
    it still comes: counted as nothing, it went in a take at a time, each take a batch of its own."""
    takes = [_take(start, 3) for start in range(0, 30, 3)]
    fetched = [30]

    async def run() -> list[list[InRecord]]:
        async def counted() -> AsyncIterator[list[InRecord]]:
            async for take in _takes(takes):
                fetched[0] -= len(take)   # the feed hands them over: what it holds shrinks
                yield take

        return await _batches(counted(), _ends({}), queued=lambda: fetched[0])

    # queued 27 after the first take, ... 3 after the ninth: joined while 5 or more are still fetched
    assert _offsets(asyncio.run(run())) == [list(range(27)), [27, 28, 29]]


def test_nothing_fetched_and_nothing_on_the_inputs_applies_each_take() -> None:
    takes = [_take(0, 3), _take(3, 3)]
    batches = asyncio.run(_batches(_takes(takes), _ends({}), queued=lambda: 0))
    assert _offsets(batches) == [[0, 1, 2], [3, 4, 5]]


def test_a_joined_batch_stops_at_its_byte_bound() -> None:
    takes = [_take(start, 3, size=100) for start in range(0, 30, 3)]
    batches = asyncio.run(_batches(_takes(takes), _ends({(TOPIC, 0): 30}), max_bytes=900))
    # 300 bytes a take: the third brings it to 900, the bound
    assert _offsets(batches) == [list(range(9)), list(range(9, 18)), list(range(18, 27)), [27, 28, 29]]


def test_a_joined_batch_stops_at_its_record_bound() -> None:
    takes = [_take(start, 3) for start in range(0, 30, 3)]
    batches = asyncio.run(_batches(_takes(takes), _ends({(TOPIC, 0): 30}), max_records=7))
    # the take that reaches the bound is kept whole: 9 records, then the next batch starts
    assert _offsets(batches) == [list(range(9)), list(range(9, 18)), list(range(18, 27)), [27, 28, 29]]


def test_zero_bytes_never_joins() -> None:
    takes = [_take(start, 3) for start in range(0, 9, 3)]
    batches = asyncio.run(_batches(_takes(takes), _ends({(TOPIC, 0): 1000}), max_bytes=0))
    assert _offsets(batches) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


def test_a_joined_batch_stops_at_its_window_and_no_record_is_lost() -> None:
    takes = [_take(start, 2) for start in range(0, 12, 2)]
    # a take every 0.1 s, a window of 0.25 s: two or three takes a batch (never more than the window allows)
    gaps = [0.0] + [0.1] * 5
    batches = asyncio.run(_batches(_takes(takes, gaps), _ends({(TOPIC, 0): 1000}), window=0.25))
    assert [offset for batch in _offsets(batches) for offset in batch] == list(range(12))
    assert all(len(batch) <= 6 for batch in batches)
    assert len(batches) >= 2


def test_a_take_that_does_not_come_is_not_waited_for_past_the_window() -> None:
    async def run() -> tuple[list[int], float]:
        loop = asyncio.get_running_loop()
        gate = asyncio.Event()

        async def takes() -> AsyncIterator[list[InRecord]]:
            yield _take(0, 3)
            await gate.wait()   # the rest of the backlog never comes (until the test lets it)
            yield _take(3, 3)

        batches = joined(takes(), _ends({(TOPIC, 0): 100}), behind=5, max_records=1000, max_bytes=1 << 20,
                         window=0.2)
        started = loop.time()
        first = await asyncio.wait_for(anext(batches), timeout=5.0)   # fails, rather than hangs, if it waits
        waited = loop.time() - started
        gate.set()
        rest = [batch async for batch in batches]
        return [r.offset for r in first] + [r.offset for batch in rest for r in batch], waited

    offsets, waited = asyncio.run(run())
    assert offsets == [0, 1, 2, 3, 4, 5]
    assert waited < 2.0   # the window (0.2 s): the first batch went without the take that did not come


def test_the_backlog_is_asked_with_the_highest_offset_handed_over_per_input() -> None:
    seen: list[dict[tuple[str, int], int]] = []

    def backlog(last: dict[tuple[str, int], int]) -> int:
        seen.append(dict(last))
        return 0

    # partition 1's offsets 2 and 3 again after 9: records delivered twice after a rewind
    take = [*_take(0, 2, partition=0), *_take(7, 3, partition=1), *_take(2, 2, partition=1)]
    asyncio.run(_batches(_takes([take]), backlog))
    assert seen == [{(TOPIC, 0): 1, (TOPIC, 1): 9}]


def test_the_next_take_is_asked_for_while_the_batch_is_applied() -> None:
    """The take after a batch starts while the batch is applied (it gathers records from the feed meanwhile)."""
    async def run() -> list[str]:
        log: list[str] = []

        async def takes() -> AsyncIterator[list[InRecord]]:
            for start in (0, 3):
                log.append(f"take {start}")
                yield _take(start, 3)

        async for batch in joined(takes(), _ends({}), behind=5, max_records=1000, max_bytes=1 << 20,
                                  window=1.0):
            log.append(f"apply {batch[0].offset}")
            await asyncio.sleep(0.01)   # the batch's transactions
            log.append(f"applied {batch[0].offset}")
        return log

    log = asyncio.run(run())
    assert log.index("take 3") < log.index("applied 0")
