"""DDL classification (schemas/ddl.py): which tables a statement changes, and how."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binlog_pipeline.core.sql import qualified, quote
from binlog_pipeline.schemas.ddl import (
    CREATE_TABLE_HEAD,
    affected_tables,
    is_pure_rename,
    is_truncate,
    rename_pairs,
    statement_kind,
    strip_comments,
)

# What MySQL allows in a quoted identifier: any BMP character but NUL, not ending in a space.
identifiers = st.text(
    st.characters(min_codepoint=1, max_codepoint=0xFFFF, exclude_categories=("Cs",)), min_size=1, max_size=12
).filter(lambda name: not name.endswith(" "))


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("CREATE TABLE t (a INT)", "CREATE TABLE"),
        ("create or replace table t (a int)", "CREATE TABLE"),
        ("ALTER ONLINE IGNORE TABLE t ADD b INT", "ALTER TABLE"),
        ("DROP TABLE IF EXISTS a, b", "DROP TABLE"),
        ("RENAME TABLE a TO b", "RENAME TABLE"),
        ("TRUNCATE t", "TRUNCATE"),
        ("CREATE UNIQUE INDEX i ON t (a)", "CREATE INDEX"),
        ("DROP INDEX i ON t", "DROP INDEX"),
        ("CREATE TEMPORARY TABLE t (a INT)", "OTHER"),
        ("CREATE DATABASE d", "OTHER"),
        ("GRANT SELECT ON *.* TO u", "OTHER"),
        ("/* only a comment */", "OTHER"),
        ("", "OTHER"),
    ],
)
def test_statement_kind(statement: str, kind: str) -> None:
    """Each statement form is named by its kind; anything else is OTHER."""
    assert statement_kind(statement) == kind


@pytest.mark.parametrize(
    ("statement", "tables"),
    [
        ("CREATE TABLE t (a INT)", [("db", "t")]),
        ("CREATE TABLE IF NOT EXISTS other.t (a INT)", [("other", "t")]),
        ("CREATE TABLE `we``ird`.`a b` (a INT)", [("we`ird", "a b")]),
        ("ALTER TABLE t ADD COLUMN c INT", [("db", "t")]),
        ("ALTER TABLE t RENAME TO x.u", [("db", "t"), ("x", "u")]),
        ("ALTER TABLE t ADD c INT, RENAME AS u", [("db", "t"), ("db", "u")]),
        ("ALTER TABLE t RENAME COLUMN a TO b", [("db", "t")]),
        ("TRUNCATE TABLE x.t", [("x", "t")]),
        ("CREATE INDEX i USING BTREE ON t (a)", [("db", "t")]),
        ("DROP INDEX IF EXISTS i ON x.t", [("x", "t")]),
        ("DROP TABLE IF EXISTS a, x.b, `c,d` CASCADE;", [("db", "a"), ("x", "b"), ("db", "c,d")]),
        ("RENAME TABLE a TO b, x.c TO y.d", [("db", "a"), ("db", "b"), ("x", "c"), ("y", "d")]),
        ("/* why */ DROP TABLE -- gone\n t", [("db", "t")]),
        ("CREATE TEMPORARY TABLE t (a INT)", []),
        ("DROP TEMPORARY TABLE t", []),
        ("CREATE DATABASE t", []),
        ("BEGIN", []),
    ],
)
def test_affected_tables(statement: str, tables: list[tuple[str, str]]) -> None:
    """The (database, table) pairs a statement changes, in order, the default database filled in."""
    assert affected_tables(statement, "db") == tables


@pytest.mark.parametrize(
    ("statement", "tables"),
    [
        # found by the property below: comment markers inside a quoted name cut the statement
        ("ALTER TABLE `a#b` ADD COLUMN c INT", [("db", "a#b")]),
        ("CREATE TABLE `x--y` (a INT)", [("db", "x--y")]),
        ("DROP TABLE `p/*`, `*/q`", [("db", "p/*"), ("db", "*/q")]),
        ("RENAME TABLE `a#b` TO c", [("db", "a#b"), ("db", "c")]),
        # ... and so does ' TO ' inside a quoted name of a RENAME
        ("RENAME TABLE `a to b` TO c", [("db", "a to b"), ("db", "c")]),
    ],
)
def test_quoted_names_that_look_like_syntax(statement: str, tables: list[tuple[str, str]]) -> None:
    """A quoted name is read whole, even when it holds a comment marker or the word TO."""
    assert affected_tables(statement, "db") == tables


@settings(max_examples=200)
@given(identifiers, identifiers, identifiers, identifiers)
def test_any_quoted_names_are_read_back(db: str, table: str, new_db: str, new_table: str) -> None:
    """Whatever the names, the tables of a statement written with quote() are exactly those names."""
    old, new = qualified(db, table), qualified(new_db, new_table)
    assert affected_tables(f"ALTER TABLE {old} ADD c INT", "d") == [(db, table)]
    assert affected_tables(f"DROP TABLE IF EXISTS {old}, {quote(table)}", "d") == [(db, table), ("d", table)]
    assert rename_pairs(f"RENAME TABLE {old} TO {new}", "d") == [((db, table), (new_db, new_table))]
    assert rename_pairs(f"ALTER TABLE {old} RENAME TO {new}", "d") == [((db, table), (new_db, new_table))]


def test_rename_pairs() -> None:
    """RENAME TABLE gives its pairs in order; ALTER … RENAME gives one; other statements none."""
    assert rename_pairs("RENAME TABLES a TO b, b TO c", "db") == [
        (("db", "a"), ("db", "b")),
        (("db", "b"), ("db", "c")),
    ]
    assert rename_pairs("ALTER TABLE a ADD x INT, RENAME TO other.a", "db") == [(("db", "a"), ("other", "a"))]
    assert rename_pairs("ALTER TABLE a ADD x INT", "db") == []
    assert rename_pairs("DROP TABLE a, b", "db") == []


def test_truncate_and_pure_rename() -> None:
    """TRUNCATE and RENAME TABLE are told apart from an ALTER that renames."""
    assert is_truncate("truncate table t") and not is_truncate("DROP TABLE t")
    assert is_pure_rename("RENAME TABLE a TO b")
    assert not is_pure_rename("ALTER TABLE a RENAME TO b")


def test_strip_comments() -> None:
    """Comments become spaces; quoted text keeps its comment markers."""
    assert strip_comments("a /* x */ b # y\nc -- z") == "a   b  c"
    assert strip_comments("a '# not' `-- kept` \"/* too */\"") == "a '# not' `-- kept` \"/* too */\""


def test_create_table_head() -> None:
    """The head of a CREATE TABLE ends at its table name, qualified or not."""
    match = CREATE_TABLE_HEAD.match("  CREATE TABLE IF NOT EXISTS `db`.`t` (a INT)")
    assert match is not None and match.group(1) == "`db`.`t`"
