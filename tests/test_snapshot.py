"""The initial snapshot: op=r rows identical to what the binlog carries for the same values,
consistent with the stream, complete, and resumable after kill -9."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from binlog_pipeline.bench import workloads as w
from binlog_pipeline.bench.workloads import ALL_TYPES_DDL
from binlog_pipeline.chaos.workload import ADD_COLUMN, CREATE_LATE, DB, RENAME_LATE, MixedWorkload
from producer.position import Checkpoint
from producer.snapshot_progress import SnapshotProgress
from schemas.topics import TopicNames
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal, table_state
from tests.kafka_helpers import changes, decode_topic, read_all, wait_for
from tests.producer_harness import ProducerProcess, ProducerThread, producer_settings
from tests.services import Services, connect, query
from tests.test_producer_types import ROWS

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


def producer_checkpoint(services: Services, prefix: str) -> Checkpoint | None:
    messages = read_all(services.bootstrap, TopicNames(prefix).checkpoints)
    return Checkpoint.from_json(messages[-1].value()) if messages else None


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
        wait_for(
            lambda: (
                (c := producer_checkpoint(services, topic_prefix)) is not None
                and c.snapshot is not None
                and not c.snapshot.running
            ),
            what="snapshot complete",
        )
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


@pytest.mark.parametrize("seed", [1, 2])
def test_snapshot_under_writes_survives_kill9(
    services: Services, tmp_path: Path, topic_prefix: str, seed: int
) -> None:
    """A snapshot of every kind of table (keyless with duplicates, composite keys, a unique key
    whose values rows swap, case-insensitive string keys, TIMESTAMP keys) while a write workload
    and DDL run, with the producer killed -9 at seeded points of the snapshot: the target ends
    CHECKSUM-equal to the source in every table."""
    snapshot_under_writes_and_kills(services, tmp_path, topic_prefix, seed, mixed_rows=40_000, kills=3)
