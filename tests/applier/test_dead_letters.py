"""The dead-letter topic under pressure: messages that cannot be decoded sit in the middle of a
batch that then fails for an ordinary reason; the search for the row the target rejects runs in
the statement mode the batch used; thousands of rejected rows in one batch.

A diverted message's offset is committed with the batch that contains it, never before — so a
failure of that batch re-reads (and re-diverts) it together with everything around it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from binlog_pipeline_tools.chaos.tcp_proxy import COMMIT, TcpProxy
from confluent_kafka import Producer

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import ApplierThread, applier_settings, drop_target_database, equal
from tests.kafka_helpers import read_all, wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration


@dataclass
class Setup:
    services: Services
    db: str
    prefix: str
    proxy: TcpProxy

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dead-letters"

    def topic(self, table: str) -> str:
        return TopicNames(self.prefix).table(self.db, table)

    def applier(self, **overrides: object) -> ApplierThread:
        url = self.services.target_url
        proxied = DatabaseUrl(url.host, self.proxy.port, url.user, url.password).unmasked()
        return ApplierThread(
            applier_settings(
                self.services, self.prefix, target_url=proxied, dead_letter_topic=self.dlq, **overrides
            )
        )

    def source(self, *statements: str) -> None:
        with connect(self.services.source_admin) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def published(self, table: str) -> int:
        return len(read_all(self.services.bootstrap, self.topic(table)))

    def dead_letter_offsets(self) -> list[int]:
        return sorted(
            int(dict(m.headers())["source.offset"]) for m in read_all(self.services.bootstrap, self.dlq)
        )


@pytest.fixture
def setup(services: Services, source_db: str, topic_prefix: str) -> Iterator[Setup]:
    proxy = TcpProxy(services.target_url.port)
    producer = ProducerThread(
        producer_settings(services, topic_prefix, start_position=current_position(services))
    )
    with producer:
        yield Setup(services, source_db, topic_prefix, proxy)
    proxy.close()
    drop_target_database(services, source_db)


def inject(s: Setup, table: str, values: list[bytes]) -> list[int]:
    """Append ``values`` to the table's topic as a foreign, non-transactional writer would; returns
    their offsets."""
    offsets: list[int] = []
    producer = Producer({"bootstrap.servers": s.services.bootstrap, "enable.idempotence": True})
    for value in values:
        producer.produce(
            s.topic(table), value, on_delivery=lambda err, msg: offsets.append(int(msg.offset()))
        )
    assert producer.flush(30) == 0
    return sorted(offsets)


def undecodable(s: Setup, table: str) -> list[bytes]:
    """Garbage bytes, a truncated real message, and a well-formed header with an unknown schema
    fingerprint."""
    real = read_all(s.services.bootstrap, s.topic(table))[-1].value()
    return [b"\x00not avro at all", real[: len(real) // 2], b"\xc3\x01" + os.urandom(8) + real[10:]]


def keyless_rows(s: Setup, first: int, count: int) -> None:
    s.source(
        f"INSERT INTO `{s.db}`.np VALUES "
        + ", ".join(f"({i}, 'dup'), ({i}, 'dup')" for i in range(first, first + count))
    )


def test_undecodable_mid_batch_then_a_failed_commit(setup: Setup) -> None:
    """Undecodable messages in the middle of a batch go to the dead-letter topic; the batch's
    COMMIT is then cut. Nothing before or after them may be lost or doubled (no-PK table)."""
    s = setup
    s.source(f"CREATE TABLE `{s.db}`.np (id INT NOT NULL, v VARCHAR(8) NOT NULL)")
    keyless_rows(s, 1, 10)
    wait_for(lambda: s.published("np") == 21, what="the definition and the first 20 rows published")
    garbage = inject(s, "np", undecodable(s, "np"))
    keyless_rows(s, 11, 10)
    wait_for(lambda: s.published("np") == 44, what="the garbage and 20 more rows published")
    rule = s.proxy.set_rule(COMMIT, "cut_before", times=1)
    with s.applier() as applier:
        wait_for(
            lambda: applier.error is not None or equal(s.services, s.db, ("np",)),
            what="np equal on the target",
        )
        assert applier.error is None, applier.error
        assert rule.fired == 1
        assert sorted(set(s.dead_letter_offsets())) == garbage  # at least once each, nothing else
        applier.stop()
    assert equal(s.services, s.db, ("np",))


def test_undecodable_as_the_last_message_of_its_partition(setup: Setup) -> None:
    """An undecodable message that ends its partition in the batch is committed with the batch
    (the offset is the batch's own), not rejected as a checkpoint moving backwards."""
    s = setup
    s.source(f"CREATE TABLE `{s.db}`.np (id INT NOT NULL, v VARCHAR(8) NOT NULL)")
    keyless_rows(s, 1, 5)
    wait_for(lambda: s.published("np") == 11, what="the definition and 10 rows published")
    garbage = inject(s, "np", undecodable(s, "np")[:1])
    with s.applier() as applier:
        wait_for(lambda: s.dead_letter_offsets() == garbage, what="the message dead-lettered")
        wait_for(lambda: equal(s.services, s.db, ("np",)), what="np equal")
        keyless_rows(s, 6, 5)  # and the applier goes on
        wait_for(
            lambda: applier.error is not None or equal(s.services, s.db, ("np",)),
            what="np equal after more rows",
        )
        assert applier.error is None, applier.error
        applier.stop()


def test_culprit_search_uses_the_batch_statement_mode(setup: Setup) -> None:
    """A batch holds a row with an ENUM error value '' (written in non-strict mode, applied in a
    lenient statement) and a row the target rejects: only the rejected row is dead-lettered."""
    s = setup
    s.source(
        f"CREATE TABLE `{s.db}`.e (id INT PRIMARY KEY, en ENUM('a','b') NOT NULL, v INT NOT NULL)",
        f"INSERT INTO `{s.db}`.e VALUES (1, 'a', 1)",
    )
    with s.applier() as applier:
        wait_for(lambda: equal(s.services, s.db, ("e",)), what="e equal")
        with connect(s.services.target_admin) as conn, conn.cursor() as cur:
            cur.execute(f"ALTER TABLE `{s.db}`.e ADD CONSTRAINT small CHECK (v < 100)")
        with connect(s.services.source_admin) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")  # lets 'zzz' become the ENUM error value ''
            cur.execute(f"INSERT INTO `{s.db}`.e VALUES (2, 'zzz', 5), (3, 'a', 500), (4, 'b', 6)")
        wait_for(lambda: applier.error is not None or len(s.dead_letter_offsets()) >= 1, what="a dead letter")
        wait_for(
            lambda: query(s.services.target_admin, f"SELECT COUNT(*) FROM `{s.db}`.e")[0][0] == 3,
            what="rows 1, 2 and 4 on the target",
        )
        assert applier.error is None, applier.error
        applier.stop()
    assert query(s.services.target_admin, f"SELECT id, en, v FROM `{s.db}`.e ORDER BY id") == [
        (1, "a", 1),
        (2, "", 5),
        (4, "b", 6),
    ]
    letters = read_all(s.services.bootstrap, s.dlq)
    assert len(letters) == 1 and b"CONSTRAINT" in dict(letters[0].headers())["error"]


def test_thousands_of_rejected_rows_in_one_batch(setup: Setup) -> None:
    """5,000 rows of one batch rejected by the target are dead-lettered in one pass (no recursion
    per culprit); the good rows of the same batch are applied."""
    s = setup
    s.source(
        f"CREATE TABLE `{s.db}`.r (id INT PRIMARY KEY, v INT NOT NULL)",
        f"INSERT INTO `{s.db}`.r VALUES (0, 0)",
    )
    with s.applier(batch_max_rows=10_000) as applier:
        wait_for(lambda: equal(s.services, s.db, ("r",)), what="r equal")
        with connect(s.services.target_admin) as conn, conn.cursor() as cur:
            cur.execute(f"ALTER TABLE `{s.db}`.r ADD CONSTRAINT small CHECK (v < 100)")
        rows = ", ".join(f"({i}, {500 if i % 10 else 1})" for i in range(1, 5_556))
        s.source(f"INSERT INTO `{s.db}`.r VALUES {rows}")
        wait_for(
            lambda: applier.error is not None or len(set(s.dead_letter_offsets())) >= 5_000,
            timeout_s=180,
            what="5,000 dead letters",
        )
        assert applier.error is None, applier.error
        wait_for(
            lambda: query(s.services.target_admin, f"SELECT COUNT(*) FROM `{s.db}`.r")[0][0] == 556,
            what="the good rows applied",
        )
        applier.stop()
    assert len(set(s.dead_letter_offsets())) == 5_000


def test_unknown_schema_is_not_a_verdict_while_the_schema_topic_holds_an_undecided_transaction(
    setup: Setup,
) -> None:
    """Found by the third review. A message's writer schema is written in the message's own
    transaction, but the commit reaches each partition separately (on a cluster the schema
    topic's leader may be another broker): the message can be readable before its schema is. While
    the schema topic holds a transaction not decided yet, an unknown fingerprint is retried, not
    dead-lettered (it was dead-lettered at once before: a valid change skipped); once that
    transaction is decided and the schema is still unknown, it is."""
    s = setup
    s.source(f"CREATE TABLE `{s.db}`.np (id INT NOT NULL, v VARCHAR(8) NOT NULL)")
    keyless_rows(s, 1, 3)
    with s.applier() as applier:
        wait_for(lambda: equal(s.services, s.db, ("np",)), what="np equal")
        schemas = TopicNames(s.prefix).schemas
        holder = Producer(
            {"bootstrap.servers": s.services.bootstrap, "transactional.id": f"{s.prefix}-holder"}
        )
        holder.init_transactions(30)
        holder.begin_transaction()
        holder.produce(schemas, b"{}", key=b"not-decided-yet")
        assert holder.flush(30) == 0
        unknown = undecodable(s, "np")[2]
        (offset,) = inject(s, "np", [unknown])
        keyless_rows(s, 4, 2)
        time.sleep(6)
        assert applier.error is None, applier.error
        assert s.dead_letter_offsets() == [], (
            "dead-lettered while the schema topic had an undecided transaction"
        )
        holder.abort_transaction(30)
        wait_for(lambda: s.dead_letter_offsets() == [offset], what="the message dead-lettered once decided")
        wait_for(lambda: equal(s.services, s.db, ("np",)), what="np equal, the rows after it applied")
        assert applier.error is None, applier.error
