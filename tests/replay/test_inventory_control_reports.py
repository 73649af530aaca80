"""Inventory control through the replay, as a user runs it: the forecast, safety_stock, count_schedule and
count_accuracy reports on the bundled factory and on a simulated one, and `millstream forecast` on a file,
whose demand events the engine then plans (consumed by the sales orders of their week)."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections import defaultdict
from pathlib import Path

import msgspec
import pytest

from connectors.replay import replay
from connectors.simulate import SimSpec, Simulation
from core import queries
from core.control.models import METHODS
from core.engine import Engine
from core.reports import REPORTS, report
from millstream.cli import main
from schemas import events as ev

SAMPLE = Path(__file__).resolve().parents[2] / "millstream" / "samples" / "hearing_devices.jsonl"
CONTROL = ("forecast", "safety_stock", "count_schedule", "count_accuracy")


@pytest.fixture(scope="module")
def sample() -> Engine:
    engine = Engine()
    replay(SAMPLE, engine)
    return engine


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One plant, 120 items, 16 weeks: enough weeks of sales for a holdout (12)."""
    path = tmp_path_factory.mktemp("factory") / "factory.jsonl"
    with open(path, "wb") as out:
        out.writelines(Simulation(SimSpec(sites=1, items=120, depth=3, days=112, seed=3)).lines())
    return path


@pytest.fixture(scope="module")
def factory_engine(factory: Path) -> Engine:
    engine = Engine()
    replay(factory, engine)
    return engine


def _usage(path: Path, engine: Engine) -> dict[tuple[str, str], float]:
    """Units issued and material-issued per site and item in an events file, before the site's current week."""
    used: dict[tuple[str, str], float] = defaultdict(float)
    for line in path.read_bytes().splitlines():
        try:
            event = msgspec.json.decode(line, type=ev.InputEvent)
        except msgspec.DecodeError:
            continue
        if isinstance(event, ev.Issue | ev.MaterialIssue):
            today = engine.sites[event.site].today
            assert today is not None
            if event.ts.astimezone(dt.UTC).date() < today - dt.timedelta(days=today.weekday()):
                used[(event.site, event.item)] += event.qty
    return used


def test_the_reports_are_listed() -> None:
    assert set(CONTROL) <= set(REPORTS)


def test_sample_forecast(sample: Engine) -> None:
    """US1 shipped 110 HA-100 in the week of 16 March and its clock is in the next week: one complete week, the
    mean, no holdout.  DK1's shipments are in its current week (its clock stops on the 18th): nothing yet."""
    rows = report(sample, "forecast")
    assert [(r["site"], r["item"], r["method"], r["weeks"], r["holdout_weeks"]) for r in rows] == [
        ("US1", "HA-100", "mean", 1, 0)]
    assert rows[0]["from_week"] == "2026-W13" and rows[0]["per_week"] == " ".join(["110"] * 13)


def test_sample_safety_stock_follows_its_formula_and_the_events(sample: Engine) -> None:
    rows = report(sample, "safety_stock")
    used = _usage(SAMPLE, sample)
    assert {(r["site"], r["item"]) for r in rows} == set(used)   # DK1's HA-100 went only in the week under way
    for row in rows:
        spec = sample.master.item(row["site"], row["item"])
        assert spec is not None and row["configured_lead_time_days"] == spec.lead_time_days
        if row["safety_stock"] is None:
            continue
        assert row["mean_weekly"] * row["weeks"] == pytest.approx(used[(row["site"], row["item"])], abs=0.01)
        weeks, spread = row["lead_time_days"] / 7, row["lead_time_sd_days"] / 7
        expected = row["z"] * math.sqrt(weeks * row["sd_weekly"] ** 2 + row["mean_weekly"] ** 2 * spread ** 2)
        assert row["safety_stock"] == pytest.approx(expected, rel=1e-3, abs=2e-3)
        assert row["reorder_point"] == pytest.approx(row["mean_weekly"] * weeks + row["safety_stock"], abs=2e-3)


