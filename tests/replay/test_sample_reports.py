"""The bundled factory through the replay: planning reports, KPIs and what-if, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.replay import replay
from core.engine import Engine
from core.reports import report
from core.whatif import compare
from millstream.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "millstream" / "samples"
SAMPLE = SAMPLES / "hearing_devices.jsonl"
CHANGES = SAMPLES / "whatif_supplier_slip.jsonl"


@pytest.fixture(scope="module")
def engine() -> Engine:
    engine = Engine()
    replay(SAMPLE, engine)
    return engine


def test_planned_orders_cover_open_demand_of_the_finished_good(engine: Engine) -> None:
    rows = [r for r in report(engine, "planned") if r["site"] == "DK1" and r["item"] == "HA-100"]
    # DK1 ends with 8 HA-100 available, safety stock 20, open demand 10 + 80 + 150:
    # the plan must bring 20 + 240 - 8 = 252 units.
    assert sum(r["qty"] for r in rows) == 252
    assert all(r["kind"] == "make" for r in rows)


def test_shortages_name_the_requirements_they_hit(engine: Engine) -> None:
    rows = report(engine, "shortages")
    assert rows, "the sample has late components: shortages must be seen"
    us_finished = [r for r in rows if r["site"] == "US1" and r["item"] == "HA-100"]
    assert us_finished and "sales_order us1-so-1" in us_finished[0]["hits"]


def test_costs_roll_up_from_components(engine: Engine) -> None:
    costs = {(r["site"], r["item"]): r for r in report(engine, "costs")}
    mic = costs[("DK1", "MIC-01")]
    assert float(mic["standard_cost"]) == pytest.approx(1.85)
    assert float(mic["unit_cost"]) == pytest.approx(1.8)  # moving average of PO price 1.80
    core = costs[("DK1", "SUB-CORE")]
    # 2 x 1.85 x 1.02 + 2.40 + 6.90 x 1.01 + (30 + 1.5) min at 60/h = 3.774 + 2.40 + 6.969 + 31.5, / 0.98
    assert float(core["standard_cost"]) == pytest.approx((3.774 + 2.40 + 6.969 + 31.5) / 0.98, abs=1e-6)


def test_kpis_per_site(engine: Engine) -> None:
    kpis = {r["site"]: r for r in report(engine, "kpis")}
    assert set(kpis) == {"DK1", "US1"}
    dk1 = kpis["DK1"]
    assert dk1["count_lines"] == 2 and dk1["accuracy_lines"] == 0.5
    assert dk1["value_rework"] == pytest.approx(50 * 1.8)  # 50 reworked microphones at their average
    assert dk1["turnover"] > 0 and dk1["days_of_inventory"] > 0
    assert kpis["US1"]["stockout_rate"] == 1.0  # us1-so-1 (due 03-20) was delivered 110 of 120


def test_whatif_shows_what_a_supplier_slip_and_a_rush_order_do(engine: Engine) -> None:
    changed = Engine()
    replay(SAMPLE, changed)
    replay(CHANGES, changed)
    rows = compare(engine, changed)
    changes = {(r["change"], r["item"]) for r in rows}
    assert ("planned order added", "HA-100") in changes       # the rush order needs more devices
    assert ("shortage opened", "SHELL-01") in changes         # the blocked shell lot bites
    assert compare(engine, engine) == []


def test_whatif_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["whatif", str(SAMPLE), str(CHANGES), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"change": "planned order added", "site": "DK1", "item": "HA-100",
            "detail": "40 due 2026-03-25 release 2026-03-20"} in rows


@pytest.mark.parametrize("batch_size", [1, 7])
def test_valuation_does_not_depend_on_where_batches_end(engine: Engine, batch_size: int) -> None:
    """Issues of items without a moving average are valued at the standard rolled as of the issue,
    not at the standard the planner last rolled at a batch end."""
    small = Engine()
    replay(SAMPLE, small, batch_size=batch_size)
    for name in ("stock", "availability", "orders", "planned", "shortages", "costs", "kpis"):
        assert report(small, name) == report(engine, name), name
