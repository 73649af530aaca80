"""Transfers between plants: stock of a part or device moves from a plant with plenty to one running short.

Each working day at 15:00 the plants look at a sample of purchased parts and finished devices, plus the
devices some plant has overdue orders for.  The plant furthest below its reorder point gets a lot from the
plant furthest above it, shipped (``transfer_shipped``) and received days later at the destination
(``transfer_received``), sometimes a day late or in two parts.  The shipment is always one lot, never
more than the sender could issue.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from core.quantity import SCALE
from schemas import events as ev

from .book import floor_units, units
from .timeline import add_working_days, working_day

if TYPE_CHECKING:
    import random

    from .plant import Plant

__all__ = ["rebalance", "receive"]


def rebalance(plants: list[Plant], today: dt.date, rng: random.Random, sample: int) -> None:
    for plant in plants:
        plant.clock.phase(today, 15)
    backlogs = {plant.name: plant.backlog(today) for plant in plants}
    candidates = [*plants[0].structure.levels[0], *plants[0].structure.purchased]
    urgent = [line.item for plant in plants for line in plant.sales.values() if line.due < today]
    for item in dict.fromkeys([*urgent, *rng.sample(candidates, min(sample, len(candidates)))]):
        gaps = [(plant.position(item, backlogs[plant.name]) - plant.reorder_point(item), index)
                for index, plant in enumerate(plants)]
        short_gap, short = min(gaps)
        if short_gap >= 0:
            continue
        spare, sender_index = max((gap - plants[i].items[item].daily * 3, i) for gap, i in gaps)
        sender = plants[sender_index]
        if spare < 1 or sender_index == short:
            continue
        lots = sender.book.stocked_lots(item)
        if not lots:
            continue
        lot, lot_qty = max(lots, key=lambda entry: entry[1])
        want = (-short_gap + plants[short].items[item].daily * 5) * SCALE
        qty = floor_units(min(int(want) + SCALE, int(spare * SCALE), lot_qty, sender.book.free(item)))
        if qty > 0:
            _ship(sender, plants[short], item, lot, qty, today, rng)
            backlogs[sender.name] = sender.backlog(today)


def _ship(sender: Plant, receiver: Plant, item: str, lot: str, qty: int, today: dt.date,
          rng: random.Random) -> None:
    from .plant import Inbound

    transfer = Inbound(sender.next_id("TR", 5), item, lot, qty)
    arrival = today + dt.timedelta(days=rng.randint(2, 5))
    sender.emit(ev.TransferShipped, transfer_id=transfer.transfer_id, to_site=receiver.name, item=item,
                qty=units(qty), lot=lot, arrival=arrival)
    sender.book.book(item, lot, "available", -qty)
    receiver.inbound[transfer.transfer_id] = transfer
    receiver.add_supply(item, qty)
    day = working_day(arrival + dt.timedelta(days=1 if rng.random() < 0.1 else 0))
    whole = qty // SCALE
    if whole >= 2 and rng.random() < 0.1:
        first = whole // 2 * SCALE
        receiver.schedule(day, "transfer", (transfer.transfer_id, first))
        receiver.schedule(add_working_days(day, 1), "transfer", (transfer.transfer_id, qty - first))
    else:
        receiver.schedule(day, "transfer", (transfer.transfer_id, qty))


def receive(plant: Plant, transfer_id: str, qty: int) -> None:
    transfer = plant.inbound[transfer_id]
    plant.emit(ev.TransferReceived, transfer_id=transfer_id, item=transfer.item, qty=units(qty), lot=transfer.lot)
    plant.book.book(transfer.item, transfer.lot, "available", qty)
    plant.add_supply(transfer.item, -qty)
    transfer.received += qty
    if transfer.received >= transfer.qty:
        del plant.inbound[transfer_id]
