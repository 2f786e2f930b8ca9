"""Turns a run of row changes into target statements: coalesced multi-row statements where that
is exact, one statement per change in stream order where it is not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from binlog_pipeline.applier.coalesce import coalesce
from binlog_pipeline.applier.messages import RowChange
from binlog_pipeline.applier.sql_writer import Statement, TableWriter
from binlog_pipeline.applier.target import SESSION_SQL_MODE, TableInfo
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.routing import route_table

UPSERT_CHUNK = 500
DELETE_CHUNK = 1000
# The session is strict (bad data is an error, never silently converted). A source written in a
# non-strict mode can hold an ENUM's invalid-value index 0 (''), which strict mode refuses; when a
# batch carries one for a table, just that table's statements run non-strict.
LENIENT = Statement("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'", (), ())
STRICT = Statement(f"SET SESSION sql_mode = '{SESSION_SQL_MODE}'", (), ())


def needs_lenient_mode(change: RowChange, enum_columns: tuple[str, ...]) -> bool:
    after = change.after
    return after is not None and any(after[name] == "" for name in enum_columns)


@dataclass(frozen=True)
class Route:
    """Where a source table is applied: routes map 'db' or 'db.table' to another name."""

    routes: dict[str, str]

    def __call__(self, database: str, table: str) -> tuple[str, str]:
        return route_table(self.routes, database, table)


class Planner:
    def __init__(self, route: Route, target_table: Callable[[str, str], TableInfo]) -> None:
        """``target_table(db, table)`` describes a target table (cached by the target until a
        reset or DDL): its unique secondary keys (then it gets exact in-order statements, as a
        table without a primary key in the events does), its generated columns, its charsets."""
        self._route = route
        self._target_table = target_table
        # keyed by the identity of the decoded schema's columns tuple (hashing the ColumnSpecs
        # per row was measurable); the writer keeps that tuple alive, so an id is never reused
        self._writers: dict[tuple[str, str, int, tuple[str, ...]], TableWriter] = {}

    def target_of(self, change: RowChange) -> tuple[str, str]:
        return self._route(change.database, change.table)

    def writer(self, change: RowChange) -> TableWriter:
        """The writer for the change's layout and the target table as it is now: a DDL or a
        reconnect re-reads the target's definition, and the writer is rebuilt from it."""
        key = (change.database, change.table, id(change.columns), change.primary_key)
        database, table = self.target_of(change)
        info = self._target_table(database, table)
        writer = self._writers.get(key)
        if writer is None or writer.target is not info:
            try:
                writer = TableWriter(database, table, change.columns, change.primary_key, info)
            except PermanentError as exc:
                raise PermanentError(f"cannot apply message {change.where}: {exc}") from exc
            self._writers[key] = writer
        return writer

    def exact_statements(self, change: RowChange) -> Iterator[Statement]:
        """One change's own statements, in the statement mode the batch runs it in."""
        writer = self.writer(change)
        lenient = bool(writer.enum_columns) and needs_lenient_mode(change, writer.enum_columns)
        if lenient:
            yield LENIENT
        yield from writer.exact(change)
        if lenient:
            yield STRICT

    def statements(self, changes: list[RowChange]) -> Iterator[Statement]:
        by_layout: dict[tuple[str, str, int, tuple[str, ...]], list[RowChange]] = {}
        for change in changes:
            key = (change.database, change.table, id(change.columns), change.primary_key)
            by_layout.setdefault(key, []).append(change)
        for table_changes in by_layout.values():
            writer = self.writer(table_changes[0])
            enums = writer.enum_columns
            if enums and any(needs_lenient_mode(c, enums) for c in table_changes):
                # Non-strict mode would also clip other rows' out-of-range values silently: only the
                # rows that carry an ENUM error value get it, so this table's changes go one by one.
                for change in table_changes:
                    yield from self.exact_statements(change)
                continue
            yield from self._table_statements(writer, table_changes)

    def _table_statements(self, writer: TableWriter, changes: list[RowChange]) -> Iterator[Statement]:
        if writer.exact_only:
            for change in changes:
                yield from writer.exact(change)
            return
        merged = coalesce(changes)
        for start in range(0, len(merged.deletes), DELETE_CHUNK):
            yield writer.delete(merged.deletes[start : start + DELETE_CHUNK])
        for start in range(0, len(merged.upserts), UPSERT_CHUNK):
            yield writer.upsert(merged.upserts[start : start + UPSERT_CHUNK])
