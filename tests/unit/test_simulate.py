"""The simulated factory (``millstream simulate``): deterministic, valid, consistent for the engine, believable."""

from __future__ import annotations

import collections
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import sitegen
from connectors.replay import replay
from connectors.simulate import SimSpec, Simulation, bomshape, lots
from connectors.simulate.faults import KINDS, REASONS
from connectors.simulate.output import paced, write
from core.engine import Engine
from millstream.cli import main
from schemas.codecs import decode_message
from schemas.outputs import Rejected

ROOT = Path(__file__).resolve().parents[2]
SMALL = SimSpec(sites=2, items=300, depth=3, days=10, seed=7)
SMALL_ARGS = ["simulate", "--sites", "2", "--items", "300", "--depth", "3", "--days", "10", "--seed", "7"]
#: every event type an upstream system sends (transfer_in_transit is the engine's own)
SENT_TYPES = {"item", "bom", "receipt", "issue", "transfer_shipped", "transfer_received", "count", "quality", "scrap",
              "production_order", "material_issue", "operation_report", "output", "purchase_order", "demand"}


def _lines(spec: SimSpec) -> list[bytes]:
    return list(Simulation(spec).lines())


def _rejected(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in outputs if o["type"] == "rejected"]


def _why(rejected: list[dict[str, Any]]) -> str:
    return "; ".join(f"{r['source']}: {r['reason']}" for r in rejected[:5])


#: event types the factory tests read (decoding every line would cost more than the replay's checks)
READ_TYPES = (b"quality", b"scrap", b"receipt", b"purchase_order", b"demand")


def _type(line: bytes) -> bytes:
    """The ``type`` of an event or output line: every encoded line starts with it."""
    return line[9:line.index(b'"', 9)]


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> tuple[Simulation, dict, Engine, list[bytes]]:
    """Two plants, 2,000 items, three weeks, replayed through the engine: (simulation, events by type read,
    engine, output lines)."""
    simulation = Simulation(SimSpec(sites=2, items=2000, depth=4, days=21, seed=11))
    path = tmp_path_factory.mktemp("simulate") / "factory.jsonl"
    with path.open("wb") as out:
        write(simulation.lines(), out)
    events: dict[bytes, list[dict[str, Any]]] = collections.defaultdict(list)
    types: collections.Counter[bytes] = collections.Counter()
    for line in path.read_bytes().splitlines():
        kind = _type(line)
        types[kind] += 1
        if kind in READ_TYPES:
            events[kind].append(json.loads(line))
    events[b"*"] = [{"type": kind.decode(), "count": n} for kind, n in types.items()]
    engine = Engine()
    sink = io.BytesIO()
    # big batches: the outputs' final state and the rejections do not depend on batching, the run time does
    replay(path, engine, sink, batch_size=5000)
    return simulation, events, engine, sink.getvalue().splitlines()


# --- determinism and the contract ---------------------------------------------------------------------


def test_the_same_arguments_give_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert main([*SMALL_ARGS, "--out", str(first)]) == 0
    # another process with another string-hash seed: no set or hash order leaks into the output
    subprocess.run([sys.executable, "-m", "millstream.cli", *SMALL_ARGS, "--out", str(second)], check=True,
                   capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "12345"}, timeout=120)
    assert main([*SMALL_ARGS[:-1], "8", "--out", str(other)]) == 0
    data = first.read_bytes()
    assert data.count(b"\n") > 2000
    assert data == second.read_bytes()
    assert data != other.read_bytes()
    assert data == b"".join(_lines(SMALL))   # the command writes what the library makes


def test_every_line_is_a_valid_event_in_event_time_order_from_the_simulated_clock() -> None:
    events = []
    for number, line in enumerate(_lines(SMALL), start=1):
        decoded = decode_message(line.rstrip(b"\n"))
        assert len(decoded) == 1
        assert not isinstance(decoded[0], Rejected), (number, decoded[0].reason)
        events.append(decoded[0])
    times = [event.ts for event in events]
    assert times == sorted(times)
    tags = [type(event).__struct_config__.tag for event in events]
    master = sum(1 for tag in tags if tag in ("item", "bom"))
    assert set(tags[:master]) == {"item", "bom"}   # master data first
    assert SENT_TYPES - {"transfer_received"} <= set(tags)
    assert min(event.ts.date() for event in events[master:]) == SMALL.start
    assert min(times) > dt.datetime.combine(SMALL.start, dt.time(), tzinfo=dt.UTC) - dt.timedelta(days=1)
    assert max(times) < dt.datetime.combine(SMALL.start + dt.timedelta(days=SMALL.days + 1), dt.time(),
                                            tzinfo=dt.UTC)
    ids = collections.Counter((event.site, event.event_id) for event in events)
    assert ids.most_common(1)[0][1] == 1


