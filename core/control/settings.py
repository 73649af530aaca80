"""Settings of inventory control, checked once when they are built."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ControlSettings"]


@dataclass(frozen=True, slots=True)
class ControlSettings:
    #: weeks forecast, from the current week on
    horizon_weeks: int = 13
    #: length of a season in weeks (Holt-Winters is tried with two seasons of training history)
    season_weeks: int = 52
    #: complete weeks of history needed to choose a method by holdout; fewer: the mean, no holdout
    min_weeks: int = 12
    #: most weeks held out to score the methods (a quarter of the history when that is less)
    holdout_weeks: int = 13
    #: cycle service level of the safety stock: chance of no stock-out in a replenishment cycle
    service_level: float = 0.95
    #: complete weeks of usage the safety stock is sized from
    usage_weeks: int = 26
    #: days between counts of an A, B and C item
    count_days_a: int = 30
    count_days_b: int = 91
    count_days_c: int = 365
    #: days after a count that found a difference until the item is counted again
    recount_days: int = 7

    def __post_init__(self) -> None:
        if not 0.5 <= self.service_level < 1:
            raise ValueError(f"service_level must be at least 0.5 and below 1, got {self.service_level}")
        for name, low, high in (("horizon_weeks", 1, 104), ("season_weeks", 2, 52), ("min_weeks", 4, 156),
                                ("holdout_weeks", 1, 52), ("usage_weeks", 2, 156), ("count_days_a", 1, 3650),
                                ("count_days_b", 1, 3650), ("count_days_c", 1, 3650), ("recount_days", 0, 3650)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be from {low} to {high}, got {value}")

    def count_days(self, abc: str) -> int:
        """Days between counts of an item of class ``abc``."""
        return {"A": self.count_days_a, "B": self.count_days_b}.get(abc, self.count_days_c)
