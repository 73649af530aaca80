"""Why an event was not applied.

Handlers validate before they mutate, and raise one of these; the engine turns
them into ``rejected`` outputs (or parks the event), so state stays whole.
"""

from __future__ import annotations

__all__ = ["BomCycle", "Missing", "Reject"]


class Reject(Exception):
    """The event is wrong in itself or against the current state."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Missing(Reject):
    """The event refers to something not seen yet; it may arrive later.

    Events of one site reach the service on several topics, so a material
    issue can arrive before its order.  Such events wait (are parked) for the
    reference for a bounded event-time window instead of being lost.
    """

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"unknown {kind} {key!r}")
        self.kind = kind
        self.key = key


class BomCycle(Reject):
    """A BOM that would make an item (indirectly) a component of itself."""
