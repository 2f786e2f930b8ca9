"""Kafka retention as a data boundary: when the broker has deleted messages a group never applied
(here with the DeleteRecords API, which moves a partition's log start exactly as retention does),
the applier refuses to go on — at start and while running — instead of jumping silently, and the
documented recovery (re-snapshot the table, accept the gap with `replay`) ends equal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from binlog_pipeline_tools.chaos.tcp_proxy import BEGIN, TcpProxy
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from binlog_pipeline.applier.retention import RetentionGap
from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal
from tests.kafka_helpers import wait_for
from tests.ops.test_replay import kafka_committed, target_checkpoint
from tests.producer.test_snapshot import pipeline_cli
from tests.producer_harness import ProducerThread, current_position, producer_settings, snapshot_complete
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration


@dataclass
class Stream:
    services: Services
    db: str
    prefix: str
    next_id: int = 1

    @property
    def group(self) -> str:
        return f"applier-{self.prefix}"

    @property
    def topic(self) -> str:
        return TopicNames(self.prefix).table(self.db, "t")

    def write(self, rows: int) -> None:
        """Inserts, then an update and a delete of earlier rows, in a few transactions."""
        with connect(self.services.source_admin) as conn, conn.cursor() as cur:
            for i in range(self.next_id, self.next_id + rows):
                cur.execute(f"INSERT INTO `{self.db}`.t VALUES (%s, %s)", (i, f"v{i}"))
            cur.execute(f"UPDATE `{self.db}`.t SET v = 'changed' WHERE id = %s", (self.next_id,))
            if self.next_id > 1:
                cur.execute(f"DELETE FROM `{self.db}`.t WHERE id = %s", (self.next_id - 1,))
        self.next_id += rows

    def high(self) -> int:
        consumer = Consumer({"bootstrap.servers": self.services.bootstrap, "group.id": "watermarks"})
        try:
            return int(consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=10)[1])
        except KafkaException:
            return 0  # the topic does not exist yet
        finally:
            consumer.close()

    def delete_before(self, offset: int) -> None:
        """Move the partition's log start to ``offset``, as retention deleting segments does."""
        admin = AdminClient({"bootstrap.servers": self.services.bootstrap})
        futures = admin.delete_records([TopicPartition(self.topic, 0, offset)])
        for future in futures.values():
            future.result(30)

    def equal(self) -> bool:
        return equal(self.services, self.db, ("t",))


@pytest.fixture
def stream(services: Services, source_db: str, topic_prefix: str) -> Iterator[Stream]:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)")
    producer = ProducerThread(
        producer_settings(services, topic_prefix, start_position=current_position(services))
    )
    with producer:
        yield Stream(services, source_db, topic_prefix)
    drop_target_database(services, source_db)


def test_position_below_the_log_start_is_refused_then_recovered(stream: Stream) -> None:
    """The applier was down while retention deleted changes it never applied: it refuses to start,
    naming the partition, the gap and the recovery, and moves nothing. Following that recovery —
    re-snapshot the table, empty it on the target, accept the gap — ends equal."""
    s = stream
    with ApplierThread(applier_settings(s.services, s.prefix)) as applier:
        s.write(10)
        wait_for(s.equal, what="t equal")
        applier.stop()
    committed = (
        kafka_committed(s.services, s.group, s.topic),
        target_checkpoint(s.services, s.group, s.topic),
    )
    s.write(10)
    wait_for(lambda: s.high() > committed[0] + 12, what="the new changes published")
    s.delete_before(committed[0] + 5)
    with ApplierThread(applier_settings(s.services, s.prefix)) as applier:
        wait_for(lambda: applier.error is not None, what="the applier to refuse")
        error = applier.error
    assert isinstance(error, RetentionGap), error
    message = str(error)
    assert f"retention gap on {s.topic}[0]" in message
    assert (
        f"position is offset {committed[0]}" in message and f"starts at offset {committed[0] + 5}" in message
    )
    assert "snapshot --table" in message and "--accept-retention-gap" in message
    assert (
        kafka_committed(s.services, s.group, s.topic),
        target_checkpoint(s.services, s.group, s.topic),
    ) == committed
    assert not s.equal()

    # the recovery the message names
    requested = pipeline_cli(s.services, s.prefix, "snapshot", "--table", f"{s.db}.t", "--follow")
    assert requested.returncode == 0, requested
    assert "snapshot complete" in requested.stdout, requested.stdout
    wait_for(lambda: snapshot_complete(s.services, s.prefix), what="the snapshot's end committed")
    with connect(s.services.target_admin) as conn, conn.cursor() as cur:
        cur.execute(f"TRUNCATE TABLE `{s.db}`.t")  # rows deleted during the gap must go too
    unaccepted = pipeline_cli(s.services, s.prefix, "replay", s.topic, "--group", s.group, "--to-earliest")
    assert unaccepted.returncode == 0, unaccepted
    assert "pass --accept-retention-gap" in unaccepted.stdout, unaccepted.stdout
    assert kafka_committed(s.services, s.group, s.topic) == committed[0]
    accepted = pipeline_cli(
        s.services, s.prefix, "replay", s.topic, "--group", s.group, "--to-earliest", "--accept-retention-gap"
    )
    assert accepted.returncode == 0, accepted
    assert "moved up to the log start over a retention gap" in accepted.stdout, accepted.stdout
    with ApplierThread(applier_settings(s.services, s.prefix)) as applier:
        s.write(5)
        wait_for(lambda: applier.error is not None or s.equal(), what="t equal after the recovery")
        assert applier.error is None, applier.error
        applier.stop()


