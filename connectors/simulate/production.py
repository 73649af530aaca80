"""Making: firm-planned production orders, released when their material is there, issued, run, closed.

The plant's planner puts an order in as ``planned`` (the engine sees it as supply and its components'
requirements).  Each morning, oldest start first, an order is released for what its material allows now
(unrestricted stock less what released orders reserve, whole units), which reserves its components
exactly as the engine does (same explosion, phantoms passed through), and kitted at once: each component
from the oldest lots, now and then a unit or two more for parts spoiled on the line.  Releasing only
what can be kitted keeps reservations covered by stock; an order short of material stays planned, and
late.  A kitted order runs ``run_days`` working days, then reports its operations, books its
good output (to inspection where the kind is inspected) and scrap, and closes.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

from core.quantity import SCALE
from schemas import events as ev

from .book import explode, floor_units, units
from .timeline import add_working_days

if TYPE_CHECKING:
    from .plant import Job, Plant

__all__ = ["finish", "plan_order", "release_and_kit"]

#: chance a kitted order needs a little more of one component (spoiled on the line)
LINE_SCRAP_RATE = 0.05


def plan_order(plant: Plant, item: str, qty_units: int, today: dt.date) -> None:
    from .plant import Job

    plan = plant.items[item]
    qty = qty_units * SCALE
    start = add_working_days(today, 1)
    due = today + dt.timedelta(days=max(1, plan.lead))
    job = Job(plant.next_id("MO"), item, qty, due, start, max(0, plan.lead - 2),
              explode(plant.boms, plant.boms[item], qty))
    plant.emit(ev.ProductionOrder, order_id=job.order_id, item=item, qty=units(qty), due=due, start=start,
               status="planned")
    for component, need in job.required.items():
        plant.planned_needs[component] = plant.planned_needs.get(component, 0) + need
    plant.jobs[job.order_id] = job
    plant.add_supply(item, qty)


def release_and_kit(plant: Plant, today: dt.date) -> None:
    """Release and kit the planned orders due to start, oldest first, as far as their material goes.

    An order short of material is released for the quantity it can build (at least a quarter of it, or
    anything once it is a week late); the plant's planner orders the rest again when it is needed.
    """
    waiting = sorted((job for job in plant.jobs.values() if job.ready is None and job.start <= today),
                     key=lambda job: (job.start, job.order_id))
    for job in waiting:
        qty = _buildable(plant, job)
        least = SCALE if today > job.due + dt.timedelta(days=7) else max(SCALE, job.qty // 4 // SCALE * SCALE)
        if qty >= least:
            _release(plant, job, qty, today)


def _wanted(required: dict[str, int]) -> dict[str, int]:
    """Whole units issued for each component (the requirement rounded up)."""
    return {c: math.ceil(need / SCALE) * SCALE for c, need in required.items()}


def _buildable(plant: Plant, job: Job) -> int:
    """The most of ``job`` (whole units) whose components can all be issued now."""
    free = {c: floor_units(plant.book.free(c)) for c in job.required}
    ratio = min((free[c] / need for c, need in job.required.items() if need), default=1.0)
    qty = min(job.qty, int(job.qty * ratio) // SCALE * SCALE)
    while qty > 0:
        if all(free[c] >= want for c, want in _wanted(explode(plant.boms, plant.boms[job.item], qty)).items()):
            return qty
        qty -= SCALE
    return 0


def _release(plant: Plant, job: Job, qty: int, today: dt.date) -> None:
    book = plant.book
    for component, need in job.required.items():
        plant.planned_needs[component] -= need
    if qty != job.qty:
        plant.add_supply(job.item, qty - job.qty)
        job.qty, job.required = qty, explode(plant.boms, plant.boms[job.item], qty)
    plant.emit(ev.ProductionOrder, order_id=job.order_id, item=job.item, qty=units(job.qty), due=job.due,
               start=job.start, status="released")
    for component, need in job.required.items():
        job.reserved[component] = need
        book.reserve(component, need)
    wanted = _wanted(job.required)
    for component, want in wanted.items():
        _issue(plant, job, component, want)
    if plant.rng.random() < LINE_SCRAP_RATE:
        component = plant.rng.choice(list(wanted))
        extra = plant.rng.randint(1, 2) * SCALE
        if floor_units(book.free(component)) >= extra:
            _issue(plant, job, component, extra)
    job.ready = add_working_days(today, job.run_days)


def _issue(plant: Plant, job: Job, component: str, qty: int) -> None:
    book = plant.book
    for lot, take in book.fifo(component, qty):
        plant.emit(ev.MaterialIssue, order_id=job.order_id, item=component, qty=units(take), lot=lot)
        book.book(component, lot, "available", -take)
        covered = min(job.reserved.get(component, 0), take)
        if covered:
            book.reserve(component, -covered)
            job.reserved[component] -= covered
        job.issued[component] = job.issued.get(component, 0) + take


def finish(plant: Plant, today: dt.date) -> None:
    """Orders whose run ends today: operations, output, close."""
    done = [job for job in plant.jobs.values() if job.ready is not None and job.ready <= today]
    for job in done:
        _complete(plant, job, today)


def _complete(plant: Plant, job: Job, today: dt.date) -> None:
    rng = plant.rng
    bom = plant.structure.boms[job.item]
    qty_units = job.qty // SCALE
    for operation in bom.operations:
        minutes = operation.setup_minutes + operation.run_minutes_per_unit * qty_units * rng.uniform(0.9, 1.25)
        plant.emit(ev.OperationReport, order_id=job.order_id, operation=operation.name, minutes=round(minutes, 1))
    rate = (100 - bom.yield_pct) / 100 + 0.005
    scrap = min(qty_units - 1, round(qty_units * rate * rng.uniform(0, 2)))
    good = (qty_units - scrap) * SCALE
    lot = plant.new_lot()
    status = "qc_pending" if plant.items[job.item].inspected else "available"
    plant.emit(ev.Output, order_id=job.order_id, good_qty=units(good), scrap_qty=scrap, lot=lot,
               status=status)
    plant.book.book(job.item, lot, status, good)
    if status == "qc_pending":
        plant.pending_qc[(job.item, lot)] = today
    plant.emit(ev.ProductionOrder, order_id=job.order_id, item=job.item, qty=units(job.qty), due=job.due,
               status="closed")
    for component, left in job.reserved.items():
        if left:
            plant.book.reserve(component, -left)
    plant.add_supply(job.item, -job.qty)
    del plant.jobs[job.order_id]
