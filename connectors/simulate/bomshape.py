"""Which children each parent of a BOM level takes, so that components are shared within families.

Shared with ``bench/sitegen.py``.  Its random draws are part of the benchmark's seed contract: do not
reorder them.
"""

from __future__ import annotations

import random

__all__ = ["pick_components"]


def pick_components(rng: random.Random, n_parents: int, n_children: int, fanout: int,
                    families: int) -> list[list[int]]:
    """Child indices per parent, ``fanout`` each, all from the parent's family block of the next level.

    Levels are cut into ``families`` contiguous blocks.  Within a family every
    child gets one primary parent (so no item is left without a parent); the
    remaining slots are filled at random from the family's block.
    """
    picks: list[list[int]] = [[] for _ in range(n_parents)]
    for family in range(families):
        p_lo, p_hi = family * n_parents // families, (family + 1) * n_parents // families
        c_lo, c_hi = family * n_children // families, (family + 1) * n_children // families
        n_p, n_c = p_hi - p_lo, c_hi - c_lo
        if n_c < fanout or n_c > n_p * fanout:
            raise ValueError(f"family block of {n_p} parents and {n_c} children cannot have fan-out {fanout}")
        for k in range(n_c):
            picks[p_lo + k * n_p // n_c].append(c_lo + k)
        for parent in range(p_lo, p_hi):
            chosen = picks[parent]
            candidates = [c for c in range(c_lo, c_hi) if c not in chosen]
            rng.shuffle(candidates)
            chosen.extend(candidates[:max(0, fanout - len(chosen))])
            chosen.sort()
    return picks
