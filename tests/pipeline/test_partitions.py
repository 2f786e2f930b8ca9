"""Table topics with several partitions (`topic_partitions = 3`), applied by two appliers.

Per-key order must hold when a primary key changes (the old and the new key may hash to different
partitions), rows of a table without a primary key or with a unique secondary key must keep their
order across all of them, and DDL — ALTER, TRUNCATE — must land between the same rows on every
partition. The target ends equal; the keyed table's rows really are spread over the partitions.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal, table_state
from tests.kafka_helpers import wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect

pytestmark = pytest.mark.integration
TABLES = ("k", "np", "u")


@dataclass
class Source:
    services: Services
    db: str
    rng: random.Random

    def run(self, *statements: str) -> None:
        with connect(self.services.source_admin) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def workload(self, rounds: int, first: int) -> None:
        """Each round: key changes followed by a new row under the old key, keyless inserts of
        duplicate rows with a delete and an update of one of them, a unique-value swap."""
        db = self.db
        with connect(self.services.source_admin) as conn, conn.cursor() as cur:
            for n in range(first, first + rounds):
                cur.execute(f"INSERT INTO `{db}`.k (id, v) VALUES (%s, %s)", (n, n))
                cur.execute(f"UPDATE `{db}`.k SET id = id + 100000, v = v + 1 WHERE id = %s", (n,))
                cur.execute(f"INSERT INTO `{db}`.k (id, v) VALUES (%s, %s)", (n, -n))  # the old key again
                cur.execute(f"INSERT INTO `{db}`.np VALUES (%s, 'dup'), (%s, 'dup')", (n % 7, n % 7))
                cur.execute(f"DELETE FROM `{db}`.np WHERE g = %s LIMIT 1", (self.rng.randint(0, 6),))
                cur.execute(f"UPDATE `{db}`.np SET s = 'upd' WHERE g = %s LIMIT 1", (self.rng.randint(0, 6),))
                a, b = self.rng.sample(range(1, 21), 2)
                conn.begin()
                cur.execute(f"SELECT id, email FROM `{db}`.u WHERE id IN ({a}, {b}) FOR UPDATE")
                emails = dict(cur.fetchall())
                cur.execute(f"UPDATE `{db}`.u SET email = 'swap' WHERE id = {a}")
                cur.execute(f"UPDATE `{db}`.u SET email = %s WHERE id = {b}", (emails[a],))
                cur.execute(f"UPDATE `{db}`.u SET email = %s WHERE id = {a}", (emails[b],))
                conn.commit()


@pytest.fixture
def source(services: Services, source_db: str) -> Iterator[Source]:
    yield Source(services, source_db, random.Random(10))
    drop_target_database(services, source_db)


def test_three_partitions_keep_every_order(services: Services, source: Source, topic_prefix: str) -> None:
    """Key changes, keyless duplicates, unique-value swaps, ALTER and TRUNCATE over topics of three
    partitions, applied by two appliers in one group: the target ends equal."""
    db = source.db
    settings = producer_settings(
        services, topic_prefix, start_position=current_position(services), topic_partitions=3
    )
    with ProducerThread(settings), ApplierThread(applier_settings(services, topic_prefix)) as first:
        with ApplierThread(applier_settings(services, topic_prefix)) as second:
            source.run(
                f"CREATE TABLE `{db}`.k (id INT PRIMARY KEY, v INT NOT NULL)",
                f"CREATE TABLE `{db}`.np (g INT NOT NULL, s VARCHAR(8) NOT NULL)",
                f"CREATE TABLE `{db}`.u (id INT PRIMARY KEY, email VARCHAR(32) NOT NULL, UNIQUE KEY (email))",
                f"INSERT INTO `{db}`.u VALUES " + ", ".join(f"({i}, 'user{i}')" for i in range(1, 21)),
            )
            source.workload(60, first=1)
            source.run(f"ALTER TABLE `{db}`.k ADD COLUMN extra INT NOT NULL DEFAULT 5")
            source.workload(60, first=61)
            source.run(f"TRUNCATE TABLE `{db}`.np")
            source.workload(60, first=121)

            def settled() -> bool:
                if first.error is not None or second.error is not None:
                    return True
                return equal(services, db, TABLES)

            try:
                wait_for(settled, timeout_s=180, what="every table equal")
            except AssertionError:
                states = {t: table_state(services, db, t) for t in TABLES}
                raise AssertionError(f"tables differ: {states}") from None
            assert first.error is None, first.error
            assert second.error is None, second.error
            second.stop()
        first.stop()
    topics = TopicNames(topic_prefix)
    assert len(partitions_with_messages(services, topics.table(db, "k"))) == 3
    assert partitions_with_messages(services, topics.table(db, "np")) == {0}


def partitions_with_messages(services: Services, topic: str) -> set[int]:
    """The partitions of ``topic`` holding row changes (schema records are on every partition)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": services.bootstrap, "group.id": "partition-probe"})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        found = set()
        for partition in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high - low > 20:  # more than its schema records and their transaction markers
                found.add(partition)
        return found
    finally:
        consumer.close()
