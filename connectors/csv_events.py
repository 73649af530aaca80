"""v1 events from CSV: one event per row, checked by the same msgspec contract as JSON.

The convention (docs/publish.md):

* the header names the columns: ``type`` (required) and field names of v1
  events, in any order; a file may mix event types, each row using the
  columns its type has;
* an empty cell means the field is not given: its default applies, or the row
  is invalid when the field is required;
* numbers, booleans (``true``/``false``, ``1``/``0``), dates and times are
  written as their JSON text without quotes (``600``, ``2026-03-05``,
  ``2026-03-02T08:00:00+01:00``); msgspec turns the text into the field's type;
* fields that hold a structure or a list (an item's ``lot_size``, a BOM's
  ``components`` and ``operations``) hold JSON in their cell;
* a header column that no event type has makes the whole file unusable; a
  filled cell in a column the row's type does not have makes the row invalid.

Comma-separated, double quotes around cells that hold commas, quotes or line
breaks (RFC 4180), UTF-8 (a byte-order mark is allowed).  Rows are numbered by
the file line they start on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
from msgspec import inspect as msgspec_inspect

from schemas.events import InputEvent

__all__ = ["FIELDS", "JSON_FIELDS", "CsvHeaderError", "csv_records", "parse_row", "write_csv"]


class CsvHeaderError(ValueError):
    """The header row cannot be used: nothing in the file is sent."""


def _holds_structure(info: Any) -> bool:
    if isinstance(info, msgspec_inspect.UnionType):
        return any(_holds_structure(t) for t in info.types if not isinstance(t, msgspec_inspect.NoneType))
    return isinstance(info, msgspec_inspect.StructType | msgspec_inspect.ListType | msgspec_inspect.DictType)


def _contract() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    fields: dict[str, frozenset[str]] = {}
    json_fields: dict[str, frozenset[str]] = {}
    for struct in msgspec_inspect.type_info(InputEvent).types:
        fields[struct.tag] = frozenset(f.name for f in struct.fields)
        json_fields[struct.tag] = frozenset(f.name for f in struct.fields if _holds_structure(f.type))
    return fields, json_fields


#: event type -> its fields; event type -> the fields whose cell holds JSON
FIELDS, JSON_FIELDS = _contract()
_KNOWN_COLUMNS = frozenset({"type"}.union(*FIELDS.values()))


def _reason(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    if text.startswith("Invalid value") and "at `$.type`" in text:
        return "unknown event type: " + text.split("'")[1] if "'" in text else "unknown event type"
    return "invalid event: " + text


def parse_row(header: list[str], cells: list[str]) -> Any:
    """The event a row describes, or the reason it describes none (a str)."""
    if len(cells) != len(header):
        return f"row has {len(cells)} cells, the header {len(header)}"
    row = dict(zip(header, cells, strict=True))
    kind = row["type"]
    if not kind:
        return "row has no type"
    if kind not in FIELDS:
        return f"unknown event type: {kind}"
    data: dict[str, Any] = {"type": kind}
    for name, cell in row.items():
        if name == "type" or cell == "":
            continue
        if name not in FIELDS[kind]:
            return f"column {name!r} is not a field of {kind}"
        if name in JSON_FIELDS[kind]:
            try:
                data[name] = msgspec.json.decode(cell)
            except msgspec.DecodeError as exc:
                return f"column {name!r} must hold JSON: {exc}"
        else:
            data[name] = cell
    try:
        return msgspec.convert(data, InputEvent, strict=False)
    except msgspec.ValidationError as exc:
        return _reason(exc)


def _text_lines(lines: Iterable[bytes], undecodable: set[int]) -> Iterator[str]:
    """Lines as text; a line that is not UTF-8 is noted (its row becomes invalid) and read with replacements."""
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            undecodable.add(number)
            yield line.decode("utf-8", errors="replace")


def _header(row: list[str] | None) -> list[str]:
    if row is None:
        raise CsvHeaderError("the file is empty: a header row naming the columns comes first")
    names = [name.strip() for name in row]
    if "type" not in names:
        raise CsvHeaderError(f"the header has no `type` column: {row}")
    seen: set[str] = set()
    for name in names:
        if not name:
            raise CsvHeaderError("the header has a column without a name")
        if name in seen:
            raise CsvHeaderError(f"the header names column {name!r} twice")
        if name not in _KNOWN_COLUMNS:
            raise CsvHeaderError(f"column {name!r} is no field of any v1 event type")
        seen.add(name)
    return names


def csv_records(lines: Iterable[bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, event or reason) for each row after the header; blank lines skipped.

    Raises ``CsvHeaderError`` (at the first ``next``) when the header is unusable.
    """
    undecodable: set[int] = set()
    reader = csv.reader(_text_lines(lines, undecodable), strict=True)
    try:
        header = _header(next(reader, None))
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, f"not CSV: {exc}"
                continue
            if not cells:
                continue
            if undecodable.intersection(range(start, reader.line_num + 1)):
                yield start, "row is not UTF-8 text"
                continue
            yield start, parse_row(header, cells)
    except csv.Error as exc:
        raise CsvHeaderError(f"the header is not CSV: {exc}") from None


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def write_csv(events: Iterable[Any]) -> str:
    """Events as CSV in the convention above: the columns the events use, defaults left empty.

    ``csv_records`` reads it back to the same events (spreadsheet round trips, examples, tests).
    """
    rows = [msgspec.to_builtins(event) for event in events]
    columns = list(dict.fromkeys(name for row in rows for name in row))
    columns.remove("type")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["type", *columns])
    for row in rows:
        writer.writerow([row["type"], *(_cell(row[name]) if name in row else "" for name in columns)])
    return out.getvalue()
