"""Small builders for ledger tests: events, master data, engines and output filters.

``mk("receipt", item="RAW-A", qty=5, lot="L1")`` builds a validated v1 event with a
fresh ``event_id``, a ``ts`` one minute after the previous event's and ``site="S1"``
(master data defaults to no site, i.e. global).  Any default can be overridden.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from core.engine import Engine, EngineSettings
from core.quantity import SCALE
from schemas import events as ev
from schemas.codecs import encode_json
from schemas.outputs import Rejected

SITE = "S1"
START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
DUE = dt.date(2026, 3, 20)
STEP = dt.timedelta(minutes=1)

_MASTER_TAGS = frozenset({"item", "bom", "work_center"})
_UNSET: Any = object()


class _Factory:
    """Event ids and timestamps: unique and increasing within a test."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._ids = itertools.count(1)
        self.now = START

    def next_id(self) -> str:
        return f"e-{next(self._ids):06d}"

    def next_ts(self) -> dt.datetime:
        self.now += STEP
        return self.now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self.now += delta
        return self.now


FACTORY = _Factory()


def reset() -> None:
    FACTORY.reset()


def advance(**delta: float) -> dt.datetime:
    """Move the event clock forward, e.g. ``advance(hours=25)``; returns the new time."""
    return FACTORY.advance(dt.timedelta(**delta))


def mk(type_name: str, site: Any = _UNSET, **fields: Any) -> Any:
    """One input event of tag ``type_name``, validated by msgspec like decoded input."""
    data: dict[str, Any] = {"type": type_name}
    if site is _UNSET:
        site = None if type_name in _MASTER_TAGS else SITE
    if site is not None:
        data["site"] = site
    if type_name in ("production_order", "purchase_order", "demand"):
        data["due"] = DUE
    if type_name in ("transfer_shipped", "transfer_in_transit"):
        data["arrival"] = DUE
    data.update(fields)
    data.setdefault("event_id", FACTORY.next_id())
    data.setdefault("ts", FACTORY.next_ts())
    return msgspec.convert(data, ev.InputEvent)


def item(name: str, source: str = "buy", **fields: Any) -> Any:
    return mk("item", item=name, source=source, **fields)


def bom(parent: str, components: Sequence[tuple[str, float] | tuple[str, float, float]], **fields: Any) -> Any:
    """A BOM from ``(component, qty_per[, scrap_pct])`` tuples."""
    lines = [{"item": c[0], "qty_per": c[1], **({"scrap_pct": c[2]} if len(c) > 2 else {})} for c in components]
    return mk("bom", item=parent, components=lines, **fields)


def master_data() -> list[Any]:
    """Items and a two-level BOM with a phantom kit.

    FG  = 2 x SUB + 1 x RAW-B (5 % scrap) + 1 x KIT (phantom: 2 x RAW-C)
    SUB = 3 x RAW-A (10 % scrap), yield 90 %
    """
    return [
        item("FG", "make", lead_time_days=2),
        item("SUB", "make", lead_time_days=1),
        item("KIT", "make"),
        item("RAW-A"), item("RAW-B"), item("RAW-C"),
        bom("SUB", [("RAW-A", 3, 10)], yield_pct=90),
        bom("KIT", [("RAW-C", 2)], phantom=True),
        bom("FG", [("SUB", 2), ("RAW-B", 1, 5), ("KIT", 1)]),
    ]


def new_engine(master: Iterable[Any] | None = None, **settings: Any) -> Engine:
    """An engine with ``master_data()`` (or the given master events) applied cleanly."""
    engine = Engine(EngineSettings(**settings))
    apply_ok(engine, *(master_data() if master is None else master))
    return engine


def rejected(outputs: Iterable[Any]) -> list[Rejected]:
    return [out for out in outputs if isinstance(out, Rejected)]


def apply_ok(engine: Engine, *events: Any) -> list[Any]:
    """Apply events as one batch and insist none was rejected."""
    outputs = engine.apply(list(events))
    bad = rejected(outputs)
    assert not bad, [b.reason for b in bad]
    return outputs


def apply_rejected(engine: Engine, event: Any) -> Rejected:
    """Apply one event and insist it (and only it) comes back rejected."""
    bad = rejected(engine.apply([event]))
    assert len(bad) == 1, [b.reason for b in bad]
    assert bad[0].event == event
    return bad[0]


def q(units: float) -> int:
    """Units -> engine micro-units."""
    return round(units * SCALE)


def lot_qty(engine: Engine, item_name: str, lot: str, status: str = "available", site: str = SITE) -> int:
    return engine.sites[site].stock.qty.get((item_name, lot, status), 0)


def receive(engine: Engine, item_name: str, qty: float, lot: str, site: str = SITE, **fields: Any) -> Any:
    event = mk("receipt", site=site, item=item_name, qty=qty, lot=lot, **fields)
    apply_ok(engine, event)
    return event


def release(engine: Engine, order_id: str, item_name: str, qty: float, site: str = SITE, **fields: Any) -> Any:
    event = mk("production_order", site=site, order_id=order_id, item=item_name, qty=qty, **fields)
    apply_ok(engine, event)
    return event


def to_json(outputs: Iterable[Any]) -> list[bytes]:
    return [encode_json(out) for out in outputs]
