"""Per-site answers of inventory control, as JSON-able dicts: the query API serves them, the replay reports
flatten them into rows.

Forecasting fits models and takes a while on a large site, so it is split in
two: ``forecast_inputs`` copies what it needs from the site (cheap; the
service takes it between batches, on the loop that applies them) and
``forecast_answer`` computes from the copy alone (the service runs it in a
thread, so the worker keeps applying events).  Quantities are units, rounded
to 0.001; errors to 0.0001.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..consumption import consumed
from ..history import iso_week, week_of
from ..kpis import abc_classes
from ..master import ItemSpec
from ..orders import Demand
from ..quantity import to_number
from ..site import SiteState
from .counts import CountState, accuracy_rows, due_counts
from .forecast import forecast_item
from .safety_stock import recommend
from .series import WeeklySeries, weekly_series
from .settings import ControlSettings

__all__ = ["ForecastInputs", "count_schedule_answer", "forecast_answer", "forecast_inputs",
           "safety_stock_answer"]

Row = dict[str, object]


def _iso(day: int | None) -> str | None:
    return dt.date.fromordinal(day).isoformat() if day is not None else None


def _round(value: float | None, places: int = 3) -> float | None:
    return round(value, places) if value is not None else None


@dataclass(frozen=True, slots=True)
class ForecastInputs:
    """What a forecast of one site needs, copied out of the site."""

    site: str
    as_of: str | None                      # the site's clock (ISO, UTC)
    today: int | None
    series: list[WeeklySeries]
    demands: dict[str, list[Row]]          # item -> the site's forecast demands of it


def _forecast_demands(state: SiteState, items: set[str]) -> dict[str, list[Row]]:
    """The forecast demands of these items, with what the sales orders of their week consumed."""
    taken: dict[str, int] = {}
    for item in items:
        open_demands = [state.demands[ref] for kind, ref in state.refs(item) if kind == "demand"]
        taken.update(consumed(open_demands))
    found: dict[str, list[Row]] = {}
    for demand in state.demands.values():
        if demand.kind == "forecast" and demand.item in items:
            found.setdefault(demand.item, []).append(_demand_row(demand, taken.get(demand.demand_id, 0)))
    for rows in found.values():
        rows.sort(key=lambda r: (str(r["due"]), str(r["id"])))
    return found


def _demand_row(demand: Demand, taken: int) -> Row:
    return {"id": demand.demand_id, "due": demand.due.isoformat(), "week": iso_week(week_of(demand.due.toordinal())),
            "status": demand.status, "qty": to_number(demand.qty), "open_qty": to_number(demand.open_qty),
            "consumed": to_number(taken), "planned": to_number(max(0, demand.open_qty - taken))}


def forecast_inputs(state: SiteState, item: str | None = None) -> ForecastInputs:
    """The independent-demand series (``issue`` history) of the site's items, or of one."""
    today = state.today.toordinal() if state.today is not None else None
    series: list[WeeklySeries] = []
    if today is not None:
        for name in sorted(state.history) if item is None else [item]:
            history = state.history.get(name)
            found = weekly_series(name, history.issued, today) if history is not None else None
            if found is not None:
                series.append(found)
    # UTC: a clock restored from msgpack (the service) is in UTC whatever offset the sender wrote
    as_of = state.clock.astimezone(dt.UTC).isoformat() if state.clock is not None else None
    return ForecastInputs(state.site, as_of, today, series, _forecast_demands(state, {s.item for s in series}))


def forecast_answer(inputs: ForecastInputs, settings: ControlSettings, history: bool = False) -> Row:
    """Each item's chosen method, holdout error and weekly forecast (``history``: and its weekly series)."""
    items: list[Row] = []
    for series in inputs.series:
        chosen = forecast_item(series, settings)
        row: Row = {
            "item": series.item, "method": chosen.method, "pattern": chosen.pattern, "adi": _round(chosen.adi, 4),
            "weeks": chosen.weeks, "holdout_weeks": chosen.holdout_weeks, "rmse": _round(chosen.rmse, 4),
            "mae": _round(chosen.mae, 4), "mase": _round(chosen.mase, 4),
            "errors": {m: round(e, 4) for m, e in chosen.errors.items()},
            "note": chosen.note,
            "forecast": [{"week": iso_week(week), "due": _iso(week), "qty": round(qty, 3)}
                         for week, qty in ((chosen.first_week + 7 * i, q) for i, q in enumerate(chosen.values))],
            "demands": inputs.demands.get(series.item, []),
        }
        if history:
            row["history"] = [{"week": iso_week(series.week(i)), "qty": round(qty, 6)}
                              for i, qty in enumerate(series.values)]
        items.append(row)
    return {"site": inputs.site, "as_of": inputs.as_of, "today": _iso(inputs.today),
            "current_week": iso_week(week_of(inputs.today)) if inputs.today is not None else None,
            "horizon_weeks": settings.horizon_weeks, "min_weeks": settings.min_weeks, "items": items}


