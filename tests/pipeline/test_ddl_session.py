"""The source session of a DDL on the target (applier/ddl_session.py) and in the contract: what
the statement runs with, what the target cannot take and what then happens, the applier's own
session afterwards, and records written before sessions were part of the contract."""

from __future__ import annotations

import copy
import io
import logging
from collections.abc import Iterator
from typing import Any

import fastavro
import pymysql
import pytest

from binlog_pipeline.applier.messages import Coordinates, SchemaChange, decode
from binlog_pipeline.applier.target import SESSION_SQL_MODE, Target
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.producer.charsets import SourceCharsets, UnsupportedCharset
from binlog_pipeline.schemas.codec import SchemaStore, WriterSchema, encode
from binlog_pipeline.schemas.ddl_session import DdlSession
from binlog_pipeline.schemas.envelope import SCHEMA_CHANGE
from tests.services import Services, connect, query, unique

WHEN_US = 1_700_000_000_123_456  # 2023-11-14 22:13:20.123456 UTC
# What a statement saw: CREATE … AS SELECT records the session it ran in.
SEEN = (
    "CREATE TABLE seen AS SELECT @@SESSION.sql_mode AS sql_mode, @@SESSION.time_zone AS time_zone, "
    "@@SESSION.collation_connection AS collation, @@SESSION.explicit_defaults_for_timestamp AS explicit, "
    "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) AS ts_us"
)
OWN = (
    "SELECT @@SESSION.sql_mode, @@SESSION.time_zone, @@SESSION.collation_connection, "
    "@@SESSION.explicit_defaults_for_timestamp, @@SESSION.auto_increment_increment"
)


@pytest.fixture
def target(services: Services) -> Iterator[tuple[Target, str]]:
    """The applier's target connection and a fresh database on the target."""
    database = unique("ddl")
    target = Target(services.target_url)
    try:
        yield target, database
    finally:
        target.close()
        with connect(services.target_admin) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")


def own_session(target: Target) -> tuple[Any, ...]:
    with target.conn.cursor() as cur:
        cur.execute(OWN)
        row = cur.fetchone()
        assert row is not None
        return tuple(row)


def seen(services: Services, database: str) -> dict[str, Any]:
    with connect(services.target_admin, cursorclass=pymysql.cursors.DictCursor) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM `{database}`.seen")
        row = cur.fetchone()
        assert row is not None
        return dict(row)


