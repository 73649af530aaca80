"""Replay throughput on a simulated factory: the whole engine (ledger, MRP, costing) per event.

``python -m bench.factory [--sites 2 --items 2000 --days 28 --kernel cython|python]`` generates the
factory with ``millstream simulate``'s generator (deterministic for the seed), writes it to a file,
replays it through a fresh engine (decode included, as ``millstream replay`` does) and prints
events per second, outputs, rejects and the machine.  Results go in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from connectors.replay import replay
from connectors.simulate import SimSpec, Simulation
from connectors.simulate.output import write
from core.engine import Engine, EngineSettings


def run(spec: SimSpec, kernel: str, batch: int) -> dict[str, float]:
    """Generate, then replay once; returns the figures of the run."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "factory.jsonl"
        started = time.perf_counter()
        with open(path, "wb") as out:
            events = write(Simulation(spec).lines(), out)
        generated = time.perf_counter() - started
        engine = Engine(EngineSettings(kernel=kernel))
        outputs: list[int] = [0, 0]

        class Counting:
            """Counts the output lines instead of keeping them (encoding them is part of the cost)."""

            def write(self, data: bytes) -> int:
                outputs[0] += data.startswith(b"{")
                outputs[1] += data.startswith(b'{"type":"rejected"')
                return len(data)

        started = time.perf_counter()
        replay(path, engine, out=Counting(), batch_size=batch)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
    return {"events": events, "generate_s": generated, "replay_s": seconds, "events_per_s": events / seconds,
            "outputs": outputs[0], "rejected": outputs[1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.factory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500, help="events per engine batch (replay's default)")
    parser.add_argument("--kernel", choices=("cython", "python"), default="cython")
    args = parser.parse_args(argv)
    spec = SimSpec(sites=args.sites, items=args.items, depth=args.depth, days=args.days, seed=args.seed)
    figures = run(spec, args.kernel, args.batch)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}; load average {load[0]:.2f}")
    print(f"factory: {args.sites} sites x {args.items} items, depth {args.depth}, {args.days} days, seed {args.seed}; "
          f"kernel {args.kernel}, batches of {args.batch}")
    print(f"{figures['events']:,} events generated in {figures['generate_s']:.1f} s; replayed in "
          f"{figures['replay_s']:.1f} s = {figures['events_per_s']:,.0f} events/s; "
          f"{figures['outputs']:,} outputs, {figures['rejected']:,} rejected")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
