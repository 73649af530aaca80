"""Records share one object per item name, partner and date, however many events decoded their own.

Each decoded event brings its own strings and dates; orders and demands kept for weeks held a
copy each (~100 MiB of the engine after the service benchmark's 2,000,000 events for ~10,000
distinct values).  Sharing is invisible to what the engine says (same values), so these tests
look at object identity, across sites and across a restore.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.engine import Engine, EngineSettings
from core.persist import StateRows, fold_rows, site_of
from helpers import SITE, apply_ok, master_data, mk
from schemas.codecs import decode_message, encode_json

T0 = dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)


def _decoded(*events: Any) -> list[Any]:
    """Each event through the codec on its own, as the service gets them: fresh strings and dates each."""
    return [decoded for event in events for decoded in decode_message(encode_json(event))]


def _events(site: str) -> list[Any]:
    due = dt.date(2026, 3, 20)
    return _decoded(
        mk("demand", site=site, demand_id=f"{site}-SO-1", item="FG", qty=2, due=due, kind="sales_order",
           customer="ACME", ts=T0),
        mk("demand", site=site, demand_id=f"{site}-SO-2", item="FG", qty=3, due=due, kind="sales_order",
           customer="ACME", ts=T0 + dt.timedelta(minutes=1)),
        mk("purchase_order", site=site, po_id=f"{site}-PO-1", item="RAW-A", qty=5, due=due, supplier="Acme Metals",
           ts=T0 + dt.timedelta(minutes=2)),
        mk("purchase_order", site=site, po_id=f"{site}-PO-2", item="RAW-A", qty=5, due=due, supplier="Acme Metals",
           ts=T0 + dt.timedelta(minutes=3)),
        mk("production_order", site=site, order_id=f"{site}-MO-1", item="FG", qty=1, due=due, status="planned",
           ts=T0 + dt.timedelta(minutes=4)),
        mk("receipt", site=site, item="RAW-A", qty=1, lot=f"{site}-L1", ts=T0 + dt.timedelta(minutes=5)),
    )


def _held(engine: Engine) -> dict[str, list[Any]]:
    """Per value, the distinct objects the records and indexes hold for it."""
    objects: dict[Any, dict[int, Any]] = {}
    for state in engine.sites.values():
        values = [d.item for d in state.demands.values()] + [d.due for d in state.demands.values()]
        values += [d.customer for d in state.demands.values()]
        values += [p.item for p in state.purchase.values()] + [p.due for p in state.purchase.values()]
        values += [p.promised for p in state.purchase.values()] + [p.supplier for p in state.purchase.values()]
        values += [o.item for o in state.production.values()] + [o.due for o in state.production.values()]
        values += [*state.item_refs, *state.stock.lots, *state.history]
        for value in values:
            objects.setdefault(value, {})[id(value)] = value
    return {str(value): list(found.values()) for value, found in objects.items()}


def test_records_of_two_sites_hold_one_object_per_name_partner_and_date() -> None:
    engine = Engine(EngineSettings())
    apply_ok(engine, *master_data())
    apply_ok(engine, *_events(SITE), *_events("S2"))
    held = _held(engine)
    assert {"FG", "RAW-A", "ACME", "Acme Metals", "2026-03-20"} <= held.keys()
    assert {value: len(objects) for value, objects in held.items()} == dict.fromkeys(held, 1)


def test_a_restored_site_shares_them_again() -> None:
    engine = Engine(EngineSettings(track_changes=True))
    rows = StateRows(engine)
    apply_ok(engine, *master_data())
    apply_ok(engine, *_events(SITE))
    table = fold_rows({}, rows.changed())
    again = Engine(EngineSettings(track_changes=True))
    apply_ok(again, *master_data())
    StateRows(again).restore(SITE, [(key, value) for key, value in table.items() if site_of(key) == SITE])
    held = _held(again)
    assert {"FG", "RAW-A", "ACME", "Acme Metals", "2026-03-20"} <= held.keys()
    assert {value: len(objects) for value, objects in held.items()} == dict.fromkeys(held, 1)
