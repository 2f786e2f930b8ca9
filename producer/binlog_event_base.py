"""The attributes python-mysql-replication's ``BinLogEvent.__init__`` gives every event, set
directly: its keyword-heavy call ran for every table map and rows event, and the producer's fast
paths (:mod:`producer.table_map`, :mod:`producer.rows_event_header`) take it only where the
library's own would do nothing more (no checksum verification: that one re-reads the packet).
tests/producer/test_rows_event_header.py and test_table_map_cache.py compare the result with the
library's on real events."""

from __future__ import annotations

from typing import Any


def set_base_attributes(
    event: Any,
    from_packet: Any,
    event_size: int,
    table_map: dict[int, Any],
    ctl_connection: Any,
    kwargs: dict[str, Any],
) -> None:
    event.__dict__.update(
        packet=from_packet,
        table_map=table_map,
        event_type=from_packet.event_type,
        timestamp=from_packet.timestamp,
        event_size=event_size,
        _post_header_lengths=kwargs.get("post_header_lengths"),
        _ctl_connection=ctl_connection,
        mysql_version=kwargs.get("mysql_version", (0, 0, 0)),
        _ignore_decode_errors=kwargs.get("ignore_decode_errors", False),
        _verify_checksum=False,
        _is_event_valid=None,
        _processed=True,
        complete=True,
        dbms=ctl_connection._get_dbms(),
    )