@pytest.mark.integration
def test_statement_runs_in_the_source_session_and_the_applier_gets_its_own_back(
    services: Services, target: tuple[Target, str]
) -> None:
    """The statement sees the source's time (to the microsecond), zone, collation, sql_mode and
    TIMESTAMP rule; afterwards the connection has the applier's settings again."""
    conn, database = target
    before = own_session(conn)
    session = DdlSession(
        timestamp_us=WHEN_US,
        time_zone="+05:30",
        collation_connection="latin1_swedish_ci",
        sql_mode="ALLOW_INVALID_DATES,TIME_TRUNCATE_FRACTIONAL",  # the second: MySQL's, absent here
        explicit_defaults_for_timestamp=False,
        auto_increment_increment=3,
    )
    conn.run_ddl(database, SEEN, session, "t[0]@1")
    assert seen(services, database) == {
        "sql_mode": "ALLOW_INVALID_DATES",
        "time_zone": "+05:30",
        "collation": "latin1_swedish_ci",
        "explicit": 0,
        "ts_us": WHEN_US,
    }
    assert set(before[0].split(",")) == set(SESSION_SQL_MODE.split(",")) and before[1] == "+00:00"
    assert own_session(conn) == before
    with conn.conn.cursor() as cur:  # and the clock runs again
        cur.execute("SELECT UNIX_TIMESTAMP() - %s", (WHEN_US // 1_000_000,))
        assert cur.fetchone()[0] > 1_000


@pytest.mark.integration
def test_the_applier_gets_its_own_session_back_when_the_statement_fails(
    services: Services, target: tuple[Target, str]
) -> None:
    """A failing DDL (here: the table is missing) leaves the connection with the applier's own
    settings, not the source's."""
    conn, database = target
    before = own_session(conn)
    session = DdlSession(timestamp_us=WHEN_US, time_zone="-03:00", sql_mode="", auto_increment_increment=7)
    with pytest.raises(pymysql.err.ProgrammingError):
        conn.run_ddl(database, "ALTER TABLE missing ADD COLUMN b INT", session, "t[0]@2")
    assert own_session(conn) == before
    with conn.conn.cursor() as cur:  # the clock runs again
        cur.execute("SELECT UNIX_TIMESTAMP() - %s", (WHEN_US // 1_000_000,))
        assert cur.fetchone()[0] > 1_000


@pytest.mark.integration
def test_a_sql_mode_the_target_lacks_and_that_matters_stops_the_applier(
    services: Services, target: tuple[Target, str]
) -> None:
    """An unknown sql_mode whose absence could change the statement stops with its name and the
    message; the statement does not run and the session is the applier's again."""
    conn, database = target
    before = own_session(conn)
    session = DdlSession(timestamp_us=WHEN_US, sql_mode="STRICT_ALL_TABLES,NO_AUTO_CREATE_USER,FUTURE_MODE")
    with pytest.raises(
        PermanentError, match=r"DDL at t\[0\]@3 ran with sql_mode FUTURE_MODE, which the target"
    ):
        conn.run_ddl(database, SEEN, session, "t[0]@3")
    assert not query(
        services.target_admin,
        "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'seen'",
        (database,),
    )
    assert own_session(conn) == before


@pytest.mark.integration
def test_system_time_zone_is_the_sources(services: Services, target: tuple[Target, str]) -> None:
    """'SYSTEM' means the source's system zone: the target's own when the names match; a zone
    the target cannot set stops the applier with the fix."""
    conn, database = target
    target_zone = query(services.target_admin, "SELECT @@system_time_zone")[0][0]
    same = DdlSession(timestamp_us=WHEN_US, time_zone="SYSTEM", system_time_zone=target_zone)
    conn.run_ddl(database, SEEN, same, "t[0]@4")
    assert seen(services, database)["time_zone"] == "SYSTEM"
    other = DdlSession(timestamp_us=WHEN_US, time_zone="SYSTEM", system_time_zone="Pacific/Chatham")
    with pytest.raises(PermanentError, match=r"system time zone 'Pacific/Chatham'.*mariadb-tzinfo-to-sql"):
        conn.run_ddl(database, "DROP TABLE seen", other, "t[0]@5")


@pytest.mark.integration
def test_a_collation_the_target_lacks_falls_back_to_its_charset(
    services: Services, target: tuple[Target, str], caplog: pytest.LogCaptureFixture
) -> None:
    """MySQL 8's default collation on a MariaDB target: literals get utf8mb4's default
    collation there, and the log says so."""
    conn, database = target
    session = DdlSession(timestamp_us=WHEN_US, collation_connection="utf8mb4_0900_ai_ci")
    with caplog.at_level(logging.WARNING, logger="binlog_pipeline.applier.ddl_session"):
        conn.run_ddl(database, SEEN, session, "t[0]@6")
    default = query(
        services.target_admin,
        "SELECT COLLATION_NAME FROM information_schema.COLLATIONS "
        "WHERE CHARACTER_SET_NAME = 'utf8mb4' AND IS_DEFAULT = 'Yes'",
    )[0][0]
    assert seen(services, database)["collation"] == default
    assert "the target has no collation utf8mb4_0900_ai_ci" in caplog.text


def v1_schema_change() -> WriterSchema:
    """The schema-change record as producers wrote it before it carried a session."""
    schema = copy.deepcopy(SCHEMA_CHANGE.schema_json)
    schema["namespace"] = "binlog_pipeline.schema_change.v1"
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "session"]
    return WriterSchema.build(schema, kind="schema_change")


V1_RECORD = {
    "database": "d",
    "table": "t",
    "kind": "ddl",
    "statement": "ALTER TABLE t ADD COLUMN b INT",
    "create_table": None,
    "source": {
        "server_id": 1,
        "file": "f.000001",
        "pos": 4,
        "gtid": None,
        "ts_sec": 1,
        "db": "d",
        "table": "t",
        "row": 0,
    },
    "ts_ms": 5,
}


def test_records_written_before_sessions_still_decode() -> None:
    """A v1 record decodes (with its own writer schema, as the applier reads it, and with the
    v2 schema as a reader schema) to a schema change without a session."""
    v1 = v1_schema_change()
    store = SchemaStore()
    store.add(v1)
    value = encode(v1, V1_RECORD)
    change = decode(store, Coordinates("p.d.t", 0, 7), value)
    assert isinstance(change, SchemaChange)
    assert (change.statement, change.session) == (V1_RECORD["statement"], None)
    resolved = fastavro.schemaless_reader(io.BytesIO(value[10:]), v1.parsed, SCHEMA_CHANGE.parsed)
    assert isinstance(resolved, dict) and resolved["session"] is None


def test_session_round_trips_through_the_record() -> None:
    """What the producer puts in a v2 record is what the applier gets."""
    session = DdlSession(timestamp_us=WHEN_US, time_zone="SYSTEM", system_time_zone="CET", sql_mode="")
    record = {**V1_RECORD, "session": session.to_record()}
    store = SchemaStore()
    store.add(SCHEMA_CHANGE)
    change = decode(store, Coordinates("p.d.t", 0, 8), encode(SCHEMA_CHANGE, record))
    assert isinstance(change, SchemaChange) and change.session == session


@pytest.mark.integration
def test_mysql_latin1_is_cp1252_with_its_five_holes_kept(services: Services) -> None:
    """MySQL's latin1, as the source maps it (the decoders statements and rows share): 0x80 is
    '€' (cp1252), 0x81 is U+0081 (undefined in cp1252); a charset without an exact decoder is
    refused by name rather than guessed."""
    texts = SourceCharsets(services.source_url)
    assert texts.decoder("latin1")(b"\x80\x81\xe9\x9d") == "€\x81é\x9d"
    with pytest.raises(UnsupportedCharset, match="sjis"):
        texts.decoder("sjis")
