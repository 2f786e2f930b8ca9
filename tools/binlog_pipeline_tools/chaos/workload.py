"""The load a chaos run writes on the source while faults land: sysbench ``oltp_write_only`` at a
fixed rate, and a seeded mixed workload — inserts, updates, deletes, primary-key changes, a table
without a key, a composite key, now and then a large transaction, and two DDL statements."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import ToolError
from binlog_pipeline_tools.bench import workloads as w

DB = "chaos"
SYSBENCH_DB = "chaos_sb"
SYSBENCH_TABLES = 2
SYSBENCH_TABLE_SIZE = 2_000
LARGE_TXN_ROWS = 5_000

SCHEMA = (
    f"CREATE TABLE {DB}.mixed (id BIGINT PRIMARY KEY, grp INT NOT NULL, name VARCHAR(64) NOT NULL,"
    " amount DECIMAL(14,2), updated DATETIME(6) NOT NULL, doc JSON, data BLOB, KEY (grp)) ENGINE=InnoDB",
    f"CREATE TABLE {DB}.keyless (grp INT NOT NULL, v VARCHAR(32) NOT NULL) ENGINE=InnoDB",
    f"CREATE TABLE {DB}.composite (a INT NOT NULL, b VARCHAR(16) NOT NULL, v INT NOT NULL,"
    " PRIMARY KEY (a, b)) ENGINE=InnoDB",
    # A unique secondary key whose values rows swap: applied out of order, a swap collides.
    f"CREATE TABLE {DB}.accounts (id INT PRIMARY KEY, email VARCHAR(64) NOT NULL, balance INT NOT NULL,"
    " UNIQUE KEY (email)) ENGINE=InnoDB",
    f"INSERT INTO {DB}.accounts VALUES "
    + ", ".join(f"({n}, 'user{n}@example.com', 100)" for n in range(1, 51)),
)
ACCOUNTS = 50
# Run once each, in this order, spread over the schedule: schema changes under load and faults.
ADD_COLUMN = f"ALTER TABLE {DB}.mixed ADD COLUMN note VARCHAR(32) NOT NULL DEFAULT 'n'"
CREATE_LATE = f"CREATE TABLE {DB}.late (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL) ENGINE=InnoDB"
CREATE_INDEX = f"CREATE INDEX composite_v ON {DB}.composite (v)"
CREATE_SCRATCH = f"CREATE TABLE {DB}.scratch (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB"
RENAME_LATE = f"RENAME TABLE {DB}.late TO {DB}.late_renamed"
DROP_SCRATCH = f"DROP TABLE {DB}.scratch"
TRUNCATE_KEYLESS = f"TRUNCATE TABLE {DB}.keyless"
# Not SQL: pt-online-schema-change run on the table while the writers go on (shadow table, triggers,
# chunked copy, then the atomic cut-over RENAME TABLE composite TO _composite_old, _composite_new TO …).
ONLINE_SCHEMA_CHANGE = f"pt-online-schema-change {DB}.composite ADD COLUMN extra INT NOT NULL DEFAULT 7"
DDL_SEQUENCE = (
    ADD_COLUMN,
    CREATE_LATE,
    CREATE_INDEX,
    ONLINE_SCHEMA_CHANGE,
    CREATE_SCRATCH,
    RENAME_LATE,
    DROP_SCRATCH,
    TRUNCATE_KEYLESS,
)


@dataclass
class WorkloadCounts:
    transactions: int = 0
    large_transactions: int = 0
    statements: dict[str, int] = field(default_factory=dict)
    sysbench_transactions: int = 0
    ddl: list[str] = field(default_factory=list)


class MixedWorkload:
    """One writer thread at about ``tps`` transactions per second. ``ddl_due()`` is polled by the
    writer: the chaos run flips it at chosen points of its schedule."""

    def __init__(self, url: DatabaseUrl, seed: int, tps: float) -> None:
        self.url = url
        self.rng = random.Random(seed)
        self.tps = tps
        self.counts = WorkloadCounts()
        self.stop = threading.Event()
        self.pending_ddl: list[str] = []
        self.error: BaseException | None = None
        self._next_id = 1
        self._late_id = 0
        self._has_note = False
        self._late_table: str | None = None  # chaos.late, then chaos.late_renamed
        self._has_scratch = False
        self._scratch_id = 0
        self._online_change: threading.Thread | None = None  # pt-online-schema-change at work
        self._thread = threading.Thread(target=self._run, name="mixed-workload", daemon=True)

    @staticmethod
    def create_schema(url: DatabaseUrl) -> None:
        w.execute(url, *SCHEMA)

    def start(self) -> None:
        self._thread.start()

    def request_ddl(self, statement: str) -> None:
        self.pending_ddl.append(statement)

    def finish(self) -> None:
        self.stop.set()
        self._thread.join()
        if self._online_change is not None:
            self._online_change.join()
        if self.error is not None:
            raise ToolError(f"the mixed workload failed: {self.error}") from self.error

    # --- the writer -------------------------------------------------------------------------
    def _run(self) -> None:
        conn = w.connect(self.url, autocommit=False)
        try:
            with conn.cursor() as cur:
                started = time.monotonic()
                while not self.stop.is_set():
                    if self.pending_ddl and not self._changing_online():
                        statement = self.pending_ddl.pop(0)
                        if statement == ONLINE_SCHEMA_CHANGE:
                            self._start_online_change()
                        else:
                            cur.execute(statement)
                            self._after_ddl(statement)
                        self.counts.ddl.append(statement)
                        continue
                    kind = self._transaction(cur)
                    conn.commit()
                    self.counts.transactions += 1
                    self.counts.statements[kind] = self.counts.statements.get(kind, 0) + 1
                    due = started + self.counts.transactions / self.tps
                    self.stop.wait(max(due - time.monotonic(), 0))
        except BaseException as exc:  # reported by finish(): a workload that dies silently hides nothing
            self.error = exc
        finally:
            conn.close()

    def _transaction(self, cur: Any) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.003:
            self._large(cur)
            return "large"
        if roll < 0.35 or self._next_id < 50:
            rows = [self._mixed_row(self._take_id()) for _ in range(rng.randint(1, 20))]
            cur.executemany(self._insert_sql(), rows)
            return "insert"
        low = rng.randrange(1, self._next_id)
        if roll < 0.55:
            cur.execute(
                f"UPDATE {DB}.mixed SET amount = amount + %s, updated = NOW(6), name = %s "
                "WHERE id BETWEEN %s AND %s",
                (Decimal(rng.randint(-500, 500)) / 4, f"u{rng.randrange(10**6)}", low, low + 5),
            )
            return "update"
        if roll < 0.65:
            cur.execute(f"DELETE FROM {DB}.mixed WHERE id BETWEEN %s AND %s", (low, low + 2))
            return "delete"
        if roll < 0.72:  # primary-key change: a delete of the old key and an insert of the new one
            cur.execute(f"UPDATE {DB}.mixed SET id = %s WHERE id = %s", (self._take_id(), low))
            return "pk_change"
        if roll < 0.82:
            a = rng.randrange(200)
            cur.execute(
                f"INSERT INTO {DB}.composite (a, b, v) VALUES (%s, %s, %s) ON DUPLICATE KEY UPDATE v = v + 1",
                (a, rng.choice("abcdef"), rng.randrange(1000)),
            )
            if rng.random() < 0.3:
                cur.execute(f"DELETE FROM {DB}.composite WHERE a = %s", (rng.randrange(200),))
            return "composite"
        if roll < 0.92:
            grp = rng.randrange(20)
            cur.executemany(
                f"INSERT INTO {DB}.keyless VALUES (%s, %s)",
                [
                    (grp, rng.choice(["same", "same", f"v{rng.randrange(50)}"]))
                    for _ in range(rng.randint(1, 4))
                ],
            )
            if rng.random() < 0.4:  # duplicates exist: the applier must delete exactly one of them
                cur.execute(f"DELETE FROM {DB}.keyless WHERE grp = %s LIMIT 1", (rng.randrange(20),))
            return "keyless"
        if roll < 0.95:
            self._swap_emails(cur)
            return "unique_swap"
        if self._late_table and roll < 0.975:
            self._late_id += 1
            table = self._late_table
            cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (self._late_id, f"l{self._late_id}"))
            if self._late_id > 3:
                cur.execute(f"UPDATE {table} SET v = CONCAT(v, '+') WHERE id = %s", (self._late_id - 3,))
            return "late"
        if self._has_scratch:
            self._scratch_id += 1
            cur.execute(f"INSERT INTO {DB}.scratch VALUES (%s, %s)", (self._scratch_id, rng.randrange(100)))
            return "scratch"
        cur.execute(
            f"UPDATE {DB}.mixed SET doc = JSON_SET(COALESCE(doc, '{{}}'), '$.t', %s) WHERE id = %s",
            (rng.randrange(10**6), low),
        )
        return "json"

    def _changing_online(self) -> bool:
        return self._online_change is not None and self._online_change.is_alive()

    def _start_online_change(self) -> None:
        """pt-online-schema-change in its own thread: this writer goes on writing the table."""

        def run() -> None:
            try:
                w.pt_online_schema_change(
                    self.url, DB, "composite", "ADD COLUMN extra INT NOT NULL DEFAULT 7"
                )
            except BaseException as exc:  # reported by finish()
                self.error = exc

        self._online_change = threading.Thread(target=run, name="pt-online-schema-change", daemon=True)
        self._online_change.start()

    def _after_ddl(self, statement: str) -> None:
        self._has_note |= statement == ADD_COLUMN
        if statement == CREATE_LATE:
            self._late_table = f"{DB}.late"
        if statement == RENAME_LATE:
            self._late_table = f"{DB}.late_renamed"
        if statement in (CREATE_SCRATCH, DROP_SCRATCH):
            self._has_scratch = statement == CREATE_SCRATCH

    def _swap_emails(self, cur: Any) -> None:
        """Two accounts exchange their (unique) emails in one transaction, through a temporary
        value — the row changes are only valid in their source order."""
        a, b = self.rng.sample(range(1, ACCOUNTS + 1), 2)
        cur.execute(f"SELECT id, email FROM {DB}.accounts WHERE id IN (%s, %s) FOR UPDATE", (a, b))
        emails = dict(cur.fetchall())
        cur.execute(f"UPDATE {DB}.accounts SET email = %s WHERE id = %s", (f"swap-{a}-{b}", a))
        cur.execute(
            f"UPDATE {DB}.accounts SET email = %s, balance = balance + 1 WHERE id = %s", (emails[a], b)
        )
        cur.execute(
            f"UPDATE {DB}.accounts SET email = %s, balance = balance - 1 WHERE id = %s", (emails[b], a)
        )

    def _large(self, cur: Any) -> None:
        """One transaction of LARGE_TXN_ROWS inserted rows, or an update of as many."""
        self.counts.large_transactions += 1
        if self.rng.random() < 0.5 or self._next_id <= LARGE_TXN_ROWS + 1:
            for _ in range(0, LARGE_TXN_ROWS, 500):
                cur.executemany(self._insert_sql(), [self._mixed_row(self._take_id()) for _ in range(500)])
        else:
            low = self.rng.randrange(1, self._next_id - LARGE_TXN_ROWS)
            cur.execute(
                f"UPDATE {DB}.mixed SET grp = grp + 1, updated = NOW(6) WHERE id BETWEEN %s AND %s",
                (low, low + LARGE_TXN_ROWS),
            )

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _insert_sql(self) -> str:
        columns = "id, grp, name, amount, updated, doc, data" + (", note" if self._has_note else "")
        values = ", ".join(["%s"] * (8 if self._has_note else 7))
        return f"INSERT INTO {DB}.mixed ({columns}) VALUES ({values})"

    def _mixed_row(self, row_id: int) -> tuple[Any, ...]:
        rng = self.rng
        row: tuple[Any, ...] = (
            row_id,
            rng.randrange(100),
            "".join(rng.choice("abcxyzäö😀 '\\") for _ in range(rng.randrange(1, 30))),
            None if rng.random() < 0.1 else Decimal(rng.randrange(-(10**9), 10**9)) / 100,
            f"2026-11-{1 + row_id % 28:02d} 10:00:00.{row_id % 10**6:06d}",
            None if rng.random() < 0.2 else f'{{"id": {row_id}, "tags": ["a", {rng.random()}]}}',
            rng.randbytes(rng.randrange(0, 64)),
        )
        return (*row, f"n{row_id % 7}") if self._has_note else row


class SysbenchLoad:
    """sysbench ``oltp_write_only`` at ``tps`` in 10-second runs until stopped (a run that ends
    reports its transactions; killing one would lose its count)."""

    def __init__(self, url: DatabaseUrl, seed: int, tps: int, counts: WorkloadCounts) -> None:
        self.url = url
        self.seed = seed
        self.tps = tps
        self.counts = counts
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sysbench", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self.stop.set()
        self._thread.join()
        if self.error is not None:
            raise ToolError(f"sysbench failed: {self.error}") from self.error

    def _run(self) -> None:
        runs = 0
        try:
            while not self.stop.is_set():
                runs += 1
                result = w.sysbench_run(
                    self.url,
                    SYSBENCH_TABLES,
                    SYSBENCH_TABLE_SIZE,
                    seconds=10,
                    threads=2,
                    rate_tps=self.tps,
                    database=SYSBENCH_DB,
                    seed=self.seed * 1000 + runs,
                )
                self.counts.sysbench_transactions += result.transactions
        except BaseException as exc:
            self.error = exc


def prepare_sysbench(url: DatabaseUrl) -> None:
    w.sysbench(url, "prepare", SYSBENCH_TABLES, SYSBENCH_TABLE_SIZE, database=SYSBENCH_DB)
