"""What a service benchmark measures: the factory, its size, how the topics are laid out.

Every size is an option of ``python -m bench.service`` so the harness can be tried small (50,000 events,
2 sites) and run at the issue's size (2,000,000 events, 10 sites x 10,000 items, BOM depth 6, 8 partitions)
on a quiet machine.  The pre-loaded files are kept under ``.cache/bench/service/<key>`` and reused by every
arm and every later run of the same spec.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from millstream.settings import Settings

__all__ = ["CACHE", "SITE_TOPICS", "BenchSpec"]

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "bench" / "service"
#: the input topics the arms drain: what upstream systems publish, keyed by site (master data is loaded
#: first and read by every worker before site events flow; it is not counted)
SITE_TOPICS = ("inventory", "production", "purchase", "demand")
#: simulated days generated at most: the factory is cut after ``events`` site events long before
MAX_DAYS = 3650


@dataclass(frozen=True, slots=True)
class BenchSpec:
    sites: int = 10
    items: int = 10_000
    depth: int = 6
    #: site events pre-loaded (after the master data): the first ones the simulated factory makes
    events: int = 2_000_000
    partitions: int = 8
    seed: int = 1
    #: events per envelope in the envelope variant (the publisher's default, ``envelope_size``)
    envelope_size: int = Settings().envelope_size

    @property
    def key(self) -> str:
        return (f"s{self.sites}-i{self.items}-d{self.depth}-e{self.events}-p{self.partitions}-seed{self.seed}"
                f"-env{self.envelope_size}")

    @property
    def folder(self) -> Path:
        return CACHE / self.key

    def describe(self) -> str:
        return (f"{self.events:,} site events, {self.sites} sites x {self.items:,} items, BOM depth {self.depth}, "
                f"{self.partitions} partitions, seed {self.seed}")

    def replace(self, **changes: object) -> BenchSpec:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
