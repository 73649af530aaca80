"""Freed memory handed back to the system on the worker's timer (streams/release.py)."""

from __future__ import annotations

import platform

import pytest

from streams.release import MemoryRelease, malloc_trim

GLIBC = platform.libc_ver()[0] == "glibc"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_free_memory_goes_back_at_most_once_per_interval() -> None:
    clock, calls, observed = Clock(), [], []
    release = MemoryRelease(5.0, clock=clock, trim=lambda pad: calls.append(pad) or 1, observe=observed.append)
    release.when_due()
    assert calls == [], "not before the interval has passed since the worker started"
    clock.now += 5.0
    release.when_due()
    release.when_due()
    assert calls == [0], "trimmed to nothing kept (pad 0), once"
    clock.now += 4.9
    release.when_due()
    assert calls == [0]
    clock.now += 0.1
    release.when_due()
    assert calls == [0, 0] and release.releases == 2
    assert len(observed) == 2 and all(seconds >= 0 for seconds in observed)


def test_an_interval_of_zero_never_releases() -> None:
    clock, calls = Clock(), []
    release = MemoryRelease(0.0, clock=clock, trim=calls.append)
    for _ in range(3):
        clock.now += 60
        release.when_due()
    assert calls == [] and release.releases == 0
    assert MemoryRelease(0.0).trim is None, "turned off, the C library is not even looked up"


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's; elsewhere the release never runs")
def test_memory_freed_below_the_top_of_the_heap_goes_back_only_when_trimmed() -> None:
    """glibc keeps freed chunks that something still allocated lies above; ``malloc_trim(0)`` returns them."""
    trim = malloc_trim()
    assert trim is not None
    chunks = [bytes(60_000) + bytes([n % 256]) for n in range(2_000)]   # below the mmap threshold: the heap
    guard = [bytes(60_000) + b"guard" for _ in range(8)]                # above them: the top cannot shrink
    before = _rss_bytes()
    del chunks
    freed_but_kept = _rss_bytes()
    assert before - freed_but_kept < 60 * 2**20, "glibc kept most of the 120 MB freed below the guard"
    assert trim(0) == 1, "memory was released"
    assert freed_but_kept - _rss_bytes() > 60 * 2**20
    assert len(guard) == 8
