"""Stable ids of planned orders: item and due date, plus a rank when several share the date.

Kept apart from the planner so that what reads plans (reports, capacity) names
planned orders exactly as the published records do.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["iso", "planned_id", "planned_ids"]

_ISO_TEXT: dict[int, str] = {}


def iso(ordinal: int) -> str:
    """ISO date of a day ordinal, memoised: planned ids format the same few hundred days over and over.  A day
    before the calendar's first (lead times from a requirement near it) is written as its first."""
    text = _ISO_TEXT.get(ordinal)
    if text is None:
        text = _ISO_TEXT[ordinal] = dt.date.fromordinal(max(1, ordinal)).isoformat()
    return text


def planned_id(item: str, due: int, rank: int) -> str:
    """Stable id of a planned order: item and due date, plus the rank when several share the date."""
    stem = f"{item}@{iso(due)}"
    return stem if rank == 0 else f"{stem}#{rank + 1}"


def planned_ids(item: str, planned: list[tuple[int, int, int, int]]) -> list[str]:
    """Stable ids: item and due date, plus the rank when several orders share a due date.

    Planned orders come in due-date order, so one pass numbers each date's orders.
    """
    ids: list[str] = []
    last_due = None
    rank = 0
    stem = ""
    for due, *_ in planned:
        if due == last_due:
            rank += 1
            ids.append(f"{stem}#{rank + 1}")
        else:
            last_due, rank = due, 0
            stem = f"{item}@{iso(due)}"
            ids.append(stem)
    return ids
