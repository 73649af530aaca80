"""Planner and netting-kernel benchmarks on a generated site (asv-like).

Run ``python -m bench.kernel --kernel both`` for the markdown report, or let
asv discover the ``Time*``/``Track*`` classes in ``bench/asv_suite.py`` (each
has ``setup`` and per-event ``track_*`` methods that return nanoseconds).
This module is the entry point: options, the order of the phases (``run``)
and the report file.

What is measured (every latency is one ``engine.apply([event])`` call, timed
with ``time.perf_counter_ns`` around the call, after a warm-up):

(a) ``stock_scan``   receipt / issue / count, alternating, on uniformly random
    items of the 10k site, through the engine including net-change re-planning.
(b) ``sales_order``  a new sales order on a random finished good, which
    re-plans the part of its BOM tree whose requirements change.
(c) ``regenerate``   ``planner.regenerate(site)`` with a fresh planner (a cold,
    from-scratch regenerative run) on a 100k-item site, and on the 10k site
    for both kernels (the Cython/twin ratio); ``--regen-runs`` runs each
    (3), the median reported: a single cold run moves by up to half with
    how fast the host hands out fresh pages.
(d) ``memory``       bytes retained by the engine after loading the 10k site,
    split into ledger and planner state, per item and per open order/demand,
    with what the planner's ``ItemNode`` objects hold (method in
    ``bench.memory.memory_report``).

Every timed event also counts its outputs by kind (planned_order, shortage,
exception, cost): what an event publishes is a large part of its cost.

Where the time goes is measured on a second engine per kernel, loaded from the
same events, whose planner is an ``InstrumentedPlanner``: ``plan``, ``_load``
(reading inputs into the nodes) and ``_publish_*`` (building output objects)
are timed, and its kernel is a ``TimedKernel``, whose ``ItemNode`` is a
subclass that times every node method the planner calls (``bench.instrument``).
That engine replays the same event sequence as the plain one, so the report can
show what the instrumentation itself costs.  The headline latencies come from
plain engines (``bench.measure``).

``kernel_micro`` (``bench.micro``) times ``ItemNode.replan`` alone on copies
(pickled) of real nodes of the loaded plan: unchanged inputs, and an
``on_hand`` that alternates between two values.

The twin (pure-Python kernel) runs on its own engine loaded from the same
events: both kernels give identical plans, so the state each one sees is the
same.  Per-phase time budgets keep a ``--kernel both`` run under ten minutes
on two cores; the report states how many events each number is based on
(rendered by ``bench.report``).
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time

from core.engine import Engine

from .instrument import InstrumentedPlanner, TimedKernel, breakdown_events, wrapper_cost_ns
from .loading import ledger_site, load_instrumented, load_plain, plan_shape
from .measure import KERNELS, Sample, measure_events, profile_events, timer_overhead_ns
from .memory import memory_report
from .micro import kernel_micro, load_micro, pick_micro_items
from .regenerate import regenerate_run
from .report import Report, fmt_bytes, fmt_us, machine
from .sitegen import SalesOrderStream, ScanStream, SiteSpec, generate

__all__ = ["InstrumentedPlanner", "Sample", "TimedKernel", "kernel_micro", "main", "measure_events",
           "memory_report", "regenerate_run"]


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> Report:
    started = time.perf_counter()
    kernels = list(KERNELS) if args.kernel == "both" else [args.kernel]
    report = Report(args=args, env=machine())
    overhead = timer_overhead_ns()
    wrappers = {kernel: wrapper_cost_ns(kernel, overhead) for kernel in kernels}
    report.notes.append(f"perf_counter_ns pair overhead {overhead} ns, subtracted per timed call in the instrumented "
                        "passes; a timing wrapper's cost outside its window, estimated at " + ", ".join(
                            f"{wrappers[k]:.0f} ns ({k})" for k in kernels) + " per wrapped call "
                        "(`wrapper_cost_ns`), is shown as \"instrumentation\" in the breakdown.")

    # (d), and the first kernel's engine for (a)/(b)
    _log(f"generating {args.items:,}-item site")
    gen = generate(SiteSpec(items=args.items, seed=args.seed))
    report.site = gen.summary()
    _log(f"loading it ({kernels[0]} kernel) and measuring its memory")
    first: Engine | None
    first, ledger_engine, report.memory = memory_report(gen, kernels[0])
    report.load_s[kernels[0]] = report.memory.load_s
    report.plan_shape = plan_shape(first, gen)

    # the floor: the same kinds of events through the engine with the planner off
    for name, floor_stream in (("stock_scan", ScanStream(gen, seed=args.seed + 3)),
                               ("sales_order", SalesOrderStream(gen, seed=args.seed + 4))):
        _log(f"({name}) ledger only (planner off)")
        report.samples[(name, "off")] = measure_events(ledger_engine, floor_stream, name, "off", warmup=30,
                                                       max_events=args.scan_events, budget_s=args.breakdown_seconds)
    if args.profile:
        _log("(stock_scan) ledger only, cProfile")
        report.profiles["stock_scan, planner off (ledger floor)"] = profile_events(
            ledger_engine, ScanStream(gen, seed=args.seed + 5), max_events=2_000, budget_s=args.breakdown_seconds)
    del ledger_engine, floor_stream
    gc.collect()

    report.micro = pick_micro_items(first, args.seed, args.micro_items)
    # (a)/(b): a plain engine and an instrumented one per kernel; each replays the same seeded streams
    phases = (("stock_scan", ScanStream, args.scan_events, 30, 1), ("sales_order", SalesOrderStream,
                                                                     args.order_events, 5, 2))
    for kernel in kernels:
        twin = kernel == "python"
        if first is not None:
            engine, first = first, None
        else:
            _log(f"loading the site ({kernel} kernel)")
            engine, report.load_s[kernel] = load_plain(gen, kernel)
        _log(f"loading it again with an instrumented {kernel} planner")
        instrumented = load_instrumented(gen, kernel, overhead)
        gc.collect()
        gc.freeze()  # the loaded state is long-lived: keep it out of the cyclic GC's full passes
        _log(f"ItemNode.replan micro-benchmark, {kernel}")
        kernel_micro(engine, kernel, report.micro)
        budget = args.seconds * (args.twin_share if twin else 1.0)
        for name, stream_type, max_events, warmup, offset in phases:
            stream = stream_type(gen, seed=args.seed + offset)
            _log(f"({name}) {kernel}: up to {max_events:,} events or {budget:.0f} s")
            for _ in range(args.repeat):
                sample = measure_events(engine, stream, name, kernel, warmup=warmup, max_events=max_events,
                                        budget_s=budget / args.repeat)
                previous = report.samples.get((name, kernel))
                if previous is not None:
                    previous.extend(sample)
                else:
                    report.samples[(name, kernel)] = sample
            sample = report.samples[(name, kernel)]
            if sample.rejected:
                raise RuntimeError(f"{name}: {sample.rejected} events rejected")
            _log(f"  median {fmt_us(sample.median())}, p99 {fmt_us(sample.p99())}, n={sample.n}, "
                 f"outputs/event {sample.outputs_mean():.0f}")
            if args.profile and not twin:
                _log(f"({name}) cProfile")
                report.profiles[name] = profile_events(engine, stream, max_events=max_events,
                                                       budget_s=args.breakdown_seconds)
        for name, stream_type, max_events, warmup, offset in phases:
            _log(f"({name}) {kernel}, instrumented")
            breakdown = breakdown_events(instrumented, stream_type(gen, seed=args.seed + offset), name, kernel,
                                         warmup=warmup, max_events=max_events,
                                         budget_s=args.breakdown_seconds * (0.5 if twin else 1.0),
                                         wrapper_ns=wrappers[kernel])
            if args.repeat == 1:  # pooled repeats interleave warm-ups: the sequences no longer line up
                breakdown.compare(report.samples.get((name, kernel)))
            report.breakdowns.append(breakdown)
        del engine, instrumented, stream
        gc.unfreeze()
        gc.collect()
    if "cython" in kernels and args.centers:
        # what keeping the work-center load costs (issue 9): the same site and event streams, its BOMs'
        # operations on work centers sized to 85 % expected use (bench/sitegen.py)
        _log("loading the site with work centers (capacity on)")
        loaded = generate(SiteSpec(items=args.items, seed=args.seed, centers_per_level=args.centers))
        engine, _ = load_plain(loaded, "cython")
        book = engine.planner.capacity[loaded.spec.site]
        report.notes.append(f"With work centers: {len(book.names):,} centers, {len(book.load):,} loaded center "
                            f"days, {len(book.overloads):,} of them overloaded after the load.")
        gc.collect()
        gc.freeze()
        _log("ItemNode.load_update micro-benchmark, cython")
        load_micro(engine, "cython", report.micro)
        for name, stream_type, max_events, warmup, offset in phases:
            _log(f"({name}) cython, with work centers")
            report.samples[(name, "capacity")] = measure_events(
                engine, stream_type(loaded, seed=args.seed + offset), name, "capacity", warmup=warmup,
                max_events=max_events, budget_s=args.seconds)
        del engine, loaded
        gc.unfreeze()
        gc.collect()
    report.notes.append("GC stays enabled while timing; the loaded engine state is moved out of the collector's "
                        "reach with gc.freeze() first, as a long-running service would.")
    if len(report.load_s) > 1:
        report.notes.append("Load of the site through the plain engine: " + ", ".join(
            f"{kernel} {seconds:.1f} s" for kernel, seconds in report.load_s.items()) + ".")

    # (c) at the small size, both kernels: the ratio, on a freshly loaded ledger
    _log(f"loading the {args.items:,}-item ledger (no planner) for regenerative runs")
    ledger, _ = ledger_site(gen)
    site = ledger.sites[gen.spec.site]
    gc.collect()
    gc.freeze()
    for kernel in kernels:
        for number in range(1, args.regen_runs + 1):
            _log(f"(regenerate) {args.items:,} items, {kernel}, run {number} of {args.regen_runs}")
            report.regens.append(regenerate_run(site, kernel, overhead))
        _log(f"(regenerate) {args.items:,} items, {kernel}, instrumented")
        report.regens.append(regenerate_run(site, kernel, overhead, wrapper_ns=wrappers[kernel]))
    del site, ledger, gen
    gc.unfreeze()
    gc.collect()

    # (c) the big site
    big_kernels = [k for k in kernels if k == "cython" or args.twin_big]
    if args.regen_items and "python" in kernels and not args.twin_big:
        report.notes.append(f"The twin's regenerative run is measured on the {args.items:,}-item site only "
                            f"(pass --twin-big to run it on {args.regen_items:,} items too); the ratio "
                            "compares both kernels on the same site.")
    if args.regen_items and big_kernels:
        _log(f"generating {args.regen_items:,}-item site")
        big = generate(SiteSpec(items=args.regen_items, seed=args.seed))
        report.site_big = big.summary()
        _log("loading its ledger (no planner)")
        big_engine, report.big_load_s = ledger_site(big)
        big_site = big_engine.sites[big.spec.site]
        del big
        gc.collect()
        gc.freeze()
        for kernel in big_kernels:
            for number in range(1, args.regen_runs + 1):
                _log(f"(regenerate) {args.regen_items:,} items, {kernel}, run {number} of {args.regen_runs}")
                report.regens.append(regenerate_run(big_site, kernel, overhead))
            _log(f"(regenerate) {args.regen_items:,} items, {kernel}, instrumented")
            report.regens.append(regenerate_run(big_site, kernel, overhead, wrapper_ns=wrappers[kernel]))
        s = report.site_big
        report.notes.append(f"{args.regen_items:,}-item site: {s['boms']:,} BOMs, {s['receipts']:,} receipts, "
                            f"{s['purchase_orders']:,} POs, {s['demands']:,} demands ({s['events']:,} events); "
                            f"ledger load without planner {report.big_load_s:.1f} s.")
        del big_site, big_engine
        gc.unfreeze()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    report.notes.append(f"Peak RSS of the benchmark process {fmt_bytes(peak)}.")
    report.env["loadavg_end"] = machine()["loadavg"]
    report.wall_s = time.perf_counter() - started
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.kernel", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="items of the site for (a), (b), (d)")
    parser.add_argument("--regen-items", type=int, default=100_000, help="items of the site for (c); 0 skips it")
    parser.add_argument("--kernel", choices=("cython", "python", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=1, help="runs per (a)/(b) measurement, their events pooled")
    parser.add_argument("--regen-runs", type=int, default=3,
                        help="cold regenerative runs per kernel and site for (c), each with a fresh planner: the "
                             "median is reported")
    parser.add_argument("--scan-events", type=int, default=20_000, help="most events timed for (a)")
    parser.add_argument("--order-events", type=int, default=2_000, help="most events timed for (b)")
    parser.add_argument("--seconds", type=float, default=20.0, help="time budget per (a)/(b) measurement")
    parser.add_argument("--twin-share", type=float, default=0.5, help="the twin's budget as a share of --seconds")
    parser.add_argument("--breakdown-seconds", type=float, default=5.0, help="budget of instrumented/profiled passes")
    parser.add_argument("--centers", type=int, default=5,
                        help="work centers per BOM level for the (a)/(b) runs with capacity; 0 skips them")
    parser.add_argument("--micro-items", type=int, default=50,
                        help="random items in the ItemNode.replan micro-benchmark (besides the quantile items)")
    parser.add_argument("--twin-big", action="store_true", help="also regenerate the big site with the twin")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the cProfile passes")
    parser.add_argument("--seed", type=int, default=SiteSpec().seed)
    parser.add_argument("--output", help="also write the markdown report to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    text = report.markdown()
    print(text)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