def test_the_command_refuses_what_it_cannot_build(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--items", "10", "--depth", "5"]) == 2
    assert "too few" in capsys.readouterr().err
    assert main(["simulate", "--start", "2026-13-01"]) == 2
    assert "--start" in capsys.readouterr().err
    assert main(["simulate", "--bad-rate", "2"]) == 2
    assert "--bad-rate" in capsys.readouterr().err
    assert main(["simulate", "--rate", "-1"]) == 2
    with pytest.raises(SystemExit):
        main(["simulate", "--out", "x.jsonl", "--kafka"])


# --- the engine accepts it ---------------------------------------------------------------------------


def test_a_replay_of_two_plants_for_three_weeks_rejects_nothing(factory: tuple) -> None:
    simulation, events, _engine, outputs = factory
    assert len(simulation.structure.parts) == 2000
    assert {entry["type"] for entry in events[b"*"]} == SENT_TYPES
    assert sum(entry["count"] for entry in events[b"*"]) > 50_000
    rejected = [json.loads(line) for line in outputs if _type(line) == b"rejected"]
    assert rejected == [], _why(rejected)


def test_the_engine_ends_with_the_stock_the_simulator_booked(factory: tuple) -> None:
    """Lot by lot and status by status, reservations too: the simulator issued only what existed."""
    simulation, _events, engine, _outputs = factory
    for plant in simulation.plants:
        site = engine.sites[plant.name]
        assert site.stock.qty == plant.book.qty
        assert site.stock.reserved == plant.book.reserved
        open_orders = sorted(k for k, order in site.production.items() if order.status in ("planned", "released"))
        assert open_orders == sorted(plant.jobs)
        assert sorted(k for k, po in site.purchase.items() if po.status == "open") == sorted(plant.purchases)


def test_the_replay_plans_finds_shortages_and_costs(factory: tuple) -> None:
    _simulation, _events, _engine, outputs = factory
    kinds = collections.Counter(_type(line) for line in outputs)
    assert kinds[b"planned_order"] > 100
    assert any(_type(line) == b"shortage" and json.loads(line)["state"] == "open" for line in outputs)
    assert kinds[b"cost"] > 100
    assert kinds[b"order_cost"] > 100   # production orders closed with their variances
    assert kinds[b"exception"] > 0      # late suppliers, confirmed dates: expedite and defer


def test_quality_failures_rework_counts_and_transfers_reach_the_engine(factory: tuple) -> None:
    _simulation, events, engine, _outputs = factory
    moves = collections.Counter((e["from_status"], e["to_status"]) for e in events[b"quality"])
    assert moves[("qc_pending", "rejected")] > 0
    assert moves[("qc_pending", "rework")] + moves[("rejected", "rework")] > 0
    assert moves[("rework", "qc_pending")] > 0
    assert moves[("available", "blocked")] > 0
    assert any(e.get("status", "rejected") == "rejected" for e in events[b"scrap"])
    sites = engine.sites.values()
    assert sum(1 for site in sites for transfer in site.inbound.values() if transfer.received) > 0
    assert all(site.counts.lines > site.counts.exact > 0 for site in sites)   # counts found discrepancies
    promised: dict[str, str] = {}
    for e in events[b"purchase_order"]:
        promised.setdefault(e["po_id"], e["due"])   # the date first asked for, before any confirmation
    offsets = [(dt.date.fromisoformat(e["ts"][:10]) - dt.date.fromisoformat(promised[e["po_id"]])).days
               for e in events[b"receipt"] if "po_id" in e]
    assert min(offsets) < 0 < max(offsets)   # suppliers deliver early and late


def test_bad_events_are_rejected_one_for_one_and_leave_the_factory_as_it_was(tmp_path: Path) -> None:
    spec = SimSpec(sites=2, items=300, depth=3, days=12, seed=5, bad_rate=0.02)
    simulation = Simulation(spec)
    lines = list(simulation.lines())
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(lines))
    sink = io.BytesIO()
    replay(path, Engine(), sink, batch_size=5000)
    rejected = _rejected([json.loads(line) for line in sink.getvalue().splitlines()])
    assert simulation.faults.total > 30
    assert len(rejected) == simulation.faults.total
    by_kind = collections.Counter(kind for r in rejected for kind in KINDS if r["reason"].startswith(REASONS[kind]))
    assert by_kind == collections.Counter(simulation.faults.counts)
    good = [line for previous, line in zip([b"", *lines], lines, strict=False)
            if line != previous and b"-BAD" not in line]
    assert good == _lines(SimSpec(sites=2, items=300, depth=3, days=12, seed=5))


