"""What the stream asks the source about its tables, over one control connection per stream pass:
definitions for the records that carry them, table types for the statement check, and whether a
unique secondary key forbids spreading a table's rows by primary key."""

from __future__ import annotations

from typing import Any

import pymysql

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.sql import qualified
from binlog_pipeline.producer.source_check import connect


class ControlConnection:
    def __init__(self, url: DatabaseUrl) -> None:
        self._conn = connect(url)
        try:
            with self._conn.cursor() as cur:
                # SHOW CREATE TABLE prints TIMESTAMP defaults in the session's time zone; the
                # applier runs recorded definitions in UTC, so they must be read in UTC.
                cur.execute("SET SESSION time_zone = '+00:00'")
        except BaseException:
            self._conn.close()
            raise

    def show_create(self, database: str, table: str) -> str | None:
        return show_create(self._conn, database, table)

    def table_type(self, database: str, table: str) -> str | None:
        return table_type(self._conn, database, table)

    def has_unique_secondary_key(self, database: str, table: str) -> bool:
        return has_unique_secondary_key(self._conn, database, table)

    def close(self) -> None:
        self._conn.close()


def has_unique_secondary_key(conn: Any, database: str, table: str) -> bool:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
            "AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY'",
            (database, table),
        )
        row = cur.fetchone()
    return bool(row and row[0])


def table_type(conn: Any, database: str, table: str) -> str | None:
    """information_schema's TABLE_TYPE ('BASE TABLE', 'VIEW', …), or None: no such table (a
    session's temporary table, or dropped since)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (database, table),
        )
        row = cur.fetchone()
    return str(row[0]) if row else None


def show_create(conn: Any, database: str, table: str) -> str | None:
    """SHOW CREATE TABLE, or None when the table no longer exists (dropped or renamed away)."""
    quoted = qualified(database, table)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SHOW CREATE TABLE {quoted}")
            row = cur.fetchone()
            return str(row[1]) if row else None
    except pymysql.err.ProgrammingError:
        return None
