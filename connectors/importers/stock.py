"""Opening stock snapshot CSV -> ``receipt`` events (and a ``quality`` move for held stock).

Why receipts: an opening balance is stock arriving in the record, with a value.
A ``receipt`` books it under its lot and carries ``unit_cost``, which starts
the moving average the same way every later receipt updates it.  A ``count``
would set the quantity too, but it has no cost (the stock would be valued at
standard until the first receipt) and every line would enter the inventory
accuracy KPI as a count that found the whole lot missing from the books.

A receipt may only book ``available`` or ``qc_pending`` stock.  Stock held
``blocked``, ``rejected`` or ``rework`` is received ``qc_pending`` and moved
at once, at the same time, by a ``quality`` event: ``qc_pending`` may go to
each of those (core/quality.py), so the lot ends in the snapshot's status,
and its history says how it got there.  Both go to the inventory topic keyed
by the site, so they stay in order.

One receipt per row: rows of one lot and status in different locations (bins)
are separate receipts (the location joins the id hash, the contract has no
field for it); the same lot, status and location twice is a duplicate.
A blank lot is received as lot ``opening``; zero rows are skipped with a note.
"""

from __future__ import annotations

from schemas import events as ev

from .cells import num, readers
from .csvfile import Column, ImportOptions, ImportResult, Table
from .stamp import Emitter

__all__ = ["COLUMNS", "DEFAULT_LOT", "import_stock"]

DEFAULT_LOT = "opening"

COLUMNS = (
    Column("site", ("site", "plant", "facility", "factory")),
    Column("item", ("item", "item id", "item number", "item no", "part", "part number", "part no", "material",
                    "sku", "article", "product"), required=True),
    Column("lot", ("lot", "lot number", "lot no", "lot id", "batch", "batch number", "batch no", "serial",
                   "serial number")),
    Column("status", ("status", "stock status", "quality status", "inventory status", "stock type",
                      "qc status")),
    Column("qty", ("qty", "quantity", "on hand", "on hand qty", "qty on hand", "quantity on hand", "stock",
                   "stock qty", "balance"), required=True),
    Column("unit", ("unit", "uom", "unit of measure", "base unit", "um")),
    Column("unit_cost", ("unit cost", "cost", "unit value", "average cost", "moving average price",
                         "moving average", "valuation price", "unit price")),
    Column("location", ("location", "bin", "bin location", "storage location", "sloc", "warehouse",
                        "storage bin")),
)

#: statuses a receipt cannot book directly: received qc_pending, then moved by a quality event
HELD = frozenset({"blocked", "rejected", "rework"})


def import_stock(table: Table, options: ImportOptions) -> ImportResult:
    result = ImportResult()
    emitter = Emitter(options, result)
    first_row: dict[tuple[str, str, str, str, str], int] = {}
    for row in readers(table, COLUMNS, options, result):
        site = row.site()
        if site is None:
            row.error("no site: add a site column or give --site")
        item = row.required("item")
        lot = row.text("lot", DEFAULT_LOT)
        status = row.status("status")
        qty = row.qty("qty", zero=True) if row.required("qty") is not None else None
        unit = row.unit("unit")
        unit_cost = row.money("unit_cost")
        location = row.text("location")
        if item is not None:
            row.check_item(site, item, unit)
        if site is not None and item is not None and status is not None:
            key = (site, item, lot, status, location)
            if key in first_row:
                place = f" in location {location!r}" if location else ""
                row.error(f"duplicate stock of item {item!r} lot {lot!r} {status}{place} (first at row "
                          f"{first_row[key]})")
            else:
                first_row[key] = row.row
        if not row.ok or site is None or item is None or status is None or qty is None:
            continue
        if qty == 0:
            result.notes.append(f"row {row.row}: zero quantity of {item!r} lot {lot!r}: nothing to import")
            continue
        received = "qc_pending" if status in HELD else status
        cost = num(unit_cost) if unit_cost is not None else None
        receipt = emitter.build(ev.Receipt, row.row, discriminator=location, site=site, item=item, qty=num(qty),
                                lot=lot, unit_cost=cost, status=received)
        move = None
        if receipt is not None and status in HELD:
            move = emitter.build(ev.Quality, row.row, discriminator=location, site=site, item=item, lot=lot,
                                 qty=num(qty), from_status="qc_pending", to_status=status)
            if move is None:
                continue
        emitter.emit(receipt)
        emitter.emit(move)
    return result
