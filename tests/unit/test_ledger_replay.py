"""Embedded replay of the bundled sample, and the ``millstream replay`` command."""

from __future__ import annotations

import io
import json
from pathlib import Path

from connectors.replay import replay
from core.engine import Engine
from core.reports import report
from helpers import rejected, to_json
from millstream.cli import main
from schemas.codecs import decode_output, encode_json
from schemas.outputs import Rejected

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "millstream" / "samples" / "hearing_devices.jsonl"
REPORTS = ("stock", "availability", "orders")


def _replay(path: Path = SAMPLE, batch_size: int = 500) -> tuple[bytes, Engine]:
    engine = Engine()
    out = io.BytesIO()
    count = replay(path, engine, out, batch_size=batch_size)
    data = out.getvalue()
    assert count == data.count(b"\n")
    return data, engine


def test_replay_of_the_sample_is_byte_identical_twice():
    first, engine_a = _replay()
    second, engine_b = _replay()
    assert first and first == second
    for name in REPORTS:
        assert encode_json(report(engine_a, name)) == encode_json(report(engine_b, name))


def test_replay_outputs_are_valid_output_events():
    data, _ = _replay()
    outputs = [decode_output(line) for line in data.splitlines()]
    bad = [o for o in outputs if isinstance(o, Rejected)]
    assert bad, "the sample contains deliberately bad lines"
    assert all(o.source and o.source.startswith(SAMPLE.name + ":") for o in bad)
    assert all(o.reason for o in bad)


def test_replay_batch_size_does_not_change_state_or_rejections():
    _, whole = _replay(batch_size=500)
    _, single = _replay(batch_size=1)
    _, sevens = _replay(batch_size=7)
    for name in REPORTS:
        assert report(whole, name) == report(single, name) == report(sevens, name)
    lines = {}
    for size in (500, 1, 7):
        data, _ = _replay(batch_size=size)
        lines[size] = [line for line in data.splitlines() if isinstance(decode_output(line), Rejected)]
    assert lines[500] == lines[1] == lines[7]


def test_cli_replay_prints_stock_report_as_json(capsys):
    assert main(["replay", str(SAMPLE), "--report", "stock", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and rows
    for row in rows:
        assert isinstance(row, dict)
        assert {"site", "item", "lot", "status", "qty"} <= set(row)
        assert isinstance(row["qty"], int | float) and row["qty"] != 0
    _, engine = _replay()
    expected = json.loads(encode_json(report(engine, "stock")))
    assert rows == expected


def test_cli_replay_writes_outputs_file(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(SAMPLE), "--out", str(out), "--report", "orders"]) == 0
    printed = capsys.readouterr().out
    assert "outputs written to" in printed and "== orders" in printed
    written = [decode_output(line) for line in out.read_bytes().splitlines()]
    data, _ = _replay()
    expected = [decode_output(line) for line in data.splitlines()]
    assert to_json(rejected(written)) == to_json(rejected(expected))
    assert rejected(written)


def test_cli_replay_refuses_unknown_report(capsys):
    assert main(["replay", str(SAMPLE), "--report", "nonsense"]) == 2
    assert "unknown report 'nonsense'" in capsys.readouterr().err


def test_replay_goes_on_after_a_garbage_line(tmp_path):
    good = SAMPLE.read_bytes().splitlines()[:8]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([good[0], b"\xc1 not json, not msgpack", *good[1:]]) + b"\n")
    data, engine = _replay(path)
    bad = [decode_output(line) for line in data.splitlines()]
    assert len(rejected(bad)) == 1 and bad[0].source == "events.jsonl:2"
    assert len(engine.master.items) == 8


def test_replay_goes_on_after_a_binary_line_that_is_valid_msgpack(tmp_path):
    """A JSONL line that happens to be valid msgpack (here an extension value) must become a
    rejection like any other garbage, not stop the replay."""
    good = SAMPLE.read_bytes().splitlines()[:8]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([good[0], b"\xd4\x05a", *good[1:]]) + b"\n")
    data, engine = _replay(path)
    bad = [decode_output(line) for line in data.splitlines()]
    assert len(rejected(bad)) == 1 and bad[0].source == "events.jsonl:2"
    assert len(engine.master.items) == 8
