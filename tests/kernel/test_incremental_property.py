"""Net-change MRP equals a regenerative run, and the two kernels publish the same streams.

Random BOM DAGs and event streams (``bomgen``) are fed, in random batch
splits, to (a) an engine on the compiled kernel and (b) one on the
pure-Python twin.  Then:

* (a) and (b) published byte-identical output streams and hold identical plans;
* (c) a regenerative run -- a fresh ``Planner`` over a deep copy of (a)'s
  site after every batch, and ``regenerate`` on a deep copy of (a) at the end
  -- finds exactly the plan the incremental planner holds (planned orders, shortages, exceptions, dependent
  requirements, standard costs) and, on the copy, has nothing to publish;
* folding (a)'s published stream (upsert/delete, open/resolved) gives the
  planner's planned orders (with ``past_due`` as of today), shortages and
  exceptions; the last ``cost`` output of each item is within 1e-6 of its
  current costs; every ``order_cost``'s variances add up to actual - standard.

Every site of the engine is checked (the generator can add a second site and
transfers between the two).

``planner.py`` promises: "The result equals a full regenerative run".
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import random
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from core.engine import Engine, EngineSettings
from core.planning import Planner, SitePlan, planned_ids
from core.site import SiteState
from schemas.codecs import decode_output, encode_json
from schemas.outputs import CapacityOverload, Cost, Exception_, OrderCost, PlannedOrder, Shortage

from . import bomgen
from .conftest import load_kernel

#: Cases are drawn from an integer seed so a failure names a seed anyone can replay with
#: ``bomgen.scenario(random.Random(seed))``; shrinking a seed is useless, so it is skipped, and the
#: seeds are derandomized so CI runs the same cases every time.
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


# --- helpers -------------------------------------------------------------------------------


def _plain(struct: Any) -> dict[str, Any]:
    """A published record without its ``ts`` (which says when it was last changed)."""
    data = msgspec.to_builtins(struct)
    data.pop("ts", None)
    return data


def plan_state(planner: Planner, site: str) -> dict[str, Any]:
    """The planner's published state of one site as comparable plain dicts per item."""
    plan = planner.plans.get(site) or SitePlan()
    return {
        "planned": {item: list(orders) for item, orders in sorted(plan.planned.items()) if orders},
        "dependent": dict(sorted(plan.dependent().items())),
        "shortages": {item: {sid: _plain(s) for sid, s in sorted(by_id.items())}
                      for item, by_id in sorted(plan.shortages.items()) if by_id},
        "exceptions": {item: {eid: _plain(e) for eid, e in sorted(by_id.items())}
                       for item, by_id in sorted(plan.exceptions.items()) if by_id},
        **capacity_state(planner, site),
    }


def capacity_state(planner: Planner, site: str) -> dict[str, Any]:
    """Work-center load by center and day, and the open overloads, as plain dicts."""
    book = planner.capacity.get(site)
    if book is None:
        return {"load": {}, "overloads": {}}
    return {"load": {f"{book.names[center]}|{day}": minutes for (center, day), minutes in sorted(book.load.items())},
            "overloads": {o.overload_id: _plain(o) for o in sorted(book.overloads.values(),
                                                                   key=lambda o: o.overload_id)}}


def state_diff(got: dict[str, Any], want: dict[str, Any], limit: int = 6) -> str:
    """The differing items of two ``plan_state`` results, for a readable failure."""
    lines = []
    for section in want.keys() | got.keys():
        a, b = got.get(section, {}), want.get(section, {})
        for item in sorted(a.keys() | b.keys()):
            if a.get(item) != b.get(item):
                lines.append(f"{section}[{item}]:\n    got  {a.get(item)}\n    want {b.get(item)}")
    more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n  ".join(lines[:limit]) + more


def assert_same_state(got: dict[str, Any], want: dict[str, Any], what: str) -> None:
    assert got == want, f"{what}:\n  {state_diff(got, want)}"


def standard_costs(planner: Planner, site: str) -> dict[str, float]:
    book = planner.costs.get(site)
    return dict(sorted(book.standard.items())) if book is not None else {}


def assert_costs_close(got: dict[str, float], want: dict[str, float]) -> None:
    assert got.keys() == want.keys()
    stale = {item: (got[item], want[item]) for item in want
             if not math.isclose(got[item], want[item], rel_tol=1e-9, abs_tol=1e-6)}
    assert not stale, f"incremental standard cost differs from a full roll-up (got, want): {stale}"


