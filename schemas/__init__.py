"""Millstream event contract v1: inputs, outputs and their codecs."""

from .codecs import decode_message, encode_json, encode_msgpack
from .events import InputEvent
from .outputs import OutputEvent, Rejected

__all__ = ["InputEvent", "OutputEvent", "Rejected", "decode_message", "encode_json", "encode_msgpack"]
