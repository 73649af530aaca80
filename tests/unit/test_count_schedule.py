"""The cycle-count schedule (core/control/counts.py): every item counted at its class's frequency when the
counters follow it, evenly spread, recounts after a difference; accuracy per class and week from the engine."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Any

import pytest

from core.control import ControlSettings
from core.control.answers import count_schedule_answer
from core.control.counts import CountState, due_counts
from core.engine import Engine
from helpers import apply_ok, item, mk

SETTINGS = ControlSettings()   # A every 30 days, B 91, C 365; recount 7 days after a difference
FIRST = dt.date(2026, 1, 5).toordinal()


def _follow(sizes: dict[str, int], days: int) -> tuple[dict[str, list[int]], dict[tuple[int, str], int]]:
    """Count exactly what the schedule lists, every day for ``days`` days (no count finds a difference)."""
    classes = {f"{abc}{n:03d}": abc for abc, size in sizes.items() for n in range(size)}
    counted: dict[str, list[int]] = {name: [] for name in classes}
    load: dict[tuple[int, str], int] = {}
    for day in range(FIRST, FIRST + days):
        states = [CountState(name, abc, counted[name][-1] if counted[name] else None)
                  for name, abc in classes.items()]
        for due in due_counts(states, FIRST, day, SETTINGS):
            assert due.due == day, "followed to the day, nothing is ever overdue"
            counted[due.item].append(day)
            load[(day, due.abc)] = load.get((day, due.abc), 0) + 1
    return counted, load


@pytest.mark.parametrize("sizes", [{"A": 12, "B": 30, "C": 80}, {"A": 100, "B": 7, "C": 400}])
def test_each_class_is_counted_at_its_frequency(sizes: dict[str, int]) -> None:
    days = 2 * 365 + 30
    counted, load = _follow(sizes, days)
    for name, when in counted.items():
        cycle = SETTINGS.count_days(name[0])
        assert when and when[0] < FIRST + cycle, f"{name} first counted within its first cycle"
        assert all(b - a == cycle for a, b in itertools.pairwise(when)), f"{name}: {when}"
        assert when[-1] >= FIRST + days - cycle, f"{name} still counted at the end"
    for (_, abc), lines in load.items():
        assert lines <= math.ceil(sizes[abc] / SETTINGS.count_days(abc)), "spread evenly over the cycle"


def test_a_difference_brings_the_next_count_forward_until_a_count_agrees() -> None:
    counted_on = FIRST + 10
    off = CountState("A1", "A", counted_on, last_count_off=2_000_000)
    assert due_counts([off], FIRST, counted_on + 6, SETTINGS) == []
    (due,) = due_counts([off], FIRST, counted_on + 7, SETTINGS)
    assert (due.reason, due.due, due.last_count) == ("recount", counted_on + 7, counted_on)
    agreed = CountState("A1", "A", counted_on + 7)
    assert due_counts([agreed], FIRST, counted_on + 36, SETTINGS) == []
    assert due_counts([agreed], FIRST, counted_on + 37, SETTINGS)[0].reason == "cycle"


def test_overdue_counts_come_first() -> None:
    states = [CountState("late", "A", FIRST), CountState("later", "B", FIRST - 200), CountState("fresh", "C", FIRST)]
    due = due_counts(states, FIRST - 400, FIRST + 40, SETTINGS)
    assert [(d.item, FIRST + 40 - d.due) for d in due] == [("later", 149), ("late", 10)]


def _at(day: int, **fields: Any) -> Any:
    ts = dt.datetime.combine(dt.date.fromordinal(day), dt.time(18), tzinfo=dt.UTC)
    return mk(fields.pop("type"), ts=ts, site="S1", **fields)


def test_the_site_schedule_and_its_accuracy_per_class() -> None:
    """FAST is issued for far more value than SLOW: FAST is A, SLOW C. Counts in two weeks:
    week 1: FAST exact (book 100), SLOW 10 counted as 8 (book 10); week 2: FAST 90 counted as 91."""
    engine = Engine()
    apply_ok(engine, item("FAST", standard_cost=10), item("SLOW", standard_cost=1),
             _at(FIRST, type="receipt", item="FAST", qty=200, lot="F1", unit_cost=10),
             _at(FIRST, type="receipt", item="SLOW", qty=10, lot="S1", unit_cost=1),
             _at(FIRST + 1, type="issue", item="FAST", qty=100),
             _at(FIRST + 2, type="count", item="FAST", lot="F1", counted_qty=100),
             _at(FIRST + 2, type="count", item="SLOW", lot="S1", counted_qty=8),
             _at(FIRST + 8, type="issue", item="FAST", qty=10),
             _at(FIRST + 9, type="count", item="FAST", lot="F1", counted_qty=91))
    state = engine.sites["S1"]
    answer = count_schedule_answer(state, SETTINGS)
    assert answer["items_by_class"] == {"A": 1, "B": 0, "C": 1}
    assert answer["accuracy"] == [
        {"week": "2026-W02", "abc": "A", "lines": 1, "exact": 1, "accuracy_lines": 1.0, "accuracy_qty": 1.0},
        {"week": "2026-W02", "abc": "C", "lines": 1, "exact": 0, "accuracy_lines": 0.0, "accuracy_qty": 0.8},
        {"week": "2026-W03", "abc": "A", "lines": 1, "exact": 0, "accuracy_lines": 0.0,
         "accuracy_qty": round(1 - 1 / 90, 4)},
    ]
    # today (the 14th): SLOW's recount, 7 days after its count was off; FAST was counted today
    assert answer["date"] == "2026-01-14"
    assert answer["counts"] == [{"item": "SLOW", "abc": "C", "reason": "recount", "due": "2026-01-14",
                                 "overdue_days": 0, "last_count": "2026-01-07"}]
    later = count_schedule_answer(state, SETTINGS, FIRST + 16)    # FAST's recount falls due a week after it was off
    assert [(c["item"], c["reason"], c["due"]) for c in later["counts"]] == [
        ("SLOW", "recount", "2026-01-14"), ("FAST", "recount", "2026-01-21")]
