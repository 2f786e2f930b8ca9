"""Consistent chunk reads for the snapshot.

Each chunk is one ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` on the source that reads the
binlog position its view corresponds to and the next rows of one table in primary-key order
(a table without a primary key is one chunk). The transaction ends as soon as the rows are read,
so no lock or read view outlives a chunk. Values are read as raw text/bytes and converted to the
exact Avro values the binlog decoder produces for the same row (FLOAT through DOUBLE, TIMESTAMP
through UNIX_TIMESTAMP, both lossless; text columns as their bytes, decoded by the binlog decoder's
own charset decoders — the server's conversion would turn a byte that is no character into '?').

Rows go to a spool that stays in memory up to a few MiB and then moves to a temporary file, so a
large keyless table does not need its size in RAM.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

import pymysql
import pymysql.converters
import pymysql.cursors
from pymysql.constants import ER

from binlog_pipeline.core import mysql_errors
from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import PermanentError, TransientError
from binlog_pipeline.core.sql import qualified, quote
from binlog_pipeline.producer.charsets import (
    InvalidText,
    SourceCharsets,
    TextDecoders,
    UnsupportedCharset,
    convert_or_exclude,
    exclude_then_correct,
)
from binlog_pipeline.producer.filters import ColumnFilter
from binlog_pipeline.producer.position import BinlogPosition
from binlog_pipeline.producer.source_check import binlog_status
from binlog_pipeline.producer.source_tables import SourceTable, describe
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec

log = logging.getLogger(__name__)

# Keep every encoder (query parameters) but no decoder: result values arrive as text or bytes.
_RAW_CONVERSIONS: dict[Any, Any] = {
    k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)
}
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_ATTEMPTS = 5

Row = list[Any]
RawKey = list[str | bytes]


def _micros(text: Any) -> int:
    return int(Decimal(text) * 1_000_000)


_CONVERT: dict[ColumnKind, Callable[[Any], Any]] = {
    ColumnKind.INT: int,
    ColumnKind.YEAR: int,
    ColumnKind.UINT64: Decimal,
    ColumnKind.DECIMAL: Decimal,
    ColumnKind.FLOAT: float,
    ColumnKind.DOUBLE: float,
    ColumnKind.TIMESTAMP: _micros,
}


def _select_expression(spec: ColumnSpec, charset: str | None) -> str:
    column = quote(spec.name)
    if spec.kind is ColumnKind.FLOAT:
        return f"CAST({column} AS DOUBLE)"  # FLOAT's text form has 6 digits; as DOUBLE it is exact
    if spec.kind is ColumnKind.TIMESTAMP:
        return f"UNIX_TIMESTAMP({column})"
    if spec.kind is ColumnKind.STRING and charset is not None:
        return f"CAST({column} AS BINARY)"  # the stored bytes, decoded as the binlog's are
    return column


def _key_expression(spec: ColumnSpec) -> str:
    """A key column as the WHERE of the next chunk compares it (TIMESTAMP as UTC text)."""
    column = quote(spec.name)
    return f"CAST({column} AS DOUBLE)" if spec.kind is ColumnKind.FLOAT else column


class RowSpool:
    """Rows written once and read once, in memory up to a bound and on disk after it."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by close()
        self._batch: list[Row] = []
        self.count = 0

    def append(self, row: Row) -> None:
        self._batch.append(row)
        self.count += 1
        if len(self._batch) >= 1000:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            pickle.dump(self._batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []

    def __iter__(self) -> Iterator[Row]:
        self._flush()
        self._file.seek(0)
        while True:
            try:
                batch = pickle.load(self._file)
            except EOFError:
                return
            yield from batch

    def close(self) -> None:
        self._file.close()


@dataclass
class Chunk:
    """Rows of one table as of ``position``: keys above ``after`` up to ``last_key``.
    ``complete``: no rows of the table remain above ``last_key``; ``source`` is None when the
    table no longer exists."""

    table: str
    position: BinlogPosition
    source: SourceTable | None
    rows: RowSpool
    last_key: RawKey | None
    complete: bool

    def close(self) -> None:
        self.rows.close()


class ChunkReader:
    """Reads chunks over its own two source connections (data and metadata)."""

    def __init__(
        self, url: DatabaseUrl, columns: ColumnFilter, is_mariadb: bool, texts: TextDecoders | None = None
    ) -> None:
        self._url = url
        self._columns = columns
        self._is_mariadb = is_mariadb
        self._texts = texts or SourceCharsets(url)
        self._data: Any = None
        self._meta: Any = None

    def _connect(self) -> None:
        if self._data is not None:
            return
        kwargs = {**self._url.connect_kwargs(), "charset": "utf8mb4", "connect_timeout": 10}
        self._data = pymysql.connect(**kwargs, conv=_RAW_CONVERSIONS, autocommit=True)
        self._meta = pymysql.connect(**kwargs, autocommit=True)
        with self._data.cursor() as cur:
            # Raw TIMESTAMP keys (WHERE parameters) are printed and parsed in UTC.
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def close(self) -> None:
        for conn in (self._data, self._meta):
            if conn is not None:
                with contextlib.suppress(pymysql.MySQLError):
                    conn.close()
        self._data = self._meta = None

    def read(self, table: str, after: RawKey | None, limit: int) -> Chunk:
        """The next chunk of ``table`` (``db.table``) after key ``after`` (None: from the start);
        a table without a primary key is read whole."""
        database, _, name = table.partition(".")
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                self._connect()
                chunk = self._read_once(table, database, name, after, limit)
            except pymysql.MySQLError as exc:
                self.close()
                # a DDL after this read's snapshot started: read again
                if mysql_errors.code(exc) == ER.TABLE_DEF_CHANGED and attempt < _ATTEMPTS:
                    continue
                raise mysql_errors.classify(exc, f"snapshot of {table}: source error: {exc}") from exc
            if chunk is not None:
                return chunk
            log.info("%s changed definition during a snapshot read; reading again", table)
        raise TransientError(f"snapshot of {table}: its definition kept changing during {_ATTEMPTS} reads")

    def _read_once(
        self, table: str, database: str, name: str, after: RawKey | None, limit: int
    ) -> Chunk | None:
        with self._meta.cursor() as meta:
            before = describe(meta, database, name, self._columns)
        if before is None:
            return self._gone(table)
        schema = before.schema
        keyed = bool(schema.primary_key)
        specs = schema.columns
        key_specs = [next(s for s in specs if s.name == k) for k in schema.primary_key]
        charsets = before.charsets
        select = ", ".join(_select_expression(s, c) for s, c in zip(specs, charsets, strict=True))
        if keyed:  # the key again, raw, to continue after it
            select += ", " + ", ".join(_key_expression(s) for s in key_specs)
        sql = f"SELECT {select} FROM {qualified(database, name)}"
        params: list[Any] = []
        if keyed:
            if after is not None:
                condition, params = next_chunk_condition(schema.primary_key, after)
                sql += f" WHERE {condition}"
            sql += " ORDER BY " + ", ".join(quote(k) for k in schema.primary_key) + f" LIMIT {int(limit)}"
        converters = [self._converter(table, s, c) for s, c in zip(specs, charsets, strict=True)]
        width = len(specs)
        spool = RowSpool()
        last: tuple[Any, ...] | None = None
        cur = self._data.cursor(pymysql.cursors.SSCursor)
        try:
            position = self._open_snapshot(cur)
            try:
                cur.execute(sql, params)
            except pymysql.MySQLError as exc:
                if mysql_errors.code(exc) == ER.NO_SUCH_TABLE:
                    cur.execute("COMMIT")
                    return self._gone(table)
                raise
            for raw in cur.fetchall_unbuffered():
                row = list(raw[:width])
                for i, convert in enumerate(converters):
                    if convert is not None and row[i] is not None:
                        try:
                            row[i] = convert(row[i])
                        except InvalidText as exc:
                            raise _undecodable(
                                table, schema.primary_key, raw[width:], specs[i].name, exc
                            ) from exc
                spool.append(row)
                last = raw
            with self._meta.cursor() as meta:
                now = describe(meta, database, name, self._columns)
            cur.execute("COMMIT")
        finally:
            cur.close()
        if now is None or (now.schema, now.charsets) != (schema, charsets):
            spool.close()
            return None  # the definition changed between planning the read and taking the view
        last_key: RawKey | None = list(last[width:]) if keyed and last is not None else None
        complete = not keyed or spool.count < limit
        if not complete and last_key == after:
            spool.close()
            raise PermanentError(
                f"snapshot of {table} makes no progress past key {after!r}: the key does not compare "
                "as read (please report this with the table's definition)"
            )
        return Chunk(table, position, before, spool, last_key, complete)

    def _converter(self, table: str, spec: ColumnSpec, charset: str | None) -> Callable[[Any], Any] | None:
        """Raw value -> the binlog decoder's value for the same column."""
        if spec.kind is ColumnKind.STRING and charset is not None:
            try:
                return self._texts.decoder(charset)
            except UnsupportedCharset as exc:
                database, _, name = table.partition(".")
                raise PermanentError(
                    f"snapshot of {table}: column {spec.name!r}: {exc}. {convert_or_exclude(database, name, spec.name)}"
                ) from exc
        return _CONVERT.get(spec.kind)

    def _open_snapshot(self, cur: Any) -> BinlogPosition:
        """Start the consistent read and return the binlog position its view corresponds to."""
        if self._is_mariadb:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            status = {str(k).lower(): v for k, v in cur.fetchall()}
            return BinlogPosition(
                str(status["binlog_snapshot_file"]), int(status["binlog_snapshot_position"])
            )
        return consistent_position_with_lock(cur)

    def _gone(self, table: str) -> Chunk:
        """A dropped (or renamed-away) table: nothing to read; its DDL is in the stream."""
        with self._data.cursor() as cur:
            position = self._open_snapshot(cur)
            cur.execute("COMMIT")
        return Chunk(table, position, None, RowSpool(), None, True)


def _undecodable(
    table: str, key_names: tuple[str, ...], key: tuple[Any, ...], column: str, exc: InvalidText
) -> PermanentError:
    database, _, name = table.partition(".")
    shown = ", ".join(f"{k}={v!r}" for k, v in zip(key_names, key, strict=False)) or "none (no primary key)"
    return PermanentError(
        f"snapshot of {table}: cannot decode column {column} of the row with key {shown}: {exc}. "
        + exclude_then_correct(database, name, column)
    )


def consistent_position_with_lock(cur: Any) -> BinlogPosition:
    """MySQL has no binlog position for a consistent snapshot: hold the global read lock only
    around taking the view and reading the position (needs RELOAD; waits for running writes)."""
    cur.execute("FLUSH TABLES WITH READ LOCK")
    try:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        status = binlog_status(cur)
    finally:
        cur.execute("UNLOCK TABLES")
    return BinlogPosition(str(status[0]), int(status[1]))


def next_chunk_condition(columns: tuple[str, ...], after: RawKey) -> tuple[str, list[Any]]:
    """``(k1, k2, ...) > (v1, v2, ...)`` expanded so the range optimizer uses the key:
    ``k1 > v1 OR (k1 = v1 AND k2 > v2) OR ...``."""
    if len(columns) != len(after):
        raise PermanentError(f"snapshot resume key {after!r} does not fit primary key {columns}")
    terms, params = [], []
    for i, column in enumerate(columns):
        parts = [f"{quote(c)} = %s" for c in columns[:i]] + [f"{quote(column)} > %s"]
        terms.append("(" + " AND ".join(parts) + ")")
        params.extend([*after[:i], after[i]])
    return " OR ".join(terms), params
