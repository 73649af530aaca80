"""Valuing an item without a moving average: the standard rolled through its BOM as of the event."""

from __future__ import annotations

import pytest

from tests.helpers import SITE, bom, item, mk, new_engine, receive, reset


@pytest.fixture(autouse=True)
def _fresh_ids() -> None:
    reset()


def test_an_issue_is_valued_at_the_standard_of_that_moment_in_one_batch() -> None:
    # P = 3 x X; X is bought, P made; P's stock came in without a cost (no moving average)
    engine = new_engine([item("X"), item("P", "make"), bom("P", [("X", 3)])], kernel="off")
    receive(engine, "X", 10, "LX", unit_cost=2.0)
    receive(engine, "P", 10, "LP")
    site = engine.sites[SITE]
    assert site.avg_cost.get("P") is None and site.unit_cost("P") == pytest.approx(6.0)
    # one batch: issue one P, receive X dearer (the average moves to 3), issue another P
    engine.apply([mk("issue", item="P", qty=1), mk("receipt", item="X", qty=10, lot="LX2", unit_cost=4.0),
                  mk("issue", item="P", qty=1)])
    assert site.avg_cost["X"] == pytest.approx(3.0)
    assert site.issued_value["P"] == pytest.approx(6.0 + 9.0)   # each at the standard of its own moment
    assert site.unit_cost("P") == pytest.approx(9.0)


def test_a_new_bom_rolls_the_standard_again() -> None:
    engine = new_engine([item("X"), item("Y"), item("P", "make"), bom("P", [("X", 3)])], kernel="off")
    receive(engine, "X", 10, "LX", unit_cost=2.0)
    receive(engine, "Y", 10, "LY", unit_cost=5.0)
    site = engine.sites[SITE]
    assert site.unit_cost("P") == pytest.approx(6.0)
    engine.apply([bom("P", [("Y", 1)])])
    assert site.unit_cost("P") == pytest.approx(5.0)


def test_only_an_average_that_is_a_standard_moves_the_standards_rolled_over_it() -> None:
    # P = 1 x X + 1 x Q; X is bought without a standard cost (its standard is its average), Q with one
    engine = new_engine([item("X"), item("Q", standard_cost=2.0), item("P", "make"),
                         bom("P", [("X", 1), ("Q", 1)])], kernel="off")
    receive(engine, "X", 10, "LX", unit_cost=1.0)
    receive(engine, "Q", 10, "LQ", unit_cost=5.0)
    receive(engine, "P", 10, "LP")
    site = engine.sites[SITE]
    assert site.unit_cost("P") == pytest.approx(3.0)   # X at its average 1, Q at its standard 2
    receive(engine, "Q", 10, "LQ2", unit_cost=9.0)      # Q's average moves to 7: no standard moves
    assert site.avg_cost["Q"] == pytest.approx(7.0)
    assert "P" in site._std_now, "a part's average under its standard cost must not drop P's rolled standard"
    assert site.unit_cost("P") == pytest.approx(3.0)
    receive(engine, "X", 10, "LX2", unit_cost=3.0)      # X's average moves to 2: P's standard with it
    assert "P" not in site._std_now
    assert site.unit_cost("P") == pytest.approx(4.0)


def test_a_new_standard_cost_of_a_component_rolls_the_standard_again() -> None:
    # an item's master data (not a BOM) changed: the standards rolled over it were kept as they were
    engine = new_engine([item("X", standard_cost=2.0), item("P", "make"), bom("P", [("X", 3)])], kernel="off")
    receive(engine, "P", 10, "LP")
    site = engine.sites[SITE]
    assert site.unit_cost("P") == pytest.approx(6.0)
    engine.apply([item("X", standard_cost=4.0)])
    assert site.unit_cost("P") == pytest.approx(12.0)
    engine.apply([mk("issue", item="P", qty=1)])
    assert site.issued_value["P"] == pytest.approx(12.0)