# --- the shape of the factory ------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 4, 6])
def test_boms_are_as_deep_as_asked_with_shared_components_and_phantoms(depth: int) -> None:
    structure = Simulation(SimSpec(items=600, depth=depth, sites=1)).structure
    assert len(structure.parts) == 600

    def deepest(item: str) -> int:
        return 1 + max((deepest(c) for c in structure.components(item)), default=-1)

    assert {deepest(fg) for fg in structure.levels[0]} == {depth}
    parents = collections.Counter(c for item in structure.boms for c in structure.components(item))
    assert set(parents) == set(structure.parts) - set(structure.levels[0])   # every item is used
    purchased_shared = sum(1 for part in structure.purchased if parents[part] > 1)
    assert purchased_shared > len(structure.purchased) * 0.2
    groups = collections.Counter(part.group for part in structure.parts.values() if part.kind == "purchased")
    assert {"MIC", "RCV", "DSP", "FLEX", "SHELL", "BAT", "DOME", "PKG"} <= set(groups)
    assert {structure.parts[fg].group for fg in structure.levels[0]} == {"BTE", "RIC", "ITE"}
    phantoms = [item for item, bom in structure.boms.items() if bom.phantom]
    if depth > 1:
        assert 1 <= len(phantoms) <= 2
        assert sum(1 for item in structure.levels[1] if parents[item] > 1) > 0   # sub-assemblies shared
    else:
        assert phantoms == []


def test_demand_is_zipf_like(factory: tuple) -> None:
    """A fifth of the finished devices carry most of the demand, at every plant."""
    simulation, events, _engine, _outputs = factory
    devices = simulation.structure.levels[0]
    for plant in simulation.plants:
        units = collections.Counter(dict.fromkeys(devices, 0))
        for e in events[b"demand"]:
            if e["site"] == plant.name and e.get("status", "open") == "open":
                units[e["item"]] += e["qty"]
        ranked = sorted(units.values(), reverse=True)
        top = ranked[: len(ranked) // 5]
        assert sum(top) > 0.6 * sum(ranked)
        assert ranked[-1] < ranked[0] / 20


def test_per_site_item_masters_differ_where_plants_do() -> None:
    simulation = Simulation(SimSpec(sites=3, items=300, depth=3))
    first, second, third = (plant.items for plant in simulation.plants)
    assert list(first) == list(second) == list(third)
    assert any(first[item].lead != second[item].lead for item in first)
    assert sum(plan.weekly for plan in first.values()) > sum(plan.weekly for plan in third.values())
    assert {plan.source for item, plan in first.items() if item in simulation.structure.purchased} == {"buy"}


# --- output and sharing ------------------------------------------------------------------------------


def test_pacing_spaces_the_lines_at_the_rate() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    sent = list(paced((b"x" for _ in range(50)), 10.0, clock=lambda: now[0], sleep=sleep))
    assert len(sent) == 50
    assert now[0] == pytest.approx(100.0 + 49 / 10)
    assert list(paced([b"a", b"b"], 0, clock=lambda: 0.0, sleep=slept.append)) == [b"a", b"b"]


def test_sitegen_builds_its_site_with_the_shared_lot_and_bom_shape_rules() -> None:
    assert sitegen._pick_components is bomshape.pick_components
    assert sitegen._lot_size is lots.lot_size
    site = sitegen.generate(sitegen.SiteSpec(items=400, depth=3, fanout=3, family=24, seed=3))
    assert all(len(children) == 3 for children in site.components.values())
    used = {child for children in site.components.values() for child in children}
    assert used == set(site.all_items) - set(site.top)
    again = sitegen.generate(sitegen.SiteSpec(items=400, depth=3, fanout=3, family=24, seed=3))
    assert [type(e).__name__ + repr(e) for e in again.events] == [type(e).__name__ + repr(e) for e in site.events]
