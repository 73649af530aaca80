"""``millstream run`` as a user runs it: the sample factory published, its outputs shown as they arrive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_run_shows_shortages_planned_orders_and_costs(bootstrap: str, port_range: Any, tmp_path: Path) -> None:
    prefix = f"run{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MILLSTREAM_BOOTSTRAP": bootstrap, "MILLSTREAM_WEB_PORT": str(port_range(1)),
           "MILLSTREAM_DATA_DIR": str(tmp_path), "MILLSTREAM_PARTITIONS": "2"}
    done = subprocess.run([sys.executable, "-m", "millstream.cli", "run", "--seconds", "40", "--prefix", prefix],
                          cwd=ROOT, env=env, capture_output=True, timeout=240)
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()
    assert "starting Apache Kafka" not in out          # a broker answered: the command uses it, never stops it
    assert "/sites/US1/shortages" in out and "published 105 events" in out   # the first site of the file
    lines = out.splitlines()
    shortages = [line for line in lines if line.startswith("SHORTAGE  DK1 SUB-CORE open")]
    assert shortages and "planned_order HA-100@" in shortages[0]
    assert any(line.startswith("PLANNED   DK1 HA-100@") for line in lines)
    assert any(line.startswith("COST      DK1 HA-100: unit") for line in lines)
    assert any(line.startswith("REJECTED  ") and "duplicate event_id 'ev-0013'" in line for line in lines)
    assert lines[-1].startswith("seen: ") and "planned_order" in lines[-1]


def test_run_can_show_a_simulated_factory_instead(bootstrap: str, port_range: Any, tmp_path: Path) -> None:
    prefix = f"sim{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MILLSTREAM_BOOTSTRAP": bootstrap, "MILLSTREAM_WEB_PORT": str(port_range(1)),
           "MILLSTREAM_DATA_DIR": str(tmp_path), "MILLSTREAM_PARTITIONS": "2"}
    done = subprocess.run([sys.executable, "-m", "millstream.cli", "run", "--simulate", "2,300,7", "--seconds", "40",
                           "--prefix", prefix], cwd=ROOT, env=env, capture_output=True, timeout=240)
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()
    generated = (tmp_path / prefix / "simulated.jsonl").read_bytes().splitlines()
    assert f"published {len(generated)} events of simulated.jsonl (0 invalid" in out
    first = next(json.loads(line) for line in generated if json.loads(line).get("site"))
    assert f"/sites/{first['site']}/shortages" in out        # example URLs name the simulated factory
    lines = out.splitlines()
    assert any(line.startswith("PLANNED   ") for line in lines) and any(line.startswith("COST      ") for line in lines)
    assert not any(line.startswith("REJECTED  ") for line in lines)   # the simulator's stock keeps it consistent
