"""Reads the source binlog with python-mysql-replication and yields what the producer needs:
row changes (decoded losslessly by :mod:`producer.row_decoder`), transaction boundaries with
their exact resume position, schema changes, and idle ticks (server heartbeats)."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.constants import FIELD_TYPE
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, TableMapEvent, UpdateRowsEvent, WriteRowsEvent

from binlog_pipeline.dburl import DatabaseUrl
from binlog_pipeline.errors import PermanentError
from producer import table_map
from producer.charsets import (
    NotDecoded,
    SourceCharsets,
    TextDecoders,
    convert_or_exclude,
    exclude_then_correct,
)
from producer.legacy_temporal import LegacyPrecisions
from producer.position import BinlogPosition, GtidStart
from producer.query_session import QuerySessions
from producer.row_decoder import RowDecodeError, RowImageDecoder, UnsupportedColumn, compile_column
from schemas.ddl import affected_tables
from schemas.ddl_session import DdlSession
from schemas.envelope import TableSchema

log = logging.getLogger(__name__)
table_map.install()


@dataclass(frozen=True)
class CapturedTable:
    """A table map compiled once: the table's contract schema and its row decoder."""

    schema: TableSchema
    decoder: RowImageDecoder


@dataclass(slots=True)
class RowChange:
    table: CapturedTable
    op: str  # c / u / d
    before: list[Any] | None
    after: list[Any] | None
    ts: int
    row: int  # index among the captured rows of the source transaction


@dataclass(frozen=True)
class TxnEnd:
    """A source transaction (or DDL) ended; ``position`` is where the next one starts."""

    position: BinlogPosition
    ts: int


@dataclass(frozen=True)
class SchemaChangeEvent:
    database: str
    statement: str
    tables: tuple[tuple[str, str], ...]
    position: BinlogPosition  # the boundary after the DDL
    ts: int
    session: DdlSession | None = None  # the source session the statement ran in


@dataclass(frozen=True)
class Idle:
    """The server sent a heartbeat: nothing new in the binlog for a moment."""


@dataclass(frozen=True)
class TxnStart:
    gtid: str | None
    position: BinlogPosition | None  # where this transaction's first event starts


Item = RowChange | TxnEnd | SchemaChangeEvent | Idle | TxnStart


class ColumnFilter:
    """Exclude glob patterns over ``db.table.column``."""

    def __init__(self, exclude: list[str]) -> None:
        self._exclude = exclude

    def excluded(self, database: str, table: str, column: str) -> bool:
        name = f"{database}.{table}.{column}"
        return any(fnmatch.fnmatchcase(name, p) for p in self._exclude)

    @staticmethod
    def check_keys_kept(database: str, table: str, dropped: set[str], primary_key: tuple[str, ...]) -> None:
        if dropped & set(primary_key):
            raise PermanentError(
                f"exclude_columns removes primary-key column(s) {sorted(dropped & set(primary_key))} of "
                f"{database}.{table}; keys identify rows downstream and cannot be excluded"
            )


class TableFilter:
    """Include/exclude glob patterns over ``db.table`` (include empty = everything)."""

    def __init__(self, include: list[str], exclude: list[str]) -> None:
        self._include = include
        self._exclude = [*exclude, "mysql.*", "information_schema.*", "performance_schema.*", "sys.*"]
        self._cache: dict[tuple[str, str], bool] = {}

    def __call__(self, database: str, table: str) -> bool:
        key = (database, table)
        hit = self._cache.get(key)
        if hit is None:
            name = f"{database}.{table}"
            included = not self._include or any(fnmatch.fnmatchcase(name, p) for p in self._include)
            hit = included and not any(fnmatch.fnmatchcase(name, p) for p in self._exclude)
            self._cache[key] = hit
        return hit


_ROW_OPS = {WriteRowsEvent: "c", UpdateRowsEvent: "u", DeleteRowsEvent: "d"}
# Type codes under which MariaDB also logs its 5.3 fractional formats (see producer.legacy_temporal).
_CLASSIC_TEMPORAL = frozenset({FIELD_TYPE.TIME, FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP})


