"""Avro values (the contract's forms, see :mod:`schemas.columns`) → query parameters that the
target stores as exactly the source's value. The session runs with ``time_zone='+00:00'`` and a
sql_mode that allows zero/partial dates (see :mod:`applier.target`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec

_EPOCH = datetime(1970, 1, 1)


def _timestamp(fsp: int) -> Callable[[Any], Any]:
    def convert(micros: int) -> str:
        if micros == 0:
            return "0000-00-00 00:00:00"
        return (_EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%d %H:%M:%S.%f")

    return convert


def converter(spec: ColumnSpec) -> Callable[[Any], Any] | None:
    """A function for the kinds whose Avro form is not already a valid parameter; else None."""
    if spec.kind is ColumnKind.TIMESTAMP:
        return _timestamp(spec.fsp)
    return None


def row_converter(columns: tuple[ColumnSpec, ...]) -> Callable[[dict[str, Any]], list[Any]]:
    """Builds ``row → [param, ...]`` in column order, doing per-kind work only where needed."""
    names = [spec.name for spec in columns]
    converters = [(i, converter(spec)) for i, spec in enumerate(columns)]
    special = [(i, c) for i, c in converters if c is not None]

    def convert(row: dict[str, Any]) -> list[Any]:
        values = [row[name] for name in names]
        for i, fn in special:
            if values[i] is not None:
                values[i] = fn(values[i])
        return values

    return convert
