"""Cycle counting: which items to count on a day, and how accurate the counts were per class.

Each item is counted every ``count_days(class)`` days (A monthly, B quarterly,
C yearly by default; ABC by consumption value, ``core/kpis.py``).  Its next
count is due that many days after its latest count.  An item never counted
gets a first date inside its first cycle, spread evenly: the class's items in
name order take the days of the cycle from the site's first day in turn
(item k of n on day ``first + k · days // n``), so a class of n items asks
for about n / days counts a day instead of all of them at once, and an item
counted when the schedule said is due again exactly one cycle later.

A count that found a difference (the book was wrong) brings the next count
forward to ``recount_days`` after it, until a count agrees with the book.

An item is listed on a day when its next count is due on or before it; the
days it is overdue are shown.  The items looked at are those the site keeps
stock records of, or has consumed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..history import iso_week
from .settings import ControlSettings

__all__ = ["CountDue", "CountState", "accuracy_rows", "due_counts"]


@dataclass(frozen=True, slots=True)
class CountState:
    """What the schedule needs to know of one item."""

    item: str
    abc: str                    # "A", "B" or "C"
    last_count: int | None      # day ordinal of its latest count
    last_count_off: int = 0     # Σ|difference| of that day's counts (micro-units)


@dataclass(frozen=True, slots=True)
class CountDue:
    item: str
    abc: str
    due: int                    # day ordinal the count fell due
    reason: str                 # "cycle", "first count" or "recount"
    last_count: int | None


def due_counts(items: list[CountState], first_day: int, day: int, settings: ControlSettings) -> list[CountDue]:
    """The counts due on ``day`` (overdue ones included), most overdue first, then by item."""
    by_class: dict[str, list[CountState]] = {}
    for state in items:
        by_class.setdefault(state.abc, []).append(state)
    due: list[CountDue] = []
    for abc, members in by_class.items():
        cycle = settings.count_days(abc)
        # the first cycle's day of an item never counted comes from its rank among the whole class
        ranks = {item: rank for rank, item in enumerate(sorted(state.item for state in members))}
        size = len(members)
        for state in members:
            if state.last_count is None:
                when, reason = first_day + ranks[state.item] * cycle // size, "first count"
            else:
                when, reason = state.last_count + cycle, "cycle"
                if state.last_count_off and state.last_count + settings.recount_days < when:
                    when, reason = state.last_count + settings.recount_days, "recount"
            if when <= day:
                due.append(CountDue(state.item, abc, when, reason, state.last_count))
    due.sort(key=lambda d: (d.due, d.abc, d.item))
    return due


def accuracy_rows(weekly: dict[str, dict[int, list[int]]], classes: dict[str, str]) -> list[dict[str, object]]:
    """Count accuracy per week and class: lines, exact lines, line accuracy and quantity accuracy.

    ``weekly`` is item -> week -> [lines, exact, Σ|difference|, Σ|book|] (``core/history.py``); items are
    grouped by their class now.  Quantity accuracy is 1 - Σ|difference| / Σ|book| (None without book).
    """
    totals: dict[tuple[int, str], list[int]] = {}
    for item, weeks in weekly.items():
        abc = classes.get(item, "C")
        for week, (lines, exact, difference, book) in weeks.items():
            bucket = totals.setdefault((week, abc), [0, 0, 0, 0])
            bucket[0] += lines
            bucket[1] += exact
            bucket[2] += difference
            bucket[3] += book
    rows: list[dict[str, object]] = []
    for (week, abc), (lines, exact, difference, book) in sorted(totals.items()):
        rows.append({"week": iso_week(week), "abc": abc, "lines": lines, "exact": exact,
                     "accuracy_lines": round(exact / lines, 4) if lines else None,
                     "accuracy_qty": round(1 - difference / book, 4) if book else None})
    return rows
