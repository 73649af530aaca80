"""Costing: standard cost roll-up, moving average, incremental re-roll, order variances.

Two roll-ups and their order variances come from cost accounting texts with
published answers; the rest are hand-computed cases of the rules in
``docs/planning.md`` ("Costing") and ``core/costing.py``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from core.costing import moving_average
from core.engine import Engine, EngineSettings
from schemas.outputs import Cost, OrderCost

from . import bomgen

SITE = bomgen.SITE
START = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)
DUE = dt.date(2026, 3, 20)


class Plant:
    """An engine and an event stream for one site; ``apply`` insists nothing is rejected."""

    def __init__(self, **settings: Any) -> None:
        self.engine = Engine(EngineSettings(**settings))
        self.events = bomgen.Stream(START)

    def apply(self, *events: Any) -> list[Any]:
        outputs = self.engine.apply(list(events))
        rejected = [o.reason for o in outputs if type(o).__name__ == "Rejected"]
        assert not rejected, rejected
        return outputs

    def __call__(self, type_name: str, **fields: Any) -> list[Any]:
        return self.apply(self.events(type_name, **fields))

    def item(self, name: str, source: str = "buy", **fields: Any) -> list[Any]:
        return self("item", item=name, source=source, **fields)

    def bom(self, parent: str, lines: list[tuple[str, float] | tuple[str, float, float]],
            **fields: Any) -> list[Any]:
        components = [{"item": c[0], "qty_per": c[1], **({"scrap_pct": c[2]} if len(c) > 2 else {})}
                      for c in lines]
        return self("bom", item=parent, components=components, **fields)

    @property
    def avg(self) -> dict[str, float]:
        return self.engine.sites[SITE].avg_cost

    @property
    def standard(self) -> dict[str, float]:
        return self.engine.planner.costs[SITE].standard


def costs(outputs: list[Any]) -> dict[str, tuple[Any, Any]]:
    """``cost`` outputs by item: (unit_cost, standard_cost)."""
    found: dict[str, tuple[Any, Any]] = {}
    for out in outputs:
        if isinstance(out, Cost):
            assert out.item not in found, f"two cost outputs for {out.item} in one batch"
            found[out.item] = (out.unit_cost, out.standard_cost)
    return found


def order_costs(outputs: list[Any]) -> list[OrderCost]:
    return [out for out in outputs if isinstance(out, OrderCost)]


def d(text: str | int) -> Decimal:
    return Decimal(str(text))


def assert_variances_add_up(cost: OrderCost) -> None:
    """actual - standard = usage + price + operations, to 1e-6 (each figure is rounded to 1e-6)."""
    total = d(cost.material_usage_variance) + d(cost.material_price_variance) + d(cost.operations_variance)
    assert abs(d(cost.actual_cost) - d(cost.standard_cost) - total) <= Decimal("0.000002")


def produce(plant: Plant, order_id: str, item: str, qty: float, issues: list[tuple[str, float]],
            minutes: dict[str, float], good: float) -> OrderCost:
    """Release, issue, report, output and close one production order; returns its order cost."""
    plant("production_order", order_id=order_id, item=item, qty=qty, due=DUE)
    for component, issued in issues:
        plant("material_issue", order_id=order_id, item=component, qty=issued)
    for operation, spent in minutes.items():
        plant("operation_report", order_id=order_id, operation=operation, minutes=spent)
    plant("output", order_id=order_id, good_qty=good, lot="OUT", status="available")
    closed = order_costs(plant("production_order", order_id=order_id, item=item, qty=qty, due=DUE,
                               status="closed"))
    assert len(closed) == 1 and closed[0].order_id == order_id
    assert_variances_add_up(closed[0])
    return closed[0]


# --- published examples -------------------------------------------------------------------------


def test_garrison_colonial_pewter_standard_cost_card_and_variances() -> None:
    """Garrison, R. H., Noreen, E. W. & Brewer, P. C., *Managerial Accounting* (McGraw-Hill/Irwin,
    14th ed. 2012), Chapter 10 "Standard Costs and Variances", Colonial Pewter Company (bookends;
    public course slides with the same figures, from other editions, call the product a statue).

    Standard cost card (published): direct materials 3.0 pounds x $4.00 = $12.00; direct labor
    0.50 hours x $22.00 = $11.00; variable manufacturing overhead 0.50 hours x $6.00 = $3.00;
    total standard cost per unit $26.00.  Labor and variable overhead are modelled as two
    operations of 30 minutes a unit at $22 and $6 an hour.

    The period: 2,000 bookends made; 6,500 pounds bought at $3.80 ($24,700) and used; 1,100
    labor-hours.  Published variances: materials price $1,300 F, materials quantity $2,000 U,
    labor efficiency $2,200 U, variable overhead efficiency $600 U.  The engine values operation
    time at the BOM rates, so its operations variance is the two efficiency variances together
    ($2,800 U); the labor rate and overhead rate (spending) variances need actual wages, which
    operation reports do not carry.
    """
    plant = Plant()
    plant.item("PEWTER", standard_cost=4.00)
    plant.item("BOOKEND", "make")
    plant.bom("BOOKEND", [("PEWTER", 3)], operations=[
        {"name": "labor", "run_minutes_per_unit": 30, "rate_per_hour": 22},
        {"name": "variable_overhead", "run_minutes_per_unit": 30, "rate_per_hour": 6}])
    out = plant("receipt", item="PEWTER", qty=6500, lot="P1", unit_cost=3.80)
    assert plant.standard["BOOKEND"] == pytest.approx(26.00)
    # pewter: average $3.80 against its $4.00 standard; a bookend's unit cost is its standard
    assert costs(out) == {"PEWTER": (d("3.8"), 4), "BOOKEND": (26, 26)}
    cost = produce(plant, "MO-CP", "BOOKEND", 2000, issues=[("PEWTER", 6500)],
                   minutes={"labor": 1100 * 60, "variable_overhead": 1100 * 60}, good=2000)
    assert d(cost.standard_cost) == 52_000                   # 2,000 x $26
    assert d(cost.actual_cost) == 24_700 + 1100 * 22 + 1100 * 6
    assert d(cost.material_price_variance) == -1_300         # favourable
    assert d(cost.material_usage_variance) == 2_000          # (6,500 - 6,000) x $4
    assert d(cost.operations_variance) == 2_200 + 600        # labor + overhead efficiency
    assert d(cost.good_qty) == 2000


def test_horngren_webb_company_jackets_standard_cost_and_variances() -> None:
    """Horngren, C. T., Datar, S. M. & Rajan, M. V., *Cost Accounting: A Managerial Emphasis*
    (Pearson, 14th ed. 2012), Chapter 7 "Flexible Budgets, Direct-Cost Variances, and Management
    Control", Webb Company (jackets).

    Standards (published): direct materials 2 square yards x $30 = $60 a jacket; direct
    manufacturing labor 0.8 hours x $20 = $16 a jacket (modelled as 48 minutes a unit at $20 an
    hour): a standard prime cost of $76.  Actual: 10,000 jackets; 22,200 square yards bought and
    used at $28 ($621,600); 9,000 labor-hours.  Published variances: direct materials price
    $44,400 F, direct materials efficiency $66,000 U, direct manufacturing labor efficiency
    $20,000 U (the $18,000 U labor price variance needs actual wages, which the engine does not
    receive: it values the 9,000 hours at the standard $20).
    """
    plant = Plant()
    plant.item("CLOTH", standard_cost=30)
    plant.item("JACKET", "make")
    plant.bom("JACKET", [("CLOTH", 2)], operations=[{"name": "sewing", "run_minutes_per_unit": 48,
                                                      "rate_per_hour": 20}])
    plant("receipt", item="CLOTH", qty=22_200, lot="C1", unit_cost=28)
    assert plant.standard["JACKET"] == pytest.approx(76.0)
    cost = produce(plant, "MO-WEBB", "JACKET", 10_000, issues=[("CLOTH", 22_200)],
                   minutes={"sewing": 9_000 * 60}, good=10_000)
    assert d(cost.standard_cost) == 760_000
    assert d(cost.actual_cost) == 621_600 + 180_000
    assert d(cost.material_price_variance) == -44_400
    assert d(cost.material_usage_variance) == 66_000
    assert d(cost.operations_variance) == 20_000


# --- roll-up rules --------------------------------------------------------------------------------


def _two_level(plant: Plant) -> None:
    """FG (batch 2, yield 90 %) = 3 SUB (10 % scrap) + 1 RM-B, setup 60 min + 6 min/unit at $50/h;
    SUB = 2 RM-A (5 % scrap) + 3 min/unit at $40/h; RM-A standard $2.50; RM-B moving average."""
    plant.item("RM-A", standard_cost=2.50)
    plant.item("RM-B")
    plant.item("SUB", "make")
    plant.item("FG", "make")
    plant.bom("SUB", [("RM-A", 2, 5)], operations=[{"name": "cut", "run_minutes_per_unit": 3,
                                                      "rate_per_hour": 40}])
    plant.bom("FG", [("SUB", 3, 10), ("RM-B", 1)], batch_qty=2, yield_pct=90, operations=[
        {"name": "assemble", "setup_minutes": 60, "run_minutes_per_unit": 6, "rate_per_hour": 50}])


def test_multi_level_roll_up_with_scrap_yield_batch_and_operations() -> None:
    # SUB = 2 x 1.05 x 2.50 + 3 min x $40/h = 5.25 + 2.00 = 7.25
    # FG  = (3 x 1.10 x 7.25 / 2  +  1 x 7.00 / 2  +  (60 / 2 + 6) min x $50/h) / 0.90
    #     = (11.9625 + 3.50 + 30.00) / 0.90 = 50.513888...
    plant = Plant()
    _two_level(plant)
    out = plant("receipt", item="RM-B", qty=10, lot="B1", unit_cost=7)
    assert plant.standard["SUB"] == pytest.approx(7.25)
    assert plant.standard["FG"] == pytest.approx(45.4625 / 0.9)
    assert costs(out) == {"RM-A": (d("2.5"), d("2.5")), "RM-B": (7, 7), "SUB": (d("7.25"), d("7.25")),
                          "FG": (d("50.513889"), d("50.513889"))}


def test_component_cost_change_re_rolls_only_its_users() -> None:
    plant = Plant()
    _two_level(plant)
    plant("receipt", item="RM-B", qty=10, lot="B1", unit_cost=7)
    # RM-B: (10 x 7 + 10 x 13) / 20 = 10 ; FG = (11.9625 + 10 / 2 + 30) / 0.9 = 52.180555...
    out = plant("receipt", item="RM-B", qty=10, lot="B2", unit_cost=13)
    assert costs(out) == {"RM-B": (10, 10), "FG": (d("52.180556"), d("52.180556"))}
    # RM-A's standard changes (master data): SUB = 2 x 1.05 x 3 + 2 = 8.30 and FG above it
    out = plant.item("RM-A", standard_cost=3.00)
    fg = (3 * 1.10 * 8.30 / 2 + 10 / 2 + 30) / 0.9                     # 54.1055555...
    assert costs(out) == {"RM-A": (3, 3), "SUB": (d("8.3"), d("8.3")), "FG": (d("54.105556"), d("54.105556"))}
    assert plant.standard["FG"] == pytest.approx(fg)


def test_no_cost_output_without_a_change() -> None:
    plant = Plant()
    _two_level(plant)
    plant("receipt", item="RM-B", qty=10, lot="B1", unit_cost=7)
    assert costs(plant("receipt", item="RM-B", qty=5, lot="B1", unit_cost=7)) == {}   # same price
    assert costs(plant("issue", item="RM-B", qty=3)) == {}                              # issues
    assert costs(plant("demand", demand_id="D1", item="FG", qty=4, due=DUE)) == {}      # planning only


def test_cost_output_only_when_the_change_exceeds_a_millionth() -> None:
    """1,000,000 on hand at 10.00, then single units at 10.40: each moves the average by 4e-7.

    Published values change only once the average is more than 1e-6 from the last published
    one: not after the first or second unit, but after the third (10.0000012).
    """
    plant = Plant()
    plant.item("RM")
    plant("receipt", item="RM", qty=1_000_000, lot="L", unit_cost=10)
    avg, on_hand, seen = 10.0, 1_000_000, []
    for _ in range(3):
        avg = moving_average(avg, on_hand * 10**6, 10**6, 10.40)
        on_hand += 1
        seen.append(costs(plant("receipt", item="RM", qty=1, lot="L", unit_cost=10.40)))
    assert plant.avg["RM"] == pytest.approx(avg, abs=1e-12)
    assert seen == [{}, {}, {"RM": (d("10.000001"), d("10.000001"))}]


def test_parent_follows_a_component_that_moves_in_sub_millionth_steps() -> None:
    """FG = 1000 RM.  RM's average moves 4e-7 a receipt (see above); after three receipts it is
    10.0000012, so FG's standard is 10,000.0012: 1.2e-3 above the 10,000 last published.

    The roll-up promises costs that are never stale and a ``cost`` output whenever a value changes
    by more than 1e-6; a parent may not miss a change because it came in small steps.
    """
    plant = Plant()
    plant.item("RM")
    plant.item("FG", "make")
    plant.bom("FG", [("RM", 1000)])
    plant("receipt", item="RM", qty=1_000_000, lot="L", unit_cost=10)
    assert plant.standard["FG"] == pytest.approx(10_000)
    published: dict[str, tuple[Any, Any]] = {}
    for _ in range(3):
        published.update(costs(plant("receipt", item="RM", qty=1, lot="L", unit_cost=10.40)))
    assert plant.standard["FG"] == pytest.approx(1000 * plant.avg["RM"], abs=1e-6)
    assert published.get("FG") == (d("10000.0012"), d("10000.0012"))


# --- moving average ---------------------------------------------------------------------------------


def test_moving_average_blends_receipts_at_their_unit_cost() -> None:
    plant = Plant()
    plant.item("RM")
    assert costs(plant("receipt", item="RM", qty=10, lot="L1", unit_cost=5)) == {"RM": (5, 5)}
    # (10 x 5 + 30 x 9) / 40 = 8
    assert costs(plant("receipt", item="RM", qty=30, lot="L2", unit_cost=9)) == {"RM": (8, 8)}
    assert plant.avg["RM"] == 8.0


def test_receipt_without_unit_cost_takes_the_purchase_order_price() -> None:
    plant = Plant()
    plant.item("RM")
    plant("purchase_order", po_id="PO1", item="RM", qty=50, due=DUE, unit_price=6)
    assert costs(plant("receipt", item="RM", qty=10, lot="L1", po_id="PO1")) == {"RM": (6, 6)}
    # the receipt's own unit cost wins over the order price: (10 x 6 + 10 x 8) / 20 = 7
    assert costs(plant("receipt", item="RM", qty=10, lot="L1", po_id="PO1", unit_cost=8)) == {"RM": (7, 7)}
    # neither a unit cost nor a purchase order: the average stays
    assert costs(plant("receipt", item="RM", qty=20, lot="L1")) == {}
    assert plant.avg["RM"] == 7.0


def test_issues_leave_the_average_unchanged() -> None:
    plant = Plant()
    plant.item("RM")
    plant("receipt", item="RM", qty=10, lot="L1", unit_cost=5)
    plant("receipt", item="RM", qty=10, lot="L2", unit_cost=7)
    assert costs(plant("issue", item="RM", qty=15)) == {}
    assert plant.avg["RM"] == 6.0
    # the remaining 5 blend at 6: (5 x 6 + 5 x 10) / 10 = 8
    assert costs(plant("receipt", item="RM", qty=5, lot="L3", unit_cost=10)) == {"RM": (8, 8)}


def test_receipt_onto_zero_stock_takes_the_receipt_price() -> None:
    plant = Plant()
    plant.item("RM")
    plant("receipt", item="RM", qty=10, lot="L1", unit_cost=5)
    plant("issue", item="RM", qty=10)
    assert costs(plant("receipt", item="RM", qty=4, lot="L2", unit_cost=9)) == {"RM": (9, 9)}


def test_receipt_onto_negative_stock_takes_the_receipt_price_never_a_negative_average() -> None:
    # 10 at 10, then 30 issued: -20 on hand.  Blending 30 at 1 would give
    # (10 x -20 + 1 x 30) / 10 = -17; the receipt's own price (1) becomes the average.
    plant = Plant(allow_negative_stock=True)
    plant.item("RM")
    plant("receipt", item="RM", qty=10, lot="L1", unit_cost=10)
    plant("issue", item="RM", qty=30)
    assert plant.engine.sites[SITE].stock.physical("RM") == -20 * 10**6
    assert costs(plant("receipt", item="RM", qty=30, lot="L1", unit_cost=1)) == {"RM": (1, 1)}
    assert plant.avg["RM"] == 1.0
    assert moving_average(10.0, -20 * 10**6, 30 * 10**6, 1.0) == 1.0


def test_transfer_in_carries_the_shipping_sites_average() -> None:
    plant = Plant()
    plant.item("RM")
    plant("receipt", item="RM", qty=10, lot="L1", unit_cost=4)
    plant("transfer_shipped", transfer_id="T1", to_site="P2", item="RM", qty=5, lot="L1", arrival=DUE)
    out = plant("transfer_received", site="P2", transfer_id="T1", item="RM", qty=5, lot="L1")
    assert plant.engine.sites["P2"].avg_cost["RM"] == 4.0
    assert [(o.site, o.item, o.unit_cost) for o in out if isinstance(o, Cost)] == [("P2", "RM", 4)]


# --- order close -------------------------------------------------------------------------------------


def test_order_variances_with_unvalued_extra_and_missing_components() -> None:
    """FG = 2 A + 1 B, 10 min a unit at $30/h; A standard 5, B moving average, C not in the BOM.

    Order of 10, 8 good: A 20 issued before any A receipt (valued at standard 5, no price
    variance); B 6 issued at average 4 against a standard of 4 (B's standard is its average);
    C 3 issued at 2 (standard = its average 2: usage variance 3 x 2 = 6); 90 minutes reported.
    Standard per unit = 2 x 5 + 4 + 5 = 19; standard = 8 x 19 = 152.
    Usage: A (20 - 16) x 5 = 20; B (6 - 8) x 4 = -8; C (3 - 0) x 2 = 6 -> 18.
    Price: 0.  Operations: 90 x 30 / 60 - 8 x 5 = 45 - 40 = 5.
    Actual: 100 + 24 + 6 + 45 = 175 = 152 + 18 + 0 + 5.
    """
    plant = Plant(allow_negative_stock=True)
    plant.item("A", standard_cost=5)
    plant.item("B")
    plant.item("C")
    plant.item("FG", "make")
    plant.bom("FG", [("A", 2), ("B", 1)], operations=[{"name": "run", "run_minutes_per_unit": 10,
                                                        "rate_per_hour": 30}])
    plant("receipt", item="B", qty=20, lot="B1", unit_cost=4)
    plant("receipt", item="C", qty=5, lot="C1", unit_cost=2)
    cost = produce(plant, "MO-X", "FG", 10, issues=[("A", 20), ("B", 6), ("C", 3)], minutes={"run": 90}, good=8)
    assert (d(cost.actual_cost), d(cost.standard_cost)) == (175, 152)
    assert (d(cost.material_usage_variance), d(cost.material_price_variance), d(cost.operations_variance)) == (
        18, 0, 5)


def test_order_variances_add_up_with_awkward_numbers() -> None:
    """Scrap, yield, batch size and prices that do not divide evenly: the identity still holds."""
    plant = Plant()
    _two_level(plant)
    plant("receipt", item="RM-B", qty=7, lot="B1", unit_cost=7.13)
    plant("receipt", item="RM-B", qty=11, lot="B2", unit_cost=6.97)
    plant("receipt", item="SUB", qty=40, lot="S1", unit_cost=7.77)
    cost = produce(plant, "MO-Y", "FG", 9, issues=[("SUB", 16.5), ("RM-B", 4.75), ("SUB", 0.3)],
                   minutes={"assemble": 123.4}, good=7.5)
    assert d(cost.good_qty) == d("7.5")
    assert abs(d(cost.standard_cost) - d(plant.standard["FG"]) * d("7.5")) <= d("0.000001")
    assert d(cost.material_price_variance) != 0 and d(cost.material_usage_variance) != 0
