"""The CSV side of every importer: the file, its header, its rows, and what an import returns.

Spreadsheets are exported with any capitalisation of any of several header
names, with commas, semicolons or tabs.  This module finds each field's column
by the names it accepts and hands out the rows by the number the spreadsheet
shows (the header is row 1), so every error can say where to look.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Catalog",
    "Column",
    "ImportOptions",
    "ImportResult",
    "Row",
    "RowError",
    "Table",
    "norm_header",
    "parse_as_of",
    "read_rows",
]


@dataclass(frozen=True, slots=True)
class RowError:
    """One thing wrong with the input: its spreadsheet row (None: the file itself) and column."""

    row: int | None
    message: str
    column: str | None = None

    def __str__(self) -> str:
        where = "file" if self.row is None else f"row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


@dataclass(slots=True)
class ImportResult:
    """Valid events in output order, and what was wrong (errors) or worth saying (notes)."""

    events: list[Any] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rows: int = 0


class Catalog:
    """Items and units from an item master, for checking the other spreadsheets against it."""

    def __init__(self, events: Sequence[Any] = ()) -> None:
        self.units: dict[str, dict[str | None, str]] = {}   # item -> site (None: every site) -> uom
        for event in events:
            self.units.setdefault(event.item, {})[event.site] = event.uom

    def uom(self, site: str | None, item: str) -> str | None:
        """The item's unit where ``site`` uses it (its override, else the global record); None if unknown."""
        scopes = self.units.get(item)
        if not scopes:
            return None
        if site in scopes:
            return scopes[site]
        if None in scopes:
            return scopes[None]
        return next(iter(scopes.values())) if site is None else None


@dataclass(frozen=True, slots=True)
class ImportOptions:
    as_of: dt.datetime
    site: str | None = None                     # for rows without a site (master data: a site override)
    date_format: str | None = None              # strptime format of dates; ISO 8601 if None
    decimal_comma: bool = False                 # "1.234,5" instead of "1234.5"
    extra_units: frozenset[str] = frozenset()   # unit codes accepted besides units.UNITS
    catalog: Catalog | None = None              # check items and units against an item master
    root: str | None = None                     # BOM: the assembly of a file that starts at its components


def parse_as_of(text: str) -> dt.datetime:
    """``--as-of``: an ISO time with a UTC offset, or a date (midnight UTC). Raises ValueError."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (e.g. 2026-03-01T06:00:00+01:00 or ...Z)")
    return moment


# --- the file ----------------------------------------------------------------------------------


def norm_header(name: str) -> str:
    """How header names are compared: case-insensitive, punctuation as spaces ("Qty/Per" == "qty per")."""
    return " ".join(re.sub(r"[\W_]+", " ", name.replace("\ufeff", "").lower()).split())


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its spreadsheet number, its cells by field (stripped) and their headers as written."""

    number: int
    values: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Column:
    """A field an importer reads, the header names it accepts, and whether the file must have it."""

    field: str
    names: tuple[str, ...]
    required: bool = False

    @property
    def accepted(self) -> tuple[str, ...]:
        return tuple(norm_header(name) for name in self.names)


@dataclass(slots=True)
class Table:
    name: str
    header: list[str]
    rows: list[tuple[int, list[str]]]   # (spreadsheet row number, cells)

    @classmethod
    def parse(cls, text: str, name: str = "input") -> Table:
        """Cells from CSV text; the delimiter (comma, semicolon, tab or bar) is taken from the header line."""
        first = text.split("\n", 1)[0]
        delimiter = max(",;\t|", key=first.count)   # the most frequent; a comma when there is none
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        if not records:
            return cls(name, [], [])
        return cls(name, records[0], [(number, cells) for number, cells in enumerate(records[1:], start=2)])

    @classmethod
    def read(cls, path: Path, encoding: str = "utf-8-sig") -> Table:
        """Raises ValueError with a reason a person can act on."""
        data = Path(path).read_bytes()
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path.name} is not {encoding} text ({exc.reason} at byte {exc.start}): export it "
                             f"as CSV UTF-8, or name its encoding with --encoding (e.g. cp1252)") from exc
        except LookupError as exc:
            raise ValueError(f"unknown encoding {encoding!r}") from exc
        try:
            return cls.parse(text, Path(path).name)
        except csv.Error as exc:
            raise ValueError(f"{path.name} is not readable CSV: {exc}") from exc


def _bind(table: Table, columns: Sequence[Column], result: ImportResult) -> dict[str, int] | None:
    """Field -> cell index from the header; missing required columns are errors (row 1)."""
    wanted = {name: column for column in columns for name in column.accepted}
    found: dict[str, int] = {}
    ignored = []
    for index, header in enumerate(table.header):
        column = wanted.get(norm_header(header))
        if column is None:
            if header.strip():
                ignored.append(header.strip())
            continue
        if column.field in found:
            first = table.header[found[column.field]]
            result.errors.append(RowError(1, f"columns {first!r} and {header!r} both give {column.names[0]}"))
            continue
        found[column.field] = index
    for column in columns:
        if column.required and column.field not in found:
            also = ", ".join(repr(name) for name in column.names[1:])
            result.errors.append(RowError(1, f"missing column {column.names[0]!r}"
                                             + (f" (also accepted: {also})" if also else "")))
    if ignored:
        result.notes.append("ignored columns: " + ", ".join(repr(name) for name in ignored))
    return None if any(error.row == 1 for error in result.errors) else found


def read_rows(table: Table, columns: Sequence[Column], result: ImportResult) -> Iterator[Row]:
    """Each non-blank data row's cells by field; nothing if the header lacks a required column."""
    if not table.header:
        result.errors.append(RowError(None, f"{table.name} is empty: no header row"))
        return
    found = _bind(table, columns, result)
    if found is None:
        return
    width = len(table.header)
    for number, cells in table.rows:
        if not any(cell.strip() for cell in cells):
            continue
        result.rows += 1
        extra = [cell for cell in cells[width:] if cell.strip()]
        if extra:
            result.errors.append(RowError(number, f"{len(cells)} cells but the header has {width} columns "
                                                  f"(extra: {', '.join(map(repr, extra))})"))
            continue
        values = {name: cells[index].strip() if index < len(cells) else "" for name, index in found.items()}
        headers = {name: table.header[index].strip() for name, index in found.items()}
        yield Row(number, values, headers)


