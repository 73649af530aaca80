"""Cells a person typed, checked: numbers, quantities, money, dates, units, flags and choices.

Each ``RowReader`` method returns the value or None; a cell it cannot use
adds a ``RowError`` naming the row and the column as the file spells it, so
nothing is imported by guesswork and nothing bad vanishes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation

from schemas.events import MAX_QTY, STATUSES

from .csvfile import Column, ImportOptions, ImportResult, Row, RowError, Table, norm_header, read_rows
from .units import UNITS, canonical_unit

__all__ = ["STATUS_NAMES", "RowReader", "num", "readers"]

#: the engine keeps quantities to a micro-unit: a seventh decimal would be rounded away
QTY_STEP = Decimal("0.000001")
MAX_MONEY = Decimal("1e12")


def readers(table: Table, columns: Sequence[Column], options: ImportOptions,
            result: ImportResult) -> Iterator[RowReader]:
    """A reader per non-blank data row; nothing if the header lacks a required column."""
    for row in read_rows(table, columns, result):
        yield RowReader(row, options, result)


def num(value: Decimal) -> int | float:
    """A contract number: whole values as ints, so ``250`` is written ``250`` and defaults are left out."""
    return int(value) if value == value.to_integral_value() else float(value)


_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_COMMA = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?")
_TRUE = frozenset({"y", "yes", "true", "1", "x", "phantom"})
_FALSE = frozenset({"n", "no", "false", "0", "-"})


class RowReader:
    """The cells of one row, parsed; each unusable cell adds an error and gives None."""

    def __init__(self, row: Row, options: ImportOptions, result: ImportResult) -> None:
        self.row = row.number
        self.values: Mapping[str, str] = row.values
        self.headers: Mapping[str, str] = row.headers
        self.options = options
        self.result = result
        self.ok = True

    def error(self, message: str, name: str | None = None) -> None:
        self.ok = False
        self.result.errors.append(RowError(self.row, message, self.headers.get(name) if name else None))

    def has(self, name: str) -> bool:
        return bool(self.values.get(name))

    def text(self, name: str, default: str = "") -> str:
        return self.values.get(name) or default

    def required(self, name: str) -> str | None:
        value = self.values.get(name, "")
        if not value:
            self.error("empty: a value is required", name)
            return None
        return value

    def site(self) -> str | None:
        """The row's site, else ``--site``; None when neither is given."""
        return self.values.get("site") or self.options.site

    def number(self, name: str) -> Decimal | None:
        """A decimal number, or None for an empty cell (a bad one is an error)."""
        text = self.values.get(name, "")
        return self._decimal(name, text) if text else None

    def _decimal(self, name: str, text: str) -> Decimal | None:
        comma = self.options.decimal_comma
        if not (_COMMA if comma else _PLAIN).fullmatch(text):
            hint = ("write it as 1234,5 (--decimal-comma)" if comma else
                    "write it as 1234.5, no thousands separators; --decimal-comma reads 1234,5")
            self.error(f"bad number {text!r}: {hint}", name)
            return None
        try:
            return Decimal(text.replace(".", "").replace(",", ".") if comma else text)
        except InvalidOperation:
            self.error(f"bad number {text!r}", name)
            return None

    def qty(self, name: str, *, zero: bool = False) -> Decimal | None:
        """A quantity: positive (or zero if allowed), at most 1e9, at most six decimals."""
        value = self.number(name)
        if value is None:
            return None
        text = self.values[name]
        if value < 0 or (value == 0 and not zero):
            self.error(f"{text!r} must be {'zero or more' if zero else 'more than zero'}", name)
            return None
        if value > Decimal(MAX_QTY):
            self.error(f"{text!r} is above the largest quantity, {MAX_QTY:g}", name)
            return None
        if value != value.quantize(QTY_STEP):
            self.error(f"{text!r} has more than six decimals: quantities are kept to 0.000001", name)
            return None
        return value

    def money(self, name: str) -> Decimal | None:
        value = self.number(name)
        if value is not None and not 0 <= value <= MAX_MONEY:
            self.error(f"{self.values[name]!r} must be from 0 to {MAX_MONEY:f}", name)
            return None
        return value

    def percent(self, name: str, low: Decimal, high: Decimal, *, fraction: bool = False) -> Decimal | None:
        """A percentage ("2", "2 %"); with ``fraction`` a rate ("0.25", or "25 %" read as 0.25)."""
        raw = self.values.get(name, "")
        if not raw:
            return None
        has_sign = raw.endswith("%")
        text = raw.removesuffix("%").strip()
        value = self._decimal(name, text)
        if value is None:
            return None
        if fraction and has_sign:
            value /= 100
        if not low <= value <= high:
            self.error(f"{raw!r} must be from {low} to {high}", name)
            return None
        return value

    def whole(self, name: str, low: int, high: int) -> int | None:
        """A whole number (days); "14.0" is 14, "14.5" an error."""
        value = self.number(name)
        if value is None:
            return None
        if value != value.to_integral_value() or not low <= value <= high:
            self.error(f"{self.values[name]!r} must be a whole number from {low} to {high}", name)
            return None
        return int(value)

    def date(self, name: str) -> dt.date | None:
        text = self.values.get(name, "")
        if not text:
            return None
        fmt = self.options.date_format
        try:
            if fmt:
                return dt.datetime.strptime(text, fmt).date()
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                return dt.datetime.fromisoformat(text).date()
        except ValueError:
            expected = f"the format {fmt!r}" if fmt else "YYYY-MM-DD, or give --date-format (e.g. %d.%m.%Y)"
            self.error(f"bad date {text!r}: expected {expected}", name)
            return None

    def unit(self, name: str) -> str | None:
        """The canonical unit code, or None for an empty cell (an unknown name is an error)."""
        text = self.values.get(name, "")
        if not text:
            return None
        code = canonical_unit(text, self.options.extra_units)
        if code is None:
            self.error(f"unknown unit {text!r}: known are {', '.join(UNITS)} and their usual spellings "
                       f"(docs/importers.md); --unit adds a code", name)
        return code

    def flag(self, name: str) -> bool | None:
        text = self.values.get(name, "").lower()
        if not text or text in _FALSE:
            return False
        if text in _TRUE:
            return True
        self.error(f"{self.values[name]!r} is not yes or no (Y/N, yes/no, true/false, 1/0, X/blank)", name)
        return None

    def choice(self, name: str, choices: Mapping[str, str], default: str | None = None) -> str | None:
        """One of ``choices`` (keys compared like header names), the default for an empty cell."""
        text = self.values.get(name, "")
        if not text:
            return default
        value = choices.get(norm_header(text))
        if value is None:
            self.error(f"unknown value {text!r}: expected one of {', '.join(sorted(set(choices.values())))}", name)
        return value

    def status(self, name: str) -> str | None:
        return self.choice(name, STATUS_NAMES, default="available")

    def check_item(self, site: str | None, item: str, unit: str | None, unit_column: str = "unit") -> None:
        """With an item master: the item must be in it, and a unit given here must be its unit."""
        catalog = self.options.catalog
        if catalog is None:
            return
        uom = catalog.uom(site, item)
        if uom is None:
            where = f" for site {site!r}" if site else ""
            self.error(f"item {item!r} is not in the item master{where}")
        elif unit is not None and unit != uom:
            self.error(f"unit {unit!r} differs from item {item!r}'s unit {uom!r} in the item master "
                       f"(quantities are never converted)", unit_column)


#: quality status names a stock report may use -> the contract's status
STATUS_NAMES: dict[str, str] = {
    **{norm_header(s): s for s in STATUSES},
    "qc pending": "qc_pending", "unrestricted": "available", "free": "available", "released": "available",
    "ok": "available", "qc": "qc_pending", "qi": "qc_pending", "inspection": "qc_pending",
    "quality inspection": "qc_pending", "in inspection": "qc_pending", "pending": "qc_pending",
    "hold": "blocked", "on hold": "blocked", "quarantine": "blocked", "block": "blocked",
    "reject": "rejected", "nonconforming": "rejected", "scrap pending": "rejected", "rwk": "rework",
}
