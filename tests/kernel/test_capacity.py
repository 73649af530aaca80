"""Work-center load and overloads, worked out by hand, on both kernels.

The factory: work center ASSY works Monday to Friday, 480 minutes at 75 %
efficiency: 360 minutes available a working day.  Item A (made, lead time 2
days) runs operation ``asm`` on ASSY: 30 minutes setup plus 2 minutes a unit;
its component C is in stock.  2026-03-02 is a Monday.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest

from core import queries
from core.engine import Engine, EngineSettings
from core.reports import report
from schemas.outputs import CapacityOverload

from . import bomgen
from .test_net_change_cases import MONDAY, assert_equals_regeneration

SITE = bomgen.SITE


def d(day: int) -> dt.date:
    return dt.date(2026, 3, day)


def load(engine: Engine) -> dict[tuple[str, dt.date], Decimal]:
    """The site's load in minutes by (work center, date)."""
    book = engine.planner.capacity[SITE]
    return {(book.names[center], dt.date.fromordinal(day)): Decimal(minutes) / 1_000_000
            for (center, day), minutes in sorted(book.load.items())}


def overloads(outputs: list[Any]) -> list[tuple[str, str, Any, Any, list[tuple[str, Any]]]]:
    return [(o.overload_id, o.state, o.load_minutes, o.available_minutes,
             [(line.ref, line.minutes) for line in o.orders]) for o in outputs if isinstance(o, CapacityOverload)]


def factory(s: bomgen.Stream) -> list[Any]:
    return [
        s("work_center", work_center="ASSY", minutes_per_day=480, efficiency_pct=75, working_days=[1, 2, 3, 4, 5]),
        s("item", item="A", source="make", lead_time_days=2),
        s("item", item="C", source="buy"),
        s("bom", item="A", components=[{"item": "C", "qty_per": 1}],
          operations=[{"name": "asm", "setup_minutes": 30, "run_minutes_per_unit": 2, "work_center": "ASSY"}]),
        s("receipt", item="C", qty=1000, lot="L1"),
    ]


