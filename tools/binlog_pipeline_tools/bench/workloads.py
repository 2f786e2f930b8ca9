"""What the benchmark writes on the source: bulk rows in large transactions and in one huge
transaction, a wide table with every supported type, sysbench oltp_write_only, and a fixed-rate
writer that stamps each row with its source time so end-to-end latency is measured, not guessed."""

from __future__ import annotations

import random
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

import pymysql

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import ToolError
from binlog_pipeline.producer.source_check import binlog_status

T = TypeVar("T")
DB = "bench"
BULK_DDL = (
    "CREATE TABLE {table} (id BIGINT PRIMARY KEY, k INT NOT NULL, c VARCHAR(120) NOT NULL, "
    "pad CHAR(60) NOT NULL, amount DECIMAL(12,2) NOT NULL, created DATETIME(6) NOT NULL, KEY (k)) ENGINE=InnoDB"
)
BULK_INSERT = "INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s)"
# The target copy of the latency table has one more column: when the applier's statement ran.
LATENCY_DDL = "CREATE TABLE {table} (id BIGINT PRIMARY KEY, created_at TIMESTAMP(6) NOT NULL, payload VARCHAR(100) NOT NULL{extra})"
APPLIED_AT = ", applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"

ALL_TYPES_DDL = """
CREATE TABLE `{db}`.all_types (
  id INT PRIMARY KEY,
  dec65 DECIMAL(65,30), dec10 DECIMAL(10,2), ubig BIGINT UNSIGNED, sbig BIGINT, tiny1 TINYINT(1),
  utiny TINYINT UNSIGNED, med MEDIUMINT, umed MEDIUMINT UNSIGNED, uint INT UNSIGNED,
  bit64 BIT(64), bit1 BIT(1), en ENUM('a','b','ü'), st SET('x','y','z'), js JSON,
  dt6 DATETIME(6), dt0 DATETIME, ts6 TIMESTAMP(6) NULL, t6 TIME(6), t0 TIME, t3 TIME(3), d DATE, y YEAR,
  f FLOAT, dbl DOUBLE, bin16 BINARY(16), vbin VARBINARY(32), bl BLOB, tx TEXT,
  emoji VARCHAR(32) CHARACTER SET utf8mb4, latin VARCHAR(16) CHARACTER SET latin1, ch CHAR(4),
  geo GEOMETRY
) ENGINE=InnoDB
"""


def connect(url: DatabaseUrl, **kwargs: Any) -> pymysql.connections.Connection[Any]:
    return pymysql.connect(**url.connect_kwargs(), charset="utf8mb4", **kwargs)


def execute(url: DatabaseUrl, *statements: str) -> None:
    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def one_row(url: DatabaseUrl, sql: str) -> tuple[Any, ...]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return tuple(cur.fetchone() or ())
    finally:
        conn.close()


def checksum(url: DatabaseUrl, table: str) -> tuple[Any, ...]:
    return (one_row(url, f"CHECKSUM TABLE {table}")[1], one_row(url, f"SELECT COUNT(*) FROM {table}")[0])


def binlog_position(url: DatabaseUrl) -> tuple[str, int]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            row = binlog_status(cur)
            return str(row[0]), int(row[1])
    finally:
        conn.close()


def bulk_rows(start: int, count: int) -> Iterator[tuple[Any, ...]]:
    """Deterministic sysbench-like rows: the same ids and values for the source and the ceiling."""
    for i in range(start, start + count):
        yield (
            i,
            i % 10007,
            f"{i:011d}-{i * 7919 % 100000:05d}-" + "x" * 40,
            f"pad-{i % 997:03d}".ljust(60, "."),
            Decimal(i % 100000) / 100,
            f"2026-01-{1 + i % 28:02d} 12:{i % 60:02d}:{i % 59:02d}.{i % 1000000:06d}",
        )


def write_bulk(
    url: DatabaseUrl, table: str, rows: int, per_transaction: int, advance: Callable[[int], None]
) -> None:
    """``rows`` rows into ``table`` in transactions of ``per_transaction`` rows (multi-row INSERTs
    of 1,000)."""
    conn = connect(url, autocommit=False)
    try:
        with conn.cursor() as cur:
            done = 0
            while done < rows:
                in_txn = min(per_transaction, rows - done)
                for chunk in range(0, in_txn, 1000):
                    size = min(1000, in_txn - chunk)
                    cur.executemany(BULK_INSERT.format(table=table), list(bulk_rows(done + chunk + 1, size)))
                    advance(size)
                conn.commit()
                done += in_txn
    finally:
        conn.close()


