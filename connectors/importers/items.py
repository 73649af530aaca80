"""Item master CSV -> ``item`` events: one row per item (per site, for site overrides).

The lot rule's parameters come from their own columns; a rule without the
parameter it sizes by (``fixed`` without a fixed quantity...) is refused
rather than left to plan lot-for-lot behind the planner's back.
"""

from __future__ import annotations

from decimal import Decimal

from schemas import events as ev

from .cells import RowReader, num, readers
from .csvfile import Column, ImportOptions, ImportResult, Table, norm_header
from .stamp import Emitter

__all__ = ["COLUMNS", "import_items"]

COLUMNS = (
    Column("site", ("site", "plant", "facility", "factory")),
    Column("item", ("item", "item id", "item number", "item no", "part", "part number", "part no", "material",
                    "material number", "sku", "article", "product", "code"), required=True),
    Column("description", ("description", "desc", "item description", "material description", "name",
                           "item name", "part description")),
    Column("unit", ("unit", "uom", "unit of measure", "base unit", "base uom", "um", "units")),
    Column("source", ("make/buy", "make or buy", "source", "procurement", "procurement type", "supply type",
                      "make buy"), required=True),
    Column("lead_time", ("lead time", "lead time days", "lead time (days)", "lead days", "lt", "lt days",
                         "planned delivery time", "delivery time", "replenishment lead time")),
    Column("lot_rule", ("lot rule", "lot size", "lot sizing", "lot size rule", "lot sizing rule", "lot policy",
                        "order policy", "lot sizing procedure")),
    Column("fixed_qty", ("fixed qty", "fixed quantity", "fixed lot size", "fixed order qty",
                         "fixed order quantity", "foq")),
    Column("min_qty", ("min qty", "minimum qty", "min lot size", "minimum lot size", "moq", "min order qty",
                       "minimum order quantity")),
    Column("max_qty", ("max qty", "maximum qty", "max lot size", "maximum lot size", "max order qty",
                       "maximum order quantity")),
    Column("multiple", ("multiple", "order multiple", "lot multiple", "rounding value", "rounding qty",
                        "rounding quantity")),
    Column("period_days", ("period days", "period", "order period days", "periods of supply days", "poq days")),
    Column("ordering_cost", ("ordering cost", "order cost", "setup cost", "cost per order")),
    Column("holding_cost_rate", ("holding cost rate", "holding rate", "holding cost", "carrying cost rate",
                                 "carrying rate", "carrying cost")),
    Column("safety_stock", ("safety stock", "safety stock qty", "ss", "safety qty", "buffer stock")),
    Column("standard_cost", ("standard cost", "std cost", "standard price", "standard unit cost", "unit cost",
                             "cost")),
)

SOURCES = {norm_header(name): source for source, names in {
    "make": ("make", "m", "made", "manufacture", "manufactured", "produce", "produced", "in house", "inhouse",
             "e", "mfg"),
    "buy": ("buy", "b", "bought", "purchase", "purchased", "p", "f", "external", "procure", "procured"),
}.items() for name in names}

LOT_RULES = {norm_header(name): rule for rule, names in {
    "lot_for_lot": ("lot_for_lot", "lot for lot", "l4l", "lfl", "ex", "as required", "discrete"),
    "fixed": ("fixed", "fix", "fx", "foq", "fixed order quantity", "fixed lot size"),
    "min_multiple": ("min_multiple", "min multiple", "minimum multiple", "min/multiple"),
    "period": ("period", "poq", "periodic", "period order quantity", "periods of supply"),
    "eoq": ("eoq", "economic order quantity"),
}.items() for name in names}

#: the parameters each rule cannot plan without (either one of a tuple)
NEEDS: dict[str, tuple[str, ...]] = {
    "fixed": ("fixed_qty",), "min_multiple": ("min_qty", "multiple"), "period": ("period_days",),
}
PARAMETERS = ("fixed_qty", "min_qty", "max_qty", "multiple", "period_days", "ordering_cost", "holding_cost_rate")


def import_items(table: Table, options: ImportOptions) -> ImportResult:
    result = ImportResult()
    emitter = Emitter(options, result)
    first_row: dict[tuple[str | None, str], int] = {}
    for row in readers(table, COLUMNS, options, result):
        item = row.required("item")
        site = row.site()
        if item is not None:
            key = (site, item)
            if key in first_row:
                row.error(f"duplicate item {item!r}" + (f" for site {site!r}" if site else "")
                          + f" (first at row {first_row[key]})", "item")
            else:
                first_row[key] = row.row
        fields = _fields(row)
        if item is None or not row.ok:
            continue
        emitter.emit(emitter.build(ev.Item, row.row, site=site, item=item, **fields))
    return result


def _fields(row: RowReader) -> dict[str, object]:
    unit = row.unit("unit")
    source = row.choice("source", SOURCES) if row.has("source") else row.required("source")
    lead_time = row.whole("lead_time", 0, 3650)
    safety_stock = row.qty("safety_stock", zero=True)
    standard_cost = row.money("standard_cost")
    lot_size = _lot_size(row)
    fields: dict[str, object] = {
        "source": source, "uom": unit or "ea", "lead_time_days": lead_time or 0,
        "safety_stock": num(safety_stock or Decimal(0)),
        "standard_cost": num(standard_cost) if standard_cost is not None else None,
        "description": row.text("description")}
    if lot_size != ev.LotSize():   # the contract's default is left out of the output, like every default
        fields["lot_size"] = lot_size
    return fields


def _lot_size(row: RowReader) -> ev.LotSize:
    given = [name for name in PARAMETERS if row.has(name)]
    if not row.has("lot_rule") and given:
        row.error("empty, but lot parameters are given (" + ", ".join(row.headers[name] for name in given)
                  + "): name the rule", "lot_rule")
    rule = row.choice("lot_rule", LOT_RULES, default="lot_for_lot")
    values: dict[str, Decimal | int | None] = {
        "fixed_qty": row.qty("fixed_qty"), "min_qty": row.qty("min_qty", zero=True),
        "max_qty": row.qty("max_qty"), "multiple": row.qty("multiple"),
        "period_days": row.whole("period_days", 1, 3650), "ordering_cost": row.money("ordering_cost"),
        "holding_cost_rate": row.percent("holding_cost_rate", Decimal("0.000001"), Decimal(10), fraction=True),
    }
    needs = NEEDS.get(rule or "", ())
    if needs and not any(row.has(name) for name in needs):
        row.error(f"lot rule {rule!r} needs " + " or ".join(repr(name.replace("_", " ")) for name in needs),
                  "lot_rule")
    if rule == "eoq":
        for name in ("ordering_cost", "holding_cost_rate"):
            if not row.has(name):
                row.error(f"lot rule 'eoq' needs {name.replace('_', ' ')!r}", "lot_rule")
    low, high = values["min_qty"], values["max_qty"]
    if low is not None and high is not None and high < low:
        row.error(f"max qty {high} is below min qty {low}", "max_qty")
    params = {name: value if isinstance(value, int) else num(value)
              for name, value in values.items() if value is not None}
    return ev.LotSize(rule=rule or "lot_for_lot", **params)
