"""Run the applier in-process or as a child process, and compare source with target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from binlog_pipeline.applier.runner import ApplierRunner
from binlog_pipeline.core.config import Settings, load_settings
from tests.runner_harness import CliProcess, RunnerThread
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


class ApplierThread(RunnerThread[ApplierRunner]):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__(lambda stop: ApplierRunner(settings, stop))


def ApplierProcess(services: Services, prefix: str, log_path: Path, **settings: Any) -> CliProcess:
    """``binlog-applier`` as a child process."""
    return CliProcess(
        "applier",
        services,
        log_path,
        ["--topic-prefix", prefix, "--group-id", f"applier-{prefix}"],
        # A kill -9'd member keeps its partitions until its session times out (45 s by default).
        {
            "retry_deadline_s": 120,
            "retry_max_backoff_ms": 1000,
            "kafka": "session.timeout.ms=6000",
            **settings,
        },
    )


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
