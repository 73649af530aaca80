"""Durable rows of a generated site: their size, the cost of producing them per batch, and a restore.

Run ``python -m bench.persist [--items 10000]``.  Rough numbers for the report, not a test:

* the rows of a loaded site by kind (count, bytes: mean, median, max);
* per batch of stock scans (``ScanStream``): ``Engine.apply`` time, ``StateRows.changed`` time, rows
  and bytes written;
* restoring the site into a fresh engine holding the master data: the rows alone (planner off) and
  with the re-plan that follows (the default).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections import defaultdict
from typing import Any

from core.engine import Engine, EngineSettings
from core.persist import StateRows, fold_rows

from .sitegen import ScanStream, SiteSpec, generate


def _sizes(table: dict[str, bytes]) -> dict[str, list[int]]:
    by_kind: dict[str, list[int]] = defaultdict(list)
    for key, value in table.items():
        by_kind[key.split("|")[1]].append(len(value))
    return by_kind


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--kernel", default=None)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args(argv)
    gen = generate(SiteSpec(items=args.items))
    site = gen.spec.site

    engine = Engine(EngineSettings(track_changes=True, kernel=args.kernel))
    rows = StateRows(engine)
    table: dict[str, bytes] = {}
    changed_s = 0.0
    t0 = time.perf_counter()
    for start in range(0, len(gen.events), 500):
        engine.apply(gen.events[start:start + 500])
        t1 = time.perf_counter()
        fold_rows(table, rows.changed())
        changed_s += time.perf_counter() - t1
    load_s = time.perf_counter() - t0
    print(f"site of {args.items} items: {len(gen.events)} load events in {load_s:.1f} s, "
          f"of which rows {changed_s * 1e3:.0f} ms; {len(table)} rows, {sum(map(len, table.values())) / 1e6:.2f} MB")
    print("| row kind | rows | mean bytes | median | max |\n|---|---|---|---|---|")
    for kind, sizes in sorted(_sizes(table).items()):
        print(f"| {kind} | {len(sizes)} | {statistics.fmean(sizes):.0f} | {statistics.median(sizes):.0f} "
              f"| {max(sizes)} |")

    print("\n| scans per batch | apply µs/batch | changed µs/batch | changed µs/row | rows/batch | bytes/batch |")
    print("|---|---|---|---|---|---|")
    scans = ScanStream(gen)
    for size in (1, 10, 100, 500):
        apply_ns: list[int] = []
        changed_ns: list[int] = []
        written: list[int] = []
        nbytes: list[int] = []
        for _ in range(max(5, args.batches // max(1, size // 10))):
            batch: list[Any] = list(itertools.islice(scans, size))
            t0 = time.perf_counter_ns()
            engine.apply(batch)
            t1 = time.perf_counter_ns()
            changed = rows.changed()
            t2 = time.perf_counter_ns()
            fold_rows(table, changed)
            apply_ns.append(t1 - t0)
            changed_ns.append(t2 - t1)
            written.append(len(changed))
            nbytes.append(sum(len(v) for v in changed.values() if v is not None))
        per_row = statistics.median(c / w for c, w in zip(changed_ns, written, strict=True) if w)
        print(f"| {size} | {statistics.median(apply_ns) / 1e3:.0f} | {statistics.median(changed_ns) / 1e3:.0f} "
              f"| {per_row / 1e3:.1f} | {statistics.median(written):.0f} | {statistics.median(nbytes):.0f} |")

    site_rows = [(k, v) for k, v in table.items()]
    print(f"\nrestore of {len(site_rows)} rows ({sum(len(v) for _, v in site_rows) / 1e6:.2f} MB):")
    for label, kernel in (("rows only (planner off)", "off"), ("rows + re-plan", args.kernel)):
        fresh = Engine(EngineSettings(track_changes=True, kernel=kernel))
        fresh.apply(gen.master)
        restored = StateRows(fresh)
        t0 = time.perf_counter()
        out = restored.restore(site, site_rows)
        elapsed = time.perf_counter() - t0
        print(f"- {label}: {elapsed * 1e3:.0f} ms, {len(out)} outputs")
        assert restored.current_rows(site) == {k: v for k, v in table.items() if k.split("|")[1] != "ids"}


if __name__ == "__main__":
    main()
