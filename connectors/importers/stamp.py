"""Events stamped, not invented: the ``--as-of`` time, an id hashed from the content, the contract's check.

The same file imported as of the same time gives byte-identical output, and
re-publishing it is caught by the engine's duplicate-id check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import IO, Any

import msgspec

from schemas.codecs import decode_message, encode_json
from schemas.outputs import Rejected

from .csvfile import ImportOptions, ImportResult, RowError

__all__ = ["Emitter", "write_events"]


class Emitter:
    """Stamps events (as-of time, content-derived id), checks them against the contract, keeps them in order."""

    def __init__(self, options: ImportOptions, result: ImportResult) -> None:
        self.options = options
        self.result = result
        self.rows_of: dict[str, int] = {}

    def build(self, make: Callable[..., Any], row: int, discriminator: str = "", **fields: Any) -> Any | None:
        """``make(event_id=..., ts=as_of, **fields)``, stamped and validated; None (and an error) if invalid.

        ``discriminator`` joins the content hash for what the event cannot carry (e.g. a stock row's
        location), so two rows the contract sees alike still get two ids.
        """
        draft = make(event_id="-", ts=self.options.as_of, **fields)
        digest = hashlib.sha256(encode_json(draft) + b"\x00" + discriminator.encode()).hexdigest()[:24]
        tag = type(draft).__struct_config__.tag
        event = msgspec.structs.replace(draft, event_id=f"imp-{tag}-{digest}")
        decoded = decode_message(encode_json(event))
        if len(decoded) != 1 or isinstance(decoded[0], Rejected):
            reason = decoded[0].reason if decoded and isinstance(decoded[0], Rejected) else "not one event"
            self.result.errors.append(RowError(row, f"not a valid v1 {tag} event: {reason}"))
            return None
        first = self.rows_of.get(event.event_id)
        if first is not None:
            self.result.errors.append(RowError(row, f"gives the same {tag} event as row {first}"))
            return None
        self.rows_of[event.event_id] = row
        return event

    def emit(self, event: Any | None) -> None:
        if event is not None:
            self.result.events.append(event)


def write_events(events: Sequence[Any], out: IO[bytes]) -> None:
    """JSON Lines, the format ``millstream replay`` and ``millstream publish`` read."""
    for event in events:
        out.write(encode_json(event))
        out.write(b"\n")
