"""Writing the sink's tables: PostgreSQL (psycopg 3) or SQLite (the standard library's sqlite3).

One SQL text for both: the DDL is generated from ``sink_tables.TABLES`` with each database's types, and
every change is an ``INSERT ... ON CONFLICT (key) DO UPDATE`` or a ``DELETE`` by key, which both speak.
Each batch of changes is one transaction.

Numbers are exact: PostgreSQL ``NUMERIC``; SQLite has no exact decimal type (its ``NUMERIC`` affinity
turns 0.1 into a float), so there they are ``TEXT`` holding the decimal as written, like dates and
timestamps (ISO 8601).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.codecs import encode_json

from .sink_tables import TABLES, Change, Table

__all__ = ["POSTGRES", "SQLITE", "Dialect", "SqlStore", "ddl", "open_store"]


def _decimal(value: Any) -> str:
    return format(Decimal(value), "f")


def _iso(value: Any) -> str:
    return value.isoformat()


def _json_text(value: Any) -> str:
    return encode_json(value).decode()


@dataclass(frozen=True)
class Dialect:
    """How one database spells the column kinds (``sink_tables.Column.kind``) and takes parameters."""

    name: str
    types: dict[str, str]
    placeholder: str
    #: kind -> conversion of a value before it is sent (None passes as NULL)
    adapt: dict[str, Callable[[Any], Any]]

    def value(self, kind: str, value: Any) -> Any:
        convert = self.adapt.get(kind)
        return value if value is None or convert is None else convert(value)


def _jsonb(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value, dumps=_json_text)


POSTGRES = Dialect("postgresql", {"text": "TEXT", "numeric": "NUMERIC", "date": "DATE", "ts": "TIMESTAMPTZ",
                                  "bool": "BOOLEAN", "json": "JSONB", "int": "BIGINT", "bytes": "BYTEA"},
                   "%s", {"json": _jsonb})
SQLITE = Dialect("sqlite", {"text": "TEXT", "numeric": "TEXT", "date": "TEXT", "ts": "TEXT", "bool": "INTEGER",
                            "json": "TEXT", "int": "INTEGER", "bytes": "BLOB"},
                 "?", {"numeric": _decimal, "date": _iso, "ts": _iso, "bool": int, "json": _json_text})


def _create(table: Table, dialect: Dialect) -> str:
    lines = [f"    {c.name} {dialect.types[c.kind]}{'' if c.nullable else ' NOT NULL'}" for c in table.columns]
    lines.append(f"    PRIMARY KEY ({', '.join(table.key)})")
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n" + ",\n".join(lines) + "\n);"


def ddl(dialect: Dialect) -> str:
    """The schema the sink creates on start (``docs/sinks.md`` shows the PostgreSQL one)."""
    return "\n".join(f"-- {t.why}\n{_create(t, dialect)}" for t in TABLES.values()) + "\n"


def _upsert_sql(table: Table, dialect: Dialect) -> str:
    marks = ", ".join(dialect.placeholder for _ in table.columns)
    updates = ", ".join(f"{n} = excluded.{n}" for n in table.names if n not in table.key)
    return (f"INSERT INTO {table.name} ({', '.join(table.names)}) VALUES ({marks}) "
            f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}")


def _delete_sql(table: Table, dialect: Dialect) -> str:
    return f"DELETE FROM {table.name} WHERE " + " AND ".join(f"{k} = {dialect.placeholder}" for k in table.key)


class SqlStore:
    """The tables in one database; ``apply`` writes a batch of changes in one transaction."""

    def __init__(self, connection: Any, dialect: Dialect, where: str) -> None:
        self.connection, self.dialect, self.where = connection, dialect, where
        self._upsert = {name: _upsert_sql(t, dialect) for name, t in TABLES.items()}
        self._delete = {name: _delete_sql(t, dialect) for name, t in TABLES.items()}

    def _transaction(self) -> Any:
        if self.dialect is POSTGRES:
            return self.connection.transaction()
        return self.connection  # sqlite3: commits at the end of the with block, rolls back on an exception

    def create_schema(self) -> None:
        if self.dialect is SQLITE:  # executescript runs its own statements, BEGIN and COMMIT included
            self.connection.executescript(f"BEGIN;\n{ddl(self.dialect)}COMMIT;")
            return
        with self._transaction():
            self.connection.execute(ddl(self.dialect))

    def _params(self, table: Table, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(self.dialect.value(c.kind, row[c.name]) for c in table.columns)

    def apply(self, changes: Iterable[Change]) -> tuple[int, int]:
        """Upserts and deletes (one per key: fold them first), committed together; returns their counts."""
        upserts: dict[str, list[tuple[Any, ...]]] = {}
        deletes: dict[str, list[tuple[Any, ...]]] = {}
        for change in changes:
            table = TABLES[change.table]
            if change.row is None:
                deletes.setdefault(change.table, []).append(change.key)
            else:
                upserts.setdefault(change.table, []).append(self._params(table, change.row))
        with self._transaction():
            cursor = self.connection.cursor()
            try:
                for name, rows in upserts.items():
                    cursor.executemany(self._upsert[name], rows)
                for name, keys in deletes.items():
                    cursor.executemany(self._delete[name], keys)
            finally:
                cursor.close()
        return sum(map(len, upserts.values())), sum(map(len, deletes.values()))

    def count(self, table: str) -> int:
        cursor = self.connection.execute(f"SELECT count(*) FROM {TABLES[table].name}")
        try:
            return int(cursor.fetchone()[0])
        finally:
            cursor.close()

    def close(self) -> None:
        self.connection.close()


def open_store(db_url: str | None, sqlite_path: str | Path | None) -> SqlStore:
    """PostgreSQL when a URL (or libpq connection string) is given, else the SQLite file; schema created."""
    if db_url:
        import psycopg

        store = SqlStore(psycopg.connect(db_url, autocommit=True), POSTGRES, _safe(db_url))
    else:
        path = Path(sqlite_path or "millstream.sqlite")
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; `with connection` still commits or rolls back a block
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")  # readers (BI tools) do not block the sink, nor it them
        store = SqlStore(_SqliteBatch(connection), SQLITE, str(path))
    try:
        store.create_schema()
    except Exception:
        store.close()
        raise
    return store


class _SqliteBatch:
    """sqlite3 connection whose ``with`` block is one explicit transaction (BEGIN ... COMMIT/ROLLBACK)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> _SqliteBatch:
        self._connection.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, kind: Any, _exc: Any, _tb: Any) -> None:
        self._connection.execute("COMMIT" if kind is None else "ROLLBACK")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:  # an unparsable URL fails at connect with libpq's own message
        return "PostgreSQL"
    return f"postgresql://{parts.get('user', '')}@{parts.get('host', '')}:{parts.get('port', '')}/" \
           f"{parts.get('dbname', '')}"

