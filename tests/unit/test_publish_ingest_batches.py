"""``POST /events`` bodies (connectors/ingest.py ``read_batch``): which events a body holds, which are bad and why."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from connectors.ingest import read_batch
from schemas import events as ev
from schemas.codecs import encode_json

TS = "2026-03-02T08:00:00+01:00"


def receipt(n: int, **extra: Any) -> dict[str, Any]:
    return {"type": "receipt", "event_id": f"r{n}", "ts": TS, "site": "S1", "item": "A", "qty": 1, "lot": "L",
            **extra}


def test_one_event() -> None:
    events, invalid = read_batch(encode_json(receipt(1)))
    assert invalid == [] and [(i, e.event_id) for i, e, _v in events] == [(0, "r1")]
    assert events[0][2] == encode_json(msgspec.convert(receipt(1), ev.InputEvent))   # what goes on the wire


def test_an_array_names_each_bad_event_by_its_index() -> None:
    body = encode_json([receipt(0), receipt(1, qty=-2), receipt(2), {"type": "shipment"},
                        receipt(4, site=None), 7, {"type": "envelope", "site": "S1", "events": []}])
    events, invalid = read_batch(body.replace(b'"site":null,', b""))
    assert [i for i, _e, _v in events] == [0, 2]
    reasons = {row["index"]: row["reason"] for row in invalid}
    assert set(reasons) == {1, 3, 4, 5, 6}
    assert "$.qty" in reasons[1]
    assert reasons[3] == "unknown event type: shipment"
    assert reasons[4] == "event needs a site"
    assert reasons[5].startswith("invalid event")
    assert "envelope cannot sit inside an array" in reasons[6]


def test_an_envelope_body_names_bad_events_by_their_place_in_it() -> None:
    body = encode_json({"type": "envelope", "site": "S1", "events": [
        receipt(0, site=None), receipt(1, site="S9"), receipt(2, lot="")]}).replace(b'"site":null,', b"")
    events, invalid = read_batch(body)
    assert [(i, e.site) for i, e, _v in events] == [(0, "S1")]   # the envelope's site filled in
    assert [row["index"] for row in invalid] == [1, 2]
    assert "differs from envelope site" in invalid[0]["reason"]


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "the body must be a JSON object"),
    (b"receipt,r1", "the body must be a JSON object"),
    (b"[1, 2", "malformed JSON array"),
])
def test_a_body_that_holds_no_events_says_why(body: bytes, reason: str) -> None:
    events, invalid = read_batch(body)
    assert events == [] and invalid[0]["index"] is None and invalid[0]["reason"].startswith(reason)


def test_internal_and_oversized_events_are_refused() -> None:
    transit = {"type": "transfer_in_transit", "event_id": "t", "ts": TS, "site": "S2", "transfer_id": "T",
               "from_site": "S1", "item": "A", "qty": 1, "lot": "L", "arrival": "2026-03-09"}
    huge = {"type": "issue", "event_id": "i", "ts": TS, "site": "S1", "item": "A", "qty": 1, "reason": "x" * 950_000}
    events, invalid = read_batch(encode_json([transit, receipt(1), huge]))
    assert [i for i, _e, _v in events] == [1]
    assert [row["index"] for row in invalid] == [0, 2]
    assert "internal" in invalid[0]["reason"] and invalid[1]["reason"].startswith("event too large")
