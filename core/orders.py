"""Open orders and demands of a site: what will arrive and what must leave.

Each record keeps what the upstream system said (quantity, dates, status) and
what has happened since (received, produced, delivered), so the open
quantity is always derived, never stored twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .master import BomSpec

__all__ = [
    "DEMAND_MOVES",
    "PRODUCTION_MOVES",
    "PURCHASE_MOVES",
    "Demand",
    "InboundTransfer",
    "OutboundTransfer",
    "ProductionOrder",
    "PurchaseOrder",
]

#: status -> statuses an update may move it to (closed and cancelled are final).
PRODUCTION_MOVES = {
    "planned": frozenset({"planned", "released", "cancelled"}),
    "released": frozenset({"released", "closed", "cancelled"}),
}
PURCHASE_MOVES = {"open": frozenset({"open", "closed", "cancelled"})}
DEMAND_MOVES = {"open": frozenset({"open", "cancelled"})}


@dataclass(slots=True)
class ProductionOrder:
    order_id: str
    item: str
    qty: int
    due: dt.date
    start: dt.date
    status: str
    bom: BomSpec | None = None          # the BOM at release: reservations follow it
    good: int = 0
    scrap: int = 0
    required: dict[str, int] = field(default_factory=dict)   # component -> total need
    issued: dict[str, int] = field(default_factory=dict)     # component -> issued so far
    reserved: dict[str, int] = field(default_factory=dict)   # component -> still reserved
    issued_value: dict[str, float] = field(default_factory=dict)  # component -> value at moving average
    unvalued: dict[str, int] = field(default_factory=dict)   # issued with no average yet: valued at standard
    minutes: dict[str, float] = field(default_factory=dict)  # operation -> reported minutes
    ended: dt.date | None = None        # the day it was closed or cancelled (core/retention.py)

    @property
    def is_open(self) -> bool:
        return self.status in ("planned", "released")

    @property
    def open_qty(self) -> int:
        return max(0, self.qty - self.good) if self.is_open else 0


@dataclass(slots=True)
class PurchaseOrder:
    po_id: str
    item: str
    qty: int
    due: dt.date
    unit_price: float | None
    status: str
    supplier: str = ""
    received: int = 0
    promised: dt.date | None = None    # the due date first sent: lateness is measured against it
    ended: dt.date | None = None       # the day it was closed, cancelled or received in full

    @property
    def open_qty(self) -> int:
        return max(0, self.qty - self.received) if self.status == "open" else 0


@dataclass(slots=True)
class Demand:
    demand_id: str
    item: str
    qty: int
    due: dt.date
    kind: str
    status: str
    customer: str = ""
    delivered: int = 0
    completed: dt.date | None = None   # the day deliveries reached the ordered quantity
    ended: dt.date | None = None       # the day it was cancelled

    @property
    def open_qty(self) -> int:
        return max(0, self.qty - self.delivered) if self.status == "open" else 0


@dataclass(slots=True)
class InboundTransfer:
    """A shipment from another site, scheduled to arrive here."""

    transfer_id: str
    from_site: str
    item: str
    qty: int
    lot: str
    arrival: dt.date
    received: int = 0
    done: bool = False
    unit_cost: float | None = None
    key: str = ""  # its key in SiteState.inbound (the id, or id@from_site when another site reused it)
    ended: dt.date | None = None   # the day it was received in full
    # received before the shipping site announced it (the service reads that site's partition behind):
    # the stock is booked, the shipment's quantity, source and cost come with the announcement
    announced: bool = True
    provisional_cost: float | None = None   # the average the received units were valued at meanwhile
    sampled_units: int = 0        # of them on hand at each daily value sample meanwhile, summed
    sampled_value: float = 0.0    # what those samples counted them at

    @property
    def open_qty(self) -> int:
        """What is still on the road: a partial receipt leaves the rest in transit."""
        return 0 if self.done or not self.announced else self.qty - self.received


@dataclass(slots=True)
class OutboundTransfer:
    transfer_id: str
    to_site: str
    item: str
    qty: int
    lot: str
    arrival: dt.date
