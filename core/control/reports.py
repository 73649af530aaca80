"""Replay reports of inventory control: the per-site answers flattened into rows, every site in name order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .answers import count_schedule_answer, forecast_answer, forecast_inputs, safety_stock_answer
from .settings import ControlSettings

__all__ = ["CONTROL_REPORTS"]

Row = dict[str, Any]


def _sites(engine: Any) -> list[Any]:
    return [engine.sites[name] for name in sorted(engine.sites)]


def forecast(engine: Any, settings: ControlSettings) -> list[Row]:
    """Per site and item with issue history: the method chosen, its holdout error and the weekly forecast."""
    rows = []
    for state in _sites(engine):
        answer = forecast_answer(forecast_inputs(state), settings)
        for item in answer["items"]:
            weeks = item["forecast"]
            rows.append({"site": state.site, "item": item["item"], "method": item["method"],
                         "pattern": item["pattern"], "weeks": item["weeks"], "holdout_weeks": item["holdout_weeks"],
                         "rmse": item["rmse"], "mae": item["mae"], "mase": item["mase"], "from_week": weeks[0]["week"],
                         "per_week": " ".join(f"{w['qty']:g}" for w in weeks), "note": item["note"]})
    return rows


def safety_stock(engine: Any, settings: ControlSettings) -> list[Row]:
    """Per site and used item: recommended safety stock and reorder point beside the configured values."""
    keys = ("item", "source", "weeks", "mean_weekly", "sd_weekly", "configured_lead_time_days", "lead_time_days",
            "lead_time_sd_days", "receipts", "z", "configured_safety_stock", "safety_stock", "difference",
            "reorder_point", "note")
    rows = []
    for state in _sites(engine):
        for item in safety_stock_answer(state, settings)["items"]:
            rows.append({"site": state.site, **{key: item.get(key) for key in keys}})
    return rows


def count_schedule(engine: Any, settings: ControlSettings) -> list[Row]:
    """Per site: the items to count on the site's today, most overdue first."""
    rows = []
    for state in _sites(engine):
        answer = count_schedule_answer(state, settings)
        rows.extend({"site": state.site, "date": answer["date"], **count} for count in answer["counts"])
    return rows


def count_accuracy(engine: Any, settings: ControlSettings) -> list[Row]:
    """Per site, week and ABC class: count lines, exact lines, line and quantity accuracy."""
    rows = []
    for state in _sites(engine):
        rows.extend({"site": state.site, **row} for row in count_schedule_answer(state, settings)["accuracy"])
    return rows


CONTROL_REPORTS: dict[str, Callable[[Any, ControlSettings], list[Row]]] = {
    "forecast": forecast,
    "safety_stock": safety_stock,
    "count_schedule": count_schedule,
    "count_accuracy": count_accuracy,
}
