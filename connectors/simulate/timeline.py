"""Simulated time: each plant's clock, working days, and the merge of all plants' events into time order.

Timestamps come from the simulated clock only (never the wall clock), so a seed gives the same file
byte for byte.  A plant's clock only moves forward; the merge writes an event once no plant can still
produce an earlier one.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterator

from schemas.codecs import encode_json

__all__ = ["EventQueue", "PlantClock", "add_working_days", "working_day"]

#: time between two events of one plant within a phase of its day
STEP = dt.timedelta(seconds=2)


def working_day(day: dt.date) -> dt.date:
    """``day``, or the Monday after it when it falls on a weekend."""
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def add_working_days(day: dt.date, count: int) -> dt.date:
    day = working_day(day)
    for _ in range(count):
        day = working_day(day + dt.timedelta(days=1))
    return day


class PlantClock:
    """A plant's event time: phases of its local day, then a few seconds between events."""

    def __init__(self, offset: dt.timezone) -> None:
        self.offset = offset
        self.floor: dt.datetime | None = None
        self.last: dt.datetime | None = None

    def phase(self, day: dt.date, hour: int, minute: int = 0) -> None:
        """Events from now on happen at ``hour`` local time on ``day`` or later."""
        self.floor = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.offset)

    def tick(self) -> dt.datetime:
        assert self.floor is not None, "a phase starts before the first event"
        ts = self.floor if self.last is None or self.last + STEP < self.floor else self.last + STEP
        self.last = ts
        return ts

    def now(self) -> dt.datetime:
        """The time of the latest event (for a follow-up that happens at the same moment)."""
        assert self.last is not None
        return self.last

    def horizon(self, day: dt.date) -> dt.datetime:
        """No event of this plant comes before this once ``day`` is simulated: the next local midnight."""
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=self.offset) + dt.timedelta(days=1)
        return midnight if self.last is None or self.last < midnight else self.last + STEP


class EventQueue:
    """Events of all plants, written in event-time order (ties: the order they were made)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, bytes]] = []   # (POSIX time: cheap to compare, seq, line)
        self._seq = 0

    def push(self, event: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (event.ts.timestamp(), self._seq, encode_json(event) + b"\n"))  # type: ignore[attr-defined]

    def until(self, horizon: dt.datetime) -> Iterator[bytes]:
        """The lines of every event before ``horizon``, in time order."""
        heap, until = self._heap, horizon.timestamp()
        while heap and heap[0][0] < until:
            yield heapq.heappop(heap)[2]

    def drain(self) -> Iterator[bytes]:
        while self._heap:
            yield heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        return len(self._heap)