def test_load_profile_and_overloads_by_hand(kernel_name: str) -> None:
    s = bomgen.Stream(MONDAY)
    engine = Engine(EngineSettings(kernel=kernel_name))
    engine.apply(factory(s))

    # 250 A due Wed: planned due Wed 03-04, released Mon: 30 + 2 x 250 = 530 minutes over Mon and Tue (265 each).
    # 100 A due Thu: planned due Thu, released Tue: 230 minutes over Tue and Wed (115 each).
    out = engine.apply([s("demand", demand_id="D2", item="A", qty=250, due=d(4)),
                        s("demand", demand_id="D1", item="A", qty=100, due=d(5))])
    assert load(engine) == {("ASSY", d(2)): 265, ("ASSY", d(3)): 380, ("ASSY", d(4)): 115}
    assert overloads(out) == [("P1|ASSY|2026-03-03", "open", 380, 360, [("A@2026-03-04", 265),
                                                                         ("A@2026-03-05", 115)])]

    # released order MO-1: 50 A from Tue to Thu, 130 minutes over Tue and Wed; A's Thursday order drops to 50
    # (130 minutes, 65 a day): Tue = 265 + 65 + 65 = 395
    out = engine.apply([s("production_order", order_id="MO-1", item="A", qty=50, start=d(3), due=d(5))])
    assert load(engine) == {("ASSY", d(2)): 265, ("ASSY", d(3)): 395, ("ASSY", d(4)): 130}
    assert overloads(out) == [("P1|ASSY|2026-03-03", "open", 395, 360, [("A@2026-03-04", 265), ("A@2026-03-05", 65),
                                                                         ("MO-1", 65)])]

    # 40 minutes reported on asm: 90 remain (45 a day), Tue 375; 40 more: 50 remain, Tue 355 fits
    out = engine.apply([s("operation_report", order_id="MO-1", operation="asm", minutes=40)])
    assert overloads(out) == [("P1|ASSY|2026-03-03", "open", 375, 360, [("A@2026-03-04", 265), ("A@2026-03-05", 65),
                                                                         ("MO-1", 45)])]
    out = engine.apply([s("operation_report", order_id="MO-1", operation="asm", minutes=40)])
    assert overloads(out) == [("P1|ASSY|2026-03-03", "resolved", 355, 360, [])]
    assert_equals_regeneration(engine)

    # efficiency down to 50 %: 240 available, Mon (265) and Tue (355) overload
    out = engine.apply([s("work_center", work_center="ASSY", minutes_per_day=480, efficiency_pct=50,
                          working_days=[1, 2, 3, 4, 5])])
    assert [(o[0], o[1], o[2], o[3]) for o in overloads(out)] == [("P1|ASSY|2026-03-02", "open", 265, 240),
                                                                  ("P1|ASSY|2026-03-03", "open", 355, 240)]

    # Tuesday: the Wednesday order was released Monday (past due): all 530 minutes today; Monday's overload goes
    s.advance(days=1)
    out = engine.apply([s("receipt", item="C", qty=1, lot="L1")])
    assert load(engine) == {("ASSY", d(3)): 530 + 65 + 25, ("ASSY", d(4)): 65 + 25}
    assert overloads(out) == [
        ("P1|ASSY|2026-03-02", "resolved", 0, 240, []),
        ("P1|ASSY|2026-03-03", "open", 620, 240, [("A@2026-03-04", 530), ("A@2026-03-05", 65), ("MO-1", 25)])]
    assert_equals_regeneration(engine)

    # closing MO-1 takes its minutes away (and A's Thursday order grows back to 100: 115 a day)
    out = engine.apply([s("production_order", order_id="MO-1", item="A", qty=50, start=d(3), due=d(5),
                          status="closed")])
    assert load(engine) == {("ASSY", d(3)): 530 + 115, ("ASSY", d(4)): 115}
    assert_equals_regeneration(engine)


def test_a_window_without_working_days_loads_the_next_working_day(kernel_name: str) -> None:
    """A due Mon 03-09 is released Sat 03-07: Sat and Sun are off, so its 50 minutes fall on Monday."""
    s = bomgen.Stream(MONDAY)
    engine = Engine(EngineSettings(kernel=kernel_name))
    engine.apply([*factory(s), s("demand", demand_id="D", item="A", qty=10, due=d(9))])
    assert load(engine) == {("ASSY", d(9)): 50}


def test_operations_on_an_unknown_work_center_load_it_once_it_is_defined(kernel_name: str) -> None:
    s = bomgen.Stream(MONDAY)
    engine = Engine(EngineSettings(kernel=kernel_name))
    events = [event for event in factory(s) if type(event).__name__ != "WorkCenter"]
    engine.apply([*events, s("demand", demand_id="D", item="A", qty=10, due=d(5))])
    assert load(engine) == {}
    out = engine.apply([s("work_center", work_center="ASSY", minutes_per_day=20)])   # every day, 20 minutes
    assert load(engine) == {("ASSY", d(3)): 25, ("ASSY", d(4)): 25}
    assert [o[:4] for o in overloads(out)] == [("P1|ASSY|2026-03-03", "open", 25, 20),
                                               ("P1|ASSY|2026-03-04", "open", 25, 20)]
    assert_equals_regeneration(engine)


def test_spread_shares_add_up_exactly(kernel: Any) -> None:
    # 10 micro-minutes over Wed..Tue on Mon-Fri: five working days, 2 each
    wednesday = dt.date(2026, 3, 4).toordinal()
    assert kernel.spread(10, wednesday, wednesday + 6, 0x1F) == [(wednesday + k, 2) for k in (0, 1, 2, 5, 6)]
    # 7 over two days: the remainder goes to the first
    assert kernel.spread(7, wednesday, wednesday + 1, 0x7F) == [(wednesday, 4), (wednesday + 1, 3)]
    # a center that never works takes it on the window's last day
    assert kernel.spread(7, wednesday, wednesday + 1, 0) == [(wednesday + 1, 7)]
    assert kernel.op_minutes(30_000_000, 2_000_000, 250_000_000) == 530_000_000
    assert kernel.op_minutes(0, 1, 1) == 1   # rounded up to a micro-minute


