"""Deliberately bad events (``--bad-rate``), to exercise the dead letters.

After a good event, with probability ``rate``, one bad event of the same plant follows, of each kind in
turn.  Each is rejected by the engine (or the decoder) whatever the state, and leaves no trace, so the
rest of the simulation stays consistent: a replay rejects exactly ``Faults.total`` events.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from core.quantity import SCALE
from schemas import events as ev

if TYPE_CHECKING:
    from .plant import Plant

__all__ = ["KINDS", "REASONS", "Faults"]

#: kind -> the start of the reason the engine or decoder gives
REASONS = {
    "over_issue": "insufficient available stock",
    "illegal_move": "illegal status move",
    "unknown_order": "unknown production order",
    "duplicate": "duplicate event_id",
    "invalid": "invalid event",
    "unknown_item": "unknown item",
}
KINDS = tuple(REASONS)


class Faults:
    def __init__(self, rate: float, seed: int | str) -> None:
        self.rate = rate
        self.rng = random.Random(f"{seed}:faults")
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.total = 0

    def __call__(self, plant: Plant, event: Any) -> list[Any]:
        if self.rate <= 0 or self.rng.random() >= self.rate:
            return []
        kind = KINDS[self.total % len(KINDS)]
        self.total += 1
        self.counts[kind] += 1
        if kind == "duplicate":
            return [event]
        item = getattr(event, "item", None) or plant.stockable[0]
        common = {"event_id": plant.next_id("BAD", 5), "ts": plant.clock.now(), "site": plant.name}
        if kind == "over_issue":   # more than the item's stock even once ``event`` (not booked yet) has added to it
            added = max(getattr(event, name, None) or 0 for name in ("qty", "good_qty", "counted_qty"))
            qty = plant.book.physical(item) // SCALE + int(added) + 1000
            return [ev.Issue(**common, item=item, qty=qty, reason="more than there is")]
        if kind == "illegal_move":
            return [ev.Quality(**common, item=item, lot=f"{plant.name}-ANY", qty=1, from_status="available",
                               to_status="rejected")]
        if kind == "unknown_order":
            return [ev.MaterialIssue(**common, order_id=plant.next_id("GHOST"), item=item, qty=1)]
        if kind == "invalid":
            return [ev.Receipt(**common, item=item, qty=-5, lot="BAD")]   # Structs validate on decode only
        return [ev.Receipt(**common, item=plant.next_id("NO-SUCH-ITEM"), qty=1, lot="BAD")]
