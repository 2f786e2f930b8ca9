"""A seeded source workload whose every row change is recorded, so a test can demand that Kafka
(or the target) saw each exactly once and in order per table."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from binlog_pipeline.core.dburl import DatabaseUrl
from tests.services import connect

TABLE_DDL = (
    "CREATE TABLE `{db}`.`{table}` (id INT PRIMARY KEY, seq BIGINT NOT NULL, "
    "payload VARCHAR(64) NOT NULL, amount DECIMAL(12,2) NULL) ENGINE=InnoDB"
)


@dataclass
class Workload:
    url: DatabaseUrl
    database: str
    tables: tuple[str, ...] = ("w1", "w2", "w3")
    seed: int = 0
    expected: dict[str, list[tuple[str, int, int | None]]] = field(default_factory=dict)
    _seq: int = 0
    _live: dict[str, set[int]] = field(default_factory=dict)
    _next_id: dict[str, int] = field(default_factory=dict)

    def create_tables(self) -> None:
        with connect(self.url) as conn, conn.cursor() as cur:
            for table in self.tables:
                cur.execute(TABLE_DDL.format(db=self.database, table=table))
        self.expected = {t: [] for t in self.tables}
        self._live = {t: set() for t in self.tables}
        self._next_id = dict.fromkeys(self.tables, 1)

    def run(self, transactions: int, large_every: int = 0, large_rows: int = 0) -> int:
        """Commit ``transactions`` small transactions (1 to 4 statements), plus one large insert of
        ``large_rows`` rows every ``large_every`` transactions. Returns the row changes made."""
        rng = random.Random(self.seed)
        live, next_id = self._live, self._next_id
        with connect(self.url) as conn, conn.cursor() as cur:
            conn.autocommit(False)
            for n in range(transactions):
                pending: list[tuple[str, tuple[str, int, int | None]]] = []
                if large_every and n % large_every == large_every - 1:
                    table = rng.choice(self.tables)
                    values = []
                    for _ in range(large_rows):
                        row_id, seq = next_id[table], self._next()
                        next_id[table] += 1
                        values.append(f"({row_id}, {seq}, 'bulk-{seq}', {seq % 1000}.5)")
                        pending.append((table, ("c", row_id, seq)))
                        live[table].add(row_id)
                    cur.execute(f"INSERT INTO `{self.database}`.`{table}` VALUES {','.join(values)}")
                else:
                    for _ in range(rng.randint(1, 4)):
                        table = rng.choice(self.tables)
                        action = rng.random()
                        if action < 0.5 or not live[table]:
                            row_id, seq = next_id[table], self._next()
                            next_id[table] += 1
                            cur.execute(
                                f"INSERT INTO `{self.database}`.`{table}` VALUES (%s, %s, %s, %s)",
                                (row_id, seq, f"p{seq}", None if seq % 3 else seq / 4),
                            )
                            live[table].add(row_id)
                            pending.append((table, ("c", row_id, seq)))
                        elif action < 0.85:
                            row_id, seq = rng.choice(sorted(live[table])), self._next()
                            cur.execute(
                                f"UPDATE `{self.database}`.`{table}` SET seq = %s, payload = %s WHERE id = %s",
                                (seq, f"u{seq}", row_id),
                            )
                            pending.append((table, ("u", row_id, seq)))
                        else:
                            row_id = rng.choice(sorted(live[table]))
                            cur.execute(f"DELETE FROM `{self.database}`.`{table}` WHERE id = %s", (row_id,))
                            live[table].discard(row_id)
                            pending.append((table, ("d", row_id, None)))
                conn.commit()
                for table, change in pending:
                    self.expected[table].append(change)
        return sum(len(v) for v in self.expected.values())

    def _next(self) -> int:
        self._seq += 1
        return self._seq


KEYLESS_DDL = (
    "CREATE TABLE `{db}`.`{table}` (grp INT NOT NULL, v VARCHAR(16) NOT NULL, n INT NOT NULL) ENGINE=InnoDB"
)


class KeylessLoad:
    """Small transactions on tables without a primary key whose rows repeat (the same values
    several times), written from a background thread until stopped: the oracle for "applied
    twice" — a re-applied insert is an extra row, a re-applied delete a missing one."""

    def __init__(self, url: DatabaseUrl, database: str, tables: int, seed: int, tps: float = 40) -> None:
        self.url = url
        self.database = database
        self.tables = tuple(f"k{i}" for i in range(tables))
        self._rng = random.Random(seed)
        self._interval = 1 / tps
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.transactions = 0
        self.error: BaseException | None = None

    def create_tables(self) -> None:
        with connect(self.url) as conn, conn.cursor() as cur:
            for table in self.tables:
                cur.execute(KEYLESS_DDL.format(db=self.database, table=table))

    def touch_every_table(self) -> None:
        """One row in each table, so that every table has its topic from the start."""
        with connect(self.url) as conn, conn.cursor() as cur:
            for table in self.tables:
                cur.execute(f"INSERT INTO `{self.database}`.`{table}` VALUES (0, 'first', 0)")

    def start(self) -> KeylessLoad:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self.error is not None:
            raise self.error

    def burst(self, transactions: int) -> None:
        """Write ``transactions`` transactions now, in the caller's thread."""
        with connect(self.url) as conn, conn.cursor() as cur:
            conn.autocommit(False)
            for _ in range(transactions):
                self._transaction(cur)
                conn.commit()

    def _run(self) -> None:
        try:
            with connect(self.url) as conn, conn.cursor() as cur:
                conn.autocommit(False)
                while not self._stop.wait(self._interval):
                    self._transaction(cur)
                    conn.commit()
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def _transaction(self, cur: Any) -> None:
        rng = self._rng
        for _ in range(rng.randint(1, 3)):
            table = f"`{self.database}`.`{rng.choice(self.tables)}`"
            grp, action = rng.randint(1, 5), rng.random()
            if action < 0.6:
                # three rows, two of them identical: duplicates are the norm in these tables
                value = f"v{rng.randint(1, 3)}"
                cur.execute(
                    f"INSERT INTO {table} VALUES (%s, %s, 1), (%s, %s, 1), (%s, 'x', 2)",
                    (grp, value, grp, value, grp),
                )
            elif action < 0.85:
                cur.execute(f"UPDATE {table} SET n = n + 1 WHERE grp = %s LIMIT 1", (grp,))
            else:
                cur.execute(f"DELETE FROM {table} WHERE grp = %s LIMIT 1", (grp,))
        self.transactions += 1
