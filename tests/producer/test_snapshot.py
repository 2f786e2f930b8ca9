"""The initial snapshot: op=r rows identical to what the binlog carries for the same values,
consistent with the stream, complete, and resumable after kill -9."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from binlog_pipeline_tools.bench import workloads as w
from binlog_pipeline_tools.bench.workloads import ALL_TYPES_DDL
from binlog_pipeline_tools.chaos.workload import ADD_COLUMN, CREATE_LATE, DB, RENAME_LATE, MixedWorkload
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from binlog_pipeline.producer.position import Checkpoint
from binlog_pipeline.producer.snapshot_progress import SnapshotProgress
from binlog_pipeline.producer.snapshot_reader import consistent_position_with_lock
from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal, table_state
from tests.kafka_helpers import changes, decode_topic, wait_for
from tests.producer.test_producer_types import ROWS
from tests.producer_harness import (
    ProducerProcess,
    ProducerThread,
    current_position,
    producer_checkpoint,
    producer_settings,
    snapshot_complete,
)
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration


@pytest.fixture
def target_cleanup(services: Services, source_db: str) -> Iterator[None]:
    yield
    drop_target_database(services, source_db)


def run_sql(services: Services, *statements: str) -> None:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = '', time_zone = '+00:00'")
        for statement in statements:
            cur.execute(statement)


def test_snapshot_rows_equal_binlog_rows_for_every_type(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """A snapshot row and a binlog row of the same values are the same Avro record under the same
    writer schema — zero dates, negative TIME, DECIMAL(65,30), BIGINT UNSIGNED max, BIT(64),
    FLOAT, BINARY padding, SET/ENUM, JSON, GEOMETRY, NULL."""
    run_sql(
        services,
        ALL_TYPES_DDL.format(db=source_db),
        *(f"INSERT INTO `{source_db}`.all_types VALUES {r}" for r in ROWS),
    )
    columns = [
        row[0]
        for row in query(
            services.source_admin,
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND "
            "TABLE_NAME = 'all_types' AND COLUMN_NAME <> 'id' ORDER BY ORDINAL_POSITION",
            (source_db,),
        )
    ]
    listed = ", ".join(f"`{c}`" for c in columns)
    settings = producer_settings(
        services, topic_prefix, snapshot_mode="initial", include_tables=f"{source_db}.*"
    )
    with ProducerThread(settings) as producer:
        wait_for(lambda: snapshot_complete(services, topic_prefix), what="snapshot complete")
        # The same values again, through the binlog.
        run_sql(
            services,
            f"INSERT INTO `{source_db}`.all_types (id, {listed}) SELECT id + 100, {listed} FROM `{source_db}`.all_types",
        )
        decoded = wait_for(
            lambda: (lambda d: d if sum(x.schema.kind == "change" for x in d) >= 6 else None)(
                decode_topic(services.bootstrap, topic_prefix, source_db, "all_types")
            ),
            what="3 snapshot rows and 3 binlog rows",
        )
        producer.stop()
    rows = [d for d in decoded if d.schema.kind == "change"]
    assert [d.record["op"] for d in rows] == ["r"] * 3 + ["c"] * 3
    assert len({d.schema.fingerprint for d in rows}) == 1, "snapshot and binlog rows need one writer schema"
    snapshot = {d.record["after"]["id"]: d.record["after"] for d in rows[:3]}
    binlog = {d.record["after"]["id"] - 100: d.record["after"] for d in rows[3:]}
    for row_id in (1, 2, 3):
        left = {k: v for k, v in snapshot[row_id].items() if k != "id"}
        right = {k: v for k, v in binlog[row_id].items() if k != "id"}
        assert left == right, f"row {row_id}"


# --- the snapshot under writes, DDL and kill -9 ---------------------------------------------------
EXTRA_TABLES = (
    # string keys in a case-insensitive collation and a TIMESTAMP in a composite key: chunk
    # boundaries must continue exactly where the server's own key order left off
    f"CREATE TABLE {DB}.names (k VARCHAR(24) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT NOT NULL)",
    f"CREATE TABLE {DB}.events (at TIMESTAMP(3) NOT NULL, seq INT NOT NULL, f FLOAT, PRIMARY KEY (at, seq))",
)


def preload(services: Services, rng: random.Random, workload: MixedWorkload, mixed_rows: int) -> int:
    """Rows the snapshot must carry, in every table of the chaos schema plus two key shapes."""
    url = services.source_admin
    w.execute(url, *EXTRA_TABLES)
    conn = w.connect(url, autocommit=False)
    total = 0
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            for start in range(0, mixed_rows, 2000):
                rows = [
                    workload._mixed_row(workload._take_id()) for _ in range(min(2000, mixed_rows - start))
                ]
                cur.executemany(workload._insert_sql(), rows)
                total += len(rows)
            composite = [(a, b, rng.randrange(1000)) for a in range(mixed_rows // 10) for b in "abcdef"]
            cur.executemany(f"INSERT INTO {DB}.composite VALUES (%s, %s, %s)", composite)
            keyless = [
                (rng.randrange(20), rng.choice(["same", "same", f"v{rng.randrange(50)}"]))
                for _ in range(mixed_rows // 10)
            ]
            cur.executemany(f"INSERT INTO {DB}.keyless VALUES (%s, %s)", keyless)
            names = {
                "".join(rng.choice("aAbBcC_ 9") for _ in range(rng.randint(1, 12))).strip() or "x"
                for _ in range(3000)
            }
            unique_names = {}
            for name in names:
                unique_names.setdefault(name.lower(), name)  # one per case-insensitive key
            cur.executemany(
                f"INSERT INTO {DB}.names VALUES (%s, %s)",
                [(n, i) for i, n in enumerate(unique_names.values())],
            )
            events = [
                (f"2026-01-01 00:00:{s % 60:02d}.{s % 1000:03d}", seq, rng.random() * 1e6)
                for s in range(600)
                for seq in range(5)
            ]
            cur.executemany(f"INSERT IGNORE INTO {DB}.events VALUES (%s, %s, %s)", events)
            total += len(composite) + len(keyless) + len(unique_names) + cur.rowcount
        conn.commit()
    finally:
        conn.close()
    return total


def snapshot_state(services: Services, prefix: str) -> Any:
    checkpoint = producer_checkpoint(services, prefix)
    return None if checkpoint is None else checkpoint.snapshot


class CheckpointWatcher:
    """Tails the checkpoint topic (read_committed) in a thread: the latest snapshot progress,
    within milliseconds of its commit — so a kill lands at the chosen point of a fast snapshot."""

    def __init__(self, services: Services, prefix: str) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": services.bootstrap,
                "group.id": f"watch-{prefix}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            }
        )
        self._consumer.assign([TopicPartition(TopicNames(prefix).checkpoints, 0, OFFSET_BEGINNING)])
        self.latest: SnapshotProgress | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self._consumer.poll(0.05)
            if msg is not None and msg.error() is None and msg.value():
                self.latest = Checkpoint.from_json(msg.value()).snapshot

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


def snapshot_under_writes_and_kills(
    services: Services, tmp_path: Path, prefix: str, seed: int, mixed_rows: int, kills: int
) -> None:
    rng = random.Random(seed)
    url = services.source_admin
    for side in (services.source_admin, services.target_admin):
        w.execute(side, f"DROP DATABASE IF EXISTS {DB}", f"CREATE DATABASE {DB}")
    MixedWorkload.create_schema(url)
    workload = MixedWorkload(url, seed, tps=100)
    preloaded = preload(services, rng, workload, mixed_rows)
    producer = ProducerProcess(
        services,
        prefix,
        tmp_path / "producer.log",
        snapshot_mode="initial",
        include_tables=f"{DB}.*",
        snapshot_chunk_rows=500,
    )
    workload.start()
    producer.start()
    watcher = CheckpointWatcher(services, prefix)
    ddl = [ADD_COLUMN, CREATE_LATE, RENAME_LATE]  # on a table mid-snapshot, and on one created during it
    killed_at: list[int] = []
    try:
        with ApplierThread(applier_settings(services, prefix)) as applier:
            for fraction in sorted(rng.uniform(0.05, 0.8) for _ in range(kills)):
                # kill -9 at a seeded point of the snapshot's progress, then start again
                wait_for(
                    lambda f=fraction: (
                        (s := watcher.latest) is not None
                        and (not s.running or s.rows_done() >= f * preloaded)
                    ),
                    timeout_s=300,
                    interval_s=0.01,
                    what=f"snapshot at {fraction:.0%}",
                )
                producer.kill9()
                state = watcher.latest
                if state is not None and state.running:
                    killed_at.append(state.rows_done())
                if ddl:
                    workload.request_ddl(ddl.pop(0))
                producer.start()
            for statement in ddl:
                workload.request_ddl(statement)
            wait_for(
                lambda: (s := snapshot_state(services, prefix)) is not None and not s.running,
                timeout_s=600,
                what="snapshot complete",
            )
            workload.finish()
            tables = tuple(
                r[0]
                for r in query(
                    url, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (DB,)
                )
            )
            wait_for(
                lambda: applier.error is not None or equal(services, DB, tables),
                timeout_s=300,
                what="every table equal",
            )
            assert applier.error is None, applier.error
            applier.stop()
        assert producer.terminate() == 0, producer.log()
        for table in tables:
            sc, tc, sn, tn = table_state(services, DB, table)
            assert (sc, sn) == (tc, tn), f"{DB}.{table}: source {sn} rows / {sc}, target {tn} rows / {tc}"
        final = snapshot_state(services, prefix)
        assert final is not None and final.rows_done() >= preloaded - workload.counts.transactions * 20
        assert killed_at, "no kill -9 landed while the snapshot was running"
        # A restart continues after the last committed chunk: no key of a table without DDL is
        # read twice (aborted transactions are invisible to read_committed).
        snapshot_keys = [
            (e["after"]["a"], e["after"]["b"])
            for e in changes(decode_topic(services.bootstrap, prefix, DB, "composite"))
            if e["op"] == "r"
        ]
        assert len(snapshot_keys) == len(set(snapshot_keys)) >= mixed_rows // 10 * 6 - 1200
        assert {"late_renamed", "names", "events", "keyless", "composite", "accounts", "mixed"} <= set(tables)
    finally:
        watcher.close()
        if producer.proc is not None and producer.proc.poll() is None:
            producer.kill9()
        if not workload.stop.is_set():
            workload.stop.set()
        for side in (services.source_admin, services.target_admin):
            w.execute(side, f"DROP DATABASE IF EXISTS {DB}")


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_snapshot_under_writes_survives_kill9(
    services: Services, tmp_path: Path, topic_prefix: str, seed: int
) -> None:
    """A snapshot of every kind of table (keyless with duplicates, composite keys, a unique key
    whose values rows swap, case-insensitive string keys, TIMESTAMP keys) while a write workload
    and DDL run, with the producer killed -9 at seeded points of the snapshot: the target ends
    CHECKSUM-equal to the source in every table."""
    snapshot_under_writes_and_kills(services, tmp_path, topic_prefix, seed, mixed_rows=40_000, kills=3)


# --- modes ----------------------------------------------------------------------------------------
def pipeline_cli(services: Services, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "binlog_pipeline",
            *args,
            "--topic-prefix",
            prefix,
            "--set",
            f"transactional_id=producer-{prefix}",
        ],
        capture_output=True,
        text=True,
        env=services.env(),
        timeout=120,
    )


def ops_of(services: Services, prefix: str, database: str, table: str) -> list[str]:
    return [e["op"] for e in changes(decode_topic(services.bootstrap, prefix, database, table))]


def test_snapshot_modes(services: Services, source_db: str, topic_prefix: str, tmp_path: Path) -> None:
    """only: snapshot, commit, exit 0, and a later start streams on without a second snapshot;
    never: rows that exist are not published; the status command reports what the checkpoint holds."""
    run_sql(
        services,
        f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, v VARCHAR(8))",
        f"INSERT INTO `{source_db}`.t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    )
    include = f"{source_db}.*"
    only = ProducerProcess(
        services, topic_prefix, tmp_path / "only.log", snapshot_mode="only", include_tables=include
    )
    assert only.start().proc is not None
    assert only.proc.wait(120) == 0, only.log()
    assert ops_of(services, topic_prefix, source_db, "t") == ["r", "r", "r"]
    status = pipeline_cli(services, topic_prefix, "snapshot")
    assert status.returncode == 0 and "snapshot complete: 1 tables, 3 rows" in status.stdout, status
    # A second start with the default mode continues from the checkpoint: no new snapshot.
    with ProducerThread(
        producer_settings(services, topic_prefix, snapshot_mode="initial", include_tables=include)
    ) as producer:
        run_sql(services, f"UPDATE `{source_db}`.t SET v = 'z' WHERE id = 2")
        wait_for(lambda: len(ops_of(services, topic_prefix, source_db, "t")) == 4, what="the update")
        producer.stop()
    assert ops_of(services, topic_prefix, source_db, "t") == ["r", "r", "r", "u"]
    # only, again: nothing left to do.
    again = ProducerProcess(
        services, topic_prefix, tmp_path / "again.log", snapshot_mode="only", include_tables=include
    )
    assert again.start().proc is not None and again.proc.wait(120) == 0, again.log()
    assert "nothing to do" in again.log()

    never_prefix = topic_prefix + "n"
    with ProducerThread(
        producer_settings(
            services,
            never_prefix,
            snapshot_mode="never",
            include_tables=include,
            start_position=current_position(services),  # the insert below is after it, however fast
        )
    ) as producer:
        run_sql(services, f"INSERT INTO `{source_db}`.t VALUES (4, 'd')")
        wait_for(lambda: ops_of(services, never_prefix, source_db, "t") == ["c"], what="only the insert")
        producer.stop()
    status = pipeline_cli(services, never_prefix, "snapshot")
    assert "no snapshot recorded" in status.stdout, status


def test_when_needed_snapshots_again_after_the_binlog_is_purged(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """when_needed: a checkpoint whose binlog file is gone means a new snapshot, then streaming;
    initial (and never) refuse to jump the gap."""
    run_sql(
        services,
        f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY)",
        f"INSERT INTO `{source_db}`.t VALUES (1)",
    )
    include = f"{source_db}.*"
    settings = producer_settings(services, topic_prefix, snapshot_mode="when_needed", include_tables=include)
    with ProducerThread(settings) as producer:
        wait_for(lambda: ops_of(services, topic_prefix, source_db, "t") == ["r"], what="the snapshot")
        producer.stop()
    run_sql(services, f"INSERT INTO `{source_db}`.t VALUES (2)")
    checkpoint = producer_checkpoint(services, topic_prefix)
    assert checkpoint is not None

    def purged() -> bool:
        """MariaDB keeps a file until its binlog checkpoint (crash recovery) has passed it, which
        lags under load: rotate and purge until the checkpoint's file is really gone."""
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute("FLUSH BINARY LOGS")
            cur.execute("SHOW MASTER STATUS")
            cur.execute(f"PURGE BINARY LOGS TO '{cur.fetchone()[0]}'")
            cur.execute("SHOW BINARY LOGS")
            return checkpoint.position.file not in {row[0] for row in cur.fetchall()}

    try:
        wait_for(purged, timeout_s=120, interval_s=1, what=f"{checkpoint.position.file} purged")
    except AssertionError as exc:
        dumps = query(
            services.source_admin,
            "SELECT ID, STATE FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
        )
        raise AssertionError(f"{exc}; binlog dump threads still open: {dumps}") from exc
    refused = ProducerThread(
        producer_settings(services, topic_prefix, snapshot_mode="initial", include_tables=include)
    )
    with refused:
        wait_for(lambda: refused.error is not None, what="initial refuses the purged position")
    assert "no longer on the source" in str(refused.error)
    with ProducerThread(settings) as producer:
        wait_for(
            lambda: ops_of(services, topic_prefix, source_db, "t") == ["r", "r", "r"], what="a new snapshot"
        )
        run_sql(services, f"DELETE FROM `{source_db}`.t WHERE id = 1")
        wait_for(
            lambda: ops_of(services, topic_prefix, source_db, "t")[-1:] == ["d"], what="streaming after it"
        )
        producer.stop()


