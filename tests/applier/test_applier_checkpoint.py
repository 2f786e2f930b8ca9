"""The checkpoint moves only after a durable target COMMIT — one test per failure point.

Each test applies a first workload, snapshots the committed positions (Kafka group offsets and the
target checkpoint rows), injects a real fault while more changes arrive, asserts that neither
position moved while the fault lasted, heals it, and demands CHECKSUM TABLE equality. Every
scenario includes a table without a primary key, where a re-applied batch would double rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from binlog_pipeline_tools.chaos.tcp_proxy import BEGIN, COMMIT, TcpProxy
from confluent_kafka import Consumer, TopicPartition

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierProcess, ApplierThread, applier_settings, drop_target_database, equal
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration
TABLES = ("w1", "np")
FAULT_WINDOW_S = 4.0


@dataclass
class Pipeline:
    services: Services
    db: str
    prefix: str
    proxy: TcpProxy
    next_id: int = 1

    @property
    def group(self) -> str:
        return f"applier-{self.prefix}"

    @property
    def proxied_target(self) -> str:
        url = self.services.target_url
        return DatabaseUrl(url.host, self.proxy.port, url.user, url.password).unmasked()

    def applier(self, **overrides: Any) -> ApplierThread:
        return ApplierThread(
            applier_settings(self.services, self.prefix, target_url=self.proxied_target, **overrides)
        )

    def write(self, rows: int = 50, no_pk_only: bool = False) -> None:
        """Inserts into both tables, an update and a delete, in a few source transactions.
        ``no_pk_only`` touches only the table without a primary key, so that any batch applied
        twice shows as doubled rows."""
        with connect(self.services.source_admin) as conn, conn.cursor() as cur:
            for start in range(self.next_id, self.next_id + rows, 10):
                values = [(i, i, f"p{i}") for i in range(start, min(start + 10, self.next_id + rows))]
                if not no_pk_only:
                    cur.executemany(f"INSERT INTO `{self.db}`.w1 VALUES (%s, %s, %s)", values)
                cur.executemany(f"INSERT INTO `{self.db}`.np VALUES (%s, %s, %s)", values)
            if not no_pk_only:
                cur.execute(f"UPDATE `{self.db}`.w1 SET seq = seq + 1000 WHERE id = 1")
            cur.execute(f"DELETE FROM `{self.db}`.np WHERE id = %s", (self.next_id,))
        self.next_id += rows

    def positions(self) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
        """(Kafka committed offsets of the group, target checkpoint rows)."""
        topics = TopicNames(self.prefix)
        partitions = [TopicPartition(topics.table(self.db, t), 0) for t in TABLES]
        consumer = Consumer({"bootstrap.servers": self.services.bootstrap, "group.id": self.group})
        try:
            kafka = {
                (tp.topic, tp.partition): tp.offset
                for tp in consumer.committed(partitions, timeout=10)
                if tp.offset >= 0
            }
        finally:
            consumer.close()
        rows = (
            query(
                self.services.target_admin,
                "SELECT topic, `partition`, next_offset FROM binlog_pipeline.applier_checkpoint WHERE group_id = %s",
                (self.group,),
            )
            if query(
                self.services.target_admin,
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                "TABLE_SCHEMA='binlog_pipeline' AND TABLE_NAME='applier_checkpoint'",
            )[0][0]
            else []
        )
        return kafka, {(str(t), int(p)): int(o) for t, p, o in rows}

    def wait_equal(self, timeout_s: float = 90) -> None:
        wait_for(lambda: equal(self.services, self.db, TABLES), timeout_s=timeout_s, what="target == source")

    def caught_up(self) -> bool:
        """Kafka offsets == target checkpoint == the end of every table topic (the last entry of a
        transactional partition is a commit marker, so the end is the high watermark - 1)."""
        kafka, target = self.positions()
        if kafka != target:
            return False
        topics = TopicNames(self.prefix)
        consumer = Consumer({"bootstrap.servers": self.services.bootstrap, "group.id": "watermarks"})
        try:
            for table in TABLES:
                topic = topics.table(self.db, table)
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
                if kafka.get((topic, 0), -1) < high - 1:
                    return False
        finally:
            consumer.close()
        return True

    def assert_equal_and_committed(self) -> None:
        """Equality taken as the oracle once every position settled: a batch applied twice after
        equality was first reached would show here."""
        self.wait_equal()
        wait_for(self.caught_up, what="Kafka offsets == target checkpoint == end of topics")
        time.sleep(1.0)
        assert self.caught_up() and equal(self.services, self.db, TABLES), "target differs from source"


@pytest.fixture
def pipeline(services: Services, source_db: str, topic_prefix: str) -> Iterator[Pipeline]:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{source_db}`.w1 (id INT PRIMARY KEY, seq BIGINT NOT NULL, payload VARCHAR(64) NOT NULL)"
        )
        cur.execute(
            f"CREATE TABLE `{source_db}`.np (id INT NOT NULL, seq BIGINT NOT NULL, payload VARCHAR(64) NOT NULL)"
        )
    proxy = TcpProxy(services.target_url.port)
    producer = ProducerThread(
        producer_settings(services, topic_prefix, start_position=current_position(services))
    )
    with producer:
        yield Pipeline(services, source_db, topic_prefix, proxy)
    proxy.close()
    drop_target_database(services, source_db)


def settle(p: Pipeline) -> tuple[Any, Any]:
    """First workload applied; returns the committed positions before the fault."""
    p.write(40)
    p.assert_equal_and_committed()
    return p.positions()


def assert_not_moved(p: Pipeline, before: tuple[Any, Any], window_s: float = FAULT_WINDOW_S) -> None:
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        assert p.positions() == before, "a checkpoint moved while the target was failing"
        time.sleep(0.5)


def test_target_unreachable_before_begin(pipeline: Pipeline) -> None:
    """Connection refused: nothing commits while the target is unreachable; all of it after."""
    with pipeline.applier() as applier:
        before = settle(pipeline)
        pipeline.proxy.refuse()
        pipeline.write(30)
        assert_not_moved(pipeline, before)
        pipeline.proxy.accept()
        pipeline.assert_equal_and_committed()
        applier.stop()


def test_begin_fails(pipeline: Pipeline) -> None:
    """Every BEGIN has its connection cut: the checkpoint never moves until BEGIN succeeds."""
    with pipeline.applier() as applier:
        before = settle(pipeline)
        rule = pipeline.proxy.set_rule(BEGIN, "cut_before")
        pipeline.write(30)
        assert_not_moved(pipeline, before)
        assert rule.fired >= 1
        pipeline.proxy.clear_rule()
        pipeline.assert_equal_and_committed()
        applier.stop()


def test_begin_on_a_killed_connection(pipeline: Pipeline) -> None:
    """KILL CONNECTION of the applier's session just before its BEGIN reaches the server."""
    with pipeline.applier() as applier:
        before = settle(pipeline)
        pipeline.proxy.set_rule(BEGIN, "stall_before", times=1)
        pipeline.write(30)
        wait_for(pipeline.proxy.stalled.is_set, what="the applier's BEGIN to be held")
        ids = query(
            pipeline.services.target_admin,
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'binlog_applier'",
        )
        with connect(pipeline.services.target_admin) as conn, conn.cursor() as cur:
            for (conn_id,) in ids:
                cur.execute(f"KILL CONNECTION {int(conn_id)}")
        assert pipeline.positions() == before
        pipeline.proxy.clear_rule()
        pipeline.assert_equal_and_committed()
        applier.stop()


