"""Open purchase orders CSV -> ``purchase_order`` events, one per PO line.

The engine keeps one item per purchase order, so a line becomes its own order:
``po_id`` is ``<po>-<line>`` when the file has a line number, else ``<po>``
(receipts the ERP sends later must name the same id).  The contract has no
received quantity: what was received before the snapshot is already in the
opening stock, so the order is imported with its open quantity, ordered minus
received, and a fully received line is skipped with a note.
"""

from __future__ import annotations

from schemas import events as ev

from .cells import num, readers
from .csvfile import Column, ImportOptions, ImportResult, Table
from .stamp import Emitter

__all__ = ["COLUMNS", "import_purchase_orders", "po_id"]

COLUMNS = (
    Column("site", ("site", "plant", "facility", "factory", "ship to", "ship to site")),
    Column("po", ("po", "po id", "po number", "po no", "po#", "purchase order", "purchase order number",
                  "purchase order id", "order", "order number", "order no", "document", "document number"),
           required=True),
    Column("line", ("line", "line no", "line number", "po line", "po line number", "position", "pos")),
    Column("item", ("item", "item id", "item number", "item no", "part", "part number", "part no", "material",
                    "sku", "article", "product"), required=True),
    Column("qty", ("qty", "quantity", "ordered qty", "order qty", "qty ordered", "ordered", "ordered quantity",
                   "order quantity"), required=True),
    Column("received", ("received", "received qty", "qty received", "received quantity", "delivered",
                        "delivered qty", "qty delivered", "gr qty")),
    Column("unit", ("unit", "uom", "unit of measure", "order unit", "um")),
    Column("due", ("due", "due date", "delivery date", "need by", "need by date", "promised date", "promise date",
                   "expected date", "expected delivery", "eta", "dock date"), required=True),
    Column("unit_price", ("unit price", "price", "net price", "unit cost", "cost", "price per unit")),
    Column("supplier", ("supplier", "vendor", "supplier name", "vendor name", "supplier id", "vendor id")),
)


def po_id(po: str, line: str) -> str:
    """The engine's purchase order id of one PO line (lines are numbers, so ids cannot collide)."""
    return f"{po}-{line}" if line else po


def import_purchase_orders(table: Table, options: ImportOptions) -> ImportResult:
    result = ImportResult()
    emitter = Emitter(options, result)
    first_row: dict[tuple[str, str], int] = {}
    for row in readers(table, COLUMNS, options, result):
        site = row.site()
        if site is None:
            row.error("no site: add a site column or give --site")
        po = row.required("po")
        line_no = row.whole("line", 0, 10**9) if row.has("line") else None
        line = str(line_no) if line_no is not None else ""
        item = row.required("item")
        qty = row.qty("qty") if row.required("qty") is not None else None
        received = row.qty("received", zero=True)
        unit = row.unit("unit")
        due = row.date("due") if row.required("due") is not None else None
        price = row.money("unit_price")
        if item is not None:
            row.check_item(site, item, unit)
        ident = po_id(po, line) if po is not None else None
        if site is not None and ident is not None:
            if (site, ident) in first_row:
                what = f"PO {po!r} line {line}" if line else f"PO {po!r}"
                row.error(f"duplicate {what} (first at row {first_row[site, ident]})", "line" if line else "po")
            else:
                first_row[site, ident] = row.row
        if not row.ok or None in (site, ident, item, qty, due):
            continue
        assert qty is not None
        open_qty = qty - (received or 0)
        if open_qty <= 0:
            result.notes.append(f"row {row.row}: {ident} is fully received ({received} of {qty}): "
                                f"nothing open, not imported")
            continue
        emitter.emit(emitter.build(
            ev.PurchaseOrder, row.row, site=site, po_id=ident, item=item, qty=num(open_qty), due=due,
            unit_price=num(price) if price is not None else None, supplier=row.text("supplier")))
    return result