def test_incremental_snapshot_of_a_table_added_to_the_filter(
    services: Services, source_db: str, topic_prefix: str, tmp_path: Path, target_cleanup: None
) -> None:
    """A table outside include_tables holds rows; the producer restarts with it included and
    `binlog-pipeline snapshot --table` snapshots just that table while the stream and writes to
    both tables go on: the target ends equal in both, the other table is not snapshotted."""
    run_sql(
        services,
        f"CREATE TABLE `{source_db}`.a (id INT PRIMARY KEY, v INT)",
        f"CREATE TABLE `{source_db}`.b (id INT PRIMARY KEY, v INT, u INT, UNIQUE KEY (u))",
        f"INSERT INTO `{source_db}`.b VALUES " + ", ".join(f"({i}, {i}, {i})" for i in range(1, 3001)),
    )
    first = producer_settings(
        services, topic_prefix, snapshot_mode="initial", include_tables=f"{source_db}.a"
    )
    both = producer_settings(
        services,
        topic_prefix,
        snapshot_mode="initial",
        include_tables=f"{source_db}.a,{source_db}.b",
        snapshot_chunk_rows=500,
    )
    refused = pipeline_cli(
        services,
        topic_prefix,
        "snapshot",
        "--table",
        f"{source_db}.b",
        "--set",
        f"include_tables={source_db}.a",
    )
    assert refused.returncode == 2 and "is not captured" in refused.stderr, refused
    missing = pipeline_cli(services, topic_prefix, "snapshot", "--table", f"{source_db}.nope")
    assert missing.returncode == 2 and "is not a table on the source" in missing.stderr, missing
    stop_writes = threading.Event()

    def writes() -> None:
        n = 0
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            while not stop_writes.is_set():
                n += 1
                cur.execute(f"INSERT INTO `{source_db}`.a VALUES ({n}, {n})")
                # swap two rows' unique values through a free one, in source order
                x, y = 1 + n % 3000, 1 + (n * 7) % 3000
                conn.begin()
                cur.execute(f"SELECT id, u FROM `{source_db}`.b WHERE id IN ({x}, {y}) FOR UPDATE")
                found = dict(cur.fetchall())
                if x != y and len(found) == 2:
                    cur.execute(f"UPDATE `{source_db}`.b SET u = -1 WHERE id = {x}")
                    cur.execute(f"UPDATE `{source_db}`.b SET u = {found[x]}, v = v + 1 WHERE id = {y}")
                    cur.execute(f"UPDATE `{source_db}`.b SET u = {found[y]} WHERE id = {x}")
                conn.commit()
                if n % 10 == 0:
                    cur.execute(f"UPDATE `{source_db}`.b SET id = id + 10000 WHERE id = {n // 10}")
                time.sleep(0.005)

    writer = threading.Thread(target=writes, daemon=True)
    with ApplierThread(applier_settings(services, topic_prefix)) as applier:
        with ProducerThread(first) as producer:
            wait_for(
                lambda: (s := snapshot_state(services, topic_prefix)) is not None and not s.running,
                what="first snapshot",
            )
            producer.stop()
        writer.start()
        with ProducerThread(both) as producer:
            requested = pipeline_cli(
                services, topic_prefix, "snapshot", "--table", f"{source_db}.b", "--follow"
            )
            assert requested.returncode == 0, requested
            assert "snapshot complete" in requested.stdout, requested.stdout
            stop_writes.set()
            writer.join()
            wait_for(
                lambda: applier.error is not None or equal(services, source_db, ("a", "b")),
                timeout_s=120,
                what="a and b equal",
            )
            assert applier.error is None, applier.error
            producer.stop()
        applier.stop()
    assert "r" not in ops_of(services, topic_prefix, source_db, "a")
    assert ops_of(services, topic_prefix, source_db, "b").count("r") >= 3000 - 300
    for table in ("a", "b"):
        sc, tc, sn, tn = table_state(services, source_db, table)
        assert (sc, sn) == (tc, tn)


