"""Statements for one target table. Identifiers are always quoted; values are always query
parameters — nothing from a message is ever interpolated into SQL text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from binlog_pipeline.applier.messages import RowChange
from binlog_pipeline.applier.row_match import row_match
from binlog_pipeline.applier.sql_values import row_converter
from binlog_pipeline.applier.target import TableInfo
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.sql import qualified, quote
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Any, ...]
    changes: tuple[RowChange, ...]  # what it applies, to name them in errors


class TableWriter:
    """Builds the statements for one (target table, column layout).

    Columns the target generates (VIRTUAL or STORED) are never written — the server refuses an
    explicit value — nor matched: they are functions of the columns that are, and the target
    computes them from those. The row images carry them (MariaDB logs them with
    binlog_row_image=FULL, a snapshot reads them), so the values are simply left out."""

    def __init__(
        self,
        database: str,
        table: str,
        columns: tuple[ColumnSpec, ...],
        primary_key: tuple[str, ...],
        target: TableInfo,
    ) -> None:
        self.qualified = qualified(database, table)
        self.columns = columns
        self.primary_key = primary_key
        self.target = target
        self.ordered = target.unique_secondary
        # applied one change at a time in stream order (never coalesced)
        self.exact_only = self.ordered or not primary_key
        on_target = {column.name: column for column in target.columns}
        written = tuple(
            spec for spec in columns if not (spec.name in on_target and on_target[spec.name].generated)
        )
        if not written and primary_key:  # MySQL allows a primary key on a STORED generated column
            raise PermanentError(
                f"every column of {self.qualified} that the change carries is generated on the target, the "
                "primary key included: there is nothing to write; give the target table a column it does not "
                "generate"
            )
        self.enum_columns = tuple(
            spec.name for spec in written if spec.kind is ColumnKind.ENUM and "" not in spec.values
        )  # where '' can only be the invalid-value index 0 (see planner.LENIENT)
        self._to_params: Callable[[dict[str, Any]], list[Any]] = row_converter(written)
        by_name = {spec.name: spec for spec in columns}
        self._key_params = row_converter(tuple(by_name[k] for k in primary_key))
        names = [spec.name for spec in written]
        self._column_list = ", ".join(quote(n) for n in names)
        self._row_placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
        self._update_clause = ", ".join(
            f"{quote(n)} = VALUES({quote(n)})" for n in names if n not in primary_key
        ) or (f"{quote(names[0])} = {quote(names[0])}" if names else "")
        if len(primary_key) == 1:
            self._key_expr, self._key_placeholder = quote(primary_key[0]), "%s"
        else:
            self._key_expr = "(" + ", ".join(quote(k) for k in primary_key) + ")"
            self._key_placeholder = "(" + ", ".join(["%s"] * len(primary_key)) + ")"
        self._match = row_match(names, on_target)
        self._set_all = ", ".join(f"{quote(n)} = %s" for n in names)

    # --- tables with a primary key -------------------------------------------------------------
    def upsert(self, changes: Sequence[RowChange]) -> Statement:
        params: list[Any] = []
        for change in changes:
            assert change.after is not None
            params.extend(self._to_params(change.after))
        sql = (
            f"INSERT INTO {self.qualified} ({self._column_list}) VALUES "
            + ", ".join([self._row_placeholders] * len(changes))
            + f" ON DUPLICATE KEY UPDATE {self._update_clause}"
        )
        return Statement(sql, tuple(params), tuple(changes))

    def delete(self, changes: Sequence[RowChange]) -> Statement:
        params: list[Any] = []
        for change in changes:
            assert change.before is not None
            params.extend(self._key_params(change.before))
        sql = (
            f"DELETE FROM {self.qualified} WHERE {self._key_expr} IN ("
            + ", ".join([self._key_placeholder] * len(changes))
            + ")"
        )
        return Statement(sql, tuple(params), tuple(changes))

    # --- exact, in-order statements (tables without a primary key or with unique secondary keys)
    def exact(self, change: RowChange) -> tuple[Statement, ...]:
        if self.primary_key:
            if change.op == "d":
                return (self.delete([change]),)
            if (
                change.op == "u"
                and change.before is not None
                and change.key(change.before) != change.key(change.after)
            ):
                # A key change is delete-old then write-new, not UPDATE ... WHERE old key: during a
                # snapshot the old row may not be on the target yet, and an UPDATE would then
                # silently write nothing (foreign_key_checks=0, so no cascade differs).
                return (self.delete([change]), self.upsert([change]))
            return (self.upsert([change]),)
        # No primary key: the row is identified by all its values, one row at a time (see row_match).
        if change.op in ("c", "r"):
            sql = f"INSERT INTO {self.qualified} ({self._column_list}) VALUES {self._row_placeholders}"
            return (Statement(sql, tuple(self._to_params(change.after or {})), (change,)),)
        before = self._match.params(self._to_params(change.before or {}))
        if change.op == "d":
            return (
                Statement(
                    f"DELETE FROM {self.qualified} WHERE {self._match.sql} LIMIT 1", tuple(before), (change,)
                ),
            )
        if not self._set_all:
            return ()  # every column is generated: the target's row already is what it computes
        after = self._to_params(change.after or {})
        sql = f"UPDATE {self.qualified} SET {self._set_all} WHERE {self._match.sql} LIMIT 1"
        return (Statement(sql, (*after, *before), (change,)),)