def write_wide(
    url: DatabaseUrl, rows: int, advance: Callable[[int], None], seed: int = 7, database: str = DB
) -> None:
    """Varied values of every supported type (NULLs, zero dates, edges) into ``{database}.all_types``."""
    rng = random.Random(seed)
    conn = connect(url, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = '', time_zone = '+00:00'")
            for start in range(0, rows, 500):
                values = [_wide_row(start + n + 1, rng) for n in range(min(500, rows - start))]
                cur.execute(f"INSERT INTO `{database}`.all_types VALUES " + ",".join(values))
                conn.commit()
                advance(len(values))
    finally:
        conn.close()


def _wide_row(i: int, rng: random.Random) -> str:
    if i % 10 == 0:
        return f"({i}" + ", NULL" * 32 + ")"
    sign = -1 if i % 2 else 1
    frac = rng.randrange(10**30)
    text = "".join(rng.choice("abcxyzäö😀 ") for _ in range(rng.randrange(0, 20)))
    return (
        f"({i}, '{sign * rng.randrange(10**35)}.{frac:030d}', {sign * rng.randrange(10**8)}.{rng.randrange(100):02d},"
        f" {rng.randrange(2**64)}, {rng.randrange(-(2**63), 2**63)}, {i % 2}, {rng.randrange(256)},"
        f" {rng.randrange(-(2**23), 2**23)}, {rng.randrange(2**24)}, {rng.randrange(2**32)},"
        f" {rng.randrange(2**64)}, {i % 2}, '{rng.choice(['a', 'b', 'ü', ''])}', '{rng.choice(['', 'x', 'x,y', 'x,y,z'])}',"
        f' \'{{"i": {i}, "a": [1, 2.5, null], "s": "{text.replace(chr(39), "")}"}}\','
        f" '{2000 + i % 30}-{1 + i % 12:02d}-{1 + i % 28:02d} 01:02:03.{i % 1000000:06d}',"
        f" '{'0000-00-00 00:00:00' if i % 7 == 0 else '1999-12-31 23:59:59'}', '2020-02-29 12:00:00.{i % 1000000:06d}',"
        f" '{sign * (i % 838)}:{i % 60:02d}:{i % 60:02d}.{i % 1000000:06d}', '{i % 24}:00:00', '-00:00:00.{i % 1000:03d}',"
        f" '{'0000-00-00' if i % 11 == 0 else '2026-11-25'}', {1901 + i % 255}, {rng.random() * 1e10}, {rng.random() * 1e300},"
        f" 0x{rng.randbytes(16).hex()}, 0x{rng.randbytes(rng.randrange(1, 32)).hex()},"
        f" 0x{rng.randbytes(rng.randrange(1, 200)).hex()}, '{text.replace(chr(39), '')}', '{text[:32].replace(chr(39), '')}',"
        f" 'café', '{chr(97 + i % 26) * (i % 5)}', ST_GeomFromText('POINT({i % 180} {i % 90})'))"
    )


class Background(Generic[T]):
    """A call on its own thread: ``join`` returns its result or raises its exception here."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._result: list[T] = []
        self._error: list[BaseException] = []

        def run() -> None:
            try:
                self._result.append(call())
            except BaseException as exc:  # handed to the joining thread
                self._error.append(exc)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> T:
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._result[0]


@dataclass(frozen=True)
class SysbenchResult:
    transactions: int
    tps: float
    seconds: float


def sysbench(
    url: DatabaseUrl,
    command: str,
    tables: int,
    table_size: int,
    extra: list[str] | None = None,
    database: str = "sbtest",
) -> str:
    args = [
        "sysbench",
        "oltp_write_only",
        "--db-driver=mysql",
        f"--mysql-host={url.host}",
        f"--mysql-port={url.port}",
        f"--mysql-user={url.user}",
        f"--mysql-password={url.password or ''}",
        f"--mysql-db={database}",
        f"--tables={tables}",
        f"--table-size={table_size}",
        *(extra or []),
        command,
    ]
    result = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise ToolError(f"sysbench {command} failed: {result.stderr.strip() or result.stdout[-500:]}")
    return result.stdout


def pt_online_schema_change(url: DatabaseUrl, database: str, table: str, alter: str) -> str:
    """Percona's pt-online-schema-change on ``database.table``: a shadow table, triggers, a chunked
    copy and an atomic cut-over RENAME, as operators run it. Returns its output."""
    args = [
        "pt-online-schema-change",
        "--alter",
        alter,
        "--execute",
        "--recursion-method=none",  # a CDC producer's binlog dump connection is no replica to check
        "--chunk-size=200",
        f"h={url.host},P={url.port},u={url.user},p={url.password or ''},D={database},t={table}",
    ]
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError as exc:
        raise ToolError("pt-online-schema-change is not installed (Debian: percona-toolkit)") from exc
    if result.returncode != 0 or "Successfully altered" not in result.stdout:
        raise ToolError(f"pt-online-schema-change failed: {(result.stdout + result.stderr)[-1500:]}")
    return result.stdout


def sysbench_run(
    url: DatabaseUrl,
    tables: int,
    table_size: int,
    seconds: int,
    threads: int,
    rate_tps: int = 0,
    database: str = "sbtest",
    seed: int = 1,
) -> SysbenchResult:
    """``rate_tps`` 0: full speed; otherwise sysbench's own --rate (transactions per second)."""
    extra = [f"--time={seconds}", f"--threads={threads}", f"--rand-seed={seed}", f"--rate={rate_tps}"]
    out = sysbench(url, "run", tables, table_size, extra, database)
    found = re.search(r"transactions:\s+(\d+)\s+\(([\d.]+) per sec", out)
    if found is None:
        raise ToolError(f"cannot read sysbench's result:\n{out[-800:]}")
    return SysbenchResult(int(found.group(1)), float(found.group(2)), float(seconds))


def write_at_rate(
    url: DatabaseUrl,
    table: str,
    rows_per_s: int,
    seconds: float,
    advance: Callable[[int], None],
    first_id: int = 1,
) -> int:
    """Insert ``rows_per_s`` rows per second for ``seconds`` in 50 small transactions a second
    (ids from ``first_id``), each row stamped with NOW(6) on the source. Returns the rows written."""
    per_txn = max(rows_per_s // 50, 1)
    conn = connect(url, autocommit=True)
    written = 0
    start = time.monotonic()
    try:
        with conn.cursor() as cur:
            while (elapsed := time.monotonic() - start) < seconds:
                due = int(elapsed * rows_per_s) + per_txn
                if written >= due:
                    time.sleep(0.002)
                    continue
                values = ",".join(
                    f"({first_id + written + n}, NOW(6), 'p{first_id + written + n}')" for n in range(per_txn)
                )
                cur.execute(f"INSERT INTO {table} VALUES {values}")
                written += per_txn
                advance(per_txn)
    finally:
        conn.close()
    return written


def show_create(url: DatabaseUrl, table: str) -> str:
    """The table's definition as the server prints it (``SHOW CREATE TABLE``)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SHOW CREATE TABLE {table}")
            row = cur.fetchone()
            assert row is not None
            return str(row[1])
    finally:
        conn.close()


def copy_rows(source: DatabaseUrl, table: str, target: DatabaseUrl, target_table: str) -> int:
    """Every row of ``table`` into the (same-shaped) ``target_table``, 1,000 rows a statement."""
    reader, writer = connect(source), connect(target, autocommit=False)
    copied = 0
    try:
        with reader.cursor(pymysql.cursors.SSCursor) as src, writer.cursor() as dst:
            src.execute(f"SELECT * FROM {table}")
            while batch := src.fetchmany(1000):
                marks = ", ".join(["%s"] * len(batch[0]))
                dst.executemany(f"INSERT INTO {target_table} VALUES ({marks})", batch)
                copied += len(batch)
        writer.commit()
    finally:
        reader.close()
        writer.close()
    return copied


def column_names(url: DatabaseUrl, database: str, table: str) -> list[str]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                "ORDER BY ORDINAL_POSITION",
                (database, table),
            )
            return [str(name) for (name,) in cur.fetchall()]
    finally:
        conn.close()


def rows_by_id(url: DatabaseUrl, select: str) -> dict[Any, tuple[Any, ...]]:
    """The rows of ``select`` keyed by their first column, TIMESTAMPs read in UTC."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
            cur.execute(select)
            return {row[0]: tuple(row) for row in cur.fetchall()}
    finally:
        conn.close()
