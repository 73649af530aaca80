"""Indented multi-level BOM CSV -> one ``bom`` event per parent.

The usual export lists an assembly, then each component one level deeper, each
sub-assembly's components deeper still (levels written ``1``, ``.2``, ``..3``
or as plain numbers); a row's parent is the nearest row above it one level
up.  The smallest level in the file names the assemblies, unless ``--root``
names the one assembly the file's rows belong to (exports that start at the
components).  A sub-assembly listed in several places must list the same
components each time; it becomes one event.  A parent whose component rows
have errors is not written at all: a BOM with a line missing would plan
wrong without a trace.  Cycles are found by the engine's own check
(``MasterData.put_bom``), so the importer refuses exactly what the engine would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from core.errors import BomCycle
from core.master import MasterData
from schemas import events as ev

from .cells import RowReader, num, readers
from .csvfile import Column, ImportOptions, ImportResult, RowError, Table
from .stamp import Emitter

__all__ = ["COLUMNS", "import_bom"]

COLUMNS = (
    Column("level", ("level", "lvl", "bom level", "indent", "indented level", "explosion level"), required=True),
    Column("item", ("component", "item", "component item", "component number", "component part", "part",
                    "part number", "item number", "item no", "material", "sku"), required=True),
    Column("qty_per", ("qty per", "quantity per", "qtyper", "qty per parent", "qty per assembly", "qty",
                       "quantity", "component qty", "component quantity", "usage"), required=True),
    Column("unit", ("unit", "uom", "unit of measure", "component unit", "um")),
    Column("scrap_pct", ("scrap %", "scrap", "scrap pct", "scrap percent", "scrap percentage", "component scrap",
                         "component scrap %")),
    Column("phantom", ("phantom", "phantom flag", "is phantom", "phantom item", "phantom assembly")),
)

_LEVEL = re.compile(r"(\.*)\s*(\d+)?(?:\.0+)?")
_MAX_SCRAP = Decimal(1000)


@dataclass(slots=True)
class _Line:
    row: int
    item: str
    qty_per: Decimal
    scrap_pct: Decimal


@dataclass(slots=True)
class _Use:
    """One place an item appears in the file, and the component rows listed under it there."""

    row: int
    item: str | None
    level: int
    root: bool = False  # an assembly: a row at the top level, or --root
    lines: list[_Line] = field(default_factory=list)
    bad: bool = False   # a component row under it has errors, or its rows could not be placed

    @property
    def signature(self) -> tuple[tuple[str, Decimal, Decimal], ...]:
        return tuple((line.item, line.qty_per, line.scrap_pct) for line in self.lines)


def _level(row: RowReader) -> int | None:
    text = row.text("level")
    match = _LEVEL.fullmatch(text)
    if not text or match is None or not (match[1] or match[2]):
        row.error(f"bad level {text!r}: expected a number (0, 1, 2) or dots and a number (.1, ..2)"
                  if text else "empty: a value is required", "level")
        return None
    return int(match[2]) if match[2] else len(match[1])


def import_bom(table: Table, options: ImportOptions) -> ImportResult:
    result = ImportResult()
    rows = list(readers(table, COLUMNS, options, result))
    levels = [_level(row) for row in rows]
    known = [level for level in levels if level is not None]
    if not known:
        return result
    top = min(known)
    stack: list[_Use] = []
    uses: list[_Use] = []
    if options.root:
        root = _Use(rows[0].row, options.root, top - 1, root=True)
        stack.append(root)
        uses.append(root)
        rows[0].check_item(options.site, options.root, None)
    resume = top   # after a row that cannot be placed, rows deeper than this are skipped
    skipping = False
    units: dict[str, tuple[str, int]] = {}
    phantoms: dict[str, tuple[bool, int]] = {}
    for row, level in zip(rows, levels, strict=True):
        if level is None or (skipping and level > resume):
            if not skipping:
                _lose_tree(stack, row, result)
            skipping = True
            continue
        skipping = False
        while stack and stack[-1].level >= level:
            stack.pop()
        if (stack and stack[-1].level != level - 1) or (not stack and level != top):
            row.error(f"level {level} has no parent: no level {level - 1} row above it", "level")
            _lose_tree(stack, row, result)
            skipping = True
            continue
        use, line = _read_row(row, level, stack[-1] if stack else None, options, units, phantoms)
        if stack:
            if line is not None:
                stack[-1].lines.append(line)
            else:
                stack[-1].bad = True
        stack.append(use)
        uses.append(use)
    _emit(uses, phantoms, options, result)
    return result


def _read_row(row: RowReader, level: int, parent: _Use | None, options: ImportOptions,
              units: dict[str, tuple[str, int]], phantoms: dict[str, tuple[bool, int]]) -> tuple[_Use, _Line | None]:
    """Check one row's cells: the use of its item it starts, and its line in the parent's BOM (None if bad)."""
    item = row.required("item")
    qty = scrap = None
    if parent is not None:   # an assembly row's own quantity is no BOM line: ignored
        qty = row.qty("qty_per") if row.required("qty_per") is not None else None
        scrap = row.percent("scrap_pct", Decimal(0), _MAX_SCRAP)
    unit = row.unit("unit")
    phantom = row.flag("phantom")
    if item is not None:
        row.check_item(options.site, item, unit)
        if unit is not None:
            first = units.setdefault(item, (unit, row.row))
            if first[0] != unit:
                row.error(f"unit {unit!r} of {item!r} differs from {first[0]!r} at row {first[1]}", "unit")
        if phantom is not None and row.has("phantom"):
            seen = phantoms.setdefault(item, (phantom, row.row))
            if seen[0] != phantom:
                row.error(f"{item!r} is {'' if phantom else 'not '}phantom here but "
                          f"{'' if seen[0] else 'not '}phantom at row {seen[1]}", "phantom")
    use = _Use(row.row, item, level, root=parent is None)
    if not row.ok or item is None or qty is None:
        return use, None
    return use, _Line(row.row, item, qty, scrap or Decimal(0))


def _lose_tree(stack: list[_Use], row: RowReader, result: ImportResult) -> None:
    """A row that cannot be placed: the BOMs it might belong to are incomplete, the rows under it homeless."""
    for use in stack:
        use.bad = True
    result.notes.append(f"row {row.row}: the rows under it (until the next row at the top level) are not "
                        f"imported: their parent is unknown")


def _emit(uses: list[_Use], phantoms: dict[str, tuple[bool, int]], options: ImportOptions,
          result: ImportResult) -> None:
    by_item: dict[str, list[_Use]] = {}
    for use in uses:
        if use.item is not None:
            by_item.setdefault(use.item, []).append(use)
    emitter = Emitter(options, result)
    master = MasterData()
    defined = {item for item, places in by_item.items() if any(use.lines or use.bad for use in places)}
    hollow = {item: row for item, (flag, row) in phantoms.items() if flag and item not in defined}
    for item, row in hollow.items():
        result.errors.append(RowError(row, f"{item!r} is marked phantom but no components are listed under it "
                                           f"anywhere"))
    for item, places in by_item.items():
        if item not in defined:
            if item not in hollow and any(use.root for use in places):
                hint = "" if options.root else ": a file that starts at an assembly's components needs --root"
                result.errors.append(RowError(places[0].row, f"assembly {item!r} has no components below it{hint}"))
            continue
        defining = [use for use in places if use.lines or use.bad]
        first = next((use for use in defining if not use.bad), defining[0])
        differs = [use for use in defining if not use.bad and use is not first and use.signature != first.signature]
        for use in differs:
            result.errors.append(RowError(use.row, f"the components listed under {item!r} here differ from those "
                                                   f"under it at row {first.row}"))
        why = ("its listings differ" if differs else
               "a row under it has errors" if any(use.bad for use in defining) else
               "a phantom under it has no components" if any(line.item in hollow for line in first.lines) else "")
        if why:
            result.notes.append(f"BOM of {item!r} (row {first.row}) is not imported: {why}")
            continue
        components = [ev.Component(item=line.item, qty_per=num(line.qty_per), scrap_pct=num(line.scrap_pct))
                      for line in first.lines]
        phantom = phantoms.get(item, (False, 0))[0]
        event = emitter.build(ev.Bom, first.row, site=options.site, item=item, components=components,
                              phantom=phantom)
        if event is None:
            continue
        try:
            master.put_bom(event)
        except BomCycle as cycle:
            path = cycle.reason.removeprefix("BOM cycle: ").split(" -> ")
            row = next((line.row for line in first.lines if len(path) > 1 and line.item == path[1]), first.row)
            result.errors.append(RowError(row, cycle.reason + " (an item would be its own component)"))
            continue
        emitter.emit(event)
