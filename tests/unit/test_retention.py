"""Retention (core/retention.py): what is done leaves the engine ``retention`` after, by event time.

A plant's record must stay the size of its open business: closed orders,
delivered demands, received transfers and emptied lots leave memory and
durable state, while the plan, stock, costs and KPIs stay what they would be
had nothing been dropped.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest
from test_persist import restored, table_of, tracked

from connectors.replay import replay
from connectors.simulate import SimSpec, Simulation
from connectors.simulate.output import write
from core import queries
from core.engine import Engine, EngineSettings
from core.persist import fold_rows
from core.reports import report
from helpers import SITE, advance, apply_ok, master_data, mk, new_engine, receive, rejected, release
from schemas import events as ev
from schemas.codecs import decode_message


def _produce(engine: Engine) -> None:
    """MO-1 makes 2 SUB from lot A1 of RAW-A into lot S1, and is closed."""
    receive(engine, "RAW-A", 10, "A1")
    release(engine, "MO-1", "SUB", 2)
    apply_ok(engine, mk("material_issue", order_id="MO-1", item="RAW-A", qty=7.333334, lot="A1"),
             mk("output", order_id="MO-1", good_qty=2, lot="S1", status="available"),
             mk("production_order", order_id="MO-1", item="SUB", qty=2, status="closed"))


def test_a_closed_order_and_its_genealogy_leave_sixty_days_after_it_closed() -> None:
    engine = new_engine()
    _produce(engine)
    state = engine.sites[SITE]
    advance(days=59)
    apply_ok(engine, mk("count", item="RAW-A", lot="A1", counted_qty=2.666666))   # day 59: still kept
    assert "MO-1" in state.production and state.produced_by[("SUB", "S1")] == {"MO-1": 2_000_000}
    advance(days=1)
    apply_ok(engine, mk("count", item="RAW-A", lot="A1", counted_qty=2.666666))   # day 60: retired
    assert "MO-1" not in state.production and "MO-1" not in state.order_inputs
    assert ("SUB", "S1") not in state.produced_by and ("RAW-A", "A1") not in state.consumed_by
    with pytest.raises(queries.NotFound):
        queries.order(engine, "MO-1")
    assert state.stock.qty[("SUB", "S1", "available")] == 2_000_000   # the stock it made stays
    # a late report for it refers to an order the site no longer knows: it waits, then is refused
    out = engine.apply([mk("operation_report", order_id="MO-1", operation="asm", minutes=5)])
    advance(hours=25)
    out += engine.apply([mk("receipt", item="RAW-B", qty=1, lot="B1")])
    assert [r.reason for r in rejected(out)] == ["unknown production order 'MO-1' (waited 24 h)"]


def test_open_orders_and_undelivered_demands_stay_however_old() -> None:
    engine = new_engine()
    release(engine, "MO-2", "SUB", 1)
    apply_ok(engine, mk("demand", demand_id="D1", item="FG", qty=3, due=dt.date(2026, 3, 10)))
    advance(days=200)
    apply_ok(engine, mk("receipt", item="RAW-B", qty=1, lot="B1"))
    state = engine.sites[SITE]
    assert "MO-2" in state.production and "D1" in state.demands


def test_delivered_sales_orders_leave_but_the_stockout_rate_counts_them() -> None:
    """D1 delivered on time, D2 delivered late: a stockout rate of 1/2, with or without them in memory."""
    kept, retired = new_engine(retention=None), new_engine()
    for engine in (kept, retired):
        receive(engine, "FG", 10, "F1")
    start = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    for engine in (kept, retired):
        apply_ok(engine, mk("demand", demand_id="D1", item="FG", qty=2, due=dt.date(2026, 3, 3), ts=start),
                 mk("demand", demand_id="D2", item="FG", qty=2, due=dt.date(2026, 3, 3), ts=start),
                 mk("issue", item="FG", qty=2, demand_id="D1", ts=start + dt.timedelta(hours=1)),
                 mk("issue", item="FG", qty=2, demand_id="D2", ts=start + dt.timedelta(days=3)),
                 mk("receipt", item="RAW-A", qty=1, lot="A9", ts=start + dt.timedelta(days=80)))
    assert "D1" not in retired.sites[SITE].demands and "D1" in kept.sites[SITE].demands
    assert report(retired, "kpis") == report(kept, "kpis")
    assert report(retired, "kpis")[0]["stockout_rate"] == 0.5


def test_emptied_lots_leave_sixty_days_after_and_picking_keeps_its_order() -> None:
    engine = new_engine()
    for lot in ("L1", "L2", "L3"):
        receive(engine, "RAW-A", 1, lot)
    apply_ok(engine, mk("issue", item="RAW-A", qty=1))   # first received first: L1 empties
    state = engine.sites[SITE]
    advance(days=1)
    apply_ok(engine, mk("issue", item="RAW-A", qty=1))   # L2 now; both empty lots are noted as of this day
    assert list(state.stock.lots["RAW-A"]) == ["L1", "L2", "L3"]
    advance(days=59)
    receive(engine, "RAW-A", 5, "L2")                    # L2 holds stock again: it stays, in its place
    advance(days=1)
    apply_ok(engine, mk("issue", item="RAW-A", qty=1))   # 60 days after: L1 goes; L2 is picked first
    assert list(state.stock.lots["RAW-A"]) == ["L2", "L3"]
    assert state.stock.qty[("RAW-A", "L2", "available")] == 4_000_000


def test_retired_records_leave_durable_state_too() -> None:
    engine, rows = tracked()
    apply_ok(engine, *master_data())
    _produce(engine)
    advance(days=61)
    apply_ok(engine, mk("receipt", item="RAW-B", qty=1, lot="B1"))
    table = fold_rows({}, rows.changed())
    assert not any("|prod|MO-1" in key for key in table)
    again, again_rows = restored(table)
    assert table_of(table, SITE) == again_rows.current_rows(SITE) == rows.current_rows(SITE)
    assert "MO-1" not in again.sites[SITE].production


@pytest.fixture(scope="module")
def factory_path() -> Path:
    """A simulated site over five months: orders close, demands are delivered, lots empty."""
    folder = Path(tempfile.mkdtemp(prefix="retention-"))
    path = folder / "factory.jsonl"
    with open(path, "wb") as out:
        write(Simulation(SimSpec(sites=1, items=120, depth=3, days=150, seed=3)).lines(), out)
    return path


def test_retention_changes_no_plan_stock_cost_capacity_or_kpi(factory_path: Path) -> None:
    kept, retired = Engine(EngineSettings(retention=None)), Engine()
    for engine in (kept, retired):
        replay(factory_path, engine)
    for name in ("stock", "availability", "planned", "shortages", "exceptions", "costs", "capacity", "kpis"):
        assert report(retired, name) == report(kept, name), name
    (site,) = kept.sites
    for records in ("production", "purchase", "demands"):
        before, after = len(getattr(kept.sites[site], records)), len(getattr(retired.sites[site], records))
        assert after < before, (records, before, after)
    assert sum(map(len, retired.sites[site].stock.lots.values())) < sum(map(len, kept.sites[site].stock.lots.values()))


def test_a_restored_site_retires_as_the_one_that_ran_through(factory_path: Path) -> None:
    """Half the factory, its rows restored into a new engine, then the rest: the same as one engine."""
    events = [e for line in factory_path.read_bytes().splitlines() if line.strip() for e in decode_message(line)]
    master = [e for e in events if isinstance(e, ev.MASTER_TYPES)]   # every worker's: read whole, not restored
    site_events = [e for e in events if not isinstance(e, ev.MASTER_TYPES)]
    whole, rows = tracked()
    whole.apply(master)
    half = len(site_events) // 2
    table: dict = {}
    for start in range(0, half, 500):
        whole.apply(site_events[start:min(start + 500, half)])
        table = fold_rows(table, rows.changed())
    again, _ = restored(table, master=master)
    for start in range(half, len(site_events), 500):
        for engine in (whole, again):
            engine.apply(site_events[start:start + 500])
    for name in ("stock", "orders", "planned", "kpis"):
        assert report(again, name) == report(whole, name), name


def test_looking_only_at_touched_lots_retires_as_looking_at_every_lot(factory_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A day passes over the lots whose stock changed since the day before (and those found empty, in the
    order found); one that passes over every lot every day keeps and drops the same lots on the same days."""
    incremental = Engine()
    replay(factory_path, incremental)
    from core import site as site_module

    new_day = site_module.SiteState.new_day

    def every_lot(self: site_module.SiteState, day: dt.date) -> None:
        self.stock.touched = None
        new_day(self, day)

    monkeypatch.setattr(site_module.SiteState, "new_day", every_lot)
    full = Engine()
    replay(factory_path, full)
    (site,) = full.sites
    lots = full.sites[site].stock.lots
    assert incremental.sites[site].stock.lots == lots
    assert any(day is not None for by_lot in lots.values() for day in by_lot.values())   # some wait to leave
    assert report(incremental, "stock") == report(full, "stock")


def test_a_lot_emptied_again_leaves_sixty_days_after_the_last_time() -> None:
    engine = new_engine()
    receive(engine, "RAW-A", 1, "L1")
    receive(engine, "RAW-A", 1, "L9")
    state = engine.sites[SITE]
    apply_ok(engine, mk("issue", item="RAW-A", qty=1, lot="L1"))
    advance(days=1)
    receive(engine, "RAW-B", 1, "B1")                    # a new day: L1 found empty (day 1)
    advance(days=1)
    receive(engine, "RAW-A", 1, "L1")                    # filled again
    apply_ok(engine, mk("issue", item="RAW-A", qty=1, lot="L1"))
    advance(days=1)
    receive(engine, "RAW-B", 1, "B1")                    # found empty again (day 3)
    assert state.stock.lots["RAW-A"]["L1"] == advance().date()
    advance(days=59)
    receive(engine, "RAW-B", 1, "B1")                    # 60 days after the first time, 59 after the last
    assert list(state.stock.lots["RAW-A"]) == ["L1", "L9"]
    advance(days=1)
    receive(engine, "RAW-B", 1, "B1")
    assert list(state.stock.lots["RAW-A"]) == ["L9"]
