"""The raw ceilings the pipeline is measured against, in the same run:

- decode: python-mysql-replication's ``BinLogStreamReader`` alone over the same binlog range,
  every row decoded by the library (``event.rows``) and nothing else done with it;
- apply: batched multi-row upserts with pymysql into the target — the same rows, the same
  transaction size as the applier's default batch, and nothing else;
- snapshot read: the same table read in primary-key chunks of the snapshot's chunk size, each in
  its own consistent-snapshot transaction, with pymysql's own conversions and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import RotateEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, TableMapEvent, UpdateRowsEvent, WriteRowsEvent

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import ToolError
from binlog_pipeline_tools.bench.workloads import BULK_DDL, BULK_INSERT, bulk_rows, connect, execute


@dataclass(frozen=True)
class Rate:
    rows: int
    seconds: float

    @property
    def rows_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def decode_ceiling(
    url: DatabaseUrl,
    start: tuple[str, int],
    end: tuple[str, int],
    schemas: list[str],
    server_id: int,
    advance: Callable[[int], None],
) -> Rate:
    """Rows/s of the library decoding ``[start, end)``, timed from the first row event to the last."""
    if TableMapEvent.__init__.__module__ != TableMapEvent.__module__:
        # The producer's table-map cache (producer/table_map.py) is installed in this process: the
        # ceiling would no longer be the bare library.
        raise ToolError("the decode ceiling must run without the producer's changes to the library")
    stream = BinLogStreamReader(
        connection_settings=url.connect_kwargs(),
        server_id=server_id,
        log_file=start[0],
        log_pos=start[1],
        resume_stream=True,
        blocking=False,  # ends at the binlog's current end; the workload is written already
        only_events=[RotateEvent, XidEvent, WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
        only_schemas=schemas,
    )
    rows = 0
    first: float | None = None
    last = time.monotonic()
    try:
        for event in stream:
            position = (stream.log_file, stream.log_pos)
            if isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
                if first is None:
                    first = time.monotonic()
                count = len(event.rows)
                rows += count
                advance(count)
                last = time.monotonic()
            if _at_or_past(position, end):
                break
    finally:
        stream.close()
    return Rate(rows, last - (first or last))


def _at_or_past(position: tuple[str, int], end: tuple[str, int]) -> bool:
    return (position[0], position[1]) >= (end[0], end[1]) if position[0] == end[0] else position[0] > end[0]


def apply_ceiling(url: DatabaseUrl, rows: int, per_transaction: int, advance: Callable[[int], None]) -> Rate:
    """Rows/s of bare multi-row ``INSERT … ON DUPLICATE KEY UPDATE`` batches into a scratch table."""
    table = "`bench_ceiling`.`bulk`"
    execute(
        url,
        "DROP DATABASE IF EXISTS bench_ceiling",
        "CREATE DATABASE bench_ceiling",
        BULK_DDL.format(table=table),
    )
    upsert = (
        BULK_INSERT.format(table=table)
        + " ON DUPLICATE KEY UPDATE k = VALUES(k), c = VALUES(c), pad = VALUES(pad),"
        " amount = VALUES(amount), created = VALUES(created)"
    )
    conn = connect(url, autocommit=False)
    started = time.monotonic()
    try:
        with conn.cursor() as cur:
            for start in range(1, rows + 1, per_transaction):
                size = min(per_transaction, rows + 1 - start)
                batch: list[Any] = list(bulk_rows(start, size))
                for chunk in range(0, size, 500):
                    cur.executemany(upsert, batch[chunk : chunk + 500])
                conn.commit()
                advance(size)
    finally:
        conn.close()
    seconds = time.monotonic() - started
    execute(url, "DROP DATABASE bench_ceiling")
    return Rate(rows, seconds)


def read_ceiling(url: DatabaseUrl, table: str, chunk_rows: int, advance: Callable[[int], None]) -> Rate:
    """Rows/s of bare chunked consistent reads of ``table`` (primary key ``id``)."""
    conn = connect(url)
    rows, last = 0, None
    started = time.monotonic()
    try:
        with conn.cursor() as cur:
            while True:
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                where = "" if last is None else f" WHERE id > {int(last)}"
                cur.execute(f"SELECT * FROM {table}{where} ORDER BY id LIMIT {int(chunk_rows)}")
                chunk = cur.fetchall()
                cur.execute("COMMIT")
                rows += len(chunk)
                advance(len(chunk))
                if len(chunk) < chunk_rows:
                    break
                last = chunk[-1][0]
    finally:
        conn.close()
    return Rate(rows, time.monotonic() - started)
