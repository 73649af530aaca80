"""Quality statuses and the moves allowed between them.

Stock is physical in every status, but only ``available`` stock is
unrestricted: it can be reserved, issued and planned with.  Inspection decides
where ``qc_pending`` stock goes; ``rejected`` stock can only be reworked or
scrapped; ``rework`` comes back through inspection.
"""

from __future__ import annotations

STATUSES: tuple[str, ...] = ("available", "qc_pending", "blocked", "rejected", "rework")
STATUS_INDEX: dict[str, int] = {name: i for i, name in enumerate(STATUSES)}
AVAILABLE = 0

ALLOWED_MOVES: dict[str, frozenset[str]] = {
    "qc_pending": frozenset({"available", "blocked", "rejected", "rework"}),
    "available": frozenset({"blocked", "qc_pending"}),
    "blocked": frozenset({"available", "qc_pending", "rejected", "rework"}),
    "rework": frozenset({"qc_pending", "rejected"}),
    "rejected": frozenset({"rework"}),
}

__all__ = ["ALLOWED_MOVES", "AVAILABLE", "STATUSES", "STATUS_INDEX", "move_allowed"]


def move_allowed(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_MOVES.get(from_status, frozenset())
