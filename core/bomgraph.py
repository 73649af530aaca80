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
        levels: dict[str, int] = {}

        def level(item: str) -> int:
            # iterative longest path from any root: BOM cycles are refused on input
            stack = [item]
            while stack:
                current = stack[-1]
                if current in levels:
                    stack.pop()
                    continue
                pending = [p for p in parents.get(current, ()) if p not in levels]
                if pending:
                    stack.extend(pending)
                    continue
                levels[current] = 1 + max((levels[p] for p in parents.get(current, ())), default=-1)
                stack.pop()
            return levels[item]

        for item in sorted(set(boms) | set(parents)):
            level(item)
        return cls(master.version, levels, parents)

    def level(self, item: str) -> int:
        return self.levels.get(item, 0)
