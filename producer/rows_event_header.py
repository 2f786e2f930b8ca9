"""python-mysql-replication's rows events, with their header read in one step.

The library's ``RowsEvent.__init__`` runs for every rows event: the base event's keyword-heavy
set-up, a dict of the whole table built to find its primary key (``Table.data``), and byte reads
through several wrappers — ~12% of the producer's CPU on small OLTP transactions (py-spy,
bench/results/NOTES.md). The producer decodes the row images itself (:mod:`producer.row_events`),
so it needs only the header: this reads it directly and sets the same attributes the library
sets, with the same values (tests/producer/test_rows_event_header.py compares the two on real
events). Anything unusual — checksum verification, the library's own table filters, a
post-header length other than the documented one, V2 extra data — takes the library's path.
Installed on import of :mod:`producer.binlog_reader`; the library is pinned (<1.1) and the
check in :func:`install` fails loudly if what this relies on goes away.
"""

from __future__ import annotations

from typing import Any

from pymysqlreplication.constants import BINLOG
from pymysqlreplication.row_event import RowsEvent

from binlog_pipeline.producer.binlog_event_base import set_base_attributes

_library_init = RowsEvent.__init__

_V2 = frozenset({BINLOG.WRITE_ROWS_EVENT_V2, BINLOG.UPDATE_ROWS_EVENT_V2, BINLOG.DELETE_ROWS_EVENT_V2})
_V1 = frozenset({BINLOG.WRITE_ROWS_EVENT_V1, BINLOG.UPDATE_ROWS_EVENT_V1, BINLOG.DELETE_ROWS_EVENT_V1})
_POST_HEADER = {**dict.fromkeys(_V1, 8), **dict.fromkeys(_V2, 10)}


def _init_header_only(
    self: Any,
    from_packet: Any,
    event_size: int,
    table_map: dict[int, Any],
    ctl_connection: Any,
    **kwargs: Any,
) -> None:
    event_type = from_packet.event_type
    known = _POST_HEADER.get(event_type)
    if known is None or not _plain(from_packet, event_type, known, kwargs):
        _library_init(self, from_packet, event_size, table_map, ctl_connection, **kwargs)
        return
    data = from_packet.packet._data
    at = from_packet.packet._position
    table_id = int.from_bytes(data[at : at + 6], "little")
    table = table_map.get(table_id)
    set_base_attributes(self, from_packet, event_size, table_map, ctl_connection, kwargs)
    attributes = self.__dict__
    attributes.update(
        _RowsEvent__rows=None,
        _RowsEvent__only_tables=None,
        _RowsEvent__ignored_tables=None,
        _RowsEvent__only_schemas=None,
        _RowsEvent__ignored_schemas=None,
        _RowsEvent__use_column_name_cache=kwargs.get("use_column_name_cache", False),
        _RowsEvent__enable_logging=kwargs.get("enable_logging", False),
        _RowsEvent__none_sources={},
        table_id=table_id,
    )
    if table is None:  # the library's answer to a rows event without its table map
        from_packet.read(6)
        self._processed = False
        return
    attributes.update(primary_key=table.primary_key, schema=table.schema, table=table.table)
    self.flags = int.from_bytes(data[at + 6 : at + 8], "little")
    if event_type in _V2:
        self.extra_data_length = 2
    from_packet.read(known)  # table id, flags (and V2's extra-data length)
    self.number_of_columns = from_packet.read_length_coded_binary()
    self.columns = table.columns
    # The subclass (write, update, delete) reads its column bitmaps next, as with the library.


def _plain(from_packet: Any, event_type: int, known: int, kwargs: dict[str, Any]) -> bool:
    """An event the fast path reads exactly as the library would."""
    get = kwargs.get  # the library's own filters: its path applies them
    if (
        get("verify_checksum")
        or get("only_tables") is not None
        or get("ignored_tables") is not None
        or get("only_schemas") is not None
        or get("ignored_schemas") is not None
    ):
        return False
    if from_packet._BinLogPacketWrapper__data_buffer:  # bytes pushed back: read through the library
        return False
    lengths = kwargs.get("post_header_lengths")
    if lengths and 0 < event_type <= len(lengths) and lengths[event_type - 1] != known:
        return False
    if event_type in _V2:
        data, at = from_packet.packet._data, from_packet.packet._position
        if int.from_bytes(data[at + 8 : at + 10], "little") != 2:  # extra data beyond its length
            return False
    return True


def install() -> None:
    """Our header reader for the library's rows events (write, update, delete; V1 and V2)."""
    if not hasattr(BINLOG, "UPDATE_ROWS_EVENT_V2") or RowsEvent.__init__ is _init_header_only:
        return
    RowsEvent.__init__ = _init_header_only
