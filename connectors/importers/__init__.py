"""Importers: the spreadsheets manufacturers keep, turned into v1 events.

``millstream import items|bom|stock|purchase-orders FILE.csv`` runs one; the
columns, synonyms and rules are in docs/importers.md.  Each importer returns
the valid events and every error with its spreadsheet row; the caller decides
whether anything is written (the CLI writes nothing when there are errors,
unless ``--keep-going``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from .bom import import_bom
from .csvfile import Catalog, ImportOptions, ImportResult, RowError, Table, parse_as_of
from .items import import_items
from .purchase_orders import import_purchase_orders
from .stamp import write_events
from .stock import import_stock

__all__ = [
    "IMPORTERS",
    "Catalog",
    "ImportOptions",
    "ImportResult",
    "RowError",
    "Table",
    "import_file",
    "load_catalog",
    "parse_as_of",
    "write_events",
]

IMPORTERS: dict[str, Callable[[Table, ImportOptions], ImportResult]] = {
    "items": import_items,
    "bom": import_bom,
    "stock": import_stock,
    "purchase-orders": import_purchase_orders,
}


def import_file(kind: str, path: Path, options: ImportOptions, encoding: str = "utf-8-sig") -> ImportResult:
    """Run one importer over a CSV file; errors by row, an unreadable file one error (row None)."""
    try:
        table = Table.read(path, encoding)
    except (OSError, ValueError) as exc:
        return ImportResult(errors=[RowError(None, str(exc))])
    result = IMPORTERS[kind](table, options)
    result.errors.sort(key=lambda error: error.row or 0)   # stable: a row's errors stay in column order
    return result


def load_catalog(path: Path, options: ImportOptions, encoding: str = "utf-8-sig") -> tuple[Catalog, ImportResult]:
    """The item master ``path`` as a catalog for checking other files (only its valid rows).

    Read without ``--site``: that names the site of the checked file's rows, while the item master's
    rows without a site are global records.
    """
    result = import_file("items", path, dataclasses.replace(options, site=None, catalog=None), encoding)
    return Catalog(result.events), result
