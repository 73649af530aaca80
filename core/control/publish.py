"""Forecasts as ``demand`` events of kind ``forecast``: what to send so the site plans the new forecast.

Built from a forecast answer (``answers.forecast_answer``, as the query API
sends it or as the replay computes it), so a forecast made from a replay file
and one asked of the service become the same events.

- One demand per site, item and week, due on the Monday of the week, id
  ``fc:SITE:ITEM:2026-W15`` (a hash of site and item when that would not fit
  the contract's 200 characters).  Sent again only when its quantity changed.
- A week whose forecast rounds to zero (0.001) cancels our open demand of it.
  Cancelling is final in the contract, so a later forecast of that week takes
  the next id, ``...-W15#2``.
- Our open demands of weeks before the current one are cancelled: their week
  is over, and what the sales orders did not consume was not wanted (left
  open they would be planned as overdue, today).
- Weeks with an open forecast from another source (an ERP's) are left to it,
  and items whose history was too short for a holdout are not sent unless
  asked (``include_short``).

Events carry the site's clock (``as_of``) as their time, so the engine
applies them at once, and ids derived from their content: sending the same
events twice is refused as duplicates, never applied twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from schemas import events as ev

from ..quantity import to_fixed

__all__ = ["demand_base_id", "forecast_events"]

_MAX_KEY = 200


def demand_base_id(site: str, item: str, week: str) -> str:
    """The id of the first forecast demand of a site, item and ISO week (``#2``, ``#3`` follow a cancel)."""
    plain = f"fc:{site}:{item}:{week}"
    if len(plain) <= _MAX_KEY - 8:
        return plain
    return f"fc:{hashlib.sha256(f'{site}|{item}'.encode()).hexdigest()[:32]}:{week}"


def _version(demand_id: str, base: str) -> int | None:
    """1 for the base id, k for ``base#k``, None for another id."""
    if demand_id == base:
        return 1
    head, _, tail = demand_id.rpartition("#")
    return int(tail) if head == base and tail.isdigit() else None


def _event(site: str, ts: dt.datetime, as_of: str, demand_id: str, item: str, qty: Any, due: str,
           status: str) -> ev.Demand:
    qty = float(qty)
    digest = hashlib.sha256(f"{site}|{demand_id}|{as_of}|{status}|{qty!r}|{due}".encode()).hexdigest()[:32]
    return ev.Demand(event_id=f"fc-ev:{digest}", ts=ts, site=site, demand_id=demand_id, item=item, qty=qty,
                     due=dt.date.fromisoformat(due), kind="forecast", status=status)  # type: ignore[arg-type]


def forecast_events(answer: Mapping[str, Any], include_short: bool = False) -> tuple[list[ev.Demand], list[str]]:
    """The demand events that make the site's forecasts those of ``answer``, and notes on what was left out."""
    site, as_of = answer["site"], answer["as_of"]
    events: list[ev.Demand] = []
    notes: list[str] = []
    if as_of is None:
        return events, notes
    ts = dt.datetime.fromisoformat(as_of)
    for row in answer["items"]:
        item = row["item"]
        if not row["holdout_weeks"] and not include_short:
            notes.append(f"{site} {item}: {row['note']}; not sent")
            continue
        forecast = row["forecast"]
        first_due = forecast[0]["due"] if forecast else None
        foreign = {d["week"] for d in row["demands"]
                   if d["status"] == "open" and _version(d["id"], demand_base_id(site, item, d["week"])) is None}
        ours: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        for demand in row["demands"]:
            version = _version(demand["id"], demand_base_id(site, item, demand["week"]))
            if version is not None:
                ours.setdefault(demand["week"], []).append((version, demand))
        for _week, versions in sorted(ours.items()):
            for _, demand in versions:
                if demand["status"] == "open" and first_due is not None and demand["due"] < first_due:
                    events.append(_event(site, ts, as_of, demand["id"], item, demand["qty"], demand["due"],
                                         "cancelled"))
        left = [entry["week"] for entry in forecast if entry["week"] in foreign]
        if left:
            weeks = left[0] if len(left) == 1 else f"{left[0]} to {left[-1]}"
            notes.append(f"{site} {item}: {weeks} already forecast by another source; not replaced")
        for entry in forecast:
            week, due, qty = entry["week"], entry["due"], round(entry["qty"], 3)
            if week in foreign:
                continue
            versions = ours.get(week, [])
            live = next((demand for _, demand in versions if demand["status"] == "open"), None)
            if qty > 0:
                if live is not None and to_fixed(float(live["qty"])) == to_fixed(qty) and live["due"] == due:
                    continue
                demand_id = live["id"] if live is not None else (
                    demand_base_id(site, item, week) if not versions
                    else f"{demand_base_id(site, item, week)}#{max(v for v, _ in versions) + 1}")
                events.append(_event(site, ts, as_of, demand_id, item, qty, due, "open"))
            elif live is not None:
                events.append(_event(site, ts, as_of, live["id"], item, live["qty"], live["due"], "cancelled"))
    return events, notes
