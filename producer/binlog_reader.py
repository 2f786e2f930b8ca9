"""Reads the source binlog with python-mysql-replication and yields what the producer needs:
row changes (decoded losslessly by :mod:`producer.row_events`), transaction boundaries with
their exact resume position, schema changes, and idle ticks (server heartbeats).

Rows of an XA transaction are yielded at its ``XA COMMIT``, read again from where its ``XA
PREPARE`` left them (:mod:`producer.xa`); statement-logged DML is judged by
:mod:`producer.statement_dml`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    ExecuteLoadQueryEvent,
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XAPrepareEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from binlog_pipeline.core import mysql_errors
from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.producer import rows_event_header, table_map
from binlog_pipeline.producer.charsets import SourceCharsets, TextDecoders
from binlog_pipeline.producer.filters import ColumnFilter, TableFilter
from binlog_pipeline.producer.legacy_temporal import LegacyPrecisions
from binlog_pipeline.producer.position import BinlogPosition, GtidStart, PreparedXa
from binlog_pipeline.producer.query_session import QuerySessions
from binlog_pipeline.producer.row_events import ROW_OPS, RowChange, RowEvents
from binlog_pipeline.producer.statement_dml import StatementCheck, written_tables
from binlog_pipeline.producer.xa import FL_PREPARED_XA, xa_query, xid_of_prepare
from binlog_pipeline.schemas.ddl import affected_tables
from binlog_pipeline.schemas.ddl_session import DdlSession

log = logging.getLogger(__name__)
table_map.install()
rows_event_header.install()
# The source cannot send the binlog from the requested position (e.g. its file was purged).
ER_MASTER_FATAL_ERROR_READING_BINLOG = 1236


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
    gtid_at: BinlogPosition  # where its GTID event starts (identifies the source: source_identity)


Item = RowChange | TxnEnd | SchemaChangeEvent | Idle | TxnStart


# MariaDB GTID event flag: the event group is one statement without BEGIN/COMMIT (DDL, ...).
FL_STANDALONE = 1
# Event header flag: the statement uses a temporary table of its session.
LOG_EVENT_THREAD_SPECIFIC_F = 0x4


# Table maps are not among them: the library parses them anyway (it needs them for rows events)
# and handing each one to our loop as well only costs time.
_STREAM_EVENTS = [
    RotateEvent,
    GtidEvent,
    MariadbGtidEvent,
    QueryEvent,
    ExecuteLoadQueryEvent,
    XidEvent,
    XAPrepareEvent,
    WriteRowsEvent,
    UpdateRowsEvent,
    DeleteRowsEvent,
]


@dataclass
class _Preparing:
    """The XA PREPARE event group being read: its rows are not yielded there (producer/xa.py)."""

    gtid: str | None
    start: BinlogPosition
    tables: set[str] = field(default_factory=set)
    statements: bool = False

    def prepared(self, xid: str) -> PreparedXa:
        return PreparedXa(xid, self.start, self.gtid, tuple(sorted(self.tables)), self.statements)


class BinlogReader:
    """One replication connection from an exact position. Iterate to get :data:`Item`s.

    ``prepared`` maps xid → the XA transactions prepared and not completed at the start position
    (from the checkpoint). It changes only when the item that ends a PREPARE, COMMIT or ROLLBACK
    event group is yielded, so at any item it is the set as of the last boundary yielded."""

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
        prepared: tuple[PreparedXa, ...] = (),
        texts: TextDecoders | None = None,  # the source's charsets (shared with the snapshot)
    ) -> None:
        self._url = url
        self._server_id = server_id
        self._heartbeat_s = heartbeat_s
        self._captured = captured
        self._statements = StatementCheck(captured, table_type)
        self._in_transaction = False  # inside BEGIN … COMMIT: a statement there is no boundary
        texts = texts or SourceCharsets(url)
        self._rows = RowEvents(captured, columns, texts, LegacyPrecisions(url))
        self._sessions = QuerySessions(url, texts)
        self.prepared: dict[str, PreparedXa] = {xa.xid: xa for xa in prepared}
        self._preparing: _Preparing | None = None
        self._gtid: tuple[str, BinlogPosition] | None = None  # the current group's GTID and its place
        self._replay: BinLogStreamReader | None = None
        if isinstance(start, GtidStart):
            # GTID positioning; is_mariadb picks the MariaDB or the MySQL dump protocol.
            positioning: dict[str, Any] = {"auto_position": start.gtid_set, "is_mariadb": is_mariadb}
            self._previous: BinlogPosition | None = None
        else:
            positioning = self._at(start)
            self._previous = start
        self._end_of_last: tuple[str, int] | None = None
        self._stream = self._open(positioning, blocking=True)

    def _open(self, positioning: dict[str, Any], blocking: bool) -> BinLogStreamReader:
        return BinLogStreamReader(
            connection_settings=self._url.connect_kwargs(),
            server_id=self._server_id,
            resume_stream=True,
            blocking=blocking,
            slave_heartbeat=self._heartbeat_s if blocking else None,
            **positioning,
            only_events=[*_STREAM_EVENTS, HeartbeatLogEvent] if blocking else _STREAM_EVENTS,
        )

    @staticmethod
    def _at(position: BinlogPosition) -> dict[str, Any]:
        # By file and position (classic COM_BINLOG_DUMP, MySQL and MariaDB alike):
        # is_mariadb=True would switch the library to GTID positioning and ignore them.
        return {"log_file": position.file, "log_pos": position.pos, "is_mariadb": False}

    def close(self) -> None:
        self._stream.close()
        if self._replay is not None:
            self._replay.close()
        self._sessions.close()

    @property
    def position(self) -> BinlogPosition | None:
        """The end of the last event read (after a heartbeat: the server's current position)."""
        last = self._end_of_last
        if last is not None and (self._previous is None or (self._previous.file, self._previous.pos) != last):
            self._previous = BinlogPosition(*last)
        return self._previous

    def __iter__(self) -> Iterator[Item]:
        row_index = 0
        # Not ``for event in self._stream``: an XA COMMIT replaces the stream (see _replayed).
        while (event := self._stream.fetchone()) is not None:
            kind = type(event)
            if kind in ROW_OPS:
                if self._preparing is not None:
                    if self._captured(event.schema, event.table):  # published at its XA COMMIT
                        self._preparing.tables.add(f"{event.schema}.{event.table}")
                else:
                    table = self._rows.table_for(event, self._stream.log_file)
                    if table is not None:
                        for change in self._rows.rows(
                            event, table, ROW_OPS[kind], row_index, self._stream.log_file
                        ):
                            row_index += 1
                            yield change
            elif kind is XidEvent:
                row_index = 0
                self._in_transaction = False
                yield TxnEnd(BinlogPosition(self._stream.log_file, event.packet.log_pos), event.timestamp)
            elif kind is QueryEvent or kind is ExecuteLoadQueryEvent:
                for item in self._query(event, row_index):
                    row_index = item.row + 1 if isinstance(item, RowChange) else 0
                    yield item
            elif kind is XAPrepareEvent:
                yield from self._xa_prepared(event)
                row_index = 0
            elif kind in (GtidEvent, MariadbGtidEvent):
                row_index = 0
                # MariaDB's GTID event says whether BEGIN … COMMIT follows; MySQL logs a BEGIN query.
                self._in_transaction = kind is MariadbGtidEvent and not event.flags & FL_STANDALONE
                gtid_at = _start_of(event, self._stream.log_file)
                self._gtid = (str(event.gtid), gtid_at)
                if kind is MariadbGtidEvent and event.flags & FL_PREPARED_XA:
                    self._preparing = _Preparing(str(event.gtid), gtid_at)
                yield TxnStart(str(event.gtid), self.position, gtid_at)
            elif kind is HeartbeatLogEvent:
                yield Idle()
            if self._stream.log_file and self._stream.log_pos:
                # The end of this event is where the next one starts (made a BinlogPosition only
                # when asked for: this runs for every event).
                self._end_of_last = (self._stream.log_file, self._stream.log_pos)
            # RotateEvent: the library tracks the file name (self._stream.log_file) itself.

    def _query(self, event: Any, row_index: int) -> Iterator[Item]:
        statement, schema = self._statement(event, self._stream.log_file)
        position = BinlogPosition(self._stream.log_file, event.packet.log_pos)
        xa = xa_query(statement)
        if xa is not None:
            yield from self._xa_query(*xa, event, position, row_index)
            return
        if self._preparing is not None:
            # Judged when it commits (producer/xa.py): a rolled-back one changed nothing.
            self._preparing.statements |= written_tables(statement, schema) is not None
            return
        head = statement.lstrip()[:8].upper()
        if head.startswith("BEGIN"):
            self._in_transaction = True
            return
        if head.startswith("COMMIT"):
            self._in_transaction = False
            yield TxnEnd(position, event.timestamp)
            return
        if head.startswith(("SAVEPOIN", "ROLLBACK")):
            return
        uses_temporary = bool(event.packet.flags & LOG_EVENT_THREAD_SPECIFIC_F)
        if self._statements.check(statement, schema, uses_temporary, _start_of(event, position.file)):
            # DML on tables not captured (it raises for captured ones): nothing to publish. Inside
            # BEGIN … COMMIT it is no boundary; a standalone one ends its event group.
            if not self._in_transaction:
                yield TxnEnd(position, event.timestamp)
            return
        tables = tuple(t for t in affected_tables(statement, schema) if self._captured(*t))
        if self._in_transaction and not tables:
            return  # e.g. CREATE TEMPORARY TABLE inside a statement-logged transaction
        self._rows.forget()
        self._statements.forget()
        session = self._sessions.session(event) if tables else None
        yield SchemaChangeEvent(schema, statement, tables, position, event.timestamp, session)

    def _statement(self, event: Any, file: str) -> tuple[str, str]:
        """(statement, default schema) of a Query event, decoded in its client's charset
        (:mod:`producer.query_session`), or of LOAD DATA's Execute_load_query event."""
        if isinstance(event, ExecuteLoadQueryEvent):
            return load_query_text(event)
        statement = self._sessions.statement(event, f"{file}:{event.packet.log_pos}")
        return statement, _text(event.schema)

    # --- XA (producer/xa.py) ------------------------------------------------------------------
    def _xa_query(
        self, verb: str, xid: str, event: Any, position: BinlogPosition, row_index: int
    ) -> Iterator[Item]:
        if verb == "START":  # MySQL opens its XA PREPARE group with this query
            gtid = self._gtid[0] if self._gtid is not None else None
            self._preparing = _Preparing(gtid, _start_of(event, position.file))
            self._in_transaction = True
        elif verb == "COMMIT":
            prepared = self.prepared.get(xid)
            if prepared is None:
                raise PermanentError(
                    f"XA COMMIT {xid} at {_start_of(event, position.file)}: this producer never read its "
                    "XA PREPARE (it was prepared before the position the pipeline started or re-snapshotted "
                    "from), so its rows are unknown and may belong to captured tables. Fix: commit or roll "
                    "back prepared XA transactions (XA RECOVER lists them) before starting a pipeline; to "
                    "go on, start a new pipeline with a snapshot (new topic_prefix and transactional_id, "
                    "snapshot_mode=initial)."
                )
            if prepared.publishes:
                yield from self._replayed(prepared, position, row_index)
            self.prepared = {k: v for k, v in self.prepared.items() if k != xid}
            self._in_transaction = False
            yield TxnEnd(position, event.timestamp)
        elif verb == "ROLLBACK":  # after PREPARE (before it, nothing is logged): publish nothing
            self.prepared = {k: v for k, v in self.prepared.items() if k != xid}
            self._in_transaction = False
            yield TxnEnd(position, event.timestamp)
        # END: inside the PREPARE group, which the XA_prepare event ends.

    def _xa_prepared(self, event: Any) -> Iterator[Item]:
        """The XA_prepare event ends a PREPARE group: remember it, or (MySQL's XA COMMIT … ONE
        PHASE) it is the commit, published here."""
        position = BinlogPosition(self._stream.log_file, event.packet.log_pos)
        preparing, self._preparing, self._in_transaction = self._preparing, None, False
        if preparing is None:
            raise PermanentError(
                f"XA_prepare event at {_start_of(event, position.file)} without its XA START"
            )
        prepared = preparing.prepared(xid_of_prepare(event))
        if event.one_phase:
            if prepared.publishes:
                yield from self._replayed(prepared, position, 0)
        else:
            self.prepared = {**self.prepared, prepared.xid: prepared}
            if prepared.publishes:
                log.info(
                    "XA transaction %s prepared at %s: published at its XA COMMIT",
                    prepared.xid,
                    prepared.start,
                )
        yield TxnEnd(position, event.timestamp)

    def _replayed(self, prepared: PreparedXa, resume: BinlogPosition, first_row: int) -> Iterator[RowChange]:
        """The rows of a prepared XA transaction, read again from its PREPARE group, then the
        stream continues at ``resume``. One replication connection at a time per server_id (a
        second one would displace the first), so the stream is closed meanwhile."""
        self._stream.close()
        self._replay = replay = self._open(self._at(prepared.start), blocking=False)
        row_index = first_row
        try:
            while (event := _fetch(replay, prepared)) is not None:
                kind = type(event)
                if kind in ROW_OPS:
                    table = self._rows.table_for(event, replay.log_file)
                    if table is not None:
                        for change in self._rows.rows(
                            event, table, ROW_OPS[kind], row_index, replay.log_file
                        ):
                            row_index += 1
                            yield change
                elif kind is QueryEvent or kind is ExecuteLoadQueryEvent:
                    statement, schema = self._statement(event, replay.log_file)
                    if xa_query(statement) is None:
                        uses_temporary = bool(event.packet.flags & LOG_EVENT_THREAD_SPECIFIC_F)
                        self._statements.check(
                            statement, schema, uses_temporary, _start_of(event, replay.log_file)
                        )
                elif kind in (GtidEvent, MariadbGtidEvent) and prepared.gtid not in (None, str(event.gtid)):
                    break
                elif kind is XAPrepareEvent:
                    if xid_of_prepare(event) != prepared.xid:
                        break
                    self._stream = self._open(self._at(resume), blocking=True)
                    return
            raise PermanentError(
                f"XA transaction {prepared.xid} (GTID {prepared.gtid}) is not where it was prepared, at "
                f"{prepared.start}: the binlog changed under the pipeline. Start a new pipeline with a snapshot."
            )
        finally:
            replay.close()
            self._replay = None


def _fetch(replay: BinLogStreamReader, prepared: PreparedXa) -> Any:
    try:
        return replay.fetchone()
    except pymysql.err.OperationalError as exc:
        if mysql_errors.code(exc) == ER_MASTER_FATAL_ERROR_READING_BINLOG:
            raise PermanentError(
                f"XA transaction {prepared.xid} was prepared at {prepared.start} and committed now, but "
                f"the source cannot read it there any more ({exc.args[1]}): its binlog file was purged "
                "while it was prepared. Its rows are lost to CDC: re-sync the tables "
                f"{', '.join(prepared.tables) or '(statement-logged)'} from a snapshot "
                "(`binlog-pipeline snapshot --table`) after excluding them for one run, or start a new "
                "pipeline with a snapshot."
            ) from exc
        raise


def _start_of(event: Any, file: str) -> BinlogPosition:
    """Where ``event`` starts: its header holds where it ends (log_pos) and its length."""
    return BinlogPosition(file, event.packet.log_pos - event.packet.event_size)


def load_query_text(event: ExecuteLoadQueryEvent) -> tuple[str, str]:
    """(statement, default schema) of LOAD DATA's Execute_load_query event, whose text
    python-mysql-replication does not read: after its fixed fields come the status variables, the
    schema, a NUL and the statement. Only judged by :mod:`producer.statement_dml`, never
    published; read as UTF-8, since the library does not parse this event's status variables
    (where its client charset is)."""
    packet = event.packet
    packet.read(event.status_vars_length)
    schema = packet.read(event.schema_length)
    packet.read(1)
    query = packet.read(event.event_size - packet.read_bytes)
    return query.decode("utf8", "replace"), _text(schema)


def _text(name: bytes | str) -> str:
    return name if isinstance(name, str) else name.decode("utf8")