class BinlogReader:
    """One replication connection from an exact position. Iterate to get :data:`Item`s."""

    def __init__(
        self,
        url: DatabaseUrl,
        server_id: int,
        start: BinlogPosition | GtidStart,
        captured: TableFilter,
        heartbeat_s: float,
        columns: ColumnFilter | None = None,
        is_mariadb: bool = True,
        texts: TextDecoders | None = None,
    ) -> None:
        self._captured = captured
        self._columns = columns or ColumnFilter([])
        self._texts = texts or SourceCharsets(url)
        self._legacy = LegacyPrecisions(url)
        self._tables: dict[tuple[Any, ...], CapturedTable] = {}
        self._sessions = QuerySessions(url, self._texts)
        if isinstance(start, GtidStart):
            # GTID positioning; is_mariadb picks the MariaDB or the MySQL dump protocol.
            positioning: dict[str, Any] = {"auto_position": start.gtid_set, "is_mariadb": is_mariadb}
            self._previous: BinlogPosition | None = None
        else:
            # By file and position (classic COM_BINLOG_DUMP, MySQL and MariaDB alike):
            # is_mariadb=True would switch the library to GTID positioning and ignore them.
            positioning = {"log_file": start.file, "log_pos": start.pos, "is_mariadb": False}
            self._previous = start
        self._stream = BinLogStreamReader(
            connection_settings=url.connect_kwargs(),
            server_id=server_id,
            resume_stream=True,
            blocking=True,
            slave_heartbeat=heartbeat_s,
            **positioning,
            only_events=[
                RotateEvent,
                GtidEvent,
                MariadbGtidEvent,
                QueryEvent,
                XidEvent,
                TableMapEvent,
                WriteRowsEvent,
                UpdateRowsEvent,
                DeleteRowsEvent,
                HeartbeatLogEvent,
            ],
        )

    def close(self) -> None:
        self._stream.close()
        self._sessions.close()

    @property
    def position(self) -> BinlogPosition | None:
        """The end of the last event read (after a heartbeat: the server's current position)."""
        return self._previous

    def __iter__(self) -> Iterator[Item]:
        row_index = 0
        for event in self._stream:
            kind = type(event)
            if kind in _ROW_OPS:
                table = self._table_for(event)
                if table is None:
                    continue
                for change in self._rows(event, table, _ROW_OPS[kind], row_index):
                    row_index += 1
                    yield change
            elif kind is XidEvent:
                row_index = 0
                yield TxnEnd(BinlogPosition(self._stream.log_file, event.packet.log_pos), event.timestamp)
            elif kind is QueryEvent:
                item = self._query(event)
                if item is not None:
                    if not isinstance(item, TxnStart):
                        row_index = 0
                    yield item
            elif kind in (GtidEvent, MariadbGtidEvent):
                row_index = 0
                yield TxnStart(str(event.gtid), self._previous)
            elif kind is HeartbeatLogEvent:
                yield Idle()
            if self._stream.log_file and self._stream.log_pos:
                # The end of this event is where the next one starts.
                self._previous = BinlogPosition(self._stream.log_file, self._stream.log_pos)
            # RotateEvent: the library tracks the file name (self._stream.log_file) itself.

    def _query(self, event: Any) -> Item | None:
        statement = self._sessions.statement(event, f"{self._stream.log_file}:{event.packet.log_pos}")
        head = statement.lstrip()[:8].upper()
        if head.startswith("BEGIN") or head.startswith("XA START"):
            return None
        position = BinlogPosition(self._stream.log_file, event.packet.log_pos)
        if head.startswith("COMMIT") or head.startswith("XA COMMI"):
            return TxnEnd(position, event.timestamp)
        if head.startswith(("SAVEPOIN", "ROLLBACK")):
            return None
        schema = event.schema if isinstance(event.schema, str) else event.schema.decode("utf8")
        tables = tuple(t for t in affected_tables(statement, schema) if self._captured(*t))
        # Table ids are reassigned after DDL; drop compiled maps so definitions are re-read.
        self._tables.clear()
        session = self._sessions.session(event) if tables else None
        return SchemaChangeEvent(schema, statement, tables, position, event.timestamp, session)

    def _table_for(self, event: Any) -> CapturedTable | None:
        if not self._captured(event.schema, event.table):
            return None
        if not event.complete:
            raise PermanentError(
                f"rows event for {event.schema}.{event.table} without its table map at "
                f"{self._stream.log_file}:{event.packet.log_pos}"
            )
        columns = event.columns
        signature = (event.table_id, event.schema, event.table, tuple((c.name, c.type) for c in columns))
        table = self._tables.get(signature)
        if table is None:
            at = f"{self._stream.log_file}:{event.packet.log_pos}"
            table = self._compile(event.schema, event.table, columns, at)
            self._tables[signature] = table
        return table

    def _compile(self, database: str, table: str, columns: list[Any], at: str) -> CapturedTable:
        """The table's schema and row decoder; ``at`` (the first rows event that needs them) only
        names the place in errors."""
        specs, decoders = [], []
        legacy: dict[str, int] = {}
        if any(column.type in _CLASSIC_TEMPORAL for column in columns):
            legacy = self._legacy.of(database, table)
        for column in columns:
            if not column.name:
                raise PermanentError(
                    f"{database}.{table}: the binlog carries no column names; set "
                    "binlog_row_metadata=FULL on the source (SET GLOBAL binlog_row_metadata=FULL)"
                )
            # An excluded column is read past, never decoded: its charset cannot stop the stream.
            excluded = self._columns.excluded(database, table, column.name)
            try:
                texts = NotDecoded() if excluded else self._texts
                spec, decoder = compile_column(column, texts, legacy.get(column.name, 0))
            except UnsupportedColumn as exc:
                raise PermanentError(
                    f"{database}.{table} (rows event ending at {at}): {exc}. "
                    + convert_or_exclude(database, table, column.name)
                ) from exc
            specs.append(spec)
            decoders.append(decoder)
        primary_key = tuple(c.name for c in columns if c.is_primary)
        keep = [i for i, spec in enumerate(specs) if not self._columns.excluded(database, table, spec.name)]
        dropped = [specs[i].name for i in range(len(specs)) if i not in keep]
        self._columns.check_keys_kept(database, table, set(dropped), primary_key)
        schema = TableSchema(database, table, tuple(specs[i] for i in keep), primary_key)
        log.info(
            "captured table %s.%s",
            database,
            table,
            extra={"columns": len(keep), "excluded": dropped, "primary_key": primary_key},
        )
        return CapturedTable(schema, RowImageDecoder(decoders, keep if dropped else None))

    def _rows(self, event: Any, table: CapturedTable, op: str, first_row: int) -> Iterator[RowChange]:
        decoder = table.decoder
        if not decoder.check_full_image(event.columns_present_bitmap) or (
            op == "u" and not decoder.check_full_image(event.columns_present_bitmap2)
        ):
            raise PermanentError(
                f"{event.schema}.{event.table}: partial row image; set binlog_row_image=FULL on the "
                "source (SET GLOBAL binlog_row_image='FULL')"
            )
        packet = event.packet
        buf = packet.read(event.event_size - packet.read_bytes)
        try:
            yield from self._decode_rows(buf, table, op, first_row, event.timestamp)
        except RowDecodeError as exc:
            raise self._undecodable(event, table, exc) from exc

    def _decode_rows(
        self, buf: bytes, table: CapturedTable, op: str, first_row: int, ts: int
    ) -> Iterator[RowChange]:
        decoder = table.decoder
        pos, end, row = 0, len(buf), first_row
        while pos < end:
            first, pos = decoder.read_row(buf, pos)
            if op == "u":
                after, pos = decoder.read_row(buf, pos)
                yield RowChange(table, op, first, after, ts, row)
            elif op == "c":
                yield RowChange(table, op, None, first, ts, row)
            else:
                yield RowChange(table, op, first, None, ts, row)
            row += 1

    def _undecodable(self, event: Any, table: CapturedTable, exc: RowDecodeError) -> PermanentError:
        """The error naming the event, the table, the column, the key and the fix."""
        names = [c.name for c in event.columns]
        column = names[exc.column]
        key = [
            f"{name}={exc.values[i]!r}"
            for i, name in enumerate(names)
            if name in table.schema.primary_key and i < exc.column
        ]
        return PermanentError(
            f"{event.schema}.{event.table}: cannot decode column {column} of a row in the binlog event "
            f"ending at {self._stream.log_file}:{event.packet.log_pos} "
            f"(key {', '.join(key) or 'not decoded yet'}): {exc.cause}. The stream stops here. "
            + exclude_then_correct(event.schema, event.table, column)
        )
