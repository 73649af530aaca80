"""Fuzzing the decoders with mutated valid events: whatever comes in, ``decode_message`` answers.

``tests/property/test_ledger_properties.py`` throws random bytes, JSON and msgpack values and flipped bytes
at the decoder; this module mutates the *structure* of the sample's valid events and envelopes instead
(field deletions, type swaps, huge, negative and non-finite numbers, long strings, deep nesting, other
type tags), in JSON and in msgpack, so the mutants get past the parser into validation and the engine.
The decoder must never raise; it returns, per event, the event or a ``Rejected`` with a reason of a known
kind; accepted events hold the contract (finite, bounded numbers) and round-trip; every output, decoded or
applied by an engine that holds the sample's master data, is publishable and accounted for exactly once.

Deterministic (``derandomize``): CI sees the same examples every run.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.engine import EngineSettings
from fuzz.invariants import check_run, run_batches
from schemas import events as ev
from schemas.codecs import decode_message, decode_output, encode_json, encode_msgpack
from schemas.outputs import Rejected

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SAMPLE = Path(__file__).resolve().parents[2] / "millstream" / "samples" / "hearing_devices.jsonl"
VALID = [e for line in SAMPLE.read_bytes().splitlines() if line.strip() for e in decode_message(line)
         if not isinstance(e, Rejected)]
MASTER = [e for e in VALID if isinstance(e, ev.MASTER_TYPES)]
BASES = [msgspec.to_builtins(e) for e in VALID]   # every type of the sample, as plain dicts
TAGS = [*sorted({cls.__struct_config__.tag for cls in ev.InputEvent.__args__}), "envelope", "teleport"]
REASONS = ("malformed message: ", "invalid event: ", "unknown event type", "event has no `type` field",
           "message too large: ", "empty message", "envelope of site ", "event site ")

poison_values = st.one_of(
    st.sampled_from((None, True, False, "", "x" * 5000, -1, 0, -1e9, 1e-7, 5e-7, 2e9, 1e300, -0.0,
                     float("nan"), float("inf"), float("-inf"), 2**63, 2**64 - 1, 10**30, [], {}, [[]],
                     "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "2026-02-30", "2026-03-02T09:00:00",
                     "9999-12-31", "0001-01-01", "available", "released", "Ω\u0000\ud7ff", 1772438400)),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=300),
    st.sampled_from(TAGS),
    st.integers(1, 300).map(lambda depth: json.loads("[" * depth + "]" * depth)),
).map(copy.deepcopy)   # fresh lists and dicts: mutations must not reach the shared examples


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON-like tree (dict keys and list indexes), the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _swap_type(value: Any) -> Any:
    """The same content in another JSON type."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return 0


@st.composite
def mutated_documents(draw: Any) -> tuple[Any, bool]:
    """A valid event or envelope with 1-4 mutations; True if the envelope wrapper itself was left alone."""
    if draw(st.booleans()):
        document: Any = json.loads(json.dumps(draw(st.sampled_from(BASES))))
    else:
        site = draw(st.sampled_from(("DK1", "US1")))
        events = [json.loads(json.dumps(e)) for e in draw(st.lists(st.sampled_from(BASES), min_size=1, max_size=5))]
        document = {"type": "envelope", "site": site, "events": events}
    wrapper_intact = document.get("type") == "envelope"
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        operation = draw(st.sampled_from(("delete", "replace", "replace", "swap", "add", "long")))
        if not path:   # the root
            document = draw(poison_values) if operation == "replace" else document
            wrapper_intact = wrapper_intact and operation != "replace"
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if wrapper_intact and isinstance(document, dict) and parent is document:
            wrapper_intact = False   # the envelope's own fields changed: it may no longer be one
        if operation == "delete":
            del parent[last]
        elif operation == "replace":
            parent[last] = draw(poison_values)
        elif operation == "swap":
            parent[last] = _swap_type(parent[last])
        elif operation == "add" and isinstance(parent[last], dict):
            parent[last][draw(st.sampled_from(("junk", "qty", "site", "type", "ts", "events")))] = draw(poison_values)
        elif isinstance(parent[last], str) and len(parent[last]) < 300:
            parent[last] = (parent[last] or "x") * draw(st.sampled_from((50, 201, 4000)))
    return document, wrapper_intact


def _encode(document: Any, as_json: bool) -> bytes:
    if as_json:
        return json.dumps(document).encode()   # NaN and Infinity as the tokens some producers write
    try:
        return msgspec.msgpack.encode(document)
    except OverflowError:   # an integer beyond 64 bits has no msgpack form
        return json.dumps(document).encode()


messages = st.tuples(mutated_documents(), st.booleans())


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


@FUZZ
@given(messages)
def test_mutated_events_are_decoded_or_rejected_with_a_reason(message):
    (document, wrapper_intact), as_json = message
    data = _encode(document, as_json)
    decoded = decode_message(data, source="fuzz@0")
    assert isinstance(decoded, list) and decoded
    if wrapper_intact and isinstance(document, dict) and isinstance(document.get("events"), list) \
            and document["events"] and len(data) <= (1 << 20):
        whole = len(decoded) == 1 and getattr(decoded[0], "reason", "").startswith("malformed message")
        assert len(decoded) == len(document["events"]) or whole   # one answer per event, unless it does not parse
    for index, item in enumerate(decoded):
        if isinstance(item, Rejected):
            assert item.reason.startswith(REASONS), item.reason
            assert item.source in ("fuzz@0", f"fuzz@0#{index}")
            assert isinstance(decode_output(encode_json(item)), Rejected)   # publishable as it is
        else:
            assert type(item) in ev.InputEvent.__args__
            assert _finite(msgspec.to_builtins(item)), item
            assert decode_message(encode_json(item)) == [item]
            assert decode_message(encode_msgpack(item)) == [item]


@settings(FUZZ, max_examples=150)
@given(st.lists(messages, min_size=1, max_size=6), st.booleans())
def test_mutated_events_through_the_engine_come_out_exactly_once(messages_, local):
    events: list[Any] = list(MASTER)
    for number, ((document, _), as_json) in enumerate(messages_):
        events += decode_message(_encode(document, as_json), source=f"fuzz@{number}")
    engine, outputs = run_batches(events, [list(range(len(MASTER))), list(range(len(MASTER), len(events)))],
                                  EngineSettings(local_transfers=local))
    check_run(engine, events, outputs)
