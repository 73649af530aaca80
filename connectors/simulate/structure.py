"""The product structure of the simulated factory: finished devices, sub-assemblies, purchased parts, BOMs.

Global master data, the same at every plant.  Levels: 0 are finished devices (RIC, BTE, ITE families),
``1 .. depth - 1`` sub-assemblies (each one takes exactly one sub-assembly of the next level, so the
deepest BOM path has ``depth`` levels), purchased parts hang under every level.  Sub-assemblies are shared:
a level has about ``SHARE`` as many of each kind as its parents, assigned within platform blocks
(``pick_components``, as the benchmark site does).  Purchased parts are shared by popularity (Zipf per
category: a few batteries serve every device, shells mostly one colour each); every part has at least one
user.  One or two faceplate-like assemblies are phantoms (kits built in line, never stocked).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from dataclasses import dataclass, field

from schemas import events as ev

from .bomshape import pick_components
from .catalogue import CATEGORIES, FAMILIES, SA_TYPES, SUPPLIERS, Category, Family, Supplier

__all__ = ["SHARE", "BomDef", "Part", "Structure", "build_structure"]

#: finished devices as a share of all items
FG_SHARE = 0.13
#: sub-assemblies of a kind per parent of that kind, one level down (below 1: shared)
SHARE = 0.55
_FG_OPERATIONS = ("assembly", "fitting-test", "pack")
_PHANTOM_KINDS = ("FP", "EH", "RU")


@dataclass(slots=True)
class Part:
    """An item of the catalogue, the same at every site."""

    item: str
    kind: str            # finished, assembly, purchased
    level: int           # 0 finished ... depth - 1 sub-assemblies; purchased parts: depth
    group: str           # family, sub-assembly kind or part category code
    description: str
    inspected: bool      # receipts or outputs go to qc_pending
    phantom: bool = False
    supplier: Supplier | None = None
    price: float = 0.0   # list price of a purchased part


@dataclass(slots=True)
class BomDef:
    item: str
    lines: list[tuple[str, float, float]]   # component, qty per, scrap %
    yield_pct: float = 100.0
    operations: list[ev.Operation] = field(default_factory=list)
    phantom: bool = False

    def event(self, event_id: str, ts: dt.datetime) -> ev.Bom:
        return ev.Bom(event_id=event_id, ts=ts, item=self.item, yield_pct=self.yield_pct, phantom=self.phantom,
                      components=[ev.Component(item=c, qty_per=q, scrap_pct=s) for c, q, s in self.lines],
                      operations=self.operations)


@dataclass(slots=True)
class Structure:
    depth: int
    parts: dict[str, Part]
    levels: list[list[str]]      # make items by level, finished devices first
    purchased: list[str]
    boms: dict[str, BomDef]

    def components(self, item: str) -> list[str]:
        bom = self.boms.get(item)
        return [line[0] for line in bom.lines] if bom is not None else []


def _shares(total: int, weights: list[float], minimum: int = 1) -> list[int]:
    """``total`` split by ``weights`` (largest remainder), each at least ``minimum``."""
    raw = [total * w / sum(weights) for w in weights]
    counts = [max(minimum, int(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (int(raw[i]) - raw[i], i))
    for i in itertools.islice(itertools.cycle(order), max(0, total - sum(counts))):
        counts[i] += 1
    return counts


def _assign(rng: random.Random, n_parents: int, n_children: int) -> list[int]:
    """One child per parent, every child used, children shared within platform blocks."""
    blocks = max(1, min(n_children, n_parents // 8))
    while True:
        try:
            return [picks[0] for picks in pick_components(rng, n_parents, n_children, 1, blocks)]
        except ValueError:
            blocks -= 1   # uneven blocks; a single block always works (n_children <= n_parents)


class _Picker:
    """Parts of one category: each part once in random order first (every part used), then by popularity."""

    def __init__(self, rng: random.Random, category: Category, pool: list[str]) -> None:
        self.rng = rng
        self.unused = list(pool)
        rng.shuffle(self.unused)
        self.ranked = rng.sample(pool, len(pool))
        self.cum = list(itertools.accumulate(1.0 / (rank + 1) ** category.sharing for rank in range(len(pool))))
        self.users: list[str] = []

    def pick(self, user: str) -> str:
        self.users.append(user)
        if self.unused:
            return self.unused.pop()
        return self.rng.choices(self.ranked, cum_weights=self.cum)[0]


def build_structure(items: int, depth: int, seed: int | str) -> Structure:
    """Exactly ``items`` items with BOMs ``depth`` levels deep; ValueError when they do not fit."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    rng = random.Random(f"{seed}:structure")
    parts: dict[str, Part] = {}
    n_fg = max(len(FAMILIES), round(items * FG_SHARE))
    levels: list[list[str]] = [[]]
    assemblies: dict[str, list[str]] = {}   # parent -> its sub-assemblies
    family_of: dict[str, str] = {}
    for family, count in zip(FAMILIES, _shares(n_fg, [f.share for f in FAMILIES]), strict=True):
        for k in range(1, count + 1):
            item = f"{family.code}{k:04d}"
            platform = 1 + (k - 1) * 4 // count
            colour = CATEGORIES["SHELL"].variants[k % len(CATEGORIES["SHELL"].variants)]
            parts[item] = Part(item, "finished", 0, family.code, f"{family.name}, platform {platform}, {colour}",
                               inspected=True)
            levels[0].append(item)
            family_of[item] = family.code
            assemblies[item] = []

    # sub-assembly chains: (kind, parents) per level, one child of the kind's child kind per parent
    counters: dict[tuple[str, int], int] = {}
    chains: list[tuple[str, list[str]]] = []
    for family in FAMILIES:
        for kind in family.assemblies:
            if kind not in (c[0] for c in chains):
                chains.append((kind, [fg for fg in levels[0] if kind in _family(family_of[fg]).assemblies]))
    for level in range(1, depth):
        levels.append([])
        next_chains: list[tuple[str, list[str]]] = []
        for kind, parents in chains:
            sa = SA_TYPES[kind]
            children = []
            for _ in range(max(1, round(len(parents) * SHARE))):
                number = counters[(kind, level)] = counters.get((kind, level), 0) + 1
                item = f"{kind}{level}-{number:04d}"
                parts[item] = Part(item, "assembly", level, kind, f"{sa.name}, level {level}", sa.inspected)
                assemblies[item] = []
                children.append(item)
                levels[level].append(item)
            for parent, child in zip(parents, _assign(rng, len(parents), len(children)), strict=True):
                assemblies[parent].append(children[child])
            next_chains.append((sa.child, children))
        chains = next_chains

    n_buy = items - sum(len(level) for level in levels)
    if n_buy < len(CATEGORIES):
        minimum = items - n_buy + len(CATEGORIES)
        raise ValueError(f"{items} items are too few for BOMs {depth} levels deep: at least {minimum}")
    purchased: list[str] = []
    pickers: dict[str, _Picker] = {}
    for category, count in zip(CATEGORIES.values(), _shares(n_buy, [c.weight for c in CATEGORIES.values()]),
                               strict=True):
        pool = []
        for k in range(1, count + 1):
            item = f"{category.code}-{k:04d}"
            supplier = rng.choice(SUPPLIERS[category.code])
            parts[item] = Part(item, "purchased", depth, category.code,
                               f"{category.name}, {category.variants[k % len(category.variants)]}",
                               category.inspected, supplier=supplier, price=round(rng.uniform(*category.price), 4))
            pool.append(item)
        purchased.extend(pool)
        pickers[category.code] = _Picker(rng, category, pool)

    boms: dict[str, BomDef] = {}
    for level, names in enumerate(levels):
        for item in names:
            part = parts[item]
            lines: dict[str, list[float]] = {child: [1, 0] for child in assemblies[item]}
            for code, qty in _part_needs(part, bottom=level == depth - 1):
                component = pickers[code].pick(item)
                scrap = rng.choice(CATEGORIES[code].scrap_pct)
                line = lines.setdefault(component, [0, scrap])
                line[0] += qty
            boms[item] = _bom(rng, part, lines)
    phantoms = [item for kind in _PHANTOM_KINDS for item in (levels[1] if depth > 1 else ())
                if parts[item].group == kind]
    for item in phantoms[:2]:
        parts[item].phantom = boms[item].phantom = True
        parts[item].description = parts[item].description.replace(", level", " kit (phantom), level")
        boms[item].operations = []
    bottom = [item for item in levels[-1] if not parts[item].phantom] or levels[-1]
    for code, picker in pickers.items():
        for part_id in picker.unused:   # a part no BOM took yet: one more user of its category
            host = rng.choice(picker.users) if picker.users else rng.choice(bottom)
            boms[host].lines.append((part_id, 1, rng.choice(CATEGORIES[code].scrap_pct)))
    return Structure(depth, parts, levels, purchased, boms)