def test_moves_that_relieve_an_overload_by_hand(kernel_name: str) -> None:
    """Wednesday 03-04 is overloaded; which order could move, and how far, without a shortage?

    Released MO-2 makes 100 A from Wed to Fri (230 minutes: 115 Wed and Thu) for a demand due Mon 03-09;
    a planned order of 250 A due Thu 03-05 (released Tue: 265 minutes Tue and Wed) covers D2.  Wednesday
    carries 380 of 360 minutes.  C, A's component, has 300 on hand; the planned order draws 250 of it on
    Tue, MO-2 has 100 reserved for Wed.

    * A@2026-03-05 is needed on its due date (no later slack); pulled to Monday it draws 250 of the 300
      C on hand: earliest start Monday (today).
    * MO-2 is needed only on 03-09 (three days after its due date): latest start Wed + 3 = Sat 03-07.
      Pulled to Tuesday it would need 100 C there, where only 50 are left after the planned order: it
      cannot start earlier.
    """
    s = bomgen.Stream(MONDAY)
    engine = Engine(EngineSettings(kernel=kernel_name))
    events = [event for event in factory(s) if type(event).__name__ != "Receipt"]
    engine.apply([*events, s("receipt", item="C", qty=300, lot="L1"),
                  s("production_order", order_id="MO-2", item="A", qty=100, start=d(4), due=d(6)),
                  s("demand", demand_id="D9", item="A", qty=100, due=d(9)),
                  s("demand", demand_id="D2", item="A", qty=250, due=d(5))])
    assert load(engine) == {("ASSY", d(3)): 265, ("ASSY", d(4)): 380, ("ASSY", d(5)): 115}
    profile = queries.work_center_load(engine, SITE, "ASSY")
    assert profile["working_days"] == [1, 2, 3, 4, 5] and profile["minutes_per_day"] == 480
    assert [(day["date"], day["load_minutes"], day["available_minutes"], day["overloaded"])
            for day in profile["days"]] == [("2026-03-03", 265, 360, False), ("2026-03-04", 380, 360, True),
                                            ("2026-03-05", 115, 360, False)]
    (overload,) = profile["overloads"]
    assert overload["date"] == "2026-03-04" and overload["excess_minutes"] == 20
    assert [(m["ref"], m["minutes"], m["start"], m["earliest_start"], m["latest_start"], m["can_move_earlier"],
             m["can_move_later"]) for m in overload["orders"]] == [
        ("A@2026-03-05", 265, "2026-03-03", "2026-03-02", "2026-03-03", True, False),
        ("MO-2", 115, "2026-03-04", "2026-03-04", "2026-03-07", False, True)]
    rows = report(engine, "capacity")
    assert [(r["date"], r["utilization_pct"], r["could_move"]) for r in rows] == [
        ("2026-03-03", 73.6, ""),
        ("2026-03-04", 105.6, "A@2026-03-05 (265 min) earlier to 2026-03-02; MO-2 (115 min) later to 2026-03-07"),
        ("2026-03-05", 31.9, "")]
    with pytest.raises(queries.NotFound):
        queries.work_center_load(engine, SITE, "PAINT")


