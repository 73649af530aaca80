"""Forecasts on synthetic weekly series whose level, trend, seasonality or demand rate is known: the method the
holdout chooses recovers them within the errors stated here (and in docs/inventory-control.md)."""

from __future__ import annotations

import itertools
import math
import random
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from core.control import ControlSettings, models
from core.control.forecast import forecast_item
from core.control.models import INTERMITTENT, predict
from core.control.series import WeeklySeries, weekly_series
from core.history import week_of

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ControlSettings()
MONDAY = week_of(738000)


def series(values: list[float]) -> WeeklySeries:
    return WeeklySeries("X", MONDAY, tuple(values))


def worst(forecast: tuple[float, ...], truth: list[float]) -> float:
    """The largest error of any forecast week relative to the truth."""
    return max(abs(f - t) / t for f, t in zip(forecast, truth, strict=True))


@pytest.mark.parametrize("seed", range(4))
def test_a_level_is_recovered_within_3_percent(seed: int) -> None:
    """100 a week with noise of standard deviation 5, 60 weeks."""
    rng = random.Random(seed)
    chosen = forecast_item(series([100 + rng.gauss(0, 5) for _ in range(60)]), SETTINGS)
    assert chosen.pattern == "smooth" and len(chosen.values) == SETTINGS.horizon_weeks
    assert worst(chosen.values, [100] * 13) <= 0.03


@pytest.mark.parametrize("seed", range(4))
def test_a_trend_is_recovered_by_holt_within_6_percent(seed: int) -> None:
    """50 + 2 a week, noise 4, 60 weeks: every week of the next quarter within 6 % of the line."""
    rng = random.Random(seed)
    chosen = forecast_item(series([50 + 2 * t + rng.gauss(0, 4) for t in range(60)]), SETTINGS)
    assert chosen.method == "holt"
    assert worst(chosen.values, [50 + 2 * (60 + h) for h in range(13)]) <= 0.06
    assert chosen.errors["holt"] < chosen.errors["ses"] < chosen.errors["mean"]


@pytest.mark.parametrize("seed", range(3))
def test_a_season_is_recovered_by_holt_winters_within_7_percent(seed: int) -> None:
    """100 ± 30 over a 52-week season, noise 4, three years: the next quarter within 7 % of the curve."""
    rng = random.Random(seed)

    def curve(t: int) -> float:
        return 100 + 30 * math.sin(2 * math.pi * t / 52)

    chosen = forecast_item(series([curve(t) + rng.gauss(0, 4) for t in range(156)]), SETTINGS)
    assert chosen.method == "holt_winters"
    assert worst(chosen.values, [curve(156 + h) for h in range(13)]) <= 0.07


def test_intermittent_demand_is_forecast_at_its_rate_without_bias() -> None:
    """A demand of 15 to 25 in a quarter of the weeks, 5 a week on average, three years, 20 series.

    One series says little (a few demands in the holdout), so the statement is about the method over
    many: their forecasts average within 10 % of 5, and half of them are within 30 %.
    """
    first_weeks = []
    for seed in range(20):
        rng = random.Random(seed)
        chosen = forecast_item(series([rng.uniform(15, 25) if rng.random() < 0.25 else 0 for _ in range(156)]),
                               SETTINGS)
        assert chosen.pattern == "intermittent" and chosen.adi >= 1.32
        assert chosen.method in INTERMITTENT and set(chosen.errors) == set(INTERMITTENT)
        first_weeks.append(chosen.values[0])
    assert abs(statistics.fmean(first_weeks) - 5) <= 0.5
    assert statistics.median(abs(f - 5) / 5 for f in first_weeks) <= 0.30


def test_croston_sba_and_tsb_by_hand() -> None:
    """[0, 4, 0, 0, 6]: sizes 4, 6 and intervals 2, 3, smoothed from their first values with alpha 0.1.

    size 0.1·6 + 0.9·4 = 4.2, interval 0.1·3 + 0.9·2 = 2.1: Croston 4.2 / 2.1 = 2, SBA 2 · 0.95 = 1.9.
    TSB: the chance of a demand from the mean 0.4, week by week 0.36, 0.424, 0.3816, 0.34344, 0.409096,
    times the size 4.2 = 1.7182032.
    """
    values = [0.0, 4.0, 0.0, 0.0, 6.0]
    assert predict("croston", values, 2) == pytest.approx([2.0, 2.0], abs=1e-9)
    assert predict("sba", values, 1) == pytest.approx([1.9], abs=1e-9)
    assert predict("tsb", values, 1) == pytest.approx([1.7182032], abs=1e-9)
    assert predict("croston", [0.0, 0.0], 1) == [0.0]


