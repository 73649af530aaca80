"""A production order that is done, kept small until retention drops it.

A closed order stays for ``retention`` (60 days by default) so lot traces,
queries and KPIs reach back that far, yet nothing changes it any more: its
cost was published when it closed and its reservations were released.  Kept as
a live ``ProductionOrder`` it held six small dicts and two genealogy dicts
(~2.7 KB); here the fields read in bulk (reports, retention, indexes) stay
attributes and the per-component detail and lots are one msgpack blob, decoded
when a query or a trace asks.  The service benchmark's worker holds ~94,000
such orders after 2,000,000 events.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import msgspec

from .orders import ProductionOrder

__all__ = ["ClosedOrder", "Lines", "as_rows"]

#: an order's lots, (item, lot) -> micro-units, as ``SiteState.order_inputs`` keeps them
Lines = dict[tuple[str, str], int]
_NONE: MappingProxyType[Any, Any] = MappingProxyType({})


class _Detail(msgspec.Struct, array_like=True, omit_defaults=True):
    required: dict[str, int] = {}
    issued: dict[str, int] = {}
    issued_value: dict[str, float] = {}
    unvalued: dict[str, int] = {}
    minutes: dict[str, float] = {}
    inputs: list[tuple[str, str, int]] = []
    outputs: list[tuple[str, str, int]] = []


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Detail).decode


def _detail_field(name: str) -> property:
    return property(lambda order: getattr(order.detail(), name))


class ClosedOrder:
    """Reads like a ``ProductionOrder`` that is closed or cancelled.

    Its dicts are decoded copies (``reserved`` a read-only empty one): nothing written to them stays, and
    nothing should write, since the events that change an order are refused for a done one.
    """

    __slots__ = ("_detail", "due", "ended", "good", "item", "order_id", "qty", "scrap", "start", "status")
    bom = None
    is_open = False
    open_qty = 0
    #: a done order reserves nothing (``SiteState._set_reservations`` released it all)
    reserved: MappingProxyType[str, int] = _NONE

    def __init__(self, order: ProductionOrder, inputs: Lines | None, outputs: Lines | None) -> None:
        if order.is_open:
            raise ValueError(f"production order {order.order_id!r} is {order.status}: only a done one is kept closed")
        if order.reserved:
            raise ValueError(f"production order {order.order_id!r} is {order.status} yet reserves {order.reserved}")
        self.order_id, self.item, self.qty, self.status = order.order_id, order.item, order.qty, order.status
        self.due, self.start, self.ended = order.due, order.start, order.ended
        self.good, self.scrap = order.good, order.scrap
        self._detail = _encode(_Detail(order.required, order.issued, order.issued_value, order.unvalued,
                                       order.minutes, as_rows(inputs), as_rows(outputs)))

    def detail(self) -> _Detail:
        return _decode(self._detail)

    # the per-component fields, each decoded from the blob when read
    required = _detail_field("required")
    issued = _detail_field("issued")
    issued_value = _detail_field("issued_value")
    unvalued = _detail_field("unvalued")
    minutes = _detail_field("minutes")

    def lines(self) -> tuple[Lines, Lines]:
        """The lots it consumed and produced."""
        detail = self.detail()
        return _lines(detail.inputs), _lines(detail.outputs)

    def thaw(self) -> tuple[ProductionOrder, Lines, Lines]:
        """The ``ProductionOrder`` it was (its BOM at release dropped: a done order needs none) and its lots,
        from one decoding."""
        detail = self.detail()
        order = ProductionOrder(self.order_id, self.item, self.qty, self.due, self.start, self.status, None,
                                self.good, self.scrap, detail.required, detail.issued, {}, detail.issued_value,
                                detail.unvalued, detail.minutes, self.ended)
        return order, _lines(detail.inputs), _lines(detail.outputs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClosedOrder):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None   # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ClosedOrder({self.order_id!r}, {self.item!r}, {self.status}, ended {self.ended})"


def as_rows(lines: Lines | None) -> list[tuple[str, str, int]]:
    """An order's lots as (item, lot, micro-units) rows, as its durable row and its blob keep them."""
    return [(item, lot, qty) for (item, lot), qty in lines.items()] if lines else []


def _lines(rows: list[tuple[str, str, int]]) -> Lines:
    return {(item, lot): qty for item, lot, qty in rows}
