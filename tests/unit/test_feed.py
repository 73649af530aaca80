"""streams.feed.RecordFeed: fetched records reach the agent once each, in order, at most ``most`` per take,
gathered for ``within`` seconds; a full feed holds the drain loop back, and a held-back put is dropped when
the flow is suspended (a rebalance)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect

import pytest

from streams.feed import FeedConsumer, FeedTransport, RecordFeed
from streams.processor import InRecord

TOPIC = "t.inventory"
#: guards every wait that a broken feed would turn into a hang
GUARD = 5.0


def _records(start: int, n: int, partition: int = 0) -> list[InRecord]:
    return [InRecord(TOPIC, partition, offset, b"v") for offset in range(start, start + n)]


def _offsets(records: list[InRecord]) -> list[int]:
    return [record.offset for record in records]


def test_takes_hand_over_every_record_once_in_order_at_most_most_each() -> None:
    async def run() -> list[list[int]]:
        feed = RecordFeed([TOPIC], limit=100)
        for start, n in ((0, 3), (3, 7), (10, 5)):
            await feed.put(_records(start, n))
        takes = [_offsets(await feed.take(4, within=0.0)) for _ in range(4)]
        assert len(feed) == 0
        return takes

    assert asyncio.run(run()) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14]]


def test_a_take_gathers_for_within_seconds_then_returns_what_came() -> None:
    async def run() -> tuple[list[int], float]:
        feed = RecordFeed([TOPIC], limit=100)
        loop = asyncio.get_running_loop()

        async def later() -> None:
            await feed.put(_records(0, 2))
            await asyncio.sleep(0.05)
            await feed.put(_records(2, 2))   # within the take's 0.3 s: in the same take
            await asyncio.sleep(0.5)
            await feed.put(_records(4, 2))   # after it: the next take

        producer = asyncio.ensure_future(later())
        started = loop.time()
        first = _offsets(await asyncio.wait_for(feed.take(10, within=0.3), GUARD))
        waited = loop.time() - started
        second = _offsets(await asyncio.wait_for(feed.take(10, within=0.0), GUARD))
        await producer
        assert second == [4, 5]
        return first, waited

    first, waited = asyncio.run(run())
    assert first == [0, 1, 2, 3]
    assert 0.25 <= waited < 0.5


def test_a_take_returns_at_once_when_most_records_are_there() -> None:
    async def run() -> list[int]:
        feed = RecordFeed([TOPIC], limit=100)
        await feed.put(_records(0, 8))
        return _offsets(await asyncio.wait_for(feed.take(5, within=60.0), GUARD))

    assert asyncio.run(run()) == [0, 1, 2, 3, 4]


def test_a_take_waits_for_the_first_record() -> None:
    async def run() -> list[int]:
        feed = RecordFeed([TOPIC], limit=100)

        async def later() -> None:
            await asyncio.sleep(0.1)
            await feed.put(_records(7, 1))

        producer = asyncio.ensure_future(later())
        taken = await asyncio.wait_for(feed.take(5, within=0.0), GUARD)
        await producer
        return _offsets(taken)

    assert asyncio.run(run()) == [7]


def test_a_full_feed_holds_the_put_until_records_are_taken() -> None:
    async def run() -> None:
        feed = RecordFeed([TOPIC], limit=4)
        assert await feed.put(_records(0, 5))         # room when it came: a fetch goes in whole
        blocked = asyncio.ensure_future(feed.put(_records(5, 2)))
        await asyncio.sleep(0.05)
        assert not blocked.done() and len(feed) == 5  # held back while the feed holds its limit
        assert _offsets(await feed.take(2, within=0.0)) == [0, 1]
        assert await asyncio.wait_for(blocked, GUARD) is True
        assert len(feed) == 5
        assert _offsets(await feed.take(10, within=0.0)) == [2, 3, 4, 5, 6]

    asyncio.run(run())


def test_a_feed_full_in_bytes_holds_the_put_until_records_are_taken() -> None:
    """Envelopes are a hundred events a record: a count alone would let the feed hold gigabytes of them."""
    async def run() -> None:
        feed = RecordFeed([TOPIC], limit=1000, limit_bytes=250)
        big = [InRecord(TOPIC, 0, offset, b"x" * 100) for offset in range(3)]
        assert await feed.put(big)                    # 300 bytes: room when it came, a fetch goes in whole
        assert feed.held_bytes == 300
        blocked = asyncio.ensure_future(feed.put([InRecord(TOPIC, 0, 3, b"y" * 10)]))
        await asyncio.sleep(0.05)
        assert not blocked.done()                     # 3 records of 1000, but 300 bytes of 250
        assert _offsets(await feed.take(1, within=0.0)) == [0]
        assert feed.held_bytes == 200                 # below the bound again: the put goes in
        assert await asyncio.wait_for(blocked, GUARD) is True
        assert feed.held_bytes == 210 and len(feed) == 3
        assert _offsets(await feed.take(10, within=0.0)) == [1, 2, 3]
        assert feed.held_bytes == 0 and len(feed) == 0

    asyncio.run(run())


def test_a_take_split_from_a_fetch_leaves_the_rest_counted() -> None:
    async def run() -> None:
        feed = RecordFeed([TOPIC], limit=1000, limit_bytes=10_000)
        await feed.put([InRecord(TOPIC, 0, offset, b"z" * (offset + 1)) for offset in range(5)])   # 15 bytes
        assert _offsets(await feed.take(2, within=0.0)) == [0, 1]
        assert feed.held_bytes == 3 + 4 + 5
        assert _offsets(await feed.take(10, within=0.0)) == [2, 3, 4]
        assert feed.held_bytes == 0

    asyncio.run(run())


def test_a_held_back_put_is_dropped_when_the_flow_is_suspended() -> None:
    async def run() -> None:
        feed = RecordFeed([TOPIC], limit=2)
        suspended = asyncio.Event()
        await feed.put(_records(0, 2), suspended)
        blocked = asyncio.ensure_future(feed.put(_records(2, 2), suspended))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        suspended.set()   # a rebalance: the durable layer reads the dropped records again
        assert await asyncio.wait_for(blocked, GUARD) is False
        assert _offsets(await feed.take(10, within=0.0)) == [0, 1]
        assert await feed.put(_records(2, 2), suspended) is True   # room again: in, suspended or not

    asyncio.run(run())


def test_a_feed_holds_at_least_one_record() -> None:
    with pytest.raises(ValueError, match="at least one record"):
        RecordFeed([TOPIC], limit=0)
    with pytest.raises(ValueError, match="at least one byte"):
        RecordFeed([TOPIC], limit=1, limit_bytes=0)


def test_the_worker_reads_its_site_topics_through_the_feed(tmp_path) -> None:
    from millstream.settings import Settings
    from streams.app import SITE_TOPICS, create_app

    settings = Settings(data_dir=str(tmp_path), read_ahead=321, read_ahead_bytes=54_321)
    app = create_app(settings)   # nothing connects before the app starts
    assert isinstance(app.transport, FeedTransport)
    assert isinstance(app.consumer, FeedConsumer)
    assert app.transport.feed.topics == {settings.topic(name) for name in SITE_TOPICS}
    assert app.transport.feed.limit == 321
    assert app.transport.feed.limit_bytes == 54_321


def test_the_drain_loop_copied_is_still_fausts() -> None:
    """``FeedConsumer._drain_messages`` is Faust's drain loop with the hand-over changed: a Faust whose own
    loop changed (an upgrade) must be read again before the copy is trusted, so this fails until it is."""
    from faust.transport.consumer import Consumer

    source = inspect.getsource(Consumer._drain_messages)
    assert hashlib.sha256(source.encode()).hexdigest() == (
        "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"), "faust's drain loop changed"
