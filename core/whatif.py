"""What-if: what a set of changes does to the plan, shortages and costs.

Planners ask "what if the supplier slips a week, a rush order lands, a QC lot
fails?".  The answer compares two engines that share the base history: one
without and one with the changes.
"""

from __future__ import annotations

from typing import Any

from .engine import Engine
from .reports import costs, planned, shortages

__all__ = ["compare"]

Row = dict[str, Any]


def compare(base: Engine, changed: Engine) -> list[Row]:
    """Rows: planned orders added/removed/moved, shortages opened/resolved, cost changes."""
    rows: list[Row] = []
    before = {(r["site"], r["planned_id"]): r for r in planned(base)}
    after = {(r["site"], r["planned_id"]): r for r in planned(changed)}
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old is None:
            rows.append(_row("planned order added", new, f"{new['qty']} due {new['due']} release {new['release']}"))
        elif new is None:
            rows.append(_row("planned order removed", old, f"{old['qty']} due {old['due']}"))
        elif (old["qty"], old["release"]) != (new["qty"], new["release"]):
            rows.append(_row("planned order changed", new,
                             f"{old['qty']} -> {new['qty']}, release {old['release']} -> {new['release']}"))
    short_before = {(r["site"], r["item"], r["date"]): r for r in shortages(base)}
    short_after = {(r["site"], r["item"], r["date"]): r for r in shortages(changed)}
    for key in sorted(short_before.keys() | short_after.keys()):
        old, new = short_before.get(key), short_after.get(key)
        if old is None:
            rows.append(_row("shortage opened", new, f"{new['qty']} on {new['date']} hits {new['hits']}"))
        elif new is None:
            rows.append(_row("shortage resolved", old, f"{old['qty']} on {old['date']}"))
        elif old["qty"] != new["qty"]:
            rows.append(_row("shortage changed", new, f"{old['qty']} -> {new['qty']} on {new['date']}"))
    cost_before = {(r["site"], r["item"]): r for r in costs(base)}
    for row in costs(changed):
        old = cost_before.get((row["site"], row["item"]))
        if old is None or (old["unit_cost"], old["standard_cost"]) != (row["unit_cost"], row["standard_cost"]):
            was = f"{old['unit_cost']}/{old['standard_cost']}" if old else "-"
            rows.append(_row("cost changed", row, f"unit/standard {was} -> {row['unit_cost']}/{row['standard_cost']}"))
    return rows


def _row(change: str, source: Row, detail: str) -> Row:
    return {"change": change, "site": source["site"], "item": source["item"], "detail": detail}
