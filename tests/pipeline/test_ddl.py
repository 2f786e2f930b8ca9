"""DDL mid-stream: schema-change records at their place in each table's topic, the new writer
schema for later rows, and the applier applying DDL in order — re-applying safely after a crash."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from binlog_pipeline_tools.chaos.tcp_proxy import TcpProxy

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.producer.position import BinlogPosition
from binlog_pipeline.schemas.topics import TopicNames
from tests.applier_harness import (
    ApplierProcess,
    ApplierThread,
    applier_settings,
    drop_target_database,
    equal,
    table_state,
)
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


# --- DDL in the source session's context -----------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """Statements run on one source connection (its character set, then its own SETs)."""

    statements: tuple[str, ...]
    charset: str = "utf8mb4"


def replay_later(
    services: Services, db: str, prefix: str, sessions: list[Session], table: str, delay_s: float = 0
) -> None:
    """Run ``sessions`` on the source while the producer streams, let ``delay_s`` pass, then apply
    everything with a fresh applier. The last statement must insert a new row, so equal row
    counts mean the applier has applied the whole stream. Asserts CHECKSUM, rows and definition
    equal (rows and definitions read in UTC)."""
    start = current_position(services)
    with ProducerThread(producer_settings(services, prefix, start_position=start)) as producer:
        published = BinlogPosition.parse(start)

        def caught_up() -> bool:
            committed = producer.runner.committed
            return producer.error is not None or (committed is not None and committed.position >= published)

        for session in sessions:
            with connect(services.source_admin, charset=session.charset) as conn, conn.cursor() as cur:
                for statement in session.statements:
                    cur.execute(statement.format(db=db))
                    # One statement at a time: a DDL record then carries the definition right
                    # after it (a producer that is behind records a later one).
                    end = BinlogPosition.parse(current_position(services))
                    if end != published:
                        published = end
                        wait_for(caught_up, what=f"the producer to publish {statement}")
                        assert producer.error is None, producer.error
        producer.stop()
    time.sleep(delay_s)  # the target's clock moves on: a DDL must not take the apply time
    with ApplierThread(applier_settings(services, prefix)) as applier:
        wait_for(
            lambda: applier.error is not None or _rows_equal(services, db, table),
            what=f"{table}'s rows on the target",
        )
        assert applier.error is None, applier.error
        applier.stop()
    sc, tc, _sn, _tn = table_state(services, db, table)
    select = f"SELECT * FROM `{db}`.`{table}` ORDER BY 1"
    assert (sc, in_utc(services.source_admin, select)) == (tc, in_utc(services.target_admin, select))
    show = f"SHOW CREATE TABLE `{db}`.`{table}`"
    assert in_utc(services.target_admin, show) == in_utc(services.source_admin, show)


def _rows_equal(services: Services, db: str, table: str) -> bool:
    _sc, _tc, sn, tn = table_state(services, db, table)
    return sn is not None and sn == tn


def in_utc(url: DatabaseUrl, sql: str) -> tuple[tuple[Any, ...], ...]:
    """``sql``'s rows read in UTC (TIMESTAMP values and defaults print in the session's zone)."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(sql)
        return tuple(cur.fetchall())


