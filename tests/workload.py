"""A seeded source workload whose every row change is recorded, so a test can demand that Kafka
(or the target) saw each exactly once and in order per table."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from binlog_pipeline.dburl import DatabaseUrl
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
