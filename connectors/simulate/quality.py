"""Inspection, rework, quality holds and cycle counts: the moves of stock between statuses.

Every move is one the engine allows (``core.quality.ALLOWED_MOVES``): inspection sends ``qc_pending`` to
``available``, ``rejected`` or ``rework``; rejected purchased parts are scrapped, rejected assemblies partly
reworked; rework comes back through inspection; a hold blocks an available lot and later releases or
rejects it.  Cycle counts find the book right most of the time and a few units off otherwise.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

from core.quality import move_allowed
from core.quantity import SCALE
from schemas import events as ev

from .book import units
from .timeline import add_working_days

if TYPE_CHECKING:
    from .plant import Plant

__all__ = ["count", "hold", "inspect"]

#: chance an inspected lot fails in part, and (assemblies only) that part of it needs rework
REJECT_RATE = 0.06
REWORK_RATE = 0.04
#: chance a counted lot is found off
COUNT_ERROR_RATE = 0.15


def _move(plant: Plant, item: str, lot: str, qty: int, from_status: str, to_status: str) -> None:
    if not move_allowed(from_status, to_status):
        raise AssertionError(f"simulator bug: {from_status} -> {to_status} is not a legal move")
    plant.emit(ev.Quality, item=item, lot=lot, qty=units(qty), from_status=from_status, to_status=to_status)
    plant.book.move(item, lot, from_status, to_status, qty)


def _scrap(plant: Plant, item: str, lot: str, qty: int, status: str) -> None:
    plant.emit(ev.Scrap, item=item, lot=lot, qty=units(qty), status=status)
    plant.book.book(item, lot, status, -qty)


def _part(plant: Plant, qty: int, low: float, high: float) -> int:
    """Some whole units of ``qty`` (at least one, at most all)."""
    whole = qty // SCALE
    return max(1, min(whole, math.ceil(whole * plant.rng.uniform(low, high)))) * SCALE


def inspect(plant: Plant, today: dt.date) -> None:
    """Rework and holds that are done come back; lots waiting since before today are inspected."""
    for item, lot in plant.due_today(today, "rework"):
        qty = plant.book.lot_qty(item, lot, "rework")
        if qty:
            _move(plant, item, lot, qty, "rework", "qc_pending")
            plant.pending_qc[(item, lot)] = today
    for item, lot in plant.due_today(today, "hold"):
        qty = plant.book.lot_qty(item, lot, "blocked")
        if not qty:
            continue
        if plant.rng.random() < 0.75:
            _move(plant, item, lot, qty, "blocked", "available")
        else:
            _move(plant, item, lot, qty, "blocked", "rejected")
            _scrap(plant, item, lot, qty, "rejected")
    waiting = [key for key, since in plant.pending_qc.items() if since < today]
    for key in waiting:
        del plant.pending_qc[key]
        _inspect_lot(plant, *key, today)


def _inspect_lot(plant: Plant, item: str, lot: str, today: dt.date) -> None:
    rng = plant.rng
    qty = plant.book.lot_qty(item, lot, "qc_pending")
    if not qty:
        return
    made = plant.items[item].source == "make"
    draw = rng.random()
    if draw < REJECT_RATE:
        bad = _part(plant, qty, 0.05, 0.5)
        _move(plant, item, lot, bad, "qc_pending", "rejected")
        if made and bad > SCALE:   # assemblies: half goes back to rework, the rest is scrapped
            rework = bad // SCALE // 2 * SCALE
            if rework:
                _move(plant, item, lot, rework, "rejected", "rework")
                plant.schedule(add_working_days(today, rng.randint(1, 2)), "rework", (item, lot))
            bad -= rework
        _scrap(plant, item, lot, bad, "rejected")
        qty = plant.book.lot_qty(item, lot, "qc_pending")
    elif made and draw < REJECT_RATE + REWORK_RATE:
        rework = _part(plant, qty, 0.05, 0.3)
        _move(plant, item, lot, rework, "qc_pending", "rework")
        plant.schedule(add_working_days(today, rng.randint(1, 2)), "rework", (item, lot))
        qty -= rework
    if qty:
        _move(plant, item, lot, qty, "qc_pending", "available")


def hold(plant: Plant, today: dt.date) -> None:
    """Now and then a supplier alert blocks a lot of a purchased part until it is checked."""
    rng = plant.rng
    if rng.random() >= 0.3:
        return
    for _ in range(5):
        item = rng.choice(plant.structure.purchased)
        lots = plant.book.stocked_lots(item)
        if lots:
            lot, qty = rng.choice(lots)
            _move(plant, item, lot, qty, "available", "blocked")
            plant.schedule(add_working_days(today, rng.randint(1, 3)), "hold", (item, lot))
            return


def count(plant: Plant, lots: int) -> None:
    """Cycle counts of ``lots`` available lots; some are found a few units off."""
    rng = plant.rng
    for _ in range(lots):
        for _try in range(3):
            item = rng.choice(plant.stockable)
            stocked = plant.book.stocked_lots(item)
            if stocked:
                break
        else:
            continue
        lot, book_qty = rng.choice(stocked)
        counted = book_qty
        if rng.random() < COUNT_ERROR_RATE:
            off = max(1, round(book_qty / SCALE * rng.uniform(0.005, 0.03))) * SCALE
            counted = max(0, book_qty + off if rng.random() < 0.4 else book_qty - off)
        plant.emit(ev.Count, item=item, lot=lot, counted_qty=units(counted), status="available")
        if counted != book_qty:
            plant.book.book(item, lot, "available", counted - book_qty)
