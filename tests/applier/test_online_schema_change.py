"""Online schema change tools and table swaps, under write load, as operators run them.

pt-online-schema-change (Debian's percona-toolkit) runs for real: it creates `_t_new`, alters it,
copies rows in chunks while triggers mirror writes, cuts over with one atomic
`RENAME TABLE t TO _t_old, _t_new TO t` and drops `_t_old`. gh-ost's cut-over
(`t TO _t_del, _t_gho TO t`), a three-way swap and `ALTER TABLE … RENAME TO` are driven by SQL.
After each: the same tables on both sides, every table CHECKSUM- and count-equal, applier alive.
"""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from binlog_pipeline_tools.bench import workloads as w

from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal, table_state
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration
ROWS = 3_000


@dataclass
class Writer:
    """Inserts, updates and deletes on the named tables (primary key ``id``) until stopped; a
    statement that hits a table mid-swap just fails and is tried on the next round."""

    services: Services
    db: str
    tables: list[str]
    tps: float = 50
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    writes: int = 0

    def __enter__(self) -> Writer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)

    def _run(self) -> None:
        rng = random.Random(6)
        next_id = 10_000_000
        with connect(self.services.source_admin) as conn, conn.cursor() as cur:
            while not self._stop.wait(1 / self.tps):
                table = f"`{self.db}`.`{rng.choice(self.tables)}`"
                action = rng.random()
                try:
                    if action < 0.4:
                        next_id += 1
                        cur.execute(f"INSERT INTO {table} (id, v) VALUES (%s, %s)", (next_id, next_id))
                    elif action < 0.8:
                        cur.execute(f"UPDATE {table} SET v = v + 1 WHERE id = %s", (rng.randint(1, ROWS),))
                    else:
                        cur.execute(f"DELETE FROM {table} WHERE id = %s", (rng.randint(1, ROWS),))
                    self.writes += 1
                except Exception:  # the table is being swapped right now
                    continue


@dataclass
class Pipeline:
    services: Services
    db: str
    prefix: str
    tmp: Path

    def source(self, *statements: str) -> None:
        with connect(self.services.source_admin) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def create(self, table: str, rows: int = ROWS) -> None:
        self.source(
            f"CREATE TABLE `{self.db}`.`{table}` (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(16) "
            "NOT NULL DEFAULT 'x')",
            f"INSERT INTO `{self.db}`.`{table}` (id, v) VALUES "
            + ", ".join(f"({i}, {i})" for i in range(1, rows + 1)),
        )

    def tables(self, url: Any) -> list[str]:
        rows = query(
            url, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (self.db,)
        )
        return sorted(str(r[0]) for r in rows)

    def assert_equal(self, appliers: list[ApplierThread], timeout_s: float = 180) -> None:
        def settled() -> bool:
            if any(applier.error is not None for applier in appliers):
                return True
            source = self.tables(self.services.source_admin)
            return source == self.tables(self.services.target_admin) and equal(
                self.services, self.db, tuple(source)
            )

        try:
            wait_for(settled, timeout_s=timeout_s, what="the same tables, each equal")
        except AssertionError:
            source, target = self.tables(self.services.source_admin), self.tables(self.services.target_admin)
            states = {t: table_state(self.services, self.db, t) for t in source}
            raise AssertionError(f"source tables {source}, target tables {target}; {states}") from None
        for applier in appliers:
            assert applier.error is None, applier.error

    def applier(self, **overrides: Any) -> ApplierThread:
        return ApplierThread(applier_settings(self.services, self.prefix, **overrides))


@pytest.fixture
def pipeline(services: Services, source_db: str, topic_prefix: str, tmp_path: Path) -> Iterator[Pipeline]:
    yield Pipeline(services, source_db, topic_prefix, tmp_path)
    drop_target_database(services, source_db)


def producer(p: Pipeline, **overrides: Any) -> ProducerThread:
    return ProducerThread(
        producer_settings(p.services, p.prefix, start_position=current_position(p.services), **overrides)
    )


def pt_online_schema_change(p: Pipeline, table: str, alter: str) -> None:
    if shutil.which("pt-online-schema-change") is None:
        pytest.skip("pt-online-schema-change is not installed (Debian: percona-toolkit)")
    w.pt_online_schema_change(p.services.source_admin, p.db, table, alter)


