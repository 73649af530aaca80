"""What must hold after any input went through the engine, whoever made the input (hypothesis or atheris).

Every input event comes out exactly once: applied, or rejected with a reason (counting the events parked
for a reference and those waiting for the event-time merge, which ``finish`` settles); so do the shipment
announcements the engine makes itself.  An event sent again as it was (same site, id and time) is never
applied twice, however late it comes.  Stock stays positive unless negative stock is allowed, and every
quantity stays an exact integer.  Everything the service would publish encodes as JSON.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

from core.engine import Engine, EngineSettings
from schemas import events as ev
from schemas.codecs import encode_json
from schemas.outputs import Rejected

__all__ = ["CountingEngine", "check_run", "run_batches"]


class CountingEngine(Engine):
    """An engine that counts how often each event object changed state (was applied)."""

    def __init__(self, settings: EngineSettings) -> None:
        super().__init__(settings)
        self.applied: Counter[int] = Counter()
        self.internal: dict[int, Any] = {}   # shipment announcements the engine made itself

    def _dispatch(self, state: Any, event: Any, source: str | None, out: list[Any]) -> Any:
        before = len(out)
        released = super()._dispatch(state, event, source, out)
        if released is not None:
            self.applied[id(event)] += 1
        for made in out[before:]:
            if isinstance(made, ev.TransferInTransit):   # routed by the service: an output, not applied here
                self.internal[id(made)] = made
        return released

    def _apply_master(self, event: Any, source: str | None, out: list[Any]) -> None:
        before = len(out)
        super()._apply_master(event, source, out)
        if not any(isinstance(o, Rejected) and o.event is event for o in out[before:]):
            self.applied[id(event)] += 1

    def _apply_one(self, event: Any, source: str | None, out: list[Any]) -> None:
        if isinstance(event, ev.TransferInTransit) and event.event_id.endswith(":in-transit"):
            self.internal.setdefault(id(event), event)   # routed inside the engine (local transfers)
        super()._apply_one(event, source, out)


def run_batches(events: Sequence[Any], batches: Sequence[Sequence[int]], settings: EngineSettings,
                marks: Sequence[dt.datetime] | None = None) -> tuple[CountingEngine, list[Any]]:
    """Apply ``events`` (decoded events or ``Rejected``) in the batches given as index lists, then finish.

    With ``marks`` (one per batch) each batch goes through the event-time merge with that watermark.
    """
    engine = CountingEngine(settings)
    outputs: list[Any] = []
    for number, batch in enumerate(batches):
        chosen = [events[i] for i in batch]
        sources = [f"fuzz@{i}" for i in batch]
        if marks is not None:
            mark = marks[number]
            outputs += engine.apply(chosen, sources, watermark=lambda _site, mark=mark: mark,
                                    order=[(i,) for i in batch])
        else:
            outputs += engine.apply(chosen, sources)
    outputs += engine.finish()
    return engine, outputs


def check_run(engine: CountingEngine, events: Sequence[Any], outputs: Sequence[Any]) -> None:
    """Raise ``AssertionError`` when an invariant of the module docstring does not hold."""
    assert engine.held() == 0 and not engine._parked, "finish() left events waiting"
    decoder = {id(e) for e in events if isinstance(e, Rejected)}   # passed through: never applied
    rejected_of: Counter[int] = Counter()
    for output in outputs:
        if isinstance(output, Rejected):
            assert isinstance(output.reason, str) and output.reason, output
            assert output.source is not None and output.source.startswith("fuzz@"), output
            if id(output) in decoder:
                decoder.remove(id(output))
            else:
                rejected_of[id(output.event)] += 1
    assert not decoder, "a rejection from the decoder did not come out (once)"
    known = {id(e) for e in events} | set(engine.internal)
    assert set(rejected_of) <= known, "a rejection of something that was never an input"
    assert set(engine.applied) <= known, "applied something that was never an input"
    local = engine.settings.local_transfers
    for event in [*(e for e in events if not isinstance(e, Rejected)), *engine.internal.values()]:
        announced = id(event) in engine.internal and not local
        fate = engine.applied[id(event)] + rejected_of[id(event)]
        assert fate == (0 if announced else 1), (event, engine.applied[id(event)], rejected_of[id(event)])
    applied_ids: Counter[tuple[Any, ...]] = Counter()   # an event sent again must never be applied again
    for event in events:
        if engine.applied[id(event)]:
            applied_ids[(event.site if not isinstance(event, ev.MASTER_TYPES) else None, event.event_id,
                         event.ts)] += 1
    assert all(n == 1 for n in applied_ids.values()), [key for key, n in applied_ids.items() if n > 1]
    _check_state(engine)
    for output in outputs:   # what the service would publish
        encode_json(output)


def _check_state(engine: Engine) -> None:
    negative = engine.settings.allow_negative_stock
    for state in engine.sites.values():
        stock = state.stock
        assert all(type(v) is int for v in stock.qty.values()), "a stock quantity is not an exact integer"
        assert all(type(v) is int and v > 0 for v in stock.reserved.values()), "a reservation is not a positive int"
        if not negative:
            assert all(v > 0 for v in stock.qty.values()), "negative stock with allow_negative_stock off"
        for totals in stock.by_item.values():
            assert all(type(v) is int for v in totals)
        for order in state.production.values():
            assert all(type(v) is int for v in (order.qty, order.good, order.scrap, *order.issued.values(),
                                                  *order.reserved.values(), *order.required.values()))
        for record in (*state.purchase.values(), *state.demands.values()):
            assert type(record.qty) is int
