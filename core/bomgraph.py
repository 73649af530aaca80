"""The BOM structure of one site: low-level codes and where-used links.

Planning goes top-down in low-level-code order (an item is netted only after
every parent that can place requirements on it); cost roll-up goes bottom-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from .master import MasterData

__all__ = ["BomGraph"]


@dataclass(slots=True)
class BomGraph:
    version: int
    levels: dict[str, int]
    parents: dict[str, list[str]]

    @classmethod
    def build(cls, master: MasterData, site: str) -> BomGraph:
        boms = dict(master.boms)
        boms.update(master.site_boms.get(site, {}))
        parents: dict[str, list[str]] = {}
        for parent in sorted(boms):
            for line in boms[parent].lines:
                users = parents.setdefault(line.item, [])
                if parent not in users:
                    users.append(parent)
        # an item's code is the longest path to it from a top-level item: taken in topological order
        # (Kahn), each item once all its parents have theirs; BOM cycles are refused on input
        waiting = {item: len(users) for item, users in parents.items()}
        levels = dict.fromkeys((item for item in boms if item not in waiting), 0)
        ready = list(levels)
        while ready:
            item = ready.pop()
            bom = boms.get(item)
            if bom is None:
                continue
            below = levels[item] + 1
            for component in dict.fromkeys(line.item for line in bom.lines):
                if levels.get(component, -1) < below:
                    levels[component] = below
                waiting[component] -= 1
                if not waiting[component]:
                    ready.append(component)
        return cls(master.version, levels, parents)

    def level(self, item: str) -> int:
        return self.levels.get(item, 0)
