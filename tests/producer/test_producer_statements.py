"""DML the source logged as a statement (a session with binlog_format=STATEMENT or MIXED) carries
no row images: on a captured table the producer stops with the position, the table and the fix;
on tables it does not capture it goes on, without a checkpoint inside the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from binlog_pipeline.producer.position import BinlogPosition, Checkpoint
from binlog_pipeline.producer.statement_dml import StatementLoggedDml
from tests.kafka_helpers import changes, decode_topic, wait_for
from tests.producer_harness import ProducerThread, current_position, producer_settings
from tests.services import Services, connect, unique

pytestmark = pytest.mark.integration

# (session binlog_format, statement run with the test database as the default schema)
STATEMENT_DML = {
    "insert": ("STATEMENT", "INSERT INTO t VALUES (2, 'two')"),
    "update-mixed": ("MIXED", "UPDATE t SET v = 'changed' WHERE id = 1"),
    "delete-qualified": ("STATEMENT", "DELETE FROM `{db}`.`t` WHERE id = 1"),
    "replace": ("STATEMENT", "REPLACE INTO t (id, v) VALUES (1, 'replaced')"),
    "multi-table-update": ("STATEMENT", "UPDATE noise n JOIN t ON t.id = n.id SET t.v = 'joined'"),
    "load-data": ("STATEMENT", "LOAD DATA LOCAL INFILE '{file}' INTO TABLE t (id, v)"),
}


def create_tables(services: Services, db: str) -> None:
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(40))")
        cur.execute(f"CREATE TABLE `{db}`.noise (id INT PRIMARY KEY, v VARCHAR(40))")
        cur.execute(f"INSERT INTO `{db}`.noise VALUES (1, 'n')")


def stopped_by(
    services: Services, db: str, prefix: str, binlog_format: str, statement: str, exclude: str = ""
) -> tuple[BaseException | None, Checkpoint | None, BinlogPosition]:
    """Publish one row of t, then run ``statement`` with the session's ``binlog_format`` and a
    row-logged insert after it; return the producer's error, its last checkpoint and the source
    position before the statement."""
    settings = producer_settings(
        services, prefix, start_position=current_position(services), exclude_tables=f"{db}.noise,{exclude}"
    )
    with ProducerThread(settings) as producer:
        with connect(services.source_admin, database=db, local_infile=True) as conn:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO t VALUES (1, 'one')")
            wait_for(lambda: changes(decode_topic(services.bootstrap, prefix, db, "t")))
            before = BinlogPosition.parse(current_position(services))
            with conn.cursor() as cur:
                cur.execute(f"SET SESSION binlog_format = '{binlog_format}'")
                cur.execute(statement)
                cur.execute("SET SESSION binlog_format = 'ROW'")
                cur.execute("INSERT INTO t VALUES (100, 'after')")  # row-logged, after the statement
        wait_for(lambda: producer.error is not None, timeout_s=20, what="the producer to stop")
    published = changes(decode_topic(services.bootstrap, prefix, db, "t"))
    assert [e["after"]["id"] for e in published] == [1]  # nothing of the statement or after it
    return producer.error, producer.runner.committed, before


def position_named(message: str) -> BinlogPosition:
    return BinlogPosition.parse(message.split(" at ", 1)[1].split()[0].rstrip(":,"))


@pytest.mark.parametrize("case", sorted(STATEMENT_DML))
def test_statement_logged_dml_on_a_captured_table_stops(
    services: Services, source_db: str, topic_prefix: str, tmp_path: Path, case: str
) -> None:
    """Statement-logged INSERT/UPDATE/DELETE/REPLACE/LOAD DATA on a captured table stops the
    producer with its binlog position, the table and the fix; nothing of it or after it is
    published and the checkpoint stays before it."""
    binlog_format, template = STATEMENT_DML[case]
    data = tmp_path / "rows.tsv"
    data.write_text("3\tthree\n4\tfour\n")
    create_tables(services, source_db)
    error, committed, before = stopped_by(
        services, source_db, topic_prefix, binlog_format, template.format(db=source_db, file=data)
    )
    assert isinstance(error, StatementLoggedDml), repr(error)
    message = str(error)
    assert f"captured table(s) {source_db}.t:" in message and "as a statement" in message, message
    assert "SET GLOBAL binlog_format='ROW'" in message and "snapshot --table" in message, message
    assert position_named(message) >= before, message
    assert committed is not None and committed.position <= position_named(message)


UNATTRIBUTABLE = {
    # A stored function's writes are logged as the SELECT that called it.
    "stored-function": (
        "CREATE FUNCTION f() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO t VALUES (7, 'fn'); RETURN 1; END",
        "SELECT f()",
        "cannot be told",
    ),
    # An updatable view over a captured table, itself not captured.
    "view": (
        "CREATE VIEW v AS SELECT * FROM t",
        "UPDATE v SET v = 'via a view' WHERE id = 1",
        "writes the view",
    ),
}


@pytest.mark.parametrize("case", sorted(UNATTRIBUTABLE))
def test_statement_logged_write_to_unknown_tables_stops(
    services: Services, source_db: str, topic_prefix: str, case: str
) -> None:
    """A statement-logged write whose tables cannot be told (a stored function called by SELECT,
    an uncaptured view) stops the producer with its position and the fix: it may have changed a
    captured table."""
    setup, statement, expected = UNATTRIBUTABLE[case]
    create_tables(services, source_db)
    with connect(services.source_admin, database=source_db) as conn, conn.cursor() as cur:
        cur.execute(setup)
    error, committed, before = stopped_by(
        services, source_db, topic_prefix, "STATEMENT", statement, exclude=f"{source_db}.v"
    )
    assert isinstance(error, StatementLoggedDml), repr(error)
    message = str(error)
    assert expected in message and "SET GLOBAL binlog_format='ROW'" in message, message
    assert position_named(message) >= before, message
    assert committed is not None and committed.position <= position_named(message)


@pytest.fixture
def system_table(services: Services) -> Iterator[str]:
    """A table in the `mysql` system schema (never captured), dropped afterwards."""
    name = unique("bp_test")
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE mysql.`{name}` (id INT PRIMARY KEY)")
    yield name
    with connect(services.source_admin) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS mysql.`{name}`")


def test_statement_logged_dml_on_uncaptured_tables_goes_on(
    services: Services, source_db: str, topic_prefix: str, system_table: str
) -> None:
    """Statement-logged DML on an excluded table, a system table and a temporary table does not
    stop the producer; inside a MIXED transaction that also writes a captured table it neither splits the
    transaction (one source position, rows numbered on) nor loses its rows."""
    create_tables(services, source_db)
    settings = producer_settings(
        services, topic_prefix, start_position=current_position(services), exclude_tables=f"{source_db}.noise"
    )
    with ProducerThread(settings) as producer:
        with connect(services.source_admin, database=source_db) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION binlog_format = 'STATEMENT'")
            cur.execute("INSERT INTO noise VALUES (2, 'statement')")
            cur.execute(f"INSERT INTO mysql.`{system_table}` VALUES (1)")
            # A temporary table in the captured database: statement-logged, not a captured table.
            cur.execute("CREATE TEMPORARY TABLE scratch (id INT PRIMARY KEY)")
            cur.execute("INSERT INTO scratch VALUES (1), (2)")
            cur.execute("SET SESSION binlog_format = 'MIXED'")
            conn.begin()
            cur.execute("INSERT INTO t VALUES (10, UUID())")  # unsafe for statements: logged as rows
            cur.execute("INSERT INTO noise VALUES (3, 'statement in a transaction')")
            cur.execute("UPDATE scratch SET id = id + 10")
            cur.execute("INSERT INTO t VALUES (11, UUID())")
            conn.commit()
            cur.execute("SET SESSION binlog_format = 'ROW'")
            cur.execute("INSERT INTO t VALUES (12, 'row')")
        end = current_position(services)
        published = wait_for(
            lambda: (lambda c: c if len(c) >= 3 else None)(
                changes(decode_topic(services.bootstrap, topic_prefix, source_db, "t"))
            ),
            what="three changes of t",
        )
        wait_for(
            lambda: producer.runner.committed is not None and str(producer.runner.committed.position) == end,
            what=f"the checkpoint to reach {end}",
        )
        producer.stop()
    assert [e["after"]["id"] for e in published] == [10, 11, 12]
    first, second = published[0]["source"], published[1]["source"]
    assert (first["file"], first["pos"]) == (second["file"], second["pos"]), (first, second)
    assert (first["row"], second["row"]) == (0, 1)
