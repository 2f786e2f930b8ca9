"""Found by review: the assignment callback. When ``_on_assign`` raises (here: the broker does not
answer the retention check in time), confluent-kafka assigns the partitions itself with librdkafka's
default start (the Kafka commit, else ``auto.offset.reset``) — the applier must still apply them
from the right position afterwards, not ignore them or stop."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from binlog_pipeline_tools.chaos.tcp_proxy import TcpProxy
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal, table_state
from tests.kafka_helpers import kafka_proxy, wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration


@pytest.fixture
def producer(services: Services, source_db: str, topic_prefix: str) -> Iterator[None]:
    with ProducerThread(producer_settings(services, topic_prefix, start_position=current_position(services))):
        yield
    drop_target_database(services, source_db)


def source(services: Services, db: str, *statements: str) -> None:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement.format(db=db))


def test_partition_assigned_while_the_broker_stalls_is_applied(
    services: Services, source_db: str, topic_prefix: str, producer: None
) -> None:
    """A new table's partition is assigned while the applier's broker connection stalls for a few
    seconds (shorter than the session): the assignment callback fails, the applier retries — and
    the new table is then applied like any other (not ignored, not refused as a retention gap)."""
    db = source_db
    proxy = kafka_proxy(services)
    try:
        settings = applier_settings(
            services, topic_prefix, bootstrap_servers=f"127.0.0.1:{proxy.port}", kafka_timeout_s=3
        )
        source(
            services,
            db,
            "CREATE TABLE `{db}`.t1 (id INT PRIMARY KEY)",
            "INSERT INTO `{db}`.t1 VALUES (1), (2)",
        )
        with ApplierThread(settings) as applier, connect(services.target_admin) as lock:
            wait_for(lambda: applier.error is not None or equal(services, db, ("t1",)), what="t1 equal")
            assert applier.error is None, applier.error
            # Hold the assignment callback at its checkpoint read (a metadata lock), then stall Kafka.
            with lock.cursor() as cur:
                cur.execute("LOCK TABLES binlog_pipeline.applier_checkpoint WRITE")
                source(
                    services,
                    db,
                    "CREATE TABLE `{db}`.t2 (id INT PRIMARY KEY)",
                    "INSERT INTO `{db}`.t2 VALUES (1)",
                )
                wait_for(
                    lambda: query(
                        services.target_admin,
                        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE "
                        "'Waiting for table metadata lock' AND INFO LIKE '%%applier_checkpoint%%'",
                    )[0][0],
                    timeout_s=30,
                    what="the assignment callback to wait for the checkpoint table",
                )
                proxy.pause()
                cur.execute("UNLOCK TABLES")
            time.sleep(8)  # the callback's broker request times out (kafka_timeout_s=3); < session timeout
            proxy.resume()
            source(services, db, "INSERT INTO `{db}`.t2 VALUES (2), (3)")
            try:
                wait_for(
                    lambda: applier.error is not None or equal(services, db, ("t2",)),
                    timeout_s=60,
                    what="t2 equal",
                )
            except AssertionError as exc:
                raise AssertionError(
                    f"t2 never applied (source, target checksum and rows: {table_state(services, db, 't2')}); "
                    f"positions: {applier.runner.positions}; applier error: {applier.error!r}; applier thread "
                    f"alive: {applier._thread.is_alive()} (on Python 3.11 the callback's timeout escapes "
                    "consume() as a KafkaError that is no BaseException, so no handler sees it)"
                ) from exc
            assert applier.error is None, f"the applier stopped: {applier.error}"
            applier.stop()
    finally:
        proxy.close()


def test_target_unreadable_at_assignment_is_retried_not_a_retention_gap(
    services: Services, source_db: str, topic_prefix: str, producer: None
) -> None:
    """The group's Kafka offsets are gone (expired with offsets.retention.minutes while the group was
    empty) and retention deleted the messages the target had applied; the target checkpoint row still
    holds the position. If the target read at assignment fails (a dropped connection), the applier
    must retry — not declare a retention gap from the Kafka side alone and stop."""
    db = source_db
    group = f"applier-{topic_prefix}"
    topic = TopicNames(topic_prefix).table(db, "t")
    source(
        services,
        db,
        "CREATE TABLE `{db}`.t (id INT PRIMARY KEY)",
        "INSERT INTO `{db}`.t SELECT seq FROM `{db}`.seq_1_to_10",
    )
    with ApplierThread(applier_settings(services, topic_prefix)) as applier:
        wait_for(lambda: applier.error is not None or equal(services, db, ("t",)), what="t equal")
        applier.stop()
    stored = int(
        query(
            services.target_admin,
            "SELECT next_offset FROM binlog_pipeline.applier_checkpoint WHERE group_id=%s AND topic=%s",
            (group, topic),
        )[0][0]
    )
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    for future in admin.delete_consumer_groups([group], request_timeout=30).values():
        future.result(30)
    for future in admin.delete_records([TopicPartition(topic, 0, stored)]).values():
        future.result(30)  # retention deleted only what the target had applied
    proxy = TcpProxy(services.target_url.port)
    url = services.target_url
    try:
        proxy.set_rule(b"next_offset FROM", "cut_before", times=1)  # the first checkpoint read
        proxied = DatabaseUrl(url.host, proxy.port, url.user, url.password).unmasked()
        with ApplierThread(applier_settings(services, topic_prefix, target_url=proxied)) as applier:
            source(services, db, "INSERT INTO `{db}`.t VALUES (11), (12)")
            wait_for(lambda: applier.error is not None or equal(services, db, ("t",)), what="t equal")
            assert proxy.rule is not None and proxy.rule.fired == 1
            assert applier.error is None, f"the applier stopped: {applier.error}"
            applier.stop()
    finally:
        proxy.close()