def test_sample_counts(sample: Engine) -> None:
    """US1 counted BAT-01 off by one on the 16th: its recount is due a week later, on its today (the 24th)."""
    rows = report(sample, "count_schedule")
    bat = [r for r in rows if (r["site"], r["item"]) == ("US1", "BAT-01")]
    assert bat == [{"site": "US1", "date": "2026-03-24", "item": "BAT-01", "abc": bat[0]["abc"], "reason": "recount",
                    "due": "2026-03-23", "overdue_days": 1, "last_count": "2026-03-16"}]
    kpis = {r["site"]: r for r in report(sample, "kpis")}
    accuracy = report(sample, "count_accuracy")
    for site in ("DK1", "US1"):
        lines = sum(r["lines"] for r in accuracy if r["site"] == site)
        exact = sum(r["exact"] for r in accuracy if r["site"] == site)
        assert lines == kpis[site]["count_lines"] and exact / lines == kpis[site]["accuracy_lines"]


def test_simulated_factory_reports_are_filled(factory_engine: Engine) -> None:
    forecasts = report(factory_engine, "forecast")
    assert len(forecasts) >= 10 and all(r["holdout_weeks"] > 0 and r["method"] in METHODS for r in forecasts)
    assert all(r["rmse"] is not None and r["mae"] is not None for r in forecasts)
    assert {r["pattern"] for r in forecasts} == {"smooth", "intermittent"}
    safety = report(factory_engine, "safety_stock")
    assert len(safety) >= 100
    seen = [r for r in safety if r["receipts"] and r["receipts"] >= 2]
    assert seen and all(r["source"] == "buy" for r in seen)
    assert any(r["lead_time_sd_days"] > 0 for r in seen), "the simulated suppliers deliver early and late"
    schedule = report(factory_engine, "count_schedule")
    assert schedule and {r["reason"] for r in schedule} >= {"first count", "recount"}
    accuracy = report(factory_engine, "count_accuracy")
    assert {r["abc"] for r in accuracy} == {"A", "B", "C"}
    assert sum(r["lines"] for r in accuracy) == report(factory_engine, "kpis")[0]["count_lines"]


def _rejected(path: Path, engine: Engine) -> list[dict[str, object]]:
    out = io.BytesIO()
    replay(path, engine, out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith(b'{"type":"rejected"')]


def test_forecast_command_on_a_file_then_planned_and_idempotent(factory: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "forecast.jsonl"
    assert main(["forecast", str(factory), "--out", str(events)]) == 0
    table = capsys.readouterr().out
    assert "== forecast (" in table and "holdout_weeks" in table
    lines = events.read_bytes().splitlines()
    demands = [msgspec.json.decode(line, type=ev.InputEvent) for line in lines]
    assert demands and all(isinstance(d, ev.Demand) and d.kind == "forecast" for d in demands)
    both = tmp_path / "both.jsonl"
    both.write_bytes(factory.read_bytes() + events.read_bytes())
    engine = Engine()
    assert _rejected(both, engine) == []
    planned = 0
    for demand in demands:
        answer = queries.order(engine, demand.demand_id, demand.site)
        assert answer["demand_kind"] == "forecast" and float(answer["qty"]) == pytest.approx(demand.qty)
        assert answer["consumed"] + answer["planned"] == answer["open_qty"]
        gross = [r for r in queries.mrp_record(engine, demand.site, demand.item)["gross_requirements"]
                 if r["ref"] == demand.demand_id]
        assert [r["qty"] for r in gross] == ([answer["planned"]] if answer["planned"] else [])
        planned += answer["planned"] > 0
    assert planned, "some forecast is left to plan beside the sales orders"
    # the forecasts change no history and no clock: forecasting again sends nothing
    again = tmp_path / "again.jsonl"
    assert main(["forecast", str(both), "--out", str(again)]) == 0
    assert again.read_bytes() == b""


def test_forecast_command_refuses_what_it_cannot_do(factory: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["forecast", str(factory), "--url", "http://127.0.0.1:9"]) == 2
    assert main(["forecast"]) == 2
    assert main(["forecast", str(tmp_path / "none.jsonl")]) == 2
    assert main(["forecast", str(factory), "--site", "XX"]) == 2
    assert "no events of site 'XX'" in capsys.readouterr().err
    assert main(["forecast", "--url", "http://127.0.0.1:9"]) == 1   # nobody listens on the discard port
    assert "no forecast from http://127.0.0.1:9" in capsys.readouterr().err
    assert main(["forecast", str(SAMPLE), "--format", "json"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert [a["site"] for a in answers] == ["DK1", "US1"] and answers[1]["items"][0]["item"] == "HA-100"
