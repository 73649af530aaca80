"""``python -m bench.service``: every arm, latency, memory and restore, sweeps; results, report and plots.

The issue's measurement (about 2-3 hours on a quiet 2-core machine, see BENCHMARKS.md)::

    make bench-service          # = python -m bench.service --bootstrap 127.0.0.1:9092 (the defaults)

A small trial (minutes)::

    python -m bench.service --sites 2 --items 1000 --events 50000 --runs 1 --sweep-events 20000 \\
        --sweep-items 250,500,1000 --sweep-depth 2,4,6 --sweep-batch 100,500 --rates 500,1000 --duration 5

Needs a running broker (``millstream kafka start``); creates and deletes topic prefixes ``bench-*`` there.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from millstream.settings import Settings

from .faust_noop import run_faust_noop
from .latency import run_latency
from .preload import VARIANTS, delete_prefix, load, offset_events, prepare
from .raw import drain_raw
from .spec import CACHE, ROOT, BenchSpec
from .worker import ARMS, run_worker_arm

__all__ = ["main"]

ALL_ARMS = "ABCDEF"


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse(argv: list[str] | None) -> argparse.Namespace:
    default = BenchSpec()
    parser = argparse.ArgumentParser(prog="python -m bench.service", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--bootstrap", default=os.environ.get("MILLSTREAM_BOOTSTRAP", "127.0.0.1:9092"))
    size = parser.add_argument_group("the pre-loaded factory")
    size.add_argument("--sites", type=int, default=default.sites)
    size.add_argument("--items", type=int, default=default.items, help="items per site")
    size.add_argument("--depth", type=int, default=default.depth, help="BOM depth")
    size.add_argument("--events", type=int, default=default.events, help="site events pre-loaded")
    size.add_argument("--partitions", type=int, default=default.partitions)
    size.add_argument("--seed", type=int, default=default.seed)
    size.add_argument("--envelope-size", type=int, default=default.envelope_size)
    arms = parser.add_argument_group("the arms")
    arms.add_argument("--arms", default=ALL_ARMS, help="which of A-F to run")
    arms.add_argument("--variants", default=",".join(VARIANTS))
    arms.add_argument("--runs", type=int, default=3, help="runs per arm (the median is reported)")
    arms.add_argument("--slow-runs", type=int, default=1,
                      help="runs of the slow arms: F, and C and D with one event per message (12-30 min each at "
                           "the issue's size); E always gets --runs")
    arms.add_argument("--batch-size", type=int, default=Settings().batch_size, help="the worker's batch_size")
    arms.add_argument("--fetch-backoff-ms", type=int, default=10, help="A and B: fetch.queue.backoff.ms")
    arms.add_argument("--no-restore", action="store_true", help="skip the memory and restore measurement")
    arms.add_argument("--keep", action="store_true",
                      help="keep the topics and state of the worker arms (for python -m bench.service.memory)")
    arms.add_argument("--poll", type=float, default=1.0,
                      help="seconds between scrapes of a draining worker's /metrics (the end's resolution)")
    lat = parser.add_argument_group("latency")
    lat.add_argument("--rates", default="1000,5000,20000", help="offered loads, events/s ('' skips latency)")
    lat.add_argument("--duration", type=float, default=30.0, help="seconds per rate")
    lat.add_argument("--search-steps", type=int, default=3, help="more rates to find the highest sustained")
    lat.add_argument("--warmup", type=float, default=10.0, help="seconds at the lowest rate first, not measured")
    sweep = parser.add_argument_group("sweeps (arm E, envelopes, one run each)")
    sweep.add_argument("--sweep-events", type=int, default=200_000, help="site events per sweep point (0: none)")
    sweep.add_argument("--sweep-items", default="1000,2500,5000,10000", help="items per site")
    sweep.add_argument("--sweep-depth", default="2,4,6,8", help="BOM depths")
    sweep.add_argument("--sweep-batch", default="100,250,500,1000,2000", help="worker batch sizes")
    out = parser.add_argument_group("output")
    out.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "service.json")
    out.add_argument("--report", type=Path, default=ROOT / "bench" / "RESULTS-service.md")
    out.add_argument("--plots", type=Path, default=ROOT / "bench" / "plots")
    out.add_argument("--workdir", type=Path, default=CACHE / "work", help="worker logs and state")
    out.add_argument("--profile", action="store_true",
                     help="py-spy samples the first E run of each variant (collapsed stacks in the workdir)")
    return parser.parse_args(argv)


def log(text: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {text}", flush=True)


@contextlib.contextmanager
def _recorded(failures: list[str], what: str) -> Iterator[None]:
    """A run that fails is logged and listed in the results; the benchmark goes on with the next."""
    try:
        yield
    except Exception as exc:
        log(f"  FAILED {what}: {exc!r}")
        failures.append(f"{what}: {exc!r}"[:2000])


def drain_arms(spec: BenchSpec, args: argparse.Namespace, base: Settings,
               failures: list[str]) -> list[dict[str, Any]]:
    """Every arm on both variants: A, B, C on one loaded copy, D, E, F each on a fresh one."""
    preloads = prepare(spec, log=log)
    results: list[dict[str, Any]] = []
    wanted = [a for a in args.arms.upper() if a in ALL_ARMS]
    for variant in [v for v in args.variants.split(",") if v]:
        preload = preloads[variant]
        index = offset_events(preload, spec.partitions)
        if any(a in "ABC" for a in wanted):
            shared = Settings(bootstrap=base.bootstrap, topic_prefix=f"bench-{variant[0]}-{uuid.uuid4().hex[:6]}",
                              partitions=spec.partitions)
            ends = load(preload, shared, log=log)
            try:
                for arm in [a for a in wanted if a in "ABC"]:
                    runs = args.slow_runs if arm == "C" and variant == "single" else args.runs
                    for run in range(1, runs + 1):
                        with _recorded(failures, f"{arm} {variant} run {run}"):
                            if arm == "C":
                                result = run_faust_noop(shared, ends, index, variant=variant, run=run,
                                                        workdir=args.workdir)
                            else:
                                result = drain_raw(shared, ends, index, decode=arm == "B", arm=arm,
                                                   variant=variant, run=run, fetch_backoff_ms=args.fetch_backoff_ms)
                            log(f"  {arm} {variant} run {run}: {result.events_per_s:,.0f} events/s")
                            results.append(result.as_json())
            finally:
                delete_prefix(shared, log=log)
        for arm in [a for a in wanted if a in ARMS]:
            runs = args.slow_runs if arm == "F" or (arm == "D" and variant == "single") else args.runs
            for run in range(1, runs + 1):
                restore = not args.no_restore and arm == "E" and variant == "envelopes" and run == 1
                profile = (args.workdir / f"profile-{arm}-{variant}.txt"
                           if args.profile and arm == "E" and run == 1 else None)
                with _recorded(failures, f"{arm} {variant} run {run}"):
                    result = run_worker_arm(preload, arm, run, base, args.workdir, batch_size=args.batch_size,
                                            restore=restore, profile=profile, poll=args.poll, log=log,
                                            keep=args.keep)
                    results.append(result.as_json())
    return results


def sweeps(spec: BenchSpec, args: argparse.Namespace, base: Settings, failures: list[str]) -> list[dict[str, Any]]:
    """Arm E on envelopes against items per site, BOM depth and batch size, one at a time."""
    if args.sweep_events <= 0:
        return []
    small = spec.replace(events=args.sweep_events)
    points: list[tuple[str, int, BenchSpec, int]] = []
    points += [("items", n, small.replace(items=n), args.batch_size) for n in _ints(args.sweep_items)]
    points += [("depth", d, small.replace(depth=d), args.batch_size) for d in _ints(args.sweep_depth)]
    points += [("batch", b, small, b) for b in _ints(args.sweep_batch)]
    results = []
    for name, value, point, batch in points:
        log(f"sweep {name} = {value}: {point.describe()}, batch {batch}")
        with _recorded(failures, f"sweep {name} = {value}"):
            preload = prepare(point, log=log)["envelopes"]
            result = run_worker_arm(preload, "E", 1, base, args.workdir, batch_size=batch, poll=args.poll, log=log)
            results.append({"sweep": name, "value": value, **result.as_json(), "spec": point.key})
    return results


def machine() -> dict[str, Any]:
    import platform
    import subprocess

    import aiokafka
    import confluent_kafka
    import faust
    import msgspec

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=ROOT)
    kafka = sorted(p.name for p in (Path(os.environ.get("MILLSTREAM_KAFKA_HOME", ROOT / ".cache" / "kafka"))
                                    .glob("**/kafka-server-*.jar")))[:1]
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "faust": faust.__version__, "aiokafka": aiokafka.__version__,
            "confluent_kafka": confluent_kafka.__version__,
            "librdkafka": confluent_kafka.libversion()[0], "msgspec": msgspec.__version__,
            "kafka_jar": kafka[0] if kafka else "", "commit": commit.stdout.strip() + ("+" if dirty.stdout else ""),
            "load_start": os.getloadavg()}


def summarise(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Median events/s per variant and arm, with the runs' figures."""
    table: dict[str, dict[str, Any]] = {}
    for row in results:
        cell = table.setdefault(row["variant"], {}).setdefault(row["arm"], {"runs": []})
        cell["runs"].append(row["events_per_s"])
    for arms in table.values():
        for cell in arms.values():
            cell["median"] = statistics.median(cell["runs"])
    return table


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    spec = BenchSpec(sites=args.sites, items=args.items, depth=args.depth, events=args.events,
                     partitions=args.partitions, seed=args.seed, envelope_size=args.envelope_size)
    base = Settings(bootstrap=args.bootstrap, batch_size=args.batch_size)
    started = time.perf_counter()
    info = machine()
    log(f"service benchmark: {spec.describe()}; broker {args.bootstrap}; machine {info['cores']} cores, "
        f"load {info['load_start'][0]:.2f}")
    data: dict[str, Any] = {"command": "python -m bench.service " + shlex.join(sys.argv[1:] if argv is None else argv),
                            "spec": spec.key, "describe": spec.describe(), "machine": info,
                            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                            "batch_size": args.batch_size}
    data["preload"] = {name: {"site_events": p.site_events, "site_messages": p.site_messages,
                              "value_bytes": p.value_bytes, "master": p.master}
                       for name, p in prepare(spec, log=log).items()}
    failures: list[str] = data.setdefault("failures", [])

    def save() -> None:   # after every phase: a later failure keeps what was measured
        data["machine"]["load_end"] = os.getloadavg()
        data["seconds"] = time.perf_counter() - started
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(data, indent=1, default=str))

    data["arms"] = drain_arms(spec, args, base, failures)
    data["summary"] = summarise(data["arms"])
    save()
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    if rates:
        log(f"latency: {', '.join(f'{r:,.0f}' for r in rates)} events/s, {args.duration:.0f} s each")
        with _recorded(failures, "latency"):
            data["latency"] = run_latency(prepare(spec, log=log)["single"], base, args.workdir, rates,
                                          args.duration, search_steps=args.search_steps, warmup=args.warmup, log=log)
        save()
    data["sweeps"] = sweeps(spec, args, base, failures)
    save()
    from .report import write_report

    write_report(data, args.report, args.plots, log=log)
    log(f"done in {data['seconds'] / 60:.1f} min: {args.results}, {args.report}, {args.plots}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
