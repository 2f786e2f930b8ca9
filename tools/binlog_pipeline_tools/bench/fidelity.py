"""Type fidelity: a replicated table compared with its source value by value, column by column —
what ``CHECKSUM TABLE`` says is different, and where."""

from __future__ import annotations

from typing import Any

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.sql import quote
from binlog_pipeline_tools.bench import workloads as w


def column_differences(
    source: DatabaseUrl, source_db: str, target: DatabaseUrl, target_db: str, table: str
) -> dict[str, Any]:
    """An all-types table on ``target_db`` against the source, value by value: per column, how
    many rows differ and the first such row's two values."""
    columns = w.column_names(source, source_db, table)
    select = ", ".join(quote(c) for c in columns)
    rows_source = w.rows_by_id(source, f"SELECT {select} FROM {source_db}.{table}")
    rows_target = w.rows_by_id(target, f"SELECT {select} FROM {target_db}.{table}")
    wrong: dict[str, dict[str, Any]] = {}
    for key, row in rows_source.items():
        other = rows_target.get(key)
        if other is None:
            continue
        for name, a, b in zip(columns, row, other, strict=True):
            if a != b:
                entry = wrong.setdefault(
                    name, {"rows": 0, "example": {"id": key, "source": repr(a), "target": repr(b)}}
                )
                entry["rows"] += 1
    return {
        "rows_source": len(rows_source),
        "rows_missing": len(rows_source.keys() - rows_target.keys()),
        "rows_extra": len(rows_target.keys() - rows_source.keys()),
        "columns_wrong": wrong,
    }
