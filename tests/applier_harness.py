"""Run the applier in-process or as a child process, and compare source with target."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from applier.runner import ApplierRunner
from binlog_pipeline.config import Settings, load_settings
from tests.services import Services, connect, query


def applier_settings(services: Services, prefix: str, **overrides: Any) -> Settings:
    flags = {
        "target_url": services.target_url.unmasked(),
        "bootstrap_servers": services.bootstrap,
        "topic_prefix": prefix,
        "group_id": f"applier-{prefix}",
        "retry_deadline_s": 60,
        "retry_max_backoff_ms": 1000,
        **overrides,
    }
    return load_settings(env={}, flags=flags)


class ApplierThread:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop_event = threading.Event()
        self.runner = ApplierRunner(settings, self.stop_event)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> ApplierThread:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 60) -> None:
        self.stop_event.set()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "applier did not stop"
        if self.error is not None:
            raise self.error

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_event.set()
        self._thread.join(60)


class ApplierProcess:
    def __init__(self, services: Services, prefix: str, log_path: Path, **settings: Any) -> None:
        self.args = [
            sys.executable,
            "-m",
            "applier",
            "--topic-prefix",
            prefix,
            "--group-id",
            f"applier-{prefix}",
        ]
        for key, value in {"retry_deadline_s": 120, "retry_max_backoff_ms": 1000, **settings}.items():
            self.args += ["--set", f"{key}={value}"]
        self.env = services.env()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ApplierProcess:
        self.proc = subprocess.Popen(
            self.args, env=self.env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT
        )
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout_s: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def table_state(services: Services, database: str, table: str) -> tuple[Any, Any, Any, Any]:
    """(source checksum, target checksum, source rows, target rows); None where a table is missing."""

    def one(url: Any) -> tuple[Any, Any]:
        exists = query(
            url,
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
            (database, table),
        )[0][0]
        if not exists:
            return None, None
        checksum = query(url, f"CHECKSUM TABLE `{database}`.`{table}`")[0][1]
        count = query(url, f"SELECT COUNT(*) FROM `{database}`.`{table}`")[0][0]
        return checksum, count

    (sc, sn), (tc, tn) = one(services.source_admin), one(services.target_admin)
    return sc, tc, sn, tn


def equal(services: Services, database: str, tables: tuple[str, ...]) -> bool:
    for table in tables:
        sc, tc, sn, tn = table_state(services, database, table)
        if sc is None or sc != tc or sn != tn:
            return False
    return True


def drop_target_database(services: Services, database: str) -> None:
    with connect(services.target_admin) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
