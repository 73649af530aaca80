"""The v1 codecs: JSON and msgpack roundtrips, envelopes, and the published JSON Schema."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

import msgspec
import pytest

from helpers import SITE, mk, new_engine, rejected
from millstream.cli import main
from schemas import events as ev
from schemas.codecs import decode_message, decode_output, encode_json, encode_msgpack
from schemas.outputs import Rejected

ROOT = Path(__file__).resolve().parents[2]
EVENT_TYPES = get_args(ev.InputEvent)
TAGS = sorted(t.__struct_config__.tag for t in EVENT_TYPES)


def _samples() -> list:
    """One event of every type, with optional fields set away from their defaults."""
    return [
        mk("item", item="FG", source="make", uom="pcs", lead_time_days=3, safety_stock=2.5, standard_cost=10.25,
           lot_size={"rule": "min_multiple", "min_qty": 10, "multiple": 5}, description="finished"),
        mk("bom", site="S2", item="FG", batch_qty=2, yield_pct=97.5, phantom=False,
           components=[{"item": "RAW-A", "qty_per": 1.5, "scrap_pct": 2}],
           operations=[{"name": "asm", "setup_minutes": 10, "run_minutes_per_unit": 1.25, "rate_per_hour": 60,
                        "work_center": "ASSY"}]),
        mk("receipt", item="RAW-A", qty=12.345678, lot="L1", unit_cost=1.5, po_id="PO-1", status="qc_pending"),
        mk("issue", item="RAW-A", qty=2, lot="L1", demand_id="SO-1", reason="sample"),
        mk("transfer_shipped", transfer_id="T-1", to_site="S2", item="RAW-A", qty=3, lot="L1"),
        mk("transfer_received", site="S2", transfer_id="T-1", item="RAW-A", qty=3, lot="L1"),
        mk("transfer_in_transit", site="S2", transfer_id="T-1", from_site="S1", item="RAW-A", qty=3, lot="L1"),
        mk("count", item="RAW-A", lot="L1", counted_qty=0, status="blocked"),
        mk("quality", item="RAW-A", lot="L1", qty=1, from_status="qc_pending", to_status="available"),
        mk("scrap", item="RAW-A", lot="L1", qty=1, status="rework"),
        mk("production_order", order_id="MO-1", item="FG", qty=10, start=dt.date(2026, 3, 10), status="planned"),
        mk("material_issue", order_id="MO-1", item="RAW-A", qty=4, lot="L1"),
        mk("operation_report", order_id="MO-1", operation="asm", minutes=12.5),
        mk("output", order_id="MO-1", good_qty=9, scrap_qty=1, lot="F1", status="available"),
        mk("purchase_order", po_id="PO-1", item="RAW-A", qty=100, unit_price=1.25, supplier="Acme", status="open"),
        mk("demand", demand_id="SO-1", item="FG", qty=5, kind="forecast", customer="Clinic"),
        mk("work_center", site="S2", work_center="ASSY", minutes_per_day=450, efficiency_pct=85.5,
           working_days=[1, 2, 3, 4, 5], description="assembly line"),
    ]


SAMPLES = _samples()


def test_samples_cover_every_event_type():
    assert sorted(type(e).__struct_config__.tag for e in SAMPLES) == TAGS
    assert len(TAGS) == 17


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_json_roundtrip(event):
    data = encode_json(event)
    assert json.loads(data)["type"] == type(event).__struct_config__.tag
    (decoded,) = decode_message(data)
    assert decoded == event
    assert encode_json(decoded) == data


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_msgpack_roundtrip(event):
    data = encode_msgpack(event)
    (decoded,) = decode_message(data)
    assert not isinstance(decoded, Rejected)
    assert decoded == event
    assert encode_msgpack(decoded) == data


def test_json_and_msgpack_copies_give_the_same_site_date():
    """msgpack carries the UTC instant; a site's date is the UTC date, so JSON and msgpack copies agree."""
    event = mk("receipt", item="RAW-A", qty=1, lot="L1",
               ts=dt.datetime(2026, 3, 2, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    (decoded,) = decode_message(encode_msgpack(event))
    assert decoded.ts == event.ts  # msgpack carries the UTC instant; sites plan by the UTC date
    via_json, via_msgpack = new_engine(), new_engine()
    via_json.apply(decode_message(encode_json(event)))
    via_msgpack.apply([decoded])
    assert via_json.sites[SITE].today == via_msgpack.sites[SITE].today == dt.date(2026, 3, 1)


def test_msgpack_timestamp_as_string_is_the_same_instant():
    data = msgspec.msgpack.encode({"type": "receipt", "event_id": "a", "ts": "2026-03-02T00:30:00+01:00",
                                   "site": SITE, "item": "RAW-A", "qty": 1, "lot": "L1"})
    (decoded,) = decode_message(data)
    assert decoded.ts == dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("encode", [encode_json, encode_msgpack], ids=["json", "msgpack"])
def test_envelope_fills_in_site_and_keeps_master_data_global(encode):
    events = [msgspec.structs.replace(SAMPLES[2], site=None), SAMPLES[0], SAMPLES[3]]
    envelope = {"type": "envelope", "site": SITE, "events": [msgspec.to_builtins(e) for e in events]}
    decoded = decode_message(encode(envelope), source="p0:7")
    assert not rejected(decoded)
    assert [type(e) for e in decoded] == [ev.Receipt, ev.Item, ev.Issue]
    assert decoded[0].site == SITE and decoded[0] == SAMPLES[2]
    assert decoded[1].site is None and decoded[1] == SAMPLES[0]
    assert decoded[2] == SAMPLES[3]


def test_envelope_rejections_name_their_position():
    envelope = {"type": "envelope", "site": SITE,
                "events": [msgspec.to_builtins(SAMPLES[2]), {"type": "envelope", "site": SITE, "events": []}, 7]}
    decoded = decode_message(encode_json(envelope), source="p0:7")
    assert decoded[0] == SAMPLES[2]
    assert isinstance(decoded[1], Rejected) and decoded[1].source == "p0:7#1"
    assert "unknown event type: envelope" in decoded[1].reason
    assert isinstance(decoded[2], Rejected) and decoded[2].source == "p0:7#2"
    (lone,) = decode_message(encode_json({"type": "envelope", "site": SITE, "events": [7]}))
    assert lone.source == "#0"


def test_envelope_without_site_is_rejected():
    (bad,) = decode_message(b'{"type":"envelope","events":[]}')
    assert isinstance(bad, Rejected) and "`site`" in bad.reason


def test_rejected_output_roundtrips_through_output_decoder():
    (bad,) = decode_message(b'{"type":"receipt"}', source="f:1")
    again = decode_output(encode_json(bad))
    assert isinstance(again, Rejected) and again.reason == bad.reason and again.source == "f:1"
    assert again.event == {"type": "receipt"}


def _schema_tags(schema: dict) -> set[str]:
    mapping = schema["discriminator"]["mapping"]
    tags = set(mapping)
    for ref in mapping.values():
        definition = schema["$defs"][ref.rsplit("/", 1)[1]]
        assert definition["properties"]["type"]["enum"] == [next(t for t, r in mapping.items() if r == ref)]
    return tags


def test_schema_command_lists_every_event_type(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert _schema_tags(schema) == set(TAGS)
    receipt = schema["$defs"]["Receipt"]
    assert {"event_id", "ts", "item", "qty", "lot"} <= set(receipt["required"])


def test_schema_command_as_a_process():
    result = subprocess.run([sys.executable, "-m", "millstream.cli", "schema"], cwd=ROOT, capture_output=True,
                            check=True, timeout=60)
    assert _schema_tags(json.loads(result.stdout)) == set(TAGS)


def test_schema_command_for_outputs_and_envelope(capsys):
    assert main(["schema", "output"]) == 0
    output_schema = json.loads(capsys.readouterr().out)
    assert {"rejected", "planned_order", "shortage"} <= set(output_schema["discriminator"]["mapping"])
    assert main(["schema", "envelope"]) == 0
    envelope = json.loads(capsys.readouterr().out)
    assert "events" in json.dumps(envelope) and "site" in json.dumps(envelope)
