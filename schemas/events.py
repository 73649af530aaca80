"""Event contract v1: what upstream systems (ERP, MES, WMS, scanners) send.

Every event is a msgspec Struct tagged by its ``type`` field, so one decoder
validates any event in one pass.  Field names and meanings are fixed by the
contract; new fields always come with defaults (see ``EVOLUTION.md``).

Quantities arrive as JSON numbers and are turned into fixed-point integers
(micro-units) by the engine; the bounds below make that conversion exact.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Union

import msgspec
from msgspec import Meta, Struct

__all__ = [
    "MASTER_TYPES",
    "STATUSES",
    "BaseEvent",
    "Bom",
    "Component",
    "Count",
    "Demand",
    "Envelope",
    "InputEvent",
    "Issue",
    "Item",
    "LotSize",
    "MaterialIssue",
    "Operation",
    "OperationReport",
    "Output",
    "ProductionOrder",
    "PurchaseOrder",
    "Quality",
    "Receipt",
    "Scrap",
    "TransferInTransit",
    "TransferReceived",
    "TransferShipped",
    "WorkCenter",
]

#: Largest quantity accepted: keeps ``qty * 10**6`` exact in a double.
MAX_QTY = 1e9

#: Smallest quantity: one micro-unit; anything smaller would round to nothing.
MIN_QTY = 1e-6

Qty = Annotated[float, Meta(ge=MIN_QTY, le=MAX_QTY)]
NonNegQty = Annotated[float, Meta(ge=0, le=MAX_QTY)]
Money = Annotated[float, Meta(ge=0, le=1e12)]
Pct = Annotated[float, Meta(ge=0, le=1000)]
Key = Annotated[str, Meta(min_length=1, max_length=200)]
Timestamp = Annotated[dt.datetime, Meta(tz=True)]
Days = Annotated[int, Meta(ge=0, le=3650)]

Status = Literal["available", "qc_pending", "blocked", "rejected", "rework"]
STATUSES: tuple[str, ...] = ("available", "qc_pending", "blocked", "rejected", "rework")


class BaseEvent(Struct, frozen=True, tag_field="type", kw_only=True, omit_defaults=True):
    """Fields every input event carries.

    ``site`` may be omitted only by master data (meaning: every site).
    """

    event_id: Key
    ts: Timestamp
    site: Key | None = None


# --- master data -------------------------------------------------------------


class LotSize(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How a planned order's quantity is sized from the net requirement."""

    rule: Literal["lot_for_lot", "fixed", "min_multiple", "period", "eoq"] = "lot_for_lot"
    fixed_qty: Qty | None = None
    min_qty: NonNegQty | None = None
    max_qty: Qty | None = None
    multiple: Qty | None = None
    period_days: Annotated[int, Meta(ge=1, le=3650)] | None = None
    ordering_cost: Money | None = None
    holding_cost_rate: Annotated[float, Meta(gt=0, le=10)] | None = None


class Item(BaseEvent, tag="item"):
    item: Key
    source: Literal["make", "buy"]
    uom: Key = "ea"
    lead_time_days: Days = 0
    safety_stock: NonNegQty = 0
    lot_size: LotSize = LotSize()
    standard_cost: Money | None = None
    description: str = ""


class Component(Struct, frozen=True, kw_only=True, omit_defaults=True):
    item: Key
    qty_per: Qty
    scrap_pct: Pct = 0