def test_lock_wait_timeout_mid_batch_is_retried(pipeline: Pipeline) -> None:
    """A row locked by another session makes the batch fail with 1205; it is retried, not skipped."""
    with connect(pipeline.services.target_admin) as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL innodb_lock_wait_timeout = 1")
    try:
        with pipeline.applier() as applier:
            before = settle(pipeline)
            with connect(pipeline.services.target_admin) as locker, locker.cursor() as cur:
                locker.begin()
                cur.execute(f"SELECT * FROM `{pipeline.db}`.w1 WHERE id = 1 FOR UPDATE")
                pipeline.write(30)  # updates id = 1
                assert_not_moved(pipeline, before)
                locker.rollback()
            pipeline.assert_equal_and_committed()
            applier.stop()
    finally:
        with connect(pipeline.services.target_admin) as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL innodb_lock_wait_timeout = 50")


def test_permanent_error_stops_and_names_the_message(pipeline: Pipeline) -> None:
    """A target constraint the new rows violate stops the applier with topic/partition/offset,
    table and key; nothing moves; after the fix a restart applies everything."""
    with pipeline.applier() as applier:
        before = settle(pipeline)
        with connect(pipeline.services.target_admin) as conn, conn.cursor() as cur:
            cur.execute(
                f"ALTER TABLE `{pipeline.db}`.w1 ADD CONSTRAINT no_p7x CHECK (payload NOT LIKE 'p7_')"
            )
        pipeline.write(40)  # ids 41..80 include p70..p79
        wait_for(lambda: applier.error is not None, what="the applier to stop")
        assert isinstance(applier.error, PermanentError)
        message = str(applier.error)
        topic = TopicNames(pipeline.prefix).table(pipeline.db, "w1")
        assert f"cannot apply message {topic}[0]@" in message
        assert f"table {pipeline.db}.w1" in message and "key id=7" in message and "CONSTRAINT" in message
    assert pipeline.positions() == before
    with connect(pipeline.services.target_admin) as conn, conn.cursor() as cur:
        cur.execute(f"ALTER TABLE `{pipeline.db}`.w1 DROP CONSTRAINT no_p7x")
    with pipeline.applier() as applier:
        pipeline.assert_equal_and_committed()
        applier.stop()


