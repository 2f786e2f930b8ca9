"""Found by review: one checkpoint row per (group, topic, partition). Topic names are case-sensitive
(and so are table names on a Linux source with lower_case_table_names=0); the checkpoint table's key
must not merge two topics whose names differ only in case."""

from __future__ import annotations

import pytest

from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal, table_state
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration


def test_tables_whose_names_differ_only_in_case(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """`Orders` and `orders` (two tables on a case-sensitive source, two topics) each keep their own
    checkpoint row; both tables end equal, the applier keeps running, and a restart resumes each
    topic at its own position."""
    db = source_db
    topics = TopicNames(topic_prefix)
    group = f"applier-{topic_prefix}"

    def write(*statements: str) -> None:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement.format(db=db))

    def both_equal() -> bool:
        return equal(services, db, ("Orders", "orders"))

    try:
        with ProducerThread(
            producer_settings(services, topic_prefix, start_position=current_position(services))
        ):
            write(
                "CREATE TABLE `{db}`.`Orders` (id INT PRIMARY KEY)",
                "CREATE TABLE `{db}`.`orders` (id INT NOT NULL)",  # keyless: a re-applied row shows
            )
            with ApplierThread(applier_settings(services, topic_prefix)) as applier:
                write(
                    "INSERT INTO `{db}`.`Orders` VALUES (1)",
                    "INSERT INTO `{db}`.`orders` SELECT seq FROM `{db}`.seq_1_to_20",
                )
                wait_for(lambda: applier.error is not None or both_equal(), what="both tables equal")
                write("INSERT INTO `{db}`.`orders` VALUES (21)", "INSERT INTO `{db}`.`Orders` VALUES (2)")
                wait_for(lambda: applier.error is not None or both_equal(), what="both tables equal again")
                assert applier.error is None, f"the applier stopped: {applier.error!r}"
                applier.stop()
            rows = query(
                services.target_admin,
                "SELECT BINARY topic, next_offset FROM binlog_pipeline.applier_checkpoint WHERE group_id = %s",
                (group,),
            )
            stored = {bytes(t).decode(): int(o) for t, o in rows}
            assert set(stored) == {topics.table(db, "Orders"), topics.table(db, "orders")}, stored
            with ApplierThread(applier_settings(services, topic_prefix)) as applier:
                write("INSERT INTO `{db}`.`Orders` VALUES (3)", "INSERT INTO `{db}`.`orders` VALUES (22)")
                wait_for(lambda: applier.error is not None or both_equal(), what="both equal after a restart")
                assert applier.error is None, f"the applier stopped: {applier.error!r}"
                applier.stop()
    finally:
        print("Orders:", table_state(services, db, "Orders"), "orders:", table_state(services, db, "orders"))
        drop_target_database(services, db)


def test_target_restored_from_a_backup_converges(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """The target database is restored from a backup taken earlier — its rows and its checkpoint
    row together, as one consistent copy — while the Kafka commit is later. The README promises
    that keyed tables still converge; that needs the changes after the backup's position applied
    again, i.e. starting from the target's row, not from the later Kafka commit."""
    db = source_db
    group = f"applier-{topic_prefix}"

    def write(*statements: str) -> None:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement.format(db=db))

    try:
        with ProducerThread(
            producer_settings(services, topic_prefix, start_position=current_position(services))
        ):
            write(
                "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT NOT NULL)",
                "INSERT INTO `{db}`.t SELECT seq, 0 FROM `{db}`.seq_1_to_10",
            )
            with ApplierThread(applier_settings(services, topic_prefix)) as applier:
                wait_for(lambda: applier.error is not None or equal(services, db, ("t",)), what="t equal")
                backup_rows = query(services.target_admin, f"SELECT id, v FROM `{db}`.t")
                backup_checkpoint = query(
                    services.target_admin,
                    "SELECT topic, `partition`, next_offset FROM binlog_pipeline.applier_checkpoint WHERE group_id=%s",
                    (group,),
                )
                write(
                    "INSERT INTO `{db}`.t SELECT seq, 1 FROM `{db}`.seq_11_to_20",
                    "UPDATE `{db}`.t SET v = 2 WHERE id <= 5",
                )
                wait_for(
                    lambda: applier.error is not None or equal(services, db, ("t",)), what="t equal again"
                )
                applier.stop()
            with connect(services.target_admin) as conn, conn.cursor() as cur:  # the restore
                cur.execute(f"DELETE FROM `{db}`.t")
                cur.executemany(f"INSERT INTO `{db}`.t VALUES (%s, %s)", backup_rows)
                for topic, partition, offset in backup_checkpoint:
                    cur.execute(
                        "UPDATE binlog_pipeline.applier_checkpoint SET next_offset=%s WHERE group_id=%s AND topic=%s "
                        "AND `partition`=%s",
                        (offset, group, topic, partition),
                    )
                conn.commit()
            with ApplierThread(applier_settings(services, topic_prefix)) as applier:
                write("INSERT INTO `{db}`.t VALUES (21, 3)")
                try:
                    wait_for(
                        lambda: applier.error is not None or equal(services, db, ("t",)),
                        what="t equal after the restore",
                    )
                except AssertionError as exc:
                    raise AssertionError(
                        f"t never converged after the restore: {table_state(services, db, 't')} "
                        "(source, target checksum and rows)"
                    ) from exc
                assert applier.error is None, applier.error
                applier.stop()
    finally:
        drop_target_database(services, db)
