"""Pieces of the service benchmark (bench/service) that decide what is measured; no broker, no timings."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import pytest

from bench.service import spec as spec_module
from bench.service.latency import percentiles
from bench.service.preload import frames, offset_events, prepare
from bench.service.report import _outputs_by_type, capacity
from bench.service.run import summarise
from bench.service.spec import BenchSpec
from schemas.codecs import decode_message
from schemas.outputs import Rejected
from streams.routing import site_partition

SPEC = BenchSpec(sites=2, items=200, depth=3, events=3000, partitions=4, envelope_size=25)


@pytest.fixture
def preloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr(spec_module, "CACHE", tmp_path)
    return prepare(SPEC, log=lambda _text: None)


def test_both_variants_hold_the_same_events_in_each_sites_order(preloads: dict) -> None:
    """The envelopes hold exactly the single messages' events, per topic and site in the same order, at most
    ``envelope_size`` each; every event is valid; master data comes first, one per message."""
    sequences: dict[str, dict[tuple[str, str], list[bytes]]] = {}
    for name, preload in preloads.items():
        per_site: dict[tuple[str, str], list[bytes]] = defaultdict(list)
        seen_site = False
        for short, events, key, value in frames(preload.path):
            decoded = decode_message(value)
            assert len(decoded) == events and not [e for e in decoded if isinstance(e, Rejected)]
            if short == "master":
                assert not seen_site and events == 1
                continue
            seen_site = True
            assert events <= (SPEC.envelope_size if name == "envelopes" else 1)
            assert {e.site for e in decoded} == {key.decode()}
            per_site[(short, key.decode())].extend(e.event_id.encode() for e in decoded)
        sequences[name] = dict(per_site)
        assert preload.site_events == SPEC.events
    assert sequences["single"] == sequences["envelopes"]
    assert preloads["single"].events == preloads["envelopes"].events
    assert preloads["envelopes"].site_messages < preloads["single"].site_messages / 5


def test_a_spec_gives_the_same_bytes_and_the_cache_is_reused(preloads: dict, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    again_dir = tmp_path / "again"
    monkeypatch.setattr(spec_module, "CACHE", again_dir)
    again = prepare(SPEC, log=lambda _text: None)
    for name in preloads:
        assert again[name].path.read_bytes() == preloads[name].path.read_bytes()
    before = again["single"].path.stat().st_mtime_ns
    assert prepare(SPEC, log=lambda _text: None)["single"].path.stat().st_mtime_ns == before   # read back


def test_offset_index_counts_each_messages_events_where_it_lands(preloads: dict) -> None:
    preload = preloads["envelopes"]
    index = offset_events(preload, SPEC.partitions)
    assert sum(sum(events) for events in index.values()) == SPEC.events
    for (_short, partition), events in index.items():
        assert all(1 <= n <= SPEC.envelope_size for n in events) and partition < SPEC.partitions
    sites = {key.decode() for short, _n, key, _v in frames(preload.path) if short != "master"}
    assert {p for _s, p in index} == {site_partition(site, SPEC.partitions) for site in sites}


def test_percentiles_are_nearest_rank() -> None:
    values = [i / 1000 for i in range(1, 1001)]   # 1 ms .. 1000 ms
    assert percentiles(values) == {"p50": 0.5, "p99": 0.99, "p99.9": 0.999}
    assert percentiles([0.2]) == {"p50": 0.2, "p99": 0.2, "p99.9": 0.2}
    assert all(math.isnan(v) for v in percentiles([]).values())


def test_summary_takes_the_median_of_the_runs_and_the_capacity_model_follows_it() -> None:
    rows = [{"arm": "E", "variant": "envelopes", "events_per_s": v} for v in (9000.0, 7000.0, 8000.0)]
    volume = {"planned-orders": [200, 40_000], "bench-worker-state-changelog": [100, 30_000]}
    rows[0] |= {"volume": volume, "vmrss": 2**29}
    summary = summarise(rows)
    assert summary["envelopes"]["E"]["median"] == 8000.0
    data = {"summary": summary, "arms": rows, "describe": "x",
            "preload": {"envelopes": {"site_events": 1000, "value_bytes": 150_000}}}
    model = capacity(data)
    assert model is not None
    assert model["workers"] == math.ceil(1_000_000 / (8000 * 0.7))    # 179
    assert model["bytes_per_event"] == {"input": 150.0, "outputs": 40.0, "changelog": 30.0}
    assert model["produce_mb_s"] == pytest.approx(220.0)
    assert model["partitions"] == 512 and model["brokers"] == 3


def test_the_report_counts_what_each_worker_published_by_type_and_per_event() -> None:
    rows = [{"arm": "E", "variant": "envelopes", "run": 1, "events": 1000,
             "outputs_by_type": {"exception": 420, "planned_order": 300}},
            {"arm": "D", "variant": "envelopes", "run": 1, "events": 1000, "outputs_by_type": {"cost": 5}},
            {"arm": "C", "variant": "envelopes", "run": 1, "events": 1000}]
    lines = _outputs_by_type({"arms": rows})
    assert lines[3] == "| arm | variant | run | cost | exception | planned_order | all |"
    assert lines[5] == "| E | envelopes | 1 | 0 (0.00) | 420 (0.42) | 300 (0.30) | 720 (0.72) |"
    assert lines[6] == "| D | envelopes | 1 | 5 (0.01) | 0 (0.00) | 0 (0.00) | 5 (0.01) |"
    assert len(lines) == 7, "an arm that publishes nothing of its own (C) has no row"
