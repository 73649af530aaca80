"""Freed memory handed back to the system: the C library's ``malloc_trim``.

A worker frees much of what a batch allocates (decoded events, output
records, fetched records, RocksDB write batches), but glibc keeps freed memory
for the next allocation: it returns only what lies at the very top of a heap,
and each thread that allocates (the Kafka clients' and RocksDB's threads, the
executor that reads the master topic) has heaps of its own.  After a drain of
2,000,000 events a worker's RSS held 300-450 MiB of such free memory
(BENCHMARKS.md).  ``malloc_trim(0)`` gives every free page of every heap back;
a timer of the worker asks for it every ``interval`` seconds, busy or idle (a
restore leaves much freed memory behind it, and an idle worker takes no
batches), and it changes nothing the worker computes.  Where the C library
has no ``malloc_trim`` (not glibc) it never runs.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable

__all__ = ["MemoryRelease", "malloc_trim"]


def malloc_trim() -> Callable[[int], int] | None:
    """The ``malloc_trim`` of the C library this process runs on (glibc), or None where it has none."""
    try:
        trim = ctypes.CDLL(None).malloc_trim   # the process's own symbols: the libc actually loaded
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


class MemoryRelease:
    """``malloc_trim(0)`` at most every ``interval`` seconds (0: never)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic,
                 trim: Callable[[int], int] | None = None,
                 observe: Callable[[float], None] | None = None) -> None:
        self.interval = interval
        self.clock = clock
        self.trim = trim if trim is not None else malloc_trim() if interval > 0 else None
        self.observe = observe   # the seconds each release took (a metric)
        self.last = clock()
        self.releases = 0

    def when_due(self) -> None:
        """Give free memory back when the interval has passed since the last time."""
        if self.trim is None or self.interval <= 0 or self.clock() - self.last < self.interval:
            return
        started = time.perf_counter()
        self.trim(0)
        if self.observe is not None:
            self.observe(time.perf_counter() - started)
        self.releases += 1
        self.last = self.clock()
