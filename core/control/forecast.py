"""The forecast of one item: every candidate method scored on held-out weeks, the best one refitted.

The last ``h`` complete weeks are held out (``h`` = a quarter of the history,
at most ``holdout_weeks``); each candidate is fitted on the weeks before and
forecasts those ``h`` weeks at once, as the plan will use it.  The method with
the lowest root mean squared error (RMSE) over them wins (ties: the simpler,
in the order ``models.SMOOTH`` / ``models.INTERMITTENT`` lists them) and is
refitted on the whole history.

RMSE, not MAE, chooses: the absolute error is smallest for the median of the
weeks, and the median of intermittent demand is zero, so ranking by MAE
prefers forecasts that run low, where planning needs the expected quantity
(the mean, which the squared error rewards; Kolassa, "Evaluating predictive
count data distributions in retail sales forecasting", 2016).  The chosen
method's MAE and MASE (MAE over the in-sample MAE of the naive "next week as
last week" forecast; below 1 beats it) are reported beside its RMSE, and
every candidate's RMSE with them.

Which candidates: with an average of 1.32 weeks or more between demands
(ADI, Syntetos-Boylan's cut-off) the series is intermittent and the
Croston-type methods are tried; otherwise level, trend and (with two seasons
of training history) seasonal smoothing.  With fewer than ``min_weeks`` weeks
there is no holdout worth the name: the forecast is the mean, and says so.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from .models import INTERMITTENT, SMOOTH, predict
from .series import WeeklySeries
from .settings import ControlSettings

__all__ = ["ADI_INTERMITTENT", "ItemForecast", "forecast_item"]

#: average weeks between demands from which a series is intermittent (Syntetos and Boylan, 2005)
ADI_INTERMITTENT = 1.32


@dataclass(frozen=True, slots=True)
class ItemForecast:
    item: str
    method: str
    weeks: int                  # weeks of history
    pattern: str                # "smooth" or "intermittent"
    adi: float                  # average weeks between demands
    holdout_weeks: int          # 0 when the history was too short to hold any out
    rmse: float | None          # holdout RMSE of the chosen method (what chose it)
    mae: float | None           # its holdout MAE
    mase: float | None          # ... scaled by the in-sample naive MAE (None when that is 0)
    first_week: int             # Monday ordinal of the first forecast week
    values: tuple[float, ...]   # one per week from first_week
    errors: dict[str, float] = field(default_factory=dict)   # holdout RMSE of every method that could be fitted
    note: str = ""


def _mae(forecast: list[float], actual: tuple[float, ...]) -> float:
    return math.fsum(abs(f - a) for f, a in zip(forecast, actual, strict=True)) / len(actual)


def _rmse(forecast: list[float], actual: tuple[float, ...]) -> float:
    return math.sqrt(math.fsum((f - a) ** 2 for f, a in zip(forecast, actual, strict=True)) / len(actual))


def _naive_scale(values: tuple[float, ...]) -> float:
    """In-sample MAE of the naive forecast (each week as the one before)."""
    steps = [abs(b - a) for a, b in itertools.pairwise(values)]
    return math.fsum(steps) / len(steps) if steps else 0.0


def forecast_item(series: WeeklySeries, settings: ControlSettings) -> ItemForecast:
    """The chosen forecast of the weeks from the one after the series on (the site's current week)."""
    values = series.values
    n = len(values)
    demands = sum(1 for value in values if value > 0)
    adi = n / demands
    pattern = "intermittent" if adi >= ADI_INTERMITTENT else "smooth"
    first = series.week(n)
    horizon = settings.horizon_weeks
    if n < settings.min_weeks:
        return ItemForecast(series.item, "mean", n, pattern, adi, 0, None, None, None, first,
                            tuple(predict("mean", values, horizon)),
                            note=f"{n} week{'s' if n > 1 else ''} of history, {settings.min_weeks} needed to "
                                 "choose by holdout: the mean")
    held = max(1, min(settings.holdout_weeks, n // 4))
    train, test = values[:-held], values[-held:]
    season = settings.season_weeks
    candidates = [m for m in (INTERMITTENT if pattern == "intermittent" else SMOOTH)
                  if m != "holt_winters" or len(train) >= 2 * season]
    errors: dict[str, float] = {}
    held_out: dict[str, list[float]] = {}
    failed: list[str] = []
    for method in candidates:
        try:
            held_out[method] = predict(method, train, held, season)
        except (ValueError, ArithmeticError):
            failed.append(method)
            continue
        errors[method] = _rmse(held_out[method], test)
    best = min(errors, key=lambda m: (errors[m], candidates.index(m)))
    note = f"could not fit: {', '.join(failed)}" if failed else ""
    try:
        forecast = predict(best, values, horizon, season)
    except (ValueError, ArithmeticError):
        note = f"{best} failed on the whole history: the mean" + (f"; {note}" if note else "")
        best, forecast = "mean", predict("mean", values, horizon)
    scale = _naive_scale(train)
    mae = _mae(held_out[best], test)
    return ItemForecast(series.item, best, n, pattern, adi, held, errors[best], mae,
                        mae / scale if scale > 0 else None, first, tuple(forecast), errors=errors, note=note)
