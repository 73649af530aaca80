"""The forecasting methods tried per item, on a weekly series.

Smooth demand: statsmodels' exponential smoothing (``holtwinters``): simple
(level), Holt's damped trend, Holt-Winters with a damped trend and additive
seasons; and the mean of the history, the benchmark a method must beat.

Intermittent demand (many weeks without any): Croston's method, its
Syntetos-Boylan bias correction (SBA) and Teunter-Syntetos-Babai (TSB).  Each
of those is two passes of simple exponential smoothing, one over the sizes of
the demands and one over the intervals between them (Croston, SBA) or over
the chance of a demand in a week (TSB), so each pass is statsmodels'
``SimpleExpSmoothing`` with the method's fixed smoothing constant, and only
the combination is written here.  The one library that ships these methods
(statsforecast) would bring its own C++ core, fugue and pyarrow, and pin pandas
below 3, for what is a division of two smoothed levels.

statsmodels (and numpy, scipy, pandas with it) is imported on the first fit,
not with this module: the engine never pays for it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["CROSTON_ALPHA", "INTERMITTENT", "METHODS", "SMOOTH", "predict"]

#: smoothing constant of Croston, SBA and TSB: the value in the literature (Croston 1972, Syntetos-Boylan 2005)
CROSTON_ALPHA = 0.1
SMOOTH = ("mean", "ses", "holt", "holt_winters")
INTERMITTENT = ("mean", "ses", "croston", "sba", "tsb")
METHODS = ("mean", "ses", "holt", "holt_winters", "croston", "sba", "tsb")


def _holtwinters() -> Any:
    from statsmodels.tsa import holtwinters  # lazy: see the module docstring

    return holtwinters


def _array(values: Sequence[float]) -> Any:
    import numpy as np

    return np.asarray(values, dtype=float)


def _smoothed_level(values: Sequence[float], alpha: float, initial: float) -> float:
    """Level after the last value of simple exponential smoothing with a fixed ``alpha``, from ``initial``."""
    if len(values) == 1:   # statsmodels wants two values; one leaves alpha·v + (1 - alpha)·v = v when v is initial
        return alpha * values[0] + (1 - alpha) * initial
    model = _holtwinters().SimpleExpSmoothing(_array(values), initialization_method="known", initial_level=initial)
    return float(model.fit(smoothing_level=alpha, optimized=False).forecast(1)[0])


def _demands(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """Sizes of the weeks with demand, and the weeks since the previous one (the first counts from the start)."""
    sizes: list[float] = []
    intervals: list[float] = []
    previous = -1
    for index, value in enumerate(values):
        if value > 0:
            sizes.append(value)
            intervals.append(index - previous)
            previous = index
    return sizes, intervals


def _mean(values: Sequence[float], horizon: int, _season: int) -> list[float]:
    return [math.fsum(values) / len(values)] * horizon


def _ses(values: Sequence[float], horizon: int, _season: int) -> list[float]:
    model = _holtwinters().SimpleExpSmoothing(_array(values), initialization_method="estimated")
    return list(model.fit().forecast(horizon))


def _holt(values: Sequence[float], horizon: int, _season: int) -> list[float]:
    model = _holtwinters().ExponentialSmoothing(_array(values), trend="add", damped_trend=True,
                                                 initialization_method="estimated")
    return list(model.fit().forecast(horizon))


def _holt_winters(values: Sequence[float], horizon: int, season: int) -> list[float]:
    """Initial states from a decomposition of the first two seasons ("heuristic"), not optimised: optimising
    52 seasonal states as well takes seconds a fit (~1.2 s against ~0.1 s) for the same error."""
    model = _holtwinters().ExponentialSmoothing(_array(values), trend="add", damped_trend=True, seasonal="add",
                                                 seasonal_periods=season, initialization_method="heuristic")
    return list(model.fit().forecast(horizon))


def _croston_rate(values: Sequence[float]) -> float:
    """Croston: smoothed size over smoothed interval, each smoothed from its first value."""
    sizes, intervals = _demands(values)
    if not sizes:
        return 0.0
    size = _smoothed_level(sizes, CROSTON_ALPHA, sizes[0])
    interval = _smoothed_level(intervals, CROSTON_ALPHA, intervals[0])
    return size / interval


def _croston(values: Sequence[float], horizon: int, _season: int) -> list[float]:
    return [_croston_rate(values)] * horizon


def _sba(values: Sequence[float], horizon: int, _season: int) -> list[float]:
    """Croston corrected for its bias, (1 - alpha/2) (Syntetos and Boylan)."""
    return [_croston_rate(values) * (1 - CROSTON_ALPHA / 2)] * horizon


def _tsb(values: Sequence[float], horizon: int, _season: int) -> list[float]:
    """TSB: the chance of a demand in a week, smoothed every week (from its mean), times the smoothed size.

    Unlike Croston it decays when demand stops, which makes it the method for items going out of use.
    """
    sizes, _ = _demands(values)
    if not sizes:
        return [0.0] * horizon
    occurs = [1.0 if value > 0 else 0.0 for value in values]
    chance = _smoothed_level(occurs, CROSTON_ALPHA, math.fsum(occurs) / len(occurs))
    return [chance * _smoothed_level(sizes, CROSTON_ALPHA, sizes[0])] * horizon


_METHODS: dict[str, Callable[[Sequence[float], int, int], list[float]]] = {
    "mean": _mean, "ses": _ses, "holt": _holt, "holt_winters": _holt_winters,
    "croston": _croston, "sba": _sba, "tsb": _tsb,
}


def predict(method: str, values: Sequence[float], horizon: int, season: int = 52) -> list[float]:
    """Forecasts of the ``horizon`` weeks after ``values``, never below zero (a fit that fails raises).

    statsmodels warns when an optimiser stops early on a short or flat series; the fit is still the
    best it found, and the holdout error is what judges it, so its warnings are not passed on.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forecasts = _METHODS[method](values, horizon, season)
    if not all(math.isfinite(value) for value in forecasts):
        raise ArithmeticError(f"{method} gave a forecast that is not a number")
    return [max(0.0, float(value)) for value in forecasts]
