"""The README's demo: producer + applier on the local stack, rows written on the source arrive on
the target. Run by scripts/demo.sh after `stack up` and `eval "$(binlog-pipeline stack env)"`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pymysql

from binlog_pipeline.core.dburl import DatabaseUrl

STATE = Path(os.environ.get("BINLOG_PIPELINE_STACK_DIR", ".stack"))
PREFIX = "demo"


def sql(url: DatabaseUrl, statement: str) -> list[tuple[object, ...]]:
    conn = pymysql.connect(**url.connect_kwargs(), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return list(cur.fetchall())
    finally:
        conn.close()


def start(name: str, *args: str) -> subprocess.Popen[bytes]:
    log = (STATE / f"demo-{name}.log").open("ab")
    print(f"starting {name} (log: {STATE / f'demo-{name}.log'})")
    return subprocess.Popen([sys.executable, "-m", name, *args], stdout=log, stderr=subprocess.STDOUT)


def main() -> None:
    source = DatabaseUrl.parse(os.environ["BINLOG_PIPELINE_STACK_SOURCE_ADMIN_URL"])
    target = DatabaseUrl.parse(os.environ["BINLOG_PIPELINE_STACK_TARGET_ADMIN_URL"])
    sql(source, "CREATE DATABASE IF NOT EXISTS demo")
    sql(
        source,
        "CREATE TABLE IF NOT EXISTS demo.orders (id INT PRIMARY KEY, customer VARCHAR(40), "
        "amount DECIMAL(10,2), placed_at DATETIME(6))",
    )
    producer = start("producer", "--topic-prefix", PREFIX)
    applier = start("applier", "--topic-prefix", PREFIX, "--group-id", "demo-applier")
    time.sleep(4)
    first = int(sql(source, "SELECT COALESCE(MAX(id), 0) FROM demo.orders")[0][0]) + 1  # type: ignore[call-overload]
    print(f"writing 1,000 orders on the source (ids {first}..{first + 999}), updating and deleting a few")
    conn = pymysql.connect(**source.connect_kwargs(), autocommit=False)
    with conn.cursor() as cur:
        for start_id in range(first, first + 1000, 100):
            cur.executemany(
                "INSERT INTO demo.orders VALUES (%s, %s, %s, NOW(6))",
                [(i, f"customer-{i % 37}", i * 1.25) for i in range(start_id, start_id + 100)],
            )
            conn.commit()
        cur.execute("UPDATE demo.orders SET amount = amount * 2 WHERE id %% 10 = 0 AND id >= %s", (first,))
        cur.execute("DELETE FROM demo.orders WHERE id %% 100 = 1 AND id >= %s", (first,))
        conn.commit()
    conn.close()
    expected = sql(source, "CHECKSUM TABLE demo.orders")[0][1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        exists = sql(
            target,
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='demo' AND TABLE_NAME='orders'",
        )
        if exists[0][0] and sql(target, "CHECKSUM TABLE demo.orders")[0][1] == expected:
            break
        time.sleep(0.5)
    else:
        print("the target did not catch up in 60 s; see the logs above", file=sys.stderr)
    print("\nsource:", sql(source, "SELECT COUNT(*), SUM(amount) FROM demo.orders")[0], "checksum", expected)
    print(
        "target:",
        sql(target, "SELECT COUNT(*), SUM(amount) FROM demo.orders")[0],
        "checksum",
        sql(target, "CHECKSUM TABLE demo.orders")[0][1],
    )
    print("\napplier checkpoint on the target (moved only after each COMMIT):")
    for row in sql(
        target,
        "SELECT topic, `partition`, next_offset, updated_at FROM binlog_pipeline.applier_checkpoint "
        "WHERE group_id = 'demo-applier'",
    ):
        print("  ", *row)
    for name, proc in (("producer", producer), ("applier", applier)):
        proc.send_signal(signal.SIGTERM)
        print(f"{name} stopped with exit code {proc.wait(30)}")


if __name__ == "__main__":
    main()
