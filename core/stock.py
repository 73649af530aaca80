"""Physical stock of one site by item, lot and quality status, plus reservations.

Physical stock is what is on the shelves in any status; *available* stock is
the unrestricted part not reserved for released production orders.  Every
change is booked against a movement kind, so conservation can be checked:
physical stock always equals the sum of its movements.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .errors import Reject
from .quality import AVAILABLE, STATUS_INDEX, STATUSES
from .quantity import to_number

__all__ = ["MOVEMENT_KINDS", "Stock"]

MOVEMENT_KINDS = (
    "receipt", "issue", "material_issue", "scrap", "transfer_out", "transfer_in",
    "adjustment", "output", "quality",
)
_NO_LOT = "-"


class Stock:
    def __init__(self) -> None:
        self.qty: dict[tuple[str, str, str], int] = {}
        self.by_item: dict[str, list[int]] = {}
        # item -> lots in first-receipt order (FIFO), each with the day it was found empty (core/retention.py)
        self.lots: dict[str, dict[str, Any]] = {}
        #: lots whose stock changed since the site's day began, the only ones whose emptiness can have
        #: changed (core/retention.py); None: look at every lot (a new or restored site's first day)
        self.touched: set[tuple[str, str]] | None = None
        #: (day, item, lot) of each lot found empty, in the order found (days only grow): retirement candidates
        self.emptied: deque[tuple[Any, str, str]] = deque()
        self.reserved: dict[str, int] = {}
        #: item -> movement kind -> what it moved in all (one dictionary per item: its row reads it whole)
        self.moves: dict[str, dict[str, int]] = {}

    # --- reading -----------------------------------------------------------------

    def lot_qty(self, item: str, lot: str, status: str) -> int:
        return self.qty.get((item, lot, status), 0)

    def totals(self, item: str) -> list[int]:
        return self.by_item.get(item) or [0] * len(STATUSES)

    def unrestricted(self, item: str) -> int:
        totals = self.by_item.get(item)
        return totals[AVAILABLE] if totals else 0

    def available(self, item: str) -> int:
        """Unrestricted stock not reserved by released orders (may be negative)."""
        return self.unrestricted(item) - self.reserved.get(item, 0)

    def physical(self, item: str) -> int:
        return sum(self.by_item.get(item, ()))

    # --- changing ------------------------------------------------------------------

    def book(self, item: str, lot: str, status: str, delta: int, kind: str) -> None:
        key = (item, lot, status)
        value = self.qty.get(key, 0) + delta
        if value:
            self.qty[key] = value
        else:
            self.qty.pop(key, None)
        totals = self.by_item.get(item)
        if totals is None:
            totals = self.by_item[item] = [0] * len(STATUSES)
        totals[STATUS_INDEX[status]] += delta
        lots = self.lots.get(item)
        if lots is None:
            lots = self.lots[item] = {}
        lots.setdefault(lot, None)
        if self.touched is not None:
            self.touched.add((item, lot))
        moves = self.moves.get(item)
        if moves is None:
            moves = self.moves[item] = {}
        moves[kind] = moves.get(kind, 0) + delta

    def reserve(self, item: str, delta: int) -> None:
        value = self.reserved.get(item, 0) + delta
        if value:
            self.reserved[item] = value
        else:
            self.reserved.pop(item, None)

    def pick(self, item: str, qty: int, lot: str | None, allow_negative: bool,
             status: str = "available") -> list[tuple[str, int]]:
        """Which lots ``qty`` comes from: the named lot, else first-received first.

        Raises ``Reject`` when stock does not cover it, unless negative stock is
        allowed, in which case the remainder is taken from the named (or first) lot.
        """
        if lot is not None:
            have = self.lot_qty(item, lot, status)
            if have < qty and not allow_negative:
                raise Reject(f"insufficient stock: item {item!r} lot {lot!r} has {_fmt(have)} {status}, "
                             f"needs {_fmt(qty)}")
            return [(lot, qty)]
        picks: list[tuple[str, int]] = []
        left = qty
        for candidate in self.lots.get(item, ()):
            have = self.qty.get((item, candidate, status), 0)
            if have > 0:
                take = min(have, left)
                picks.append((candidate, take))
                left -= take
                if not left:
                    return picks
        if not allow_negative:
            raise Reject(f"insufficient stock: item {item!r} has {_fmt(qty - left)} {status}, "
                         f"needs {_fmt(qty)}")
        first = next(iter(self.lots.get(item, ())), _NO_LOT)
        picks.append((first, left))
        return picks


def _fmt(micro: int) -> str:
    return str(to_number(micro))