def run(kernel_name: str, batches: list[list[Any]], after_batch: Any = None) -> tuple[Engine, list[bytes]]:
    """Apply the batches; ``after_batch(engine, index)`` (if given) checks the state after each one."""
    engine = Engine(EngineSettings(kernel=kernel_name))
    stream: list[bytes] = []
    for index, batch in enumerate(batches):
        stream.extend(encode_json(out) for out in engine.apply(batch))
        if after_batch is not None:
            after_batch(engine, index)
    stream.extend(encode_json(out) for out in engine.finish())
    return engine, stream


def matches_regeneration(engine: Engine, index: int) -> None:
    """After every batch (not only the last), each site's plan is what a regenerative run finds."""
    for site, state in engine.sites.items():
        if state.today is not None:
            fresh = fresh_regeneration(engine, site)
            assert_same_state(plan_state(engine.planner, site), plan_state(fresh, site),
                              f"{site}, after batch {index}: net-change vs a fresh regenerative run")


def regenerated_copy(engine: Engine, site: str) -> tuple[Planner, list[Any]]:
    """``regenerate`` on a deep copy of the engine (the kernel module itself is shared)."""
    kernel = engine.planner.kernel
    clone = copy.deepcopy(engine, memo={id(kernel): kernel})
    outputs = clone.planner.regenerate(clone.sites[site])
    return clone.planner, outputs


def fresh_regeneration(engine: Engine, site: str) -> Planner:
    """A new ``Planner`` (no memory of earlier batches) over a deep copy of the site."""
    kernel = engine.planner.kernel
    state: SiteState = copy.deepcopy(engine.sites[site])
    planner = Planner(kernel=kernel, settings=engine.planner.settings)
    planner.regenerate(state)
    return planner


def _micro(number: Any) -> int:
    return int(Decimal(str(number)) * 1_000_000)


def fold_stream(stream: list[bytes], site: str) -> dict[str, dict[str, Any]]:
    """What a consumer of one site holds after applying the published upserts/deletes and opens/resolves."""
    planned: dict[str, Any] = {}
    shortages: dict[str, Any] = {}
    exceptions: dict[str, Any] = {}
    overloads: dict[str, Any] = {}
    for raw in stream:
        record = decode_output(raw)
        if getattr(record, "site", None) != site:
            continue
        if isinstance(record, PlannedOrder):
            if record.action == "delete":
                planned.pop(record.planned_id, None)
            else:
                planned[record.planned_id] = (record.item, record.due, record.release, _micro(record.qty),
                                              record.past_due)
        elif isinstance(record, Shortage):
            if record.state == "resolved":
                shortages.pop(record.shortage_id, None)
            else:
                shortages[record.shortage_id] = (record.item, record.date, _micro(record.qty))
        elif isinstance(record, Exception_):
            if record.state == "resolved":
                exceptions.pop(record.exception_id, None)
            else:
                exceptions[record.exception_id] = (record.item, record.action, record.current_date,
                                                   record.suggested_date)
        elif isinstance(record, CapacityOverload):
            if record.state == "resolved":
                overloads.pop(record.overload_id, None)
            else:
                overloads[record.overload_id] = (_micro(record.load_minutes), _micro(record.available_minutes),
                                                 [(o.ref, _micro(o.minutes)) for o in record.orders])
    return {"planned": planned, "shortages": shortages, "exceptions": exceptions, "overloads": overloads}


def expected_fold(engine: Engine, site: str) -> dict[str, dict[str, Any]]:
    """The same view built from the planner's state (``past_due`` as of the site's today)."""
    plan = engine.planner.plans.get(site) or SitePlan()
    today = engine.sites[site].today.toordinal()
    planned = {}
    for item, orders in plan.planned.items():
        for pid, (due, release, qty, _short) in zip(planned_ids(item, orders), orders, strict=True):
            planned[pid] = (
                item, dt.date.fromordinal(due), dt.date.fromordinal(release), qty, release < today)
    shortages = {sid: (s.item, s.date, _micro(s.qty)) for by_id in plan.shortages.values()
                 for sid, s in by_id.items()}
    exceptions = {eid: (e.item, e.action, e.current_date, e.suggested_date)
                  for by_id in plan.exceptions.values() for eid, e in by_id.items()}
    book = engine.planner.capacity.get(site)
    overloads = {o.overload_id: (_micro(o.load_minutes), _micro(o.available_minutes),
                                 [(line.ref, _micro(line.minutes)) for line in o.orders])
                 for o in (book.overloads.values() if book is not None else ())}
    return {"planned": planned, "shortages": shortages, "exceptions": exceptions, "overloads": overloads}


