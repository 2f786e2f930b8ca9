"""A MariaDB replica: a :class:`MariaDBServer` of its own (no binlog of its own, as Debian ships a
server) with one classic replication channel from a primary, positioned by binlog file and
position. The benchmark uses it as its native anchor; ``stack up --replica`` may later."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pymysql.cursors

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import StackError
from binlog_pipeline.core.metrics import binlog_file_index
from binlog_pipeline_tools.stack import process
from binlog_pipeline_tools.stack.mariadb import MariaDBServer

Position = tuple[str, int]  # (binlog file, position) on the primary


def position_key(position: Position) -> tuple[int, int]:
    """Orders positions across binlog files (mysql-bin.000042:4 → (42, 4))."""
    return binlog_file_index(position[0]), position[1]


@dataclass(frozen=True)
class ReplicaStatus:
    """The part of ``SHOW SLAVE STATUS`` that says where the channel is and why it stopped."""

    io_running: str  # Yes | No | Connecting | Preparing
    sql_running: str  # Yes | No
    read: Position  # received from the primary (relay log)
    executed: Position  # applied: Relay_Master_Log_File, Exec_Master_Log_Pos
    io_error: tuple[int, str]
    sql_error: tuple[int, str]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReplicaStatus:
        return cls(
            io_running=str(row["Slave_IO_Running"]),
            sql_running=str(row["Slave_SQL_Running"]),
            read=(str(row["Master_Log_File"]), int(row["Read_Master_Log_Pos"])),
            executed=(str(row["Relay_Master_Log_File"]), int(row["Exec_Master_Log_Pos"])),
            io_error=(int(row["Last_IO_Errno"]), str(row["Last_IO_Error"])),
            sql_error=(int(row["Last_SQL_Errno"]), str(row["Last_SQL_Error"])),
        )

    def failure(self) -> str | None:
        """Why a thread of the channel stopped (or keeps failing to connect); None: no error."""
        if self.sql_error[0]:
            return f"SQL thread error {self.sql_error[0]}: {self.sql_error[1]}"
        if self.io_error[0] and self.io_running != "Yes":
            return f"IO thread error {self.io_error[0]}: {self.io_error[1]}"
        return None

    def reached(self, position: Position) -> bool:
        return position_key(self.executed) >= position_key(position)


class Replica:
    """A replica server under ``state_dir/replica`` on ``port``; ``with Replica(...) as r`` starts
    it and stops it on the way out, also on an error."""

    def __init__(self, state_dir: Path, server_id: int, port: int | None = None) -> None:
        self.server = MariaDBServer(
            name="replica",
            state_dir=state_dir,
            port=port or process.free_port(),
            server_id=server_id,
            binlog=False,
        )
        self._admin_password = secrets.token_hex(12)
        self.pid: int | None = None

    @property
    def admin_url(self) -> DatabaseUrl:
        """root over TCP (created at start with a password of this run)."""
        return DatabaseUrl("127.0.0.1", self.server.port, "root", self._admin_password)

    @property
    def log_path(self) -> Path:
        return self.server.log_path

    def start(self) -> Replica:
        self.pid = self.server.start()
        try:
            self.server.wait_ready(self.pid)
            self.server.create_admin(self._admin_password)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM (mariadbd stops its replication threads and shuts down cleanly), then SIGKILL."""
        process.stop(self.pid, timeout_s=60)
        self.pid = None

    def __enter__(self) -> Replica:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- the channel -----------------------------------------------------------------------
    def replicate_from(self, primary: DatabaseUrl, position: Position, parallel_threads: int = 0) -> None:
        """Point the channel at ``primary`` from ``position``, forgetting any earlier position and
        relay logs (``RESET SLAVE ALL``), with ``parallel_threads`` applier threads (0: serial, as
        shipped). The channel stays stopped: :meth:`start_replication` starts it."""
        self.execute(
            ("STOP SLAVE", ()),
            ("RESET SLAVE ALL", ()),
            ("SET GLOBAL slave_parallel_threads = %s", (parallel_threads,)),
            (
                "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, "
                "MASTER_PASSWORD = %s, MASTER_LOG_FILE = %s, MASTER_LOG_POS = %s, MASTER_USE_GTID = no",
                (primary.host, primary.port, primary.user, primary.password, position[0], position[1]),
            ),
        )

    def start_replication(self, until: Position | None = None) -> None:
        """``START SLAVE``; with ``until``, its SQL thread stops once it executed up to that
        primary position (the IO thread goes on receiving)."""
        if until is None:
            self.execute(("START SLAVE", ()))
        else:
            self.execute(("START SLAVE UNTIL MASTER_LOG_FILE = %s, MASTER_LOG_POS = %s", until))

    def stop_replication(self) -> None:
        self.execute(("STOP SLAVE", ()))

    def status(self) -> ReplicaStatus:
        conn = self.server.connect_as_root()
        try:
            with conn.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute("SHOW SLAVE STATUS")
                row = cur.fetchone()
        finally:
            conn.close()
        if row is None:
            raise StackError("the replica has no replication channel: call replicate_from first")
        return ReplicaStatus.from_row(row)

    def variable(self, name: str) -> str:
        """A global system variable's value (``name``: a plain identifier)."""
        if not name.isidentifier():
            raise ValueError(f"not a variable name: {name!r}")
        conn = self.server.connect_as_root()
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT @@GLOBAL.{name}")
                row = cur.fetchone()
                return str(row[0]) if row else ""
        finally:
            conn.close()

    def execute(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        conn = self.server.connect_as_root()
        try:
            with conn.cursor() as cur:
                for sql, args in statements:
                    cur.execute(sql, args or None)
        finally:
            conn.close()
