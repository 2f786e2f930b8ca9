"""Rows events → :class:`RowChange`: each table map is compiled once into the table's contract
schema and a lossless row decoder (:mod:`producer.row_decoder`; text in the source's charsets,
:mod:`producer.charsets`), then row images are decoded straight from the event's bytes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pymysqlreplication.constants import FIELD_TYPE
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.producer.charsets import (
    NotDecoded,
    TextDecoders,
    convert_or_exclude,
    exclude_then_correct,
)
from binlog_pipeline.producer.filters import ColumnFilter, TableFilter
from binlog_pipeline.producer.legacy_temporal import LegacyPrecisions
from binlog_pipeline.producer.row_decoder import (
    RowDecodeError,
    RowImageDecoder,
    UnsupportedColumn,
    compile_column,
)
from binlog_pipeline.schemas.envelope import TableSchema

log = logging.getLogger(__name__)

ROW_OPS = {WriteRowsEvent: "c", UpdateRowsEvent: "u", DeleteRowsEvent: "d"}
# Type codes under which MariaDB also logs its 5.3 fractional formats (see producer.legacy_temporal).
_CLASSIC_TEMPORAL = frozenset({FIELD_TYPE.TIME, FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP})
_MAX_KNOWN_COLUMN_LISTS = 8192


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


class RowEvents:
    """Decodes the rows events of captured tables; compiled table maps are cached by table id
    and columns."""

    def __init__(
        self, captured: TableFilter, columns: ColumnFilter, texts: TextDecoders, legacy: LegacyPrecisions
    ) -> None:
        self._captured = captured
        self._columns = columns
        self._texts = texts
        self._legacy = legacy
        self._tables: dict[tuple[Any, ...], CapturedTable] = {}
        # The same definition comes back as the same column list (producer.table_map parses each
        # distinct table map once): by its identity, skip building the signature per rows event.
        self._by_columns: dict[int, tuple[list[Any], CapturedTable]] = {}

    def forget(self) -> None:
        """Table ids are reassigned after DDL: drop compiled maps so definitions are re-read."""
        self._tables.clear()
        self._by_columns.clear()

    def table_for(self, event: Any, file: str) -> CapturedTable | None:
        if not self._captured(event.schema, event.table):
            return None
        if not event.complete:
            raise PermanentError(
                f"rows event for {event.schema}.{event.table} without its table map at "
                f"{file}:{event.packet.log_pos - event.packet.event_size}"
            )
        columns = event.columns
        known = self._by_columns.get(id(columns))
        if known is not None and known[0] is columns:
            return known[1]
        signature = (event.table_id, event.schema, event.table, tuple((c.name, c.type) for c in columns))
        table = self._tables.get(signature)
        if table is None:
            at = f"{file}:{event.packet.log_pos}"
            table = self._compile(event.schema, event.table, columns, at)
            if len(self._tables) >= _MAX_KNOWN_COLUMN_LISTS:  # new table ids after FLUSH TABLES…
                self._tables.clear()
            self._tables[signature] = table
        if len(self._by_columns) >= _MAX_KNOWN_COLUMN_LISTS:  # lists of evicted table maps
            self._by_columns.clear()
        self._by_columns[id(columns)] = (columns, table)
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

    def rows(
        self, event: Any, table: CapturedTable, op: str, first_row: int, file: str
    ) -> Iterator[RowChange]:
        """The event's rows; ``file`` (the binlog file it is in) only names the place in errors."""
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
            raise _undecodable(event, file, table, exc) from exc

    @staticmethod
    def _decode_rows(
        buf: bytes, table: CapturedTable, op: str, first_row: int, ts: int
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


def _undecodable(event: Any, file: str, table: CapturedTable, exc: RowDecodeError) -> PermanentError:
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
        f"ending at {file}:{event.packet.log_pos} "
        f"(key {', '.join(key) or 'not decoded yet'}): {exc.cause}. The stream stops here. "
        + exclude_then_correct(event.schema, event.table, column)
    )
