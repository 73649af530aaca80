"""Envelope packing and the publish checks (connectors/publisher.py), no broker: what each message holds."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
import pytest

from connectors.publisher import (
    MAX_SEND_BYTES,
    Message,
    Packer,
    encode_for_sending,
    json_lines_records,
    route,
    send_limit,
)
from millstream.settings import Settings
from schemas import events as ev
from schemas.codecs import decode_message, encode_json

SAMPLE = Path(__file__).resolve().parents[2] / "millstream" / "samples" / "hearing_devices.jsonl"
SETTINGS = Settings(topic_prefix="t", envelope_size=4, envelope_linger_ms=1000)
TS = "2026-03-02T08:00:00+01:00"


def receipt(n: int, site: str = "S1", **extra: Any) -> Any:
    return msgspec.convert({"type": "receipt", "event_id": f"r{n}", "ts": TS, "site": site, "item": "A",
                            "qty": 1, "lot": f"L{n}", **extra}, ev.InputEvent)


def pack(events: list[Any], settings: Settings = SETTINGS, envelopes: bool = True) -> list[Message]:
    packer = Packer(settings, envelopes)
    messages = []
    for origin, event in enumerate(events):
        value = encode_for_sending(event)
        assert isinstance(value, bytes)
        messages.extend(packer.add(event, value, origin))
    return messages + packer.drain()


def sample_events() -> list[Any]:
    return [e for _n, e in json_lines_records(SAMPLE.read_bytes().splitlines()) if not isinstance(e, str)]


def test_the_sample_packs_into_envelopes_of_one_site_and_topic_in_file_order() -> None:
    events = sample_events()
    messages = pack(events)
    per_slot: dict[tuple[str, str | None], list[Any]] = defaultdict(list)
    for message in messages:
        decoded = decode_message(message.value)
        assert [e.event_id for e in decoded] == [events[i].event_id for i in message.origins]
        if message.envelope:
            assert message.value.startswith(b'{"type":"envelope"') and 1 <= len(decoded) <= 4
            assert {e.site for e in decoded} == {message.key.decode()}
            assert {route(e, SETTINGS)[0] for e in decoded} == {message.topic}
        else:   # master data: one per message, keyed by what it describes
            (event,) = decoded
            assert isinstance(event, ev.MASTER_TYPES) and (message.topic, message.key) == route(event, SETTINGS)
        for event in decoded:
            per_slot[(message.topic, event.site)].append(event)
    expected: dict[tuple[str, str | None], list[Any]] = defaultdict(list)
    for event in events:
        expected[(route(event, SETTINGS)[0], event.site)].append(event)
    assert per_slot == expected   # every event once, each site's events of a topic in file order
    assert sum(m.envelope for m in messages) < len(events) - 11   # fewer messages than events


def test_an_envelope_closes_at_envelope_size() -> None:
    messages = pack([receipt(n) for n in range(10)])
    assert [m.origins for m in messages] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_no_envelopes_sends_one_event_per_message() -> None:
    events = [receipt(n, site=f"S{n % 2}") for n in range(5)]
    messages = pack(events, envelopes=False)
    assert [m.origins for m in messages] == [[n] for n in range(5)]
    assert [m.value for m in messages] == [encode_json(e) for e in events]
    assert [m.key for m in messages] == [b"S0", b"S1", b"S0", b"S1", b"S0"]


def test_linger_sends_the_envelopes_whose_first_event_waited_long_enough() -> None:
    packer = Packer(SETTINGS)   # linger 1 s
    first, second, third = receipt(1, "S1"), receipt(2, "S2"), receipt(3, "S1")
    assert packer.add(first, encode_for_sending(first), 1, now=10.0) == []
    assert packer.add(second, encode_for_sending(second), 2, now=10.5) == []
    assert packer.add(third, encode_for_sending(third), 3, now=10.9) == []
    assert packer.due(10.99) == []
    (s1,) = packer.due(11.0)          # S1 opened at 10.0: its two events go; S2 waits on
    assert (s1.key, s1.origins) == (b"S1", [1, 3])
    (s2,) = packer.due(11.5)
    assert (s2.key, s2.origins) == (b"S2", [2])
    assert packer.drain() == []


def test_envelopes_stay_under_the_message_limit_and_a_big_event_goes_alone_in_its_place() -> None:
    settings = dataclasses.replace(SETTINGS, envelope_size=1000)

    def issue(n: int, note: int) -> Any:
        return msgspec.convert({"type": "issue", "event_id": f"i{n}", "ts": TS, "site": "S1", "item": "A",
                                "qty": 1, "reason": "y" * note}, ev.InputEvent)

    heavy = [issue(n, 350_000) for n in range(4)]   # two fit under the limit, three do not
    messages = pack(heavy, settings)
    assert [m.origins for m in messages] == [[0, 1], [2, 3]]
    assert all(m.envelope and len(m.value) <= MAX_SEND_BYTES for m in messages)
    # an event too big to share a message closes its slot's envelope first, so the order holds
    probe = issue(2, MAX_SEND_BYTES - 200)
    big = issue(2, MAX_SEND_BYTES - 200 + MAX_SEND_BYTES - len(encode_json(probe)) - 10)   # 10 bytes under
    assert len(encode_json(big)) == MAX_SEND_BYTES - 10
    events = [receipt(0), receipt(1), big, receipt(3)]
    messages = pack(events, settings)
    assert [(m.origins, m.envelope) for m in messages] == [([0, 1], True), ([2], False), ([3], True)]


@pytest.mark.parametrize(("data", "reason"), [
    ({"type": "receipt", "item": "A", "qty": 1, "lot": "L"}, "event needs a site"),
    ({"type": "transfer_in_transit", "site": "S2", "transfer_id": "T", "from_site": "S1", "item": "A", "qty": 1,
      "lot": "L", "arrival": "2026-03-09"}, "transfer_in_transit is internal"),
    ({"type": "issue", "site": "S1", "item": "A", "qty": 1, "reason": "r" * MAX_SEND_BYTES}, "event too large"),
])
def test_events_that_cannot_be_published_say_why(data: dict[str, Any], reason: str) -> None:
    event = msgspec.convert({"event_id": "e1", "ts": TS, **data}, ev.InputEvent)
    result = encode_for_sending(event)
    assert isinstance(result, str) and result.startswith(reason)


def test_master_data_without_a_site_is_published() -> None:
    item = msgspec.convert({"type": "item", "event_id": "i", "ts": TS, "item": "A", "source": "buy"}, ev.InputEvent)
    assert encode_for_sending(item) == encode_json(item)
    assert route(item, SETTINGS) == ("t.master", b"item|*|A")


def test_json_lines_records_number_lines_and_open_envelopes() -> None:
    envelope = encode_json({"type": "envelope", "site": "S1", "events": [
        msgspec.to_builtins(receipt(1)), {"type": "receipt", "event_id": "r2", "ts": TS, "item": "A", "qty": 0,
                                          "lot": "L"}]})
    lines = [encode_json(receipt(0)), b"", b"   ", envelope, b"{broken"]
    result = list(json_lines_records(lines))
    assert [n for n, _ in result] == [1, 4, 4, 5]
    assert result[0][1] == receipt(0) and result[1][1] == receipt(1)
    assert "$.qty" in result[2][1] and result[3][1].startswith("malformed message")


@pytest.mark.parametrize(("field", "value"), [("envelope_size", 0), ("envelope_linger_ms", -1)])
def test_envelope_settings_are_checked(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        Packer(dataclasses.replace(SETTINGS, **{field: value}))


def test_workers_that_take_smaller_messages_get_smaller_envelopes() -> None:
    """``max_message_bytes`` under the default: nothing is sent that the workers would dead-letter as too large."""
    settings = dataclasses.replace(SETTINGS, envelope_size=1000, max_message_bytes=2000)
    assert send_limit(settings) == 2000 and send_limit(SETTINGS) == MAX_SEND_BYTES
    messages = pack([receipt(n) for n in range(40)], settings)
    assert len(messages) > 1 and all(len(m.value) <= 2000 for m in messages)
    assert [i for m in messages for i in m.origins] == list(range(40))
    big = msgspec.convert({"type": "issue", "event_id": "i", "ts": TS, "site": "S1", "item": "A", "qty": 1,
                           "reason": "r" * 2000}, ev.InputEvent)
    assert encode_for_sending(big, send_limit(settings)) == f"event too large: {len(encode_json(big))} bytes > 2000"
