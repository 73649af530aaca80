"""The event ids a site remembers for de-duplication, for a window of event time.

The ids live in an ``IdTable``: the compiled one (``core/_ids.pyx``, ids packed as
bytes) unless the engine runs the pure-Python kernel or the compiled module is
missing (``MILLSTREAM_REQUIRE_COMPILED=1`` makes that an error), then its twin
(``core/_ids_py.py``).  The window's logic (hours of expiry, pruning, exact
expiries) is here, once, for both.
"""

from __future__ import annotations

import datetime as dt
import heapq
import os

from . import _ids_py

__all__ = ["SeenIds", "id_table"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_HOUR = dt.timedelta(hours=1)
_HOUR_US = 3_600_000_000
_MICRO = dt.timedelta(microseconds=1)


def id_table(kernel: str | None = None) -> type:
    """The id table class for the engine's ``kernel`` setting ("python": the twin; else the compiled one)."""
    name = kernel if kernel in ("cython", "python") else os.environ.get("MILLSTREAM_KERNEL", "")
    if name == "python":
        return _ids_py.IdTable
    try:
        from . import _ids  # type: ignore[attr-defined]
    except ImportError as exc:
        if name == "cython" or os.environ.get("MILLSTREAM_REQUIRE_COMPILED") == "1":
            raise ImportError(f"the compiled id table is required but did not import: {exc}") from exc
        return _ids_py.IdTable
    return _ids.IdTable


class SeenIds:
    """Remembers event ids per site for a window of event time.

    Each id keeps its exact expiry, and ids are forgotten an hour of expiries at
    a time: the table keeps the entries per hour of expiry instead of a heap entry
    per id (a tuple of 56 bytes for each of the millions of events a site sees in
    the window).  An id whose expiry passed within the hour not yet forgotten is
    still held but not known (``knows``), so what counts as seen is exact to the
    microsecond.  The exact time (microseconds into the hour) is looked up only
    for an id of the hour the clock is in, and when an id is forgotten.

    ``seen`` is the table: ``in``, ``len`` and iteration give the ids remembered.
    With change tracking on, ``fresh`` and ``dropped`` say what changed since
    ``core/persist.py`` last looked, with the expiries, so durable state is written per batch.
    """

    __slots__ = ("dropped", "expiring", "fresh", "hours", "now", "pruning", "queued", "seen")

    def __init__(self, track: bool, table: type | None = None) -> None:
        self.seen = (table or id_table())()   # id -> the hour of its expiry and the µs into it
        self.hours: list[int] = []   # the hours holding entries, a heap
        self.queued: set[int] = set()   # the same hours, to ask whether one is there
        self.now: dt.datetime | None = None   # ids expired before this time are forgotten
        # the hour (start, end, number) last remembered into, and the one pruned up to (``_hour``)
        self.expiring: tuple[dt.datetime, dt.datetime, int] | None = None
        self.pruning: tuple[dt.datetime, dt.datetime, int] | None = None
        self.fresh: dict[str, dt.datetime] | None = {} if track else None   # remembered since persist looked
        self.dropped: dict[str, dt.datetime] = {}   # forgotten since then, having been remembered before

    def knows(self, event_id: str) -> bool:
        hour = self.seen.hour_of(event_id)
        if hour is None or self.pruning is None:   # nothing pruned yet: every id remembered is known
            return hour is not None
        current = self.pruning[2]   # the hour of ``now``
        if hour != current:
            return hour > current   # an hour before the clock's is forgotten (pruned or about to be)
        return not self.seen.micros_of(event_id) < _micros_into(self.now, hour)

    def remember(self, event_id: str, expiry: dt.datetime) -> None:
        span = self.expiring
        if span is None or not span[0] <= expiry < span[1]:
            span = self.expiring = _hour(expiry)
        hour = span[2]
        if hour not in self.queued:
            self.queued.add(hour)
            heapq.heappush(self.hours, hour)
        if span[0] is span[1]:   # a zone with daylight saving: no span, placed on its own
            self.seen.add(event_id, hour, _micros_into(expiry, hour))
        else:
            into = expiry - span[0]   # within the span's zone: cheap, and under an hour
            self.seen.add(event_id, hour, into.seconds * 1_000_000 + into.microseconds)

    def prune(self, now: dt.datetime) -> None:
        """Forget the ids expired before ``now``: every hour of them that has passed, the rest of the
        current hour when it has (``knows`` already counts them out)."""
        self.now = now
        span = self.pruning
        if span is None or not span[0] <= now < span[1]:
            span = self.pruning = _hour(now)
        current = span[2]
        while self.hours and self.hours[0] < current:
            hour = heapq.heappop(self.hours)
            self.queued.discard(hour)
            self.seen.drop_hour(hour)

    def forget(self, event_id: str) -> dt.datetime | None:
        """Forget an id now; its expiry (in UTC) if it was known."""
        if self.seen.hour_of(event_id) is None:
            return None
        known = self.knows(event_id)
        micros = self.seen.micros_of(event_id)
        hour = self.seen.pop(event_id)
        if not known:
            return None
        return _EPOCH + dt.timedelta(microseconds=hour * _HOUR_US + micros)


def _micros_into(ts: dt.datetime, hour: int) -> int:
    """Microseconds from the start of ``hour`` (since the epoch, UTC) to ``ts`` (any zone)."""
    return (ts - _EPOCH) // _MICRO - hour * _HOUR_US


def _hour(ts: dt.datetime) -> tuple[dt.datetime, dt.datetime, int]:
    """The hour (since the epoch, UTC) ``ts`` falls in, with its start and end in ``ts``'s own time zone:
    the events of a site share one, and comparing within a zone is several times cheaper than across.
    Only a fixed offset (what the codecs decode) gives a span: within a zone with daylight saving, times
    compare by the clock, so the span is empty and every time is placed on its own."""
    hour = (ts - _EPOCH) // _HOUR
    if not isinstance(ts.tzinfo, dt.timezone):
        return ts, ts, hour
    start = (_EPOCH + hour * _HOUR).astimezone(ts.tzinfo)
    return start, start + _HOUR, hour