def assert_published_costs_are_current(stream: list[bytes], engine: Engine, site: str) -> None:
    """The last ``cost`` output of each item is within 1e-6 (plus rounding) of its current costs."""
    published: dict[str, Any] = {}
    for raw in stream:
        record = decode_output(raw)
        if isinstance(record, Cost) and record.site == site:
            published[record.item] = record
    book = engine.planner.costs.get(site)
    standard = book.standard if book is not None else {}
    avg_cost = engine.sites[site].avg_cost
    stale = {}
    for item in standard.keys() | avg_cost.keys() | published.keys():
        std, avg = standard.get(item), avg_cost.get(item)
        unit = avg if avg is not None else std or 0.0
        record = published.get(item)
        if record is None:
            if std is not None or avg is not None:
                stale[item] = ("never published", unit, std)
            continue
        if (record.standard_cost is None) != (std is None) or abs(float(record.unit_cost) - unit) > 1.5e-6 or (
                std is not None and abs(float(record.standard_cost) - std) > 1.5e-6):
            stale[item] = ((record.unit_cost, record.standard_cost), (unit, std))
    assert not stale, f"{site}: published cost outputs (got, current) that are stale: {stale}"


def assert_order_costs_add_up(stream: list[bytes]) -> int:
    """Every ``order_cost``: actual - standard = usage + price + operations (each rounded to 1e-6)."""
    count = 0
    for raw in stream:
        record = decode_output(raw)
        if isinstance(record, OrderCost):
            count += 1
            parts = (Decimal(str(record.material_usage_variance)) + Decimal(str(record.material_price_variance))
                     + Decimal(str(record.operations_variance)))
            gap = Decimal(str(record.actual_cost)) - Decimal(str(record.standard_cost)) - parts
            assert abs(gap) <= Decimal("0.0000025"), f"variances of {record.order_id} miss by {gap}: {record}"
    return count


def check_scenario(rng: Any, scenario: bomgen.Scenario) -> None:
    batches = bomgen.split_batches(rng, scenario.all_events, head=scenario.head)
    load_kernel("cython")   # the compiled kernel must be there: never compare the twin with itself
    engine_a, stream_a = run("cython", batches, after_batch=matches_regeneration)
    engine_b, stream_b = run("python", batches)
    assert engine_a.planner.kernel.CYTHON_MODULE == 1 and engine_b.planner.kernel.CYTHON_MODULE == 0

    # (a) and (b): same published stream
    assert stream_a == stream_b
    assert_order_costs_add_up(stream_a)
    assert scenario.site in engine_a.sites
    for site in sorted(engine_a.sites):
        # (a) and (b): same state
        state_a = plan_state(engine_a.planner, site)
        if engine_a.sites[site].today is None:      # every event of the site was rejected
            assert state_a == plan_state(engine_b.planner, site) == plan_state(Planner(), site)
            continue
        assert_same_state(plan_state(engine_b.planner, site), state_a,
                          f"{site}: twin engine (b) vs compiled engine (a)")
        assert standard_costs(engine_a.planner, site) == standard_costs(engine_b.planner, site)

        # (c) regenerative runs find the incremental planner's state
        fresh = fresh_regeneration(engine_a, site)
        assert_same_state(state_a, plan_state(fresh, site), f"{site}: net-change (a) vs a fresh regenerative run")
        assert_costs_close(standard_costs(engine_a.planner, site), standard_costs(fresh, site))
        regen, outputs = regenerated_copy(engine_a, site)
        assert_same_state(state_a, plan_state(regen, site), f"{site}: net-change (a) vs regenerate on a copy of (a)")
        assert outputs == [], f"{site}: regenerate found changes net-change missed: {outputs[:5]}"

        # the published stream folds to the planner's state, and to current costs
        assert fold_stream(stream_a, site) == expected_fold(engine_a, site)
        assert_published_costs_are_current(stream_a, engine_a, site)


# --- properties ------------------------------------------------------------------------------


def scenario_for(seed: int, **options: Any) -> tuple[random.Random, bomgen.Scenario]:
    """The case a property test runs for ``seed``; replay a failure with
    ``check_scenario(*scenario_for(seed, **the_test_options))``."""
    rng = random.Random(seed)
    return rng, bomgen.scenario(rng, n_events=rng.randint(20, 90), **options)


@SETTINGS
@given(SEEDS)
def test_net_change_equals_regenerate_over_several_days(seed: int) -> None:
    """Everything at once: random batch cuts from the first master event on, several site days,
    two sites with transfers, master data changes (global and per site), EOQ on any item."""
    check_scenario(*scenario_for(seed, second_site=True, master_changes=True))


@SETTINGS
@given(SEEDS)
def test_net_change_equals_regenerate_within_one_day(seed: int) -> None:
    """One site day (today never moves, so nothing is re-netted for the date): only the items the
    events touch and their components re-net; two sites, EOQ on any item."""
    check_scenario(*scenario_for(seed, same_day=True, second_site=True))