#: fewer weeks of usage than this make a rough estimate, and the answer says so
FEW_WEEKS = 8


def _safety_row(name: str, spec: ItemSpec | None, usage: WeeklySeries, lateness: list[int],
                settings: ControlSettings) -> Row:
    lead = spec.lead_time_days if spec is not None else 0
    configured = to_number(spec.safety_stock) if spec is not None else 0
    found = recommend(list(usage.values), lead, lateness, settings.service_level)
    note = "one week of usage: no variability to size from" if found is None else \
        f"{usage.weeks} weeks of usage: a rough estimate" if usage.weeks < FEW_WEEKS else ""
    return {
        "item": name, "source": spec.source if spec is not None else None, "weeks": usage.weeks,
        "mean_weekly": _round(found.mean_weekly) if found else None,
        "sd_weekly": _round(found.sd_weekly) if found else None,
        "configured_lead_time_days": lead,
        "lead_time_days": _round(found.lead_time_days) if found else None,
        "lead_time_sd_days": _round(found.lead_time_sd_days) if found else None,
        "receipts": len(lateness), "lead_time_basis": found.lead_time_basis if found else None,
        "z": _round(found.z, 4) if found else None, "configured_safety_stock": configured,
        "safety_stock": _round(found.safety_stock) if found else None,
        "difference": _round(found.safety_stock - float(configured)) if found else None,
        "reorder_point": _round(found.reorder_point) if found else None, "note": note,
    }


def safety_stock_answer(state: SiteState, settings: ControlSettings, item: str | None = None) -> Row:
    """Recommended safety stock and reorder point per item used at the site, beside the configured values."""
    rows: list[Row] = []
    today = state.today.toordinal() if state.today is not None else None
    for name in (sorted(state.history) if item is None else [item]) if today is not None else ():
        history = state.history.get(name)
        usage = weekly_series(name, history.usage(), today, settings.usage_weeks) if history is not None else None
        if usage is not None and history is not None:
            rows.append(_safety_row(name, state.master.item(state.site, name), usage,
                                    [late for _day, late in history.lateness], settings))
    return {"site": state.site, "today": _iso(today), "service_level": settings.service_level,
            "usage_weeks": settings.usage_weeks, "items": rows}


def count_schedule_answer(state: SiteState, settings: ControlSettings, day: int | None = None) -> Row:
    """The counts due on ``day`` (default: the site's today), and count accuracy per week and class."""
    today = state.today.toordinal() if state.today is not None else None
    day = day if day is not None else today
    classes = abc_classes(state.issued_value)
    names = sorted(set(state.stock.lots) | set(classes))
    counts: list[Row] = []
    if day is not None and state.first_day is not None:
        states = []
        for name in names:
            history = state.history.get(name)
            states.append(CountState(name, classes.get(name, "C"), history.last_count if history else None,
                                     history.last_count_off if history else 0))
        for due in due_counts(states, state.first_day.toordinal(), day, settings):
            counts.append({"item": due.item, "abc": due.abc, "reason": due.reason, "due": _iso(due.due),
                           "overdue_days": day - due.due, "last_count": _iso(due.last_count)})
    weekly = {name: history.counts for name, history in state.history.items() if history.counts}
    accuracy = accuracy_rows(weekly, classes)
    sizes = {abc: sum(1 for name in names if classes.get(name, "C") == abc) for abc in "ABC"}
    return {"site": state.site, "today": _iso(today), "date": _iso(day),
            "count_days": {"A": settings.count_days_a, "B": settings.count_days_b, "C": settings.count_days_c},
            "recount_days": settings.recount_days, "items_by_class": sizes, "counts": counts, "accuracy": accuracy}
