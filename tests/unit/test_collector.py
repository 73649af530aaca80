"""The worker's garbage-collection policy (streams/collector.py): full collections on a timer."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from streams.collector import FullCollections


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """Generations of the collections CPython runs during the test; its thresholds restored after it."""
    thresholds = gc.get_threshold()
    seen: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            seen.append(info["generation"])

    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)
        gc.set_threshold(*thresholds)


def test_installed_no_automatic_full_collection_runs(full_collections: list[int]) -> None:
    FullCollections.install(600)
    assert gc.get_threshold()[2] >= 2**31 - 1
    keep = []
    for n in range(300_000):   # about 430 young collections: CPython's own policy would run full ones
        keep.append([n])
    assert full_collections and 2 not in full_collections


def test_a_full_collection_runs_between_batches_once_the_interval_has_passed(full_collections: list[int]) -> None:
    now = [100.0]
    collector = FullCollections(60, clock=lambda: now[0])
    collector.after_batch()
    now[0] += 59.9
    collector.after_batch()
    assert 2 not in full_collections and collector.collections == 0
    now[0] += 0.1
    collector.after_batch()
    assert full_collections.count(2) == 1 and collector.collections == 1
    now[0] += 30
    collector.after_batch()   # the interval counts from the last collection
    assert collector.collections == 1


def test_zero_keeps_cpythons_policy(full_collections: list[int]) -> None:
    before = gc.get_threshold()
    FullCollections.install(0)
    assert gc.get_threshold() == before
    now = [0.0]
    collector = FullCollections(0, clock=lambda: now[0])
    now[0] += 10**6
    collector.after_batch()
    assert collector.collections == 0
