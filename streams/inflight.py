"""Records lost in flight: found by the offsets they leave out, and read again.

A rebalance suspends Faust's flow in the middle of handing records to the
agent: records in flight are dropped while the consumer's position has moved
past them, and Faust relies on seeking back to the committed offsets
afterwards (``streams/durable.py``, ``_rewind``, covers the partitions it
misses).  Faust also drops a record whose offset is below the last one it
delivered of its partition, and a seek does not stop a fetch already being
delivered.  Test runs still lost records around a rebalance (which of these
dropped them is not pinned down): in CI three records were read and never
applied, and nothing more came (the group stuck three records short); in a
local suite run thirteen, and the records after them went in, so the commit
moved past them.

The durable position is the truth, and the upstream inputs (merged in event
time) carry every offset: nothing in between may be skipped.  So

* ``GapGuard``: a batch whose records of an input do not start at its
  committed offset, or leave an offset out, applies that input's records up
  to the gap and reads it again from there (unless the log no longer starts
  before it: ``streams/durable.py`` asks).  A gap read again
  ``GAP_CONFIRMATIONS`` times that still comes back the same way (the same
  first offset after it) is in the log itself (an aborted transaction of an
  upstream producer): it is accepted.
* ``StallWatch``: an input whose read position stays past its committed offset
  while nothing comes has lost its last records; with no later record to show
  the gap, it is read again after ``STALL_REWIND`` seconds.

Only upstream inputs are watched: on a topic written in transactions (the
transfers topic) commit markers take offsets that are never delivered.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

__all__ = ["GAP_CONFIRMATIONS", "STALL_REWIND", "GapGuard", "StallWatch"]

#: times a gap is read again, coming back the same way each time, before it is taken to be in the log
GAP_CONFIRMATIONS = 2

#: seconds an input may stay read past its committed offset, with neither moving, before it is read again
STALL_REWIND = 15.0

Input = tuple[str, int]


class _Record(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=_Record)


@dataclass
class GapGuard:
    """Cuts each watched input's records of a batch at the first offset missing since its commit."""

    #: input -> (offset missing, first offset delivered after it, times read again for that gap)
    _reread: dict[Input, tuple[int, int, int]] = field(default_factory=dict)

    def cut(self, records: Sequence[R], committed: Mapping[Input, int], watched: Collection[str]
            ) -> tuple[list[R], dict[Input, int]]:
        """The records to apply (in their order), and the inputs to read again from the offset each misses.

        ``committed``: the next offset to apply per input; an input without one
        is not checked.  ``watched``: the topics that carry every offset.
        """
        by_input: dict[Input, list[int]] = {}
        for record in records:
            if record.topic in watched:
                by_input.setdefault((record.topic, record.partition), []).append(record.offset)
        limits: dict[Input, int] = {}   # input -> first offset not applied from this batch
        rereads: dict[Input, int] = {}
        for key, offsets in by_input.items():
            expected = committed.get(key)
            if expected is None:
                continue
            for offset in sorted(offsets):
                if offset < expected:
                    continue   # delivered twice in the batch
                if offset > expected:
                    hole, first, times = self._reread.get(key, (expected, offset, 0))
                    times = times + 1 if (hole, first) == (expected, offset) else 1
                    if times <= GAP_CONFIRMATIONS:   # a gap: read again
                        self._reread[key] = (expected, offset, times)
                        limits[key] = rereads[key] = expected
                        break
                    del self._reread[key]   # it keeps coming back the same way: the log has it
                expected = offset + 1
        if not limits:
            return list(records), {}
        kept = [r for r in records if r.offset < limits.get((r.topic, r.partition), r.offset + 1)]
        return kept, rereads


@dataclass
class StallWatch:
    """Tells which inputs to read again: position past the committed offset, both unchanged for ``limit`` s."""

    limit: float = STALL_REWIND
    #: input -> (committed offset, read position, since when both are so)
    _seen: dict[Input, tuple[int, int, float]] = field(default_factory=dict)

    def rewinds(self, committed: Mapping[Input, int], positions: Mapping[Input, int | None],
                now: float) -> dict[Input, int]:
        """The inputs stalled past their committed offset, and the offset to read each from again.

        ``committed``: the next offset to apply per input (what the worker's
        last commit says); an input without one is not watched.  ``positions``:
        the consumer's next offset to fetch per input (None: not known).
        ``now``: processing time in seconds (when to act, never what).
        """
        due: dict[Input, int] = {}
        seen: dict[Input, tuple[int, int, float]] = {}
        for key, position in positions.items():
            offset = committed.get(key)
            if offset is None or position is None or position <= offset:
                continue
            before = self._seen.get(key)
            since = before[2] if before is not None and before[:2] == (offset, position) else now
            if now - since >= self.limit:
                due[key] = offset
                since = now   # read again: give the records the same time to come through
            seen[key] = (offset, position, since)
        self._seen = seen
        return due
