"""Our rows-event header reader (producer/rows_event_header.py) leaves each event exactly as the
library's own ``RowsEvent.__init__`` would: same attributes, same values, same read position —
checked event by event on real binlog events of every kind."""

from __future__ import annotations

from typing import Any

import pytest
from pymysqlreplication.row_event import RowsEvent

from binlog_pipeline.producer import rows_event_header
from binlog_pipeline.producer.position import BinlogPosition
from tests.producer.test_table_map_cache import read_rows
from tests.services import Services, connect, query


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Runs the library's init on a scratch event first, then ours on the real one, and records
    any difference (or the event kind, when there is none)."""
    results: list[str] = []
    ours = rows_event_header._init_header_only
    library = rows_event_header._library_init

    def both(self: Any, from_packet: Any, *args: Any, **kwargs: Any) -> None:
        packet = from_packet.packet
        position, read = packet._position, from_packet.read_bytes
        scratch = type(self).__new__(type(self))
        library(scratch, from_packet, *args, **kwargs)
        expected_end = (packet._position, from_packet.read_bytes)
        packet._position, from_packet.read_bytes = position, read
        ours(self, from_packet, *args, **kwargs)
        if vars(self) != vars(scratch):
            keys = set(vars(self)) | set(vars(scratch))
            diff = {
                k: (vars(self).get(k), vars(scratch).get(k))
                for k in keys
                if vars(self).get(k) != vars(scratch).get(k)
            }
            results.append(f"attributes differ: {diff}")
        elif (packet._position, from_packet.read_bytes) != expected_end:
            results.append("read position differs")
        else:
            results.append(type(self).__name__)

    monkeypatch.setattr(RowsEvent, "__init__", both)
    return results


def test_header_matches_the_library_on_every_rows_event_kind(
    services: Services, source_db: str, compared: list[str]
) -> None:
    table = f"`{source_db}`.wide"
    columns = ", ".join(f"c{i} INT" for i in range(20))  # more than 8: a multi-byte bitmap
    values = ", ".join(str(i) for i in range(20))
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, {columns}) ")
        file, pos = query(services.source_admin, "SHOW MASTER STATUS")[0][:2]
        cur.execute(f"INSERT INTO {table} VALUES (1, {values}), (2, {values})")
        cur.execute(f"UPDATE {table} SET c3 = 33 WHERE id = 1")
        cur.execute(f"DELETE FROM {table} WHERE id = 2")

    rows = list(read_rows(services, BinlogPosition(file, pos), source_db, 4))

    assert [r.op for r in rows] == ["c", "c", "u", "d"]
    assert rows[2].after == [1, *range(3), 33, *range(4, 20)]
    assert compared == ["WriteRowsEvent", "UpdateRowsEvent", "DeleteRowsEvent"]
