"""python-mysql-replication's table map: ENUM and SET member names kept as bytes, and each
distinct table map parsed once.

The library decodes member names (table-map optional metadata) as UTF-8 and replaces a name it
cannot decode with ``''``; but the names are in the column's charset, so the members of a latin1
``ENUM('ü')`` come out empty and those of a ucs2 ENUM as wrong text. Installed on import of
:mod:`producer.binlog_reader`, this keeps the bytes; :func:`producer.row_decoder.compile_column`
decodes them with the column's charset.

The server logs a table map before every rows event, and the library parses each one into fresh
``Table`` and ``Column`` objects: on small OLTP transactions that was ~40% of the producer's CPU
(py-spy, bench/results/NOTES.md). A table map's body is a pure function of the table's definition
as the binlog describes it (id, names, types, metadata, charsets, column names), so the body bytes
are the cache key: the same bytes give the same parse, and any change to the definition (DDL, a
table id reused after a restart) gives other bytes and a fresh parse. The library is pinned (<1.1);
the checks below fail loudly if what they replace ever goes away.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pymysqlreplication.row_event import TableMapEvent

from binlog_pipeline.producer.binlog_event_base import set_base_attributes

# Distinct table maps kept, and their columns in all (a Column object is ~300 bytes: the
# column budget bounds the cache near 30 MB whatever the tables' widths).
CACHE_SIZE = 4096
CACHE_COLUMNS = 100_000
# The event header the packet starts with (OK byte + 19 header bytes), and the CRC32 footer: the
# header and footer hold the event's position and time, so they are not part of the key.
_HEADER = 20
_FOOTER = 4
# What the library's filters and options may change in the parse: part of a cached entry.
_OPTIONS = (
    "only_tables",
    "ignored_tables",
    "only_schemas",
    "ignored_schemas",
    "freeze_schema",
    "optional_meta_data",
)

_library_init = TableMapEvent.__init__
_parsed: OrderedDict[bytes, tuple[tuple[Any, ...], dict[str, Any]]] = OrderedDict()
_parsed_columns = 0


def _init_once_per_definition(
    self: Any,
    from_packet: Any,
    event_size: int,
    table_map: dict[int, Any],
    ctl_connection: Any,
    **kwargs: Any,
) -> None:
    """The library's ``__init__``; for a table map seen before, the header part only and the
    earlier parse reused: the same ``Table`` object goes into ``table_map`` (nothing mutates it)."""
    if kwargs.get("verify_checksum"):  # its check re-reads the packet: keep the library's own path
        _library_init(self, from_packet, event_size, table_map, ctl_connection, **kwargs)
        return
    data = from_packet.packet._data
    key = bytes(data[_HEADER : len(data) - _FOOTER if kwargs.get("use_checksum") else len(data)])
    options = (*(kwargs.get(name) for name in _OPTIONS), bool(kwargs.get("use_checksum")))
    cached = _parsed.get(key)
    if cached is not None and cached[0] == options:
        _parsed.move_to_end(key)
        set_base_attributes(self, from_packet, event_size, table_map, ctl_connection, kwargs)
        self.__dict__.update(cached[1])
        if self._processed:
            table_map[self.table_id] = self.table_obj
        return
    if kwargs.get("use_checksum"):
        _library_init(self, from_packet, event_size, table_map, ctl_connection, **kwargs)
    else:
        # The library stops reading the optional metadata 4 bytes before the end, where a CRC32
        # would be, checksum or not: without one it missed the last block — MariaDB's primary
        # key. Four bytes in the checksum's place let it read every block.
        packet = from_packet.packet
        packet._data = bytes(data) + bytes(_FOOTER)
        try:
            _library_init(self, from_packet, event_size, table_map, ctl_connection, **kwargs)
        finally:
            packet._data = data
    if self._processed:
        parsed = {k: v for k, v in self.__dict__.items() if k not in _PER_EVENT}
        _remember(key, options, parsed)


def _remember(key: bytes, options: tuple[Any, ...], parsed: dict[str, Any]) -> None:
    """Keep a parse, evicting the least recently used ones beyond the budget — counted in
    columns, since a parse's size grows with its table's width (FLUSH TABLES, a backup's read
    lock or more tables than table_definition_cache give every table a new id, so new bytes)."""
    global _parsed_columns
    previous = _parsed.pop(key, None)
    if previous is not None:
        _parsed_columns -= len(previous[1].get("columns", ()))
    _parsed[key] = (options, parsed)
    _parsed_columns += len(parsed.get("columns", ()))
    while len(_parsed) > 1 and (len(_parsed) > CACHE_SIZE or _parsed_columns > CACHE_COLUMNS):
        _, (_, evicted) = _parsed.popitem(last=False)
        _parsed_columns -= len(evicted.get("columns", ()))


# What every event gets from BinLogEvent.__init__ (producer.binlog_event_base), not the parse.
_PER_EVENT = frozenset(
    {
        "packet",
        "table_map",
        "event_type",
        "timestamp",
        "event_size",
        "_post_header_lengths",
        "_ctl_connection",
        "mysql_version",
        "_ignore_decode_errors",
        "_verify_checksum",
        "_is_event_valid",
        "dbms",
    }
)


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
    if not callable(getattr(TableMapEvent, "get_table", None)):
        raise ImportError(
            "python-mysql-replication's TableMapEvent has no get_table: this version of the library "
            "is not one the producer supports (see pyproject.toml)"
        )
    TableMapEvent.__init__ = _init_once_per_definition
