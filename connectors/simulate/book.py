"""The simulator's own small stock record of one site, kept the way the engine keeps it.

The factory only issues, ships, moves or counts what this book says exists, and reserves what the engine
reserves (the same fixed-point BOM explosion, ``core.master.BomSpec``), so a replay of the generated events
rejects nothing.  Quantities are micro-units, as in ``core/stock.py``.
"""

from __future__ import annotations

from core.master import BomSpec
from core.quality import STATUS_INDEX, STATUSES
from core.quantity import SCALE

__all__ = ["Book", "explode", "floor_units", "units"]

_AVAILABLE = STATUS_INDEX["available"]


def units(micro: int) -> float:
    """Micro-units as the contract's number: whole units as an int (written ``12``, not ``12.0``)."""
    return micro // SCALE if micro % SCALE == 0 else micro / SCALE


def floor_units(micro: int) -> int:
    """Whole units (as micro-units) that fit in ``micro``."""
    return max(0, micro // SCALE * SCALE)


def explode(boms: dict[str, BomSpec], bom: BomSpec, qty: int, into: dict[str, int] | None = None) -> dict[str, int]:
    """What a released order of ``qty`` reserves, component by component: ``SiteState.explode``'s rule."""
    needs = {} if into is None else into
    for line in bom.lines:
        need = bom.component_qty(line, qty)
        child = boms.get(line.item)
        if child is not None and child.phantom:
            explode(boms, child, need, needs)
        else:
            needs[line.item] = needs.get(line.item, 0) + need
    return needs


class Book:
    """Stock by item, lot and status; lots in first-booking order; reservations per item."""

    def __init__(self) -> None:
        self.qty: dict[tuple[str, str, str], int] = {}
        self.lots: dict[str, dict[str, None]] = {}
        self.totals: dict[str, list[int]] = {}
        self.reserved: dict[str, int] = {}

    def book(self, item: str, lot: str, status: str, delta: int) -> None:
        key = (item, lot, status)
        value = self.qty.get(key, 0) + delta
        if value < 0:
            raise AssertionError(f"simulator bug: {item} lot {lot} {status} would go to {value}")
        if value:
            self.qty[key] = value
        else:
            self.qty.pop(key, None)
        totals = self.totals.get(item)
        if totals is None:
            totals = self.totals[item] = [0] * len(STATUSES)
        totals[STATUS_INDEX[status]] += delta
        self.lots.setdefault(item, {}).setdefault(lot, None)

    def move(self, item: str, lot: str, from_status: str, to_status: str, qty: int) -> None:
        self.book(item, lot, from_status, -qty)
        self.book(item, lot, to_status, qty)

    def reserve(self, item: str, delta: int) -> None:
        value = self.reserved.get(item, 0) + delta
        if value:
            self.reserved[item] = value
        else:
            self.reserved.pop(item, None)

    def lot_qty(self, item: str, lot: str, status: str = "available") -> int:
        return self.qty.get((item, lot, status), 0)

    def status_qty(self, item: str, status: str) -> int:
        totals = self.totals.get(item)
        return totals[STATUS_INDEX[status]] if totals else 0

    def unrestricted(self, item: str) -> int:
        totals = self.totals.get(item)
        return totals[_AVAILABLE] if totals else 0

    def physical(self, item: str) -> int:
        return sum(self.totals.get(item, ()))

    def free(self, item: str, own: int = 0) -> int:
        """What may be issued or shipped: unrestricted, less what other orders reserve (the engine's check)."""
        return self.unrestricted(item) - self.reserved.get(item, 0) + own

    def stocked_lots(self, item: str, status: str = "available") -> list[tuple[str, int]]:
        """(lot, qty) with stock in ``status``, first received first."""
        return [(lot, self.qty[(item, lot, status)]) for lot in self.lots.get(item, ())
                if (item, lot, status) in self.qty]

    def fifo(self, item: str, qty: int) -> list[tuple[str, int]]:
        """Which available lots ``qty`` comes from, oldest first; the caller checked it is there."""
        picks: list[tuple[str, int]] = []
        left = qty
        for lot, have in self.stocked_lots(item):
            take = min(have, left)
            picks.append((lot, take))
            left -= take
            if not left:
                return picks
        raise AssertionError(f"simulator bug: {item} has less than {qty} available")
