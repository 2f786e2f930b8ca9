"""Statement-logged DML (producer/statement_dml.py): which tables it writes, and whether the
producer may go on past it."""

from __future__ import annotations

import pytest

from binlog_pipeline.producer.position import BinlogPosition
from binlog_pipeline.producer.statement_dml import StatementCheck, StatementLoggedDml, Written, written_tables

AT = BinlogPosition("mysql-bin.000003", 4)
UNREAD = "its writes come from stored functions, procedures or a form not read here"


@pytest.mark.parametrize(
    ("statement", "written"),
    [
        ("INSERT INTO t VALUES (1)", Written("INSERT", (("db", "t"),))),
        ("insert low_priority ignore into x.t (a) values (1)", Written("INSERT", (("x", "t"),))),
        ("REPLACE `we``ird`.`a b` SET a = 1", Written("REPLACE", (("we`ird", "a b"),))),
        ("INSERT INTO `x#y` VALUES ('#')", Written("INSERT", (("db", "x#y"),))),
        ("UPDATE t SET a = 1 WHERE b = 2", Written("UPDATE", (("db", "t"),))),
        (
            "UPDATE t1 AS a LEFT JOIN x.t2 b ON a.id = b.id SET a.v = b.v",
            Written("UPDATE", (("db", "t1"), ("x", "t2"))),
        ),
        ("UPDATE t, (SELECT id FROM u) AS d SET t.a = d.id", Written("UPDATE", (("db", "t"),))),
        ("DELETE QUICK FROM t WHERE a = 1", Written("DELETE", (("db", "t"),))),
        ("DELETE t1, t2 FROM t1 JOIN t2 USING (id)", Written("DELETE", (("db", "t1"), ("db", "t2")))),
        ("DELETE FROM t1 USING t1, x.t3 WHERE t1.a = t3.a", Written("DELETE", (("db", "t1"), ("x", "t3")))),
        (
            "LOAD DATA LOCAL INFILE '/tmp/f' REPLACE INTO TABLE x.t",
            Written("LOAD DATA", (("x", "t"),)),
        ),
        ("/* app */ SELECT f(1)", Written("SELECT", None, UNREAD)),
        ("CALL p()", Written("CALL", None, UNREAD)),
        ("INSERT INTO (SELECT 1)", Written("INSERT", None, "no table name found in it")),
    ],
)
def test_written_tables(statement: str, written: Written) -> None:
    """Each DML form names the tables it writes (each once, the default database filled in), or
    says why they cannot be told."""
    assert written_tables(statement, "db") == written


@pytest.mark.parametrize("statement", ["CREATE TABLE t (a INT)", "BEGIN", "SET @a = 1", "", "-- nothing\n"])
def test_not_dml(statement: str) -> None:
    """Statements that are not DML are not judged here."""
    assert written_tables(statement, "db") is None


def check(
    statement: str, *, captured: set[str], types: dict[str, str] | None = None, temporary: bool = False
) -> bool:
    """``captured``: the producer's tables; ``types``: the source's TABLE_TYPE of the tables it has."""
    checker = StatementCheck(
        lambda database, table: f"{database}.{table}" in captured,
        lambda database, table: (types or {}).get(f"{database}.{table}"),
    )
    return checker.check(statement, "db", temporary, AT)


def test_dml_on_uncaptured_tables_goes_on() -> None:
    """DML writing only tables the producer does not capture lets it go on; non-DML returns False."""
    assert check("INSERT INTO other VALUES (1)", captured={"db.t"}, types={"db.other": "BASE TABLE"}) is True
    assert check("INSERT INTO mysql.user VALUES (1)", captured={"db.t"}) is True
    assert check("CREATE TABLE t (a INT)", captured={"db.t"}) is False


def test_dml_on_a_captured_table_stops_naming_it() -> None:
    """DML on a captured table stops the producer, naming the position, the table and the fix."""
    with pytest.raises(StatementLoggedDml) as raised:
        check("UPDATE t JOIN other USING (id) SET t.a = 1", captured={"db.t"})
    message = str(raised.value)
    assert "statement-logged UPDATE at mysql-bin.000003:4 on captured table(s) db.t:" in message
    assert "SET GLOBAL binlog_format='ROW'" in message


def test_a_quoted_name_with_a_comment_marker_is_still_seen() -> None:
    """A captured table named `x#y` is recognised (it was once read as the table '')."""
    with pytest.raises(StatementLoggedDml, match=r"on captured table\(s\) db\.x#y"):
        check("INSERT INTO `x#y` VALUES (1)", captured={"db.x#y"})


def test_unattributable_dml_stops() -> None:
    """DML whose written tables cannot be told stops, since it may have changed a captured one."""
    with pytest.raises(StatementLoggedDml, match="which tables it changed cannot be told"):
        check("SELECT write_something()", captured=set())


def test_a_session_temporary_table_shadows_nothing_captured() -> None:
    """With the temporary-table flag, a captured name absent from information_schema is the
    session's temporary table: go on; a real table of that name still stops."""
    assert check("INSERT INTO t VALUES (1)", captured={"db.t"}, temporary=True) is True
    with pytest.raises(StatementLoggedDml):
        check("INSERT INTO t VALUES (1)", captured={"db.t"}, types={"db.t": "BASE TABLE"}, temporary=True)


def test_a_view_stops() -> None:
    """DML through a view (its base tables may be captured) stops, naming the view."""
    with pytest.raises(StatementLoggedDml, match=r"writes the view db\.v"):
        check("UPDATE v SET a = 1", captured={"db.t"}, types={"db.v": "VIEW"})


def test_table_types_are_cached_until_ddl() -> None:
    """The source is asked a table's type once, and again only after forget() (DDL ran)."""
    asked: list[str] = []

    def table_type(database: str, table: str) -> str | None:
        asked.append(f"{database}.{table}")
        return "BASE TABLE"

    checker = StatementCheck(lambda database, table: False, table_type)
    checker.check("INSERT INTO u VALUES (1)", "db", False, AT)
    checker.check("INSERT INTO u VALUES (2)", "db", False, AT)
    assert asked == ["db.u"]
    checker.forget()
    checker.check("INSERT INTO u VALUES (3)", "db", False, AT)
    assert asked == ["db.u", "db.u"]
