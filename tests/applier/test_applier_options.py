"""Applier behaviours users configure or depend on: dead-letter topic, routing, refusing to
create tables, unique secondary keys, SIGTERM and rebalancing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierProcess, ApplierThread, applier_settings, drop_target_database, equal
from tests.kafka_helpers import read_all, wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query, unique
from tests.workload import Workload

pytestmark = pytest.mark.integration


@pytest.fixture
def producing(services: Services, source_db: str, topic_prefix: str) -> Iterator[ProducerThread]:
    with ProducerThread(
        producer_settings(services, topic_prefix, start_position=current_position(services))
    ) as producer:
        yield producer
    drop_target_database(services, source_db)


def source(services: Services, *statements: str) -> None:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def test_dead_letter_topic_diverts_and_goes_on(
    services: Services, source_db: str, topic_prefix: str, producing: ProducerThread
) -> None:
    """With dead_letter_topic set, a message the target rejects goes there (with its error and
    coordinates), its offset is committed, and later messages are applied."""
    dlq = f"{topic_prefix}.dead-letters"
    source(
        services,
        f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, v INT)",
        f"INSERT INTO `{source_db}`.t VALUES (1, 1)",
    )
    with ApplierThread(applier_settings(services, topic_prefix, dead_letter_topic=dlq)) as applier:
        wait_for(lambda: equal(services, source_db, ("t",)), what="t equal")
        source(services, f"CREATE TABLE IF NOT EXISTS `{source_db}`.x (id INT)")  # keep the source busy
        with connect(services.target_admin) as conn, conn.cursor() as cur:
            cur.execute(f"ALTER TABLE `{source_db}`.t ADD CONSTRAINT small CHECK (v < 100)")
        source(services, f"INSERT INTO `{source_db}`.t VALUES (2, 500), (3, 3)")
        wait_for(
            lambda: (
                query(services.target_admin, f"SELECT COUNT(*) FROM `{source_db}`.t WHERE id = 3")[0][0] == 1
            ),
            what="the message after the bad one to be applied",
        )
        letters = wait_for(lambda: read_all(services.bootstrap, dlq), what="a dead letter")
        applier.stop()
    assert len(letters) == 1
    headers = dict(letters[0].headers())
    assert headers["source.topic"].decode() == TopicNames(topic_prefix).table(source_db, "t")
    assert b"CONSTRAINT" in headers["error"]
    assert query(services.target_admin, f"SELECT id FROM `{source_db}`.t ORDER BY id") == [(1,), (3,)]


def test_routes_apply_to_another_database(
    services: Services, source_db: str, topic_prefix: str, producing: ProducerThread
) -> None:
    """routes maps a source database to another target database name."""
    target_db = unique("routed")
    source(
        services,
        f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, v VARCHAR(5))",
        f"INSERT INTO `{source_db}`.t VALUES (1, 'a'), (2, 'b')",
        f"DELETE FROM `{source_db}`.t WHERE id = 1",
    )
    try:
        with ApplierThread(
            applier_settings(services, topic_prefix, routes=f"{source_db}={target_db}")
        ) as applier:
            wait_for(
                lambda: (
                    query(
                        services.target_admin,
                        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s",
                        (target_db,),
                    )[0][0]
                    == 1
                ),
                what="routed table",
            )
            wait_for(
                lambda: query(services.target_admin, f"SELECT id, v FROM `{target_db}`.t") == [(2, "b")],
                what="routed rows",
            )
            applier.stop()
        assert not query(
            services.target_admin,
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s",
            (source_db,),
        )
    finally:
        drop_target_database(services, target_db)


def test_missing_table_is_an_error_when_creation_is_off(
    services: Services, source_db: str, topic_prefix: str, producing: ProducerThread
) -> None:
    """create_missing_tables=false stops with the table and message named, committing nothing."""
    source(
        services,
        f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY)",
        f"INSERT INTO `{source_db}`.t VALUES (1)",
    )
    with ApplierThread(applier_settings(services, topic_prefix, create_missing_tables=False)) as applier:
        wait_for(lambda: applier.error is not None, what="the applier to stop")
    assert isinstance(applier.error, PermanentError)
    assert f"the stream creates table {source_db}.t" in str(applier.error)
    assert "create_missing_tables=false" in str(applier.error)
    assert not query(
        services.target_admin, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s", (source_db,)
    )


def test_unique_secondary_key_swap(
    services: Services, source_db: str, topic_prefix: str, producing: ProducerThread
) -> None:
    """Two rows swap a unique secondary key value within one batch: applied in order, not
    coalesced into upserts that would hit each other's unique key."""
    source(
        services,
        f"CREATE TABLE `{source_db}`.u (id INT PRIMARY KEY, email VARCHAR(20) NOT NULL, UNIQUE KEY (email))",
        f"INSERT INTO `{source_db}`.u VALUES (1, 'a@x'), (2, 'b@x')",
    )
    with ApplierThread(applier_settings(services, topic_prefix)) as applier:
        wait_for(lambda: equal(services, source_db, ("u",)), what="u equal")
        applier.stop()
    source(
        services,
        "BEGIN",
        f"UPDATE `{source_db}`.u SET email = 'tmp' WHERE id = 1",
        f"UPDATE `{source_db}`.u SET email = 'a@x' WHERE id = 2",
        f"UPDATE `{source_db}`.u SET email = 'b@x' WHERE id = 1",
        f"DELETE FROM `{source_db}`.u WHERE id = 2",
        f"INSERT INTO `{source_db}`.u VALUES (3, 'a@x')",
        "COMMIT",
    )
    time.sleep(2)  # all of it lands in one batch
    with ApplierThread(applier_settings(services, topic_prefix)) as applier:
        wait_for(
            lambda: applier.error is not None or equal(services, source_db, ("u",)), what="u equal after swap"
        )
        assert applier.error is None, applier.error
        applier.stop()


