"""Focused net-change cases, each small enough to check by hand.

Every case states the plan a regenerative MRP run finds (worked out in the
comments) and checks that the incremental planner holds exactly that, on
both kernels.  They pin down situations the random property tests found or
that only a few random cases reach.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from core.engine import Engine, EngineSettings

from . import bomgen
from .test_incremental_property import (
    assert_same_state,
    expected_fold,
    fold_stream,
    fresh_regeneration,
    plan_state,
)

U = 1_000_000
SITE = bomgen.SITE
MONDAY = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def day(n: int) -> int:
    """The ordinal of 2026-03-0n (n = 2 is the first day of every case)."""
    return dt.date(2026, 3, n).toordinal()


def run(kernel_name: str, batches: list[list[Any]]) -> tuple[Engine, list[Any]]:
    engine = Engine(EngineSettings(kernel=kernel_name))
    outputs: list[Any] = []
    for batch in batches:
        outputs.extend(engine.apply(batch))
    return engine, outputs


def assert_equals_regeneration(engine: Engine) -> None:
    fresh = fresh_regeneration(engine, SITE)
    assert_same_state(plan_state(engine.planner, SITE), plan_state(fresh, SITE),
                      "net-change vs a fresh regenerative run")


@pytest.mark.parametrize("start", ["master_batch_alone", "first_site_event_rejected"])
def test_master_data_loaded_before_the_site_is_planned(kernel_name: str, start: str) -> None:
    """Items that arrive before the site can be planned are still planned there.

    SS has a safety stock of 5 and nothing else: a regenerative run orders 5
    today, and rolls SS's standard cost of 4.  Master data usually arrives
    first (an initial load), in a batch of its own or with a first site event
    that happens to be rejected (here an issue with no stock).
    """
    s = bomgen.Stream(MONDAY)
    master = [s("item", item="SS", source="buy", safety_stock=5, standard_cost=4),
              s("item", item="X", source="buy")]
    if start == "master_batch_alone":
        batches = [master, [s("receipt", item="X", qty=1, lot="L1")]]
    else:
        batches = [[*master, s("issue", item="X", qty=1)], [s("receipt", item="X", qty=1, lot="L1")]]
    engine, outputs = run(kernel_name, batches)
    assert [type(o).__name__ for o in outputs].count("Rejected") == (start == "first_site_event_rejected")
    plan = engine.planner.plans[SITE]
    assert plan.planned.get("SS") == [(day(2), day(2), 5 * U, 0)]
    assert engine.planner.costs[SITE].standard.get("SS") == 4.0
    assert_equals_regeneration(engine)


def test_a_new_day_re_nets_requirements_that_became_overdue(kernel_name: str) -> None:
    """On 2026-03-02, P (lead time 1 day) needs 5 on 03-04: planned due 03-04, released 03-03.

    Nothing about P changes, but on 03-05 the demand is overdue, so it is needed
    today: a regenerative run nets 5 today, in an order dated by the demand it
    covers (due 03-04, released 03-03: the same order, now past due), a shortage
    of 5 on 03-04, and a past-due message.
    """
    s = bomgen.Stream(MONDAY)
    first = [s("item", item="P", source="buy", lead_time_days=1), s("item", item="Q", source="buy"),
             s("demand", demand_id="D1", item="P", qty=5, due=dt.date(2026, 3, 4))]
    engine, _ = run(kernel_name, [first])
    assert engine.planner.plans[SITE].planned["P"] == [(day(4), day(3), 5 * U, 5 * U)]
    s.advance(days=3)
    engine.apply([s("receipt", item="Q", qty=1, lot="L1")])        # any event of 03-05
    plan = engine.planner.plans[SITE]
    assert plan.planned["P"] == [(day(4), day(3), 5 * U, 5 * U)]
    assert list(plan.shortages.get("P", {})) == ["P1|P|2026-03-04"]
    assert [e.action for e in plan.exceptions.get("P", {}).values()] == ["past_due"]
    assert_equals_regeneration(engine)


def test_a_shortage_today_names_the_overdue_requirements_with_those_due_today(kernel_name: str) -> None:
    """On 03-02, P (lead time 2) has demands of 5 due 03-03, 3 due 03-05 and 2 due 03-09.

    On 03-05 the first is overdue, so needed today with the second: one planned order of 8, dated by the
    first (due 03-03, released 03-01, past due), a shortage of 8 on 03-03 that hits those two and not the
    third (released 03-07, in time).
    """
    s = bomgen.Stream(MONDAY)
    first = [s("item", item="P", source="buy", lead_time_days=2), s("item", item="Q", source="buy"),
             s("demand", demand_id="D1", item="P", qty=5, due=dt.date(2026, 3, 3)),
             s("demand", demand_id="D2", item="P", qty=3, due=dt.date(2026, 3, 5)),
             s("demand", demand_id="D3", item="P", qty=2, due=dt.date(2026, 3, 9))]
    engine, _ = run(kernel_name, [first])
    s.advance(days=3)
    engine.apply([s("receipt", item="Q", qty=1, lot="L1")])        # any event of 03-05
    plan = engine.planner.plans[SITE]
    assert plan.planned["P"][0] == (day(3), day(1), 8 * U, 8 * U)
    (shortage,) = plan.shortages["P"].values()
    assert shortage.date == dt.date(2026, 3, 3) and shortage.qty == 8
    assert [(hit.ref, hit.qty, hit.due) for hit in shortage.hits] == [
        ("D1", 5, dt.date(2026, 3, 3)), ("D2", 3, dt.date(2026, 3, 3))]
    assert_equals_regeneration(engine)


def test_a_new_day_skips_items_whose_dates_did_not_move(kernel_name: str) -> None:
    """On 03-02, F (lead time 2) needs 5 on 03-20 and N (lead time 1) needs 3 on 03-03.

    On 03-04 N's demand is overdue (re-netted: dated 03-03, past due), while none
    of F's dates (due 03-20, release 03-18) is on or before 03-04: a new day
    re-nets N and skips F, and the plan is still what a regenerative run finds.
    """
    s = bomgen.Stream(MONDAY)
    first = [s("item", item="F", source="buy", lead_time_days=2), s("item", item="N", source="buy",
                                                                     lead_time_days=1),
             s("item", item="Q", source="buy"),
             s("demand", demand_id="D1", item="F", qty=5, due=dt.date(2026, 3, 20)),
             s("demand", demand_id="D2", item="N", qty=3, due=dt.date(2026, 3, 3))]
    engine, _ = run(kernel_name, [first])
    s.advance(days=2)
    before = engine.planner.replanned
    engine.apply([s("receipt", item="Q", qty=1, lot="L1")])   # any event of 03-04
    assert engine.planner.replanned - before == 2, "Q (received) and N (overdue) re-net on 03-04, F does not"
    plan = engine.planner.plans[SITE]
    assert plan.planned["F"] == [(day(20), day(18), 5 * U, 5 * U)]
    assert plan.planned["N"] == [(day(3), day(2), 3 * U, 3 * U)]
    assert_equals_regeneration(engine)


def test_a_planned_order_that_turns_past_due_is_republished(kernel_name: str) -> None:
    """P (lead time 5) needs 5 on 03-12: planned due 03-12, released 03-07, not past due on 03-02.

    On 03-09 the same order is past due: consumers of the stream must see
    ``past_due: true`` (and a past-due message), as the planner's own state says.
    """
    s = bomgen.Stream(MONDAY)
    first = [s("item", item="P", source="buy", lead_time_days=5), s("item", item="Q", source="buy"),
             s("demand", demand_id="D1", item="P", qty=5, due=dt.date(2026, 3, 12))]
    engine = Engine(EngineSettings(kernel=kernel_name))
    stream = [bomgen.encode(o) for o in engine.apply(first)]
    s.advance(days=7)
    stream += [bomgen.encode(o) for o in engine.apply([s("receipt", item="Q", qty=1, lot="L1")])]
    folded = fold_stream(stream, SITE)
    assert folded["planned"]["P@2026-03-12"][-1] is True, "P@2026-03-12 was released 03-07: past due on 03-09"
    assert [e[1] for e in folded["exceptions"].values()] == ["past_due"]
    assert folded == expected_fold(engine, SITE)


def test_eoq_parent_re_nets_when_its_standard_cost_changes(kernel_name: str) -> None:
    """FG is made from 1 RM and ordered by EOQ (S = 100, holding rate 25 % of its standard cost).

    With RM at 2, FG's standard is 2, H = 0.5 and D = 100 (one demand):
    EOQ = ceil(sqrt(2 x 100 x 100 / 0.5)) = 200, so FG is planned at 200.
    A second RM receipt at 998 makes RM's average (2 + 998) / 2 = 500, FG's
    standard 500, H = 125: EOQ = ceil(sqrt(160)) = 13 < 100, so a
    regenerative run plans FG at 100 (the net requirement).
    """
    s = bomgen.Stream(MONDAY)
    master = [s("item", item="FG", source="make", lot_size={"rule": "eoq", "ordering_cost": 100,
                                                              "holding_cost_rate": 0.25}),
              s("item", item="RM", source="buy"),
              s("bom", item="FG", components=[{"item": "RM", "qty_per": 1}])]
    first = [*master, s("receipt", item="RM", qty=1, lot="L1", unit_cost=2),
             s("demand", demand_id="D1", item="FG", qty=100, due=dt.date(2026, 3, 10))]
    engine, _ = run(kernel_name, [first])
    assert engine.planner.plans[SITE].planned["FG"] == [(day(10), day(10), 200 * U, 100 * U)]
    outputs = engine.apply([s("receipt", item="RM", qty=1, lot="L1", unit_cost=998)])
    costs = {o.item: o.standard_cost for o in outputs if type(o).__name__ == "Cost"}
    assert costs == {"RM": 500, "FG": 500}
    assert engine.planner.plans[SITE].planned["FG"] == [(day(10), day(10), 100 * U, 100 * U)]
    assert_equals_regeneration(engine)


def test_phantom_passes_a_changed_demand_through_to_its_components(kernel_name: str) -> None:
    """A control case the planner handles: FG = 2 KIT (phantom) ; KIT = 3 C ; lead times 0.

    Demand 4 FG on 03-06: FG planned 4; KIT passes 8 through; C planned 24.
    Raising the demand to 5 re-plans FG 5 and C 30 in the same batch.
    """
    s = bomgen.Stream(MONDAY)
    first = [s("item", item="FG", source="make"), s("item", item="KIT", source="make"),
             s("item", item="C", source="buy"),
             s("bom", item="KIT", components=[{"item": "C", "qty_per": 3}], phantom=True),
             s("bom", item="FG", components=[{"item": "KIT", "qty_per": 2}]),
             s("demand", demand_id="D1", item="FG", qty=4, due=dt.date(2026, 3, 6))]
    engine, _ = run(kernel_name, [first])
    plan = engine.planner.plans[SITE]
    assert plan.planned == {"FG": [(day(6), day(6), 4 * U, 4 * U)], "C": [(day(6), day(6), 24 * U, 24 * U)]}
    engine.apply([s("demand", demand_id="D1", item="FG", qty=5, due=dt.date(2026, 3, 6))])
    assert plan.planned == {"FG": [(day(6), day(6), 5 * U, 5 * U)], "C": [(day(6), day(6), 30 * U, 30 * U)]}
    assert_equals_regeneration(engine)


def test_moving_a_released_orders_start_re_nets_its_components(kernel_name: str) -> None:
    """MO1 makes 5 FG (= 1 C each) and is released with start 03-10: it reserves 5 C, an
    allocation needed on its start date, so C (no stock) is planned 5 due 03-10.

    Moving the start to 03-06 (same quantity, so the reservation itself does not change) moves
    the allocation: a regenerative run plans C due 03-06.
    """
    s = bomgen.Stream(MONDAY)
    first = [s("item", item="FG", source="make", lead_time_days=2), s("item", item="C", source="buy"),
             s("bom", item="FG", components=[{"item": "C", "qty_per": 1}]),
             s("production_order", order_id="MO1", item="FG", qty=5, due=dt.date(2026, 3, 12),
               start=dt.date(2026, 3, 10))]
    engine, _ = run(kernel_name, [first])
    assert engine.planner.plans[SITE].planned == {"C": [(day(10), day(10), 5 * U, 5 * U)]}
    engine.apply([s("production_order", order_id="MO1", item="FG", qty=5, due=dt.date(2026, 3, 12),
                    start=dt.date(2026, 3, 6))])
    assert engine.sites[SITE].production["MO1"].start == dt.date(2026, 3, 6)
    assert engine.planner.plans[SITE].planned == {"C": [(day(6), day(6), 5 * U, 5 * U)]}
    assert_equals_regeneration(engine)


def test_an_order_message_is_published_once_and_again_only_when_its_need_moves(kernel_name: str) -> None:
    """PO1 brings 5 of P on 03-05, and P is needed (5) only on 03-12: "defer" to 03-12 (tolerance 3 days).

    A receipt of 1 P re-nets P but leaves the need on 03-12: no message is
    published again.  A new demand of 3 on 03-06 moves the need to 03-06
    (1 on hand): PO1 arrives in time and the message is resolved.
    """
    s = bomgen.Stream(MONDAY)
    first = [s("item", item="P", source="buy", lead_time_days=1),
             s("demand", demand_id="D1", item="P", qty=5, due=dt.date(2026, 3, 12)),
             s("purchase_order", po_id="PO1", item="P", qty=5, due=dt.date(2026, 3, 5))]
    engine = Engine(EngineSettings(kernel=kernel_name))

    def messages(batch: list[Any]) -> list[tuple[str, str, Any]]:
        return [(o.action, o.state, o.suggested_date) for o in engine.apply(batch) if type(o).__name__ == "Exception_"]

    assert messages(first) == [("defer", "open", dt.date(2026, 3, 12))]
    before = engine.planner.replanned
    assert messages([s("receipt", item="P", qty=1, lot="L1")]) == []
    assert engine.planner.replanned == before + 1, "the receipt re-nets P"
    assert messages([s("demand", demand_id="D2", item="P", qty=3, due=dt.date(2026, 3, 6))]) == [
        ("defer", "resolved", None)]
    assert engine.planner.plans[SITE].exceptions.get("P") is None
    assert_equals_regeneration(engine)


def test_messages_move_with_their_orders_and_needs_not_with_the_clock(kernel_name: str) -> None:
    """On 03-02, PO1 brings 5 of P (lead time 2) on 03-09, and D1 needs 5 on 03-04: "expedite" PO1 to 03-04
    (and a planned order covers D1 in time, released today).  D2 needs 4 of Q (lead time 5) on 03-05: Q's
    planned order should have been released on 02-28: "past_due", no date to suggest (release it at once).

    On 03-05 D1 is overdue: a regenerative run still expedites PO1 to 03-04, the day it is needed, not to
    today, so PO1's message is not published again; P's planned order keeps its date (03-04, the demand it
    covers) and turns past due: one message.  On 03-06 nothing is published: every order and message keeps
    its date.  3 P received leave 2 of D1 uncovered: PO1 is still needed on 03-04.  D3, 4 P overdue since
    03-03, is what the stock fails first now: PO1's suggested date and P's order move to 03-03.
    """
    s = bomgen.Stream(MONDAY)
    first = [s("item", item="P", source="buy", lead_time_days=2), s("item", item="Q", source="buy", lead_time_days=5),
             s("item", item="X", source="buy"),
             s("demand", demand_id="D1", item="P", qty=5, due=dt.date(2026, 3, 4)),
             s("demand", demand_id="D2", item="Q", qty=4, due=dt.date(2026, 3, 5)),
             s("purchase_order", po_id="PO1", item="P", qty=5, due=dt.date(2026, 3, 9))]
    engine = Engine(EngineSettings(kernel=kernel_name))

    def messages(batch: list[Any]) -> dict[str, tuple[str, str, Any]]:
        return {o.ref: (o.action, o.state, o.suggested_date) for o in engine.apply(batch)
                if type(o).__name__ == "Exception_"}

    assert messages(first) == {"PO1": ("expedite", "open", dt.date(2026, 3, 4)),
                               "Q@2026-03-05": ("past_due", "open", None)}
    s.advance(days=3)
    assert messages([s("receipt", item="X", qty=1, lot="L1")]) == {"P@2026-03-04": ("past_due", "open", None)}
    assert_equals_regeneration(engine)
    s.advance(days=1)
    assert messages([s("receipt", item="X", qty=1, lot="L2")]) == {}
    assert_equals_regeneration(engine)
    assert messages([s("receipt", item="P", qty=3, lot="L3")]) == {}
    assert messages([s("demand", demand_id="D3", item="P", qty=4, due=dt.date(2026, 3, 3))]) == {
        "PO1": ("expedite", "open", dt.date(2026, 3, 3)),   # and P's order is dated by D3 now
        "P@2026-03-04": ("past_due", "resolved", None), "P@2026-03-03": ("past_due", "open", None)}
    assert_equals_regeneration(engine)


def test_plans_reaching_before_the_calendar_s_first_day_are_published_on_it(kernel_name: str) -> None:
    """Regression (fuzzing): D1 needs K on 0001-01-01, K is made from C; then K's lead time becomes 3 days,
    so its order would be released, and C's needed, before the first day there is.  Both kernels publish
    those days as 0001-01-01 (a compiled record once wrote a year of 0 or minus signs, the twin and the
    past-due message raised, which stopped a worker), every output encodes, and the plan is the
    regenerative one."""
    from schemas.codecs import decode_output, encode_json

    s = bomgen.Stream(MONDAY)
    first = [s("item", item="K", source="make"), s("item", item="C", source="buy"),
             s("bom", item="K", components=[{"item": "C", "qty_per": 2}]),
             s("demand", demand_id="D1", item="K", qty=1, due=dt.date(1, 1, 1))]
    engine, outputs = run(kernel_name, [first, [s("item", item="K", source="make", lead_time_days=3)]])
    assert not [o for o in outputs if type(o).__name__ == "Rejected"]
    planned = {o.item: decode_output(o.value) for o in outputs if type(o).__name__ == "PlannedOrderRecord"}
    assert {item: (p.release, p.due) for item, p in planned.items()} == {
        "K": (dt.date.min, dt.date.min), "C": (dt.date.min, dt.date.min)}
    past_due = [o for o in outputs if type(o).__name__ == "Exception_" and o.action == "past_due"]
    assert {(o.ref, o.current_date) for o in past_due} >= {("K@0001-01-01", dt.date.min)}
    for output in outputs:
        decode_output(encode_json(output) if type(output).__name__ != "PlannedOrderRecord" else output.value)
    assert_equals_regeneration(engine)