class Operation(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A routing step: setup once per order, run minutes per unit, on a work center (for capacity)."""

    name: Key
    setup_minutes: NonNegQty = 0
    run_minutes_per_unit: NonNegQty = 0
    rate_per_hour: Money = 0
    work_center: Key | None = None


class Bom(BaseEvent, tag="bom"):
    """A later ``bom`` for the same item (and site scope) replaces the earlier one."""

    item: Key
    components: list[Component]
    batch_qty: Qty = 1
    operations: list[Operation] = []
    yield_pct: Annotated[float, Meta(gt=0, le=100)] = 100
    phantom: bool = False


Weekday = Annotated[int, Meta(ge=1, le=7)]


class WorkCenter(BaseEvent, tag="work_center"):
    """A machine or crew that operations load: minutes it can work a day, on which weekdays (ISO: 1 = Monday).

    Available minutes on a working day = ``minutes_per_day`` x ``efficiency_pct`` / 100; no
    ``working_days`` means every day.  A later record (same site scope) replaces the earlier one.
    """

    work_center: Key
    minutes_per_day: Annotated[float, Meta(ge=0, le=10_000_000)]   # all its machines or people together
    efficiency_pct: Annotated[float, Meta(gt=0, le=1000)] = 100
    working_days: Annotated[list[Weekday], Meta(max_length=7)] | None = None
    description: str = ""


# --- inventory scans -----------------------------------------------------------


class Receipt(BaseEvent, tag="receipt"):
    item: Key
    qty: Qty
    lot: Key
    unit_cost: Money | None = None
    po_id: Key | None = None
    status: Literal["available", "qc_pending"] = "available"


class Issue(BaseEvent, tag="issue"):
    item: Key
    qty: Qty
    lot: Key | None = None
    demand_id: Key | None = None
    reason: str = ""


class TransferShipped(BaseEvent, tag="transfer_shipped"):
    transfer_id: Key
    to_site: Key
    item: Key
    qty: Qty
    lot: Key
    arrival: dt.date


class TransferReceived(BaseEvent, tag="transfer_received"):
    transfer_id: Key
    item: Key
    qty: Qty
    lot: Key


class TransferInTransit(BaseEvent, tag="transfer_in_transit"):
    """Internal: announces a shipment to the receiving site (``site`` is the destination)."""

    transfer_id: Key
    from_site: Key
    item: Key
    qty: Qty
    lot: Key
    arrival: dt.date
    unit_cost: Money | None = None


class Count(BaseEvent, tag="count"):
    item: Key
    lot: Key
    counted_qty: NonNegQty
    status: Status = "available"


class Quality(BaseEvent, tag="quality"):
    item: Key
    lot: Key
    qty: Qty
    from_status: Status
    to_status: Status


class Scrap(BaseEvent, tag="scrap"):
    item: Key
    qty: Qty
    lot: Key
    status: Status = "rejected"


# --- production ----------------------------------------------------------------


class ProductionOrder(BaseEvent, tag="production_order"):
    order_id: Key
    item: Key
    qty: Qty
    due: dt.date
    start: dt.date | None = None
    status: Literal["planned", "released", "closed", "cancelled"] = "released"


class MaterialIssue(BaseEvent, tag="material_issue"):
    order_id: Key
    item: Key
    qty: Qty
    lot: Key | None = None


class OperationReport(BaseEvent, tag="operation_report"):
    order_id: Key
    operation: Key
    minutes: NonNegQty


class Output(BaseEvent, tag="output"):
    order_id: Key
    good_qty: NonNegQty
    lot: Key
    scrap_qty: NonNegQty = 0
    status: Literal["qc_pending", "available"] = "qc_pending"


# --- purchase and demand -------------------------------------------------------


class PurchaseOrder(BaseEvent, tag="purchase_order"):
    po_id: Key
    item: Key
    qty: Qty
    due: dt.date
    unit_price: Money | None = None
    status: Literal["open", "cancelled", "closed"] = "open"
    supplier: str = ""


class Demand(BaseEvent, tag="demand"):
    demand_id: Key
    item: Key
    qty: Qty
    due: dt.date
    kind: Literal["sales_order", "forecast"] = "sales_order"
    status: Literal["open", "cancelled"] = "open"
    customer: str = ""


InputEvent = Union[
    Item, Bom, WorkCenter, Receipt, Issue, TransferShipped, TransferReceived, TransferInTransit,
    Count, Quality, Scrap, ProductionOrder, MaterialIssue, OperationReport, Output,
    PurchaseOrder, Demand,
]

MASTER_TYPES: tuple[type, ...] = (Item, Bom, WorkCenter)


class Envelope(Struct, frozen=True, tag="envelope", tag_field="type"):
    """Many events of one site in one message, so transport costs are paid once.

    Events stay raw so that one bad event is rejected alone, not its neighbours.
    """

    site: Key
    events: list[msgspec.Raw]
