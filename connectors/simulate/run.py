"""The simulation: master data, then day by day every plant's events, merged into event-time order.

``Simulation(spec).lines()`` yields JSON Lines (v1 events).  Everything random comes from generators
seeded by ``spec.seed`` and a fixed name per concern, and time from the simulated clock, so the same
spec gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

from core.master import BomSpec
from schemas.codecs import encode_json

from . import transfers
from .catalogue import site_infos
from .faults import Faults
from .itemmaster import plant_items, weekly_usage
from .plant import Plant
from .sales import UNITS_PER_DEVICE, zipf_weights
from .structure import build_structure
from .timeline import EventQueue

__all__ = ["START", "SimSpec", "Simulation"]

#: a Monday
START = dt.date(2026, 3, 2)


@dataclass(frozen=True, slots=True)
class SimSpec:
    """The options of ``millstream simulate`` (docs/simulate.md)."""

    sites: int = 2
    items: int = 2000
    depth: int = 4
    days: int = 28
    seed: int = 1
    start: dt.date = START
    bad_rate: float = 0.0

    def check(self) -> None:
        """ValueError naming the option that is out of range."""
        if not 1 <= self.sites <= 64:
            raise ValueError("--sites must be from 1 to 64")
        if not 1 <= self.depth <= 12:
            raise ValueError("--depth must be from 1 to 12")
        if not 1 <= self.days <= 3650:
            raise ValueError("--days must be from 1 to 3650")
        if not 0 <= self.bad_rate <= 1:
            raise ValueError("--bad-rate must be from 0 to 1")
        if self.items < 1 or self.items > 1_000_000:
            raise ValueError("--items must be from 1 to 1000000")


class Simulation:
    """The factory of one spec; ``lines()`` runs it (once)."""

    def __init__(self, spec: SimSpec) -> None:
        self.spec = spec
        spec.check()
        self.structure = build_structure(spec.items, spec.depth, spec.seed)
        self.faults = Faults(spec.bad_rate, spec.seed)
        self.queue = EventQueue()
        self._rng = random.Random(f"{spec.seed}:network")
        weights = zipf_weights(self.structure.levels[0], random.Random(f"{spec.seed}:demand"))
        self._boms: dict[str, BomSpec] = {}   # filled from the BOM events sent: plants reserve by exactly them
        self.plants: list[Plant] = []
        self._ran = False
        for info in site_infos(spec.sites):
            demand = {fg: w * UNITS_PER_DEVICE * len(weights) * info.scale for fg, w in weights.items()}
            usage = weekly_usage(self.structure, demand)
            items = plant_items(self.structure, usage, random.Random(f"{spec.seed}:{info.name}:items"))
            self.plants.append(Plant(info, self.structure, items, self._boms, weights, self.queue, spec.seed,
                                     self.faults))

    def lines(self) -> Iterator[bytes]:
        """Every event as a JSON line, in event-time order (a simulation runs once)."""
        if self._ran:
            raise RuntimeError("a Simulation runs once: make a new one for the same events")
        self._ran = True
        yield from self._master()
        start = self.spec.start
        for plant in self.plants:
            plant.open(start)
        for offset in range(self.spec.days):
            day = start + dt.timedelta(days=offset)
            if day.weekday() < 5:
                for plant in self.plants:
                    plant.morning(day)
                if len(self.plants) > 1:
                    transfers.rebalance(self.plants, day, self._rng, max(10, len(self.structure.parts) // 40))
                for plant in self.plants:
                    plant.evening(day)
            yield from self.queue.until(min(plant.clock.horizon(day) for plant in self.plants))
        yield from self.queue.drain()

    def _master(self) -> Iterator[bytes]:
        """Items per plant, then BOMs top-down, a millisecond apart, from an hour before the first day anywhere."""
        start = self.spec.start
        ts = min(dt.datetime(start.year, start.month, start.day, tzinfo=p.info.offset) for p in self.plants)
        ts = (ts - dt.timedelta(hours=1)).astimezone(self.plants[0].info.offset)
        number = 0

        def stamp() -> tuple[str, dt.datetime]:
            nonlocal number
            number += 1
            return f"M-{number:07d}", ts + dt.timedelta(milliseconds=number)

        for plant in self.plants:
            for plan in plant.items.values():
                yield encode_json(plan.event(*stamp(), plant.name)) + b"\n"
        for level in self.structure.levels:
            for item in level:
                event = self.structure.boms[item].event(*stamp())
                self._boms[item] = BomSpec.from_event(event)
                yield encode_json(event) + b"\n"

    @property
    def counts(self) -> dict[str, int]:
        """Good events per type (master data under ``item`` and ``bom``), bad ones under ``bad``."""
        counts: dict[str, int] = {"item": sum(len(p.items) for p in self.plants),
                                  "bom": sum(len(level) for level in self.structure.levels)}
        for plant in self.plants:
            for tag, n in plant.stats.items():
                counts[tag] = counts.get(tag, 0) + n
        counts["bad"] = self.faults.total
        return counts
