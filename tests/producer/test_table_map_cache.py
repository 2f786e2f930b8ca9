"""Each distinct table map is parsed once (producer/table_map.py), and a changed definition is
parsed again: read from the real binlog with the producer's reader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymysqlreplication.row_event import TableMapEvent

from binlog_pipeline.producer import table_map
from binlog_pipeline.producer.binlog_reader import BinlogReader
from binlog_pipeline.producer.filters import ColumnFilter, TableFilter
from binlog_pipeline.producer.position import BinlogPosition
from binlog_pipeline.producer.row_events import RowChange
from tests.services import Services, connect, query


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables whose table map the library parsed (a cache miss), in order."""
    seen: list[str] = []
    library_init = table_map._library_init

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        library_init(self, *args, **kwargs)
        seen.append(f"{self.schema}.{self.table}")

    monkeypatch.setattr(table_map, "_library_init", counting)
    table_map._parsed.clear()
    return seen


def read_rows(services: Services, start: BinlogPosition, database: str, count: int) -> Iterator[RowChange]:
    """The first ``count`` captured row changes from ``start``."""
    reader = BinlogReader(
        services.source_url,
        server_id=4242,
        start=start,
        captured=TableFilter([f"{database}.*"], []),
        heartbeat_s=1.0,
        columns=ColumnFilter([]),
        is_mariadb=True,
        table_type=lambda db, table: "BASE TABLE",
    )
    try:
        for item in reader:
            if isinstance(item, RowChange):
                yield item
                count -= 1
                if count == 0:
                    return
    finally:
        reader.close()


def test_a_table_map_is_parsed_once_per_definition(
    services: Services, source_db: str, parses: list[str]
) -> None:
    table = f"`{source_db}`.t"
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(20))")
        file, pos = query(services.source_admin, "SHOW MASTER STATUS")[0][:2]
        for i in range(50):
            cur.execute(f"INSERT INTO {table} VALUES ({i}, 'v{i}')")
        cur.execute(f"ALTER TABLE {table} ADD COLUMN w INT NOT NULL DEFAULT 7")
        for i in range(50, 60):
            cur.execute(f"INSERT INTO {table} (id, v) VALUES ({i}, 'v{i}')")
        cur.execute(f"UPDATE {table} SET w = 8 WHERE id = 3")

    rows = list(read_rows(services, BinlogPosition(file, pos), source_db, 61))

    assert [r.after for r in rows[:50]] == [[i, f"v{i}"] for i in range(50)]
    assert [r.after for r in rows[50:60]] == [[i, f"v{i}", 7] for i in range(50, 60)]
    assert rows[60].before == [3, "v3", 7] and rows[60].after == [3, "v3", 8]
    # 61 rows events with a table map each: one parse before the ALTER, one after it.
    assert parses == [f"{source_db}.t", f"{source_db}.t"]


def test_a_reused_parse_leaves_the_event_as_the_librarys_would(
    services: Services, source_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every table map event — parsed or reused — has the attributes and values the library's own
    ``__init__`` gives it (the same ``Table``/``Column`` contents; Table compares by contents).
    Nothing reads a table map event's packet after its ``__init__``: the read position is not compared."""
    differences: list[str] = []
    kinds: list[str] = []
    ours = table_map._init_once_per_definition
    library = table_map._library_init

    def both(self: Any, from_packet: Any, *args: Any, **kwargs: Any) -> None:
        packet = from_packet.packet
        position, read = packet._position, from_packet.read_bytes
        scratch = TableMapEvent.__new__(TableMapEvent)
        event_size, _table_map, ctl_connection = args
        library(scratch, from_packet, event_size, {}, ctl_connection, **kwargs)
        packet._position, from_packet.read_bytes = position, read
        hit = bytes(packet._data[20:-4]) in table_map._parsed
        ours(self, from_packet, *args, **kwargs)
        mine = {k: comparable(v) for k, v in vars(self).items() if k != "table_map"}
        theirs = {k: comparable(v) for k, v in vars(scratch).items() if k != "table_map"}
        if mine != theirs:
            differences.append(str({k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k)}))
        kinds.append("reused" if hit else "parsed")

    monkeypatch.setattr(TableMapEvent, "__init__", both)
    table_map._parsed.clear()
    table = f"`{source_db}`.t"
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} (id INT PRIMARY KEY, e ENUM('a','b'), s SET('x','y'), "
            "d DECIMAL(10,2), v VARCHAR(20) CHARACTER SET latin1, u INT UNSIGNED)"
        )
        file, pos = query(services.source_admin, "SHOW MASTER STATUS")[0][:2]
        for i in range(3):
            cur.execute(f"INSERT INTO {table} VALUES ({i}, 'a', 'x,y', 1.5, 'ü', 7)")

    rows = list(read_rows(services, BinlogPosition(file, pos), source_db, 3))

    assert [r.after[0] for r in rows] == [0, 1, 2]
    assert differences == []
    assert kinds == ["parsed", "reused", "reused"]


def comparable(value: Any) -> Any:
    """The library's OptionalMetaData has no equality of its own: compare its attributes."""
    return vars(value) if type(value).__name__ == "OptionalMetaData" else value


@pytest.fixture
def checksum_none(services: Services) -> Iterator[None]:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL binlog_checksum = 'NONE'")
    try:
        yield
    finally:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL binlog_checksum = 'CRC32'")


def test_keys_are_read_without_binlog_checksums(
    services: Services, source_db: str, checksum_none: None
) -> None:
    """With binlog_checksum=NONE the table map's last metadata block (MariaDB's primary key) is
    read too: the library stops 4 bytes early, where a checksum would be — a table would be
    published as keyless."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.one (id INT PRIMARY KEY, v INT)")
        cur.execute(f"CREATE TABLE `{source_db}`.two (a INT, b INT, v INT, PRIMARY KEY (a, b))")
        file, pos = query(services.source_admin, "SHOW MASTER STATUS")[0][:2]
        cur.execute(f"INSERT INTO `{source_db}`.one VALUES (1, 1)")
        cur.execute(f"INSERT INTO `{source_db}`.two VALUES (1, 2, 3)")

    rows = list(read_rows(services, BinlogPosition(file, pos), source_db, 2))

    assert [r.table.schema.primary_key for r in rows] == [("id",), ("a", "b")]
