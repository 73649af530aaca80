"""Alert rules and the Grafana dashboard name only metrics and labels a worker really exports.

``promtool`` is not on PyPI, so the rules are checked here: each expression's
metric names and label names (matchers, ``by``/``on`` lists) must be among
those a worker's registry exports once the sample factory has run through a
metered processor and the app-set metrics have values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_metrics import run_sample

from monitoring.metrics import Metrics
from monitoring.worker import MetricsSensor

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "monitoring" / "prometheus"
GRAFANA = ROOT / "monitoring" / "grafana"
#: added by Prometheus itself: the scrape target's job and instance, ``up``, and ``le`` of histogram buckets
BUILTIN_METRICS = {"up"}
BUILTIN_LABELS = {"job", "instance"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
            "group_right", "inf", "nan"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def exported() -> dict[str, set[str]]:
    """Series name -> label names, from a worker registry with every metric exercised."""
    metrics = Metrics()
    run_sample(metrics)
    metrics.skipped("millstream.inventory")   # as the processor does after a restart (tests/unit/test_processor.py)
    metrics.set_lag({("millstream.inventory", 0): 3})
    metrics.reread("millstream.inventory")   # as streams/durable.py does for an input stalled past its commit
    metrics.set_state_size("sites", 10, 2048)
    with metrics.restoring("sites"):
        pass
    sensor = MetricsSensor(metrics)
    sensor.on_rebalance_end(None, sensor.on_rebalance_start(None))
    sensor.on_send_error(None, RuntimeError("down"), sensor.on_send_initiated(None, "millstream.costs", None, 1, 1))
    names: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        assert family.samples, f"{family.name} exports nothing even when exercised"
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


@pytest.fixture(scope="module")
def series() -> dict[str, set[str]]:
    return exported()


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression uses; functions, keywords and durations left out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    labels: set[str] = set()
    for matchers in re.findall(r"\{([^}]*)\}", text):
        labels.update(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        labels.update(name.strip() for name in clause.split(",") if name.strip())
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    metrics = {token for token in re.findall(r"(?<![\w.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()", text)
               if token.lower() not in KEYWORDS and not DURATION.match(token)}
    return metrics, labels


def check(expr: str, series: dict[str, set[str]]) -> None:
    metrics, labels = promql_names(expr)
    assert metrics, f"no metric in {expr!r}"
    unknown = metrics - set(series) - BUILTIN_METRICS
    assert not unknown, f"{expr!r} names metrics no worker exports: {sorted(unknown)}"
    known_labels = set().union(*(series.get(name, set()) for name in metrics)) | BUILTIN_LABELS
    assert labels <= known_labels, f"{expr!r} uses labels {sorted(labels - known_labels)} its metrics lack"


def test_the_promql_reader_finds_metrics_and_labels() -> None:
    metrics, labels = promql_names(
        'histogram_quantile(0.95, sum by (le) (rate(a_seconds_bucket{job="x", t=~"y"}[5m]))) '
        "> 2 * sum by (site) (b offset 30m) + 1e3 and on (instance) up == 0")
    assert metrics == {"a_seconds_bucket", "b", "up"}
    assert labels == {"le", "job", "t", "site", "instance"}
    with pytest.raises(AssertionError, match="no worker exports"):
        check("rate(millstream_events_applyed_total[5m])", {"millstream_events_applied_total": set()})
    with pytest.raises(AssertionError, match="labels"):
        check("sum by (item) (millstream_open_shortages)", {"millstream_open_shortages": {"site"}})


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alert_rules_are_well_formed_and_name_exported_metrics(series: dict[str, set[str]]) -> None:
    found = rules()
    names = [rule["alert"] for rule in found]
    assert len(names) == len(set(names))
    for wanted in ("MillstreamConsumerLagGrowing", "MillstreamRejectRateHigh", "MillstreamStalled",
                   "MillstreamRestoreSlow", "MillstreamShortageSpike"):
        assert wanted in names
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        if "for" in rule:
            assert DURATION.match(rule["for"]), rule["alert"]
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")"), rule["alert"]
        check(expr, series)
    by_name = {rule["alert"]: rule for rule in found}
    assert by_name["MillstreamConsumerLagGrowing"]["for"] == "5m"
    assert "millstream_events_applied_total" in by_name["MillstreamStalled"]["expr"]


def test_prometheus_loads_the_rules_file() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert [Path(p).name for p in config["rule_files"]] == ["alerts.yml"]
    assert [job["job_name"] for job in config["scrape_configs"]] == ["millstream"]
    assert config["scrape_configs"][0]["metrics_path"] == "/metrics"


def dashboard() -> dict[str, Any]:
    return json.loads((GRAFANA / "dashboards" / "millstream.json").read_text())


def test_every_dashboard_panel_queries_exported_metrics(series: dict[str, set[str]]) -> None:
    board = dashboard()
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("throughput", "latency", "lag", "rejects", "shortages by site", "restore"):
        assert topic in titles
    exprs = []
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            exprs.append(target["expr"])
            check(target["expr"], series)
    assert any("histogram_quantile(0.99" in e and "end_to_end_latency_seconds_bucket" in e for e in exprs)


def test_dashboard_panels_do_not_overlap_and_use_the_provisioned_datasource() -> None:
    board = dashboard()
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not mine & cells, panel["title"]
        cells |= mine
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {d["uid"] for d in datasources["datasources"]}
    used = {panel["datasource"]["uid"] for panel in board["panels"]} | {
        t["datasource"]["uid"] for panel in board["panels"] for t in panel["targets"]}
    assert used == uids == {"prometheus"}
