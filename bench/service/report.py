"""The service benchmark's report: markdown tables, the capacity model, and the plots (matplotlib).

Everything here is computed from the results JSON ``bench.service.run`` writes, so a report can be
rebuilt from a stored run: ``python -m bench.service.report bench/results/service.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

from .spec import BenchSpec

__all__ = ["capacity", "write_report"]

ARM_TEXT = {
    "A": "raw confluent-kafka `consume` loop, nothing decoded (the ceiling)",
    "B": "the same loop decoding with the msgspec codecs",
    "C": "a Faust agent doing nothing per message",
    "D": "Millstream worker, kernel off (decode, merge, ledger, state rows, transactions; no plan or cost outputs)",
    "E": "Millstream worker (compiled kernel)",
    "F": "Millstream worker, pure-Python twin kernel",
}
TARGETS = {"E/C": ("≥ 0.8 with one event per message", 0.8), "E/D": ("≥ 0.8", 0.8), "E/F": ("≥ 5", 5.0)}
#: capacity-model assumptions, named in the report
TOTAL_RATE = 1_000_000
SITES = 1_000
UTILISATION = 0.7          # a worker planned at 70 % of what it drained flat out
BROKER_MB_S = 150.0        # producer traffic one broker takes with replication factor 3, MB/s (assumed)
REPLICATION = 3


def _rate(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:,.0f}"


def _ms(value: float) -> str:
    return "-" if value != value else f"{value * 1000:,.0f} ms"


def _median(summary: dict[str, Any], variant: str, arm: str) -> float | None:
    cell = summary.get(variant, {}).get(arm)
    return None if cell is None else float(cell["median"])


def _ratio(summary: dict[str, Any], variant: str, top: str, bottom: str) -> float | None:
    a, b = _median(summary, variant, top), _median(summary, variant, bottom)
    return None if a is None or not b else a / b


def capacity(data: dict[str, Any]) -> dict[str, Any] | None:
    """Workers, partitions and brokers for ``SITES`` sites at ``TOTAL_RATE`` events/s from the measured run."""
    worker = _median(data["summary"], "envelopes", "E")
    state = next((row for row in data["arms"] if row.get("volume")), None)
    if not worker or state is None:
        return None
    events = data["preload"]["envelopes"]["site_events"]
    input_bytes = data["preload"]["envelopes"]["value_bytes"] / events
    volume = state["volume"]
    changelog = sum(b for name, (_r, b) in volume.items() if name.endswith("-changelog"))
    outputs = sum(b for name, (_r, b) in volume.items() if not name.endswith("-changelog"))
    out_records = sum(r for name, (r, _b) in volume.items() if not name.endswith("-changelog"))
    per_event = {"input": input_bytes, "outputs": outputs / events, "changelog": changelog / events}
    produce_mb_s = TOTAL_RATE * sum(per_event.values()) / 1e6
    workers = math.ceil(TOTAL_RATE / (worker * UTILISATION))
    partitions = max(workers, 2 ** math.ceil(math.log2(max(workers, 1) * 2)))
    partitions = min(partitions, SITES)
    brokers = max(3, math.ceil(produce_mb_s / BROKER_MB_S))
    rss = state.get("vmrss_after_cold_restore") or state.get("vmrss")
    return {"worker_events_s": worker, "workers": workers, "partitions": partitions, "brokers": brokers,
            "bytes_per_event": per_event, "outputs_per_event": out_records / events, "produce_mb_s": produce_mb_s,
            "sites_per_worker": SITES / workers, "rate_per_site": TOTAL_RATE / SITES,
            "rss_measured": rss, "spec": data["describe"]}


def write_report(data: dict[str, Any], path: Path, plots: Path, log: Any = print) -> None:
    lines = _report(data, plots, path.parent)
    path.write_text("\n".join(lines) + "\n")
    try:
        from .plots import draw
    except ImportError as exc:   # matplotlib is the optional ``bench`` extra
        log(f"no plots: {exc} (pip install -e '.[bench]')")
        return
    for written in draw(data, plots):
        log(f"  plot {written}")


def _report(data: dict[str, Any], plots: Path, base: Path) -> list[str]:
    m = data["machine"]
    summary = data["summary"]
    lines = [
        "# Service benchmark (issue 7)", "",
        f"Command: `{data['command']}` ({data['seconds'] / 60:.0f} min). Factory: {data['describe']}.",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, {m['platform']}; "
        f"broker {m['kafka_jar'] or 'Apache Kafka'} (one KRaft node, same machine); faust-streaming {m['faust']}, "
        f"aiokafka {m['aiokafka']}, confluent-kafka {m['confluent_kafka']} (librdkafka {m['librdkafka']}), "
        f"msgspec {m['msgspec']}; commit {m['commit']}; started {data['started']}; load average "
        f"{m['load_start'][0]:.2f} at start, {m['load_end'][0]:.2f} at the end.", "",
    ]
    issue = BenchSpec()
    if data["spec"] != issue.key:
        lines += [f"**Small-scale run**: the issue's measurement is {issue.describe()} (`make bench-service`); "
                  "these figures exercise the harness and show where time goes, they do not answer the targets.", ""]
    if m["load_start"][0] > 1.5 or m["load_end"][0] > 1.5:
        lines += [f"**Loaded machine**: load average {m['load_start'][0]:.1f} at start, {m['load_end'][0]:.1f} at the "
                  f"end on {m['cores']} cores (other jobs ran alongside): rates are low and noisy.", ""]
    for variant, info in data.get("preload", {}).items():
        lines.append(f"- pre-load `{variant}`: {info['site_events']:,} site events in {info['site_messages']:,} "
                     f"messages ({info['value_bytes'] / max(info['site_events'], 1):.0f} bytes per event), after "
                     f"{info['master']:,} master events (read before the clock starts, not counted)")
    lines += ["", "## Throughput: events per second, median of the runs", "",
              "| arm | what | " + " | ".join(f"{v} (runs)" for v in summary) + " |",
              "|---|---|" + "---|" * len(summary)]
    for arm, text in ARM_TEXT.items():
        cells = []
        for variant in summary:
            cell = summary[variant].get(arm)
            cells.append("-" if cell is None else f"**{_rate(cell['median'])}** "
                         f"({', '.join(_rate(r) for r in cell['runs'])})")
        if any(c != "-" for c in cells):
            lines.append(f"| {arm} | {text} | " + " | ".join(cells) + " |")
    lines += ["", "| ratio | " + " | ".join(summary) + " | target |", "|---|" + "---|" * len(summary) + "---|"]
    for top, bottom in (("E", "A"), ("E", "C"), ("E", "D"), ("E", "F")):
        key = f"{top}/{bottom}"
        values = [_ratio(summary, v, top, bottom) for v in summary]
        lines.append(f"| {key} | " + " | ".join("-" if r is None else f"{r:.3f}" for r in values)
                     + f" | {TARGETS.get(key, ('(the ceiling)', None))[0]} |")
    lines.append("| E events/s | " + " | ".join(_rate(_median(summary, v, "E")) for v in summary)
                 + " | ≥ 50,000 |")
    lines += ["", "### Where the worker's time went (its own histograms, from the master data read to the end)", "",
              "| arm | variant | run | events/s | wall s | batches | processor s | engine s | planner s | "
              "outside the processor s | outputs | rejected | RSS |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in data["arms"]:
        if row["arm"] in "DEF":
            outside = row["seconds"] - row["process_s"]
            lines.append(f"| {row['arm']} | {row['variant']} | {row['run']} | {_rate(row['events_per_s'])} | "
                         f"{row['seconds']:.1f} | {row['batches']:.0f} | {row['process_s']:.1f} | "
                         f"{row['engine_s']:.1f} | {row['plan_s']:.1f} | {outside:.1f} | {row['outputs']:,} | "
                         f"{row['rejected']} | "
                         f"{row['vmrss'] / 2**20:.0f} MiB |")
    lines += _outputs_by_type(data)
    lines += _latency(data) + _memory(data) + _sweeps(data, plots, base) + _capacity(data)
    if data.get("failures"):
        lines += ["", "## Runs that failed", ""] + [f"- `{failure}`" for failure in data["failures"]]
    return lines


def _outputs_by_type(data: dict[str, Any]) -> list[str]:
    """What the workers published, by output type and per event: the planner's messages, more than its
    planned orders, are what E and F add to D."""
    rows = [row for row in data["arms"] if row["arm"] in "DEF" and row.get("outputs_by_type")]
    if not rows:
        return []
    kinds = sorted({kind for row in rows for kind in row["outputs_by_type"]})
    lines = ["", "### What the workers published (records by output type; per event in brackets)", "",
             "| arm | variant | run | " + " | ".join(kinds) + " | all |", "|---|---|---|" + "---|" * (len(kinds) + 1)]
    for row in rows:
        counts, events = row["outputs_by_type"], row["events"] or 1
        cells = [f"{counts.get(kind, 0):,} ({counts.get(kind, 0) / events:.2f})" for kind in kinds]
        total = sum(counts.values())
        lines.append(f"| {row['arm']} | {row['variant']} | {row['run']} | " + " | ".join(cells)
                     + f" | {total:,} ({total / events:.2f}) |")
    return lines


def _latency(data: dict[str, Any]) -> list[str]:
    rows = data.get("latency") or []
    if not rows:
        return []
    lines = ["", "## Latency: event `ts` to the output on its topic (read_committed), open loop", "",
             "One worker (E), one event per message, exactly-once (Kafka transactions: the service's only mode, "
             "at-least-once is not offered). Per output record: arrival at a read_committed reader minus the time "
             "the event whose `ts` the output carries was due to be sent.", "",
             "| offered events/s | sent | outputs | p50 | p99 | p99.9 | max | all applied after the last send | "
             "sustained |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["rate"]):
        lines.append(f"| {_rate(r['rate'])} | {r['sent']:,} | {r['outputs']:,} | {_ms(r['p50'])} | {_ms(r['p99'])} | "
                     f"{_ms(r['p99.9'])} | {_ms(r['max'])} | {r['drain_after_s']:.1f} s | "
                     f"{'yes' if r['sustained'] else 'no'}{' (pre-load ran out)' if r['exhausted'] else ''} |")
    sustained = [r["rate"] for r in rows if r["sustained"]]
    lines += ["", f"Highest sustained offered load: {_rate(max(sustained)) if sustained else 'none'} events/s."]
    return lines


def _memory(data: dict[str, Any]) -> list[str]:
    row = next((r for r in data["arms"] if "restore_warm_s" in r), None)
    if row is None:
        return []
    gib = 2**30
    return ["", "## Memory and restore (E, envelopes, after the drain)", "",
            "| what | figure | target |", "|---|---|---|",
            f"| RSS after draining the pre-load | {row['vmrss'] / gib:.2f} GiB (peak {row['vmhwm'] / gib:.2f} GiB)"
            + (f"; idle {row['vmrss_at_rest'] / gib:.2f} GiB a few seconds later" if "vmrss_at_rest" in row else "")
            + " | ≤ 1 GiB |",
            *([f"| RSS holding the master data only (the items, before any site event) | "
               f"{row['vmrss_with_master'] / gib:.2f} GiB | |"] if "vmrss_with_master" in row else []),
            f"| restart on its local RocksDB: restore | {row['restore_warm_s']:.1f} s (ready "
            f"{row['restart_warm_s']:.1f} s after the process started; RSS {row['vmrss_after_warm_restore'] / gib:.2f}"
            " GiB) | ≤ 30 s |",
            f"| restart with the local store wiped (from the changelog): restore | {row['restore_cold_s']:.1f} s "
            f"(ready {row['restart_cold_s']:.1f} s after start; RSS {row['vmrss_after_cold_restore'] / gib:.2f} GiB) "
            "| ≤ 30 s |"]


def _sweeps(data: dict[str, Any], plots: Path, base: Path) -> list[str]:
    rows = data.get("sweeps") or []
    if not rows:
        return []
    lines = ["", "## Sweeps (arm E, envelopes, one run each)", "",
             "| varied | value | events | events/s | engine s | planner s | wall s | RSS |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['sweep']} | {r['value']:,} | {r['events']:,} | {_rate(r['events_per_s'])} | "
                     f"{r['engine_s']:.1f} | {r['plan_s']:.1f} | {r['seconds']:.1f} | {r['vmrss'] / 2**20:.0f} MiB |")
    rel = os.path.relpath(plots, base)
    lines += ["", f"Plots: `{rel}/throughput_items.png`, `throughput_depth.png`, `throughput_batch.png`, "
              "`latency_load.png`."]
    return lines


def _capacity(data: dict[str, Any]) -> list[str]:
    c = capacity(data)
    if c is None:
        return []
    b = c["bytes_per_event"]
    return ["", f"## Capacity model: {SITES:,} sites at {TOTAL_RATE:,} events/s", "",
            f"- Per worker process (one core): {c['worker_events_s']:,.0f} events/s measured (E, envelopes); planned "
            f"at {UTILISATION:.0%} → **{c['workers']:,} workers** ({c['sites_per_worker']:.1f} sites each, "
            f"{c['rate_per_site']:,.0f} events/s per site).",
            f"- **{c['partitions']:,} partitions** per site-keyed topic (at least one per worker, twice that rounded "
            f"to a power of two so load can be moved in halves, at most one per site).",
            f"- Bytes produced per event (measured): input {b['input']:.0f}, outputs {b['outputs']:.0f} "
            f"({c['outputs_per_event']:.2f} records), state changelog {b['changelog']:.0f} → "
            f"{c['produce_mb_s']:,.0f} MB/s into Kafka; at {BROKER_MB_S:.0f} MB/s of producer traffic per broker "
            f"with replication factor {REPLICATION} (assumed) → **{c['brokers']} brokers** (at least 3).",
            "- Assumptions: events spread evenly over sites and sites over partitions (murmur2); a site's events "
            "stay on one worker (a site is the unit of state, so one site must not exceed one worker's rate); "
            "factory mix and size per site as in the pre-load; consumers of the outputs and transaction markers "
            "not counted in the broker load; worker RSS per site as measured above."]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.service.report")
    parser.add_argument("results", type=Path)
    parser.add_argument("--report", type=Path, default=Path("bench/RESULTS-service.md"))
    parser.add_argument("--plots", type=Path, default=Path("bench/plots"))
    args = parser.parse_args(argv)
    write_report(json.loads(args.results.read_text()), args.report, args.plots)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