def test_the_holdout_chooses_and_reports() -> None:
    rng = random.Random(5)
    values = [20 + rng.gauss(0, 3) for _ in range(40)]
    chosen = forecast_item(series(values), SETTINGS)
    assert chosen.holdout_weeks == 10   # a quarter of 40 weeks (at most holdout_weeks, 13)
    assert set(chosen.errors) == {"mean", "ses", "holt"}   # holt_winters needs two seasons of training
    assert chosen.rmse == min(chosen.errors.values()) == chosen.errors[chosen.method]
    train, test = values[:30], values[30:]
    held = predict(chosen.method, train, 10)
    mae = statistics.fmean(abs(f - a) for f, a in zip(held, test, strict=True))
    naive = statistics.fmean(abs(b - a) for a, b in itertools.pairwise(train))
    assert chosen.mae == pytest.approx(mae) and chosen.mase == pytest.approx(mae / naive)
    assert chosen.first_week == MONDAY + 7 * 40


def test_a_method_that_cannot_be_fitted_is_left_out_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fit that fails (statsmodels raises ValueError or LinAlgError, ours ArithmeticError on a non-finite
    forecast) drops that method from the holdout; one that fails on the whole history falls back to the mean."""
    rng = random.Random(1)
    trend = series([50 + 2 * t + rng.gauss(0, 4) for t in range(60)])

    def fails(*_args: object) -> list[float]:
        raise ValueError("no fit")

    monkeypatch.setitem(models._METHODS, "ses", fails)
    chosen = forecast_item(trend, SETTINGS)
    assert chosen.method == "holt" and "ses" not in chosen.errors and chosen.note == "could not fit: ses"
    calls = {"holt": 0}
    holt = models._METHODS["holt"]

    def holt_on_the_holdout_only(values: list[float], horizon: int, season: int) -> list[float]:
        calls["holt"] += 1
        if calls["holt"] > 1:
            return [math.nan] * horizon
        return holt(values, horizon, season)

    monkeypatch.setitem(models._METHODS, "holt", holt_on_the_holdout_only)
    chosen = forecast_item(trend, SETTINGS)
    assert chosen.method == "mean"
    assert chosen.note == "holt failed on the whole history: the mean; could not fit: ses"


def test_a_short_history_is_forecast_by_its_mean_and_says_so() -> None:
    chosen = forecast_item(series([3.0, 0.0, 9.0]), SETTINGS)
    assert (chosen.method, chosen.holdout_weeks, chosen.rmse, chosen.mae) == ("mean", 0, None, None)
    assert chosen.values == (4.0,) * 13 and "3 weeks of history" in chosen.note


def test_series_runs_from_the_first_used_week_to_the_last_complete_one() -> None:
    week = MONDAY
    buckets = {week + 14: 5_000_000, week + 28: 2_500_000, week + 35: 9_000_000}   # micro-units
    found = weekly_series("X", buckets, today=week + 37)   # a Wednesday in week + 35: that week is under way
    assert found is not None and found.first_week == week + 14 and found.values == (5.0, 0.0, 2.5)
    assert weekly_series("X", {week + 35: 1}, today=week + 37) is None
    assert weekly_series("X", buckets, today=week + 37, limit=2).values == (0.0, 2.5)


def test_forecasting_is_deterministic() -> None:
    rng = random.Random(9)
    values = series([rng.uniform(0, 30) for _ in range(70)])
    assert forecast_item(values, SETTINGS) == forecast_item(values, SETTINGS)


def test_the_engine_and_the_query_api_do_not_import_statsmodels() -> None:
    """The worker's hot path never pays for the forecasting libraries: they load on the first fit."""
    code = ("import sys, core.engine, core.reports, core.queries, core.persist, streams.web; "
            "print(','.join(m for m in ('statsmodels', 'numpy', 'scipy', 'pandas') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == ""