@SETTINGS
@given(SEEDS)
def test_net_change_equals_regenerate_with_master_data_changes(seed: int) -> None:
    """Item and BOM changes (global and per site, phantoms switched on and off) in the middle of
    one site day; master data and a first receipt arrive together in the first batch."""
    check_scenario(*scenario_for(seed, same_day=True, master_changes=True, opening=True))


@SETTINGS
@given(SEEDS)
def test_twins_publish_identical_streams(seed: int) -> None:
    """(a) compiled vs (b) twin alone, over several days with master changes: streams and plans equal."""
    rng, scenario = scenario_for(seed, master_changes=True, second_site=True)
    batches = bomgen.split_batches(rng, scenario.all_events)
    engine_a, stream_a = run("cython", batches)
    engine_b, stream_b = run("python", batches)
    assert engine_a.planner.kernel is not engine_b.planner.kernel
    assert stream_a == stream_b
    assert engine_a.sites.keys() == engine_b.sites.keys()
    for site in engine_a.sites:
        assert_same_state(plan_state(engine_b.planner, site), plan_state(engine_a.planner, site),
                          f"{site}: twin engine (b) vs compiled engine (a)")
        assert standard_costs(engine_a.planner, site) == standard_costs(engine_b.planner, site)


@settings(SETTINGS, max_examples=30)
@given(SEEDS)
def test_final_plan_does_not_depend_on_batch_splits(seed: int) -> None:
    """The plan after the last batch is the same however the stream was cut (one site day)."""
    rng, scenario = scenario_for(seed, same_day=True, opening=True)
    events, head = scenario.all_events, scenario.head
    engine_split, _ = run("cython", bomgen.split_batches(rng, events, head=head))
    engine_whole, _ = run("cython", [events])
    engine_single, _ = run("cython", [events[:head], *([event] for event in events[head:])])
    want = plan_state(engine_whole.planner, scenario.site)
    assert_same_state(plan_state(engine_split.planner, scenario.site), want, "random batches vs one batch")
    assert_same_state(plan_state(engine_single.planner, scenario.site), want, "one event a batch vs one batch")
    assert_costs_close(standard_costs(engine_split.planner, scenario.site),
                       standard_costs(engine_whole.planner, scenario.site))


# --- generator sanity (so the properties are not vacuous) ------------------------------------


def test_generator_builds_deep_shared_dags_with_all_features() -> None:
    depths, phantoms, shared_multi_level, rules = set(), 0, 0, set()
    kinds: dict[str, int] = {}
    for seed in range(60):
        scenario = bomgen.scenario(random.Random(seed), n_events=80, master_changes=True)
        specs = scenario.specs
        depths.add(max(s.level for s in specs.values()))
        phantoms += sum(s.phantom for s in specs.values())
        for name in specs:
            if name.startswith("S-"):
                levels = {s.level for s in specs.values() if name in dict(s.components)}
                shared_multi_level += len(levels) > 1
        for event in scenario.master:
            if type(event).__name__ == "Item":
                rules.add(event.lot_size.rule)
        for event in scenario.events:
            kinds[type(event).__name__] = kinds.get(type(event).__name__, 0) + 1
        times = [e.ts for e in scenario.all_events]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert len({e.event_id for e in scenario.all_events}) == len(scenario.all_events)
    assert 8 in depths and 1 in depths
    assert phantoms > 0 and shared_multi_level > 0
    assert rules == {"lot_for_lot", "fixed", "min_multiple", "period", "eoq"}
    assert set(kinds) >= {"Demand", "PurchaseOrder", "ProductionOrder", "Receipt", "Issue", "MaterialIssue",
                          "OperationReport", "Output", "Count", "Item", "Bom"}


def test_generated_scenarios_plan_something_and_are_mostly_accepted() -> None:
    planned_items = rejected = total = order_costs = 0
    sites: set[str] = set()
    for seed in range(12):
        rng = random.Random(seed)
        scenario = bomgen.scenario(rng, n_events=90, second_site=True)
        engine, stream = run("cython", bomgen.split_batches(rng, scenario.all_events))
        planned_items += len(engine.planner.plans[scenario.site].planned)
        rejected += sum(raw.startswith(b'{"type":"rejected"') for raw in stream)
        total += len(scenario.all_events)
        order_costs += assert_order_costs_add_up(stream)
        sites.update(site for site, state in engine.sites.items() if state.today is not None)
    assert planned_items > 10
    assert rejected < total / 3
    assert order_costs > 0
    assert sites == {bomgen.SITE, bomgen.SITE2}