def test_commit_reply_lost(pipeline: Pipeline) -> None:
    """COMMIT reaches the server but its reply is lost: the target checkpoint row tells the
    applier it committed, so nothing is applied twice (the no-PK table would double) or lost."""
    with pipeline.applier() as applier:
        settle(pipeline)
        rule = pipeline.proxy.set_rule(COMMIT, "cut_after", times=1)
        pipeline.write(30, no_pk_only=True)
        wait_for(lambda: rule.fired == 1, what="a COMMIT to be cut")
        pipeline.assert_equal_and_committed()
        applier.stop()


def test_commit_delivered_after_its_reply_was_lost(pipeline: Pipeline) -> None:
    """The applier loses its connection while its COMMIT is still on the way to the server (as in a
    slow fsync or a semi-sync wait whose reply never comes back); the COMMIT lands seconds later.
    The applier must not read the checkpoint row, nor re-apply, before that transaction is decided:
    the no-PK table would double."""
    with pipeline.applier() as applier:
        settle(pipeline)
        rule = pipeline.proxy.set_rule(COMMIT, "deliver_late", times=1, delay_s=6)
        pipeline.write(30, no_pk_only=True)
        wait_for(lambda: rule.fired == 1, what="a COMMIT to be held")
        time.sleep(rule.delay_s + 1)  # past the moment the held COMMIT would reach the server
        pipeline.assert_equal_and_committed()
        applier.stop()


def test_seed_scenario_failed_begin_then_later_batches(pipeline: Pipeline) -> None:
    """The bug this project exists for: a batch whose BEGIN fails, then later batches succeed.
    The failed batch's rows must end up applied — the checkpoint never passed them."""
    with pipeline.applier(batch_max_rows=10) as applier:
        settle(pipeline)
        rule = pipeline.proxy.set_rule(BEGIN, "cut_before", times=1)
        pipeline.write(60)
        pipeline.assert_equal_and_committed()
        assert rule.fired == 1
        applier.stop()


def test_read_only_target_waits(pipeline: Pipeline) -> None:
    """A read_only target (failover) is waited out: nothing moves meanwhile, nothing is lost."""
    with pipeline.applier() as applier:
        before = settle(pipeline)
        with connect(pipeline.services.target_admin) as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL read_only = 1")
        try:
            pipeline.write(30)
            assert_not_moved(pipeline, before)
            assert applier.error is None
        finally:
            with connect(pipeline.services.target_admin) as conn, conn.cursor() as cur:
                cur.execute("SET GLOBAL read_only = 0")
        pipeline.assert_equal_and_committed()
        applier.stop()


@pytest.mark.parametrize(
    ("pattern", "action", "target_moves"),
    [(BEGIN, "stall_before", False), (COMMIT, "stall_before", False), (COMMIT, "stall_reply", True)],
    ids=["before-BEGIN", "before-COMMIT", "after-COMMIT-before-offset-commit"],
)
def test_kill9_at_each_point(
    pipeline: Pipeline, tmp_path: Path, pattern: bytes, action: str, target_moves: bool
) -> None:
    """kill -9 of the applier process held at BEGIN, at COMMIT, and after COMMIT but before the
    Kafka offset commit; a restart ends equal, with no duplicate in the no-PK table."""
    log = tmp_path / "applier.log"
    process = ApplierProcess(
        pipeline.services, pipeline.prefix, log, target_url=pipeline.proxied_target
    ).start()
    before = settle(pipeline)
    pipeline.proxy.set_rule(pattern, action, times=1)
    pipeline.write(30, no_pk_only=True)
    wait_for(pipeline.proxy.stalled.is_set, what=f"the applier held at {pattern!r}")
    process.kill9()
    pipeline.proxy.clear_rule()
    kafka, target = pipeline.positions()
    assert kafka == before[0], "Kafka offsets moved before the target COMMIT was confirmed"
    if not target_moves:
        assert target == before[1]
    process = ApplierProcess(
        pipeline.services, pipeline.prefix, log, target_url=pipeline.proxied_target
    ).start()
    try:
        pipeline.assert_equal_and_committed()
    finally:
        assert process.terminate() == 0, process.log()


@pytest.mark.slow  # CI time: every chaos run in the fast suite kills and restarts the broker mid-apply
def test_broker_restart_mid_apply(pipeline: Pipeline) -> None:
    """The broker stops while changes flow and comes back: nothing lost, nothing doubled."""
    stack = pipeline.services.stack
    if stack is None:
        pytest.skip("needs the local stack to restart the broker")
    with pipeline.applier() as applier:
        settle(pipeline)
        pipeline.write(30)
        stack.down(["kafka"])
        pipeline.write(30)
        stack.up(["kafka"])
        pipeline.assert_equal_and_committed()
        applier.stop()
