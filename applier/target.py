"""The target database connection: session settings for exact apply, error classification by
MySQL error code (never by message text), table metadata, table creation and idempotent DDL."""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import pymysql

from applier.ddl_session import source_session
from binlog_pipeline.dburl import DatabaseUrl
from binlog_pipeline.errors import PermanentError, TransientError
from binlog_pipeline.sql import qualified, quote
from schemas.ddl import CREATE_TABLE_HEAD
from schemas.ddl_session import DdlSession

log = logging.getLogger(__name__)

# Retry the same batch: the connection or the server's state is the problem, not the data.
TRANSIENT_CODES = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1205,  # lock wait timeout
        1213,  # deadlock
        1290,  # --read-only (failover in progress)
        1792,  # read-only transaction
        1927,  # connection killed (MariaDB)
        2002,
        2003,
        2006,
        2013,
        2055,  # cannot connect / gone away / lost during query
        4031,  # disconnected by the server (idle)
    }
)
# Strict, exact: no silent truncation, but zero and partial dates as the source had them;
# 0 in an AUTO_INCREMENT column stays 0 (as replication does).
SESSION_SQL_MODE = "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"
_AUTO_INCREMENT = re.compile(r"\s+AUTO_INCREMENT=\d+")


def classify(exc: BaseException, doing: str) -> TransientError | PermanentError:
    code = (
        exc.args[0]
        if isinstance(exc, pymysql.MySQLError) and exc.args and isinstance(exc.args[0], int)
        else None
    )
    if code in TRANSIENT_CODES or isinstance(exc, (ConnectionError, TimeoutError)):
        return TransientError(f"target error while {doing}: {exc}")
    if isinstance(exc, pymysql.err.InterfaceError):  # the connection object is closed / unusable
        return TransientError(f"target connection unusable while {doing}: {exc}")
    return PermanentError(f"target error while {doing}: {exc}")


@dataclass(frozen=True)
class TableInfo:
    exists: bool
    columns: tuple[str, ...] = ()
    unique_secondary: bool = False
    create_table: str | None = None


def normalise_create(create: str | None) -> str | None:
    """Definitions compare equal when they differ only in the AUTO_INCREMENT counter."""
    return None if create is None else _AUTO_INCREMENT.sub("", create).strip()


class Target:
    def __init__(self, url: DatabaseUrl) -> None:
        self._url = url
        self._conn: pymysql.connections.Connection[Any] | None = None
        self._info: dict[tuple[str, str], TableInfo] = {}

    @property
    def conn(self) -> pymysql.connections.Connection[Any]:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> pymysql.connections.Connection[Any]:
        conn = pymysql.connect(
            **self._url.connect_kwargs(),
            autocommit=False,
            charset="utf8mb4",
            connect_timeout=10,
            read_timeout=300,
            write_timeout=300,
            init_command=(
                f"SET SESSION sql_mode = '{SESSION_SQL_MODE}', time_zone = '+00:00', "
                "foreign_key_checks = 0, unique_checks = 1"
            ),
        )
        log.info("connected to the target %s", self._url)
        return conn

    def reset(self) -> None:
        """Drop the connection (after any failure: the server may have rolled back or not)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to clean up
                self._conn.close()
            self._conn = None
        self._info.clear()

    def close(self) -> None:
        self.reset()

    # --- metadata ------------------------------------------------------------------------------
    def info(self, database: str, table: str) -> TableInfo:
        key = (database, table)
        cached = self._info.get(key)
        if cached is not None:
            return cached
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                "ORDER BY ORDINAL_POSITION",
                (database, table),
            )
            columns = tuple(str(r[0]) for r in cur.fetchall())
            if not columns:
                info = TableInfo(exists=False)
            else:
                cur.execute(
                    "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                    "AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY'",
                    (database, table),
                )
                row = cur.fetchone()
                cur.execute(f"SHOW CREATE TABLE {qualified(database, table)}")
                create = cur.fetchone()
                info = TableInfo(True, columns, bool(row and row[0]), str(create[1]) if create else None)
        self._info[key] = info
        return info

    def forget(self, database: str, table: str) -> None:
        self._info.pop((database, table), None)

    # --- DDL (autocommits in MySQL: never inside a batch transaction) -----------------------------
    def create_table(
        self, database: str, table: str, create_table: str, session: DdlSession | None = None, where: str = ""
    ) -> None:
        """Create a table from a recorded definition (or a CREATE statement) in ``session``."""
        match = CREATE_TABLE_HEAD.match(create_table)
        if match is None:
            raise PermanentError(f"cannot create {database}.{table}: not a CREATE TABLE statement")
        body = create_table[match.end() :]  # verbatim: a COMMENT may contain anything
        statement = f"CREATE TABLE IF NOT EXISTS {qualified(database, table)}{body}"
        with self.conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote(database)}")
            with source_session(cur, session, where):
                cur.execute(statement)
        self.conn.commit()
        self.forget(database, table)

    def run_ddl(
        self, database: str, statement: str, session: DdlSession | None = None, where: str = ""
    ) -> None:
        """Run a replicated statement in the source session it ran in (``session``; None keeps
        the applier's own)."""
        with self.conn.cursor() as cur:
            if database:  # unqualified names in the statement refer to its default database
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote(database)}")
                cur.execute(f"USE {quote(database)}")
            with source_session(cur, session, where):
                cur.execute(statement)
        self.conn.commit()
        self._info.clear()
