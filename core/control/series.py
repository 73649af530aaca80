"""Weekly series from an item's history: what was issued, week by week, up to the last complete week.

A series starts at the first week with any quantity (before it the item was not
in use: leading zeros would read as demand that never was) and ends with the
last complete week before the site's current one (a week under way would read
as a drop).  Weeks without quantity inside it are zeros.  Values are units.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..history import week_of
from ..quantity import SCALE

__all__ = ["WeeklySeries", "weekly_series"]


@dataclass(frozen=True, slots=True)
class WeeklySeries:
    item: str
    first_week: int          # day ordinal of the Monday of the first week
    values: tuple[float, ...]

    @property
    def weeks(self) -> int:
        return len(self.values)

    def week(self, index: int) -> int:
        """Monday ordinal of the week at ``index`` (past the end: the weeks that follow)."""
        return self.first_week + 7 * index


def weekly_series(item: str, buckets: dict[int, int], today: int, limit: int | None = None) -> WeeklySeries | None:
    """The complete weeks before ``today``'s week, from the first with a quantity (at most ``limit``, latest).

    None when no complete week has a quantity.
    """
    current = week_of(today)
    weeks = [week for week, qty in buckets.items() if week < current and qty]
    if not weeks:
        return None
    first = min(weeks)
    if limit is not None:
        first = max(first, current - 7 * limit)
    values = tuple(buckets.get(week, 0) / SCALE for week in range(first, current, 7))
    return WeeklySeries(item, first, values)
