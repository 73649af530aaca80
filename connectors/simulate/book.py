"""The simulator's own small stock record of one site, kept the way the engine keeps it.

The factory only issues, ships, moves or counts what this book says exists, and reserves what the engine
reserves (the same fixed-point BOM explosion, ``core.master.BomSpec``), so a replay of the generated events
rejects nothing.  The book is the engine's ``core.stock.Stock`` itself, so both count alike.
"""

from __future__ import annotations

from core.errors import Reject
from core.master import BomSpec
from core.master import explode as explode_bom
from core.quality import STATUS_INDEX
from core.quantity import SCALE
from core.stock import Stock

__all__ = ["Book", "explode", "floor_units", "units"]

def units(micro: int) -> float:
    """Micro-units as the contract's number: whole units as an int (written ``12``, not ``12.0``)."""
    return micro // SCALE if micro % SCALE == 0 else micro / SCALE


def floor_units(micro: int) -> int:
    """Whole units (as micro-units) that fit in ``micro``."""
    return max(0, micro // SCALE * SCALE)


def explode(boms: dict[str, BomSpec], bom: BomSpec, qty: int) -> dict[str, int]:
    """What a released order of ``qty`` reserves, component by component: the engine's explosion."""
    return explode_bom(bom, qty, boms.get)


class Book(Stock):
    """The engine's own stock record (``core.stock.Stock``), with a generator's checks: going below zero is a
    simulator bug, and ``free`` is what the engine lets an issue or a shipment take."""

    def book(self, item: str, lot: str, status: str, delta: int, kind: str = "simulated") -> None:
        value = self.qty.get((item, lot, status), 0) + delta
        if value < 0:
            raise AssertionError(f"simulator bug: {item} lot {lot} {status} would go to {value}")
        super().book(item, lot, status, delta, kind)

    def move(self, item: str, lot: str, from_status: str, to_status: str, qty: int) -> None:
        self.book(item, lot, from_status, -qty)
        self.book(item, lot, to_status, qty)

    def lot_qty(self, item: str, lot: str, status: str = "available") -> int:
        return super().lot_qty(item, lot, status)

    def status_qty(self, item: str, status: str) -> int:
        return self.totals(item)[STATUS_INDEX[status]]

    def free(self, item: str, own: int = 0) -> int:
        """What may be issued or shipped: unrestricted, less what other orders reserve."""
        return self.available(item) + own

    def stocked_lots(self, item: str, status: str = "available") -> list[tuple[str, int]]:
        """(lot, qty) with stock in ``status``, first received first."""
        return [(lot, self.qty[(item, lot, status)]) for lot in self.lots.get(item, ())
                if (item, lot, status) in self.qty]

    def fifo(self, item: str, qty: int) -> list[tuple[str, int]]:
        """Which available lots ``qty`` comes from, oldest first (the engine's pick); the caller checked it is there."""
        try:
            return self.pick(item, qty, None, allow_negative=False)
        except Reject:
            raise AssertionError(f"simulator bug: {item} has less than {qty} available") from None