def test_a_new_group_on_a_topic_whose_beginning_was_deleted(stream: Stream) -> None:
    """A group that applied nothing yet must not start at whatever is left of a topic whose first
    messages (the table's definition among them) retention already deleted."""
    s = stream
    s.write(10)
    wait_for(lambda: s.high() > 10, what="changes published")
    s.delete_before(4)
    with ApplierThread(applier_settings(s.services, s.prefix)) as applier:
        wait_for(lambda: applier.error is not None, what="the applier to refuse")
        error = applier.error
    assert isinstance(error, RetentionGap), error
    assert "applied nothing of it yet" in str(error) and "starts at offset 4" in str(error)
    tables = query(
        s.services.target_admin,
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
        (s.db,),
    )
    assert tables[0][0] == 0  # nothing applied


def test_gap_while_running_stops_instead_of_jumping(stream: Stream) -> None:
    """The running applier cannot reach the target and keeps re-reading from its committed
    position; meanwhile retention deletes from there on. When the target is back it must stop with
    the gap — librdkafka must not silently reset to the log start."""
    s = stream
    proxy = TcpProxy(s.services.target_url.port)
    url = s.services.target_url
    proxied = DatabaseUrl(url.host, proxy.port, url.user, url.password).unmasked()
    try:
        with ApplierThread(applier_settings(s.services, s.prefix, target_url=proxied)) as applier:
            s.write(10)
            wait_for(s.equal, what="t equal")
            committed = kafka_committed(s.services, s.group, s.topic)
            proxy.refuse()
            s.write(10)
            wait_for(lambda: s.high() > committed + 12, what="the new changes published")
            s.delete_before(committed + 5)
            proxy.accept()
            wait_for(lambda: applier.error is not None, what="the applier to stop at the gap")
            assert isinstance(applier.error, RetentionGap), applier.error
            assert f"retention gap on {s.topic}[0]" in str(applier.error)
        assert kafka_committed(s.services, s.group, s.topic) == committed
    finally:
        proxy.close()


def test_gap_opened_under_a_new_group_whose_first_batch_failed_is_refused(stream: Stream) -> None:
    """Found by the third review. A group that applied nothing yet reads its first batch from the
    log start; the batch is held on its way to the target (its BEGIN stalled) while retention
    deletes the first offsets, then its connection is cut. The retry must stop with the gap, not
    re-read from wherever the log now starts: a logical "beginning" follows the log start (before
    the fix offsets 0..4 were skipped without a word)."""
    s = stream
    s.write(10)
    wait_for(lambda: s.high() > 12, what="changes published")
    proxy = TcpProxy(s.services.target_url.port)
    url = s.services.target_url
    proxied = DatabaseUrl(url.host, proxy.port, url.user, url.password).unmasked()
    try:
        proxy.set_rule(BEGIN, "stall_before", times=1)
        with ApplierThread(applier_settings(s.services, s.prefix, target_url=proxied)) as applier:
            wait_for(proxy.stalled.is_set, what="the first batch held at BEGIN")
            s.delete_before(5)
            time.sleep(2)
            proxy.cut_all()
            proxy.clear_rule()
            wait_for(
                lambda: applier.error is not None or s.equal(),
                timeout_s=60,
                what="the applier to stop at the gap (it neither stopped nor got equal: it went on past the gap)",
            )
            time.sleep(2)  # whatever it does next, it has done
            assert isinstance(applier.error, RetentionGap), (
                f"offsets 0..4 deleted before they were applied, and the applier went on: {applier.error}; "
                f"target rows {query(s.services.target_admin, f'SELECT COUNT(*) FROM `{s.db}`.t')}"
            )
            assert f"retention gap on {s.topic}[0]" in str(applier.error)
        rows = query(
            s.services.target_admin,
            "SELECT next_offset FROM binlog_pipeline.applier_checkpoint WHERE group_id = %s",
            (s.group,),
        )
        assert not rows, f"a checkpoint row moved over the gap: {rows}"
    finally:
        proxy.close()
