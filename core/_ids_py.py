"""The event ids a site remembers: the readable twin of ``core/_ids.pyx``.

Each id points at its latest entry, kept with the entries of its hour of expiry;
forgetting an hour forgets the ids whose latest entry is there.  The compiled
table packs the same entries into byte buffers (a fraction of the memory); both
must answer alike (``tests/unit/test_id_table.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

CYTHON_MODULE = False

__all__ = ["CYTHON_MODULE", "IdTable"]


class IdTable:
    """Event id -> the hour of its latest entry and that entry's microseconds; entries kept per hour."""

    __slots__ = ("hours", "latest")

    def __init__(self) -> None:
        self.latest: dict[str, tuple[int, int]] = {}   # id -> (hour, its latest entry's place in the hour)
        self.hours: dict[int, tuple[list[str], list[int]]] = {}   # hour -> its entries: ids, µs into the hour

    def __len__(self) -> int:
        return len(self.latest)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self.latest

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.latest))

    def hour_of(self, event_id: str) -> int | None:
        """The hour of the id's latest entry, or None when it is not remembered."""
        entry = self.latest.get(event_id)
        return None if entry is None else entry[0]

    def micros_of(self, event_id: str) -> int:
        """Microseconds into its hour at which the id's latest entry expires (KeyError if not remembered)."""
        hour, pos = self.latest[event_id]
        return self.hours[hour][1][pos]

    def add(self, event_id: str, hour: int, micros: int) -> None:
        """A new entry of the id in ``hour``: it becomes the id's latest (an earlier one stays, unreferenced)."""
        ids, expiries = self.hours.setdefault(hour, ([], []))
        ids.append(event_id)
        expiries.append(micros)
        self.latest[event_id] = (hour, len(ids) - 1)

    def pop(self, event_id: str) -> int | None:
        """Forget the id now; the hour of its latest entry, or None when it was not remembered."""
        entry = self.latest.pop(event_id, None)
        return None if entry is None else entry[0]

    def drop_hour(self, hour: int) -> None:
        """Forget every id whose latest entry is in ``hour``, and the hour's entries."""
        ids, _ = self.hours.pop(hour, ([], []))
        for pos, event_id in enumerate(ids):
            if self.latest.get(event_id) == (hour, pos):
                del self.latest[event_id]
