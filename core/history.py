"""What happened to an item at a site, kept for inventory control: usage by week, lateness, counts.

Forecasts, safety stock and cycle counts are computed from what the ledger
saw, so the site keeps a small history per item beside its record (the site's
hooks call ``ItemHistory`` as events are applied; ``core/persist.py`` keeps it
durable as a ``hist`` row).  It is bounded: ``HISTORY_WEEKS`` weeks of buckets
and the latest ``LATENESS_SAMPLES`` receipts.

Every quantity is bucketed by the event's own UTC date, and each field is a
sum or a "latest by date", so the history does not depend on the order events
arrive in (a replay's file order, the service's event-time merge).  Weeks are
ISO weeks, keyed by the day ordinal of their Monday.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field

__all__ = ["HISTORY_WEEKS", "LATENESS_SAMPLES", "ItemHistory", "day_of", "iso_week", "utc_date", "week_of"]

#: weeks of usage and count buckets kept per item: three years, two full seasons and a holdout
HISTORY_WEEKS = 156
#: receipts against purchase orders kept per item for lead-time variability (about a year of weekly deliveries)
LATENESS_SAMPLES = 52


def utc_date(ts: dt.datetime) -> dt.date:
    """An event time's UTC date (the site's clock works in UTC days)."""
    if ts.tzinfo is dt.UTC:   # what the codecs decode: no conversion needed
        return ts.date()
    return ts.astimezone(dt.UTC).date()


def day_of(ts: dt.datetime) -> int:
    """Day ordinal of an event time's UTC date."""
    return utc_date(ts).toordinal()


def week_of(day: int) -> int:
    """Ordinal of the Monday of the ISO week holding ``day`` (ordinal 1, 0001-01-01, is a Monday)."""
    return day - (day - 1) % 7


def iso_week(week: int) -> str:
    """``2026-W15`` for the week starting on day ordinal ``week``."""
    year, number, _ = dt.date.fromordinal(week).isocalendar()
    return f"{year}-W{number:02d}"


def _admit(buckets: dict[int, object], week: int) -> bool:
    """Whether a new week may get a bucket; buckets that fall out of the window go.

    Called only for a week without a bucket (once a week per item).  A week older than the window is
    refused, which the de-duplication window (events at most 30 days behind the clock) makes moot.
    """
    newest = max(buckets, default=week)
    if week <= newest - HISTORY_WEEKS * 7:
        return False
    horizon = max(newest, week) - HISTORY_WEEKS * 7
    for old in [w for w in buckets if w <= horizon]:
        del buckets[old]
    return True


def _add(buckets: dict[int, int], week: int, qty: int) -> None:
    if week in buckets:
        buckets[week] += qty
    elif _admit(buckets, week):  # type: ignore[arg-type]
        buckets[week] = qty


@dataclass(slots=True)
class ItemHistory:
    """One item's history at one site; quantities in micro-units.

    ``issued`` is independent demand (``issue`` events: deliveries, other issues), ``used`` what production
    orders consumed (``material_issue``); transfers out are neither (the receiving site's own issues are
    the network's demand, counted once).  ``lateness`` holds (receipt day, days after the purchase order's
    first promised due date), sorted, the latest kept.  ``counts`` per week: [lines, exact lines, Σ|counted
    - book|, Σ|book|]; ``last_count`` the latest day it was counted and ``last_count_off`` the Σ|difference|
    of that day's counts.
    """

    item: str
    issued: dict[int, int] = field(default_factory=dict)
    used: dict[int, int] = field(default_factory=dict)
    lateness: list[tuple[int, int]] = field(default_factory=list)
    counts: dict[int, list[int]] = field(default_factory=dict)
    last_count: int | None = None
    last_count_off: int = 0

    def issue(self, day: int, qty: int) -> None:
        _add(self.issued, week_of(day), qty)

    def material_issue(self, day: int, qty: int) -> None:
        _add(self.used, week_of(day), qty)

    def receipt(self, day: int, promised: int) -> None:
        """A receipt against a purchase order promised for day ``promised``."""
        bisect.insort(self.lateness, (day, day - promised))
        if len(self.lateness) > LATENESS_SAMPLES:
            del self.lateness[0]

    def count(self, day: int, book: int, counted: int) -> None:
        difference = abs(counted - book)
        week = week_of(day)
        bucket = self.counts.get(week)
        if bucket is None and _admit(self.counts, week):  # type: ignore[arg-type]
            bucket = self.counts[week] = [0, 0, 0, 0]
        if bucket is not None:
            bucket[0] += 1
            bucket[1] += difference == 0
            bucket[2] += difference
            bucket[3] += abs(book)
        if self.last_count is None or day > self.last_count:
            self.last_count, self.last_count_off = day, difference
        elif day == self.last_count:
            self.last_count_off += difference

    def usage(self) -> dict[int, int]:
        """Everything the site consumed per week: issues and material issues."""
        total = dict(self.issued)
        for week, qty in self.used.items():
            total[week] = total.get(week, 0) + qty
        return total
