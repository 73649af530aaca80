"""What Millstream publishes: results for planners, purchasing and finance.

Outputs are tagged Structs like the inputs.  Quantities are ``Decimal`` so that
the fixed-point values of the engine are written exactly (as JSON numbers).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal, Union

from msgspec import Struct

__all__ = [
    "BaseOutput",
    "CapacityLoad",
    "CapacityOverload",
    "Cost",
    "Exception_",
    "OrderCost",
    "OutputEvent",
    "PlannedOrder",
    "Rejected",
    "Shortage",
    "ShortageHit",
]

Number = Union[int, Decimal]


class BaseOutput(Struct, frozen=True, tag_field="type", kw_only=True, omit_defaults=True):
    """``site`` and ``ts`` tell where and at what event time an output was made."""

    site: str | None = None
    ts: dt.datetime | None = None


class Rejected(BaseOutput, tag="rejected"):
    """An input that was not applied, with why and the original bytes or event."""

    reason: str
    event: Any = None
    source: str | None = None


class PlannedOrder(BaseOutput, tag="planned_order"):
    planned_id: str
    item: str
    kind: Literal["make", "buy"]
    qty: Number
    release: dt.date
    due: dt.date
    action: Literal["upsert", "delete"] = "upsert"
    past_due: bool = False


class ShortageHit(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A demand or production order that a shortage would leave uncovered."""

    ref: str
    kind: str
    qty: Number
    due: dt.date


class Shortage(BaseOutput, tag="shortage"):
    shortage_id: str
    item: str
    date: dt.date
    qty: Number
    state: Literal["open", "resolved"]
    hits: list[ShortageHit] = []
    reason: str = ""


class Exception_(BaseOutput, tag="exception"):
    exception_id: str
    ref: str
    item: str
    action: Literal["expedite", "defer", "cancel", "past_due"]
    current_date: dt.date | None = None
    suggested_date: dt.date | None = None
    state: Literal["open", "resolved"] = "open"


class Cost(BaseOutput, tag="cost"):
    item: str
    unit_cost: Number
    standard_cost: Number | None = None


class OrderCost(BaseOutput, tag="order_cost"):
    order_id: str
    item: str
    good_qty: Number
    actual_cost: Number
    standard_cost: Number
    material_usage_variance: Number
    material_price_variance: Number
    operations_variance: Number


class CapacityLoad(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An order's part of a work center's load on one day."""

    ref: str     # planned_id, or the production order's id
    kind: Literal["planned_order", "production_order"]
    item: str
    minutes: Number


class CapacityOverload(BaseOutput, tag="capacity_overload"):
    """A work-center day whose load exceeds its available minutes (``open``), or no longer does (``resolved``)."""

    overload_id: str   # site|work_center|date
    work_center: str
    date: dt.date
    load_minutes: Number
    available_minutes: Number
    state: Literal["open", "resolved"]
    orders: list[CapacityLoad] = []   # the orders with the most minutes there (at most 10), biggest first
    other_minutes: Number = 0         # the load of the orders not listed


OutputEvent = Union[Rejected, PlannedOrder, Shortage, Exception_, Cost, OrderCost, CapacityOverload]


class DeadLetter(Struct, frozen=True, tag="dead_letter", tag_field="type", kw_only=True, omit_defaults=True):
    """What the service publishes to the rejected topic: the reason and where the bytes came from."""

    reason: str
    topic: str
    partition: int
    offset: int
    original: str  # base64 of the message as received (the whole message, also for one event of an envelope)
    event: Any = None
    site: str | None = None
    ts: dt.datetime | None = None