def test_key_change_of_a_row_missing_on_the_target(
    services: Services, source_db: str, topic_prefix: str, target_cleanup: None
) -> None:
    """A table with a unique secondary key is applied in exact order; a primary-key change of a
    row the target does not hold (it predates the pipeline, as mid-snapshot) writes the new row."""
    run_sql(
        services,
        f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, u INT, UNIQUE KEY (u))",
        f"INSERT INTO `{source_db}`.t VALUES (1, 1)",
    )
    with (
        ApplierThread(applier_settings(services, topic_prefix)) as applier,
        ProducerThread(
            producer_settings(
                services,
                topic_prefix,
                snapshot_mode="never",
                include_tables=f"{source_db}.*",
                start_position=current_position(services),
            )
        ) as producer,
    ):
        run_sql(services, f"UPDATE `{source_db}`.t SET id = 2 WHERE id = 1")
        wait_for(lambda: applier.error is not None or equal(services, source_db, ("t",)), what="t equal")
        assert applier.error is None, applier.error
        producer.stop()
        applier.stop()


def test_consistent_position_with_the_global_read_lock(services: Services) -> None:
    """The MySQL path (no binlog_snapshot_position): FTWRL only around taking the view; on an idle
    server it names the same position as MariaDB's snapshot status."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        locked = consistent_position_with_lock(cur)
        cur.execute("SHOW STATUS LIKE 'binlog_snapshot_position'")
        reported = int(cur.fetchone()[1])
        cur.execute("COMMIT")
        cur.execute("SELECT 1")  # the lock is gone: a write elsewhere would not wait
    assert locked.pos == reported


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_snapshot_of_a_million_rows_under_writes_survives_kill9(
    services: Services, tmp_path: Path, topic_prefix: str, seed: int
) -> None:
    """The same at ~1.1M rows across the tables, five kills per seed."""
    snapshot_under_writes_and_kills(services, tmp_path, topic_prefix, seed, mixed_rows=650_000, kills=5)


def test_sigterm_mid_snapshot_stops_promptly_and_resumes(
    services: Services, source_db: str, topic_prefix: str, tmp_path: Path
) -> None:
    """SIGTERM during a snapshot of an idle source (where chunks follow each other without
    returning to the stream) commits what is done and exits 0; the next start finishes it."""
    run_sql(
        services,
        f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, v VARCHAR(40))",
        *(
            f"INSERT INTO `{source_db}`.t VALUES "
            + ", ".join(f"({i}, REPEAT('x', 40))" for i in range(start, start + 1000))
            for start in range(1, 30_001, 1000)
        ),
    )
    settings = {"snapshot_mode": "initial", "include_tables": f"{source_db}.*", "snapshot_chunk_rows": 100}
    watcher = CheckpointWatcher(services, topic_prefix)
    try:
        first = ProducerProcess(services, topic_prefix, tmp_path / "first.log", **settings).start()
        wait_for(lambda: (s := watcher.latest) is not None and s.rows_done() >= 2000, interval_s=0.01)
        started = time.monotonic()
        assert first.terminate(timeout_s=30) == 0, first.log()
        assert time.monotonic() - started < 10
        stopped_at = watcher.latest
        assert stopped_at is not None and stopped_at.running, "the snapshot finished before SIGTERM"
        second = ProducerProcess(services, topic_prefix, tmp_path / "second.log", **settings).start()
        wait_for(lambda: (s := watcher.latest) is not None and not s.running, timeout_s=120)
        assert second.terminate() == 0, second.log()
    finally:
        watcher.close()
    ids = [e["after"]["id"] for e in changes(decode_topic(services.bootstrap, topic_prefix, source_db, "t"))]
    assert sorted(ids) == list(range(1, 30_001)), "every row exactly once across the two runs"


def test_snapshot_leaves_out_excluded_columns(services: Services, source_db: str, topic_prefix: str) -> None:
    """exclude_columns holds for snapshot rows as for binlog rows: same writer schema, no value."""
    run_sql(
        services,
        f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, secret VARCHAR(16), v INT)",
        f"INSERT INTO `{source_db}`.t VALUES (1, 'pw', 10)",
    )
    settings = producer_settings(
        services,
        topic_prefix,
        snapshot_mode="initial",
        include_tables=f"{source_db}.*",
        exclude_columns=f"{source_db}.t.secret",
    )
    with ProducerThread(settings) as producer:
        wait_for(lambda: len(ops_of(services, topic_prefix, source_db, "t")) == 1, what="the snapshot row")
        run_sql(services, f"INSERT INTO `{source_db}`.t VALUES (2, 'pw2', 20)")
        wait_for(lambda: len(ops_of(services, topic_prefix, source_db, "t")) == 2, what="the binlog row")
        producer.stop()
    rows = [
        d for d in decode_topic(services.bootstrap, topic_prefix, source_db, "t") if d.schema.kind == "change"
    ]
    assert [d.record["after"] for d in rows] == [{"id": 1, "v": 10}, {"id": 2, "v": 20}]
    assert rows[0].schema.fingerprint == rows[1].schema.fingerprint
