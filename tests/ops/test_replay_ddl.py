"""Found by the second review: `replay` (and the retention recovery, which ends with `replay
--to-earliest --accept-retention-gap`) re-applies a table topic from an earlier point, DDL records
included. Re-applying is said to be safe by statement kind; an ALTER meets a target that already
has the ALTERs that followed it."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal, table_state
from tests.kafka_helpers import wait_for
from tests.ops.test_replay import kafka_committed, replay
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration


def test_replay_over_two_alters_reapplies_and_keeps_running(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """A table topic holds rows, `ADD COLUMN c`, rows, `ADD COLUMN d`, rows; everything is applied.
    `replay --to-earliest`, then the applier again: it must re-apply the topic and end equal, not
    stop at the first ALTER because the target already has a later definition (1060 duplicate
    column)."""
    db = source_db
    group = f"applier-{topic_prefix}"
    topic = TopicNames(topic_prefix).table(db, "t")
    try:
        with (
            ProducerThread(
                producer_settings(services, topic_prefix, start_position=current_position(services))
            ),
            ApplierThread(applier_settings(services, topic_prefix)) as applier,
        ):
            with connect(services.source_admin) as conn, conn.cursor() as cur:
                cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)")
                cur.execute(f"INSERT INTO `{db}`.t SELECT seq, CONCAT('v', seq) FROM `{db}`.seq_1_to_10")
                cur.execute(f"ALTER TABLE `{db}`.t ADD COLUMN c INT NOT NULL DEFAULT 7")
                cur.execute(f"INSERT INTO `{db}`.t SELECT seq, 'c', seq FROM `{db}`.seq_11_to_20")
                time.sleep(2)  # the producer records each ALTER's own definition
                cur.execute(f"ALTER TABLE `{db}`.t ADD COLUMN d INT NOT NULL DEFAULT 8")
                cur.execute(f"UPDATE `{db}`.t SET v = 'd', d = id WHERE id % 2 = 0")
            wait_for(lambda: equal(services, db, ("t",)), what="t equal")
            time.sleep(1)
            applier.stop()
        applied = kafka_committed(services, group, topic)
        done = replay(services, topic_prefix, f"{db}.t", "--to-earliest")
        assert done.returncode == 0, done.stderr
        assert kafka_committed(services, group, topic) == 0
        with ApplierThread(applier_settings(services, topic_prefix)) as applier:
            deadline = time.monotonic() + 60
            while applier.error is None and kafka_committed(services, group, topic) < applied:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert applier.error is None, f"the applier stopped re-applying the topic: {applier.error!r}"
            assert kafka_committed(services, group, topic) >= applied, "the replay was not re-applied"
            assert equal(services, db, ("t",)), table_state(services, db, "t")
            applier.stop()
    finally:
        drop_target_database(services, db)


def test_replay_over_a_barrier_whose_record_retention_deleted_on_another_partition(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """A topic of two partitions carries the table's CREATE TABLE and an ALTER on both (barriers);
    everything is applied. Retention then deletes partition 0 up to the group's position (its
    copies of both statements with it) while partition 1 keeps its whole log. `replay --to-earliest`
    moves partition 1 back before its copies; the applier must re-apply it to where it was, not
    hold it for good at a barrier that partition 0 — already past it — will never reach again."""
    db = source_db
    group = f"applier-{topic_prefix}"
    topic = TopicNames(topic_prefix).table(db, "k")
    settings = producer_settings(
        services, topic_prefix, start_position=current_position(services), topic_partitions=2
    )
    try:
        with ProducerThread(settings), ApplierThread(applier_settings(services, topic_prefix)) as applier:
            with connect(services.source_admin) as conn, conn.cursor() as cur:
                cur.execute(f"CREATE TABLE `{db}`.k (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)")
                cur.execute(f"INSERT INTO `{db}`.k SELECT seq, CONCAT('v', seq) FROM `{db}`.seq_1_to_40")
                time.sleep(2)
                cur.execute(f"ALTER TABLE `{db}`.k ADD COLUMN c INT NOT NULL DEFAULT 7")
                cur.execute(f"INSERT INTO `{db}`.k SELECT seq, 'after', seq FROM `{db}`.seq_41_to_60")
            wait_for(lambda: equal(services, db, ("k",)), what="k equal")
            time.sleep(1)
            applier.stop()
        applied = target_rows(services, group, topic)
        admin = AdminClient({"bootstrap.servers": services.bootstrap})
        for future in admin.delete_records([TopicPartition(topic, 0, applied[0])]).values():
            future.result(30)  # as retention deleting partition 0's old segments does
        done = replay(services, topic_prefix, f"{db}.k", "--to-earliest")
        assert done.returncode == 0, done.stderr
        assert target_rows(services, group, topic)[1] == 0
        with ApplierThread(applier_settings(services, topic_prefix)) as applier:
            deadline = time.monotonic() + 60
            while applier.error is None and target_rows(services, group, topic)[1] < applied[1]:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert applier.error is None, f"the applier stopped re-applying the topic: {applier.error!r}"
            now = target_rows(services, group, topic)
            assert now[1] >= applied[1], (
                f"partition 1 was not re-applied to where it was: checkpoint rows {now}, before the replay {applied}"
            )
            assert equal(services, db, ("k",)), table_state(services, db, "k")
            applier.stop()
    finally:
        drop_target_database(services, db)


def target_rows(services: Services, group: str, topic: str) -> dict[int, int]:
    """The target checkpoint row of each partition of ``topic``."""
    rows = query(
        services.target_admin,
        "SELECT `partition`, next_offset FROM binlog_pipeline.applier_checkpoint WHERE group_id=%s AND topic=%s",
        (group, topic),
    )
    return {int(p): int(o) for p, o in rows}