def test_sigterm_finishes_the_batch_and_exits_zero(
    services: Services, source_db: str, topic_prefix: str, producing: ProducerThread, tmp_path: Path
) -> None:
    """SIGTERM while applying: the process exits 0 promptly; a restart completes, equal."""
    workload = Workload(services.source_admin, source_db, tables=("w1",), seed=31)
    workload.create_tables()
    log = tmp_path / "applier.log"
    applier = ApplierProcess(services, topic_prefix, log).start()
    workload.run(100, large_every=50, large_rows=3000)
    time.sleep(3)
    started = time.monotonic()
    assert applier.terminate() == 0, applier.log()
    assert time.monotonic() - started < 15
    applier = ApplierProcess(services, topic_prefix, log).start()
    try:
        wait_for(lambda: equal(services, source_db, ("w1",)), what="w1 equal after restart")
    finally:
        assert applier.terminate() == 0, applier.log()


def test_rebalance_between_two_appliers(
    services: Services, source_db: str, topic_prefix: str, producing: ProducerThread
) -> None:
    """A second applier joins the group mid-stream and the first leaves: partitions move
    (cooperative-sticky), uncommitted work is discarded, the target ends equal."""
    workload = Workload(services.source_admin, source_db, seed=32)
    workload.create_tables()
    settings = applier_settings(services, topic_prefix, batch_max_rows=200)
    with ApplierThread(settings) as first:
        workload.run(60, large_every=30, large_rows=1500)
        with ApplierThread(settings) as second:
            workload.seed = 33
            workload.run(60, large_every=30, large_rows=1500)
            time.sleep(2)
            first.stop()
            workload.seed = 34
            workload.run(60)
            wait_for(
                lambda: second.error is not None or equal(services, source_db, workload.tables),
                what="workload equal after rebalances",
                timeout_s=120,
            )
            assert second.error is None, second.error
            second.stop()


def test_foreign_keys_do_not_break_the_apply(
    services: Services, source_db: str, topic_prefix: str, producing: ProducerThread
) -> None:
    """Parent and child rows written and deleted in one batch apply despite the target's foreign
    key: the session runs with foreign_key_checks=0, as replication does."""
    source(
        services,
        f"CREATE TABLE `{source_db}`.parent (id INT PRIMARY KEY)",
        f"CREATE TABLE `{source_db}`.child (id INT PRIMARY KEY, parent_id INT NOT NULL, "
        f"FOREIGN KEY (parent_id) REFERENCES `{source_db}`.parent (id))",
        "BEGIN",
        f"INSERT INTO `{source_db}`.parent VALUES (1), (2)",
        f"INSERT INTO `{source_db}`.child VALUES (10, 1), (20, 2)",
        "COMMIT",
        "BEGIN",
        f"DELETE FROM `{source_db}`.child WHERE id = 10",
        f"DELETE FROM `{source_db}`.parent WHERE id = 1",
        f"INSERT INTO `{source_db}`.parent VALUES (3)",
        f"UPDATE `{source_db}`.child SET parent_id = 3 WHERE id = 20",
        "COMMIT",
    )
    with ApplierThread(applier_settings(services, topic_prefix)) as applier:
        wait_for(
            lambda: applier.error is not None or equal(services, source_db, ("parent", "child")),
            what="parent and child equal",
        )
        assert applier.error is None, applier.error
        applier.stop()
