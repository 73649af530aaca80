"""JSON Lines and msgpack codecs for the v1 contract.

Decoders are built once and reused (msgspec's own advice).  Decoding never
raises: a message that is not a valid event becomes a ``Rejected`` output that
names the reason and keeps the original content, so bad input never vanishes.
"""

from __future__ import annotations

import base64
from typing import Any, Union

import msgspec

from .events import MASTER_TYPES, Envelope, InputEvent
from .outputs import OutputEvent, Rejected

__all__ = [
    "MAX_MESSAGE_BYTES",
    "decode_message",
    "decode_output",
    "encode_json",
    "encode_msgpack",
    "json_encoder",
    "raw_for_rejection",
]

# ValueError covers invalid UTF-8 inside msgpack strings (UnicodeDecodeError).

#: Undecodable content is kept as text up to this many bytes.
RAW_TEXT_LIMIT = 4096

#: Messages above this size are rejected before parsing (a setting of the service).
MAX_MESSAGE_BYTES = 1 << 20

_Message = Union[InputEvent, Envelope]
_json_message = msgspec.json.Decoder(_Message)
_json_event = msgspec.json.Decoder(InputEvent)
_mp_message = msgspec.msgpack.Decoder(_Message)
_mp_event = msgspec.msgpack.Decoder(InputEvent)
_json_any = msgspec.json.Decoder()
_mp_any = msgspec.msgpack.Decoder()
_json_output = msgspec.json.Decoder(OutputEvent)

def _encoded(obj: Any) -> msgspec.Raw:
    """Outputs that come already encoded (the planner's planned-order records) are written as they are."""
    value = getattr(obj, "value", None)
    if getattr(type(obj), "tag", None) is None or not isinstance(value, bytes):
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")
    return msgspec.Raw(value)


json_encoder = msgspec.json.Encoder(decimal_format="number", enc_hook=_encoded)
_mp_encoder = msgspec.msgpack.Encoder(decimal_format="number")


def encode_json(obj: Any) -> bytes:
    """One JSON document, no trailing newline; Decimals written as numbers."""
    return json_encoder.encode(obj)


def encode_msgpack(obj: Any) -> bytes:
    return _mp_encoder.encode(obj)


def decode_output(data: bytes) -> OutputEvent:
    return _json_output.decode(data)


def _is_json(data: bytes) -> bool:
    head = data.lstrip()[:1]
    return head in (b"{", b"[", b'"') or head.isdigit() or head in (b"-", b"t", b"f", b"n")


def raw_for_rejection(data: bytes, is_json: bool | None = None) -> Any:
    """The original content in a form a JSON output can carry verbatim."""
    if is_json is None:
        is_json = _is_json(data)
    try:
        if len(data) <= RAW_TEXT_LIMIT * 16:
            if is_json:
                _json_any.decode(data)
                return msgspec.Raw(data.strip())
            content = _mp_any.decode(data)
            json_encoder.encode(content)  # msgpack may hold what JSON cannot (ext types, huge ints)
            return content
    except (msgspec.DecodeError, RecursionError, ValueError, TypeError, OverflowError):
        pass
    head = data[:RAW_TEXT_LIMIT]
    text = head.decode("utf-8", errors="replace") if is_json else "base64:" + base64.b64encode(head).decode()
    return text if len(data) <= RAW_TEXT_LIMIT else text + f"... ({len(data)} bytes)"


def _reason(exc: Exception) -> str:
    text = str(exc)
    if text.startswith("Invalid value") and "at `$.type`" in text:
        return "unknown event type: " + text.split("'")[1] if "'" in text else "unknown event type"
    if "Object missing required field `type`" in text:
        return "event has no `type` field"
    return "invalid event: " + text


def _decode_one(data: bytes, is_json: bool, decoder: Any, source: str | None) -> Any:
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, RecursionError, ValueError) as exc:
        reason = _reason(exc) if isinstance(exc, msgspec.ValidationError) else f"malformed message: {exc}"
        return Rejected(reason=reason, event=raw_for_rejection(data, is_json), source=source)


def decode_message(data: bytes, source: str | None = None,
                   max_bytes: int = MAX_MESSAGE_BYTES) -> list[InputEvent | Rejected]:
    """Decode one message (a single event or an envelope), JSON or msgpack.

    Returns the events in order; undecodable ones are ``Rejected`` in place, and a message over
    ``max_bytes`` is rejected whole before it is parsed.
    """
    if len(data) > max_bytes:
        return [Rejected(reason=f"message too large: {len(data)} bytes > {max_bytes}",
                         event=data[:256].decode("utf-8", errors="replace"), source=source)]
    if not data or data.isspace():   # whitespace would otherwise decode as msgpack integers
        return [Rejected(reason="empty message", event=raw_for_rejection(data, True), source=source)]
    is_json = _is_json(data)
    decoded = _decode_one(data, is_json, _json_message if is_json else _mp_message, source)
    if not isinstance(decoded, Envelope):
        return [decoded]
    if not decoded.events:   # nothing to apply, but the message must not vanish either
        return [Rejected(reason=f"envelope of site {decoded.site!r} holds no events",
                         event=raw_for_rejection(data, is_json), source=source)]
    out: list[InputEvent | Rejected] = []
    event_decoder = _json_event if is_json else _mp_event
    for index, raw in enumerate(decoded.events):
        item_source = f"{source}#{index}" if source else f"#{index}"
        event = _decode_one(bytes(raw), is_json, event_decoder, item_source)
        if not isinstance(event, Rejected):
            if event.site is None and not isinstance(event, MASTER_TYPES):
                event = msgspec.structs.replace(event, site=decoded.site)
            elif event.site is not None and event.site != decoded.site:
                event = Rejected(reason=f"event site {event.site!r} differs from envelope site {decoded.site!r}",
                                 event=raw_for_rejection(bytes(raw), is_json), source=item_source)
        out.append(event)
    return out