@pytest.mark.slow  # CI time: the two-applier test below runs the same change under the same load
def test_pt_online_schema_change_under_load(pipeline: Pipeline) -> None:
    """pt-online-schema-change adds a column to a captured table while writes go on: the target
    gets the same table (new column, every row) and none of the tool's tables are left behind."""
    p = pipeline
    with producer(p), p.applier() as applier:
        p.create("t")
        p.assert_equal([applier])
        with Writer(p.services, p.db, ["t"]):
            pt_online_schema_change(p, "t", "ADD COLUMN extra INT NOT NULL DEFAULT 7")
        p.assert_equal([applier])
        assert "extra" in str(query(p.services.target_admin, f"SHOW CREATE TABLE `{p.db}`.t")[0][1])
        applier.stop()


def test_pt_online_schema_change_with_two_appliers(pipeline: Pipeline) -> None:
    """The same with two appliers in one group, so that `t`, `_t_new` and `_t_old` are applied by
    different members: the cut-over still runs once, when each has reached it."""
    p = pipeline
    with producer(p), p.applier() as first, p.applier() as second:
        p.create("t")
        p.create("u", rows=100)
        p.assert_equal([first, second])
        with Writer(p.services, p.db, ["t", "u"]):
            pt_online_schema_change(p, "t", "ADD COLUMN extra INT NOT NULL DEFAULT 7")
            pt_online_schema_change(p, "u", "MODIFY COLUMN note VARCHAR(32) NOT NULL DEFAULT 'y'")
        p.assert_equal([first, second])
        first.stop()
        second.stop()


def test_pt_online_schema_change_with_shadow_tables_filtered_out(pipeline: Pipeline) -> None:
    """Shadow tables excluded from capture (`exclude_tables = db._*`): at the cut-over the table
    takes the name of a table the stream never saw, so the target re-creates it from its definition
    and the producer snapshots it — ending equal all the same."""
    p = pipeline
    with producer(p, exclude_tables=f"{p.db}._*"), p.applier() as applier:
        p.create("t")
        p.assert_equal([applier])
        with Writer(p.services, p.db, ["t"]):
            pt_online_schema_change(p, "t", "ADD COLUMN extra INT NOT NULL DEFAULT 7")
        p.assert_equal([applier])
        applier.stop()


def test_gh_ost_cut_over_swaps_and_alter_rename(pipeline: Pipeline) -> None:
    """gh-ost's cut-over (shadow `_t_gho` kept in step by the writer, then
    `RENAME TABLE t TO _t_del, _t_gho TO t`), a three-way swap of two tables with the same
    definition but different rows, and `ALTER TABLE … RENAME TO` with writes continuing."""
    p = pipeline
    with producer(p), p.applier() as applier:
        for table, rows in (("t", ROWS), ("a", 50), ("b", 80), ("c", 30)):
            p.create(table, rows)
        p.assert_equal([applier])
        p.source(
            f"CREATE TABLE `{p.db}`._t_gho LIKE `{p.db}`.t",
            f"ALTER TABLE `{p.db}`._t_gho ADD COLUMN extra INT NOT NULL DEFAULT 7",
            f"INSERT INTO `{p.db}`._t_gho (id, v, note) SELECT id, v, note FROM `{p.db}`.t",
        )
        with Writer(p.services, p.db, ["a", "b"]):
            p.source(
                f"RENAME TABLE `{p.db}`.t TO `{p.db}`._t_del, `{p.db}`._t_gho TO `{p.db}`.t",
                f"DROP TABLE `{p.db}`._t_del",
                f"RENAME TABLE `{p.db}`.a TO `{p.db}`.tmp, `{p.db}`.b TO `{p.db}`.a, `{p.db}`.tmp TO `{p.db}`.b",
                f"ALTER TABLE `{p.db}`.c ADD COLUMN extra INT NULL, RENAME TO `{p.db}`.c2",
                f"INSERT INTO `{p.db}`.c2 (id, v) VALUES (1000, 1000)",
                f"RENAME TABLE `{p.db}`.a TO `{p.db}`.tmp, `{p.db}`.b TO `{p.db}`.a, `{p.db}`.tmp TO `{p.db}`.b",
            )
        p.assert_equal([applier])
        applier.stop()
