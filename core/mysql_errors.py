"""MySQL/MariaDB errors, classified once for the whole pipeline: retry or stop, decided by the
error's code (pymysql's named constants), never by its message text.

The producer's source and the applier's target share one transient set: what makes a retry worth
it — the connection or the server's state, not the statement — is the same on both sides.
"""

from __future__ import annotations

import pymysql
from pymysql.constants import CR, ER

from binlog_pipeline.core.errors import PermanentError, TransientError

# Codes pymysql has no name for (they are newer than its table, or MariaDB's own).
ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION = 1792  # MySQL 5.6+: a START TRANSACTION READ ONLY session
ER_CONNECTION_KILLED = 1927  # MariaDB: KILL CONNECTION of this session
ER_CLIENT_INTERACTION_TIMEOUT = 4031  # MySQL 8.0.24+: disconnected by the server for being idle

# The connection is gone or could not be made: a new one may work.
CONNECTION = frozenset(
    {
        CR.CR_CONNECTION_ERROR,
        CR.CR_CONN_HOST_ERROR,
        CR.CR_SERVER_GONE_ERROR,
        CR.CR_SERVER_LOST,
        CR.CR_SERVER_LOST_EXTENDED,
        ER.CON_COUNT_ERROR,  # too many connections
        ER.SERVER_SHUTDOWN,
        ER_CONNECTION_KILLED,
        ER_CLIENT_INTERACTION_TIMEOUT,
    }
)
# Another transaction held what this one needed: the same work again can succeed.
CONTENTION = frozenset({ER.LOCK_WAIT_TIMEOUT, ER.LOCK_DEADLOCK})
# --read-only / super_read_only: a failover in progress, the new primary takes writes soon.
READ_ONLY = frozenset({ER.OPTION_PREVENTS_STATEMENT, ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION})
# The server ran out of a resource: an operator's fix, not bad data (dead-lettering rows one by
# one would divert good rows).
RESOURCES = frozenset(
    {
        ER.DISK_FULL,
        ER.OUTOFMEMORY,
        ER.OUT_OF_SORTMEMORY,
        ER.RECORD_FILE_FULL,  # table is full
        ER.TRANS_CACHE_FULL,  # transaction larger than max_binlog_cache_size
        ER.LOCK_TABLE_FULL,
    }
)
TRANSIENT = CONNECTION | CONTENTION | READ_ONLY | RESOURCES
# The database or table does not exist (on this server, or not yet).
NO_SUCH_TABLE = frozenset({ER.BAD_DB_ERROR, ER.NO_SUCH_TABLE})


def code(exc: BaseException) -> int | None:
    """The server's (or the client library's) error number of a pymysql error; None otherwise."""
    if isinstance(exc, pymysql.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


def is_transient(exc: BaseException) -> bool:
    """Worth retrying the same work on a new connection: a transient code, a connection pymysql
    itself reports unusable (closed, or its socket broke), or a socket error that escaped it."""
    return code(exc) in TRANSIENT or isinstance(
        exc, (pymysql.err.InterfaceError, ConnectionError, TimeoutError)
    )


class TransientMySQLError(TransientError):
    """A transient MySQL error, with the server's code (``None`` for a socket-level failure)."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


class PermanentMySQLError(PermanentError):
    """A MySQL error that the same statement would meet again, with the server's code."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


def classify(exc: BaseException, message: str) -> TransientMySQLError | PermanentMySQLError:
    """``exc`` as the pipeline error that decides retry or stop; ``message`` says where (the
    caller raises it ``from exc``)."""
    error_type = TransientMySQLError if is_transient(exc) else PermanentMySQLError
    return error_type(message, code(exc))
