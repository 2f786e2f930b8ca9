"""Row changes built by hand, as the applier decodes them from a table topic."""

from __future__ import annotations

from typing import Any

from binlog_pipeline.applier.messages import Coordinates, RowChange
from binlog_pipeline.applier.target import TableInfo, TargetColumn
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec

ID = ColumnSpec("id", ColumnKind.INT)
NAME = ColumnSpec("name", ColumnKind.STRING)
COLUMNS = (ID, NAME)


def change(
    op: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    *,
    columns: tuple[ColumnSpec, ...] = COLUMNS,
    primary_key: tuple[str, ...] = ("id",),
    table: str = "t",
    offset: int = 0,
    partition: int = 0,
) -> RowChange:
    return RowChange(
        Coordinates("binlog.db.t", partition, offset),
        "db",
        table,
        op,
        before,
        after,
        columns,
        primary_key,
        size=10,
    )


def target_column(spec: ColumnSpec, generated: bool = False) -> TargetColumn:
    """The target column a plain copy of ``spec`` has: text kinds in utf8mb4."""
    text = spec.kind in (ColumnKind.STRING, ColumnKind.ENUM, ColumnKind.SET)
    data_type = {ColumnKind.STRING: "varchar", ColumnKind.JSON: "json"}.get(spec.kind, spec.kind.value)
    return TargetColumn(spec.name, data_type, "utf8mb4" if text else None, generated)


def table_info(
    columns: tuple[ColumnSpec, ...] = COLUMNS,
    *,
    unique_secondary: bool = False,
    generated: tuple[str, ...] = (),
) -> TableInfo:
    return TableInfo(
        exists=True,
        columns=tuple(target_column(spec, spec.name in generated) for spec in columns),
        unique_secondary=unique_secondary,
    )
