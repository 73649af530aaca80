"""Bad input of every kind: rejected with a reason naming the problem, the original kept,
and the next good event still applied."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from core.reports import report
from helpers import SITE, new_engine, q, rejected, to_json
from schemas.codecs import MAX_MESSAGE_BYTES, decode_message, encode_json
from schemas.outputs import Rejected

TS = "2026-03-02T09:00:00+01:00"
_ids = iter(range(1, 10**6))


def _receipt(**fields: Any) -> dict[str, Any]:
    data = {"type": "receipt", "event_id": f"r-{next(_ids)}", "ts": TS, "site": SITE,
            "item": "RAW-A", "qty": 5, "lot": "L1"}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def _bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def _feed(engine, data: bytes, finish: bool = False) -> Rejected:
    """Decode and apply one message; exactly one rejection is expected."""
    outputs = engine.apply(decode_message(data, source="test:1"))
    if finish:
        outputs += engine.finish()
    bad = rejected(outputs)
    assert len(bad) == 1, [b.reason for b in bad]
    assert to_json(bad)                       # the rejection can be published as JSON
    return bad[0]


def _good_event_still_applies(engine) -> None:
    before = engine.sites[SITE].stock.physical("RAW-A") if SITE in engine.sites else 0
    outputs = engine.apply(decode_message(_bytes(_receipt(qty=1, lot="GOOD")), source="test:2"))
    assert not rejected(outputs)
    assert engine.sites[SITE].stock.physical("RAW-A") == before + q(1)


def _raw_text(event: Any) -> bytes:
    if isinstance(event, msgspec.Raw):
        return bytes(event)
    return event.encode() if isinstance(event, str) else encode_json(event)


# --- decoding -------------------------------------------------------------------------


def test_malformed_json():
    engine = new_engine()
    data = b'{"type": "receipt", "event_id": "x1", "qty": 5,'
    bad = _feed(engine, data)
    assert bad.reason.startswith("malformed message") and bad.source == "test:1"
    assert _raw_text(bad.event) == data
    _good_event_still_applies(engine)


def test_msgpack_garbage():
    engine = new_engine()
    data = b"\xc1\x00\xff\x93"
    bad = _feed(engine, data)
    assert bad.reason.startswith("malformed message") and "MessagePack" in bad.reason
    assert bad.event == "base64:wQD/kw=="  # the original bytes, exactly
    _good_event_still_applies(engine)


def test_msgpack_extension_value_rejection_is_publishable():
    """Valid msgpack that is not an event (an extension value) must still give a JSON-able rejection."""
    engine = new_engine()
    data = msgspec.msgpack.encode({"type": "receipt", "x": msgspec.msgpack.Ext(5, b"zz")})
    outputs = engine.apply(decode_message(data, source="test:1"))
    bad = rejected(outputs)
    assert len(bad) == 1 and "invalid event" in bad[0].reason
    encode_json(bad[0])
    _good_event_still_applies(engine)


def test_msgpack_string_that_is_not_utf8():
    """decode_message promises never to raise; a msgpack str with invalid UTF-8 must be rejected."""
    engine = new_engine()
    data = b"\xa1\x80"                     # msgpack fixstr of length 1 holding the byte 0x80
    bad = _feed(engine, data)
    assert "malformed" in bad.reason or "invalid" in bad.reason
    _good_event_still_applies(engine)


def test_unknown_type():
    engine = new_engine()
    data = _bytes(_receipt(type="teleport"))
    bad = _feed(engine, data)
    assert bad.reason == "unknown event type: teleport"
    assert _raw_text(bad.event) == data
    _good_event_still_applies(engine)


def test_missing_field():
    engine = new_engine()
    data = _bytes(_receipt(lot=None))
    bad = _feed(engine, data)
    assert "missing required field `lot`" in bad.reason
    assert json.loads(_raw_text(bad.event)) == json.loads(data)
    _good_event_still_applies(engine)


def test_mistyped_field():
    engine = new_engine()
    data = _bytes(_receipt(qty="ten"))
    bad = _feed(engine, data)
    assert "`$.qty`" in bad.reason and "got `str`" in bad.reason
    assert json.loads(_raw_text(bad.event))["qty"] == "ten"
    _good_event_still_applies(engine)


@pytest.mark.parametrize("qty", [-5, 0])
def test_negative_and_zero_qty(qty):
    engine = new_engine()
    data = _bytes(_receipt(qty=qty))
    bad = _feed(engine, data)
    assert ">= 1e-06" in bad.reason and "`$.qty`" in bad.reason
    assert json.loads(_raw_text(bad.event))["qty"] == qty
    assert engine.sites.get(SITE) is None or engine.sites[SITE].stock.physical("RAW-A") == 0
    _good_event_still_applies(engine)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_inf_quantities_in_msgpack(value):
    engine = new_engine()
    data = msgspec.msgpack.encode(_receipt(qty=value))
    bad = _feed(engine, data)
    assert "`$.qty`" in bad.reason
    assert bad.event["event_id"].startswith("r-") and bad.event["item"] == "RAW-A"
    _good_event_still_applies(engine)


def test_nan_counted_qty_in_msgpack():
    engine = new_engine()
    data = msgspec.msgpack.encode({"type": "count", "event_id": "c-1", "ts": TS, "site": SITE, "item": "RAW-A",
                                   "lot": "L1", "counted_qty": float("nan")})
    bad = _feed(engine, data)
    assert "`$.counted_qty`" in bad.reason and bad.event["event_id"] == "c-1"
    _good_event_still_applies(engine)


def test_timestamp_without_zone():
    engine = new_engine()
    data = _bytes(_receipt(ts="2026-03-02T09:00:00"))
    bad = _feed(engine, data)
    assert "timezone" in bad.reason and "`$.ts`" in bad.reason
    assert json.loads(_raw_text(bad.event))["ts"] == "2026-03-02T09:00:00"
    _good_event_still_applies(engine)


def test_oversized_message():
    engine = new_engine()
    data = _bytes(_receipt(filler="x" * (MAX_MESSAGE_BYTES + 10)))
    bad = _feed(engine, data)
    assert bad.reason.startswith("message too large") and str(len(data)) in bad.reason
    assert isinstance(bad.event, str) and data.decode().startswith(bad.event)
    _good_event_still_applies(engine)


def test_deeply_nested_json():
    engine = new_engine()
    depth = 100_000
    data = b'{"type":"envelope","site":"S1","events":[' + b"[" * depth + b"]" * depth + b"]}"
    bad = _feed(engine, data)
    assert "depth" in bad.reason or "recursion" in bad.reason
    assert _raw_text(bad.event)[:40] == data[:40]
    _good_event_still_applies(engine)


def test_deeply_nested_unknown_field():
    engine = new_engine()
    depth = 100_000
    data = b'{"type":"receipt","junk":' + b"[" * depth + b"]" * depth + b"}"
    bad = _feed(engine, data)
    assert bad.reason.startswith(("malformed message", "invalid event"))
    _good_event_still_applies(engine)


# --- against the ledger -----------------------------------------------------------------


def test_unknown_item():
    engine = new_engine()
    data = _bytes(_receipt(item="GHOST"))
    bad = _feed(engine, data, finish=True)
    assert "unknown item 'GHOST'" in bad.reason
    assert bad.event.item == "GHOST" and bad.site == SITE
    _good_event_still_applies(engine)


def test_unknown_order():
    engine = new_engine()
    data = _bytes({"type": "material_issue", "event_id": "m-1", "ts": TS, "site": SITE,
                   "order_id": "MO-404", "item": "RAW-A", "qty": 1})
    bad = _feed(engine, data, finish=True)
    assert "unknown production order 'MO-404'" in bad.reason and bad.event.order_id == "MO-404"
    _good_event_still_applies(engine)


def test_issue_larger_than_available():
    engine = new_engine()
    engine.apply(decode_message(_bytes(_receipt(qty=3))))
    data = _bytes({"type": "issue", "event_id": "i-1", "ts": TS, "site": SITE, "item": "RAW-A", "qty": 4})
    bad = _feed(engine, data)
    assert "insufficient available stock" in bad.reason and "'RAW-A'" in bad.reason
    assert bad.event.qty == 4
    assert engine.sites[SITE].stock.physical("RAW-A") == q(3)
    _good_event_still_applies(engine)


def test_illegal_status_move():
    engine = new_engine()
    engine.apply(decode_message(_bytes(_receipt(qty=3))))
    data = _bytes({"type": "quality", "event_id": "k-1", "ts": TS, "site": SITE, "item": "RAW-A", "lot": "L1",
                   "qty": 1, "from_status": "available", "to_status": "rejected"})
    bad = _feed(engine, data)
    assert bad.reason == "illegal status move available -> rejected" and bad.event.event_id == "k-1"
    _good_event_still_applies(engine)


def test_duplicate_event_id_is_ignored():
    engine = new_engine()
    first = _receipt(event_id="dup-1", qty=3)
    engine.apply(decode_message(_bytes(first)))
    before = {name: report(engine, name) for name in ("stock", "availability", "orders")}
    data = _bytes({**first, "qty": 7, "lot": "L2"})
    bad = _feed(engine, data)
    assert "duplicate event_id 'dup-1'" in bad.reason and bad.event.qty == 7
    assert {name: report(engine, name) for name in before} == before
    _good_event_still_applies(engine)


def test_rejected_far_future_event_does_not_forget_applied_ids():
    """Event ids are remembered for a window of event time; a *rejected* event with a mistyped
    far-future time must not push that window on, or re-sent events are applied twice."""
    engine = new_engine()
    first = _receipt(event_id="dup-2", qty=3)
    engine.apply(decode_message(_bytes(first)))
    typo = _bytes({"type": "quality", "event_id": "k-2", "ts": "2027-03-02T09:00:00+01:00", "site": SITE,
                   "item": "RAW-A", "lot": "L1", "qty": 1, "from_status": "available", "to_status": "rework"})
    assert "illegal status move" in _feed(engine, typo).reason
    bad = _feed(engine, _bytes(first))
    assert "duplicate event_id 'dup-2'" in bad.reason
    assert engine.sites[SITE].stock.physical("RAW-A") == q(3)


def test_event_without_site():
    engine = new_engine()
    data = _bytes(_receipt(site=None))
    bad = _feed(engine, data)
    assert bad.reason == "receipt event needs a site" and bad.event.site is None
    _good_event_still_applies(engine)


def test_envelope_with_one_bad_event_rejects_only_that_one():
    engine = new_engine()
    events = [_receipt(lot="E1"), _receipt(lot="E2", qty=-1), _receipt(lot="E3", site=None)]
    data = _bytes({"type": "envelope", "site": SITE, "events": [{**e, "site": SITE} if i == 0 else e
                                                              for i, e in enumerate(events)]})
    outputs = engine.apply(decode_message(data, source="topic:0:42"))
    bad = rejected(outputs)
    assert len(bad) == 1 and bad[0].source == "topic:0:42#1"
    assert "`$.qty`" in bad[0].reason and json.loads(_raw_text(bad[0].event))["lot"] == "E2"
    stock = engine.sites[SITE].stock
    assert (stock.lot_qty("RAW-A", "E1", "available"), stock.lot_qty("RAW-A", "E3", "available")) == (q(5), q(5))
    _good_event_still_applies(engine)


def test_envelope_event_for_another_site_is_rejected():
    engine = new_engine()
    data = _bytes({"type": "envelope", "site": SITE, "events": [_receipt(site="S9"), _receipt(lot="OK")]})
    bad = rejected(engine.apply(decode_message(data)))
    assert len(bad) == 1 and "'S9'" in bad[0].reason and "'S1'" in bad[0].reason
    assert "S9" not in engine.sites
    assert engine.sites[SITE].stock.lot_qty("RAW-A", "OK", "available") == q(5)


def test_quantity_below_one_micro_unit_is_rejected_not_rounded_away():
    engine = new_engine()
    bad = _feed(engine, json.dumps({"type": "receipt", "event_id": "tiny", "ts": "2026-03-02T08:00:00+01:00",
                                    "site": SITE, "item": "RAW-A", "qty": 1e-7, "lot": "L1"}).encode())
    assert "qty" in bad.reason
    _good_event_still_applies(engine)