def test_an_overload_names_its_biggest_orders_and_sums_the_rest(kernel_name: str) -> None:
    """13 one-unit orders of B (a maximum lot of 1) due Wed, 5 minutes each, all on Tue: 65 of 60 minutes.

    The record lists ten (equal minutes: by id), the other three are 15 minutes.
    """
    s = bomgen.Stream(MONDAY)
    engine = Engine(EngineSettings(kernel=kernel_name))
    out = engine.apply([
        s("work_center", work_center="PACK", minutes_per_day=60),
        s("item", item="B", source="make", lead_time_days=1, lot_size={"rule": "min_multiple", "max_qty": 1}),
        s("bom", item="B", components=[{"item": "C", "qty_per": 1}],
          operations=[{"name": "pack", "run_minutes_per_unit": 5, "work_center": "PACK"}]),
        s("item", item="C", source="buy"), s("receipt", item="C", qty=100, lot="L1"),
        s("demand", demand_id="D", item="B", qty=13, due=d(4))])
    ((overload_id, state, load_, available, orders),) = overloads(out)
    ids = sorted(["B@2026-03-04"] + [f"B@2026-03-04#{k}" for k in range(2, 14)])
    assert (overload_id, state, load_, available) == ("P1|PACK|2026-03-03", "open", 65, 60)
    assert orders == [(ref, 5) for ref in ids[:10]]
    (record,) = [o for o in out if isinstance(o, CapacityOverload)]
    assert record.other_minutes == 15
    assert_equals_regeneration(engine)


@pytest.mark.parametrize("seed", range(6))
def test_busy_center_overloads_equal_a_regeneration_after_every_batch(kernel_name: str, seed: int) -> None:
    """Twenty items share one small center, so its days carry dozens of orders and overloads name only their
    biggest ten: demands come, change and go, stock arrives, days pass, and after every batch the load and the
    overloads (orders listed and minutes left over) are what a fresh regenerative run finds."""
    rng = random.Random(seed)
    s = bomgen.Stream(MONDAY)
    items = [f"X{k}" for k in range(20)]
    engine = Engine(EngineSettings(kernel=kernel_name))
    engine.apply([s("work_center", work_center="PACK", minutes_per_day=rng.choice((30, 120)),
                    working_days=[1, 2, 3, 4, 5]),
                  s("item", item="C", source="buy"), s("receipt", item="C", qty=10_000, lot="L1"),
                  *(s("item", item=item, source="make", lead_time_days=rng.randint(0, 4),
                      lot_size=rng.choice(({"rule": "lot_for_lot"}, {"rule": "min_multiple", "max_qty": 3})))
                    for item in items),
                  *(s("bom", item=item, components=[{"item": "C", "qty_per": 1}],
                      operations=[{"name": "pack", "setup_minutes": rng.choice((0, 2)),
                                   "run_minutes_per_unit": rng.choice((1, 2.5)), "work_center": "PACK"}])
                    for item in items)])
    demands: dict[str, str] = {}   # demand -> item
    for _batch in range(12):
        events = []
        for _ in range(rng.randint(4, 12)):
            roll = rng.random()
            if roll < 0.6 or not demands:
                demand_id = f"D{len(demands) + 1}"
                demands[demand_id] = rng.choice(items)
                events.append(s("demand", demand_id=demand_id, item=demands[demand_id], qty=rng.randint(1, 9),
                                due=s.today + dt.timedelta(days=rng.randint(0, 6))))
            elif roll < 0.8:   # moved, resized or cancelled
                demand_id = rng.choice(sorted(demands))
                events.append(s("demand", demand_id=demand_id, item=demands[demand_id], qty=rng.randint(1, 9),
                                due=s.today + dt.timedelta(days=rng.randint(0, 6)),
                                status=rng.choice(("open", "open", "cancelled"))))
            else:
                events.append(s("receipt", item=rng.choice(items), qty=rng.randint(1, 5), lot="L1"))
        engine.apply(events)
        assert_equals_regeneration(engine)
        if rng.random() < 0.3:
            s.advance(days=1)
    book = engine.planner.capacity[SITE]
    assert any(len(o.orders) == 10 and o.other_minutes for o in book.overloads.values()), "no busy day was made"
