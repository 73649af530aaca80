"""Inventory control on a simulated factory: what forecasting, safety stock and the count schedule cost.

``python -m bench.forecast [--sites 1 --items 2000 --days 182]`` generates the factory (``millstream
simulate``'s generator), replays it, then times per site the statsmodels import, the forecast of every item
with issue history (holdout choice and refit; per method), the safety-stock answer and the count schedule.
Results go in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from connectors.replay import replay
from connectors.simulate import SimSpec, Simulation
from connectors.simulate.output import write
from core.control import ControlSettings
from core.control.answers import count_schedule_answer, forecast_answer, forecast_inputs, safety_stock_answer
from core.engine import Engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.forecast", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=1)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--days", type=int, default=182)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    spec = SimSpec(sites=args.sites, items=args.items, depth=args.depth, days=args.days, seed=args.seed)
    engine = Engine()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "factory.jsonl"
        with open(path, "wb") as out:
            events = write(Simulation(spec).lines(), out)
        started = time.perf_counter()
        replay(path, engine)
        replayed = time.perf_counter() - started
    settings = ControlSettings()
    print(f"{spec.sites} sites x {spec.items} items, {spec.days} days: {events:,} events replayed in {replayed:.1f} s")
    started = time.perf_counter()
    import statsmodels.tsa.holtwinters  # noqa: F401  (what the first fit pays)

    print(f"statsmodels import: {time.perf_counter() - started:.2f} s")
    for name in sorted(engine.sites):
        state = engine.sites[name]
        started = time.perf_counter()
        inputs = forecast_inputs(state)
        copied = time.perf_counter() - started
        started = time.perf_counter()
        answer = forecast_answer(inputs, settings)
        fitted = time.perf_counter() - started
        items = answer["items"]
        methods = Counter(row["method"] for row in items)
        held = sum(1 for row in items if row["holdout_weeks"])
        print(f"{name}: forecast of {len(items)} items ({held} by holdout; {dict(methods)}): snapshot "
              f"{copied * 1000:.1f} ms, fits {fitted:.2f} s = {fitted / max(1, len(items)) * 1000:.1f} ms an item")
        started = time.perf_counter()
        safety = safety_stock_answer(state, settings)
        took = (time.perf_counter() - started) * 1000
        print(f"{name}: safety stock of {len(safety['items'])} items in {took:.1f} ms")
        started = time.perf_counter()
        counts = count_schedule_answer(state, settings)
        print(f"{name}: count schedule ({len(counts['counts'])} due of {sum(counts['items_by_class'].values())} "
              f"items) and accuracy in {(time.perf_counter() - started) * 1000:.1f} ms")
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python "
          f"{sys.version.split()[0]}; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
