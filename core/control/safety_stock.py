"""Safety stock and reorder point from the demand and lead-time variability actually seen.

Demand over a replenishment lead time varies for two reasons: weekly usage
varies, and the lead time itself varies.  With weekly usage of mean d and
standard deviation s_d, and a lead time of mean L and standard deviation
s_L (both in weeks), the demand over the lead time has the variance
L·s_d² + d²·s_L² (usage and lead time independent; Silver, Pyke and Peterson,
"Inventory Management and Production Planning and Scheduling", ch. 7), so for
a cycle service level P (the chance that a replenishment cycle sees no
stock-out) with z the P-quantile of the standard normal distribution::

    safety stock  = z · sqrt(L · s_d² + d² · s_L²)
    reorder point = d · L + safety stock

A worked example (the unit test checks it): usage over six weeks 10, 12, 8,
14, 6, 10 gives d = 10, s_d² = (0 + 4 + 4 + 16 + 16 + 0) / 5 = 8; a configured
lead time of 14 days and receipts 0, 7, -7 and 0 days after their promised
dates give L = (14 + 0) / 7 = 2 weeks and s_L² = (0 + 49 + 49 + 0) / 3 / 7² =
2/3 week²; at P = 95 %, z = 1.644854, so safety stock = 1.644854 ·
sqrt(2 · 8 + 100 · 2/3) = 1.644854 · 9.092121 = 14.955 and reorder point =
10 · 2 + 14.955 = 34.955.

Where the numbers come from:
- usage: everything the site consumed per week (``issue`` and ``material_issue``), the last ``usage_weeks``
  complete weeks from the first week the item was used; sample standard deviation.
- lead time: the item's configured ``lead_time_days`` shifted by how late (or early) each receipt against a
  purchase order came compared with the date the order was first promised for (``core/history.py``);
  its spread is the spread of that lateness.  Made items, and bought items with fewer than two such
  receipts, keep the configured lead time without spread (``lead_time_basis`` says which).

The results are recommendations, shown beside the configured safety stock; nothing is applied.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

__all__ = ["Recommendation", "recommend", "z_value"]


def z_value(service_level: float) -> float:
    """The standard normal quantile of the service level (1.644854 at 95 %)."""
    return statistics.NormalDist().inv_cdf(service_level)


@dataclass(frozen=True, slots=True)
class Recommendation:
    weeks: int                  # weeks of usage measured
    mean_weekly: float          # d
    sd_weekly: float            # s_d
    lead_time_days: float       # L, days
    lead_time_sd_days: float    # s_L, days
    receipts: int               # lateness samples behind L and s_L
    lead_time_basis: str        # "receipts" or "configured"
    z: float
    safety_stock: float
    reorder_point: float


def _mean_sd(values: list[float] | list[int]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1), in floats: ``statistics.stdev`` works in exact fractions,
    ten times slower, for digits no recommendation needs."""
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def recommend(usage: list[float], lead_time_days: int, lateness_days: list[int],
              service_level: float) -> Recommendation | None:
    """The recommendation from weekly usage (units, oldest first) and lateness samples (days).

    None with fewer than two weeks of usage: no variability can be seen.
    """
    if len(usage) < 2:
        return None
    mean, sd = _mean_sd(usage)
    if len(lateness_days) >= 2:
        late, lead_sd = _mean_sd(lateness_days)
        lead = max(0.0, lead_time_days + late)
        basis = "receipts"
    else:
        lead, lead_sd, basis = float(lead_time_days), 0.0, "configured"
    z = z_value(service_level)
    weeks, weeks_sd = lead / 7, lead_sd / 7
    safety = z * math.sqrt(weeks * sd * sd + mean * mean * weeks_sd * weeks_sd)
    return Recommendation(len(usage), mean, sd, lead, lead_sd, len(lateness_days), basis, z, safety,
                          mean * weeks + safety)
