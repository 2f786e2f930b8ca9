"""Reads the source binlog with python-mysql-replication and yields what the producer needs:
row changes (decoded losslessly by :mod:`producer.row_decoder`), transaction boundaries with
their exact resume position, schema changes, and idle ticks (server heartbeats)."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    ExecuteLoadQueryEvent,
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
from producer.position import BinlogPosition, GtidStart
from producer.row_decoder import RowImageDecoder, UnsupportedColumn, compile_column
from producer.statement_dml import StatementCheck
from schemas.ddl import affected_tables
from schemas.envelope import TableSchema

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Idle:
    """The server sent a heartbeat: nothing new in the binlog for a moment."""


@dataclass(frozen=True)
class TxnStart:
    gtid: str | None
    position: BinlogPosition | None  # where this transaction's first event starts
    gtid_at: BinlogPosition  # where its GTID event starts (identifies the source: source_identity)


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
# MariaDB GTID event flag: the event group is one statement without BEGIN/COMMIT (DDL, ...).
FL_STANDALONE = 1
# Event header flag: the statement uses a temporary table of its session.
LOG_EVENT_THREAD_SPECIFIC_F = 0x4


class BinlogReader:
    """One replication connection from an exact position. Iterate to get :data:`Item`s."""

    def __init__(
        self,
        url: DatabaseUrl,
        server_id: int,
        start: BinlogPosition | GtidStart,
        captured: TableFilter,
        heartbeat_s: float,
        columns: ColumnFilter,
        is_mariadb: bool,
        table_type: Callable[[str, str], str | None],  # the source's TABLE_TYPE now (statement_dml)
    ) -> None:
        self._captured = captured
        self._statements = StatementCheck(captured, table_type)
        self._in_transaction = False  # inside BEGIN … COMMIT: a statement there is no boundary
        self._columns = columns
        self._tables: dict[tuple[Any, ...], CapturedTable] = {}
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
                ExecuteLoadQueryEvent,
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
                self._in_transaction = False
                yield TxnEnd(BinlogPosition(self._stream.log_file, event.packet.log_pos), event.timestamp)
            elif kind is QueryEvent or kind is ExecuteLoadQueryEvent:
                item = self._query(event)
                if item is not None:
                    row_index = 0
                    yield item
            elif kind in (GtidEvent, MariadbGtidEvent):
                row_index = 0
                # MariaDB's GTID event says whether BEGIN … COMMIT follows; MySQL logs a BEGIN query.
                self._in_transaction = kind is MariadbGtidEvent and not event.flags & FL_STANDALONE
                packet = event.packet  # the header's log_pos is the event's end; event_size its length
                gtid_at = BinlogPosition(self._stream.log_file, packet.log_pos - packet.event_size)
                yield TxnStart(str(event.gtid), self._previous, gtid_at)
            elif kind is HeartbeatLogEvent:
                yield Idle()
            if self._stream.log_file and self._stream.log_pos:
                # The end of this event is where the next one starts.
                self._previous = BinlogPosition(self._stream.log_file, self._stream.log_pos)
            # RotateEvent: the library tracks the file name (self._stream.log_file) itself.

    def _query(self, event: Any) -> Item | None:
        statement, schema = query_text(event)
        head = statement.lstrip()[:8].upper()
        if head.startswith("BEGIN") or head.startswith("XA START"):
            self._in_transaction = True
            return None
        position = BinlogPosition(self._stream.log_file, event.packet.log_pos)
        if head.startswith("COMMIT") or head.startswith("XA COMMI"):
            self._in_transaction = False
            return TxnEnd(position, event.timestamp)
        if head.startswith(("SAVEPOIN", "ROLLBACK")):
            return None
        started = BinlogPosition(self._stream.log_file, event.packet.log_pos - event.packet.event_size)
        uses_temporary = bool(event.packet.flags & LOG_EVENT_THREAD_SPECIFIC_F)
        if self._statements.check(statement, schema, uses_temporary, started):
            # DML on tables not captured (it raises for captured ones): nothing to publish. Inside
            # BEGIN … COMMIT it is no boundary; a standalone one ends its event group.
            return None if self._in_transaction else TxnEnd(position, event.timestamp)
        tables = tuple(t for t in affected_tables(statement, schema) if self._captured(*t))
        if self._in_transaction and not tables:
            return None  # e.g. CREATE TEMPORARY TABLE inside a statement-logged transaction
        # Table ids are reassigned after DDL; drop compiled maps so definitions are re-read.
        self._tables.clear()
        self._statements.forget()
        return SchemaChangeEvent(schema, statement, tables, position, event.timestamp)

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
            table = self._compile(event.schema, event.table, columns)
            self._tables[signature] = table
        return table

    def _compile(self, database: str, table: str, columns: list[Any]) -> CapturedTable:
        specs, decoders = [], []
        for column in columns:
            if not column.name:
                raise PermanentError(
                    f"{database}.{table}: the binlog carries no column names; set "
                    "binlog_row_metadata=FULL on the source (SET GLOBAL binlog_row_metadata=FULL)"
                )
            try:
                spec, decoder = compile_column(column)
            except UnsupportedColumn as exc:
                raise PermanentError(f"{database}.{table}: {exc}") from exc
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
        pos, end, row, ts = 0, len(buf), first_row, event.timestamp
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


def query_text(event: Any) -> tuple[str, str]:
    """(statement, default schema) of a Query event or of LOAD DATA's Execute_load_query event,
    whose text python-mysql-replication does not read: after its fixed fields come the status
    variables, the schema, a NUL and the statement."""
    if isinstance(event, ExecuteLoadQueryEvent):
        packet = event.packet
        packet.read(event.status_vars_length)
        schema: Any = packet.read(event.schema_length)
        packet.read(1)
        query: Any = packet.read(event.event_size - packet.read_bytes)
    else:
        schema, query = event.schema, event.query
    return (
        query if isinstance(query, str) else query.decode("utf8", "replace"),
        schema if isinstance(schema, str) else schema.decode("utf8"),
    )
