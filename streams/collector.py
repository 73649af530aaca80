"""The worker's garbage-collection policy: full collections on a timer, not on allocation counts.

A worker keeps its sites' state in memory: millions of long-lived objects
(ledger records, plan nodes, event ids).  CPython's cyclic collector walks all
of them in every full collection, and starts one whenever the objects that
survived into its oldest generation have grown by a quarter, which a worker's
state does all the time.  Measured on a 400,000-event drain of the service
benchmark: 9.8 of 49 s of the worker's CPU in 33 full collections that found
690 objects between them (the state is long-lived, not garbage; the few
cycles come from the libraries).  So the worker keeps CPython's young collections, which find
nearly all the cycles there are, turns the automatic full ones off, and runs
one between batches every ``gc_full_interval`` seconds.  Only when garbage is
collected depends on the wall clock; what a worker computes never does.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

__all__ = ["FullCollections"]

#: the oldest generation's threshold that CPython never reaches (it counts collections of the middle one)
_NEVER = 2**31 - 1


class FullCollections:
    """Full collections every ``interval`` seconds (0: CPython's own policy, untouched)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.last = clock()
        self.collections = 0

    @staticmethod
    def install(interval: float) -> None:
        """The process's policy (a worker's, at start): no automatic full collections when ``interval`` > 0."""
        if interval > 0:
            young, middle, _ = gc.get_threshold()
            gc.set_threshold(young, middle, _NEVER)

    def after_batch(self) -> None:
        """Between batches: a full collection when the interval has passed since the last one."""
        if self.interval > 0 and self.clock() - self.last >= self.interval:
            gc.collect()
            self.collections += 1
            self.last = self.clock()
