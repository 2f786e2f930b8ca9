"""The producer while it runs: table and column filters, and source disconnects it must survive
without losing, repeating or re-reading from the start of the binlog."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient

from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.schemas.topics import TopicNames
from tests.kafka_helpers import changes, decode_topic, wait_for
from tests.producer.test_producer_exactly_once import wait_complete
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query
from tests.workload import Workload

pytestmark = pytest.mark.integration


def test_table_and_column_filters(services: Services, source_db: str, topic_prefix: str) -> None:
    """include/exclude table globs decide which tables get topics; excluded columns are left out
    of the events (and the rows still decode correctly around them)."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        for table in ("keep1", "keep_not", "other"):
            cur.execute(f"CREATE TABLE `{source_db}`.{table} (id INT PRIMARY KEY, secret VARCHAR(10), v INT)")
    settings = producer_settings(
        services,
        topic_prefix,
        start_position=current_position(services),
        include_tables=f"{source_db}.keep*",
        exclude_tables=f"{source_db}.keep_not",
        exclude_columns=f"{source_db}.keep1.secret",
    )
    with ProducerThread(settings) as producer:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            for table in ("keep1", "keep_not", "other"):
                cur.execute(f"INSERT INTO `{source_db}`.{table} VALUES (1, 'pssst', 10)")
        events = wait_for(lambda: changes(decode_topic(services.bootstrap, topic_prefix, source_db, "keep1")))
        producer.stop()
    assert events[0]["after"] == {"id": 1, "v": 10}
    topics = set(AdminClient({"bootstrap.servers": services.bootstrap}).list_topics(timeout=10).topics)
    names = TopicNames(topic_prefix)
    assert names.table(source_db, "keep1") in topics
    assert names.table(source_db, "keep_not") not in topics and names.table(source_db, "other") not in topics


def test_excluding_a_key_column_is_refused(services: Services, source_db: str, topic_prefix: str) -> None:
    """A primary-key column cannot be excluded: keys identify rows downstream."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, v INT)")
    settings = producer_settings(
        services, topic_prefix, start_position=current_position(services), exclude_columns=f"{source_db}.t.id"
    )
    with ProducerThread(settings) as producer:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO `{source_db}`.t VALUES (1, 1)")
        wait_for(lambda: producer.error is not None, what="the producer to refuse")
    assert isinstance(producer.error, PermanentError) and "primary-key column(s) ['id']" in str(
        producer.error
    )


def kill_binlog_dump(services: Services) -> int:
    ids = query(
        services.source_admin,
        "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%%'",
    )
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        for (conn_id,) in ids:
            cur.execute(f"KILL CONNECTION {int(conn_id)}")
    return len(ids)


def test_replication_connection_killed(services: Services, source_db: str, topic_prefix: str) -> None:
    """KILL of the producer's replication connection, twice, mid-stream: every change exactly once."""
    workload = Workload(services.source_admin, source_db, seed=41)
    workload.create_tables()
    settings = producer_settings(services, topic_prefix, start_position=current_position(services))
    with ProducerThread(settings) as producer:
        workload.run(40)
        wait_for(lambda: kill_binlog_dump(services) > 0, what="a replication connection to kill")
        workload.run(40, large_every=20, large_rows=1500)
        wait_for(lambda: kill_binlog_dump(services) > 0, what="the replication connection again")
        workload.run(40)
        seen = wait_complete(services, topic_prefix, workload)
        assert producer.error is None
        producer.stop()
    assert seen == workload.expected


def test_source_restart(services: Services, source_db: str, topic_prefix: str) -> None:
    """The source server stops and starts (its binlog rotates): the producer waits, resumes from
    its own position and repeats nothing."""
    stack = services.stack
    if stack is None:
        pytest.skip("needs the local stack to restart the source")
    workload = Workload(services.source_admin, source_db, seed=42)
    workload.create_tables()
    settings = producer_settings(services, topic_prefix, start_position=current_position(services))
    with ProducerThread(settings) as producer:
        workload.run(40)
        stack.down(["source"])
        stack.up(["source"])
        workload.run(40)
        seen = wait_complete(services, topic_prefix, workload)
        assert producer.error is None
        producer.stop()
    assert seen == workload.expected


def test_start_after_a_gtid(services: Services, source_db: str, topic_prefix: str) -> None:
    """start_position=gtid:SET streams exactly the transactions after that GTID set; a restart
    resumes from the exact file/position checkpoint with no repeat."""
    workload = Workload(services.source_admin, source_db, seed=43)
    workload.create_tables()
    gtid = query(services.source_admin, "SELECT @@gtid_binlog_pos")[0][0]
    workload.run(30)
    settings = producer_settings(services, topic_prefix, start_position=f"gtid:{gtid}")
    with ProducerThread(settings) as producer:
        wait_complete(services, topic_prefix, workload)
        producer.stop()
    workload.seed = 44
    workload.run(30)
    with ProducerThread(settings) as producer:
        seen = wait_complete(services, topic_prefix, workload)
        producer.stop()
    assert seen == workload.expected


def test_heartbeat_moves_the_checkpoint_while_captured_tables_are_idle(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """Only uncaptured tables change: the checkpoint still follows the binlog (heartbeat), so a
    restart does not re-read that traffic and lag keeps moving."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.captured (id INT PRIMARY KEY)")
        cur.execute(f"CREATE TABLE `{source_db}`.noise (id INT PRIMARY KEY)")
    settings = producer_settings(
        services,
        topic_prefix,
        start_position=current_position(services),
        include_tables=f"{source_db}.captured",
        heartbeat_interval_ms=500,
    )
    with ProducerThread(settings) as producer:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.executemany(f"INSERT INTO `{source_db}`.noise VALUES (%s)", [(i,) for i in range(100)])
        end = current_position(services)
        wait_for(
            lambda: producer.runner.committed is not None and str(producer.runner.committed.position) == end,
            what=f"the checkpoint to reach {end}",
        )
        producer.stop()