def _family(code: str) -> Family:
    return next(f for f in FAMILIES if f.code == code)


def _part_needs(part: Part, bottom: bool) -> list[tuple[str, int]]:
    """(category, qty per) a make item takes; the deepest assemblies also take what the kinds below would."""
    if part.kind == "finished":
        family = _family(part.group)
        needs = list(family.parts)
        if bottom:   # no sub-assemblies at all: the device takes their parts directly
            for kind in family.assemblies:
                needs.extend(_kind_parts(kind, extra=2))
        return needs
    return _kind_parts(part.group, extra=2 if bottom else 0)


def _kind_parts(kind: str, extra: int) -> list[tuple[str, int]]:
    needs = list(SA_TYPES[kind].parts)
    below = SA_TYPES[kind].child
    for _ in range(extra):
        needs.append(SA_TYPES[below].parts[0])
        below = SA_TYPES[below].child
    return needs


def _bom(rng: random.Random, part: Part, lines: dict[str, list[float]]) -> BomDef:
    if part.kind == "finished":
        names, yields = _FG_OPERATIONS, (99.5, 100, 100)
    else:
        names, yields = SA_TYPES[part.group].operations, SA_TYPES[part.group].yields
    operations = [ev.Operation(name=name, setup_minutes=rng.choice((10, 15, 20, 30, 45, 60)),
                               run_minutes_per_unit=round(rng.uniform(0.5, 6.0), 2),
                               rate_per_hour=rng.choice((42, 48, 55, 60, 72, 90))) for name in names]
    return BomDef(part.item, [(c, q, s) for c, (q, s) in lines.items()], rng.choice(yields), operations)
