"""The statements for one target table (applier/sql_writer.py, applier/sql_values.py, core/sql.py):
exact SQL text, with every value a parameter."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binlog_pipeline.applier.sql_values import row_converter
from binlog_pipeline.applier.sql_writer import Statement, TableWriter
from binlog_pipeline.applier.target import TableInfo, TargetColumn
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.sql import qualified, quote
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec
from tests.unit.rows import COLUMNS, ID, NAME, change, table_info

T = "`db`.`t`"
MATCH = (
    "`id` <=> %s AND `name` <=> %s AND CAST(`name` AS BINARY) <=> CAST(CONVERT(%s USING utf8mb4) AS BINARY)"
)


def writer(
    columns: tuple[ColumnSpec, ...] = COLUMNS,
    primary_key: tuple[str, ...] = ("id",),
    info: TableInfo | None = None,
) -> TableWriter:
    return TableWriter("db", "t", columns, primary_key, info or table_info(columns))


def test_quote_doubles_backticks() -> None:
    """Identifiers are backtick-quoted with embedded backticks doubled; qualified names join two."""
    assert quote("a`b") == "`a``b`"
    assert qualified("d.b", "t`") == "`d.b`.`t```"


def test_upsert_many_rows() -> None:
    """An upsert is one INSERT … ON DUPLICATE KEY UPDATE of the non-key columns, rows in order."""
    rows = [change("c", None, {"id": 1, "name": "a"}), change("u", None, {"id": 2, "name": None})]
    assert writer().upsert(rows) == Statement(
        f"INSERT INTO {T} (`id`, `name`) VALUES (%s, %s), (%s, %s) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)",
        (1, "a", 2, None),
        tuple(rows),
    )


def test_upsert_of_a_key_only_table() -> None:
    """A table of key columns only still upserts (a no-op update of its first column)."""
    only = writer(columns=(ID,))
    assert only.upsert([change("c", None, {"id": 7}, columns=(ID,))]).sql == (
        f"INSERT INTO {T} (`id`) VALUES (%s) ON DUPLICATE KEY UPDATE `id` = `id`"
    )


def test_delete_by_key() -> None:
    """Deletes are one DELETE … IN of the keys their before images carry."""
    rows = [change("d", {"id": 1, "name": "a"}), change("u", {"id": 2, "name": "b"}, {"id": 3, "name": "b"})]
    statement = writer().delete(rows)
    assert (statement.sql, statement.params) == (f"DELETE FROM {T} WHERE `id` IN (%s, %s)", (1, 2))


def test_delete_by_composite_key() -> None:
    """A composite key is matched as a row constructor, its columns in key order."""
    rows = [change("d", {"id": 1, "name": "a"}, primary_key=("name", "id"))]
    statement = writer(primary_key=("name", "id")).delete(rows * 2)
    assert (statement.sql, statement.params) == (
        f"DELETE FROM {T} WHERE (`name`, `id`) IN ((%s, %s), (%s, %s))",
        ("a", 1, "a", 1),
    )


def test_exact_statements_with_a_key() -> None:
    """In exact mode, a key change is a delete of the old key then an upsert; others one statement."""
    keyed = writer(info=table_info(unique_secondary=True))
    assert keyed.exact_only
    move = change("u", {"id": 1, "name": "a"}, {"id": 2, "name": "a"})
    assert [s.sql.split()[0] for s in keyed.exact(move)] == ["DELETE", "INSERT"]
    assert keyed.exact(move)[0].params == (1,) and keyed.exact(move)[1].params == (2, "a")
    same = change("u", {"id": 1, "name": "a"}, {"id": 1, "name": "b"})
    assert keyed.exact(same) == (keyed.upsert([same]),)
    gone = change("d", {"id": 1, "name": "a"})
    assert keyed.exact(gone) == (keyed.delete([gone]),)


def test_without_a_key_rows_are_matched_by_all_values() -> None:
    """Without a primary key: INSERT, and UPDATE/DELETE of one row matched by every value (text
    columns also byte for byte), NULL-safe."""
    keyless = writer(primary_key=())
    assert keyless.exact_only
    before, after = {"id": 1, "name": "a"}, {"id": 1, "name": "b"}
    insert = change("c", None, after, primary_key=())
    assert [(s.sql, s.params) for s in keyless.exact(insert)] == [
        (f"INSERT INTO {T} (`id`, `name`) VALUES (%s, %s)", (1, "b"))
    ]
    update = change("u", before, after, primary_key=())
    assert [(s.sql, s.params) for s in keyless.exact(update)] == [
        (f"UPDATE {T} SET `id` = %s, `name` = %s WHERE {MATCH} LIMIT 1", (1, "b", 1, "a", "a"))
    ]
    delete = change("d", before, None, primary_key=())
    assert [(s.sql, s.params) for s in keyless.exact(delete)] == [
        (f"DELETE FROM {T} WHERE {MATCH} LIMIT 1", (1, "a", "a"))
    ]


def test_json_columns_are_compared_as_json() -> None:
    """A MySQL JSON column is compared with the text cast to JSON."""
    doc = ColumnSpec("doc", ColumnKind.JSON)
    keyless = writer((doc,), (), table_info((doc,)))
    statement = keyless.exact(change("d", {"doc": "{}"}, None, columns=(doc,), primary_key=()))[0]
    assert (statement.sql, statement.params) == (
        f"DELETE FROM {T} WHERE `doc` <=> CAST(%s AS JSON) LIMIT 1",
        ("{}",),
    )


def test_generated_columns_are_neither_written_nor_matched() -> None:
    """Columns the target generates are left out of every statement and its parameters."""
    info = table_info(generated=("name",))
    assert writer(info=info).upsert([change("c", None, {"id": 1, "name": "x"})]).sql == (
        f"INSERT INTO {T} (`id`) VALUES (%s) ON DUPLICATE KEY UPDATE `id` = `id`"
    )
    keyless = writer(primary_key=(), info=info)
    statement = keyless.exact(change("d", {"id": 1, "name": "x"}, None, primary_key=()))[0]
    assert (statement.sql, statement.params) == (f"DELETE FROM {T} WHERE `id` <=> %s LIMIT 1", (1,))


def test_all_columns_generated() -> None:
    """With every column generated, a keyed table is refused and a keyless update does nothing."""
    info = table_info(generated=("id", "name"))
    with pytest.raises(
        PermanentError, match=r"every column of `db`\.`t` that the change carries is generated"
    ):
        writer(info=info)
    keyless = writer(primary_key=(), info=info)
    assert keyless.exact(change("u", {"id": 1, "name": "a"}, {"id": 1, "name": "b"}, primary_key=())) == ()
    assert keyless.exact(change("d", {"id": 1, "name": "a"}, None, primary_key=()))[0].sql == (
        f"DELETE FROM {T} WHERE TRUE LIMIT 1"
    )


def test_an_odd_target_charset_name_is_refused() -> None:
    """A charset name that is not a plain identifier never reaches SQL text."""
    info = TableInfo(
        True, (TargetColumn("id", "int", None, False), TargetColumn("name", "varchar", "x;y", False))
    )
    with pytest.raises(PermanentError, match="unexpected character set name 'x;y'"):
        writer(primary_key=(), info=info)


def test_enum_columns_that_need_lenient_mode() -> None:
    """ENUM columns without '' as a member are the ones whose '' is the invalid-value index 0."""
    plain = ColumnSpec("e", ColumnKind.ENUM, values=("a", "b"))
    with_empty = ColumnSpec("f", ColumnKind.ENUM, values=("", "a"))
    columns = (ID, plain, with_empty)
    assert writer(columns, info=table_info(columns)).enum_columns == ("e",)


def test_timestamps_become_utc_text() -> None:
    """TIMESTAMP microseconds become UTC text, 0 the zero timestamp; NULL and other kinds pass as they are."""
    ts = ColumnSpec("ts", ColumnKind.TIMESTAMP, fsp=6)
    convert = row_converter((ID, ts, NAME))
    assert convert({"id": 1, "ts": 1_500_000, "name": "n"}) == [1, "1970-01-01 00:00:01.500000", "n"]
    assert convert({"id": 1, "ts": 0, "name": None}) == [1, "0000-00-00 00:00:00", None]
    assert convert({"id": 1, "ts": None, "name": "n"}) == [1, None, "n"]


@given(st.integers(1, 253402300799999999))  # up to 9999-12-31 23:59:59.999999
def test_timestamp_text_is_exact(micros: int) -> None:
    """Every non-zero TIMESTAMP value's text names exactly its microsecond."""
    (text,) = row_converter((ColumnSpec("ts", ColumnKind.TIMESTAMP, fsp=6),))({"ts": micros})
    assert datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f") == datetime(1970, 1, 1) + timedelta(
        microseconds=micros
    )
