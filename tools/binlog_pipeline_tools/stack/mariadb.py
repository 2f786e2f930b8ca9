"""A MariaDB server (Debian's ``mariadb-server``) with its own datadir, port and socket."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from binlog_pipeline.core.errors import StackError
from binlog_pipeline.core.waiting import WaitTimeout, wait_until
from binlog_pipeline_tools.stack import process

INSTALL_HINT = "install Debian's MariaDB server: `apt-get update && apt-get install -y mariadb-server`"

# The least-privilege grants the producer and applier need; README and docs/ repeat them.
PRODUCER_GRANTS = "SELECT, REPLICATION SLAVE, REPLICATION CLIENT"
APPLIER_GRANTS = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES"


def ensure_installed() -> None:
    """Install MariaDB from Debian when it is missing and we may (root + apt-get)."""
    if shutil.which("mariadbd") and shutil.which("mariadb-install-db"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "mariadb-server"]):
            result = subprocess.run(argv, capture_output=True, text=True, env=env)
            if result.returncode != 0:
                raise StackError(f"`{' '.join(argv)}` failed:\n{result.stderr[-2000:]}\n{INSTALL_HINT}")
        if shutil.which("mariadbd"):
            return
    raise StackError(f"`mariadbd` is not on PATH: {INSTALL_HINT}")


@dataclass(frozen=True)
class MariaDBServer:
    name: str  # "source", "target" or "replica"
    state_dir: Path
    port: int
    server_id: int
    binlog: bool

    @property
    def home(self) -> Path:
        # Absolute: mariadb-install-db and mariadbd resolve a relative datadir against their
        # basedir (/usr), not the caller's directory — `bench` puts its replica under a relative
        # --out-dir (bench/results) by default.
        return (self.state_dir / self.name).absolute()

    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def log_path(self) -> Path:
        return self.home / "error.log"

    @property
    def socket(self) -> str:
        # Unix socket paths are limited to ~107 bytes; keep them short whatever the state dir.
        digest = hashlib.sha1(str(self.state_dir.resolve()).encode()).hexdigest()[:10]
        return f"/tmp/binlog-pipeline-{digest}-{self.name}.sock"

    def start(self) -> int:
        ensure_installed()
        self.home.mkdir(parents=True, exist_ok=True)
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        if not (self.datadir / "mysql").exists():
            result = subprocess.run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    *as_root,
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise StackError(f"mariadb-install-db for {self.name} failed:\n{result.stderr[-3000:]}")
        argv = [
            "mariadbd",
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.socket}",
            f"--pid-file={self.home / 'mariadbd.pid'}",
            f"--log-error={self.log_path}",
            f"--server-id={self.server_id}",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            "--innodb-buffer-pool-size=256M",
            "--max-connections=300",
            *as_root,
        ]
        if self.binlog:
            argv += [
                f"--log-bin={self.datadir / 'mysql-bin'}",
                "--binlog-format=ROW",
                "--binlog-row-image=FULL",
                "--binlog-row-metadata=FULL",
            ]
        return process.start_detached(argv, self.home / "stdout.log")

    def wait_ready(self, pid: int, timeout_s: float = 60.0) -> None:
        def answers() -> bool:
            if not process.is_alive(pid):
                raise StackError(self._failure(f"mariadbd ({self.name}) exited during start-up"))
            pymysql.connect(unix_socket=self.socket, user="root", connect_timeout=2).close()
            return True

        try:
            wait_until(answers, timeout_s, 0.3, f"mariadbd ({self.name})", ignoring=(pymysql.MySQLError,))
        except WaitTimeout as exc:
            raise StackError(
                self._failure(f"mariadbd ({self.name}) did not answer in {timeout_s:.0f}s")
            ) from exc

    def connect_as_root(self) -> pymysql.connections.Connection[Any]:
        """root over the Unix socket (no password: ``mariadb-install-db`` made it so), autocommit."""
        return pymysql.connect(unix_socket=self.socket, user="root", autocommit=True, charset="utf8mb4")

    def create_admin(self, admin_password: str) -> None:
        """Idempotently create the TCP admin (root@127.0.0.1)."""
        conn = self.connect_as_root()
        try:
            with conn.cursor() as cur:
                for sql in (
                    "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY %s",
                    "ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY %s",
                ):
                    cur.execute(sql, (admin_password,))
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
        finally:
            conn.close()

    def create_users(self, admin_password: str, app_user: str, app_password: str, grants: str) -> None:
        """Idempotently create the TCP admin (root@127.0.0.1) and the least-privilege user."""
        self.create_admin(admin_password)
        conn = self.connect_as_root()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"CREATE USER IF NOT EXISTS '{app_user}'@'127.0.0.1' IDENTIFIED BY %s", (app_password,)
                )
                cur.execute(f"ALTER USER '{app_user}'@'127.0.0.1' IDENTIFIED BY %s", (app_password,))
                cur.execute(f"GRANT {grants} ON *.* TO '{app_user}'@'127.0.0.1'")
        finally:
            conn.close()

    def healthy(self, admin_password: str) -> bool:
        """``SELECT 1`` over TCP as the admin user."""
        try:
            conn = pymysql.connect(
                host="127.0.0.1", port=self.port, user="root", password=admin_password, connect_timeout=2
            )
        except pymysql.MySQLError:
            return False
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        finally:
            conn.close()

    def _failure(self, what: str) -> str:
        return f"{what}; last lines of {self.log_path}:\n{process.tail(self.log_path)}"