def test_add_column_default_current_timestamp_takes_the_source_time(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """Rows that exist when a TIMESTAMP … DEFAULT CURRENT_TIMESTAMP column is added get the
    source's statement time (to the microsecond) on the target, not the later apply time."""
    try:
        replay_later(
            services,
            source_db,
            topic_prefix,
            [
                Session(
                    (
                        "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a INT)",
                        "INSERT INTO `{db}`.t VALUES (1, 1), (2, 2), (3, 3)",
                        "ALTER TABLE `{db}`.t ADD COLUMN ts TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP",
                        "ALTER TABLE `{db}`.t ADD COLUMN ts6 TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)",
                        "INSERT INTO `{db}`.t (id, a) VALUES (4, 4)",
                    )
                )
            ],
            "t",
            delay_s=2,
        )
    finally:
        drop_target_database(services, source_db)


def test_timestamp_literal_defaults_under_a_non_utc_time_zone(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """TIMESTAMP literal defaults written in a +05:30 session (and a source whose default zone
    is +05:30, so the producer's own session is not UTC either) mean the same instants on the
    target: in a created table's definition and in the rows an ALTER fills."""
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL time_zone = '+05:30'")
    try:
        replay_later(
            services,
            source_db,
            topic_prefix,
            [
                Session(
                    (
                        "SET time_zone = '+05:30'",
                        "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a TIMESTAMP NOT NULL DEFAULT '2024-01-01 10:00:00')",
                        "INSERT INTO `{db}`.t (id) VALUES (1), (2)",
                        "ALTER TABLE `{db}`.t ADD COLUMN b TIMESTAMP NOT NULL DEFAULT '2024-06-01 12:00:00'",
                        "INSERT INTO `{db}`.t (id) VALUES (3)",
                    )
                )
            ],
            "t",
        )
    finally:
        with connect(services.source_admin) as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL time_zone = DEFAULT")
        drop_target_database(services, source_db)


def test_latin1_client_enum_and_set_members_survive(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """A latin1 client's ALTER adding latin1 ENUM and SET columns with non-ASCII members reaches
    the target with those characters (the statement is decoded with the client's charset)."""
    try:
        replay_later(
            services,
            source_db,
            topic_prefix,
            [
                Session(("CREATE TABLE `{db}`.t (id INT PRIMARY KEY)", "INSERT INTO `{db}`.t VALUES (1)")),
                Session(
                    (
                        "ALTER TABLE `{db}`.t ADD COLUMN e ENUM('é','ü','€') CHARACTER SET latin1 "
                        "NOT NULL DEFAULT 'ü', ADD COLUMN s SET('ä','ö') CHARACTER SET latin1 "
                        "COMMENT 'größe'",
                        "INSERT INTO `{db}`.t VALUES (2, 'é', 'ä,ö'), (3, '€', 'ö')",
                    ),
                    charset="latin1",
                ),
            ],
            "t",
        )
        assert query(services.target_admin, f"SELECT e, s FROM `{source_db}`.t ORDER BY id") == [
            ("ü", None),
            ("é", "ä,ö"),
            ("€", "ö"),
        ]
    finally:
        drop_target_database(services, source_db)


def test_multi_byte_client_ddl_keeps_its_characters(
    services: Services, source_db: str, topic_prefix: str
) -> None:
    """A gbk client's CREATE and ALTER with Chinese ENUM members, defaults and comments (on
    utf8mb4 columns) reach the target with those characters: a multi-byte legacy client charset,
    which no decoder of ours maps exactly, is read by the source itself."""
    try:
        replay_later(
            services,
            source_db,
            topic_prefix,
            [
                Session(
                    (
                        "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, e ENUM('中','文') NOT NULL DEFAULT '文') "
                        "CHARACTER SET utf8mb4 COMMENT '表'",
                        "INSERT INTO `{db}`.t VALUES (1, '中')",
                        "ALTER TABLE `{db}`.t ADD COLUMN s VARCHAR(8) NOT NULL DEFAULT '汉字' COMMENT '注释'",
                        "INSERT INTO `{db}`.t (id) VALUES (2)",
                    ),
                    charset="gbk",
                ),
            ],
            "t",
        )
        assert query(services.target_admin, f"SELECT e, s FROM `{source_db}`.t ORDER BY id") == [
            ("中", "汉字"),
            ("文", "汉字"),
        ]
    finally:
        drop_target_database(services, source_db)


def test_ddl_runs_with_the_source_sql_mode(services: Services, source_db: str, topic_prefix: str) -> None:
    """DDL that depends on the session — a narrowing MODIFY that a non-strict session truncates,
    a '' default that EMPTY_STRING_IS_NULL (a MariaDB-only bit above 32) turns into NULL, a bare
    TIMESTAMP column under explicit_defaults_for_timestamp=0 (filled with the statement's time),
    a date default only ALLOW_INVALID_DATES accepts — does the same on the target."""
    try:
        replay_later(
            services,
            source_db,
            topic_prefix,
            [
                Session(
                    (
                        "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))",
                        "INSERT INTO `{db}`.t VALUES (1, 'abcdef'), (2, 'xy')",
                        "SET sql_mode = ''",
                        "ALTER TABLE `{db}`.t MODIFY a VARCHAR(3)",
                        "SET sql_mode = 'EMPTY_STRING_IS_NULL'",
                        "ALTER TABLE `{db}`.t ADD COLUMN c VARCHAR(5) NULL DEFAULT ''",
                        "SET sql_mode = DEFAULT, explicit_defaults_for_timestamp = 0",
                        "ALTER TABLE `{db}`.t ADD COLUMN ts TIMESTAMP",
                        # Last: once the table has this default, only such a session can alter it.
                        "SET sql_mode = 'ALLOW_INVALID_DATES'",
                        "ALTER TABLE `{db}`.t ADD COLUMN d DATE NOT NULL DEFAULT '2024-02-30'",
                        "INSERT INTO `{db}`.t VALUES (3, 'z', 'w', '2024-01-01 00:00:00', '2024-03-01')",
                    )
                )
            ],
            "t",
        )
    finally:
        drop_target_database(services, source_db)


@pytest.mark.parametrize("client", ["utf8mb4", "gbk"])
def test_ddl_that_is_not_text_in_its_client_charset_stops_the_producer(
    services: Services, source_db: str, topic_prefix: str, client: str
) -> None:
    """A captured table's DDL whose bytes are not text in the client's character set (a raw
    binary literal) stops the producer with the position, rather than publish a corrupted
    statement — also when the source reads the statement (gbk); the same on a table that is not
    captured does not matter."""
    settings = producer_settings(
        services, topic_prefix, start_position=current_position(services), include_tables=[f"{source_db}.t"]
    )
    alter = "ALTER TABLE `{db}`.`{table}` ADD COLUMN b VARBINARY(2) NOT NULL DEFAULT _binary'\xff'"
    with connect(services.source_admin, charset=client) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{source_db}`.t (id INT PRIMARY KEY)")
        cur.execute(f"CREATE TABLE `{source_db}`.other (id INT PRIMARY KEY)")
        with ProducerThread(settings) as producer:
            cur.execute(alter.format(db=source_db, table="other").encode("latin1"))
            cur.execute(f"INSERT INTO `{source_db}`.t VALUES (1)")
            wait_for(
                lambda: (
                    producer.error is not None
                    or len(decode_topic(services.bootstrap, topic_prefix, source_db, "t")) == 2
                ),
                what="the row after the uncaptured DDL",
            )
            assert producer.error is None, producer.error
            cur.execute(alter.format(db=source_db, table="t").encode("latin1"))
            wait_for(lambda: producer.error is not None, what="the producer to stop")
    assert isinstance(producer.error, PermanentError)
    assert f"(from a {client} client) is not text" in str(producer.error)
    assert f"are not {client} text" in str(producer.error)  # the decoder's (or the source's) verdict
    assert len(decode_topic(services.bootstrap, topic_prefix, source_db, "t")) == 2  # nothing after
