"""`verify`: compare source and target table by table in primary-key chunks (per-chunk row count
and BIT_XOR of row CRC32s, computed by each server), narrow mismatching chunks to rows, and
report every missing, extra and changed row.

While replication runs, a chunk may differ only because its changes are in flight: a differing
chunk is re-checked (``retries`` times, ``retry_wait_s`` apart) and only a difference that
persists is reported. For a definitive answer run it when `binlog-pipeline lag` is (near) zero.
Tables without a primary key are compared whole (CHECKSUM TABLE and row count), not narrowed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pymysql

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.routing import route_table
from binlog_pipeline.core.sql import quote as q

SYSTEM_DATABASES = ("mysql", "information_schema", "performance_schema", "sys", "binlog_pipeline")


@dataclass
class TableReport:
    source: str
    target: str
    chunks: int = 0
    rows: int = 0
    missing: list[str] = field(default_factory=list)  # on the source, not on the target
    extra: list[str] = field(default_factory=list)  # on the target only
    changed: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.changed or self.note)


class Side:
    def __init__(self, role: str, url: DatabaseUrl) -> None:
        try:
            self.conn = pymysql.connect(**url.connect_kwargs(), autocommit=True, charset="utf8mb4")
        except pymysql.MySQLError as exc:
            raise PermanentError(f"cannot connect to the {role} at {url}: {exc}") from exc

    def rows(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def close(self) -> None:
        self.conn.close()


def tables_to_check(source: Side, database: str | None, table: str | None) -> list[tuple[str, str]]:
    if table:
        db, _, name = table.partition(".")
        return [(db, name)]
    if database:
        found = source.rows(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE='BASE TABLE' "
            "AND TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
            (database,),
        )
    else:
        found = source.rows(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE='BASE TABLE' "
            f"AND TABLE_SCHEMA NOT IN ({', '.join(['%s'] * len(SYSTEM_DATABASES))}) "
            "ORDER BY TABLE_SCHEMA, TABLE_NAME",
            SYSTEM_DATABASES,
        )
    return [(str(d), str(t)) for d, t in found]


def estimated_rows(source: Side, table: tuple[str, str]) -> int:
    """InnoDB's row estimate, for the progress bar only."""
    found = source.rows(
        "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s", table
    )
    return int(found[0][0] or 0) if found else 0


def routed(routes: dict[str, str], table: tuple[str, str]) -> tuple[str, str]:
    return route_table(routes, *table)


def verify_table(
    source: Side,
    target: Side,
    src: tuple[str, str],
    dst: tuple[str, str],
    chunk_rows: int,
    retries: int,
    retry_wait_s: float,
    progress: Callable[[int], None],
) -> TableReport:
    report = TableReport(".".join(src), ".".join(dst))
    columns = [
        str(r[0])
        for r in source.rows(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s ORDER BY ORDINAL_POSITION",
            src,
        )
    ]
    if not columns:
        report.note = "table not found on the source"
        return report
    if not target.rows(
        "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s", dst
    ):
        report.note = "table missing on the target"
        return report
    key = [
        str(r[0])
        for r in source.rows(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s "
            "AND INDEX_NAME='PRIMARY' ORDER BY SEQ_IN_INDEX",
            src,
        )
    ]
    src_name, dst_name = f"{q(src[0])}.{q(src[1])}", f"{q(dst[0])}.{q(dst[1])}"
    if not key:
        return _whole_table(source, target, src_name, dst_name, report, retries, retry_wait_s)
    # One CRC per row over every column, NULL-aware; the same expression runs on both servers.
    row_crc = "CRC32(CONCAT_WS('#', " + ", ".join(f"{q(c)}, ISNULL({q(c)})" for c in columns) + "))"
    key_expr = "(" + ", ".join(q(c) for c in key) + ")"
    key_params = "(" + ", ".join(["%s"] * len(key)) + ")"
    for low, high in _chunks(source, src_name, key, key_expr, key_params, chunk_rows):
        where, args = _range(key_expr, key_params, low, high)
        summary = f"SELECT COUNT(*), COALESCE(BIT_XOR({row_crc}), 0) FROM "
        for attempt in range(retries + 1):
            source_sum = source.rows(f"{summary}{src_name} WHERE {where}", args)[0]
            target_sum = target.rows(f"{summary}{dst_name} WHERE {where}", args)[0]
            if source_sum == target_sum:
                break
            if attempt < retries:
                time.sleep(retry_wait_s)
        else:
            _narrow(source, target, src_name, dst_name, key, row_crc, where, args, report)
        report.chunks += 1
        report.rows += int(source_sum[0])
        progress(int(source_sum[0]))
    return report


def _chunks(
    side: Side, table: str, key: list[str], key_expr: str, key_params: str, chunk_rows: int
) -> Iterator[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """(low, high] key ranges covering the whole key space: open below the first, above the last."""
    keys = ", ".join(q(c) for c in key)
    low: tuple[Any, ...] | None = None
    while True:
        where, args = ("1", ()) if low is None else (f"{key_expr} > {key_params}", low)
        bound = side.rows(
            f"SELECT {keys} FROM {table} WHERE {where} ORDER BY {keys} LIMIT 1 OFFSET %s",
            (*args, chunk_rows - 1),
        )
        if not bound:
            yield low, None
            return
        high = tuple(bound[0])
        yield low, high
        low = high


def _range(
    key_expr: str, key_params: str, low: tuple[Any, ...] | None, high: tuple[Any, ...] | None
) -> tuple[str, tuple[Any, ...]]:
    parts: list[str] = []
    args: list[Any] = []
    if low is not None:
        parts.append(f"{key_expr} > {key_params}")
        args += low
    if high is not None:
        parts.append(f"{key_expr} <= {key_params}")
        args += high
    return (" AND ".join(parts) or "1"), tuple(args)


def _narrow(
    source: Side,
    target: Side,
    src: str,
    dst: str,
    key: list[str],
    row_crc: str,
    where: str,
    args: tuple[Any, ...],
    report: TableReport,
) -> None:
    keys = ", ".join(q(c) for c in key)
    select = f"SELECT {keys}, {row_crc} FROM "
    on_source = {tuple(r[:-1]): r[-1] for r in source.rows(f"{select}{src} WHERE {where}", args)}
    on_target = {tuple(r[:-1]): r[-1] for r in target.rows(f"{select}{dst} WHERE {where}", args)}

    def describe(k: tuple[Any, ...]) -> str:
        return ", ".join(f"{c}={v!r}" for c, v in zip(key, k, strict=True))

    report.missing += [describe(k) for k in on_source if k not in on_target]
    report.extra += [describe(k) for k in on_target if k not in on_source]
    report.changed += [describe(k) for k in on_source if k in on_target and on_source[k] != on_target[k]]


def _whole_table(
    source: Side, target: Side, src: str, dst: str, report: TableReport, retries: int, retry_wait_s: float
) -> TableReport:
    for attempt in range(retries + 1):
        s = (source.rows(f"CHECKSUM TABLE {src}")[0][1], source.rows(f"SELECT COUNT(*) FROM {src}")[0][0])
        t = (target.rows(f"CHECKSUM TABLE {dst}")[0][1], target.rows(f"SELECT COUNT(*) FROM {dst}")[0][0])
        if s == t:
            break
        if attempt < retries:
            time.sleep(retry_wait_s)
    else:
        report.note = f"no primary key: CHECKSUM/rows differ (source {s}, target {t})"
    report.chunks, report.rows = 1, int(s[1])
    return report
