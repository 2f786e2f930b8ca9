"""python-mysql-replication's table map, with ENUM and SET member names kept as bytes.

The library decodes member names (table-map optional metadata) as UTF-8 and replaces a name it
cannot decode with ``''``; but the names are in the column's charset, so the members of a latin1
``ENUM('ü')`` come out empty and those of a ucs2 ENUM as wrong text. Installed on import of
:mod:`producer.binlog_reader`, this keeps the bytes; :func:`producer.row_decoder.compile_column`
decodes them with the column's charset. The library is pinned (<1.1); the check below fails loudly
if the method it replaces ever goes away.
"""

from __future__ import annotations

from typing import Any

from pymysqlreplication.row_event import TableMapEvent


def _read_type_values(self: Any, length: int) -> list[list[bytes]] | None:
    """The library's method (same reads, same result shape) without the lossy decode."""
    result: list[list[bytes]] = []
    read_until = self.packet.read_bytes + length
    if self.packet.read_bytes >= read_until:
        return None
    while self.packet.read_bytes < read_until:
        count = self.packet.read_length_coded_binary()
        result.append([bytes(self.packet.read_variable_length_string()) for _ in range(count)])
    return result


def install() -> None:
    if not callable(getattr(TableMapEvent, "_read_type_values", None)):
        raise ImportError(
            "python-mysql-replication's TableMapEvent has no _read_type_values: this version of the "
            "library is not one the producer supports (see pyproject.toml)"
        )
    TableMapEvent._read_type_values = _read_type_values
