"""Master data: global items and BOMs, site overrides, BOM cycles."""

from __future__ import annotations

import datetime as dt

from helpers import DUE, apply_ok, bom, item, mk, new_engine, q, rejected, release


def test_site_item_overrides_global_item():
    engine = new_engine()
    apply_ok(engine, item("FG", "make", lead_time_days=9, site="S2"))
    assert engine.master.item("S2", "FG").lead_time_days == 9
    assert engine.master.item("S1", "FG").lead_time_days == 2
    release(engine, "MO-1", "FG", 1, site="S1")
    release(engine, "MO-2", "FG", 1, site="S2")
    assert engine.sites["S1"].production["MO-1"].start == DUE - dt.timedelta(days=2)
    assert engine.sites["S2"].production["MO-2"].start == DUE - dt.timedelta(days=9)


def test_later_global_item_does_not_replace_site_override():
    engine = new_engine()
    apply_ok(engine, item("FG", "make", lead_time_days=9, site="S2"),
             item("FG", "make", lead_time_days=4))
    assert engine.master.item("S2", "FG").lead_time_days == 9
    assert engine.master.item("S1", "FG").lead_time_days == 4


def test_site_only_item_is_known_only_at_that_site():
    engine = new_engine()
    apply_ok(engine, item("LOCAL", site="S2"))
    apply_ok(engine, mk("receipt", site="S2", item="LOCAL", qty=3, lot="L1"))
    assert engine.sites["S2"].stock.physical("LOCAL") == q(3)
    outputs = engine.apply([mk("receipt", site="S1", item="LOCAL", qty=3, lot="L1")])
    assert not rejected(outputs)          # waits: the item may still arrive
    bad = rejected(engine.finish())
    assert len(bad) == 1 and "unknown item 'LOCAL'" in bad[0].reason
    assert engine.sites["S1"].stock.physical("LOCAL") == 0


def test_site_bom_overrides_global_bom():
    engine = new_engine()
    apply_ok(engine, bom("FG", [("RAW-A", 1)], site="S2"))
    release(engine, "MO-1", "FG", 10, site="S1")
    release(engine, "MO-2", "FG", 10, site="S2")
    assert set(engine.sites["S1"].stock.reserved) == {"SUB", "RAW-B", "RAW-C"}
    assert engine.sites["S2"].stock.reserved == {"RAW-A": q(10)}


def test_later_bom_replaces_earlier_for_new_releases_only():
    engine = new_engine()
    release(engine, "MO-1", "SUB", 1)
    apply_ok(engine, bom("SUB", [("RAW-B", 4)]))
    release(engine, "MO-2", "SUB", 1)
    state = engine.sites["S1"]
    assert state.production["MO-1"].required == {"RAW-A": 3_666_667}  # 3 x 1.1 / 0.9, rounded up
    assert state.production["MO-2"].required == {"RAW-B": q(4)}


def test_bom_cycle_is_rejected_naming_the_path():
    engine = new_engine([item(n, "make") for n in ("A", "B", "C")])
    apply_ok(engine, bom("A", [("B", 1)]), bom("B", [("C", 1)]))
    cyclic = bom("C", [("A", 1)])
    bad = rejected(engine.apply([cyclic]))
    assert len(bad) == 1 and bad[0].event == cyclic
    assert "BOM cycle: C -> A -> B -> C" in bad[0].reason
    assert engine.master.bom("S1", "C") is None
    apply_ok(engine, bom("C", [("D", 1)]))            # a good BOM for C still goes in
    assert engine.master.bom("S1", "C") is not None


def test_bom_with_itself_as_component_is_rejected():
    engine = new_engine([item("A", "make")])
    bad = rejected(engine.apply([bom("A", [("A", 1)])]))
    assert len(bad) == 1 and "BOM cycle: A -> A" in bad[0].reason


def test_site_bom_closing_a_cycle_through_global_boms_is_rejected():
    engine = new_engine([item(n, "make") for n in ("A", "B")])
    apply_ok(engine, bom("A", [("B", 1)]))
    bad = rejected(engine.apply([bom("B", [("A", 1)], site="S2")]))
    assert len(bad) == 1 and "BOM cycle: B -> A -> B" in bad[0].reason
    assert engine.master.bom("S2", "B") is None


def test_global_bom_closing_a_cycle_at_one_site_is_rejected():
    engine = new_engine([item(n, "make") for n in ("A", "B", "C")])
    apply_ok(engine, bom("B", [("C", 1)], site="S2"))
    bad = rejected(engine.apply([bom("C", [("B", 1)])]))
    assert len(bad) == 1 and "BOM cycle: C -> B -> C" in bad[0].reason
    assert engine.master.bom("S1", "C") is None


def test_master_data_event_ids_are_deduplicated():
    engine = new_engine()
    first = item("NEW", lead_time_days=3)
    apply_ok(engine, first)
    again = mk("item", item="NEW", source="buy", lead_time_days=8, event_id=first.event_id)
    bad = rejected(engine.apply([again]))
    assert len(bad) == 1 and "duplicate event_id" in bad[0].reason
    assert engine.master.item("S1", "NEW").lead_time_days == 3


def test_boms_keep_one_object_per_number_with_its_type_and_sign() -> None:
    """BOM lines and operations share their numbers (memory), never turning a float into an int or losing
    the sign of a zero: ``1 == 1.0 == True`` and ``0.0 == -0.0`` as dictionary keys."""
    engine = new_engine()
    operation = {"name": "asm", "setup_minutes": 2.0, "run_minutes_per_unit": 0.0, "rate_per_hour": 60}
    apply_ok(engine, item("A", "make"), item("B", "make"), item("X"), item("Y"),
             bom("A", [("X", 2, 0.0), ("Y", 1)], operations=[operation]),
             bom("B", [("X", 2, -0.0), ("Y", 1)], operations=[{**operation, "run_minutes_per_unit": -0.0}]))
    a, b = engine.master.boms["A"], engine.master.boms["B"]
    assert a.lines[0].qty_per is b.lines[0].qty_per and a.lines[0].numerator is b.lines[0].numerator
    assert a.lines[0].denominator is b.lines[1].denominator is a.lines[1].denominator
    assert a.operations[0].setup_minutes is b.operations[0].setup_minutes
    assert str(a.lines[0].scrap_pct) == "0.0" and str(b.lines[0].scrap_pct) == "-0.0"
    assert str(a.operations[0].run_minutes_per_unit) == "0.0" and str(b.operations[0].run_minutes_per_unit) == "-0.0"
    assert type(engine.master._one(1)) is int and type(engine.master._one(1.0)) is float
    assert engine.master._one(True) is True and type(engine.master._one(2)) is int
    nan = float("nan")
    assert engine.master._one(nan) is nan and engine.master._one(float("nan")) is not nan   # never kept
