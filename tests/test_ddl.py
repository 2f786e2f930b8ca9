"""DDL mid-stream: schema-change records at their place in each table's topic, the new writer
schema for later rows, and the applier applying DDL in order — re-applying safely after a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from binlog_pipeline.chaos.tcp_proxy import TcpProxy
from schemas.topics import TopicNames
from tests.applier_harness import ApplierProcess, ApplierThread, applier_settings, drop_target_database, equal
from tests.kafka_helpers import decode_topic, read_all, wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, query

pytestmark = pytest.mark.integration

STATEMENTS = [
    "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))",
    "INSERT INTO `{db}`.t VALUES (1, 'x')",
    "ALTER TABLE `{db}`.t ADD COLUMN b INT NOT NULL DEFAULT 5",
    "INSERT INTO `{db}`.t VALUES (2, 'y', 6)",
    "ALTER TABLE `{db}`.t MODIFY a VARCHAR(20) NOT NULL DEFAULT ''",
    "ALTER TABLE `{db}`.t CHANGE COLUMN a a2 VARCHAR(20) NOT NULL DEFAULT ''",
    "UPDATE `{db}`.t SET a2 = 'z' WHERE id = 1",
    "ALTER TABLE `{db}`.t DROP COLUMN b",
    "INSERT INTO `{db}`.t VALUES (3, 'w')",
    "TRUNCATE TABLE `{db}`.t",
    "INSERT INTO `{db}`.t VALUES (4, 'v')",
    "RENAME TABLE `{db}`.t TO `{db}`.t2",
    "INSERT INTO `{db}`.t2 VALUES (5, 'u')",
    "CREATE TABLE `{db}`.gone (id INT PRIMARY KEY)",
    "INSERT INTO `{db}`.gone VALUES (1)",
    "DROP TABLE `{db}`.gone",
]


def run_statements(services: Services, db: str) -> None:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        for statement in STATEMENTS:
            cur.execute(statement.format(db=db))


def test_ddl_interleaved_with_dml_is_published_in_order(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """Each table topic holds its DDL records between the DML around them; rows after a DDL use
    the new columns; every DDL is also in the schema-change history."""
    settings = producer_settings(services, topic_prefix, start_position=current_position(services))
    with ProducerThread(settings) as producer:
        run_statements(services, source_db)
        t2 = wait_for(
            lambda: (lambda d: d if len(d) >= 2 else None)(
                decode_topic(services.bootstrap, topic_prefix, source_db, "t2")
            )
        )
        wait_for(
            lambda: len(decode_topic(services.bootstrap, topic_prefix, source_db, "t")) >= 12,
            what="12 records in t's topic",
        )
        producer.stop()
    t = decode_topic(services.bootstrap, topic_prefix, source_db, "t")
    summary = []
    for item in t:
        if item.schema.kind == "schema_change":
            summary.append(("ddl", item.record["statement"].split()[0].upper()))
        else:
            summary.append((item.record["op"], tuple(spec.name for spec in item.schema.columns)))
    assert summary == [
        ("ddl", "CREATE"),
        ("c", ("id", "a")),
        ("ddl", "ALTER"),
        ("c", ("id", "a", "b")),
        ("ddl", "ALTER"),
        ("ddl", "ALTER"),
        ("u", ("id", "a2", "b")),
        ("ddl", "ALTER"),
        ("c", ("id", "a2")),
        ("ddl", "TRUNCATE"),
        ("c", ("id", "a2")),
        ("ddl", "RENAME"),
    ]
    assert t[-1].record["create_table"] is None  # renamed away
    assert t2[0].schema.kind == "schema_change" and "CREATE TABLE `t2`" in t2[0].record["create_table"]
    assert t2[1].record["after"] == {"id": 5, "a2": "u"}
    history = read_all(services.bootstrap, TopicNames(topic_prefix).schema_changes)
    assert len(history) == 7 + 1 + 2  # 7 DDL on t, the RENAME again for t2, CREATE and DROP of gone


def test_applier_applies_ddl_in_order(services: Services, source_db: str, topic_prefix: str) -> None:
    """Target tables follow every DDL and end CHECKSUM-equal; a dropped table is dropped."""
    try:
        with (
            ProducerThread(
                producer_settings(services, topic_prefix, start_position=current_position(services))
            ),
            ApplierThread(applier_settings(services, topic_prefix)) as applier,
        ):
            run_statements(services, source_db)
            wait_for(
                lambda: applier.error is not None or equal(services, source_db, ("t2",)), what="t2 equal"
            )
            assert applier.error is None, applier.error
            wait_for(
                lambda: (
                    not query(
                        services.target_admin,
                        "SELECT 1 FROM information_schema.TABLES WHERE "
                        "TABLE_SCHEMA=%s AND TABLE_NAME IN ('t', 'gone')",
                        (source_db,),
                    )
                ),
                what="t and gone to disappear from the target",
            )
            applier.stop()
    finally:
        drop_target_database(services, source_db)


def test_kill9_between_ddl_and_checkpoint(
    services: Services, source_db: str, topic_prefix: str, tmp_path: Path
) -> None:
    """kill -9 after the target ran a DDL but before the checkpoint moved past it: the restarted
    applier sees the target already has the post-DDL definition and does not run it again."""
    proxy = TcpProxy(services.target_url.port)
    url = services.target_url
    proxied = f"mysql://{url.user}:{url.password}@127.0.0.1:{proxy.port}/"
    log = tmp_path / "applier.log"
    try:
        with ProducerThread(
            producer_settings(services, topic_prefix, start_position=current_position(services))
        ):
            with connect(services.source_admin) as conn, conn.cursor() as cur:
                cur.execute(f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY, a INT)")
                cur.execute(f"INSERT INTO `{source_db}`.t VALUES (1, 1), (2, 2)")
            applier = ApplierProcess(services, topic_prefix, log, target_url=proxied).start()
            wait_for(lambda: equal(services, source_db, ("t",)), what="t equal")
            proxy.set_rule(b"\x03ALTER TABLE", "stall_reply", times=1)
            with connect(services.source_admin) as conn, conn.cursor() as cur:
                cur.execute(f"ALTER TABLE `{source_db}`.t ADD COLUMN b INT NOT NULL DEFAULT 7")
                cur.execute(f"INSERT INTO `{source_db}`.t VALUES (3, 3, 3)")
            wait_for(proxy.stalled.is_set, what="the ALTER to run on the target")
            wait_for(
                lambda: (
                    query(
                        services.target_admin,
                        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE "
                        "TABLE_SCHEMA=%s AND TABLE_NAME='t' AND COLUMN_NAME='b'",
                        (source_db,),
                    )[0][0]
                    == 1
                ),
                what="the DDL to be applied on the target",
            )
            applier.kill9()
            proxy.clear_rule()
            applier = ApplierProcess(services, topic_prefix, log, target_url=proxied).start()
            wait_for(
                lambda: (
                    applier.proc is not None
                    and (applier.proc.poll() is not None or equal(services, source_db, ("t",)))
                ),
                what="t equal after restart",
            )
            assert applier.proc is not None and applier.proc.poll() is None, applier.log()
            assert applier.terminate() == 0, applier.log()
        assert "DDL already applied on the target, skipping" in log.read_text()
    finally:
        proxy.close()
        drop_target_database(services, source_db)
