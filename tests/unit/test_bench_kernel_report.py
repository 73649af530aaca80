"""The kernel benchmark's report of (c): medians of the cold runs, and how far apart the runs were."""

from __future__ import annotations

import argparse

from bench.regenerate import RegenRun
from bench.report import Report


def _run(items: int, kernel: str, seconds: float, warm: float) -> RegenRun:
    run = RegenRun(items, kernel, seconds, seconds, 0.0, items, 90 * items, 91 * items)
    run.warm_seconds, run.warm_outputs = warm, 0
    return run


def test_regenerative_runs_are_reported_by_their_median_and_the_ratio_compares_medians() -> None:
    report = Report(args=argparse.Namespace())
    report.regens = [_run(10_000, "cython", s, w) for s, w in ((0.88, 0.13), (0.50, 0.19), (0.53, 0.12))]
    report.regens += [_run(10_000, "python", s, w) for s, w in ((15.0, 3.0), (16.0, 3.3), (14.0, 3.9))]
    groups = report._regen_groups()
    assert [r.seconds for r in groups[(10_000, "cython")]] == [0.88, 0.50, 0.53]

    ratios = report._ratio_table()
    assert "| (c) regenerate 10,000 items | 0.53 s | 15.00 s | 28.3x |" in ratios
    assert "| (c) regenerate 10,000 items, warm | 0.13 s | 3.30 s | 25.4x |" in ratios
    assert report.regen_spread() == ["(c) 10,000 items, cython, cold runs in order: 0.88 / 0.50 / 0.53 s",
                                     "(c) 10,000 items, python, cold runs in order: 15.00 / 16.00 / 14.00 s"]


def test_the_whole_report_renders_from_a_tiny_run() -> None:
    """Every phase on a 300-item site: the report a full run prints has all its tables (no timing asserted)."""
    from bench.kernel import parse_args, run

    report = run(parse_args(["--kernel", "both", "--items", "300", "--regen-items", "0", "--seconds", "0.5",
                             "--breakdown-seconds", "0.2", "--centers", "0", "--micro-items", "1", "--no-profile",
                             "--scan-events", "50", "--order-events", "20", "--regen-runs", "2"]))
    text = report.markdown()
    for row in ("| (a) stock scan | cython |", "| (a) stock scan | python |", "| (b) new sales order | cython |",
                "| (c) regenerate 300 items (cold) | cython | 2 runs |", "| (c) regenerate 300 items (cold) | python |",
                "| (d) memory per item | cython |", "| (c) regenerate 300 items |", "(c) 300 items, python, cold runs"):
        assert row in text, row
