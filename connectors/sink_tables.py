"""The sink's tables, and what each output record does to them.

A compacted output topic holds the latest record per key; the tables hold exactly that state with one row
per key: an upsert writes the row, a planned order's ``delete`` or a shortage's ``resolved`` removes it (so
does a tombstone). Pure functions of the records, no database here: ``sink_store.py`` writes the changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from schemas import outputs as out
from schemas.codecs import decode_output

__all__ = ["SOURCES", "TABLES", "Change", "Column", "RecordError", "Table", "change_of", "fold"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    #: text, numeric (exact), date, ts (with zone), bool, json, int, bytes
    kind: str
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    why: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _cols(spec: str) -> tuple[Column, ...]:
    """``"site text, qty numeric, standard_cost numeric?"``: ``?`` marks a nullable column."""
    columns = []
    for part in spec.split(","):
        name, kind = part.split()
        columns.append(Column(name, kind.rstrip("?"), kind.endswith("?")))
    return tuple(columns)


_TS = "updated_ts ts?"  # event time of the output that last wrote the row (outputs carry their event's ts)

TABLES: dict[str, Table] = {t.name: t for t in (
    Table("planned_orders", _cols("site text, planned_id text, item text, kind text, qty numeric, release date, "
                                  f"due date, past_due bool, {_TS}"),
          ("site", "planned_id"), "the MRP's planned orders; a delete removes the row"),
    Table("shortages", _cols(f"shortage_id text, site text, item text, date date, qty numeric, hits json, {_TS}"),
          ("shortage_id",), "open shortages; a resolved one removes the row"),
    Table("costs", _cols(f"site text, item text, unit_cost numeric, standard_cost numeric?, {_TS}"),
          ("site", "item"), "moving average and rolled standard cost per item"),
    Table("order_costs", _cols("site text, order_id text, item text, good_qty numeric, actual_cost numeric, "
                               "standard_cost numeric, material_usage_variance numeric, "
                               f"material_price_variance numeric, operations_variance numeric, {_TS}"),
          ("site", "order_id"), "cost and variances of closed production orders"),
    Table("sink_rejected", _cols("topic text, partition_id int, record_offset int, record_key bytes?, "
                                 "record_value bytes?, reason text"),
          ("topic", "partition_id", "record_offset"), "records the sink could not apply, with why"),
)}

#: output topic (short name) -> the tables its records go to
SOURCES: dict[str, tuple[str, ...]] = {
    "planned-orders": ("planned_orders",),
    "shortages": ("shortages",),
    "costs": ("costs", "order_costs"),
}


class RecordError(ValueError):
    """A record the sink cannot apply; the message says why."""


@dataclass(frozen=True, slots=True)
class Change:
    """One key's new state: ``row`` to upsert, or None to delete the key."""

    table: str
    key: tuple[str, ...]
    row: dict[str, Any] | None


def _upsert(table: str, **row: Any) -> Change:
    return Change(table, tuple(row[k] for k in TABLES[table].key), row)


def _tombstone(source: str, key: str) -> Change:
    site, sep, rest = key.partition("|")
    if source == "shortages":
        return Change("shortages", (key,), None)
    if not sep or not rest:
        raise RecordError(f"tombstone key {key!r} is not SITE|ID")
    if source == "planned-orders":
        return Change("planned_orders", (site, rest), None)
    if rest.startswith("order:"):
        return Change("order_costs", (site, rest.removeprefix("order:")), None)
    return Change("costs", (site, rest), None)


def _change(record: Any) -> tuple[str, Change]:
    """(the key the worker routes the record by, its change): mirrors ``streams/processor.py`` ``route``."""
    site = record.site or ""
    ts = record.ts
    if isinstance(record, out.PlannedOrder):
        key = f"{site}|{record.planned_id}"
        if record.action == "delete":
            return key, Change("planned_orders", (site, record.planned_id), None)
        return key, _upsert("planned_orders", site=site, planned_id=record.planned_id, item=record.item,
                            kind=record.kind, qty=record.qty, release=record.release, due=record.due,
                            past_due=record.past_due, updated_ts=ts)
    if isinstance(record, out.Shortage):
        if record.state == "resolved":
            return record.shortage_id, Change("shortages", (record.shortage_id,), None)
        return record.shortage_id, _upsert("shortages", shortage_id=record.shortage_id, site=site,
                                           item=record.item, date=record.date, qty=record.qty,
                                           hits=list(record.hits), updated_ts=ts)
    if isinstance(record, out.Cost):
        return f"{site}|{record.item}", _upsert("costs", site=site, item=record.item, unit_cost=record.unit_cost,
                                               standard_cost=record.standard_cost, updated_ts=ts)
    if isinstance(record, out.OrderCost):
        return f"{site}|order:{record.order_id}", _upsert(
            "order_costs", site=site, order_id=record.order_id, item=record.item, good_qty=record.good_qty,
            actual_cost=record.actual_cost, standard_cost=record.standard_cost,
            material_usage_variance=record.material_usage_variance,
            material_price_variance=record.material_price_variance,
            operations_variance=record.operations_variance, updated_ts=ts)
    raise RecordError(f"a {type(record).__name__} record has no table")


def change_of(source: str, key: bytes | None, value: bytes | None) -> Change:
    """What one record of the output topic ``source`` (short name) does to the tables.

    The record's key must be the one the worker gives it, so that one row stands for one key of the
    compacted topic; anything else is a ``RecordError`` naming the reason.
    """
    if source not in SOURCES:
        raise RecordError(f"the sink does not read topic {source!r}")
    try:
        key_text = key.decode("utf-8") if key is not None else None
    except UnicodeDecodeError as exc:
        raise RecordError(f"key is not UTF-8: {exc}") from None
    if value is None:
        if key_text is None:
            raise RecordError("tombstone without a key")
        return _tombstone(source, key_text)
    try:
        record = decode_output(value)
    except (msgspec.DecodeError, ValueError) as exc:
        raise RecordError(f"undecodable output record: {exc}") from None
    routed, change = _change(record)
    if change.table not in SOURCES[source]:
        raise RecordError(f"a {type(record).__name__} record does not belong on topic {source!r}")
    if key_text != routed:
        raise RecordError(f"key {key_text!r} is not the record's key {routed!r}")
    return change


def fold(changes: Iterable[Change]) -> dict[tuple[str, tuple[str, ...]], Change]:
    """The last change of each key, in the order given (a topic partition's order): last write wins."""
    latest: dict[tuple[str, tuple[str, ...]], Change] = {}
    for change in changes:
        latest[(change.table, change.key)] = change
    return latest
