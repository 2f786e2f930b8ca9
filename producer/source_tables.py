"""A source table's contract schema read from ``information_schema`` — for snapshots, which read
tables that may have no row event (and so no binlog table map) yet.

It must equal what :func:`producer.row_decoder.compile_column` builds from a table map, column for
column, so that a snapshot row and a binlog row of the same table share one writer schema; a test
holds the two against each other for every type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.producer.filters import ColumnFilter, TableFilter
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec
from binlog_pipeline.schemas.envelope import TableSchema

_SIMPLE: dict[str, ColumnKind] = {
    "tinyint": ColumnKind.INT,
    "smallint": ColumnKind.INT,
    "mediumint": ColumnKind.INT,
    "int": ColumnKind.INT,
    "float": ColumnKind.FLOAT,
    "double": ColumnKind.DOUBLE,
    "decimal": ColumnKind.DECIMAL,
    "char": ColumnKind.STRING,
    "varchar": ColumnKind.STRING,
    "tinytext": ColumnKind.STRING,
    "text": ColumnKind.STRING,
    "mediumtext": ColumnKind.STRING,
    "longtext": ColumnKind.STRING,  # also MariaDB's JSON, an alias of LONGTEXT
    "varbinary": ColumnKind.BYTES,
    "tinyblob": ColumnKind.BYTES,
    "blob": ColumnKind.BYTES,
    "mediumblob": ColumnKind.BYTES,
    "longblob": ColumnKind.BYTES,
    "json": ColumnKind.JSON,  # MySQL's binary JSON
    "enum": ColumnKind.ENUM,
    "set": ColumnKind.SET,
    "date": ColumnKind.DATE,
    "datetime": ColumnKind.DATETIME,
    "time": ColumnKind.TIME,
    "timestamp": ColumnKind.TIMESTAMP,
    "year": ColumnKind.YEAR,
    "bit": ColumnKind.BIT,
}
_GEOMETRY = {
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "geomcollection",
}
# ENUM/SET members as COLUMN_TYPE prints them (the server's append_unescaped): quoted, a quote
# doubled, and a backslash, NUL, line feed or carriage return escaped with a backslash.
_QUOTED_VALUE = re.compile(r"'((?:[^'\\]|''|\\.)*)'", re.DOTALL)
_ESCAPE = re.compile(r"''|\\(.)", re.DOTALL)
_ESCAPED = {"0": "\0", "n": "\n", "r": "\r", "Z": "\x1a"}


def _members(column_type: str) -> tuple[str, ...]:
    return tuple(
        _ESCAPE.sub(lambda m: "'" if m.group(1) is None else _ESCAPED.get(m.group(1), m.group(1)), quoted)
        for quoted in _QUOTED_VALUE.findall(column_type)
    )


@dataclass(frozen=True)
class SourceTable:
    """A table as a snapshot reads it: the contract schema (excluded columns dropped), each kept
    column's charset (None where it has none) and the estimated row count."""

    schema: TableSchema
    estimated_rows: int
    charsets: tuple[str | None, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.schema.database}.{self.schema.table}"


def captured_tables(cur: Any, captured: TableFilter) -> list[tuple[str, int]]:
    """Every base table the filter captures (``db.table``, estimated rows), in name order."""
    cur.execute(
        "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
        "WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME"
    )
    return [
        (f"{db}.{table}", int(rows or 0))
        for db, table, rows in cur.fetchall()
        if captured(str(db), str(table))
    ]


def describe(cur: Any, database: str, table: str, excluded: ColumnFilter) -> SourceTable | None:
    """The table's contract schema, or None when the table does not exist."""
    cur.execute(
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COLUMN_KEY, NUMERIC_PRECISION, NUMERIC_SCALE, "
        "DATETIME_PRECISION, CHARACTER_SET_NAME, CHARACTER_OCTET_LENGTH "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
        "ORDER BY ORDINAL_POSITION",
        (database, table),
    )
    rows = cur.fetchall()
    if not rows:
        return None
    specs = [_spec(database, table, row) for row in rows]
    primary_key = tuple(str(row[0]) for row in rows if row[3] == "PRI")
    kept_rows = [
        (spec, row[7])
        for spec, row in zip(specs, rows, strict=True)
        if not excluded.excluded(database, table, spec.name)
    ]
    kept = tuple(spec for spec, _charset in kept_rows)
    dropped = {spec.name for spec in specs} - {spec.name for spec in kept}
    excluded.check_keys_kept(database, table, dropped, primary_key)
    cur.execute(
        "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (database, table),
    )
    estimate = cur.fetchone()
    return SourceTable(
        TableSchema(database, table, kept, primary_key),
        int(estimate[0] or 0) if estimate else 0,
        tuple(str(charset) if charset is not None else None for _spec, charset in kept_rows),
    )


def _spec(database: str, table: str, row: tuple[Any, ...]) -> ColumnSpec:
    name, data_type, column_type, _key, precision, scale, fsp, charset, octets = row
    name, data_type, column_type = str(name), str(data_type).lower(), str(column_type).lower()
    if data_type in _GEOMETRY:
        return ColumnSpec(name, ColumnKind.GEOMETRY)
    if data_type == "bigint":
        unsigned = "unsigned" in column_type
        return ColumnSpec(name, ColumnKind.UINT64 if unsigned else ColumnKind.INT)
    if data_type == "binary" or (data_type == "char" and charset is None):
        return ColumnSpec(name, ColumnKind.BINARY, length=int(octets))
    kind = _SIMPLE.get(data_type)
    if kind is None:
        raise PermanentError(
            f"{database}.{table}.{name} has type {column_type}, which this version cannot snapshot"
        )
    if kind is ColumnKind.STRING and charset is None:
        kind = ColumnKind.BYTES  # VARCHAR ... CHARACTER SET binary
    if kind is ColumnKind.DECIMAL:
        return ColumnSpec(name, kind, precision=int(precision), scale=int(scale))
    if kind in (ColumnKind.DATETIME, ColumnKind.TIME, ColumnKind.TIMESTAMP):
        return ColumnSpec(name, kind, fsp=int(fsp or 0))
    if kind in (ColumnKind.ENUM, ColumnKind.SET):
        values = _members(str(row[2]))
        return ColumnSpec(name, kind, values=values)
    if kind is ColumnKind.BIT:
        return ColumnSpec(name, kind, length=(int(precision) + 7) // 8)
    return ColumnSpec(name, kind)
