"""The target database connection: session settings for exact apply, error classification by
MySQL error code (never by message text), table metadata, table creation and idempotent DDL."""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import pymysql
from pymysql.constants import ER

from binlog_pipeline.applier.ddl_session import source_session
from binlog_pipeline.core import mysql_errors
from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import PermanentError, TransientError
from binlog_pipeline.core.mysql_errors import PermanentMySQLError, TransientMySQLError
from binlog_pipeline.core.sql import qualified, quote
from binlog_pipeline.core.waiting import WaitTimeout, wait_until
from binlog_pipeline.schemas.ddl import CREATE_TABLE_HEAD
from binlog_pipeline.schemas.ddl_session import DdlSession

log = logging.getLogger(__name__)

# Strict, exact: no silent truncation, but zero and partial dates as the source had them;
# 0 in an AUTO_INCREMENT column stays 0 (as replication does).
SESSION_SQL_MODE = "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"
ABANDONED_SESSION_WAIT_S = 60.0
_AUTO_INCREMENT = re.compile(r"\s+AUTO_INCREMENT=\d+")


def classify(exc: BaseException, doing: str) -> TransientMySQLError | PermanentMySQLError:
    """Retry or stop after a target error (:mod:`core.mysql_errors`); the error keeps its code."""
    code = mysql_errors.code(exc)
    unusable = isinstance(exc, pymysql.err.InterfaceError) and code not in mysql_errors.TRANSIENT
    what = "target connection unusable" if unusable else "target error"  # a closed connection object
    return mysql_errors.classify(exc, f"{what} while {doing}: {exc}")


@dataclass(frozen=True)
class TargetColumn:
    """A target column as far as writing and finding rows needs it."""

    name: str
    data_type: str  # information_schema DATA_TYPE, lower case ('varchar', 'json', 'enum', ...)
    charset: str | None  # None for numeric, temporal, binary and spatial types
    generated: bool  # VIRTUAL or STORED generated: the target computes it, nobody may write it


@dataclass(frozen=True)
class Session:
    """A server session of ours: its id, and when the server it lives on started (epoch seconds),
    so that an id the server gave out again after a restart is never taken for it."""

    id: int
    server_started: float


def end_session(cur: Any, session: Session, user: str | None) -> None:
    """KILL ``session`` and wait until the server has let it go, so that whatever it was doing
    (a COMMIT, a DDL) is decided and nothing more of it can run. A session may KILL its own user's
    sessions without any privilege. A server that restarted since ended it already (and may have
    given its id to someone else's session: never touched); an id now held by another user's
    session means ours is gone."""
    if abs(server_started(cur) - session.server_started) > 2:
        return
    killed = False

    def ended() -> bool:
        nonlocal killed
        cur.execute("SELECT USER FROM information_schema.PROCESSLIST WHERE ID = %s", (session.id,))
        row = cur.fetchone()
        if not row or str(row[0]) != user:
            return True
        if not killed:
            try:
                cur.execute(f"KILL CONNECTION {int(session.id)}")
            except pymysql.MySQLError as exc:
                if mysql_errors.code(exc) != ER.NO_SUCH_THREAD:  # already gone: what we want
                    log.warning("could not end target session %s: %s", session.id, exc)
            killed = True
        return False

    try:
        wait_until(ended, ABANDONED_SESSION_WAIT_S, 0.05, f"target session {session.id} to end")
    except WaitTimeout as exc:
        raise TransientError(
            f"target session {session.id} is still open after {ABANDONED_SESSION_WAIT_S:.0f} s; "
            "what it was doing is undecided"
        ) from exc


def running_statement(cur: Any, session: Session, user: str | None) -> bool:
    """Whether ``session`` (ours, on this server since it started) is executing a statement now."""
    if abs(server_started(cur) - session.server_started) > 2:
        return False
    cur.execute("SELECT USER, COMMAND FROM information_schema.PROCESSLIST WHERE ID = %s", (session.id,))
    row = cur.fetchone()
    return bool(row) and str(row[0]) == user and str(row[1]) in ("Query", "Execute")


def server_started(cur: Any) -> float:
    """When the server started (epoch seconds by the server's own clock, ±1 s): tells a restart
    apart, whatever the clocks of the members that compare it."""
    cur.execute("SHOW GLOBAL STATUS LIKE 'Uptime'")
    row = cur.fetchone()
    cur.execute("SELECT UNIX_TIMESTAMP()")
    now = cur.fetchone()
    return float(now[0]) - float(row[1]) if row and now else 0.0


@dataclass(frozen=True)
class TableInfo:
    exists: bool
    columns: tuple[TargetColumn, ...] = ()
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
        # The server session of a connection dropped after a failure: its transaction may still be
        # undecided (a COMMIT on its way, or in a slow fsync / semi-sync wait, with its reply lost).
        self._abandoned: Session | None = None
        self._server_started = 0.0

    @property
    def conn(self) -> pymysql.connections.Connection[Any]:
        if self._conn is None:
            conn = self._connect()
            try:
                if self._abandoned is not None:
                    self._await_decided(conn, self._abandoned)
                    self._abandoned = None
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.close()
                raise
            self._conn = conn
        return self._conn

    def _await_decided(self, conn: pymysql.connections.Connection[Any], session: Session) -> None:
        """End the previous session and wait until the server has let it go: only then is its
        transaction decided (committed, or rolled back), so that reading the checkpoint row or
        re-applying cannot race an earlier COMMIT still in flight."""
        with conn.cursor() as cur:
            end_session(cur, session, self._url.user)
        conn.commit()
        log.info("previous target session %s has ended; its transaction is decided", session.id)

    @property
    def user(self) -> str | None:
        return self._url.user

    def session(self) -> Session:
        """This connection's server session."""
        conn = self.conn
        return Session(int(conn.thread_id()), self._server_started)  # type: ignore[no-untyped-call]

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
        with conn.cursor() as cur:
            self._server_started = server_started(cur)
        conn.commit()
        log.info("connected to the target %s", self._url)
        return conn

    def reset(self) -> None:
        """Drop the connection (after any failure: the server may have rolled back or not). The
        next connection first waits until this one's server session is gone."""
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a closed connection has no id: nothing to wait for
                self._abandoned = self.session()
            with contextlib.suppress(Exception):  # already broken: nothing to clean up
                self._conn.close()
            self._conn = None
        self._info.clear()

    def rollback(self) -> None:
        """Roll back after a statement the target refused (the session itself is fine)."""
        if self._conn is None:
            return
        try:
            self._conn.rollback()
        except pymysql.MySQLError:
            self.reset()

    def close(self) -> None:
        self.reset()
        self._abandoned = None

    # --- metadata ------------------------------------------------------------------------------
    def info(self, database: str, table: str) -> TableInfo:
        key = (database, table)
        cached = self._info.get(key)
        if cached is not None:
            return cached
        with self.conn.cursor() as cur:
            # GENERATION_EXPRESSION is NULL (MariaDB) or '' (MySQL) unless the column is generated;
            # EXTRA would also say DEFAULT_GENERATED for MySQL's expression defaults.
            cur.execute(
                "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_SET_NAME, COALESCE(GENERATION_EXPRESSION, '') <> '' "
                "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                "ORDER BY ORDINAL_POSITION",
                (database, table),
            )
            columns = tuple(
                TargetColumn(
                    str(name), str(kind).lower(), None if charset is None else str(charset), bool(generated)
                )
                for name, kind, charset, generated in cur.fetchall()
            )
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

    def forget_tables(self) -> None:
        """Drop every cached table description (another member may have changed them)."""
        self._info.clear()

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
