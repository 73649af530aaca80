"""A regenerative run over a plan in place reads every input again and sets only what changed.

Inputs read again and equal to what the planner keeps leave the kept lists
alone (the ones an item's exception messages were derived from): a re-run
makes no new long-lived lists for the collector to promote.  An input that
did change is set, and the plan follows it.
"""

from __future__ import annotations

import datetime as dt

from core.engine import Engine
from core.planning import Planner
from helpers import DUE, SITE, apply_ok, mk, new_engine, q

from .test_incremental_property import assert_same_state, fresh_regeneration, plan_state


def kept(planner: Planner) -> dict[str, dict[str, list[tuple[int, int, str, str]]]]:
    plan = planner.plans[SITE]
    return {"receipts": dict(plan.receipts), "own": dict(plan.own)}


def planned(engine: Engine) -> dict[str, list[tuple[int, int, int, int]]]:
    return engine.planner.plans[SITE].planned


def open_supply_and_demand(kernel_name: str) -> Engine:
    engine = new_engine(kernel=kernel_name)
    apply_ok(engine,
             mk("purchase_order", po_id="PO-1", item="RAW-A", qty=8, due=DUE),
             mk("purchase_order", po_id="PO-2", item="RAW-B", qty=3, due=DUE + dt.timedelta(days=3)),
             mk("demand", demand_id="SO-1", item="FG", qty=4, due=DUE + dt.timedelta(days=5)),
             mk("demand", demand_id="SO-2", item="FG", qty=2, due=DUE + dt.timedelta(days=9)))
    return engine


def test_a_second_regeneration_keeps_the_inputs_it_found_equal(kernel_name: str) -> None:
    engine = open_supply_and_demand(kernel_name)
    site, planner = engine.sites[SITE], engine.planner
    before, plan_before = kept(planner), planned(engine)
    assert set(before["receipts"]) == {"RAW-A", "RAW-B"} and set(before["own"]) == {"FG"}

    assert planner.regenerate(site) == []   # nothing changed: nothing to publish
    after = kept(planner)
    for kind, lists in before.items():
        assert after[kind].keys() == lists.keys()
        for item, value in lists.items():
            assert after[kind][item] is value, f"{kind} of {item} read again and equal: the kept list stays"
    assert planned(engine) == plan_before


def test_an_input_that_changed_is_set_again(kernel_name: str) -> None:
    engine = open_supply_and_demand(kernel_name)
    planner = engine.planner
    before = kept(planner)
    apply_ok(engine, mk("purchase_order", po_id="PO-1", item="RAW-A", qty=20, due=DUE),
             mk("demand", demand_id="SO-2", item="FG", qty=2, due=DUE + dt.timedelta(days=9), status="cancelled"))
    after = kept(planner)
    assert after["receipts"]["RAW-A"] is not before["receipts"]["RAW-A"]
    assert [r[1] for r in after["receipts"]["RAW-A"]] == [q(20)]
    assert after["receipts"]["RAW-B"] is before["receipts"]["RAW-B"]   # not touched by the batch
    assert [r[3] for r in after["own"]["FG"]] == ["SO-1"]

    assert planner.regenerate(engine.sites[SITE]) == []   # the batch left the plan where a re-run finds it
    assert_same_state(plan_state(planner, SITE), plan_state(fresh_regeneration(engine, SITE), SITE),
                      "after the changed inputs vs a fresh regenerative run")
